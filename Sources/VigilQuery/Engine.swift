import Foundation
import VigilCore

/// Marks "no value at this step" inside evaluation arrays. A signalling NaN with a payload
/// no arithmetic produces (results are quiet NaNs), distinct from real NaN samples and stale markers.
let absentBits: UInt64 = 0x7ff4_0000_dead_0001
let absent = Double(bitPattern: absentBits)
extension Double {
    @inline(__always) var isAbsent: Bool { bitPattern == absentBits }
}

/// The step grid of an evaluation: `start`, `start+step`, … (`count` points). Instant queries have count 1.
struct Grid {
    let start: Int64
    let step: Int64
    let count: Int
    @inline(__always) func t(_ k: Int) -> Int64 { start + Int64(k) * step }
    var end: Int64 { t(count - 1) }
}

/// An instant-vector series over a grid: one value (or `absent`) per step.
struct VSeries {
    var labels: Labels
    var values: [Double]
}

/// Raw samples of one series (stale markers removed for range use).
struct RawSeries {
    var labels: Labels
    var ts: [Int64]
    var vs: [Double]
}

enum EvalValue {
    case scalar([Double])
    case vector([VSeries])
    case string(String)
}

/// PromQL evaluator with Prometheus 2.42 semantics. Every selector is read once for the whole
/// query range and evaluated vectorised over the steps.
public struct Engine: Sendable {
    public let reader: any SeriesReader
    public let options: QueryOptions

    public init(reader: any SeriesReader, options: QueryOptions = QueryOptions()) {
        self.reader = reader
        self.options = options
    }

    /// Parses; parse errors become `bad_data` as in Prometheus' API (which prefixes instant-query
    /// parse errors with `invalid parameter "query": ` and range-query ones not). Queries longer than
    /// `options.maxQueryLength` or nested deeper than `options.maxDepth` are `bad_data` too; a parse past
    /// `deadline` is `timeout`.
    public static func parse(_ query: String, prefix: String = "invalid parameter \"query\": ",
                             options: QueryOptions = QueryOptions(),
                             deadline: ContinuousClock.Instant? = nil) throws(QueryError) -> Expr {
        if query.utf8.count > options.maxQueryLength {
            throw .badData("invalid parameter \"query\": query is \(query.utf8.count) bytes, longer than the limit of \(options.maxQueryLength) bytes (--query-max-length)")
        }
        do {
            return try Parser.parse(query, limits: ParseLimits(maxDepth: options.maxDepth, deadline: deadline))
        } catch {
            if error.isTimeout { throw .timeout("query timed out in query parsing") }
            throw .badData(prefix + "\(error)")
        }
    }

    /// When a query started now must end.
    public func deadline() -> ContinuousClock.Instant {
        ContinuousClock.now.advanced(by: .milliseconds(Int64(min(options.timeout, 1e9) * 1000)))
    }

    /// Parse and evaluate within one deadline (`options.timeout` covers both).
    public func instantQuery(_ query: String, at t: Int64) throws(QueryError) -> QueryResult {
        let d = deadline()
        let expr = try Engine.parse(query, options: options, deadline: d)
        return try instantQuery(expr, at: t, deadline: d)
    }

    public func instantQuery(_ expr: Expr, at t: Int64, deadline: ContinuousClock.Instant? = nil) throws(QueryError) -> QueryResult {
        var ev = Evaluator(reader: reader, options: options, queryStart: t, queryEnd: t, deadline: deadline ?? self.deadline())
        do {
            let inner = unwrapParens(expr)
            switch inner {
            case .matrixSelector, .subquery:
                let raws = try ev.evalRangeArgument(inner, grid: Grid(start: t, step: 1, count: 1))
                var out: [RangeSeries] = []
                for r in raws.series {
                    let (lo, hi) = window(r.ts, ref: raws.ref(t), range: raws.range)
                    if lo < hi {
                        out.append(RangeSeries(labels: r.labels, timestamps: Array(r.ts[lo..<hi]), values: Array(r.vs[lo..<hi])))
                    }
                }
                return .matrix(out)
            default: break
            }
            let v = try ev.eval(expr, Grid(start: t, step: 1, count: 1))
            switch v {
            case .scalar(let s): return .scalar(t: t, v: s[0])
            case .string(let s): return .string(t: t, v: s)
            case .vector(let vs):
                var out: [InstantSample] = []
                out.reserveCapacity(vs.count)
                for s in vs where !s.values[0].isAbsent { out.append(InstantSample(labels: s.labels, t: t, v: s.values[0])) }
                if case .call(let f, _) = inner, f.name == "sort" || f.name == "sort_desc" {
                    out = sortForOutput(out, descending: f.name == "sort_desc")
                }
                return .vector(out)
            }
        } catch let e as QueryError {
            throw e
        } catch {
            throw .execution("\(error)")
        }
    }

