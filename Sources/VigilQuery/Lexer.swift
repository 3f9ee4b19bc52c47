/// A PromQL parse error at a byte position of the query; prints as Prometheus does:
/// `line:col: parse error: message` (col is 1-based).
public struct ParseError: Error, Sendable, CustomStringConvertible, Equatable {
    public let query: String
    public let position: Int
    public let message: String
    /// The parse ran past its deadline (the query timeout); not a syntax error.
    public var isTimeout = false

    public init(query: String, position: Int, message: String) {
        self.query = query
        self.position = position
        self.message = message
    }

    static func timedOut(_ query: String) -> ParseError {
        var e = ParseError(query: query, position: 0, message: "query timed out in parsing")
        e.isTimeout = true
        return e
    }

    public var lineAndColumn: (line: Int, column: Int) {
        var line = 1
        var lastBreak = -1
        for (i, b) in query.utf8.enumerated() where i < position {
            if b == 0x0A { line += 1; lastBreak = i }
        }
        return (line, position - lastBreak)
    }

    public var description: String {
        let (l, c) = lineAndColumn
        return "\(l):\(c): parse error: \(message)"
    }
}

enum TokenKind: Equatable {
    case identifier       // also keywords; the parser decides
    case metricIdentifier // contains ':'
    case number
    case duration
    case string
    case leftParen, rightParen, leftBrace, rightBrace, leftBracket, rightBracket
    case comma, colon, at
    case assign          // =
    case eql, neq, eqlRegex, neqRegex, lss, lte, gtr, gte
    case add, sub, mul, div, mod, pow
    case eof
}

struct Token: Equatable {
    var kind: TokenKind
    /// Raw text (strings: the unquoted value).
    var text: String
    var pos: Int
    var end: Int
    var number: Double = 0
    var durationMs: Int64 = 0

    var describe: String {
        switch kind {
        case .eof: return "end of input"
        case .identifier, .metricIdentifier: return "identifier \"\(text)\""
        case .number: return "number \"\(text)\""
        case .duration: return "duration \"\(text)\""
        case .string: return "string"
        default: return "\"\(text)\""
        }
    }
}

/// Turns a query into tokens. Comments (`# ...`) are skipped.
struct Lexer {
    let query: String
    let bytes: [UInt8]
    var pos = 0
    var bracketDepth = 0
    var deadline: ContinuousClock.Instant?

    init(_ q: String) {
        query = q
        bytes = Array(q.utf8)
    }

    func error(_ msg: String, at p: Int) -> ParseError { ParseError(query: query, position: p, message: msg) }

    static func isAlpha(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || b == 0x5F }
    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    static func isAlnum(_ b: UInt8) -> Bool { isAlpha(b) || isDigit(b) }

    func peekByte(_ o: Int = 0) -> UInt8? { pos + o < bytes.count ? bytes[pos + o] : nil }

    mutating func tokenize() throws(ParseError) -> [Token] {
        var out: [Token] = []
        while true {
            if out.count & 4095 == 4095, let deadline, ContinuousClock.now > deadline { throw ParseError.timedOut(query) }
            let t = try next()
            out.append(t)
            if t.kind == .eof { return out }
        }
    }

    private func text(_ a: Int, _ b: Int) -> String { String(decoding: bytes[a..<b], as: UTF8.self) }

