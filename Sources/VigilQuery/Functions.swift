import Foundation
import VigilCore

extension Evaluator {
    mutating func evalCall(_ f: Function, _ args: [Expr], _ g: Grid) throws -> EvalValue {
        switch f.name {
        case "time":
            return .scalar((0..<g.count).map { Double(g.t($0)) / 1000 })
        case "pi":
            return .scalar([Double](repeating: Double.pi, count: g.count))
        case "vector":
            let s = try evalScalar(args[0], g)
            return .vector([VSeries(labels: .empty, values: s)])
        case "scalar":
            let v = try evalVector(args[0], g)
            var out = [Double](repeating: .nan, count: g.count)
            for k in 0..<g.count {
                var n = 0
                var last = 0.0
                for s in v where !s.values[k].isAbsent {
                    n += 1
                    last = s.values[k]
                    if n > 1 { break }
                }
                if n == 1 { out[k] = last }
            }
            return .scalar(out)
        case "absent":
            let v = try evalVector(args[0], g)
            var vals = [Double](repeating: 1, count: g.count)
            for s in v {
                for k in 0..<g.count where !s.values[k].isAbsent { vals[k] = absent }
            }
            return .vector([VSeries(labels: labelsForAbsent(args[0]), values: vals)])
        case "timestamp":
            if case .vectorSelector(let vs) = unwrapParens(args[0]) {
                let v = try evalVectorSelector(vs, g, timestamps: true)
                return .vector(try mergeSameLabels(v.map { VSeries(labels: $0.labels.withoutMetricName, values: $0.values) }, g))
            }
            let v = try evalVector(args[0], g)
            let out = v.map { s in
                VSeries(labels: s.labels.withoutMetricName,
                        values: (0..<g.count).map { s.values[$0].isAbsent ? absent : Double(g.t($0)) / 1000 })
            }
            return .vector(try mergeSameLabels(out, g))
        case "sort", "sort_desc":
            return .vector(try evalVector(args[0], g))
        case "label_replace":
            return .vector(try labelReplace(args, g))
        case "label_join":
            return .vector(try labelJoin(args, g))
        case "histogram_quantile":
            return .vector(try histogramQuantile(args, g))
        case "clamp", "clamp_min", "clamp_max", "round":
            let v = try evalVector(args[0], g)
            let a1 = args.count > 1 ? try evalScalar(args[1], g) : [Double](repeating: 1, count: g.count)
            let a2 = args.count > 2 ? try evalScalar(args[2], g) : []
            var out = v
            for i in out.indices {
                out[i].labels = out[i].labels.withoutMetricName
                for k in 0..<g.count where !out[i].values[k].isAbsent {
                    let x = out[i].values[k]
                    switch f.name {
                    case "clamp":
                        out[i].values[k] = a2[k] < a1[k] ? absent : goMax(a1[k], goMin(a2[k], x))
                    case "clamp_min": out[i].values[k] = goMax(x, a1[k])
                    case "clamp_max": out[i].values[k] = goMin(x, a1[k])
                    default:
                        let inv = 1.0 / a1[k]
                        out[i].values[k] = Foundation.floor(x * inv + 0.5) / inv
                    }
                }
            }
            return .vector(try mergeSameLabels(out, g))
        default:
            break
        }
        if let fn = Evaluator.dateFunctions[f.name] {
            return try evalDateFunction(f.name, fn, args, g)
        }
        if let fn = Evaluator.simpleFunctions[f.name] {
            let v = try evalVector(args[0], g)
            var out = v
            for i in out.indices {
                out[i].labels = out[i].labels.withoutMetricName
                for k in 0..<g.count where !out[i].values[k].isAbsent { out[i].values[k] = fn(out[i].values[k]) }
            }
            return .vector(try mergeSameLabels(out, g))
        }
        if f.argTypes.contains(.matrix) {
            return .vector(try evalRangeFunction(f, args, g))
        }
        throw QueryError.execution("function \"\(f.name)\" is not implemented")
    }

