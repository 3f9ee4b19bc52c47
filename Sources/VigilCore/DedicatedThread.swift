import Foundation

/// Runs jobs one at a time, in order, on one dedicated OS thread, and exposes them as `async` calls, so
/// that blocking C calls (libvirt) and heavy numeric work (BLAS) never run on the Swift concurrency pool,
/// where they would stall every other task on a small machine (ARCHITECTURE.md).
public final class DedicatedThread: @unchecked Sendable {
    private let cond = NSCondition()
    private var jobs: [() -> Void] = []
    private var stopped = false
    private var thread: Thread?

    /// Starts the thread. It holds this object strongly until `stop()`.
    public init(name: String, stackSize: Int? = nil) {
        let t = Thread { self.loop() }
        t.name = name
        if let stackSize { t.stackSize = stackSize }
        thread = t
        t.start()
    }

    private func loop() {
        while true {
            cond.lock()
            while jobs.isEmpty && !stopped { cond.wait() }
            if jobs.isEmpty && stopped { cond.unlock(); return }
            let job = jobs.removeFirst()
            cond.unlock()
            job()
        }
    }

    /// Runs `body` on the thread and suspends until it finished. After `stop()` it runs on the caller instead.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
            submit { c.resume(with: Result { try body() }) }
        }
    }

    /// `run` for a body that cannot throw.
    public func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (c: CheckedContinuation<T, Never>) in
            submit { c.resume(returning: body()) }
        }
    }

    /// Whether the current code runs on this thread.
    public var isCurrent: Bool { Thread.current === thread }

    private func submit(_ job: @escaping () -> Void) {
        cond.lock()
        if stopped {
            cond.unlock()
            job()
            return
        }
        jobs.append(job)
        cond.signal()
        cond.unlock()
    }

    /// Lets the thread finish the queued jobs and exit.
    public func stop() {
        cond.lock()
        stopped = true
        cond.signal()
        cond.unlock()
    }
}
