import Foundation
import VigilCore

/// Prometheus' vectorElemBinop: the value, and for comparisons whether the element is kept.
@inline(__always)
func elemBinop(_ op: BinaryOp, _ l: Double, _ r: Double) -> (Double, Bool) {
    switch op {
    case .add: return (l + r, true)
    case .sub: return (l - r, true)
    case .mul: return (l * r, true)
    case .div: return (l / r, true)
    case .pow: return (Foundation.pow(l, r), true)
    case .mod: return (Foundation.fmod(l, r), true)
    case .atan2: return (Foundation.atan2(l, r), true)
    case .eql: return (l, l == r)
    case .neq: return (l, l != r)
    case .gtr: return (l, l > r)
    case .lss: return (l, l < r)
    case .gte: return (l, l >= r)
    case .lte: return (l, l <= r)
    case .and, .or, .unless: return (l, true)
    }
}

/// Operators after which Prometheus 2.42 drops `__name__` (note: not atan2).
func dropsMetricName(_ op: BinaryOp) -> Bool {
    switch op {
    case .add, .sub, .mul, .div, .pow, .mod: return true
    default: return false
    }
}

extension Evaluator {
    mutating func evalBinary(_ op: BinaryOp, _ le: Expr, _ re: Expr, _ mods: BinaryModifiers, _ g: Grid) throws -> EvalValue {
        let lv = try eval(le, g)
        let rv = try eval(re, g)
        switch (lv, rv) {
        case (.scalar(let l), .scalar(let r)):
            var out = [Double](repeating: 0, count: g.count)
            for k in 0..<g.count {
                let (v, keep) = elemBinop(op, l[k], r[k])
                out[k] = op.isComparison ? (keep ? 1 : 0) : v
            }
            return .scalar(out)
        case (.vector(let l), .scalar(let r)):
            return .vector(try vectorScalar(op, l, r, swap: false, mods.returnBool, g))
        case (.scalar(let l), .vector(let r)):
            return .vector(try vectorScalar(op, r, l, swap: true, mods.returnBool, g))
        case (.vector(let l), .vector(let r)):
            let m = mods.matching ?? VectorMatching()
            switch op {
            case .and, .unless: return .vector(andUnless(op == .and, l, r, m, g))
            case .or: return .vector(try orOp(l, r, m, g))
            default: return .vector(try vectorVector(op, l, r, m, mods.returnBool, g))
            }
        default:
            throw QueryError.execution("binary expression on strings")
        }
    }

    func vectorScalar(_ op: BinaryOp, _ vec: [VSeries], _ s: [Double], swap: Bool, _ returnBool: Bool, _ g: Grid) throws -> [VSeries] {
        var out: [VSeries] = []
        out.reserveCapacity(vec.count)
        let drop = dropsMetricName(op) || returnBool
        for series in vec {
            var vals = [Double](repeating: absent, count: g.count)
            var any = false
            for k in 0..<g.count {
                let x = series.values[k]
                if x.isAbsent { continue }
                var (l, r) = (x, s[k])
                if swap { (l, r) = (r, l) }
                var (v, keep) = elemBinop(op, l, r)
                if op.isComparison && swap { v = r }
                if returnBool {
                    v = keep ? 1 : 0
                    keep = true
                }
                if keep {
                    vals[k] = v
                    any = true
                }
            }
            if any { out.append(VSeries(labels: drop ? series.labels.withoutMetricName : series.labels, values: vals)) }
        }
        return drop ? try mergeSameLabels(out, g) : out
    }

    /// Matching signature of each series: index into a table of distinct signatures.
    func signatures(_ vec: [VSeries], _ m: VectorMatching, _ table: inout [Labels: Int]) -> [Int] {
        var names = Set(m.matchingLabels)
        if !m.on { names.insert(Labels.metricNameLabel) }
        return vec.map { s in
            let key = m.on ? s.labels.keeping(names) : s.labels.removing(names)
            if let i = table[key] { return i }
            let i = table.count
            table[key] = i
            return i
        }
    }

    func andUnless(_ isAnd: Bool, _ l: [VSeries], _ r: [VSeries], _ m: VectorMatching, _ g: Grid) -> [VSeries] {
        var table: [Labels: Int] = [:]
        let ls = signatures(l, m, &table)
        let rs = signatures(r, m, &table)
        var present = [Bool](repeating: false, count: table.count)
        var out = l
        for k in 0..<g.count {
            for i in present.indices { present[i] = false }
            for (j, s) in r.enumerated() where !s.values[k].isAbsent { present[rs[j]] = true }
            for i in out.indices where !out[i].values[k].isAbsent {
                if present[ls[i]] != isAnd { out[i].values[k] = absent }
            }
        }
        return out.filter { $0.values.contains { !$0.isAbsent } }
    }