    static let simpleFunctions: [String: @Sendable (Double) -> Double] = [
        "abs": { Swift.abs($0) }, "ceil": { Foundation.ceil($0) }, "floor": { Foundation.floor($0) },
        "exp": { Foundation.exp($0) }, "ln": { Foundation.log($0) }, "log2": { Foundation.log2($0) },
        "log10": { Foundation.log10($0) }, "sqrt": { Foundation.sqrt($0) },
        "sgn": { $0 < 0 ? -1 : ($0 > 0 ? 1 : $0) },
        "acos": { Foundation.acos($0) }, "asin": { Foundation.asin($0) }, "atan": { Foundation.atan($0) },
        "cos": { Foundation.cos($0) }, "sin": { Foundation.sin($0) }, "tan": { Foundation.tan($0) },
        "cosh": { Foundation.cosh($0) }, "sinh": { Foundation.sinh($0) }, "tanh": { Foundation.tanh($0) },
        "acosh": { Foundation.acosh($0) }, "asinh": { Foundation.asinh($0) }, "atanh": { Foundation.atanh($0) },
        "deg": { $0 * 180 / Double.pi }, "rad": { $0 * Double.pi / 180 },
    ]

    /// Labels `absent()`/`absent_over_time()` report: the equality matchers of a selector argument.
    func labelsForAbsent(_ e: Expr) -> Labels {
        let matchers: [LabelMatcher]
        switch unwrapParens(e) {
        case .vectorSelector(let vs): matchers = vs.matchers
        case .matrixSelector(let vs, _): matchers = vs.matchers
        default: return .empty
        }
        var l = Labels.empty
        var empty: [String] = []
        var has = Set<String>()
        for m in matchers where m.name != Labels.metricNameLabel {
            if m.type == .equal && !has.contains(m.name) {
                l.set(m.name, m.value)
                has.insert(m.name)
            } else {
                empty.append(m.name)
            }
        }
        for n in empty { l.set(n, "") }
        return l
    }

    // MARK: range-vector functions

    mutating func evalRangeFunction(_ f: Function, _ args: [Expr], _ g: Grid) throws -> [VSeries] {
        let mi = f.argTypes.firstIndex(of: .matrix)!
        var scalarArgs: [Double] = []
        for (j, a) in args.enumerated() where j != mi { scalarArgs = try evalScalar(a, g) }
        let arg = try evalRangeArgument(args[mi], grid: g)
        if f.name == "absent_over_time" {
            var vals = [Double](repeating: 1, count: g.count)
            for s in arg.series {
                for k in 0..<g.count where !vals[k].isAbsent {
                    let (lo, hi) = window(s.ts, ref: arg.ref(g.t(k)), range: arg.range)
                    if hi > lo { vals[k] = absent }
                }
            }
            return [VSeries(labels: labelsForAbsent(args[mi]), values: vals)]
        }
        guard let fn = RangeFn(rawValue: f.name) else { throw QueryError.execution("function \"\(f.name)\" is not implemented") }
        let dropName = fn != .lastOverTime
        let job = RangeFunctionJob(fn: fn, grid: g, range: arg.range, offset: arg.offset, at: arg.at,
                                   scalar: scalarArgs, dropName: dropName)
        let series = arg.series
        var out: [VSeries] = []
        out.reserveCapacity(series.count)
        var produced = 0
        // Independent per series: big inputs are split over two threads (the caller's and one more).
        let parts = series.count >= 64 && series.count * g.count >= 100_000
            && ProcessInfo.processInfo.activeProcessorCount > 1 ? 2 : 1
        if parts == 1 {
            var resets: [Int32] = []
            for s in series {
                let (v, n) = job.run(s, resets: &resets)
                produced += n
                if let v { out.append(v) }
            }
        } else {
            let results = RangeFunctionParts(parts)
            DispatchQueue.concurrentPerform(iterations: parts) { p in
                let lo = series.count * p / parts, hi = series.count * (p + 1) / parts
                var resets: [Int32] = []
                var part: [VSeries] = []
                part.reserveCapacity(hi - lo)
                var n = 0
                for i in lo..<hi {
                    let (v, c) = job.run(series[i], resets: &resets)
                    n += c
                    if let v { part.append(v) }
                }
                results.set(p, part, n)
            }
            for p in 0..<parts {
                let (part, n) = results.get(p)
                out.append(contentsOf: part)
                produced += n
            }
        }
        try account(produced)
        // Distinct selected series that all carry the same metric name stay distinct without it.
        if case .matrixSelector = unwrapParens(args[mi]), !dropName || sameMetricName(arg.series) { return out }
        return try mergeSameLabels(out, g)
    }

