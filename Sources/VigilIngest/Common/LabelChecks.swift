import VigilCore

/// Turns a parser's raw label list into a validated, sorted `Labels`.
///
/// Rules (Prometheus'): a label with an empty value is the same as no label and is dropped; names
/// match `[a-zA-Z_][a-zA-Z0-9_]*`; `__name__` is present and matches `[a-zA-Z_:][a-zA-Z0-9_:]*`;
/// no name twice; and the configured `IngestLimits`.
struct LabelChecks {
    let limits: IngestLimits

    /// - Parameters:
    ///   - labels: labels in any order (reordered in place).
    ///   - where: the series' position for the message (`"timeseries #3"`, `"line 7"`).
    ///   - series: the series index recorded in the error, if any.
    func finish(_ labels: inout [Label], at place: @autoclosure () -> String, series: Int? = nil,
                line: Int? = nil) throws(IngestError) -> Labels {
        labels.removeAll(where: { $0.value.isEmpty })
        func fail(_ code: IngestError.Code, _ reason: String) -> IngestError {
            let shown = Labels(labels).description
            return IngestError(code, "\(place()) \(shown.prefix(200)): \(reason)", line: line, series: series)
        }
        if labels.count > limits.maxLabelsPerSeries {
            throw fail(.limit, "\(labels.count) labels exceed the limit of \(limits.maxLabelsPerSeries) per series")
        }
        var sorted = true
        var previous: Label? = nil
        for l in labels {
            if l.name.utf8.count > limits.maxLabelNameLength {
                throw fail(.limit, "label name \"\(l.name.prefix(64))…\" is \(l.name.utf8.count) bytes, over the limit of \(limits.maxLabelNameLength)")
            }
            if l.value.utf8.count > limits.maxLabelValueLength {
                throw fail(.limit, "value of label \"\(l.name)\" is \(l.value.utf8.count) bytes, over the limit of \(limits.maxLabelValueLength)")
            }
            if let p = previous, !(p.name < l.name) { sorted = false }
            previous = l
        }
        if !sorted { labels.sort { $0.name < $1.name } }
        var sawName = false
        for i in labels.indices {
            let l = labels[i]
            if i > 0 && labels[i - 1].name == l.name { throw fail(.duplicateLabel, "duplicate label name \"\(l.name)\"") }
            if l.name == Labels.metricNameLabel {
                sawName = true
                if !Labels.isValidMetricName(l.value) {
                    throw fail(.invalidLabel, "invalid metric name \"\(l.value.prefix(200))\" (must match [a-zA-Z_:][a-zA-Z0-9_:]*)")
                }
            } else if !Labels.isValidLabelName(l.name) {
                throw fail(.invalidLabel, "invalid label name \"\(l.name.prefix(200))\" (must match [a-zA-Z_][a-zA-Z0-9_]*)")
            }
        }
        if !sawName { throw fail(.invalidLabel, "series has no metric name (__name__)") }
        return Labels(sorted: labels)
    }
}

/// Name sanitising shared by the formats whose names are not Prometheus names (Influx, OTLP, Graphite, StatsD).
public enum NameSanitizer {
    /// Every byte outside `[a-zA-Z0-9_:]` becomes `_` (a multi-byte UTF-8 character becomes one `_`);
    /// a leading digit gets a `_` prefix. The empty string stays empty (callers reject it).
    public static func metricName(_ s: String) -> String { sanitize(s, allowColon: true, digitPrefix: "_") }

    /// Same for label names, where `:` is not allowed either; a leading digit gets `key_` (as Prometheus' OTLP translator does).
    public static func labelName(_ s: String) -> String { sanitize(s, allowColon: false, digitPrefix: "key_") }

    static func sanitize(_ s: String, allowColon: Bool, digitPrefix: String) -> String {
        var fast = true
        var first = true
        for b in s.utf8 {
            if !isNameByte(b, allowColon: allowColon, first: first) { fast = false; break }
            first = false
        }
        if fast { return s }
        var out = [UInt8]()
        out.reserveCapacity(s.utf8.count + 4)
        for b in s.utf8 {
            if b >= 0xC0 || b < 0x80 {  // ASCII or the lead byte of a multi-byte character
                out.append(isNameByte(b, allowColon: allowColon, first: false) ? b : 0x5F)
            }
        }
        if let f = out.first, f >= 0x30 && f <= 0x39 { out.insert(contentsOf: Array(digitPrefix.utf8), at: 0) }
        return String(decoding: out, as: UTF8.self)
    }

    @inline(__always)
    static func isNameByte(_ b: UInt8, allowColon: Bool, first: Bool) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || b == 0x5F || (allowColon && b == 0x3A)
            || (!first && b >= 0x30 && b <= 0x39)
    }
}

// MARK: - UTF-8 helpers

enum UTF8Bytes {
    /// A `String` from bytes that must be valid UTF-8; nil when they are not.
    @inline(__always)
    static func string(_ buf: UnsafeRawBufferPointer) -> String? {
        var ascii = true
        for b in buf where b >= 0x80 { ascii = false; break }
        if ascii { return String(decoding: buf, as: UTF8.self) }
        return String(validating: buf, as: UTF8.self)
    }

    static func string(_ bytes: [UInt8]) -> String? {
        bytes.withUnsafeBytes { string($0) }
    }
}
