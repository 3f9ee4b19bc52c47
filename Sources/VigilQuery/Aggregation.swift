import Foundation
import VigilCore

extension Evaluator {
    func groupingKey(_ l: Labels, _ a: Aggregate) -> Labels {
        GroupingKey(a)(l)
    }

    mutating func evalAggregate(_ a: Aggregate, _ g: Grid) throws -> [VSeries] {
        var param: [Double] = []
        var valueLabel = ""
        if let p = a.param {
            if a.op == .countValues {
                valueLabel = try evalString(p)
                if !Labels.isValidLabelName(valueLabel) {
                    throw QueryError.execution("invalid label name \"\(valueLabel)\"")
                }
            } else {
                param = try evalScalar(p, g)
            }
        }
        let input = try evalVector(a.expr, g)
        switch a.op {
        case .topk, .bottomk: return try topBottomK(a, input, param, g)
        case .countValues: return countValues(a, input, valueLabel, g)
        default: break
        }
        // group assignment, once per series
        var gi: [Labels: Int] = [:]
        var keys: [Labels] = []
        var groupOf = [Int](repeating: 0, count: input.count)
        let key = GroupingKey(a)
        for (i, s) in input.enumerated() {
            let k = key(s.labels)
            if let idx = gi[k] { groupOf[i] = idx } else {
                gi[k] = keys.count
                groupOf[i] = keys.count
                keys.append(k)
            }
        }
        let ng = keys.count, n = g.count
        var value = [Double](repeating: 0, count: ng * n)
        var mean = [Double](repeating: 0, count: ng * n)
        var count = [Double](repeating: 0, count: ng * n)
        var members: [[Double]] = a.op == .quantile ? Array(repeating: [], count: ng * n) : []
        for (i, s) in input.enumerated() {
            let base = groupOf[i] * n
            for k in 0..<n {
                let v = s.values[k]
                if v.isAbsent { continue }
                let idx = base + k
                let first = count[idx] == 0
                count[idx] += 1
                switch a.op {
                case .sum: value[idx] = first ? v : value[idx] + v
                case .avg:
                    if first { mean[idx] = v; continue }
                    let c = count[idx]
                    let m = mean[idx]
                    if m.isInfinite {
                        if v.isInfinite && (m > 0) == (v > 0) { continue }
                        if !v.isInfinite && !v.isNaN { continue }
                    }
                    mean[idx] = m + v / c - m / c
                case .max:
                    if first || value[idx] < v || value[idx].isNaN { value[idx] = v }
                case .min:
                    if first || value[idx] > v || value[idx].isNaN { value[idx] = v }
                case .stddev, .stdvar:
                    if first { mean[idx] = v; value[idx] = 0; continue }
                    let c = count[idx]
                    let delta = v - mean[idx]
                    mean[idx] += delta / c
                    value[idx] += delta * (v - mean[idx])
                case .quantile: members[idx].append(v)
                case .count, .group: break
                case .topk, .bottomk, .countValues: break
                }
            }
        }
        var out: [VSeries] = []
        out.reserveCapacity(ng)
        for gidx in 0..<ng {
            var vals = [Double](repeating: absent, count: n)
            for k in 0..<n {
                let idx = gidx * n + k
                let c = count[idx]
                if c == 0 { continue }
                switch a.op {
                case .sum, .max, .min: vals[k] = value[idx]
                case .avg: vals[k] = mean[idx]
                case .count: vals[k] = c
                case .group: vals[k] = 1
                case .stdvar: vals[k] = value[idx] / c
                case .stddev: vals[k] = (value[idx] / c).squareRoot()
                case .quantile: vals[k] = quantile(param[k], members[idx])
                case .topk, .bottomk, .countValues: break
                }
            }
            out.append(VSeries(labels: keys[gidx], values: vals))
        }
        return out
    }

    private func countValues(_ a: Aggregate, _ input: [VSeries], _ label: String, _ g: Grid) -> [VSeries] {
        var index: [Labels: Int] = [:]
        var out: [VSeries] = []
        var byValue: [Labels: [String: Labels]] = [:]  // cache of key labels per series and value string
        for s in input {
            for k in 0..<g.count where !s.values[k].isAbsent {
                let vs = GoFormat.formatF(s.values[k])
                let key: Labels
                if let c = byValue[s.labels]?[vs] { key = c } else {
                    let l = s.labels.setting(label, vs)
                    var ga = a
                    if !a.without { ga.grouping.append(label) }
                    key = groupingKey(l, ga)
                    byValue[s.labels, default: [:]][vs] = key
                }
                let i: Int
                if let j = index[key] { i = j } else {
                    i = out.count
                    index[key] = i
                    out.append(VSeries(labels: key, values: [Double](repeating: absent, count: g.count)))
                }
                out[i].values[k] = out[i].values[k].isAbsent ? 1 : out[i].values[k] + 1
            }
        }
        return out
    }