    public func rangeQuery(_ query: String, start: Int64, end: Int64, step: Int64) throws(QueryError) -> QueryResult {
        let d = deadline()
        let expr = try Engine.parse(query, prefix: "", options: options, deadline: d)
        return try rangeQuery(expr, start: start, end: end, step: step, deadline: d)
    }

    public func rangeQuery(_ expr: Expr, start: Int64, end: Int64, step: Int64,
                           deadline: ContinuousClock.Instant? = nil) throws(QueryError) -> QueryResult {
        if end < start { throw .badData("invalid parameter \"end\": end timestamp must not be before start time") }
        if step <= 0 {
            throw .badData("invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer")
        }
        if (end - start) / step > Int64(options.maxPointsPerSeries) {
            throw .badData("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")
        }
        if expr.type != .scalar && expr.type != .vector {
            throw .badData("invalid expression type \"\(expr.type.documentedName)\" for range query, must be Scalar or instant Vector")
        }
        let grid = Grid(start: start, step: step, count: Int((end - start) / step) + 1)
        var ev = Evaluator(reader: reader, options: options, queryStart: start, queryEnd: end, deadline: deadline ?? self.deadline())
        do {
            let v = try ev.eval(expr, grid)
            switch v {
            case .scalar(let s):
                return .matrix([RangeSeries(labels: .empty, timestamps: (0..<grid.count).map(grid.t), values: s)])
            case .string:
                throw QueryError.badData("invalid expression type \"string\" for range query, must be Scalar or instant Vector")
            case .vector(let vs):
                var out: [RangeSeries] = []
                for s in vs {
                    var ts: [Int64] = []
                    var vals: [Double] = []
                    for k in 0..<grid.count where !s.values[k].isAbsent {
                        ts.append(grid.t(k))
                        vals.append(s.values[k])
                    }
                    if !ts.isEmpty { out.append(RangeSeries(labels: s.labels, timestamps: ts, values: vals)) }
                }
                out.sort { $0.labels < $1.labels }
                return .matrix(out)
            }
        } catch let e as QueryError {
            throw e
        } catch {
            throw .execution("\(error)")
        }
    }

    private func sortForOutput(_ v: [InstantSample], descending: Bool) -> [InstantSample] {
        // Prometheus: NaN last in both directions.
        v.sorted { a, b in
            if a.v.isNaN { return false }
            if b.v.isNaN { return true }
            return descending ? a.v > b.v : a.v < b.v
        }
    }
}

func unwrapParens(_ e: Expr) -> Expr {
    if case .paren(let inner) = e { return unwrapParens(inner) }
    return e
}

/// Indices [lo, hi) of samples with ref-range <= t <= ref (Prometheus 2.42: both ends inclusive).
@inline(__always)
func window(_ ts: [Int64], ref: Int64, range: Int64) -> (Int, Int) {
    let lo = lowerBound(ts, ref - range)
    let hi = lowerBound(ts, ref + 1)
    return (lo, hi)
}

/// First index with ts[i] >= x.
@inline(__always)
func lowerBound(_ ts: [Int64], _ x: Int64) -> Int {
    var lo = 0, hi = ts.count
    while lo < hi {
        let m = (lo + hi) >> 1
        if ts[m] < x { lo = m + 1 } else { hi = m }
    }
    return lo
}

/// The raw series behind a range-vector argument, and how to place its window at a step.
struct RangeArgument {
    var series: [RawSeries]
    var range: Int64
    var offset: Int64
    var at: Int64?
    @inline(__always) func ref(_ t: Int64) -> Int64 { (at ?? t) - offset }
}
