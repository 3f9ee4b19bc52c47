/// Checked parsing of the time, duration and number parameters of the HTTP APIs (query, export, import).
///
/// Every conversion to `Int64` milliseconds is range-checked first: NaN, ±Inf, a value whose milliseconds do
/// not fit Prometheus' time range, or text that is neither a number nor RFC 3339 is a `ParameterError` naming
/// the parameter, never a trap. One parser for every endpoint, so they all accept and refuse the same input.
public enum RequestParameters {
    /// Prometheus' smallest and largest timestamps (ms): `math.MinInt64 / 1000` and `math.MaxInt64 / 1000`.
    public static let minTimeMs: Int64 = -9_223_372_036_854_775
    public static let maxTimeMs: Int64 = 9_223_372_036_854_775

    /// Prometheus' `parseTime`: Unix seconds with an optional fraction (rounded to the millisecond) or
    /// RFC 3339 (`2006-01-02T15:04:05.999999999Z07:00`, truncated to the millisecond).
    public static func time(_ s: String, _ name: String) throws(ParameterError) -> Int64 {
        if let d = decimal(s) {
            guard d.isFinite else { throw ParameterError(name, s, "timestamp", "not finite") }
            // As Prometheus: whole seconds, plus the fraction rounded to the millisecond.
            let whole = d.rounded(.towardZero)
            guard abs(whole) <= 9_223_372_036_854 else {
                throw ParameterError(name, s, "timestamp", "out of range (±9223372036854.775 s)")
            }
            let ms = Int64(whole) * 1000 + Int64(((d - whole) * 1000).rounded(.toNearestOrAwayFromZero))
            guard ms >= minTimeMs, ms <= maxTimeMs else {
                throw ParameterError(name, s, "timestamp", "out of range (±9223372036854.775 s)")
            }
            return ms
        }
        if let ms = rfc3339(s) {
            guard ms >= minTimeMs, ms <= maxTimeMs else { throw ParameterError(name, s, "timestamp", "out of range") }
            return ms
        }
        // The strings Prometheus prints for its own min and max time (Grafana sends them back).
        switch s {
        case "-292273086-05-16T16:47:06Z": return minTimeMs
        case "292277025-08-18T07:12:54.999999999Z": return maxTimeMs
        default: break
        }
        throw ParameterError(name, s, "timestamp")
    }

    /// Prometheus' `parseDuration`: float seconds or a PromQL duration (`5m`, `1h30m`). Returns milliseconds.
    public static func duration(_ s: String, _ name: String) throws(ParameterError) -> Int64 {
        if let d = decimal(s) {
            guard d.isFinite else { throw ParameterError(name, s, "duration", "not finite") }
            let ms = (d * 1000).rounded(.towardZero)
            // Prometheus keeps durations in nanoseconds: beyond ±9.2e18 ns it overflows int64.
            guard abs(d) * 1e9 < 9.2e18 else { throw ParameterError(name, s, "duration", "it overflows int64") }
            return Int64(ms)
        }
        do { return try DurationParser.milliseconds(s) } catch {
            throw ParameterError(name, s, "duration")
        }
    }

    /// A float parameter; NaN and ±Inf are refused unless `allowNonFinite`.
    public static func float(_ s: String, _ name: String, allowNonFinite: Bool = false) throws(ParameterError) -> Double {
        guard let d = decimal(s) else { throw ParameterError(name, s, "number") }
        if !allowNonFinite && !d.isFinite { throw ParameterError(name, s, "number", "not finite") }
        return d
    }

    /// An integer parameter within `range`.
    public static func integer(_ s: String, _ name: String, in range: ClosedRange<Int>) throws(ParameterError) -> Int {
        guard let v = Int(s) else { throw ParameterError(name, s, "integer") }
        guard range.contains(v) else { throw ParameterError(name, s, "integer", "out of range \(range.lowerBound)...\(range.upperBound)") }
        return v
    }

