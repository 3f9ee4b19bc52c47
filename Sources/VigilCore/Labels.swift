/// A label: one name/value pair of a series' identity.
public struct Label: Hashable, Sendable, Comparable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }

    public static func < (a: Label, b: Label) -> Bool {
        a.name != b.name ? a.name < b.name : a.value < b.value
    }
}

/// Why a label set is not a valid series identity.
public enum LabelError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidName(String)
    case emptyValue(name: String)
    case duplicateName(String)
    case missingMetricName
    case invalidMetricName(String)

    public var description: String {
        switch self {
        case .invalidName(let n): return "invalid label name \"\(n)\" (must match [a-zA-Z_][a-zA-Z0-9_]*)"
        case .emptyValue(let n): return "label \"\(n)\" has an empty value"
        case .duplicateName(let n): return "duplicate label name \"\(n)\""
        case .missingMetricName: return "series has no __name__ label"
        case .invalidMetricName(let n): return "invalid metric name \"\(n)\" (must match [a-zA-Z_:][a-zA-Z0-9_:]*)"
        }
    }
}

/// The identity of a series: labels sorted by name, no duplicates, `__name__` included.
///
/// `Labels` is always kept sorted by name; `validate()` checks the Prometheus rules
/// (names `[a-zA-Z_][a-zA-Z0-9_]*`, non-empty values, unique names).
public struct Labels: Hashable, Sendable, Comparable, Sequence, CustomStringConvertible {
    public private(set) var labels: [Label]

    public static let metricNameLabel = "__name__"

    /// Builds a label set from pairs in any order (sorted here). Duplicates are kept so that `validate()` reports them.
    public init(_ labels: [Label]) {
        self.labels = labels.sorted()
    }

    public init(_ pairs: [(String, String)]) {
        self.init(pairs.map { Label($0.0, $0.1) })
    }

    public init(_ dict: [String: String]) {
        self.init(dict.map { Label($0.key, $0.value) })
    }

    /// Already sorted by name, unique (caller's promise; checked in debug builds).
    public init(sorted: [Label]) {
        assert(zip(sorted, sorted.dropFirst()).allSatisfy { $0.name < $1.name }, "labels not sorted")
        self.labels = sorted
    }

    public static let empty = Labels(sorted: [])

    public var count: Int { labels.count }
    public var isEmpty: Bool { labels.isEmpty }
    public func makeIterator() -> IndexingIterator<[Label]> { labels.makeIterator() }

    public subscript(name: String) -> String? {
        for l in labels where l.name == name { return l.value }
        return nil
    }

    public var metricName: String? { self[Labels.metricNameLabel] }

    /// Sets (or with an empty value, removes) a label, keeping the order.
    public mutating func set(_ name: String, _ value: String) {
        if let i = labels.firstIndex(where: { $0.name >= name }) {
            if labels[i].name == name {
                if value.isEmpty { labels.remove(at: i) } else { labels[i].value = value }
            } else if !value.isEmpty {
                labels.insert(Label(name, value), at: i)
            }
        } else if !value.isEmpty {
            labels.append(Label(name, value))
        }
    }

    public func setting(_ name: String, _ value: String) -> Labels {
        var c = self
        c.set(name, value)
        return c
    }

    public func removing(_ names: Set<String>) -> Labels {
        Labels(sorted: labels.filter { !names.contains($0.name) })
    }

    public func keeping(_ names: Set<String>) -> Labels {
        Labels(sorted: labels.filter { names.contains($0.name) })
    }

    public var withoutMetricName: Labels { removing([Labels.metricNameLabel]) }

    /// Checks the Prometheus rules. Values are Swift strings and hence valid UTF-8 already;
    /// decoders must reject invalid UTF-8 bytes before building a `Label`.
    public func validate(requireMetricName: Bool = true) throws(LabelError) {
        var previous: String? = nil
        var sawName = false
        for l in labels {
            if l.name == previous { throw .duplicateName(l.name) }
            previous = l.name
            if !Labels.isValidLabelName(l.name) { throw .invalidName(l.name) }
            if l.value.isEmpty { throw .emptyValue(name: l.name) }
            if l.name == Labels.metricNameLabel {
                sawName = true
                if !Labels.isValidMetricName(l.value) { throw .invalidMetricName(l.value) }
            }
        }
        if requireMetricName && !sawName { throw .missingMetricName }
    }

    public static func isValidLabelName(_ s: String) -> Bool {
        var first = true
        for b in s.utf8 {
            let ok = (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || b == 0x5F || (!first && b >= 0x30 && b <= 0x39)
            if !ok { return false }
            first = false
        }
        return !first
    }

    public static func isValidMetricName(_ s: String) -> Bool {
        var first = true
        for b in s.utf8 {
            let ok = (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || b == 0x5F || b == 0x3A
                || (!first && b >= 0x30 && b <= 0x39)
            if !ok { return false }
            first = false
        }
        return !first
    }

    public static func < (a: Labels, b: Labels) -> Bool {
        let n = Swift.min(a.labels.count, b.labels.count)
        for i in 0..<n where a.labels[i] != b.labels[i] {
            if a.labels[i].name != b.labels[i].name { return a.labels[i].name < b.labels[i].name }
            return a.labels[i].value < b.labels[i].value
        }
        return a.labels.count < b.labels.count
    }

    /// Prometheus' text form: `name{a="b", c="d"}`.
    public var description: String {
        var out = metricName ?? ""
        let rest = labels.filter { $0.name != Labels.metricNameLabel }
        if rest.isEmpty && !out.isEmpty { return out }
        out += "{"
        out += rest.map { "\($0.name)=\"\(Labels.escape($0.value))\"" }.joined(separator: ", ")
        out += "}"
        return out
    }

    public static func escape(_ v: String) -> String {
        var s = ""
        s.reserveCapacity(v.utf8.count)
        for c in v {
            switch c {
            case "\\": s += "\\\\"
            case "\"": s += "\\\""
            case "\n": s += "\\n"
            default: s.append(c)
            }
        }
        return s
    }

    /// Stable 64-bit FNV-1a hash of the label set (same across runs and processes).
    public var stableHash: UInt64 {
        var h: UInt64 = 0xcbf29ce484222325
        for l in labels {
            for b in l.name.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
            h = (h ^ 0xff) &* 0x100000001b3
            for b in l.value.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
            h = (h ^ 0xfe) &* 0x100000001b3
        }
        return h
    }
}