    mutating func next() throws(ParseError) -> Token {
        // whitespace and comments
        while let b = peekByte() {
            if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D {
                pos += 1
            } else if b == 0x23 { // '#'
                while let c = peekByte(), c != 0x0A { pos += 1 }
            } else { break }
        }
        let start = pos
        guard let b = peekByte() else { return Token(kind: .eof, text: "", pos: pos, end: pos) }
        func simple(_ k: TokenKind, _ n: Int) -> Token {
            pos += n
            return Token(kind: k, text: text(start, start + n), pos: start, end: start + n)
        }
        switch b {
        case UInt8(ascii: "("): return simple(.leftParen, 1)
        case UInt8(ascii: ")"): return simple(.rightParen, 1)
        case UInt8(ascii: "{"): return simple(.leftBrace, 1)
        case UInt8(ascii: "}"): return simple(.rightBrace, 1)
        case UInt8(ascii: "["): bracketDepth += 1; return simple(.leftBracket, 1)
        case UInt8(ascii: "]"): bracketDepth = max(0, bracketDepth - 1); return simple(.rightBracket, 1)
        case UInt8(ascii: ","): return simple(.comma, 1)
        case UInt8(ascii: ":"):
            if bracketDepth == 0 { // `:foo` metric names
                if let n = peekByte(1), Lexer.isAlpha(n) || n == UInt8(ascii: ":") { return lexIdentifier(start) }
            }
            return simple(.colon, 1)
        case UInt8(ascii: "@"): return simple(.at, 1)
        case UInt8(ascii: "+"): return simple(.add, 1)
        case UInt8(ascii: "-"): return simple(.sub, 1)
        case UInt8(ascii: "*"): return simple(.mul, 1)
        case UInt8(ascii: "/"): return simple(.div, 1)
        case UInt8(ascii: "%"): return simple(.mod, 1)
        case UInt8(ascii: "^"): return simple(.pow, 1)
        case UInt8(ascii: "="):
            if peekByte(1) == UInt8(ascii: "=") { return simple(.eql, 2) }
            if peekByte(1) == UInt8(ascii: "~") { return simple(.eqlRegex, 2) }
            return simple(.assign, 1)
        case UInt8(ascii: "!"):
            if peekByte(1) == UInt8(ascii: "=") { return simple(.neq, 2) }
            if peekByte(1) == UInt8(ascii: "~") { return simple(.neqRegex, 2) }
            throw error("unexpected character after '!': \(peekByte(1).map { String(UnicodeScalar($0)) } ?? "end of input")", at: start)
        case UInt8(ascii: "<"):
            if peekByte(1) == UInt8(ascii: "=") { return simple(.lte, 2) }
            return simple(.lss, 1)
        case UInt8(ascii: ">"):
            if peekByte(1) == UInt8(ascii: "=") { return simple(.gte, 2) }
            return simple(.gtr, 1)
        case UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "`"):
            return try lexString(start)
        default:
            if Lexer.isDigit(b) || (b == UInt8(ascii: ".") && (peekByte(1).map(Lexer.isDigit) ?? false)) {
                return try lexNumberOrDuration(start)
            }
            if Lexer.isAlpha(b) { return lexIdentifier(start) }
            let scalar = String(decoding: bytes[start..<min(bytes.count, start + 4)], as: UTF8.self).first.map(String.init) ?? "?"
            throw error("unexpected character: '\(scalar)'", at: start)
        }
    }

    private mutating func lexIdentifier(_ start: Int) -> Token {
        var hasColon = false
        while let c = peekByte() {
            if Lexer.isAlnum(c) { pos += 1 } else if c == UInt8(ascii: ":") && bracketDepth == 0 {
                hasColon = true
                pos += 1
            } else { break }
        }
        let t = text(start, pos)
        let lower = t.lowercased()
        if lower == "inf" || lower == "nan" {
            return Token(kind: .number, text: t, pos: start, end: pos, number: lower == "inf" ? .infinity : .nan)
        }
        return Token(kind: hasColon ? .metricIdentifier : .identifier, text: t, pos: start, end: pos)
    }

    private mutating func lexNumberOrDuration(_ start: Int) throws(ParseError) -> Token {
        // Try a duration first: (digits unit)+
        var p = start
        var sawUnit = false
        while p < bytes.count, Lexer.isDigit(bytes[p]) {
            var q = p
            while q < bytes.count, Lexer.isDigit(bytes[q]) { q += 1 }
            guard q < bytes.count else { break }
            var unitLen = 0
            if bytes[q] == UInt8(ascii: "m") && q + 1 < bytes.count && bytes[q + 1] == UInt8(ascii: "s") {
                unitLen = 2
            } else if "smhdwy".utf8.contains(bytes[q]) {
                unitLen = 1
            }
            if unitLen == 0 { break }
            p = q + unitLen
            sawUnit = true
        }
        if sawUnit && (p >= bytes.count || !Lexer.isAlnum(bytes[p])) && !(p < bytes.count && bytes[p] == UInt8(ascii: ".")) {
            let t = text(start, p)
            do {
                let ms = try DurationParserBridge.milliseconds(t)
                pos = p
                return Token(kind: .duration, text: t, pos: start, end: p, durationMs: ms)
            } catch {
                throw self.error("bad duration syntax: \"\(t)\"", at: start)
            }
        }
        // A number: hex, or decimal with optional fraction and exponent.
        p = start
        if bytes[p] == UInt8(ascii: "0"), p + 1 < bytes.count, bytes[p + 1] | 0x20 == UInt8(ascii: "x") {
            p += 2
            while p < bytes.count, Lexer.isDigit(bytes[p]) || "abcdefABCDEF".utf8.contains(bytes[p]) { p += 1 }
        } else {
            while p < bytes.count, Lexer.isDigit(bytes[p]) { p += 1 }
            if p < bytes.count, bytes[p] == UInt8(ascii: ".") {
                p += 1
                while p < bytes.count, Lexer.isDigit(bytes[p]) { p += 1 }
            }
            if p < bytes.count, bytes[p] | 0x20 == UInt8(ascii: "e") {
                var q = p + 1
                if q < bytes.count, bytes[q] == UInt8(ascii: "+") || bytes[q] == UInt8(ascii: "-") { q += 1 }
                if q < bytes.count, Lexer.isDigit(bytes[q]) {
                    while q < bytes.count, Lexer.isDigit(bytes[q]) { q += 1 }
                    p = q
                }
            }
        }
        if p < bytes.count, Lexer.isAlnum(bytes[p]) || bytes[p] == UInt8(ascii: ".") {
            var q = p
            while q < bytes.count, Lexer.isAlnum(bytes[q]) || bytes[q] == UInt8(ascii: ".") { q += 1 }
            throw error("bad number or duration syntax: \"\(text(start, q))\"", at: start)
        }
        let t = text(start, p)
        let v: Double?
        if t.count > 2, t.hasPrefix("0x") || t.hasPrefix("0X") {
            v = UInt64(t.dropFirst(2), radix: 16).map { Double($0) }
        } else if t.count > 1, t.hasPrefix("0"), t.allSatisfy({ $0.isASCII && $0.isNumber }) {
            // Go's ParseFloat reads "010" as decimal 10 (ParseInt with base 0 would be octal; Prometheus uses ParseFloat first).
            v = Double(t)
        } else {
            v = Double(t)
        }
        guard let value = v else { throw error("bad number syntax: \"\(t)\"", at: start) }
        pos = p
        return Token(kind: .number, text: t, pos: start, end: p, number: value)
    }

    /// String literals are read by the one selector/string parser (VigilCore's `SelectorParser`).
    private mutating func lexString(_ start: Int) throws(ParseError) -> Token {
        do {
            let (value, end) = try SelectorParser.string(bytes, at: start, input: query)
            pos = end
            return Token(kind: .string, text: value, pos: start, end: end)
        } catch {
            throw self.error(error.reason, at: error.position)
        }
    }
}

import VigilCore

enum DurationParserBridge {
    static func milliseconds(_ s: String) throws -> Int64 { try DurationParser.milliseconds(s) }
}
