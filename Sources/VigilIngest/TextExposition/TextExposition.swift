import VigilCore

/// Prometheus text exposition format 0.0.4 and OpenMetrics 1.0 text: what a scrape returns and what the
/// Pushgateway accepts.
///
/// - `# HELP`, `# TYPE` (and OpenMetrics `# UNIT`) become `MetricMetadata`; other comments are ignored.
/// - Label values take the escapes `\\`, `\"`, `\n`; any other escape is a syntax error.
/// - Values: Go `ParseFloat` syntax, including `NaN`, `+Inf`, `-Inf`.
/// - Timestamps: 0.0.4 is integer milliseconds; OpenMetrics is (possibly fractional) seconds. Absent → `defaultTimestamp`.
/// - OpenMetrics must end with `# EOF`, and nothing but blank lines may follow it. Exemplars (` # {…} v [t]`)
///   are counted and skipped.
/// - Histogram `_bucket` samples need a float `le`, summary samples a float `quantile`.
/// Errors name the line and column (1-based, in bytes).
public enum TextExposition {
    public enum Flavor: Sendable, Equatable {
        case prometheus
        case openMetrics
    }

    /// OpenMetrics when the `Content-Type` says `application/openmetrics-text`, else 0.0.4.
    public static func flavor(contentType: String?) -> Flavor {
        guard let ct = contentType?.lowercased() else { return .prometheus }
        return ct.contains("application/openmetrics-text") ? .openMetrics : .prometheus
    }

    public static func parse(_ body: UnsafeRawBufferPointer, flavor: Flavor = .prometheus, defaultTimestamp: Int64,
                             limits: IngestLimits = .default) throws(IngestError) -> ParseResult {
        var p = TextParser(body, flavor: flavor, defaultTimestamp: defaultTimestamp, limits: limits)
        try p.run()
        return p.result
    }

    public static func parse(_ body: [UInt8], flavor: Flavor = .prometheus, defaultTimestamp: Int64,
                             limits: IngestLimits = .default) throws(IngestError) -> ParseResult {
        try withUnsafeBytesTyped(body) { (b) throws(IngestError) in
            try parse(b, flavor: flavor, defaultTimestamp: defaultTimestamp, limits: limits)
        }
    }

    /// Writes series in 0.0.4 text (one line per sample, timestamps in ms), with `# HELP`/`# TYPE` for `metadata`.
    public static func encode(_ series: [SeriesSamples], metadata: [MetricMetadata] = []) -> String {
        var out = ""
        var written = Set<String>()
        let metaByFamily = Dictionary(metadata.map { ($0.family, $0) }, uniquingKeysWith: { a, _ in a })
        for s in series {
            let name = s.labels.metricName ?? ""
            if let m = metaByFamily[name], written.insert(name).inserted {
                if !m.help.isEmpty {
                    out += "# HELP \(name) \(m.help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n"))\n"
                }
                out += "# TYPE \(name) \(m.type == .unknown ? "untyped" : m.type.rawValue)\n"
            }
            let rest = s.labels.filter { $0.name != Labels.metricNameLabel }
            let labelText = rest.isEmpty ? "" : "{" + rest.map { "\($0.name)=\"\(Labels.escape($0.value))\"" }.joined(separator: ",") + "}"
            for i in 0..<s.count {
                out += "\(name)\(labelText) \(formatValue(s.values[i])) \(s.timestamps[i])\n"
            }
        }
        return out
    }

    static func formatValue(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v == .infinity { return "+Inf" }
        if v == -.infinity { return "-Inf" }
        return "\(v)"
    }
}

struct TextParser {
    let buf: UnsafeRawBufferPointer
    let flavor: TextExposition.Flavor
    let defaultTimestamp: Int64
    let checks: LabelChecks
    var result = ParseResult()

    // Current line.
    var lineNo = 0
    var lineStart = 0
    var lineEnd = 0
    var pos = 0

    var labels: [Label] = []
    var metaIndex: [String: Int] = [:]
    var typeSeen = Set<String>()
    var hasHistogramOrSummary = false
    var lastNameBytes: Range<Int> = 0..<0
    var lastName = ""
    var valueScratch: [UInt8] = []

    init(_ buf: UnsafeRawBufferPointer, flavor: TextExposition.Flavor, defaultTimestamp: Int64, limits: IngestLimits) {
        self.buf = buf
        self.flavor = flavor
        self.defaultTimestamp = defaultTimestamp
        self.checks = LabelChecks(limits: limits)
        labels.reserveCapacity(16)
    }

