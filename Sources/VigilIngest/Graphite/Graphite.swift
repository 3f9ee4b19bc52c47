import VigilCore

/// Graphite plaintext protocol (carbon's line receiver): `path value timestamp`, one metric per line, fields separated
/// by spaces or tabs. Tagged paths (`path;tag=value;tag2=value2`) carry labels.
///
/// - The path becomes the metric name with every character outside `[a-zA-Z0-9_:]` replaced by `_`
///   (`servers.web-1.cpu` → `servers_web_1_cpu`); tags become labels (`NameSanitizer.labelName`).
/// - Value: a float (`NaN`/`Inf` accepted as in the text format).
/// - Timestamp: Unix seconds, integer or fractional; missing, `-1` or `N` → `defaultTimestamp`.
/// Errors name the line and column (1-based, in bytes).
public enum Graphite {
    public static func parse(_ body: [UInt8], defaultTimestamp: Int64, limits: IngestLimits = .default) throws(IngestError) -> ParseResult {
        try withUnsafeBytesTyped(body) { (b) throws(IngestError) in try parse(b, defaultTimestamp: defaultTimestamp, limits: limits) }
    }

    public static func parse(_ buf: UnsafeRawBufferPointer, defaultTimestamp: Int64, limits: IngestLimits = .default) throws(IngestError) -> ParseResult {
        var result = ParseResult()
        let checks = LabelChecks(limits: limits)
        var lineNo = 0
        var i = 0
        let n = buf.count
        var labels: [Label] = []
        while i < n {
            lineNo += 1
            let lineStart = i
            var e = i
            while e < n && buf[e] != 0x0A { e += 1 }
            var lineEnd = e
            if lineEnd > lineStart && buf[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            i = e + 1
            // Split into whitespace-separated fields (with their start offsets).
            var fields: [Range<Int>] = []
            var p = lineStart
            while p < lineEnd {
                while p < lineEnd && (buf[p] == 0x20 || buf[p] == 0x09) { p += 1 }
                let s = p
                while p < lineEnd && buf[p] != 0x20 && buf[p] != 0x09 { p += 1 }
                if p > s { fields.append(s..<p) }
            }
            if fields.isEmpty { continue }
            func fail(_ code: IngestError.Code, _ reason: String, at pos: Int) -> IngestError {
                let col = pos - lineStart + 1
                return IngestError(code, "line \(lineNo) column \(col): \(reason)", line: lineNo, column: col)
            }
            guard fields.count >= 2 else { throw fail(.syntax, "expected \"path value [timestamp]\"", at: lineEnd) }
            guard fields.count <= 3 else { throw fail(.syntax, "unexpected text after the timestamp", at: fields[3].lowerBound) }
            // Path and tags.
            let pathRange = fields[0]
            guard let pathText = UTF8Bytes.string(UnsafeRawBufferPointer(rebasing: buf[pathRange])) else {
                throw fail(.invalidUTF8, "metric path is not valid UTF-8", at: pathRange.lowerBound)
            }
            var parts = pathText.split(separator: ";", omittingEmptySubsequences: false)
            let path = String(parts.removeFirst())
            let name = NameSanitizer.metricName(path)
            guard !name.isEmpty else { throw fail(.syntax, "empty metric path", at: pathRange.lowerBound) }
            labels.removeAll(keepingCapacity: true)
            labels.append(Label(Labels.metricNameLabel, name))
            for t in parts {
                guard let eq = t.firstIndex(of: "="), eq != t.startIndex else {
                    throw fail(.syntax, "tag \"\(t.prefix(40))\" is not name=value", at: pathRange.lowerBound)
                }
                let tn = NameSanitizer.labelName(String(t[..<eq]))
                for l in labels where l.name == tn {
                    throw fail(.duplicateLabel, "duplicate tag \"\(tn)\"", at: pathRange.lowerBound)
                }
                labels.append(Label(tn, String(t[t.index(after: eq)...])))
            }
            let vr = fields[1]
            guard let v = Numbers.parseDouble(UnsafeRawBufferPointer(rebasing: buf[vr])) else {
                throw fail(.badValue, "invalid value \"\(String(decoding: UnsafeRawBufferPointer(rebasing: buf[vr]).prefix(40), as: UTF8.self))\"", at: vr.lowerBound)
            }
            var ts = defaultTimestamp
            if fields.count == 3 {
                let tr = fields[2]
                let tb = UnsafeRawBufferPointer(rebasing: buf[tr])
                if !(tb.count == 1 && tb[0] == 0x4E) && !(tb.count == 2 && tb[0] == 0x2D && tb[1] == 0x31) {
                    guard let secs = Numbers.parseDouble(tb), let ms = Numbers.secondsToMillis(secs) else {
                        throw fail(.badValue, "invalid timestamp \"\(String(decoding: tb.prefix(40), as: UTF8.self))\"", at: tr.lowerBound)
                    }
                    ts = ms
                }
            }
            let l = try checks.finish(&labels, at: "line \(lineNo)", line: lineNo)
            result.stats.samples += 1
            if let last = result.series.last, last.labels == l {
                result.series[result.series.count - 1].append(ts, v)
            } else {
                result.series.append(SeriesSamples(labels: l, timestamps: [ts], values: [v]))
            }
        }
        return result
    }
}