    func orOp(_ l: [VSeries], _ r: [VSeries], _ m: VectorMatching, _ g: Grid) throws -> [VSeries] {
        var table: [Labels: Int] = [:]
        let ls = signatures(l, m, &table)
        let rs = signatures(r, m, &table)
        var present = [Bool](repeating: false, count: table.count)
        var right = r
        for k in 0..<g.count {
            for i in present.indices { present[i] = false }
            for (i, s) in l.enumerated() where !s.values[k].isAbsent { present[ls[i]] = true }
            for j in right.indices where !right[j].values[k].isAbsent {
                if present[rs[j]] { right[j].values[k] = absent }
            }
        }
        return try mergeSameLabels(l + right.filter { $0.values.contains { !$0.isAbsent } }, g)
    }

    func vectorVector(_ op: BinaryOp, _ l0: [VSeries], _ r0: [VSeries], _ m: VectorMatching, _ returnBool: Bool, _ g: Grid) throws -> [VSeries] {
        let swapped = m.card == .oneToMany
        let (lhs, rhs) = swapped ? (r0, l0) : (l0, r0)
        var table: [Labels: Int] = [:]
        let lsig = signatures(lhs, m, &table)
        let rsig = signatures(rhs, m, &table)
        var rightAt = [Int](repeating: -1, count: table.count)
        var matched = [Int](repeating: -1, count: table.count) // step stamp for one-to-one
        var inserted: [Int: Set<Labels>] = [:]
        var outIndex: [Labels: Int] = [:]
        var pairLabels: [Int: Labels] = [:]  // (l * rhs.count + r) -> result labels
        var out: [VSeries] = []
        let dropName = dropsMetricName(op) || returnBool
        for k in 0..<g.count {
            for i in rightAt.indices { rightAt[i] = -1 }
            for (j, s) in rhs.enumerated() where !s.values[k].isAbsent {
                let sig = rsig[j]
                if rightAt[sig] >= 0 {
                    let oneSide = swapped ? "left" : "right"
                    let a = s.labels, b = rhs[rightAt[sig]].labels
                    let matchedLabels = m.on ? a.keeping(Set(m.matchingLabels)) : a.removing(Set(m.matchingLabels).union([Labels.metricNameLabel]))
                    throw QueryError.execution("found duplicate series for the match group \(matchedLabels) on the \(oneSide) hand-side of the operation: [\(a), \(b)];many-to-many matching not allowed: matching labels must be unique on one side")
                }
                rightAt[sig] = j
            }
            if m.card != .oneToOne { inserted.removeAll(keepingCapacity: true) }
            for (i, s) in lhs.enumerated() {
                let x = s.values[k]
                if x.isAbsent { continue }
                let sig = lsig[i]
                let j = rightAt[sig]
                if j < 0 { continue }
                var (vl, vr) = (x, rhs[j].values[k])
                if swapped { (vl, vr) = (vr, vl) }
                var (v, keep) = elemBinop(op, vl, vr)
                if returnBool {
                    v = keep ? 1 : 0
                } else if !keep { continue }
                let pk = i &* rhs.count &+ j
                let labels: Labels
                if let c = pairLabels[pk] { labels = c } else {
                    labels = resultLabels(s.labels, rhs[j].labels, m, dropName)
                    pairLabels[pk] = labels
                }
                if m.card == .oneToOne {
                    if matched[sig] == k {
                        throw QueryError.execution("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)")
                    }
                    matched[sig] = k
                } else {
                    if inserted[sig, default: []].contains(labels) {
                        throw QueryError.execution("multiple matches for labels: grouping labels must ensure unique results")
                    }
                    inserted[sig, default: []].insert(labels)
                }
                let oi: Int
                if let e = outIndex[labels] { oi = e } else {
                    oi = out.count
                    outIndex[labels] = oi
                    out.append(VSeries(labels: labels, values: [Double](repeating: absent, count: g.count)))
                }
                if !out[oi].values[k].isAbsent {
                    throw QueryError.execution("vector cannot contain metrics with the same labelset")
                }
                out[oi].values[k] = v
            }
        }
        return out
    }

    func resultLabels(_ l: Labels, _ r: Labels, _ m: VectorMatching, _ dropName: Bool) -> Labels {
        var out = l
        if dropName { out = out.withoutMetricName }
        if m.card == .oneToOne {
            if m.on { out = out.keeping(Set(m.matchingLabels)) } else { out = out.removing(Set(m.matchingLabels)) }
        }
        for name in m.include {
            out.set(name, r[name] ?? "")
        }
        return out
    }
}
