import VigilCore
import VigilIngest

/// remote_write protocol message the request declared (Content-Type `proto=` parameter).
public enum RemoteWriteVersion: String, Sendable {
    /// `prometheus.WriteRequest` (1.0; also when no `proto=` is given)
    case v1 = "prometheus.WriteRequest"
    /// `io.prometheus.write.v2.Request` (2.0)
    case v2 = "io.prometheus.write.v2.Request"
}

/// What a decoder produced from one request or packet.
public struct DecodedWrite: Sendable {
    public var series: [SeriesSamples]
    /// Native histograms found (remote_write 2.0); Vigil stores float samples only and counts them as rejected.
    public var histograms: Int
    public var exemplars: Int

    public init(series: [SeriesSamples], histograms: Int = 0, exemplars: Int = 0) {
        self.series = series
        self.histograms = histograms
        self.exemplars = exemplars
    }
}

/// A body that could not be decoded. `message` is one line and names the line/series/field.
public struct DecodeFailure: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The wire-format decoders the endpoints call. The real ones live in `VigilIngest` (`IngestDecoders.standard`);
/// tests and embedders may substitute their own. Every function either returns the whole request's series or
/// throws (a malformed request writes nothing). The thrown error's description becomes the 400 body.
public struct IngestDecoders: Sendable {
    /// Snappy-compressed remote_write body.
    public var remoteWrite: @Sendable (_ body: [UInt8], _ version: RemoteWriteVersion) throws -> DecodedWrite
    /// Prometheus text exposition 0.0.4 (or OpenMetrics text when `openMetrics`); samples without a timestamp get
    /// `defaultTimestamp` (ms).
    public var text: @Sendable (_ body: [UInt8], _ defaultTimestamp: Int64, _ openMetrics: Bool) throws -> [SeriesSamples]
    /// Influx line protocol; points without a timestamp get `now` (ms).
    public var influx: @Sendable (_ body: [UInt8], _ precision: InfluxLine.Precision, _ now: Int64) throws -> [SeriesSamples]
    /// OTLP `ExportMetricsServiceRequest` as protobuf; points without a time get `now` (ms).
    public var otlpProtobuf: @Sendable (_ body: [UInt8], _ now: Int64) throws -> [SeriesSamples]
    /// OTLP `ExportMetricsServiceRequest` as JSON.
    public var otlpJSON: @Sendable (_ body: [UInt8], _ now: Int64) throws -> [SeriesSamples]
    /// Graphite plaintext lines (`path value timestamp`), timestamps in seconds; `now` in ms for `-1`/missing.
    public var graphite: @Sendable (_ lines: [UInt8], _ now: Int64) throws -> [SeriesSamples]
    /// One StatsD datagram (may hold several `\n`-separated metrics) into aggregator events.
    public var statsd: @Sendable (_ packet: [UInt8]) throws -> [StatsDEvent]
    /// remote_write 1.0 to columns with labels left as bytes (the series-cache fast path); nil when unavailable.
    /// `body` is the snappy-compressed request body.
    public var remoteWriteColumns: (@Sendable (_ body: UnsafeRawBufferPointer) throws -> RemoteWriteColumns)?
    /// The decoders already enforce the Prometheus label rules and the per-series limits, so the server
    /// does not check every label again.
    public var validatesLabels: Bool

    public init(
        remoteWrite: @escaping @Sendable ([UInt8], RemoteWriteVersion) throws -> DecodedWrite,
        text: @escaping @Sendable ([UInt8], Int64, Bool) throws -> [SeriesSamples],
        influx: @escaping @Sendable ([UInt8], InfluxLine.Precision, Int64) throws -> [SeriesSamples],
        otlpProtobuf: @escaping @Sendable ([UInt8], Int64) throws -> [SeriesSamples],
        otlpJSON: @escaping @Sendable ([UInt8], Int64) throws -> [SeriesSamples],
        graphite: @escaping @Sendable ([UInt8], Int64) throws -> [SeriesSamples],
        statsd: @escaping @Sendable ([UInt8]) throws -> [StatsDEvent],
        validatesLabels: Bool = false
    ) {
        self.validatesLabels = validatesLabels
        self.remoteWriteColumns = nil
        self.remoteWrite = remoteWrite
        self.text = text
        self.influx = influx
        self.otlpProtobuf = otlpProtobuf
        self.otlpJSON = otlpJSON
        self.graphite = graphite
        self.statsd = statsd
    }

    /// Decoders that refuse everything (used where no parser is wired yet).
    public static let unavailable = IngestDecoders(
        remoteWrite: { _, _ in throw DecodeFailure("remote_write decoding is not available in this build") },
        text: { _, _, _ in throw DecodeFailure("text exposition decoding is not available in this build") },
        influx: { _, _, _ in throw DecodeFailure("Influx line protocol decoding is not available in this build") },
        otlpProtobuf: { _, _ in throw DecodeFailure("OTLP decoding is not available in this build") },
        otlpJSON: { _, _ in throw DecodeFailure("OTLP decoding is not available in this build") },
        graphite: { _, _ in throw DecodeFailure("Graphite decoding is not available in this build") },
        statsd: { _ in throw DecodeFailure("StatsD decoding is not available in this build") }
    )
}
