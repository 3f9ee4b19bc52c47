import VigilCore

/// Engine limits and defaults (Prometheus' flags of the same names).
public struct QueryOptions: Sendable {
    /// `--query.lookback-delta`, ms.
    public var lookbackDelta: Int64 = 300_000
    /// `--query.max-samples`: samples loaded plus points produced by one query.
    public var maxSamples: Int = 50_000_000
    /// `--query.timeout`, seconds.
    public var timeout: Double = 120
    /// Range queries may have at most this many steps (Prometheus: 11,000).
    public var maxPointsPerSeries: Int = 11_000
    /// Subquery step when none is given (Prometheus' default evaluation interval), ms.
    public var defaultEvalInterval: Int64 = 60_000
    /// `--query-max-length`: bytes of query text accepted (longer: 400 naming the limit).
    public var maxQueryLength: Int = 256 << 10
    /// Deepest expression tree accepted (parser, evaluator, printer); deeper: 400.
    public var maxDepth: Int = 256
    /// `--query-max-concurrency`: queries evaluated at once (Prometheus' `--query.max-concurrency`, default 20).
    public var maxConcurrency: Int = 20
    /// How long a query over `maxConcurrency` waits for a slot before 503, seconds.
    public var maxQueueWait: Double = 10

    public init() {}
}

/// Query errors, each mapping to one of Prometheus' API `errorType`s.
public enum QueryError: Error, Sendable, CustomStringConvertible, Equatable {
    case badData(String)
    case execution(String)
    case timeout(String)
    case canceled(String)

    public var errorType: String {
        switch self {
        case .badData: return "bad_data"
        case .execution: return "execution"
        case .timeout: return "timeout"
        case .canceled: return "canceled"
        }
    }

    /// HTTP status Prometheus answers with.
    public var httpStatus: Int {
        switch self {
        case .badData: return 400
        case .execution: return 422
        case .timeout, .canceled: return 503
        }
    }

    public var description: String {
        switch self {
        case .badData(let m), .execution(let m), .timeout(let m), .canceled(let m): return m
        }
    }
}

public struct InstantSample: Sendable, Equatable {
    public var labels: Labels
    public var t: Int64
    public var v: Double
}

public struct RangeSeries: Sendable, Equatable {
    public var labels: Labels
    public var timestamps: [Int64]
    public var values: [Double]
}

/// A query's answer, shaped like Prometheus' `data.resultType` + `data.result`.
public enum QueryResult: Sendable {
    case scalar(t: Int64, v: Double)
    case string(t: Int64, v: String)
    case vector([InstantSample])
    case matrix([RangeSeries])

    public var resultType: String {
        switch self {
        case .scalar: return "scalar"
        case .string: return "string"
        case .vector: return "vector"
        case .matrix: return "matrix"
        }
    }
}