    /// Whether every series has the same `__name__` (or none has one).
    func sameMetricName(_ series: [RawSeries]) -> Bool {
        guard let first = series.first else { return true }
        let name = first.labels.metricName
        for s in series.dropFirst() where s.labels.metricName != name { return false }
        return true
    }

    /// One function over samples [lo, hi) of a series. nil: no output at this step.
    /// `noResets`: the caller knows that no counter reset lies in the window (rate/increase only).
    static func rangeFunction(_ fn: RangeFn, _ ts: UnsafeBufferPointer<Int64>, _ vs: UnsafeBufferPointer<Double>, _ lo: Int, _ hi: Int,
                              rangeStart: Int64, rangeEnd: Int64, rangeSec: Double, scalar: Double, evalT: Int64,
                              noResets: Bool = false) -> Double? {
        let n = hi - lo
        switch fn {
        case .rate, .increase, .delta:
            return extrapolatedRate(ts, vs, lo, hi, rangeStart: rangeStart, rangeEnd: rangeEnd, rangeSec: rangeSec,
                                    isCounter: fn != .delta, isRate: fn == .rate, noResets: noResets)
        case .irate, .idelta:
            if n < 2 { return nil }
            let last = vs[hi - 1], prev = vs[hi - 2]
            var r = (fn == .irate && last < prev) ? last : last - prev
            let dt = ts[hi - 1] - ts[hi - 2]
            if dt == 0 { return nil }
            if fn == .irate { r /= Double(dt) / 1000 }
            return r
        case .deriv:
            if n < 2 { return nil }
            return linearRegression(ts, vs, lo, hi, interceptTime: ts[lo]).slope
        case .predictLinear:
            if n < 2 { return nil }
            let (slope, intercept) = linearRegression(ts, vs, lo, hi, interceptTime: evalT)
            return slope * scalar + intercept
        case .resets:
            var c = 0.0
            var prev = vs[lo]
            for i in (lo + 1)..<max(lo + 1, hi) {
                if vs[i] < prev { c += 1 }
                prev = vs[i]
            }
            return c
        case .changes:
            var c = 0.0
            var prev = vs[lo]
            for i in (lo + 1)..<max(lo + 1, hi) {
                let cur = vs[i]
                if cur != prev && !(cur.isNaN && prev.isNaN) { c += 1 }
                prev = cur
            }
            return c
        case .avgOverTime:
            var mean = 0.0, count = 0.0, c = 0.0
            for i in lo..<hi {
                let v = vs[i]
                count += 1
                if mean.isInfinite {
                    if v.isInfinite && (mean > 0) == (v > 0) { continue }
                    if !v.isInfinite && !v.isNaN { continue }
                }
                (mean, c) = kahanSumInc(v / count - mean / count, mean, c)
            }
            if mean.isInfinite { return mean }
            return mean + c
        case .sumOverTime:
            var sum = 0.0, c = 0.0
            for i in lo..<hi { (sum, c) = kahanSumInc(vs[i], sum, c) }
            if sum.isInfinite { return sum }
            return sum + c
        case .countOverTime: return Double(n)
        case .lastOverTime: return vs[hi - 1]
        case .presentOverTime: return 1
        case .maxOverTime:
            var m = vs[lo]
            for i in lo..<hi where vs[i] > m || m.isNaN { m = vs[i] }
            return m
        case .minOverTime:
            var m = vs[lo]
            for i in lo..<hi where vs[i] < m || m.isNaN { m = vs[i] }
            return m
        case .stddevOverTime, .stdvarOverTime:
            var count = 0.0, mean = 0.0, cMean = 0.0, aux = 0.0, cAux = 0.0
            for i in lo..<hi {
                let v = vs[i]
                count += 1
                let delta = v - (mean + cMean)
                (mean, cMean) = kahanSumInc(delta / count, mean, cMean)
                (aux, cAux) = kahanSumInc(delta * (v - (mean + cMean)), aux, cAux)
            }
            let variance = (aux + cAux) / count
            return fn == .stdvarOverTime ? variance : variance.squareRoot()
        case .quantileOverTime:
            return quantile(scalar, Array(vs[lo..<hi]))
        }
    }

