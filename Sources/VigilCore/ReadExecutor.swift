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

    /// The threads (one shared FIFO queue): `DedicatedThread`'s job loop with several threads.
    private let pool: DedicatedThread

    public init(name: String, threads: Int, stackSize: Int = 16 << 20) {
        pool = DedicatedThread(name: name, threads: threads, stackSize: stackSize)
    }

    /// Whether the current code runs on one of this executor's threads.
    public var isCurrent: Bool { pool.isCurrent }

    /// Runs `body` on one of the pool's threads and suspends until it finished.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.run(body)
    }

    /// `run` for a body that cannot throw.
    public func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await pool.run(body)
    }

    /// Lets the threads finish the queued jobs and exit; later `run` calls execute on the caller.
    public func stop() { pool.stop() }
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
