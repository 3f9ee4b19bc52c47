import Foundation

/// A small pool of dedicated OS threads for store reads and query evaluation, exposed as `async` calls.
///
/// `SeriesReader` calls block (SQLite, page faults on chunk data) and PromQL evaluation is CPU work; run on the
/// Swift concurrency pool they would stall ingestion and every other handler on a 2-core machine
/// (ARCHITECTURE.md). Every request that reads the store goes through `ReadExecutor.shared` (query API, export,
/// the online forecaster), so there is one place that bounds how many reads run at once.
///
/// Jobs are FIFO from one shared queue, so a long query delays only the threads it occupies. Threads get a
/// large stack (`stackSize`) because expression evaluation recurses (bounded by the query depth limit).
public final class ReadExecutor: @unchecked Sendable {
    /// The process-wide executor: `max(2, cores)` threads with 16 MiB stacks.
    public static let shared = ReadExecutor(name: "vigil.read",
                                            threads: max(2, ProcessInfo.processInfo.activeProcessorCount),
                                            stackSize: 16 << 20)

    private let cond = NSCondition()
    private var jobs: [() -> Void] = []
    private var head = 0
    private var stopped = false
    private var running = 0
    public let threadCount: Int

    public init(name: String, threads: Int, stackSize: Int = 16 << 20) {
        threadCount = max(1, threads)
        for k in 0..<threadCount {
            let threadName = "\(name)-\(k)"
            let t = Thread { [self] in
                // Named from inside: on Linux a name set before start is not applied to the OS thread.
                Thread.current.name = threadName
                Thread.current.threadDictionary[ReadExecutor.marker] = ObjectIdentifier(self)
                loop()
            }
            t.stackSize = stackSize
            t.start()
        }
    }

    private static let marker = "vigil.ReadExecutor"

    /// Whether the current code runs on one of this executor's threads.
    public var isCurrent: Bool {
        (Thread.current.threadDictionary[ReadExecutor.marker] as? ObjectIdentifier) == ObjectIdentifier(self)
    }

    private func loop() {
        while true {
            cond.lock()
            while head == jobs.count && !stopped { cond.wait() }
            if head == jobs.count && stopped { cond.unlock(); return }
            let job = jobs[head]
            head += 1
            if head > 1024 && head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            running += 1
            cond.unlock()
            job()
            cond.lock()
            running -= 1
            cond.unlock()
        }
    }

    /// Runs `body` on one of the pool's threads and suspends until it finished.
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

    /// Jobs waiting for a thread and jobs running (for self-metrics and tests).
    public var load: (queued: Int, running: Int) {
        cond.lock()
        defer { cond.unlock() }
        return (jobs.count - head, running)
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

    /// Lets the threads finish the queued jobs and exit; later `run` calls execute on the caller.
    public func stop() {
        cond.lock()
        stopped = true
        cond.broadcast()
        cond.unlock()
    }
}

/// Reads off the Swift concurrency pool: the same calls as `SeriesReader`, run on a `ReadExecutor`.
extension SeriesReader {
    public func selectAsync(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64,
                            on executor: ReadExecutor = .shared) async throws -> [SeriesSamples] {
        try await executor.run { try self.select(matchers, mint: mint, maxt: maxt) }
    }

    public func seriesAsync(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64,
                            on executor: ReadExecutor = .shared) async throws -> [Labels] {
        try await executor.run { try self.series(matchers, mint: mint, maxt: maxt) }
    }

    public func labelNamesAsync(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64,
                                on executor: ReadExecutor = .shared) async throws -> [String] {
        try await executor.run { try self.labelNames(matchers, mint: mint, maxt: maxt) }
    }

    public func labelValuesAsync(_ name: String, matchers: [LabelMatcher], mint: Int64, maxt: Int64,
                                 on executor: ReadExecutor = .shared) async throws -> [String] {
        try await executor.run { try self.labelValues(name, matchers: matchers, mint: mint, maxt: maxt) }
    }
}
