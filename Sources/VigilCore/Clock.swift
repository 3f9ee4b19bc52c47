import Foundation

/// Where every service gets the time from: passed in, never read from `Date()` directly, so the same code runs in
/// real time (`WallClock`) and in simulated time at full speed (`SimulatedClock`).
///
/// Times are milliseconds since the Unix epoch (the store's unit).
public protocol VigilClock: Sendable {
    /// Now, in milliseconds since the Unix epoch.
    func nowMillis() -> Int64
    /// Suspends until the clock reads at least `deadline` (ms since the epoch). Throws `CancellationError` when the
    /// task is cancelled first.
    func sleep(untilMillis deadline: Int64) async throws
}

extension VigilClock {
    /// Suspends for `millis` milliseconds of this clock's time.
    public func sleep(millis: Int64) async throws {
        try await sleep(untilMillis: nowMillis() &+ max(0, millis))
    }

    /// Suspends for `duration` of this clock's time.
    public func sleep(for duration: Swift.Duration) async throws {
        let (s, atto) = duration.components
        try await sleep(millis: s &* 1000 &+ atto / 1_000_000_000_000_000)
    }

    /// Now as seconds since the epoch (for APIs that speak seconds).
    public func nowSeconds() -> Double { Double(nowMillis()) / 1000 }

    /// Now as a `Date`.
    public func now() -> Date { Date(timeIntervalSince1970: nowSeconds()) }
}

/// Real time: the system's realtime clock and `Task.sleep`.
public struct WallClock: VigilClock {
    public init() {}

    public func nowMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    public func sleep(untilMillis deadline: Int64) async throws {
        let wait = deadline - nowMillis()
        if wait > 0 { try await Task.sleep(nanoseconds: UInt64(wait) * 1_000_000) }
        try Task.checkCancellation()
    }
}

/// Simulated time: it only moves when `advance(to:)` / `advance(by:)` is called. Sleepers whose deadline is reached
/// are resumed in deadline order (ties in the order they went to sleep), so a driver can run hours of a service's
/// life in milliseconds and get the same interleaving every run.
public final class SimulatedClock: VigilClock, @unchecked Sendable {
    private struct Sleeper {
        let deadline: Int64
        let seq: UInt64
        let continuation: CheckedContinuation<Void, Error>
    }

    private let lock = NSLock()
    private var now: Int64
    private var seq: UInt64 = 0
    private var sleepers: [UInt64: Sleeper] = [:]

    /// Starts at `startMillis` (ms since the epoch).
    public init(startMillis: Int64) { now = startMillis }

    public func nowMillis() -> Int64 {
        lock.lock(); defer { lock.unlock() }
        return now
    }

    /// How many tasks are sleeping on this clock.
    public var sleeperCount: Int {
        lock.lock(); defer { lock.unlock() }
        return sleepers.count
    }

    /// The earliest deadline anyone sleeps until, if any.
    public var nextDeadline: Int64? {
        lock.lock(); defer { lock.unlock() }
        return sleepers.values.map(\.deadline).min()
    }

    public func sleep(untilMillis deadline: Int64) async throws {
        try Task.checkCancellation()
        let id: UInt64 = lock.withLock { seq &+= 1; return seq }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
                lock.lock()
                // cancelled between the handler's registration and here: the handler found no sleeper to resume
                if Task.isCancelled {
                    lock.unlock()
                    c.resume(throwing: CancellationError())
                    return
                }
                if deadline <= now {
                    lock.unlock()
                    c.resume()
                    return
                }
                sleepers[id] = Sleeper(deadline: deadline, seq: id, continuation: c)
                lock.unlock()
            }
        } onCancel: {
            let s: Sleeper? = lock.withLock { sleepers.removeValue(forKey: id) }
            s?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward to `t` (never backwards) and resumes every sleeper whose deadline is ≤ `t`, earliest first.
    public func advance(to t: Int64) {
        lock.lock()
        if t > now { now = t }
        let due = sleepers.values.filter { $0.deadline <= now }.sorted { ($0.deadline, $0.seq) < ($1.deadline, $1.seq) }
        for s in due { sleepers.removeValue(forKey: s.seq) }
        lock.unlock()
        for s in due { s.continuation.resume() }
    }

    /// Moves time forward by `millis`.
    public func advance(by millis: Int64) {
        advance(to: nowMillis() &+ max(0, millis))
    }
}
