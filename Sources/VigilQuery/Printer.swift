import VigilCore

/// Prints an expression back as PromQL, the way Prometheus' `String()` does (used by /api/v1/format_query).
extension Expr: CustomStringConvertible {
    public var description: String { Printer.print(self) }
}

enum Printer {
    static func print(_ e: Expr) -> String {
        switch e {
        case .number(let v): return GoFormat.formatV(v)
        case .string(let s): return GoFormat.quote(s)
        case .vectorSelector(let vs): return selector(vs) + modifiers(vs.offset, vs.at)
        case .matrixSelector(let vs, let r):
            return selector(vs) + "[" + DurationParser.format(r) + "]" + modifiers(vs.offset, vs.at)
        case .subquery(let s):
            let step = s.step == 0 ? "" : DurationParser.format(s.step)
            return print(s.expr) + "[" + DurationParser.format(s.range) + ":" + step + "]" + modifiers(s.offset, s.at)
        case .call(let f, let args):
            return f.name + "(" + args.map(print).joined(separator: ", ") + ")"
        case .aggregate(let a):
            var s = a.op.rawValue
            if a.without {
                s += " without (" + a.grouping.joined(separator: ", ") + ") "
            } else if !a.grouping.isEmpty {
                s += " by (" + a.grouping.joined(separator: ", ") + ") "
            }
            s += "("
            if let p = a.param { s += print(p) + ", " }
            return s + print(a.expr) + ")"
        case .binary(let op, let l, let r, let mods):
            var m = ""
            if mods.returnBool { m += " bool" }
            if let vm = mods.matching, vm.on || !vm.matchingLabels.isEmpty {
                m += " " + (vm.on ? "on" : "ignoring") + " (" + vm.matchingLabels.joined(separator: ", ") + ")"
                if vm.card == .manyToOne || vm.card == .oneToMany {
                    m += " group_" + (vm.card == .manyToOne ? "left" : "right") + " (" + vm.include.joined(separator: ", ") + ")"
                }
            }
            // A right-hand side that starts with a modifier keyword (a metric named `bool`, `on`, …, under a unary
            // plus that printing drops) would be read back as the modifier: parenthesise it.
            var rhs = print(r)
            if startsWithModifierKeyword(rhs) { rhs = "(" + rhs + ")" }
            return print(l) + " " + op.rawValue + m + " " + rhs
        case .unaryMinus(let e): return "-" + print(e)
        case .paren(let e): return "(" + print(e) + ")"
        }
    }

    static let modifierKeywords: Set<String> = ["bool", "on", "ignoring", "group_left", "group_right"]

    static func startsWithModifierKeyword(_ s: String) -> Bool {
        let word = s.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
        return modifierKeywords.contains(word.lowercased())
    }

    static func selector(_ vs: VectorSelector) -> String {
        let rest = vs.matchers.filter { !($0.name == Labels.metricNameLabel && vs.name != nil && $0.type == .equal && $0.value == vs.name) }
        var s = vs.name ?? ""
        if !rest.isEmpty || vs.name == nil {
            s += "{" + rest.map { "\($0.name)\($0.type.rawValue)\(GoFormat.quote($0.value))" }.joined(separator: ", ") + "}"
        }
        return s
    }

    static func modifiers(_ offset: Int64, _ at: AtModifier?) -> String {
        var s = ""
        if let at {
            switch at {
            case .start: s += " @ start()"
            case .end: s += " @ end()"
            case .timestamp(let ms):
                let v = Double(ms) / 1000
                s += " @ " + formatFixed3(v)
            }
        }
        if offset > 0 { s += " offset " + DurationParser.format(offset) }
        if offset < 0 { s += " offset -" + DurationParser.format(-offset) }
        return s
    }

    static func formatFixed3(_ v: Double) -> String {
        let ms = Int64((v * 1000).rounded())
        let neg = ms < 0
        let a = abs(ms)
        let frac = a % 1000
        return (neg ? "-" : "") + String(a / 1000) + "." + String(repeating: "0", count: 3 - String(frac).count) + String(frac)
    }
}
