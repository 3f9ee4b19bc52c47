/// Number formatting exactly as Go's strconv/fmt does it, which Prometheus uses on the wire.
public enum GoFormat {
    /// Shortest round-trip digits and decimal exponent: v = 0.d1d2d3... × 10^exp.
    private static func shortestDigits(_ v: Double) -> (digits: [UInt8], exp: Int) {
        // Swift's description is the shortest round-trip representation.
        let s = "\(abs(v))"
        var mantissa = s
        var e = 0
        if let idx = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = String(s[..<idx])
            e = Int(s[s.index(after: idx)...]) ?? 0
        }
        var intPart = mantissa
        var frac = ""
        if let dot = mantissa.firstIndex(of: ".") {
            intPart = String(mantissa[..<dot])
            frac = String(mantissa[mantissa.index(after: dot)...])
        }
        var digits = Array((intPart + frac).utf8).map { $0 - 48 }
        var pointPos = intPart.count + e
        // strip leading zeros
        while digits.count > 1 && digits[0] == 0 { digits.removeFirst(); pointPos -= 1 }
        // strip trailing zeros
        while digits.count > 1 && digits.last == 0 { digits.removeLast() }
        if digits == [0] { return ([0], 1) }
        return (digits, pointPos)
    }

    /// `strconv.FormatFloat(v, 'f', -1, 64)`; ±Inf as `+Inf`/`-Inf`, NaN as `NaN`.
    public static func formatF(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == 0 { return v.sign == .minus ? "-0" : "0" }
        // Fast paths: integers, and Swift's shortest form when it has no exponent (same digits as Go).
        if abs(v) < 1e15, v == v.rounded(.towardZero) { return String(Int64(v)) }
        let desc = v.description
        if !desc.utf8.contains(UInt8(ascii: "e")) { return desc }
        let (d, p) = shortestDigits(v)
        var out = v < 0 ? "-" : ""
        if p <= 0 {
            out += "0." + String(repeating: "0", count: -p) + d.map { String($0) }.joined()
        } else if p >= d.count {
            out += d.map { String($0) }.joined() + String(repeating: "0", count: p - d.count)
        } else {
            out += d[0..<p].map { String($0) }.joined() + "." + d[p...].map { String($0) }.joined()
        }
        return out
    }

    /// `fmt.Sprint(v)` for a float64 (`%v`: shortest, exponent when exp < -4 || exp >= 6 (strconv g, -1)).
    public static func formatV(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == 0 { return v.sign == .minus ? "-0" : "0" }
        let (d, p) = shortestDigits(v)
        let x = p - 1
        if x < -4 || x >= 6 {
            var out = v < 0 ? "-" : ""
            out += String(d[0])
            if d.count > 1 { out += "." + d[1...].map { String($0) }.joined() }
            out += "e" + (x < 0 ? "-" : "+") + (abs(x) < 10 ? "0" : "") + String(abs(x))
            return out
        }
        return formatF(v)
    }

    /// Go's `%q` for strings (double-quoted, Go escapes).
    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{07}": out += "\\a"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\u{0B}": out += "\\v"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    out += "\\x" + (u.value < 16 ? "0" : "") + String(u.value, radix: 16)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    /// Prometheus' JSON timestamp: seconds with up to 3 fraction digits (`1.5` is written `1.500`).
    public static func timestamp(_ ms: Int64) -> String {
        var t = ms
        var out = ""
        if t < 0 { out = "-"; t = -t }
        out += String(t / 1000)
        let f = t % 1000
        if f != 0 {
            out += "."
            if f < 100 { out += "0" }
            if f < 10 { out += "0" }
            out += String(f)
        }
        return out
    }
}
