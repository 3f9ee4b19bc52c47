/// Prometheus' staleness marker: a specific NaN bit pattern (value.StaleNaN).
public let staleNaNBits: UInt64 = 0x7ff0_0000_0000_0002

public extension Double {
    static let staleNaN = Double(bitPattern: staleNaNBits)
    var isStaleNaN: Bool { bitPattern == staleNaNBits }
}

/// One sample: milliseconds since the Unix epoch and a float64 value (NaN, ±Inf, stale NaN allowed).
public struct Sample: Hashable, Sendable {
    public var t: Int64
    public var v: Double

    public init(_ t: Int64, _ v: Double) {
        self.t = t
        self.v = v
    }

    /// Bitwise equality (NaN payloads included), unlike `==` on Double.
    public func bitwiseEqual(_ o: Sample) -> Bool { t == o.t && v.bitPattern == o.v.bitPattern }

    public static func == (a: Sample, b: Sample) -> Bool { a.bitwiseEqual(b) }
    public func hash(into h: inout Hasher) {
        h.combine(t)
        h.combine(v.bitPattern)
    }
}

/// A series with its samples in time order, as columns (timestamps in ms, values).
/// Used both for appending (ingestion → store) and for reading (store → PromQL, models, TUI).
public struct SeriesSamples: Sendable, Equatable {
    public var labels: Labels
    public var timestamps: [Int64]
    public var values: [Double]

    public init(labels: Labels, timestamps: [Int64] = [], values: [Double] = []) {
        precondition(timestamps.count == values.count, "BUG: timestamps and values differ in length")
        self.labels = labels
        self.timestamps = timestamps
        self.values = values
    }

    public init(labels: Labels, samples: [Sample]) {
        self.labels = labels
        self.timestamps = samples.map(\.t)
        self.values = samples.map(\.v)
    }

    public var count: Int { timestamps.count }
    public var samples: [Sample] { zip(timestamps, values).map { Sample($0, $1) } }

    public mutating func append(_ t: Int64, _ v: Double) {
        timestamps.append(t)
        values.append(v)
    }

    /// Bitwise comparison of values (NaN == NaN when the bits agree).
    public static func == (a: SeriesSamples, b: SeriesSamples) -> Bool {
        a.labels == b.labels && a.timestamps == b.timestamps
            && a.values.count == b.values.count
            && zip(a.values, b.values).allSatisfy { $0.bitPattern == $1.bitPattern }
    }
}
