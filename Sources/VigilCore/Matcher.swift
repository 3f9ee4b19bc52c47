import Foundation

/// A label matcher as in PromQL selectors: `=`, `!=`, `=~`, `!~`.
/// Regexes are fully anchored, as in Prometheus (`job=~"api"` does not match `api-2`).
/// An absent label matches as the empty string, as in Prometheus.
public struct LabelMatcher: Sendable, Hashable, CustomStringConvertible {
    public enum MatchType: String, Sendable, Hashable {
        case equal = "="
        case notEqual = "!="
        case regexMatch = "=~"
        case regexNoMatch = "!~"
    }

    public let type: MatchType
    public let name: String
    public let value: String
    private let regex: RegexBox?

    public init(_ type: MatchType, _ name: String, _ value: String) throws(MatcherError) {
        self.type = type
        self.name = name
        self.value = value
        switch type {
        case .equal, .notEqual: regex = nil
        case .regexMatch, .regexNoMatch: regex = try RegexBox(value)
        }
    }

    public static func equal(_ name: String, _ value: String) -> LabelMatcher {
        // cannot throw for non-regex types
        try! LabelMatcher(.equal, name, value)
    }

    public func matches(_ s: String) -> Bool {
        switch type {
        case .equal: return s == value
        case .notEqual: return s != value
        case .regexMatch: return regex!.matches(s)
        case .regexNoMatch: return !regex!.matches(s)
        }
    }

    /// Whether the matcher selects series where the label is absent (matches "").
    public var matchesEmpty: Bool { matches("") }

    public func matches(_ labels: Labels) -> Bool { matches(labels[name] ?? "") }

    public var description: String { "\(name)\(type.rawValue)\"\(Labels.escape(value))\"" }

    public static func == (a: LabelMatcher, b: LabelMatcher) -> Bool {
        a.type == b.type && a.name == b.name && a.value == b.value
    }

    public func hash(into h: inout Hasher) {
        h.combine(type)
        h.combine(name)
        h.combine(value)
    }

    /// For `=~` with a plain alternation of literals (`a|b|c`), the literal set; nil otherwise.
    public var literalAlternatives: Set<String>? { regex?.literals }
}

public struct MatcherError: Error, Sendable, CustomStringConvertible {
    public let pattern: String
    public let reason: String
    public var description: String { "invalid regular expression \"\(pattern)\": \(reason)" }
}

/// Compiled, anchored regex. NSRegularExpression is immutable after creation and safe to share.
final class RegexBox: @unchecked Sendable {
    let re: NSRegularExpression?
    let literals: Set<String>?

    init(_ pattern: String) throws(MatcherError) {
        let meta = Set("\\^$.|?*+()[]{}")
        if !pattern.contains(where: { meta.contains($0) && $0 != "|" }) {
            literals = Set(pattern.split(separator: "|", omittingEmptySubsequences: false).map(String.init))
            re = nil
            return
        }
        literals = nil
        do {
            re = try NSRegularExpression(pattern: "^(?:" + pattern + ")$", options: [.dotMatchesLineSeparators])
        } catch {
            throw MatcherError(pattern: pattern, reason: "\(error.localizedDescription)")
        }
    }

    func matches(_ s: String) -> Bool {
        if let literals { return literals.contains(s) }
        let ns = s as NSString
        return re!.firstMatch(in: s, options: [.anchored], range: NSRange(location: 0, length: ns.length)) != nil
    }
}
