/// Prometheus-style durations: `1h30m`, `15d`, `500ms`, `2w`, `1y`.
public enum DurationParser {
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let input: String
        public var description: String { "invalid duration \"\(input)\" (expected e.g. 30s, 5m, 1h30m, 15d)" }
    }

    /// Parses into milliseconds.
    public static func milliseconds(_ s: String) throws(ParseError) -> Int64 {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000),
                                        ("d", 86_400_000), ("w", 604_800_000), ("y", 31_536_000_000)]
        var total: Int64 = 0
        var rest = Substring(s)
        if rest.isEmpty { throw ParseError(input: s) }
        var lastUnitIndex = -1
        while !rest.isEmpty {
            let digits = rest.prefix(while: { $0.isASCII && $0.isNumber })
            guard !digits.isEmpty, let n = Int64(digits) else { throw ParseError(input: s) }
            rest = rest.dropFirst(digits.count)
            // longest unit first so "ms" wins over "m"
            guard let (i, u) = units.enumerated().filter({ rest.hasPrefix($0.element.0) })
                .max(by: { $0.element.0.count < $1.element.0.count }).map({ ($0.offset, $0.element) })
            else { throw ParseError(input: s) }
            // Units must go from largest to smallest, each at most once (as in Prometheus).
            let order = [6, 5, 4, 3, 2, 1, 0][i]
            if lastUnitIndex >= 0 && order <= lastUnitIndex { throw ParseError(input: s) }
            lastUnitIndex = order
            rest = rest.dropFirst(u.0.count)
            let (m, o1) = n.multipliedReportingOverflow(by: u.1)
            let (t, o2) = total.addingReportingOverflow(m)
            if o1 || o2 { throw ParseError(input: s) }
            total = t
        }
        return total
    }

    /// Formats milliseconds the way Prometheus prints durations (`1h30m`, `5m`, `0s`).
    public static func format(_ ms: Int64) -> String {
        if ms == 0 { return "0s" }
        var r = ms
        var out = ""
        let units: [(String, Int64)] = [("y", 31_536_000_000), ("w", 604_800_000), ("d", 86_400_000),
                                        ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)]
        if r < 0 { out = "-"; r = -r }
        for (name, size) in units where r >= size {
            out += "\(r / size)\(name)"
            r %= size
        }
        return out
    }
}
