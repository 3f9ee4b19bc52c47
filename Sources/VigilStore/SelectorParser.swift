import VigilCore

/// A minimal PromQL series-selector parser for the CLI: `name`, `{a="b"}`, `name{a="b", c=~"d", e!="f"}`.
/// Strings are double-, single- or back-quoted; `\"`, `\\`, `\n`, `\t` escapes are understood.
public enum SelectorParser {
    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let input: String
        public let position: Int
        public let reason: String
        public var description: String { "cannot parse selector \(input) at character \(position + 1): \(reason)" }
    }

    public static func parse(_ input: String) throws(ParseError) -> [LabelMatcher] {
        let chars = Array(input)
        var i = 0
        func fail(_ why: String) -> ParseError { ParseError(input: input, position: i, reason: why) }
        func skipSpace() { while i < chars.count && chars[i].isWhitespace { i += 1 } }
        func isNameChar(_ c: Character, first: Bool, colon: Bool) -> Bool {
            guard c.isASCII else { return false }
            return c.isLetter || c == "_" || (colon && c == ":") || (!first && c.isNumber)
        }
        func name(colon: Bool) -> String {
            let start = i
            while i < chars.count && isNameChar(chars[i], first: i == start, colon: colon) { i += 1 }
            return String(chars[start..<i])
        }

        var matchers: [LabelMatcher] = []
        skipSpace()
        let metric = name(colon: true)
        if !metric.isEmpty { matchers.append(.equal(Labels.metricNameLabel, metric)) }
        skipSpace()
        if i < chars.count && chars[i] == "{" {
            i += 1
            while true {
                skipSpace()
                if i < chars.count && chars[i] == "}" { i += 1; break }
                let ln = name(colon: false)
                if ln.isEmpty { throw fail("expected a label name") }
                skipSpace()
                let op: LabelMatcher.MatchType
                if i + 1 < chars.count && chars[i] == "=" && chars[i + 1] == "~" { op = .regexMatch; i += 2 }
                else if i + 1 < chars.count && chars[i] == "!" && chars[i + 1] == "=" { op = .notEqual; i += 2 }
                else if i + 1 < chars.count && chars[i] == "!" && chars[i + 1] == "~" { op = .regexNoMatch; i += 2 }
                else if i < chars.count && chars[i] == "=" { op = .equal; i += 1 }
                else { throw fail("expected =, !=, =~ or !~") }
                skipSpace()
                guard i < chars.count, let quote = Optional(chars[i]), quote == "\"" || quote == "'" || quote == "`" else {
                    throw fail("expected a quoted value")
                }
                i += 1
                var value = ""
                var closed = false
                while i < chars.count {
                    let c = chars[i]
                    i += 1
                    if c == quote { closed = true; break }
                    if c == "\\" && quote != "`" && i < chars.count {
                        let e = chars[i]
                        i += 1
                        switch e {
                        case "n": value.append("\n")
                        case "t": value.append("\t")
                        default: value.append(e)
                        }
                    } else {
                        value.append(c)
                    }
                }
                if !closed { throw fail("unterminated string") }
                do {
                    matchers.append(try LabelMatcher(op, ln, value))
                } catch {
                    throw fail(error.description)
                }
                skipSpace()
                if i < chars.count && chars[i] == "," { i += 1; continue }
                if i < chars.count && chars[i] == "}" { i += 1; break }
                throw fail("expected , or }")
            }
        }
        skipSpace()
        if i != chars.count { throw fail("unexpected trailing input") }
        if matchers.isEmpty { throw fail("empty selector") }
        return matchers
    }
}
