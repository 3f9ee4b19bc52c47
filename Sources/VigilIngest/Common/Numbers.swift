/// Number parsing on raw bytes, shared by the text formats.
package enum Numbers {
    private static let pow10: [Double] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14,
                                          1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22]

    /// Parses a float the way Go's `strconv.ParseFloat` (which Prometheus uses) accepts it: decimal with optional
    /// exponent, `NaN`, `Inf`/`+Inf`/`-Inf`/`Infinity` in any case, hex floats. Nil for anything else.
    ///
    /// Plain decimals with at most 19 digits and a mantissa below 2^53 and |exponent| ≤ 22 take an exact
    /// fast path (Clinger's); everything else goes through the standard library's correctly rounded parser.
    package static func parseDouble(_ b: UnsafeRawBufferPointer) -> Double? {
        let n = b.count
        guard n > 0 else { return nil }
        var i = 0
        var negative = false
        if b[0] == 0x2D || b[0] == 0x2B { negative = b[0] == 0x2D; i = 1 }
        var mantissa: UInt64 = 0
        var digits = 0
        var exp10 = 0
        var sawDigit = false
        var ok = true
        while i < n, b[i] >= 0x30, b[i] <= 0x39 {
            if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(b[i] - 0x30); if mantissa != 0 { digits += 1 } } else { ok = false }
            sawDigit = true
            i += 1
        }
        if i < n, b[i] == 0x2E {
            i += 1
            while i < n, b[i] >= 0x30, b[i] <= 0x39 {
                if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(b[i] - 0x30); if mantissa != 0 { digits += 1 }; exp10 -= 1 } else { ok = false }
                sawDigit = true
                i += 1
            }
        }
        if sawDigit, i < n, b[i] | 0x20 == 0x65 {  // e/E
            i += 1
            var eneg = false
            if i < n, b[i] == 0x2D || b[i] == 0x2B { eneg = b[i] == 0x2D; i += 1 }
            var e = 0
            var sawE = false
            while i < n, b[i] >= 0x30, b[i] <= 0x39 {
                if e < 100_000 { e = e * 10 + Int(b[i] - 0x30) }
                sawE = true
                i += 1
            }
            if !sawE { return nil }
            exp10 += eneg ? -e : e
        }
        if sawDigit && i == n && ok && mantissa < (1 << 53) && exp10 >= -22 && exp10 <= 22 {
            var d = Double(mantissa)
            if exp10 < 0 { d /= pow10[-exp10] } else { d *= pow10[exp10] }
            return negative ? -d : d
        }
        return slowParseDouble(b)
    }

    private static func slowParseDouble(_ b: UnsafeRawBufferPointer) -> Double? {
        guard b.count <= 512 else { return nil }
        for c in b where c >= 0x80 || c <= 0x20 || c == 0x5F { return nil }
        let s = String(decoding: b, as: UTF8.self)
        var body = Substring(s)
        var sign = ""
        if let f = body.first, f == "+" || f == "-" { sign = f == "-" ? "-" : ""; body = body.dropFirst() }
        switch body.lowercased() {
        case "inf", "infinity": return sign == "-" ? -.infinity : .infinity
        case "nan": return .nan
        default: break
        }
        // Double(String) would also take "inf"/"nan" words with a sign, handled above; refuse stray words here.
        guard let f = body.first, f.isNumber || f == "." else { return nil }
        return Double(sign + body)
    }

    package static func parseDouble(_ b: [UInt8]) -> Double? { b.withUnsafeBytes { parseDouble($0) } }

    /// A decimal Int64 with optional sign; nil on anything else or overflow.
    static func parseInt64(_ b: UnsafeRawBufferPointer) -> Int64? {
        let n = b.count
        guard n > 0 else { return nil }
        var i = 0
        var negative = false
        if b[0] == 0x2D || b[0] == 0x2B { negative = b[0] == 0x2D; i = 1 }
        guard i < n else { return nil }
        var v: Int64 = 0
        while i < n {
            let c = b[i]
            guard c >= 0x30 && c <= 0x39 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = negative ? m.subtractingReportingOverflow(Int64(c - 0x30)) : m.addingReportingOverflow(Int64(c - 0x30))
            if o1 || o2 { return nil }
            v = a
            i += 1
        }
        return v
    }

    /// A decimal UInt64 (no sign); nil on anything else or overflow.
    static func parseUInt64(_ b: UnsafeRawBufferPointer) -> UInt64? {
        guard !b.isEmpty else { return nil }
        var v: UInt64 = 0
        for c in b {
            guard c >= 0x30 && c <= 0x39 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(c - 0x30))
            if o1 || o2 { return nil }
            v = a
        }
        return v
    }

    /// Seconds (possibly fractional) to milliseconds, rounded; nil when not finite or out of Int64 range.
    static func secondsToMillis(_ s: Double) -> Int64? {
        let ms = (s * 1000).rounded()
        guard ms.isFinite, ms > -9.2e18, ms < 9.2e18 else { return nil }
        return Int64(ms)
    }
}
