/// The textual timestamp forms Vigil's CSV commands accept, kept so output is written the way input was.
public enum TimestampFormat: Sendable, Equatable {
    /// `YYYY-MM-DD HH:MM:SS`
    case spaced
    /// ISO-8601 `YYYY-MM-DDTHH:MM:SS` followed by `suffix` (`Z`, `+02:00` or nothing).
    case iso(suffix: String)
    /// Unix seconds; `fractional` if the input had a decimal point.
    case unix(fractional: Bool)

    /// Detects the form from one field (nil if unrecognised).
    public static func detect(_ s: Substring) -> TimestampFormat? {
        let u = Array(s.utf8)
        if u.isEmpty { return nil }
        if u.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x2D }) && !(u.count >= 10 && u[4] == 0x2D) {
            return .unix(fractional: u.contains(0x2E))
        }
        guard u.count >= 19, u[4] == 0x2D, u[7] == 0x2D, u[13] == 0x3A, u[16] == 0x3A else { return nil }
        if u[10] == 0x20 { return .spaced }
        if u[10] == 0x54 || u[10] == 0x74 {
            var rest = Substring(s.dropFirst(19))
            if rest.hasPrefix(".") { rest = rest.drop(while: { $0 == "." || $0.isNumber }) }
            return .iso(suffix: String(rest))
        }
        return nil
    }

    /// Parses to milliseconds since the Unix epoch (UTC unless an offset is given). Nil on malformed input.
    public func parse(_ s: Substring) -> Int64? {
        switch self {
        case .unix:
            guard let d = Double(s), d.isFinite else { return nil }
            return Int64((d * 1000).rounded())
        case .spaced, .iso:
            return Timestamps.parseCalendar(s)
        }
    }

    /// Formats milliseconds since the epoch in this form.
    public func format(_ ms: Int64) -> String {
        switch self {
        case .unix(let fractional):
            if fractional || ms % 1000 != 0 {
                let s = Double(ms) / 1000
                return String(format3: s)
            }
            return String(ms / 1000)
        case .spaced:
            return Timestamps.formatCalendar(ms, separator: " ", offsetSeconds: 0)
        case .iso(let suffix):
            let off = Timestamps.offsetSeconds(suffix) ?? 0
            return Timestamps.formatCalendar(ms, separator: "T", offsetSeconds: off) + suffix
        }
    }
}

extension String {
    init(format3 v: Double) {
        var s = String(v)
        if s.hasSuffix(".0") { s.removeLast(2) }
        self = s
    }
}

public enum Timestamps {
    /// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civilFromDays(_ z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    /// `+HH:MM`, `-HHMM`, `Z` or empty → seconds east of UTC.
    static func offsetSeconds(_ suffix: String) -> Int64? {
        if suffix.isEmpty || suffix == "Z" || suffix == "z" { return 0 }
        let u = Array(suffix.utf8)
        guard u.count >= 3, u[0] == 0x2B || u[0] == 0x2D else { return nil }
        let digits = u.dropFirst().filter { $0 != 0x3A }
        guard digits.count == 4 || digits.count == 2, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        let v = digits.map { Int64($0 - 0x30) }
        let h = v[0] * 10 + v[1]
        let m = digits.count == 4 ? v[2] * 10 + v[3] : 0
        return (u[0] == 0x2D ? -1 : 1) * (h * 3600 + m * 60)
    }

    static func parseCalendar(_ s: Substring) -> Int64? {
        let u = Array(s.utf8)
        guard u.count >= 19 else { return nil }
        func num(_ a: Int, _ b: Int) -> Int64? {
            var r: Int64 = 0
            for i in a..<b {
                let c = u[i]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                r = r * 10 + Int64(c - 0x30)
            }
            return r
        }
        guard let y = num(0, 4), let mo = num(5, 7), let d = num(8, 10), let h = num(11, 13), let mi = num(14, 16),
              let se = num(17, 19), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, se < 61 else { return nil }
        var ms: Int64 = 0
        var i = 19
        if i < u.count && u[i] == 0x2E {
            i += 1
            var scale: Int64 = 100
            while i < u.count, u[i] >= 0x30 && u[i] <= 0x39 {
                ms += Int64(u[i] - 0x30) * scale
                scale /= 10
                i += 1
            }
        }
        let suffix = String(decoding: u[i...], as: UTF8.self)
        guard let off = offsetSeconds(suffix) else { return nil }
        let secs = daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off
        return secs * 1000 + ms
    }

    static func formatCalendar(_ ms: Int64, separator: Character, offsetSeconds: Int64) -> String {
        let local = ms + offsetSeconds * 1000
        var secs = local >= 0 ? local / 1000 : (local - 999) / 1000
        let frac = local - secs * 1000
        let days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400
        secs -= days * 86400
        let (y, m, d) = civilFromDays(days)
        func p2(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        var out = "\(String(format4: y))-\(p2(m))-\(p2(d))\(separator)\(p2(secs / 3600)):\(p2(secs / 60 % 60)):\(p2(secs % 60))"
        if frac != 0 {
            let f = String(frac)
            out += "." + String(repeating: "0", count: 3 - f.count) + f
        }
        return out
    }
}

extension String {
    init(format4 v: Int64) {
        let s = String(v)
        self = s.count >= 4 ? s : String(repeating: "0", count: 4 - s.count) + s
    }
}
