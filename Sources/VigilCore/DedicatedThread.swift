import Foundation

/// Runs jobs in FIFO order on one (or a few) dedicated OS threads and exposes them as `async` calls, so that
/// blocking C calls (libvirt, SQLite) and heavy numeric work (BLAS, query evaluation) never run on the Swift
/// concurrency pool, where they would stall every other task on a small machine (ARCHITECTURE.md).
///
/// With one thread (the default) jobs run one at a time in submission order; with `threads > 1` they share one
/// queue, so a long job delays only the thread it occupies (`ReadExecutor`).
public final class DedicatedThread: @unchecked Sendable {
    private let cond = NSCondition()
    private var jobs: [() -> Void] = []
    private var head = 0
    private var stopped = false

    /// Starts the threads (`name`, or `name-0`, `name-1`, … for several). They hold this object strongly until
    /// `stop()`.
    public init(name: String, threads: Int = 1, stackSize: Int? = nil) {
        let count = max(1, threads)
        for k in 0..<count {
            let threadName = count == 1 ? name : "\(name)-\(k)"
            let t = Thread { [self] in
                // Named from inside: on Linux a name set before start is not applied to the OS thread.
                Thread.current.name = threadName
                Thread.current.threadDictionary[DedicatedThread.marker] = ObjectIdentifier(self)
                loop()
            }
            if let stackSize { t.stackSize = stackSize }
            t.start()
        }
    }

    private static let marker = "vigil.DedicatedThread"

    /// Whether the current code runs on one of these threads.
    public var isCurrent: Bool {
        (Thread.current.threadDictionary[DedicatedThread.marker] as? ObjectIdentifier) == ObjectIdentifier(self)
    }

    private func loop() {
        while true {
            cond.lock()
            while head == jobs.count && !stopped { cond.wait() }
            if head == jobs.count && stopped { cond.unlock(); return }
            let job = jobs[head]
            head += 1
            // Drop consumed jobs in bulk (amortised O(1) per job instead of removeFirst's O(n)).
            if head > 1024 && head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            cond.unlock()
            job()
        }
    }

    /// Runs `body` on one of the threads and suspends until it finished. After `stop()` it runs on the caller.
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

    /// Lets the threads finish the queued jobs and exit.
    public func stop() {
        cond.lock()
        stopped = true
        cond.broadcast()
        cond.unlock()
    }
}
