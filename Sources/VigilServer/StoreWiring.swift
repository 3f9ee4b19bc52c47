import Foundation
import Logging
import VigilCore
import VigilIngest
import VigilStore

/// `--wal-fsync`: `always` (a write is answered after its WAL record is fsync'd) or a group-commit interval.
public enum WALFsyncPolicy: Sendable, Equatable {
    case always
    case interval(milliseconds: Int64)

    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let input: String
        public var description: String { "invalid --wal-fsync \"\(input)\" (expected always or an interval such as 1s)" }
    }

    public init(parsing s: String) throws(ParseError) {
        if s == "always" { self = .always; return }
        guard let ms = try? DurationParser.milliseconds(s), ms > 0 else { throw ParseError(input: s) }
        self = .interval(milliseconds: ms)
    }
}

/// The store and decoders `vigil serve` runs with. This is the one place that names `VigilStore`'s and
/// `VigilIngest`'s concrete types, so the endpoints only see `SampleAppender`/`SeriesReader`/`IngestDecoders`.
public struct OpenedStore: Sendable {
    public let appender: any SampleAppender
    public let reader: any SeriesReader
    let closeFn: @Sendable () async throws -> Void
    let metricsFn: (@Sendable () -> String)?

    public init(appender: any SampleAppender, reader: any SeriesReader,
                close: @escaping @Sendable () async throws -> Void = {}, metrics: (@Sendable () -> String)? = nil) {
        self.appender = appender
        self.reader = reader
        self.closeFn = close
        self.metricsFn = metrics
    }

    public func close() async throws { try await closeFn() }

    /// Exposes the store's own metrics (WAL fsync latency…) on the server's /metrics.
    public func attach(_ server: VigilServer) {
        if let metricsFn { server.metrics.addProvider(metricsFn) }
    }
}

public enum StoreWiring {
    /// Opens (creating if needed) the data directory.
    public static func open(dataDir: String, retentionMs: Int64, fsync: WALFsyncPolicy, logger: Logger) async throws -> OpenedStore {
        // VigilStore's TSDB is not on main yet: until it is, serve from memory and say so loudly.
        logger.warning("the embedded store is not in this build yet: samples are kept in memory only", metadata: ["data": "\(dataDir)"])
        let m = MemoryStore()
        return OpenedStore(appender: m, reader: m)
    }

    /// The wire-format decoders from VigilIngest.
    public static var decoders: IngestDecoders { .unavailable }

    /// Whether `decoders` are the real VigilIngest parsers (false until VigilIngest lands).
    public static let decodersAvailable = false
}