    /// topk/bottomk with Go's container/heap, so ties pick the same series as Prometheus.
    private func topBottomK(_ a: Aggregate, _ input: [VSeries], _ param: [Double], _ g: Grid) throws -> [VSeries] {
        var gi: [Labels: Int] = [:]
        var groupOf = [Int](repeating: 0, count: input.count)
        let key = GroupingKey(a)
        for (i, s) in input.enumerated() {
            let k = key(s.labels)
            if let idx = gi[k] { groupOf[i] = idx } else {
                groupOf[i] = gi.count
                gi[k] = gi.count
            }
        }
        let top = a.op == .topk
        var outVals = input.map { _ in [Double](repeating: absent, count: g.count) }
        var selected = [Bool](repeating: false, count: input.count)
        for k in 0..<g.count {
            let f = param[k]
            guard f.isFinite || f.isNaN, f.isNaN || (f >= -9.2e18 && f <= 9.2e18) else {
                throw QueryError.execution("Scalar value \(GoFormat.formatV(f)) overflows int64")
            }
            let kk = f.isNaN ? Int64.min : Int64(f)
            if kk < 1 { continue }
            var heaps: [Int: [(v: Double, i: Int)]] = [:]
            for (i, s) in input.enumerated() {
                let v = s.values[k]
                if v.isAbsent { continue }
                let grp = groupOf[i]
                var h = heaps[grp] ?? []
                if h.isEmpty {
                    h.append((v, i))
                } else if Int64(h.count) < kk {
                    h.append((v, i))
                    heapUp(&h, h.count - 1, top)
                } else if top ? (h[0].v < v || (h[0].v.isNaN && !v.isNaN)) : (h[0].v > v || (h[0].v.isNaN && !v.isNaN)) {
                    h[0] = (v, i)
                    if kk > 1 { heapFix(&h, 0, top) }
                }
                heaps[grp] = h
            }
            for (_, h) in heaps {
                for e in h {
                    outVals[e.i][k] = e.v
                    selected[e.i] = true
                }
            }
        }
        var out: [VSeries] = []
        for i in input.indices where selected[i] { out.append(VSeries(labels: input[i].labels, values: outVals[i])) }
        return out
    }
}

// Go container/heap, with Prometheus' vectorByValueHeap (top) / vectorByReverseValueHeap (bottom) ordering.
@inline(__always) private func heapLess(_ h: [(v: Double, i: Int)], _ a: Int, _ b: Int, _ top: Bool) -> Bool {
    if h[a].v.isNaN { return true }
    return top ? h[a].v < h[b].v : h[a].v > h[b].v
}

private func heapUp(_ h: inout [(v: Double, i: Int)], _ j0: Int, _ top: Bool) {
    var j = j0
    while true {
        let i = (j - 1) / 2
        if i == j || !heapLess(h, j, i, top) { break }
        h.swapAt(i, j)
        j = i
    }
}

private func heapDown(_ h: inout [(v: Double, i: Int)], _ i0: Int, _ n: Int, _ top: Bool) -> Bool {
    var i = i0
    while true {
        let j1 = 2 * i + 1
        if j1 >= n || j1 < 0 { break }
        var j = j1
        let j2 = j1 + 1
        if j2 < n && heapLess(h, j2, j1, top) { j = j2 }
        if !heapLess(h, j, i, top) { break }
        h.swapAt(i, j)
        i = j
    }
    return i > i0
}

private func heapFix(_ h: inout [(v: Double, i: Int)], _ i: Int, _ top: Bool) {
    if !heapDown(&h, i, h.count, top) { heapUp(&h, i, top) }
}

/// The labels an aggregation groups by (`by`) or the labels it keeps (`without`, plus dropping
/// `__name__`), with the name list prepared once per aggregation instead of once per series.
struct GroupingKey {
    let names: [String]
    let without: Bool

    init(_ a: Aggregate) {
        without = a.without
        names = a.without ? a.grouping + [Labels.metricNameLabel] : a.grouping
    }

    func callAsFunction(_ l: Labels) -> Labels {
        var kept: [Label] = []
        kept.reserveCapacity(without ? l.count : names.count)
        for p in l where names.contains(p.name) != without { kept.append(p) }
        return Labels(sorted: kept)
    }
}
