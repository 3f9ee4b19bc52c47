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
    /// Sleepers cancelled before they registered (the cancellation handler ran first): they must not register.
    private var cancelledEarly: Set<UInt64> = []

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
                if cancelledEarly.remove(id) != nil {
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
            // The handler can run before the operation registered its sleeper (cancelled between the check above and
            // registration): remember the id so registration throws instead of sleeping forever.
            let s: Sleeper? = lock.withLock {
                if let s = sleepers.removeValue(forKey: id) { return s }
                cancelledEarly.insert(id)
                return nil
            }
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

/// Real time running faster: `speed` clock milliseconds pass per wall millisecond, starting at `startMillis` when
/// the clock is created. `vigil serve --clock-speed 60` runs the whole server (store bounds, the online models, the
/// engine, a live simulator) one hour per real minute, as `make demo` does. Sleeps are real sleeps of
/// `(deadline − now) / speed`, so the order of events is that of a real run, compressed.
public struct AcceleratedClock: VigilClock {
    public let speed: Double
    public let startMillis: Int64
    private let wallStart: Int64
    private let wall = WallClock()

    /// `speed` > 0 (1 = real time); `startMillis` defaults to the wall clock's now.
    public init(speed: Double, startMillis: Int64? = nil) {
        precondition(speed > 0 && speed.isFinite, "AcceleratedClock: speed must be > 0")
        self.speed = speed
        wallStart = wall.nowMillis()
        self.startMillis = startMillis ?? wallStart
    }

    public func nowMillis() -> Int64 {
        startMillis &+ Int64((Double(wall.nowMillis() &- wallStart) * speed).rounded(.down))
    }

    public func sleep(untilMillis deadline: Int64) async throws {
        let wait = Double(deadline &- nowMillis()) / speed
        if wait > 0 { try await Task.sleep(nanoseconds: UInt64((wait * 1_000_000).rounded(.up))) }
        // a rounding short of the deadline: wait the remaining wall millisecond(s)
        while nowMillis() < deadline {
            try await Task.sleep(nanoseconds: UInt64(max(1, (Double(deadline &- nowMillis()) / speed) * 1_000_000)))
        }
        try Task.checkCancellation()
    }
}