    /// Prometheus 2.42 `extrapolatedRate`.
    static func extrapolatedRate(_ ts: UnsafeBufferPointer<Int64>, _ vs: UnsafeBufferPointer<Double>, _ lo: Int, _ hi: Int, rangeStart: Int64, rangeEnd: Int64,
                                 rangeSec: Double, isCounter: Bool, isRate: Bool, noResets: Bool = false) -> Double? {
        let n = hi - lo
        if n < 2 { return nil }
        let first = vs[lo], lastV = vs[hi - 1]
        var result = lastV - first
        if isCounter && !noResets {
            var prev = first
            for i in (lo + 1)..<hi {
                let cur = vs[i]
                if cur < prev { result += prev }
                prev = cur
            }
        }
        var durationToStart = Double(ts[lo] - rangeStart) / 1000
        let durationToEnd = Double(rangeEnd - ts[hi - 1]) / 1000
        let sampledInterval = Double(ts[hi - 1] - ts[lo]) / 1000
        let avgBetween = sampledInterval / Double(n - 1)
        if isCounter && result > 0 && first >= 0 {
            let durationToZero = sampledInterval * (first / result)
            if durationToZero < durationToStart { durationToStart = durationToZero }
        }
        let threshold = avgBetween * 1.1
        var extrapolateTo = sampledInterval
        extrapolateTo += durationToStart < threshold ? durationToStart : avgBetween / 2
        extrapolateTo += durationToEnd < threshold ? durationToEnd : avgBetween / 2
        var factor = extrapolateTo / sampledInterval
        if isRate { factor /= rangeSec }
        return result * factor
    }

    static func linearRegression(_ ts: UnsafeBufferPointer<Int64>, _ vs: UnsafeBufferPointer<Double>, _ lo: Int, _ hi: Int, interceptTime: Int64) -> (slope: Double, intercept: Double) {
        var n = 0.0
        var sumX = 0.0, cX = 0.0, sumY = 0.0, cY = 0.0, sumXY = 0.0, cXY = 0.0, sumX2 = 0.0, cX2 = 0.0
        let initY = vs[lo]
        var constY = true
        for i in lo..<hi {
            let v = vs[i]
            if constY && i > lo && v != initY { constY = false }
            n += 1
            let x = Double(ts[i] - interceptTime) / 1e3
            (sumX, cX) = kahanSumInc(x, sumX, cX)
            (sumY, cY) = kahanSumInc(v, sumY, cY)
            (sumXY, cXY) = kahanSumInc(x * v, sumXY, cXY)
            (sumX2, cX2) = kahanSumInc(x * x, sumX2, cX2)
        }
        if constY {
            if initY.isInfinite { return (.nan, .nan) }
            return (0, initY)
        }
        sumX += cX
        sumY += cY
        sumXY += cXY
        sumX2 += cX2
        let covXY = sumXY - sumX * sumY / n
        let varX = sumX2 - sumX * sumX / n
        let slope = covXY / varX
        let intercept = sumY / n - slope * sumX / n
        return (slope, intercept)
    }

    // MARK: label functions