    func fail(_ reason: String, at p: Int? = nil) -> IngestError { fail(.syntax, reason, at: p) }

    func fail(_ code: IngestError.Code, _ reason: String, at p: Int? = nil) -> IngestError {
        let col = (p ?? pos) - lineStart + 1
        return IngestError(code, "line \(lineNo) column \(col): \(reason)", line: lineNo, column: col)
    }

    @inline(__always) func isBlank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }

    @inline(__always) mutating func skipBlanks() { while pos < lineEnd && isBlank(buf[pos]) { pos += 1 } }

    mutating func run() throws(IngestError) {
        var sawEOF = false
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
            skipBlanks()
            if pos == lineEnd { continue }
            if sawEOF { throw fail("content after # EOF") }
            if buf[pos] == 0x23 {  // '#'
                if try comment() { sawEOF = true }
                continue
            }
            try sample()
        }
        if flavor == .openMetrics && !sawEOF {
            lineNo += 1
            lineStart = n
            pos = n
            throw fail("OpenMetrics input does not end with # EOF")
        }
    }

    // MARK: - Comments

    /// Returns true for `# EOF`.
    mutating func comment() throws(IngestError) -> Bool {
        pos += 1
        skipBlanks()
        let kwStart = pos
        while pos < lineEnd && !isBlank(buf[pos]) { pos += 1 }
        let kw = UnsafeRawBufferPointer(rebasing: buf[kwStart..<pos])
        let keyword: String
        if equal(kw, "HELP") { keyword = "HELP" } else if equal(kw, "TYPE") { keyword = "TYPE" }
        else if equal(kw, "UNIT") { keyword = "UNIT" }
        else if equal(kw, "EOF") {
            skipBlanks()
            if flavor == .openMetrics {
                if pos != lineEnd { throw fail("unexpected text after # EOF") }
                return true
            }
            return false
        } else { return false }  // plain comment
        if flavor == .prometheus && keyword == "UNIT" { return false }
        skipBlanks()
        let nameStart = pos
        while pos < lineEnd && !isBlank(buf[pos]) { pos += 1 }
        guard pos > nameStart, let name = UTF8Bytes.string(UnsafeRawBufferPointer(rebasing: buf[nameStart..<pos])),
              Labels.isValidMetricName(name) else {
            throw fail(.invalidLabel, "invalid metric name in # \(keyword)", at: nameStart)
        }
        if pos < lineEnd { pos += 1 }  // exactly one separator; the rest is the text
        let textStart = pos
        let text = UnsafeRawBufferPointer(rebasing: buf[textStart..<lineEnd])
        var idx: Int
        if let k = metaIndex[name] { idx = k } else {
            idx = result.metadata.count
            result.metadata.append(MetricMetadata(family: name))
            metaIndex[name] = idx
        }
        switch keyword {
        case "HELP":
            guard let s = unescapeHelp(text, at: textStart) else { throw fail(.invalidUTF8, "HELP text is not valid UTF-8", at: textStart) }
            result.metadata[idx].help = try s.get()
        case "UNIT":
            guard let s = UTF8Bytes.string(text) else { throw fail(.invalidUTF8, "UNIT is not valid UTF-8", at: textStart) }
            result.metadata[idx].unit = s.trimmingBlanks()
        default:
            var end = lineEnd
            while end > textStart && isBlank(buf[end - 1]) { end -= 1 }
            let word = String(decoding: UnsafeRawBufferPointer(rebasing: buf[textStart..<end]), as: UTF8.self)
            let t: MetricMetadata.MetricType
            switch (word, flavor) {
            case ("counter", _): t = .counter
            case ("gauge", _): t = .gauge
            case ("histogram", _): t = .histogram
            case ("summary", _): t = .summary
            case ("untyped", .prometheus), ("unknown", .openMetrics): t = .unknown
            case ("gaugehistogram", .openMetrics): t = .gaugehistogram
            case ("info", .openMetrics): t = .info
            case ("stateset", .openMetrics): t = .stateset
            default: throw fail("unknown metric type \"\(word.prefix(40))\" in # TYPE", at: textStart)
            }
            if !typeSeen.insert(name).inserted { throw fail("second # TYPE line for \(name)", at: nameStart) }
            result.metadata[idx].type = t
            if t == .histogram || t == .gaugehistogram || t == .summary { hasHistogramOrSummary = true }
        }
        return false
    }

    func unescapeHelp(_ b: UnsafeRawBufferPointer, at: Int) -> Result<String, IngestError>? {
        var needs = false
        for c in b where c == 0x5C { needs = true; break }
        if !needs { return UTF8Bytes.string(b).map { .success($0) } }
        var out = [UInt8]()
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            let c = b[i]
            if c == 0x5C && i + 1 < b.count {
                let d = b[i + 1]
                switch d {
                case 0x6E: out.append(0x0A)
                case 0x5C: out.append(0x5C)
                case 0x22: out.append(0x22)
                default: out.append(0x5C); out.append(d)  // 0.0.4 keeps unknown escapes in HELP verbatim
                }
                i += 2
            } else {
                out.append(c)
                i += 1
            }
        }
        return UTF8Bytes.string(out).map { .success($0) }
    }

    // MARK: - Samples

    @inline(__always) static func isNameStart(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || c == 0x5F || c == 0x3A
    }

    @inline(__always) static func isNameChar(_ c: UInt8) -> Bool { isNameStart(c) || (c >= 0x30 && c <= 0x39) }

    mutating func sample() throws(IngestError) {
        let nameStart = pos
        guard Self.isNameStart(buf[pos]) else { throw fail(.syntax, "expected a metric name") }
        while pos < lineEnd && Self.isNameChar(buf[pos]) { pos += 1 }
        let nameRange = nameStart..<pos
        let name: String
        if nameRange.count == lastNameBytes.count && memEqual(nameRange, lastNameBytes) {
            name = lastName
        } else {
            name = String(decoding: UnsafeRawBufferPointer(rebasing: buf[nameRange]), as: UTF8.self)
            lastName = name
        }
        lastNameBytes = nameRange
        labels.removeAll(keepingCapacity: true)
        labels.append(Label(Labels.metricNameLabel, name))
        skipBlanks()
        if pos < lineEnd && buf[pos] == 0x7B {  // '{'
            pos += 1
            try labelSet()
        }
        // value
        guard pos < lineEnd, isBlank(buf[pos]) || pos > nameRange.upperBound else {
            throw fail("expected a value after the metric name")
        }
        skipBlanks()
        let vStart = pos
        while pos < lineEnd && !isBlank(buf[pos]) { pos += 1 }
        guard pos > vStart else { throw fail(.syntax, "missing value") }
        guard let value = Numbers.parseDouble(UnsafeRawBufferPointer(rebasing: buf[vStart..<pos])) else {
            throw fail(.badValue, "invalid value \"\(String(decoding: UnsafeRawBufferPointer(rebasing: buf[vStart..<pos]).prefix(40), as: UTF8.self))\"", at: vStart)
        }
        skipBlanks()
        var ts = defaultTimestamp
        if pos < lineEnd && buf[pos] != 0x23 {
            let tStart = pos
            while pos < lineEnd && !isBlank(buf[pos]) { pos += 1 }
            let tb = UnsafeRawBufferPointer(rebasing: buf[tStart..<pos])
            let parsed: Int64?
            if flavor == .openMetrics {
                if let secs = Numbers.parseInt64(tb) {
                    let (m, o) = secs.multipliedReportingOverflow(by: 1000)
                    parsed = o ? nil : m
                } else {
                    parsed = Numbers.parseDouble(tb).flatMap { Numbers.secondsToMillis($0) }
                }
            } else {
                parsed = Numbers.parseInt64(tb)
            }
            guard let t = parsed else {
                throw fail(.badValue, "invalid timestamp \"\(String(decoding: tb.prefix(40), as: UTF8.self))\"", at: tStart)
            }
            ts = t
            skipBlanks()
        }
        if pos < lineEnd {
            if flavor == .openMetrics && buf[pos] == 0x23 {
                result.stats.exemplars += 1
                result.stats.skip(.exemplar)
            } else {
                throw fail("unexpected text after the sample")
            }
        }
        if hasHistogramOrSummary { try checkHistogramLabels(name) }
        let l = try checks.finish(&labels, at: "line \(lineNo)", line: lineNo)
        result.stats.samples += 1
        if let last = result.series.last, last.labels == l {
            result.series[result.series.count - 1].append(ts, value)
        } else {
            result.series.append(SeriesSamples(labels: l, timestamps: [ts], values: [value]))
        }
    }

    func checkHistogramLabels(_ name: String) throws(IngestError) {
        func requireFloat(_ label: String) throws(IngestError) {
            guard let v = labels.first(where: { $0.name == label })?.value else {
                throw fail(.syntax, "\(name) sample has no \"\(label)\" label", at: lineStart)
            }
            guard Numbers.parseDouble(Array(v.utf8)) != nil else {
                throw fail(.badValue, "\(name) has a non-numeric \(label)=\"\(v.prefix(40))\"", at: lineStart)
            }
        }
        if name.hasSuffix("_bucket"), let k = metaIndex[String(name.dropLast(7))],
           result.metadata[k].type == .histogram || result.metadata[k].type == .gaugehistogram {
            try requireFloat("le")
        } else if let k = metaIndex[name], result.metadata[k].type == .summary {
            try requireFloat("quantile")
        }
    }

    mutating func labelSet() throws(IngestError) {
        while true {
            skipBlanks()
            guard pos < lineEnd else { throw fail("unterminated label set (missing \"}\")") }
            if buf[pos] == 0x7D { pos += 1; return }  // '}'
            let nStart = pos
            guard buf[pos] != 0x3A && Self.isNameStart(buf[pos]) else { throw fail("expected a label name") }
            while pos < lineEnd && Self.isNameChar(buf[pos]) && buf[pos] != 0x3A { pos += 1 }
            let lname = String(decoding: UnsafeRawBufferPointer(rebasing: buf[nStart..<pos]), as: UTF8.self)
            skipBlanks()
            guard pos < lineEnd, buf[pos] == 0x3D else { throw fail("expected \"=\" after label name \"\(lname)\"") }
            pos += 1
            skipBlanks()
            guard pos < lineEnd, buf[pos] == 0x22 else { throw fail("expected '\"' to start the value of label \"\(lname)\"") }
            pos += 1
            let vStart = pos
            var hasEscape = false
            while pos < lineEnd && buf[pos] != 0x22 {
                if buf[pos] == 0x5C { hasEscape = true; pos += 1 }
                pos += 1
            }
            guard pos < lineEnd else { throw fail("unterminated value of label \"\(lname)\"", at: vStart - 1) }
            let raw = UnsafeRawBufferPointer(rebasing: buf[vStart..<pos])
            pos += 1  // closing quote
            let value: String
            if hasEscape {
                value = try unescapeLabelValue(raw, start: vStart, label: lname)
            } else {
                guard let s = UTF8Bytes.string(raw) else {
                    throw fail(.invalidUTF8, "value of label \"\(lname)\" is not valid UTF-8", at: vStart)
                }
                value = s
            }
            for l in labels where l.name == lname {
                throw fail(.duplicateLabel, "duplicate label name \"\(lname)\"", at: nStart)
            }
            if labels.count >= checks.limits.maxLabelsPerSeries {
                throw fail(.limit, "more than \(checks.limits.maxLabelsPerSeries) labels in one series", at: nStart)
            }
            labels.append(Label(lname, value))
            skipBlanks()
            guard pos < lineEnd else { throw fail("unterminated label set (missing \"}\")") }
            if buf[pos] == 0x2C { pos += 1; continue }
            if buf[pos] == 0x7D { pos += 1; return }
            throw fail("expected \",\" or \"}\" after the value of label \"\(lname)\"")
        }
    }

    func unescapeLabelValue(_ b: UnsafeRawBufferPointer, start: Int, label: String) throws(IngestError) -> String {
        var out = [UInt8]()
        out.reserveCapacity(b.count)
        var i = 0
        while i < b.count {
            let c = b[i]
            if c == 0x5C {
                let d = i + 1 < b.count ? b[i + 1] : 0
                switch d {
                case 0x6E: out.append(0x0A)
                case 0x5C: out.append(0x5C)
                case 0x22: out.append(0x22)
                default: throw fail("invalid escape sequence in the value of label \"\(label)\"", at: start + i)
                }
                i += 2
            } else {
                out.append(c)
                i += 1
            }
        }
        guard let s = UTF8Bytes.string(out) else {
            throw fail(.invalidUTF8, "value of label \"\(label)\" is not valid UTF-8", at: start)
        }
        return s
    }

    // MARK: - Byte helpers

    func equal(_ b: UnsafeRawBufferPointer, _ s: StaticString) -> Bool {
        guard b.count == s.utf8CodeUnitCount else { return false }
        let p = s.utf8Start
        for i in 0..<b.count where b[i] != p[i] { return false }
        return true
    }

    func memEqual(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
        guard a.count == b.count else { return false }
        var i = a.lowerBound
        var j = b.lowerBound
        while i < a.upperBound {
            if buf[i] != buf[j] { return false }
            i += 1
            j += 1
        }
        return true
    }
}

extension String {
    func trimmingBlanks() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
