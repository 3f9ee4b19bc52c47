import VigilCore

/// Per-request limits. A series exceeding one is refused with `IngestError.Code.limit`, naming it.
public struct IngestLimits: Sendable, Equatable {
    /// Labels per series, `__name__` included.
    public var maxLabelsPerSeries: Int
    /// Bytes of one label name.
    public var maxLabelNameLength: Int
    /// Bytes of one label value (the metric name included).
    public var maxLabelValueLength: Int
    /// Bytes a compressed body may expand to (snappy bomb guard); also caps the series count × labels work.
    public var maxDecodedBytes: Int

    public init(maxLabelsPerSeries: Int = 64, maxLabelNameLength: Int = 256, maxLabelValueLength: Int = 4096,
                maxDecodedBytes: Int = 64 << 20) {
        self.maxLabelsPerSeries = maxLabelsPerSeries
        self.maxLabelNameLength = maxLabelNameLength
        self.maxLabelValueLength = maxLabelValueLength
        self.maxDecodedBytes = maxDecodedBytes
    }

    public static let `default` = IngestLimits()
}

/// Metric family metadata (remote_write metadata, `# HELP`/`# TYPE`/`# UNIT`, OTLP description/unit).
public struct MetricMetadata: Sendable, Equatable, Hashable {
    public enum MetricType: String, Sendable, Equatable, Hashable, CaseIterable {
        case unknown, counter, gauge, histogram, gaugehistogram, summary, info, stateset
    }

    public var family: String
    public var type: MetricType
    public var help: String
    public var unit: String

    public init(family: String, type: MetricType = .unknown, help: String = "", unit: String = "") {
        self.family = family
        self.type = type
        self.help = help
        self.unit = unit
    }
}

/// What a parser did not turn into samples, by reason. Skips are not errors; the server may report them.
public enum SkipReason: String, Sendable, Hashable, CaseIterable {
    /// remote_write native histograms (v1 field 4, v2 field 3).
    case nativeHistogram = "native_histogram"
    /// remote_write / OpenMetrics / OTLP exemplars.
    case exemplar
    /// InfluxDB string fields.
    case stringField = "string_field"
    /// OTLP delta-temporality sums and histograms.
    case deltaTemporality = "delta_temporality"
    /// OTLP exponential histograms.
    case exponentialHistogram = "exponential_histogram"
    /// OTLP metrics with no data (no gauge/sum/histogram/summary set).
    case emptyMetric = "empty_metric"
}

/// Counts a parser reports with its series.
public struct IngestStats: Sendable, Equatable {
    /// Float samples produced (the `X-Prometheus-Remote-Write-Samples-Written` figure once stored).
    public var samples: Int = 0
    /// Native histogram samples received (not stored: `Histograms-Written` is 0).
    public var histograms: Int = 0
    /// Exemplars received (not stored: `Exemplars-Written` is 0).
    public var exemplars: Int = 0
    /// Items skipped, by reason.
    public var skipped: [SkipReason: Int] = [:]

    public init() {}

    mutating func skip(_ r: SkipReason, _ n: Int = 1) { skipped[r, default: 0] += n }
}

/// The output of every parser: series (labels validated and sorted), metadata when the format has it, counts.
public struct ParseResult: Sendable, Equatable {
    public var series: [SeriesSamples]
    public var metadata: [MetricMetadata]
    public var stats: IngestStats
    /// Empty, or one entry per series (same order): the series' created/start timestamp in ms, 0 when unknown.
    /// Filled by remote_write 2.0 (`created_timestamp`) and OTLP (`start_time_unix_nano` of cumulative points).
    public var createdTimestamps: [Int64] = []

    public init(series: [SeriesSamples] = [], metadata: [MetricMetadata] = [], stats: IngestStats = IngestStats()) {
        self.series = series
        self.metadata = metadata
        self.stats = stats
    }

    /// Total samples across all series.
    public var sampleCount: Int { series.reduce(0) { $0 + $1.count } }
}
