import Foundation
import VigilCore

/// One query's evaluation state: limits, the query's start/end (for `@ start()`/`@ end()`).
struct Evaluator {
    let reader: any SeriesReader
    let options: QueryOptions
    let queryStart: Int64
    let queryEnd: Int64
    let deadline: ContinuousClock.Instant
    var samples = 0

    /// Current `eval` recursion depth; bounded by `options.maxDepth` (parsed trees are, built ones may not be).
    var depth = 0

    init(reader: any SeriesReader, options: QueryOptions, queryStart: Int64, queryEnd: Int64,
         deadline: ContinuousClock.Instant) {
        self.reader = reader
        self.options = options
        self.queryStart = queryStart
        self.queryEnd = queryEnd
        self.deadline = deadline
    }

    // MARK: limits

    mutating func account(_ n: Int) throws(QueryError) {
        samples += n
        if samples > options.maxSamples {
            throw .execution("query processing would load too many samples into memory in query execution")
        }
        try checkTimeout()
    }

    func checkTimeout() throws(QueryError) {
        if ContinuousClock.now > deadline { throw .timeout("query timed out in query execution") }
    }

    func resolveAt(_ at: AtModifier?) -> Int64? {
        guard let at else { return nil }
        switch at {
        case .timestamp(let t): return t
        case .start: return queryStart
        case .end: return queryEnd
        }
    }

