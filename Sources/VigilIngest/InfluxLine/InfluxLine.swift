import VigilCore

/// InfluxDB line protocol (v1 `/write` and v2 `/api/v2/write`, as Telegraf and the Influx clients send it).
///
/// `measurement[,tag=value…] field=value[,field=value…] [timestamp]`, one point per line; blank lines and
/// lines starting with `#` are skipped.
/// - Each numeric or boolean field becomes the series `<measurement>_<field>` (names sanitised with
///   `NameSanitizer.metricName`), tags become labels (`NameSanitizer.labelName`).
/// - Field values: float (`1`, `-1.5e3`), integer `12i`, unsigned `12u` (both stored as float64, exact up to 2^53),
///   boolean `t/T/true/True/TRUE/f/F/false/False/FALSE` (1 / 0). String fields (`"…"`) are skipped and counted in
///   `stats.skipped[.stringField]`.
/// - Escapes: `\,` and `\ ` in the measurement; `\,` `\=` `\ ` in tag keys, tag values and field keys;
///   `\"` and `\\` in string values. A backslash before any other character is kept literally.
/// - Timestamps are integers in `precision` units, converted to ms (rounded down); absent → `defaultTimestamp`.
/// Errors name the line and column (1-based, in bytes).
public enum InfluxLine {
    public enum Precision: String, Sendable, CaseIterable {
        case nanoseconds = "ns", microseconds = "us", milliseconds = "ms", seconds = "s", minutes = "m", hours = "h"

        /// Accepts the v1 (`n`, `u`, `ms`, `s`, `m`, `h`) and v2 (`ns`, `us`, `ms`, `s`) spellings; nil otherwise.
        public init?(parameter: String) {
            switch parameter {
            case "n", "ns": self = .nanoseconds
            case "u", "us", "µ", "µs": self = .microseconds
            case "ms": self = .milliseconds
            case "s": self = .seconds
            case "m": self = .minutes
            case "h": self = .hours
            default: return nil
            }
        }

        func toMillis(_ v: Int64) -> Int64? {
            func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-(a + 1)) / b) - 1 }
            switch self {
            case .nanoseconds: return floorDiv(v, 1_000_000)
            case .microseconds: return floorDiv(v, 1_000)
            case .milliseconds: return v
            case .seconds: let (r, o) = v.multipliedReportingOverflow(by: 1_000); return o ? nil : r
            case .minutes: let (r, o) = v.multipliedReportingOverflow(by: 60_000); return o ? nil : r
            case .hours: let (r, o) = v.multipliedReportingOverflow(by: 3_600_000); return o ? nil : r
            }
        }
    }

    public static func parse(_ body: UnsafeRawBufferPointer, precision: Precision = .nanoseconds, defaultTimestamp: Int64,
                             limits: IngestLimits = .default) throws(IngestError) -> ParseResult {
        var p = InfluxParser(buf: body, precision: precision, defaultTimestamp: defaultTimestamp, checks: LabelChecks(limits: limits))
        try p.run()
        return p.result
    }

    public static func parse(_ body: [UInt8], precision: Precision = .nanoseconds, defaultTimestamp: Int64,
                             limits: IngestLimits = .default) throws(IngestError) -> ParseResult {
        try withUnsafeBytesTyped(body) { (b) throws(IngestError) in
            try parse(b, precision: precision, defaultTimestamp: defaultTimestamp, limits: limits)
        }
    }
}

struct InfluxParser {
    let buf: UnsafeRawBufferPointer
    let precision: InfluxLine.Precision
    let defaultTimestamp: Int64
    let checks: LabelChecks
    var result = ParseResult()

    var lineNo = 0
    var lineStart = 0
    var lineEnd = 0
    var pos = 0
    var tags: [Label] = []
    var fields: [(name: String, value: Double)] = []
    var scratch: [UInt8] = []

    init(buf: UnsafeRawBufferPointer, precision: InfluxLine.Precision, defaultTimestamp: Int64, checks: LabelChecks) {
        self.buf = buf
        self.precision = precision
        self.defaultTimestamp = defaultTimestamp
        self.checks = checks
    }

