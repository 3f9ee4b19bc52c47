/// The one parser of PromQL series selectors (`name`, `{a="b"}`, `name{a="b", c=~"d", e!="f"}`) and of
/// PromQL string literals. Used by the PromQL parser (VigilQuery) for every selector's `{…}` and every string,
/// by the HTTP `match[]` parameters, by `vigil tsdb dump --match` and by the online forecaster's `watch`
/// selectors, so all of them accept the same syntax and escapes (Prometheus 2.42's).
///
/// Works on UTF-8 bytes; every error carries the byte offset at fault. Never crashes and never recurses.
public enum SelectorParser {
    public struct ParseError: Error, CustomStringConvertible, Sendable, Equatable {
        public let input: String
        /// Byte offset (0-based) of the fault.
        public let position: Int
        public let reason: String
        public init(input: String, position: Int, reason: String) {
            self.input = input
            self.position = position
            self.reason = reason
        }
        public var description: String { "cannot parse selector \(input) at character \(position + 1): \(reason)" }
    }

    /// A whole selector: optional metric name, optional `{matchers}`, nothing else. At least one matcher
    /// must not match the empty string (as Prometheus requires).
    public static func parse(_ input: String) throws(ParseError) -> [LabelMatcher] {
        let b = Array(input.utf8)
        func fail(_ p: Int, _ why: String) -> ParseError { ParseError(input: input, position: p, reason: why) }
        var i = skipSpace(b, 0)
        var matchers: [LabelMatcher] = []
        var metric: String?
        if i < b.count, isNameStart(b[i]) || b[i] == UInt8(ascii: ":") {
            let s = i
            while i < b.count, isNameChar(b[i]) || b[i] == UInt8(ascii: ":") { i += 1 }
            let name = String(decoding: b[s..<i], as: UTF8.self)
            metric = name
            matchers.append(.equal(Labels.metricNameLabel, name))
        }
        i = skipSpace(b, i)
        if i < b.count, b[i] == UInt8(ascii: "{") {
            let (ms, end) = try matcherList(b, from: i, metricName: metric, input: input)
            matchers += ms
            i = skipSpace(b, end)
        }
        if i != b.count { throw fail(i, metric == nil && matchers.isEmpty ? "expected a metric name or {" : "unexpected trailing input") }
        if !matchers.contains(where: { !$0.matchesEmpty }) {
            throw fail(0, "vector selector must contain at least one non-empty matcher")
        }
        return matchers
    }

    /// Parses `{ name op "value", … }` starting at `b[start] == '{'`. Returns the matchers and the offset just
    /// after the closing `}`. With `metricName`, a `__name__` matcher is refused (the name must not be set twice).
    public static func matcherList(_ b: [UInt8], from start: Int, metricName: String?,
                                   input: @autoclosure () -> String) throws(ParseError) -> ([LabelMatcher], Int) {
        func fail(_ p: Int, _ why: String) -> ParseError { ParseError(input: input(), position: p, reason: why) }
        var i = start + 1
        var out: [LabelMatcher] = []
        while true {
            i = skipSpace(b, i)
            if i < b.count, b[i] == UInt8(ascii: "}") { return (out, i + 1) }
            guard i < b.count, isNameStart(b[i]) else { throw fail(i, "unexpected \(describe(b, i)) in label matching, expected label") }
            let ns = i
            while i < b.count, isNameChar(b[i]) { i += 1 }
            let name = String(decoding: b[ns..<i], as: UTF8.self)
            i = skipSpace(b, i)
            let type: LabelMatcher.MatchType
            if i + 1 < b.count, b[i] == UInt8(ascii: "="), b[i + 1] == UInt8(ascii: "~") { type = .regexMatch; i += 2 }
            else if i + 1 < b.count, b[i] == UInt8(ascii: "!"), b[i + 1] == UInt8(ascii: "=") { type = .notEqual; i += 2 }
            else if i + 1 < b.count, b[i] == UInt8(ascii: "!"), b[i + 1] == UInt8(ascii: "~") { type = .regexNoMatch; i += 2 }
            else if i < b.count, b[i] == UInt8(ascii: "="), !(i + 1 < b.count && b[i + 1] == UInt8(ascii: "=")) { type = .equal; i += 1 }
            else {
                throw fail(i, "unexpected \(describe(b, i)) in label matching, expected one of \"=\", \"!=\", \"=~\", \"!~\"")
            }
            i = skipSpace(b, i)
            guard i < b.count, isQuote(b[i]) else { throw fail(i, "unexpected \(describe(b, i)) in label matching, expected string") }
            let vs = i
            let (value, end) = try string(b, at: i, input: input())
            i = end
            if name == Labels.metricNameLabel, let metricName {
                throw fail(ns, "metric name must not be set twice: \"\(metricName)\" or \"\(value)\"")
            }
            do { out.append(try LabelMatcher(type, name, value)) } catch { throw fail(vs, error.description) }
            i = skipSpace(b, i)
            if i < b.count, b[i] == UInt8(ascii: ",") { i += 1; continue }
            if i < b.count, b[i] == UInt8(ascii: "}") { return (out, i + 1) }
            throw fail(i, "unexpected \(describe(b, i)) in label matching, expected \",\" or \"}\"")
        }
    }

