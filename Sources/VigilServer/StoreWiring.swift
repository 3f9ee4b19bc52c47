import Foundation
import Hummingbird
import Logging
import VigilCore
import VigilIngestPath
import VigilIngest
import VigilStore

/// The store and decoders `vigil serve` runs with. This is the one place that names `VigilStore`'s and
/// `VigilIngest`'s concrete types, so the endpoints only see `SampleAppender`/`SeriesReader`/`IngestDecoders`.
public struct OpenedStore: Sendable {
    public let appender: any SampleAppender
    public let reader: any SeriesReader
    public let tsdb: TSDB?
    let closeFn: @Sendable () async throws -> Void

    public init(appender: any SampleAppender, reader: any SeriesReader, tsdb: TSDB? = nil,
                close: @escaping @Sendable () async throws -> Void = {}) {
        self.appender = appender
        self.reader = reader
        self.tsdb = tsdb
        self.closeFn = close
    }

    public func close() async throws { try await closeFn() }

    /// Exposes the store's figures on the server's /metrics and adds the store admin routes.
    public func attach(_ server: VigilServer) {
        guard let tsdb else { return }
        server.addStoreAdmin(tsdb)
    }
}

public enum StoreWiring {
    /// `--wal-fsync`: `always` or a group-commit interval (`1s`, `200ms`).
    public static func parseFsync(_ s: String) throws(VigilConfig.ConfigError) -> WALFsyncPolicy {
        if s == "always" { return .always }
        guard let ms = try? DurationParser.milliseconds(s), ms > 0 else {
            throw VigilConfig.ConfigError(message: "invalid --wal-fsync \"\(s)\" (expected always or an interval such as 1s)")
        }
        return .interval(milliseconds: ms)
    }

    /// Opens (creating if needed) the data directory.
    /// `maxFutureMs`: samples further ahead of the wall clock refuse their batch (0: no bound; nil: the store's default).
    public static func open(dataDir: String, retentionMs: Int64, fsync: WALFsyncPolicy, logger: Logger,
                            maxFutureMs: Int64? = nil, clock: any VigilClock = WallClock()) throws -> OpenedStore {
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        var o = TSDBOptions()
        o.retention = retentionMs
        if let maxFutureMs { o.maxFuture = maxFutureMs }
        o.walFsync = fsync
        o.clock = clock
        var l = logger
        l[metadataKey: "component"] = "store"
        o.logger = l
        let db = try TSDB(directory: dataDir, options: o)
        if let c = db.walCorruption { logger.warning("WAL repaired on open", metadata: ["corruption": "\(c)"]) }
        return OpenedStore(appender: db, reader: db, tsdb: db, close: { try db.close() })
    }

    /// The wire-format decoders from VigilIngest, with the server's per-series limits.
    public static func decoders(limits: SeriesLimits = SeriesLimits(), maxDecodedBytes: Int = 256 << 20) -> IngestDecoders {
        let il = IngestLimits(maxLabelsPerSeries: limits.maxLabelsPerSeries, maxLabelNameLength: limits.maxLabelNameBytes,
                              maxLabelValueLength: limits.maxLabelValueBytes, maxDecodedBytes: maxDecodedBytes)
        var d = IngestDecoders.unavailable
        d.remoteWrite = { body, version in
            let r: ParseResult
            switch version {
            case .v1: r = try RemoteWriteV1.decodeSnappy(body, limits: il)
            case .v2: r = try RemoteWriteV2.decodeSnappy(body, limits: il)
            }
            return DecodedWrite(series: r.series, histograms: r.stats.histograms, exemplars: r.stats.exemplars)
        }
        d.remoteWriteColumns = { body in try RemoteWriteColumns(snappy: body, limits: il) }
        d.text = { body, ts, om in
            try TextExposition.parse(body, flavor: om ? .openMetrics : .prometheus, defaultTimestamp: ts, limits: il).series
        }
        d.influx = { body, precision, now in
            try InfluxLine.parse(body, precision: precision, defaultTimestamp: now, limits: il).series
        }
        d.otlpProtobuf = { body, now in try OTLPMetrics.decodeProtobuf(body, defaultTimestamp: now, limits: il).series }
        d.otlpJSON = { body, now in try OTLPMetrics.decodeJSON(body, defaultTimestamp: now, limits: il).series }
        d.graphite = { body, now in try Graphite.parse(body, defaultTimestamp: now, limits: il).series }
        d.statsd = { body in try StatsD.parse(body, limits: il) }
        d.validatesLabels = true
        return d
    }

    /// Whether the decoders are VigilIngest's parsers.
    public static let decodersAvailable = true
}

extension VigilServer {
    /// `POST /api/v1/admin/tsdb/flush`: seal and persist everything to SQLite (what the benchmark's CUSTOM_FLUSH
    /// calls), and store figures on /metrics.
    func addStoreAdmin(_ db: TSDB) {
        addRoutes { router, _ in
            router.post("/api/v1/admin/tsdb/flush") { _, _ -> Response in
                let started = ContinuousClock.now
                let r: Result<Void, any Error> = await withCheckedContinuation { c in
                    Thread { c.resume(returning: Result { try db.flush() }) }.start()
                }
                switch r {
                case .success:
                    return textResponse(.ok, "flushed in \((ContinuousClock.now - started).seconds)s")
                case .failure(let e):
                    return ErrorStyle.text.response(.storage("flush failed: \(e)"))
                }
            }
        }
        metrics.addProvider {
            // Counters the store keeps as it changes: no walk over the head, no count over the chunks table.
            let s = db.counters()
            return """
                # HELP vigil_store_series Series in the store.
                # TYPE vigil_store_series gauge
                vigil_store_series \(s.series)
                # HELP vigil_store_samples Samples in the store (head + persisted).
                # TYPE vigil_store_samples gauge
                vigil_store_samples \(s.samples)
                # HELP vigil_store_chunks Chunks in the store by part (head: open and sealed in memory; sqlite: rows).
                # TYPE vigil_store_chunks gauge
                vigil_store_chunks{part="head"} \(s.headChunks)
                vigil_store_chunks{part="sqlite"} \(s.persistedChunks)
                # HELP vigil_store_bytes Bytes on disk by part.
                # TYPE vigil_store_bytes gauge
                vigil_store_bytes{part="sqlite"} \(s.sqliteBytes)
                vigil_store_bytes{part="wal"} \(s.walBytes)

                """
        }
    }
}
