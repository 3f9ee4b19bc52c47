/// The part of an OTLP `ExportMetricsServiceRequest` that the Prometheus mapping needs.
/// Both decoders (protobuf and JSON) produce it; `OTLPMetrics.convert` maps it to series.
/// Attribute values are kept as strings, formatted as Prometheus' translator does (bool → `true`/`false`,
/// int → decimal, double → shortest form, array/kvlist → JSON text, bytes → base64).
public enum OTLP {
    public struct Attribute: Sendable, Equatable {
        public var key: String
        public var value: String
        public init(_ key: String, _ value: String) { self.key = key; self.value = value }
    }

    /// `AggregationTemporality`: 0 unspecified, 1 delta, 2 cumulative.
    public enum Temporality: Int, Sendable, Equatable {
        case unspecified = 0, delta = 1, cumulative = 2
    }

    /// `DataPointFlags.FLAG_NO_RECORDED_VALUE_MASK`: the point carries no value (mapped to a stale marker).
    public static let flagNoRecordedValue: UInt32 = 1

    public struct NumberPoint: Sendable, Equatable {
        public var attributes: [Attribute] = []
        public var startTimeUnixNano: UInt64 = 0
        public var timeUnixNano: UInt64 = 0
        public var value: Double = 0
        public var flags: UInt32 = 0
        public init(attributes: [Attribute] = [], startTimeUnixNano: UInt64 = 0, timeUnixNano: UInt64 = 0, value: Double = 0, flags: UInt32 = 0) {
            self.attributes = attributes; self.startTimeUnixNano = startTimeUnixNano; self.timeUnixNano = timeUnixNano
            self.value = value; self.flags = flags
        }
        /// Values compare bitwise (NaN equals the same NaN).
        public static func == (a: NumberPoint, b: NumberPoint) -> Bool {
            a.attributes == b.attributes && a.startTimeUnixNano == b.startTimeUnixNano && a.timeUnixNano == b.timeUnixNano
                && a.value.bitPattern == b.value.bitPattern && a.flags == b.flags
        }
    }

    public struct HistogramPoint: Sendable, Equatable {
        public var attributes: [Attribute] = []
        public var startTimeUnixNano: UInt64 = 0
        public var timeUnixNano: UInt64 = 0
        public var count: UInt64 = 0
        public var sum: Double? = nil
        /// Per-bucket (not cumulative) counts; `explicitBounds.count + 1` of them, or none.
        public var bucketCounts: [UInt64] = []
        public var explicitBounds: [Double] = []
        public var flags: UInt32 = 0
        public init(attributes: [Attribute] = [], startTimeUnixNano: UInt64 = 0, timeUnixNano: UInt64 = 0, count: UInt64 = 0,
                    sum: Double? = nil, bucketCounts: [UInt64] = [], explicitBounds: [Double] = [], flags: UInt32 = 0) {
            self.attributes = attributes; self.startTimeUnixNano = startTimeUnixNano; self.timeUnixNano = timeUnixNano
            self.count = count; self.sum = sum; self.bucketCounts = bucketCounts; self.explicitBounds = explicitBounds; self.flags = flags
        }
    }

    public struct SummaryPoint: Sendable, Equatable {
        public var attributes: [Attribute] = []
        public var startTimeUnixNano: UInt64 = 0
        public var timeUnixNano: UInt64 = 0
        public var count: UInt64 = 0
        public var sum: Double = 0
        public var quantiles: [(quantile: Double, value: Double)] = []
        public var flags: UInt32 = 0
        public init(attributes: [Attribute] = [], startTimeUnixNano: UInt64 = 0, timeUnixNano: UInt64 = 0, count: UInt64 = 0,
                    sum: Double = 0, quantiles: [(quantile: Double, value: Double)] = [], flags: UInt32 = 0) {
            self.attributes = attributes; self.startTimeUnixNano = startTimeUnixNano; self.timeUnixNano = timeUnixNano
            self.count = count; self.sum = sum; self.quantiles = quantiles; self.flags = flags
        }
        public static func == (a: SummaryPoint, b: SummaryPoint) -> Bool {
            a.attributes == b.attributes && a.startTimeUnixNano == b.startTimeUnixNano && a.timeUnixNano == b.timeUnixNano
                && a.count == b.count && a.sum == b.sum && a.flags == b.flags
                && a.quantiles.map(\.quantile) == b.quantiles.map(\.quantile) && a.quantiles.map(\.value) == b.quantiles.map(\.value)
        }
    }

    public enum Data: Sendable, Equatable {
        case none
        case gauge([NumberPoint])
        case sum([NumberPoint], temporality: Temporality, isMonotonic: Bool)
        case histogram([HistogramPoint], temporality: Temporality)
        /// Not converted: only the number of points is kept.
        case exponentialHistogram(points: Int)
        case summary([SummaryPoint])
    }

    public struct Metric: Sendable, Equatable {
        public var name: String
        public var description: String
        public var unit: String
        public var data: Data
        public init(name: String, description: String = "", unit: String = "", data: Data) {
            self.name = name; self.description = description; self.unit = unit; self.data = data
        }
    }

    public struct ScopeMetrics: Sendable, Equatable {
        public var scopeName: String
        public var scopeVersion: String
        public var metrics: [Metric]
        public init(scopeName: String = "", scopeVersion: String = "", metrics: [Metric]) {
            self.scopeName = scopeName; self.scopeVersion = scopeVersion; self.metrics = metrics
        }
    }

    public struct ResourceMetrics: Sendable, Equatable {
        public var resourceAttributes: [Attribute]
        public var scopeMetrics: [ScopeMetrics]
        public init(resourceAttributes: [Attribute] = [], scopeMetrics: [ScopeMetrics]) {
            self.resourceAttributes = resourceAttributes; self.scopeMetrics = scopeMetrics
        }
    }

    /// `ExportMetricsServiceRequest`.
    public struct Request: Sendable, Equatable {
        public var resourceMetrics: [ResourceMetrics]
        public init(resourceMetrics: [ResourceMetrics]) { self.resourceMetrics = resourceMetrics }
    }

    /// Nesting limit for `AnyValue` arrays/kvlists and JSON, so hostile input cannot exhaust the stack.
    static let maxDepth = 32
}