    func fail(_ code: IngestError.Code, _ reason: String, at p: Int? = nil) -> IngestError {
        let col = (p ?? pos) - lineStart + 1
        return IngestError(code, "line \(lineNo) column \(col): \(reason)", line: lineNo, column: col)
    }

    mutating func run() throws(IngestError) {
        var i = 0
        let n = buf.count
        while i < n {
            lineNo += 1
            lineStart = i
            var e = i
            while e < n && buf[e] != 0x0A { e += 1 }
            lineEnd = e
            if lineEnd > lineStart && buf[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            i = e + 1
            pos = lineStart
            while pos < lineEnd && (buf[pos] == 0x20 || buf[pos] == 0x09) { pos += 1 }
            if pos == lineEnd || buf[pos] == 0x23 { continue }
            try line()
        }
    }

    /// Reads an escaped token up to an unescaped byte in `stops`; returns it unescaped (escapes of `escapable` removed).
    mutating func token(stops: (UInt8) -> Bool, escapable: (UInt8) -> Bool, what: String) throws(IngestError) -> String {
        let start = pos
        var hasEscape = false
        while pos < lineEnd {
            let c = buf[pos]
            if c == 0x5C && pos + 1 < lineEnd { hasEscape = true; pos += 2; continue }
            if stops(c) { break }
            pos += 1
        }
        let raw = UnsafeRawBufferPointer(rebasing: buf[start..<pos])
        if !hasEscape {
            guard let s = UTF8Bytes.string(raw) else { throw fail(.invalidUTF8, "\(what) is not valid UTF-8", at: start) }
            return s
        }
        scratch.removeAll(keepingCapacity: true)
        var i = 0
        while i < raw.count {
            if raw[i] == 0x5C && i + 1 < raw.count && escapable(raw[i + 1]) {
                scratch.append(raw[i + 1])
                i += 2
            } else {
                scratch.append(raw[i])
                i += 1
            }
        }
        guard let s = UTF8Bytes.string(scratch) else { throw fail(.invalidUTF8, "\(what) is not valid UTF-8", at: start) }
        return s
    }

    mutating func line() throws(IngestError) {
        let mStart = pos
        let measurement = try token(stops: { $0 == 0x2C || $0 == 0x20 }, escapable: { $0 == 0x2C || $0 == 0x20 || $0 == 0x5C },
                                    what: "measurement")
        guard !measurement.isEmpty else { throw fail(.syntax, "missing measurement", at: mStart) }
        tags.removeAll(keepingCapacity: true)
        fields.removeAll(keepingCapacity: true)
        let keyStops: (UInt8) -> Bool = { $0 == 0x2C || $0 == 0x3D || $0 == 0x20 }
        let keyEsc: (UInt8) -> Bool = { $0 == 0x2C || $0 == 0x3D || $0 == 0x20 || $0 == 0x5C }
        while pos < lineEnd && buf[pos] == 0x2C {
            pos += 1
            let kStart = pos
            let key = try token(stops: keyStops, escapable: keyEsc, what: "tag key")
            guard !key.isEmpty else { throw fail(.syntax, "empty tag key", at: kStart) }
            guard pos < lineEnd, buf[pos] == 0x3D else { throw fail(.syntax, "expected \"=\" after tag key \"\(key)\"") }
            pos += 1
            let vStart = pos
            let value = try token(stops: keyStops, escapable: keyEsc, what: "value of tag \"\(key)\"")
            guard !value.isEmpty else { throw fail(.syntax, "empty value for tag \"\(key)\"", at: vStart) }
            if tags.count >= checks.limits.maxLabelsPerSeries {
                throw fail(.limit, "more than \(checks.limits.maxLabelsPerSeries) tags", at: kStart)
            }
            tags.append(Label(NameSanitizer.labelName(key), value))
        }
        guard pos < lineEnd, buf[pos] == 0x20 else { throw fail(.syntax, "expected a space before the field set") }
        while pos < lineEnd && buf[pos] == 0x20 { pos += 1 }
        // Field set.
        while true {
            let kStart = pos
            let key = try token(stops: keyStops, escapable: keyEsc, what: "field key")
            guard !key.isEmpty else { throw fail(.syntax, "missing field key", at: kStart) }
            guard pos < lineEnd, buf[pos] == 0x3D else { throw fail(.syntax, "expected \"=\" after field key \"\(key)\"") }
            pos += 1
            try fieldValue(key)
            if pos < lineEnd && buf[pos] == 0x2C { pos += 1; continue }
            break
        }
        var ts = defaultTimestamp
        if pos < lineEnd {
            guard buf[pos] == 0x20 else { throw fail(.syntax, "expected a space or \",\" after a field value") }
            while pos < lineEnd && buf[pos] == 0x20 { pos += 1 }
            if pos < lineEnd {
                let tStart = pos
                while pos < lineEnd && buf[pos] != 0x20 && buf[pos] != 0x09 { pos += 1 }
                let tb = UnsafeRawBufferPointer(rebasing: buf[tStart..<pos])
                guard let raw = Numbers.parseInt64(tb), let t = precision.toMillis(raw) else {
                    throw fail(.badValue, "invalid timestamp \"\(String(decoding: tb.prefix(40), as: UTF8.self))\"", at: tStart)
                }
                ts = t
                while pos < lineEnd && (buf[pos] == 0x20 || buf[pos] == 0x09) { pos += 1 }
                if pos < lineEnd { throw fail(.syntax, "unexpected text after the timestamp") }
            }
        }
        let prefix = NameSanitizer.metricName(measurement) + "_"
        for f in fields {
            var labels = tags
            labels.append(Label(Labels.metricNameLabel, prefix + NameSanitizer.sanitize(f.name, allowColon: true, digitPrefix: "")))
            let l = try checks.finish(&labels, at: "line \(lineNo)", line: lineNo)
            result.stats.samples += 1
            if let last = result.series.last, last.labels == l {
                result.series[result.series.count - 1].append(ts, f.value)
            } else {
                result.series.append(SeriesSamples(labels: l, timestamps: [ts], values: [f.value]))
            }
        }
    }

    mutating func fieldValue(_ key: String) throws(IngestError) {
        guard pos < lineEnd else { throw fail(.syntax, "missing value for field \"\(key)\"") }
        if buf[pos] == 0x22 {  // string field: skipped
            let qStart = pos
            pos += 1
            while pos < lineEnd && buf[pos] != 0x22 {
                if buf[pos] == 0x5C { pos += 1 }
                pos += 1
            }
            guard pos < lineEnd else { throw fail(.syntax, "unterminated string value for field \"\(key)\"", at: qStart) }
            pos += 1
            result.stats.skip(.stringField)
            return
        }
        let vStart = pos
        while pos < lineEnd && buf[pos] != 0x2C && buf[pos] != 0x20 { pos += 1 }
        let v = UnsafeRawBufferPointer(rebasing: buf[vStart..<pos])
        guard let last = v.last else { throw fail(.syntax, "missing value for field \"\(key)\"", at: vStart) }
        let value: Double
        func bad(_ kind: String) -> IngestError {
            fail(.badValue, "invalid \(kind) value \"\(String(decoding: v.prefix(40), as: UTF8.self))\" for field \"\(key)\"", at: vStart)
        }
        switch last {
        case 0x69:  // i
            guard let x = Numbers.parseInt64(UnsafeRawBufferPointer(rebasing: v.dropLast())) else { throw bad("integer") }
            value = Double(x)
        case 0x75:  // u
            guard let x = Numbers.parseUInt64(UnsafeRawBufferPointer(rebasing: v.dropLast())) else { throw bad("unsigned") }
            value = Double(x)
        default:
            switch String(decoding: v.count <= 5 ? v : UnsafeRawBufferPointer(rebasing: v.prefix(0)), as: UTF8.self) {
            case "t", "T", "true", "True", "TRUE": value = 1
            case "f", "F", "false", "False", "FALSE": value = 0
            default:
                // Influx floats are plain decimals: no NaN/Inf words, no hex.
                let c = v[0]
                guard c == 0x2D || c == 0x2B || c == 0x2E || (c >= 0x30 && c <= 0x39), !v.contains(0x78), !v.contains(0x58),
                      let x = Numbers.parseDouble(v), x.isFinite else { throw bad("float") }
                value = x
            }
        }
        fields.append((key, value))
    }
}