    /// A PromQL string literal at `b[start]` (`"…"`, `'…'` with Go escapes, or a raw `` `…` ``). Returns the
    /// unquoted value and the offset after the closing quote.
    public static func string(_ b: [UInt8], at start: Int, input: @autoclosure () -> String) throws(ParseError) -> (String, Int) {
        func fail(_ p: Int, _ why: String) -> ParseError { ParseError(input: input(), position: p, reason: why) }
        let quote = b[start]
        var pos = start + 1
        if quote == UInt8(ascii: "`") {
            while pos < b.count, b[pos] != quote { pos += 1 }
            guard pos < b.count else { throw fail(start, "unterminated raw string") }
            return (String(decoding: b[(start + 1)..<pos], as: UTF8.self), pos + 1)
        }
        var out: [UInt8] = []
        while true {
            guard pos < b.count, b[pos] != 0x0A else { throw fail(start, "unterminated quoted string") }
            let c = b[pos]
            pos += 1
            if c == quote { break }
            if c != UInt8(ascii: "\\") { out.append(c); continue }
            guard pos < b.count else { throw fail(start, "unterminated quoted string") }
            let e = b[pos]
            pos += 1
            switch e {
            case UInt8(ascii: "a"): out.append(0x07)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "v"): out.append(0x0B)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                guard e == quote else { throw fail(pos - 2, "unknown escape sequence") }
                out.append(e)
            case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
                let n = e == UInt8(ascii: "x") ? 2 : (e == UInt8(ascii: "u") ? 4 : 8)
                guard pos + n <= b.count,
                      let v = UInt32(String(decoding: b[pos..<(pos + n)], as: UTF8.self), radix: 16) else {
                    throw fail(pos - 2, "invalid escape sequence")
                }
                pos += n
                if e == UInt8(ascii: "x") { out.append(UInt8(v)) } else {
                    guard let s = UnicodeScalar(v) else { throw fail(pos - n - 2, "invalid unicode code point in escape sequence") }
                    out.append(contentsOf: Array(String(Character(s)).utf8))
                }
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                guard pos + 2 <= b.count,
                      let v = UInt32(String(decoding: b[(pos - 1)..<(pos + 2)], as: UTF8.self), radix: 8), v < 256 else {
                    throw fail(pos - 2, "invalid escape sequence")
                }
                pos += 2
                out.append(UInt8(v))
            default:
                throw fail(pos - 2, "unknown escape sequence")
            }
        }
        return (String(decoding: out, as: UTF8.self), pos)
    }

    // MARK: bytes

    @inline(__always) static func isNameStart(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || c == 0x5F
    }
    @inline(__always) static func isNameChar(_ c: UInt8) -> Bool { isNameStart(c) || (c >= 0x30 && c <= 0x39) }
    @inline(__always) static func isQuote(_ c: UInt8) -> Bool { c == 0x22 || c == 0x27 || c == 0x60 }

    static func skipSpace(_ b: [UInt8], _ i0: Int) -> Int {
        var i = i0
        while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 }
        return i
    }

    static func describe(_ b: [UInt8], _ i: Int) -> String {
        guard i < b.count else { return "end of input" }
        let end = min(b.count, i + 4)
        let ch = String(decoding: b[i..<end], as: UTF8.self).first.map(String.init) ?? "?"
        return "\"\(ch)\""
    }
}