    mutating func labelReplace(_ args: [Expr], _ g: Grid) throws -> [VSeries] {
        let v = try evalVector(args[0], g)
        let dst = try evalString(args[1]), repl = try evalString(args[2])
        let src = try evalString(args[3]), pattern = try evalString(args[4])
        let re: NSRegularExpression
        do {
            re = try NSRegularExpression(pattern: "^(?:" + pattern + ")$", options: [.dotMatchesLineSeparators])
        } catch {
            throw QueryError.execution("invalid regular expression in label_replace(): \(pattern)")
        }
        if !Labels.isValidLabelName(dst) {
            throw QueryError.execution("invalid destination label name in label_replace(): \(dst)")
        }
        var out: [VSeries] = []
        for s in v {
            let sv = s.labels[src] ?? ""
            let ns = sv as NSString
            var labels = s.labels
            if let m = re.firstMatch(in: sv, options: [], range: NSRange(location: 0, length: ns.length)) {
                let value = expandTemplate(repl, match: m, in: ns, regex: re)
                labels.set(dst, value)
            }
            out.append(VSeries(labels: labels, values: s.values))
        }
        return try mergeSameLabels(out, g)
    }

    /// Go regexp.Expand: `$1`, `${1}`, `$name`, `${name}`, `$$`.
    func expandTemplate(_ tpl: String, match m: NSTextCheckingResult, in ns: NSString, regex: NSRegularExpression) -> String {
        var out = ""
        let chars = Array(tpl.unicodeScalars)
        var i = 0
        func group(_ name: String) -> String {
            if let n = Int(name) {
                guard n < m.numberOfRanges else { return "" }
                let r = m.range(at: n)
                return r.location == NSNotFound ? "" : ns.substring(with: r)
            }
            let r = m.range(withName: name)
            return r.location == NSNotFound ? "" : ns.substring(with: r)
        }
        func isNameChar(_ c: Unicode.Scalar) -> Bool {
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c == "_"
        }
        while i < chars.count {
            let c = chars[i]
            if c != "$" || i + 1 >= chars.count {
                out.unicodeScalars.append(c)
                i += 1
                continue
            }
            let nx = chars[i + 1]
            if nx == "$" {
                out += "$"
                i += 2
                continue
            }
            if nx == "{" {
                var j = i + 2
                var name = ""
                while j < chars.count, isNameChar(chars[j]) { name.unicodeScalars.append(chars[j]); j += 1 }
                if j < chars.count, chars[j] == "}", !name.isEmpty {
                    out += group(name)
                    i = j + 1
                } else {
                    out += "$"
                    i += 1
                }
                continue
            }
            var j = i + 1
            var name = ""
            while j < chars.count, isNameChar(chars[j]) { name.unicodeScalars.append(chars[j]); j += 1 }
            if name.isEmpty {
                out += "$"
                i += 1
                continue
            }
            out += group(name)
            i = j
        }
        return out
    }

    mutating func labelJoin(_ args: [Expr], _ g: Grid) throws -> [VSeries] {
        let v = try evalVector(args[0], g)
        let dst = try evalString(args[1]), sep = try evalString(args[2])
        var srcs: [String] = []
        for a in args.dropFirst(3) {
            let s = try evalString(a)
            if !Labels.isValidLabelName(s) { throw QueryError.execution("invalid source label name in label_join(): \(s)") }
            srcs.append(s)
        }
        if !Labels.isValidLabelName(dst) { throw QueryError.execution("invalid destination label name in label_join(): \(dst)") }
        var out: [VSeries] = []
        for s in v {
            let value = srcs.map { s.labels[$0] ?? "" }.joined(separator: sep)
            out.append(VSeries(labels: s.labels.setting(dst, value), values: s.values))
        }
        return try mergeSameLabels(out, g)
    }

    // MARK: histogram_quantile