    /// A decimal number as Go's ParseFloat reads it (no leading `+` alone, no hex floats, no whitespace).
    static func decimal(_ s: String) -> Double? {
        guard !s.isEmpty, s != "+", s != "-", !s.utf8.contains(where: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A }) else {
            return nil
        }
        if s.lowercased().contains("0x") { return nil }
        return Double(s)
    }

    /// RFC 3339 with optional fraction: `2006-01-02T15:04:05.999999999Z07:00`. Returns ms (truncated), nil if
    /// the text is not RFC 3339.
    public static func rfc3339(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        func num(_ a: Int, _ n: Int) -> Int? {
            guard a + n <= b.count else { return nil }
            var v = 0
            for i in a..<(a + n) {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard b.count >= 20, let y = num(0, 4), b[4] == 45, let mo = num(5, 2), b[7] == 45, let d = num(8, 2),
              b[10] == 84 || b[10] == 116, let h = num(11, 2), b[13] == 58, let mi = num(14, 2), b[16] == 58,
              let sec = num(17, 2), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, sec < 60 else { return nil }
        guard d <= CivilTime.daysInMonth(year: y, month: mo) else { return nil }
        var i = 19
        var fracMs = 0
        if i < b.count, b[i] == 46 {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 48 && b[i] <= 57 {
                if digits < 3 { fracMs = fracMs * 10 + Int(b[i] - 48) }
                digits += 1
                i += 1
            }
            if digits == 0 { return nil }
            if digits < 3 { for _ in digits..<3 { fracMs *= 10 } }
        }
        guard i < b.count else { return nil }
        var offsetSec = 0
        if b[i] == 90 || b[i] == 122 {
            i += 1
        } else if b[i] == 43 || b[i] == 45 {
            guard let oh = num(i + 1, 2), b.count > i + 3, b[i + 3] == 58, let om = num(i + 4, 2), oh < 24, om < 60 else {
                return nil
            }
            offsetSec = (oh * 3600 + om * 60) * (b[i] == 45 ? -1 : 1)
            i += 6
        } else { return nil }
        guard i == b.count else { return nil }
        let days = CivilTime.daysFromCivil(year: y, month: mo, day: d)
        let secs = days * 86400 + Int64(h * 3600 + mi * 60 + sec) - Int64(offsetSec)
        return secs * 1000 + Int64(fracMs)
    }
}

/// A bad request parameter: which one, what was sent, and why it was refused. Prints as Prometheus does
/// (`invalid parameter "time": cannot parse "x" to a valid timestamp`), with the reason appended.
public struct ParameterError: Error, Sendable, CustomStringConvertible, Equatable {
    public let parameter: String
    public let value: String
    /// What the value should have been: "timestamp", "duration", "number", "integer".
    public let kind: String
    /// Why it is not (empty: it does not parse at all).
    public let reason: String

    public init(_ parameter: String, _ value: String, _ kind: String, _ reason: String = "") {
        self.parameter = parameter
        self.value = value.count > 64 ? String(value.prefix(64)) + "…" : value
        self.kind = kind
        self.reason = reason
    }

    public var description: String {
        "invalid parameter \"\(parameter)\": cannot parse \"\(value)\" to a valid \(kind)" + (reason.isEmpty ? "" : ": " + reason)
    }
}

/// Proleptic Gregorian calendar arithmetic in UTC (Howard Hinnant's algorithms), for RFC 3339 and the PromQL
/// date functions. Exact for every Int64 day count PromQL can produce.
public enum CivilTime {
    public static func isLeap(_ y: Int) -> Bool { y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) }

    public static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a civil date.
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        let yy = Int64(month <= 2 ? year - 1 : year)
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let m = Int64(month)
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The civil date of a day count since 1970-01-01.
    public static func civilFromDays(_ z0: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = Int(doy - (153 * mp + 2) / 5 + 1)
        let m = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
