/// A JSON document as read by `JSONReader`: numbers are kept as their source text (int64 precision survives, and
/// `Double(text)` rounds correctly, unlike Foundation's JSONSerialization on Linux), objects keep their key order.
/// Used by OTLP/JSON ingestion and by model-file headers.
public enum JSONNode: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONNode])
    case object([(String, JSONNode)])

    public static func == (a: JSONNode, b: JSONNode) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .number: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

/// Why a JSON text was refused, and the byte offset where.
public struct JSONSyntaxError: Error, CustomStringConvertible, Sendable {
    public let reason: String
    public let offset: Int
    public var description: String { "cannot parse JSON: \(reason) at byte \(offset)" }
}

/// A strict RFC 8259 reader (nesting limited to `maxDepth`; errors name the byte offset).
public struct JSONReader {
    let buf: UnsafeRawBufferPointer
    var pos = 0
    let maxDepth: Int

    init(_ buf: UnsafeRawBufferPointer, maxDepth: Int = 64) {
        self.buf = buf
        self.maxDepth = maxDepth
    }

    public static func parse(_ buf: UnsafeRawBufferPointer, maxDepth: Int = 64) throws(JSONSyntaxError) -> JSONNode {
        var r = JSONReader(buf, maxDepth: maxDepth)
        r.skipWS()
        let v = try r.value(depth: 0)
        r.skipWS()
        if r.pos != buf.count { throw r.fail("unexpected data after the top-level value") }
        return v
    }

    func fail(_ reason: String, at p: Int? = nil) -> JSONSyntaxError {
        JSONSyntaxError(reason: reason, offset: p ?? pos)
    }

    mutating func skipWS() {
        while pos < buf.count {
            let c = buf[pos]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { pos += 1 } else { break }
        }
    }

    mutating func literal(_ s: StaticString, _ v: JSONNode) throws(JSONSyntaxError) -> JSONNode {
        let n = s.utf8CodeUnitCount
        guard buf.count - pos >= n else { throw fail("invalid literal") }
        let p = s.utf8Start
        for i in 0..<n where buf[pos + i] != p[i] { throw fail("invalid literal") }
        pos += n
        return v
    }

    mutating func value(depth: Int) throws(JSONSyntaxError) -> JSONNode {
        guard depth < maxDepth else { throw fail("nested deeper than \(maxDepth)") }
        guard pos < buf.count else { throw fail("unexpected end of input") }
        switch buf[pos] {
        case 0x7B: // {
            pos += 1
            var members: [(String, JSONNode)] = []
            skipWS()
            if pos < buf.count && buf[pos] == 0x7D { pos += 1; return .object(members) }
            while true {
                skipWS()
                guard pos < buf.count, buf[pos] == 0x22 else { throw fail("expected a string key") }
                let k = try string()
                skipWS()
                guard pos < buf.count, buf[pos] == 0x3A else { throw fail("expected \":\" after key \"\(k.prefix(40))\"") }
                pos += 1
                skipWS()
                members.append((k, try value(depth: depth + 1)))
                skipWS()
                guard pos < buf.count else { throw fail("unterminated object") }
                if buf[pos] == 0x2C { pos += 1; continue }
                if buf[pos] == 0x7D { pos += 1; return .object(members) }
                throw fail("expected \",\" or \"}\" in object")
            }
        case 0x5B: // [
            pos += 1
            var items: [JSONNode] = []
            skipWS()
            if pos < buf.count && buf[pos] == 0x5D { pos += 1; return .array(items) }
            while true {
                skipWS()
                items.append(try value(depth: depth + 1))
                skipWS()
                guard pos < buf.count else { throw fail("unterminated array") }
                if buf[pos] == 0x2C { pos += 1; continue }
                if buf[pos] == 0x5D { pos += 1; return .array(items) }
                throw fail("expected \",\" or \"]\" in array")
            }
        case 0x22: return .string(try string())
        case 0x74: return try literal("true", .bool(true))
        case 0x66: return try literal("false", .bool(false))
        case 0x6E: return try literal("null", .null)
        default: return try number()
        }
    }

    mutating func number() throws(JSONSyntaxError) -> JSONNode {
        let start = pos
        if pos < buf.count && buf[pos] == 0x2D { pos += 1 }
        var digits = 0
        let intStart = pos
        while pos < buf.count && buf[pos] >= 0x30 && buf[pos] <= 0x39 { pos += 1; digits += 1 }
        guard digits > 0 else { throw fail("unexpected character", at: start) }
        guard digits == 1 || buf[intStart] != 0x30 else { throw fail("number with a leading zero", at: start) }
        if pos < buf.count && buf[pos] == 0x2E {
            pos += 1
            var frac = 0
            while pos < buf.count && buf[pos] >= 0x30 && buf[pos] <= 0x39 { pos += 1; frac += 1 }
            guard frac > 0 else { throw fail("invalid number", at: start) }
        }
        if pos < buf.count && (buf[pos] | 0x20) == 0x65 {
            pos += 1
            if pos < buf.count && (buf[pos] == 0x2B || buf[pos] == 0x2D) { pos += 1 }
            var e = 0
            while pos < buf.count && buf[pos] >= 0x30 && buf[pos] <= 0x39 { pos += 1; e += 1 }
            guard e > 0 else { throw fail("invalid number", at: start) }
        }
        return .number(String(decoding: UnsafeRawBufferPointer(rebasing: buf[start..<pos]), as: UTF8.self))
    }

    mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        guard buf.count - pos >= 4 else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = buf[pos]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | d
            pos += 1
        }
        return v
    }

    mutating func string() throws(JSONSyntaxError) -> String {
        let open = pos
        pos += 1
        let start = pos
        var simple = true
        while pos < buf.count {
            let c = buf[pos]
            if c == 0x22 { break }
            if c == 0x5C { simple = false; break }
            if c < 0x20 { throw fail("control character in string") }
            pos += 1
        }
        guard pos < buf.count else { throw fail("unterminated string", at: open) }
        if simple {
            guard let s = String(validating: UnsafeRawBufferPointer(rebasing: buf[start..<pos]), as: UTF8.self) else {
                throw fail("string is not valid UTF-8", at: start)
            }
            pos += 1
            return s
        }
        var out = Array(buf[start..<pos])
        while pos < buf.count {
            let c = buf[pos]
            if c == 0x22 {
                pos += 1
                guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8", at: start) }
                return s
            }
            if c < 0x20 { throw fail("control character in string") }
            if c != 0x5C { out.append(c); pos += 1; continue }
            pos += 1
            guard pos < buf.count else { break }
            let e = buf[pos]
            pos += 1
            switch e {
            case 0x22: out.append(0x22)
            case 0x5C: out.append(0x5C)
            case 0x2F: out.append(0x2F)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                var u = try hex4()
                if u >= 0xD800 && u < 0xDC00 {
                    guard buf.count - pos >= 6, buf[pos] == 0x5C, buf[pos + 1] == 0x75 else { throw fail("unpaired surrogate") }
                    pos += 2
                    let lo = try hex4()
                    guard lo >= 0xDC00 && lo < 0xE000 else { throw fail("invalid low surrogate") }
                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00)
                } else if u >= 0xDC00 && u < 0xE000 {
                    throw fail("unpaired surrogate")
                }
                guard let scalar = Unicode.Scalar(u) else { throw fail("invalid \\u escape") }
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default: throw fail("invalid escape \\\(Character(Unicode.Scalar(e)))", at: pos - 2)
            }
        }
        throw fail("unterminated string", at: open)
    }
}