    mutating func histogramQuantile(_ args: [Expr], _ g: Grid) throws -> [VSeries] {
        let q = try evalScalar(args[0], g)
        let v = try evalVector(args[1], g)
        var groupIndex: [Labels: Int] = [:]
        var groups: [(labels: Labels, members: [(Int, Double)])] = []
        for (i, s) in v.enumerated() {
            guard let leStr = s.labels["le"], let le = parseGoFloat(leStr) else { continue }
            let key = s.labels.removing([Labels.metricNameLabel, "le"])
            if let gi = groupIndex[key] {
                groups[gi].members.append((i, le))
            } else {
                groupIndex[key] = groups.count
                groups.append((key, [(i, le)]))
            }
        }
        var out: [VSeries] = []
        for grp in groups {
            var vals = [Double](repeating: absent, count: g.count)
            var any = false
            for k in 0..<g.count {
                var buckets: [(ub: Double, count: Double)] = []
                for (i, le) in grp.members where !v[i].values[k].isAbsent { buckets.append((le, v[i].values[k])) }
                if buckets.isEmpty { continue }
                vals[k] = bucketQuantile(q[k], &buckets)
                any = true
            }
            if any { out.append(VSeries(labels: grp.labels, values: vals)) }
        }
        return out
    }
}

/// Range-vector functions evaluated by `rangeFunction` (absent_over_time is handled apart).
enum RangeFn: String {
    case rate, increase, delta, irate, idelta, deriv, resets, changes
    case predictLinear = "predict_linear", avgOverTime = "avg_over_time", sumOverTime = "sum_over_time"
    case countOverTime = "count_over_time", lastOverTime = "last_over_time", presentOverTime = "present_over_time"
    case maxOverTime = "max_over_time", minOverTime = "min_over_time", stddevOverTime = "stddev_over_time"
    case stdvarOverTime = "stdvar_over_time", quantileOverTime = "quantile_over_time"
}

/// Prometheus' `bucketQuantile` for classic buckets.
func bucketQuantile(_ q: Double, _ b: inout [(ub: Double, count: Double)]) -> Double {
    if q.isNaN { return .nan }
    if q < 0 { return -.infinity }
    if q > 1 { return .infinity }
    b.sort { $0.ub < $1.ub }
    guard let last = b.last, last.ub.isInfinite && last.ub > 0 else { return .nan }
    // coalesce equal bounds
    var c: [(ub: Double, count: Double)] = []
    for x in b {
        if let l = c.last, l.ub == x.ub { c[c.count - 1].count += x.count } else { c.append(x) }
    }
    // ensure monotonic
    var mx = -Double.infinity
    for i in c.indices {
        if c[i].count > mx { mx = c[i].count } else if c[i].count < mx { c[i].count = mx }
    }
    if c.count < 2 { return .nan }
    let observations = c[c.count - 1].count
    if observations == 0 { return .nan }
    var rank = q * observations
    // sort.Search(len-1, count >= rank)
    var bi = 0
    var hiIdx = c.count - 1
    while bi < hiIdx {
        let m = (bi + hiIdx) / 2
        if !(c[m].count >= rank) { bi = m + 1 } else { hiIdx = m }
    }
    if bi == c.count - 1 { return c[c.count - 2].ub }
    if bi == 0 && c[0].ub <= 0 { return c[0].ub }
    var bucketStart = 0.0
    let bucketEnd = c[bi].ub
    var count = c[bi].count
    if bi > 0 {
        bucketStart = c[bi - 1].ub
        count -= c[bi - 1].count
        rank -= c[bi - 1].count
    }
    return bucketStart + (bucketEnd - bucketStart) * (rank / count)
}

/// Prometheus' `quantile` (aggregation and quantile_over_time).
func quantile(_ q: Double, _ values: [Double]) -> Double {
    if values.isEmpty { return .nan }
    if q < 0 { return -.infinity }
    if q > 1 { return .infinity }
    let v = values.sorted { ($0.isNaN && !$1.isNaN) || $0 < $1 }
    let n = Double(v.count)
    let rank = q * (n - 1)
    let lower = Swift.max(0, Foundation.floor(rank))
    let upper = Swift.min(n - 1, lower + 1)
    let weight = rank - Foundation.floor(rank)
    return v[Int(lower)] * (1 - weight) + v[Int(upper)] * weight
}