    mutating func select(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [SeriesSamples] {
        let r = try reader.select(matchers, mint: mint, maxt: maxt)
        var n = 0
        for s in r { n += s.count }
        try account(n)
        return r
    }

    // MARK: dispatch

    mutating func eval(_ e: Expr, _ g: Grid) throws -> EvalValue {
        try checkTimeout()
        depth += 1
        defer { depth -= 1 }
        // A little slack over the parser's limit: range arguments and subqueries re-enter eval once more.
        if depth > options.maxDepth + 8 {
            throw QueryError.badData("query nesting depth exceeds \(options.maxDepth)")
        }
        switch e {
        case .number(let v): return .scalar([Double](repeating: v, count: g.count))
        case .string(let s): return .string(s)
        case .paren(let inner): return try eval(inner, g)
        case .vectorSelector(let vs): return .vector(try evalVectorSelector(vs, g, timestamps: false))
        case .matrixSelector, .subquery:
            throw QueryError.execution("range vector cannot be evaluated as an instant vector")
        case .unaryMinus(let inner):
            switch try eval(inner, g) {
            case .scalar(let s): return .scalar(s.map { -$0 })
            case .vector(let vs):
                var out = vs
                for i in out.indices {
                    out[i].labels = out[i].labels.withoutMetricName
                    for k in 0..<g.count where !out[i].values[k].isAbsent { out[i].values[k] = -out[i].values[k] }
                }
                return .vector(try mergeSameLabels(out, g))
            case .string: throw QueryError.execution("unary minus on string")
            }
        case .binary(let op, let l, let r, let mods):
            return try evalBinary(op, l, r, mods, g)
        case .aggregate(let a):
            return .vector(try evalAggregate(a, g))
        case .call(let f, let args):
            return try evalCall(f, args, g)
        }
    }

    mutating func evalVector(_ e: Expr, _ g: Grid) throws -> [VSeries] {
        guard case .vector(let v) = try eval(e, g) else { throw QueryError.execution("expected instant vector") }
        return v
    }

    mutating func evalScalar(_ e: Expr, _ g: Grid) throws -> [Double] {
        guard case .scalar(let v) = try eval(e, g) else { throw QueryError.execution("expected scalar") }
        return v
    }

    func evalString(_ e: Expr) throws -> String {
        switch unwrapParens(e) {
        case .string(let s): return s
        default: throw QueryError.execution("expected string literal")
        }
    }

    // MARK: selectors

    /// Instant vector selector over the grid, with lookback and staleness. With `timestamps`, yields
    /// each chosen sample's timestamp (seconds) instead of its value (for `timestamp()`).
    mutating func evalVectorSelector(_ vs: VectorSelector, _ g: Grid, timestamps: Bool) throws -> [VSeries] {
        let at = resolveAt(vs.at)
        let lookback = options.lookbackDelta
        let refFirst = (at ?? g.start) - vs.offset
        let refLast = (at ?? g.end) - vs.offset
        let data = try select(vs.matchers, mint: refFirst - lookback, maxt: refLast)
        var out: [VSeries] = []
        out.reserveCapacity(data.count)
        for s in data {
            var vals = [Double](repeating: absent, count: g.count)
            var any = false
            let ts = s.timestamps
            let vv = s.values
            var j = 0
            for k in 0..<g.count {
                let ref = (at ?? g.t(k)) - vs.offset
                if at != nil && k > 0 {
                    vals[k] = vals[0]
                    continue
                }
                while j < ts.count && ts[j] <= ref { j += 1 }
                if j == 0 { continue }
                let t = ts[j - 1]
                if t < ref - lookback { continue }
                let v = vv[j - 1]
                if v.isStaleNaN { continue }
                vals[k] = timestamps ? Double(t) / 1000 : v
                any = true
            }
            if any { out.append(VSeries(labels: s.labels, values: vals)) }
        }
        try account(out.count * g.count)
        return out
    }

    /// Resolves a range-vector argument (matrix selector or subquery) to raw series for the grid.
    mutating func evalRangeArgument(_ e: Expr, grid g: Grid) throws -> RangeArgument {
        switch unwrapParens(e) {
        case .matrixSelector(let vs, let range):
            let at = resolveAt(vs.at)
            let refFirst = (at ?? g.start) - vs.offset
            let refLast = (at ?? g.end) - vs.offset
            let data = try select(vs.matchers, mint: refFirst - range, maxt: refLast)
            var series: [RawSeries] = []
            series.reserveCapacity(data.count)
            for s in data {
                if hasStaleMarker(s.values) {
                    var ts: [Int64] = []
                    var vv: [Double] = []
                    for i in 0..<s.count where !s.values[i].isStaleNaN {
                        ts.append(s.timestamps[i])
                        vv.append(s.values[i])
                    }
                    series.append(RawSeries(labels: s.labels, ts: ts, vs: vv))
                } else {
                    series.append(RawSeries(labels: s.labels, ts: s.timestamps, vs: s.values))
                }
            }
            return RangeArgument(series: series, range: range, offset: vs.offset, at: at)
        case .subquery(let sq):
            let at = resolveAt(sq.at)
            let step = sq.step == 0 ? options.defaultEvalInterval : sq.step
            let refFirst = (at ?? g.start) - sq.offset
            let refLast = (at ?? g.end) - sq.offset
            var innerStart = step * ((refFirst - sq.range) / step)
            if innerStart < refFirst - sq.range { innerStart += step }
            var series: [RawSeries] = []
            if refLast >= innerStart {
                let inner = Grid(start: innerStart, step: step, count: Int((refLast - innerStart) / step) + 1)
                try account(inner.count)
                switch try eval(sq.expr, inner) {
                case .scalar(let s):
                    series.append(RawSeries(labels: .empty, ts: (0..<inner.count).map(inner.t), vs: s))
                case .vector(let vs):
                    for v in vs {
                        var ts: [Int64] = []
                        var vv: [Double] = []
                        for k in 0..<inner.count where !v.values[k].isAbsent {
                            ts.append(inner.t(k))
                            vv.append(v.values[k])
                        }
                        if !ts.isEmpty { series.append(RawSeries(labels: v.labels, ts: ts, vs: vv)) }
                    }
                    series.sort { $0.labels < $1.labels }
                case .string:
                    throw QueryError.execution("subquery over a string")
                }
            }
            return RangeArgument(series: series, range: sq.range, offset: sq.offset, at: at)
        default:
            throw QueryError.execution("expected range vector")
        }
    }

    // MARK: helpers

    /// Merges series that ended up with the same labels (e.g. after dropping `__name__`); two values
    /// at the same step are Prometheus' "vector cannot contain metrics with the same labelset".
    func mergeSameLabels(_ series: [VSeries], _ g: Grid) throws -> [VSeries] {
        var index: [Labels: Int] = [:]
        index.reserveCapacity(series.count)
        var out: [VSeries] = []
        out.reserveCapacity(series.count)
        for s in series {
            if let i = index[s.labels] {
                for k in 0..<g.count where !s.values[k].isAbsent {
                    if !out[i].values[k].isAbsent {
                        throw QueryError.execution("vector cannot contain metrics with the same labelset")
                    }
                    out[i].values[k] = s.values[k]
                }
            } else {
                index[s.labels] = out.count
                out.append(s)
            }
        }
        return out
    }
}

/// Whether any value is a stale marker (branch-free over the bit patterns, so it vectorises).
func hasStaleMarker(_ values: [Double]) -> Bool {
    values.withUnsafeBufferPointer { buf in
        buf.withMemoryRebound(to: UInt64.self) { bits in
            var found: UInt8 = 0
            for b in bits { found |= b == staleNaNBits ? 1 : 0 }
            return found != 0
        }
    }
}

// MARK: Go math semantics

@inline(__always) func goMax(_ x: Double, _ y: Double) -> Double {
    if (x.isInfinite && x > 0) || (y.isInfinite && y > 0) { return .infinity }
    if x.isNaN || y.isNaN { return .nan }
    if x == 0 && x == y { return x.sign == .minus ? y : x }
    return x > y ? x : y
}

@inline(__always) func goMin(_ x: Double, _ y: Double) -> Double {
    if (x.isInfinite && x < 0) || (y.isInfinite && y < 0) { return -.infinity }
    if x.isNaN || y.isNaN { return .nan }
    if x == 0 && x == y { return x.sign == .minus ? x : y }
    return x < y ? x : y
}

@inline(__always) func kahanSumInc(_ inc: Double, _ sum: Double, _ c: Double) -> (Double, Double) {
    let t = sum + inc
    var c = c
    if abs(sum) >= abs(inc) { c += (sum - t) + inc } else { c += (inc - t) + sum }
    return (t, c)
}