/// Go's strconv.ParseFloat for the forms label values use (`0.5`, `+Inf`, `1e3`, `NaN`).
func parseGoFloat(_ s: String) -> Double? {
    switch s.lowercased() {
    case "+inf", "inf", "+infinity", "infinity": return .infinity
    case "-inf", "-infinity": return -.infinity
    case "nan": return .nan
    default:
        if s.isEmpty { return nil }
        if s.hasPrefix("0x") || s.hasPrefix("0X") { return UInt64(s.dropFirst(2), radix: 16).map { Double($0) } }
        return Double(s.replacingOccurrences(of: "_", with: ""))
    }
}

/// One range-vector function over the step grid, series by series (no shared mutable state, so
/// parts of a selection can run on different threads).
struct RangeFunctionJob: Sendable {
    let fn: RangeFn
    let grid: Grid
    let range: Int64
    let offset: Int64
    let at: Int64?
    let scalar: [Double]
    let dropName: Bool

    /// The function's values for `s` (nil: no step has one) and how many steps have one.
    /// `resets` is scratch space reused across calls.
    func run(_ s: RawSeries, resets resetsBefore: inout [Int32]) -> (VSeries?, Int) {
        let g = grid
        let rangeSec = Double(range) / 1000
        let counter = fn == .rate || fn == .increase
        var vals = [Double](repeating: absent, count: g.count)
        var produced = 0
        var lo = 0, hi = 0
        let extrapolated = fn == .rate || fn == .increase || fn == .delta
        vals.withUnsafeMutableBufferPointer { out in
        s.ts.withUnsafeBufferPointer { ts in
            s.vs.withUnsafeBufferPointer { vs in
                // Counter resets up to each sample (prefix counts), so that a window without one is
                // extrapolated from its ends alone; filled only for series that have a reset at all.
                var hasResets = false
                if counter {
                    resetsBefore.removeAll(keepingCapacity: true)
                    var c: Int32 = 0
                    for i in 0..<vs.count {
                        if i > 0 && vs[i] < vs[i - 1] { c += 1 }
                        if c > 0 && !hasResets {
                            hasResets = true
                            resetsBefore.append(contentsOf: repeatElement(0, count: i))
                        }
                        if hasResets { resetsBefore.append(c) }
                    }
                }
                for k in 0..<g.count {
                    let t = g.t(k)
                    let ref = (at ?? t) - offset
                    let mint = ref - range
                    // ref never decreases along the grid, so both window ends only move forward
                    while lo < ts.count && ts[lo] < mint { lo += 1 }
                    if hi < lo { hi = lo }
                    while hi < ts.count && ts[hi] <= ref { hi += 1 }
                    if hi == lo { continue }
                    let noResets = counter && (!hasResets || resetsBefore[hi - 1] == resetsBefore[lo])
                    let value: Double?
                    if extrapolated {
                        value = Evaluator.extrapolatedRate(ts, vs, lo, hi, rangeStart: mint, rangeEnd: ref, rangeSec: rangeSec,
                                                           isCounter: counter, isRate: fn == .rate, noResets: noResets)
                    } else {
                        value = Evaluator.rangeFunction(fn, ts, vs, lo, hi, rangeStart: mint, rangeEnd: ref, rangeSec: rangeSec,
                                                        scalar: scalar.isEmpty ? 0 : scalar[k], evalT: at != nil ? g.start : t,
                                                        noResets: noResets)
                    }
                    if let value {
                        out[k] = value
                        produced += 1
                    }
                }
            }
        }
        }
        if produced == 0 { return (nil, 0) }
        return (VSeries(labels: dropName ? s.labels.withoutMetricName : s.labels, values: vals), produced)
    }
}

/// Per-thread results of a split range-function evaluation.
final class RangeFunctionParts: @unchecked Sendable {
    private let lock = NSLock()
    private var parts: [([VSeries], Int)]

    init(_ n: Int) { parts = Array(repeating: ([], 0), count: n) }

    func set(_ p: Int, _ v: [VSeries], _ n: Int) { lock.withLock { parts[p] = (v, n) } }
    func get(_ p: Int) -> ([VSeries], Int) { lock.withLock { parts[p] } }
}
