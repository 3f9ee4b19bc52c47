import VigilCore

/// The type a PromQL expression evaluates to.
public enum ValueType: String, Sendable, Equatable {
    case scalar
    case vector
    case matrix
    case string

    /// The name Prometheus uses in messages and in `resultType`.
    public var documentedName: String {
        switch self {
        case .scalar: return "scalar"
        case .vector: return "instant vector"
        case .matrix: return "range vector"
        case .string: return "string"
        }
    }
}

/// The `@` modifier: a fixed timestamp (ms) or the query's start/end.
public enum AtModifier: Sendable, Equatable {
    case timestamp(Int64)
    case start
    case end
}

/// An instant vector selector: `name{matchers} offset d @ t`.
public struct VectorSelector: Sendable, Equatable {
    public var name: String?
    /// All matchers, including the `__name__` one implied by `name`.
    public var matchers: [LabelMatcher]
    /// Offset in milliseconds (negative allowed).
    public var offset: Int64 = 0
    public var at: AtModifier?

    public init(name: String?, matchers: [LabelMatcher], offset: Int64 = 0, at: AtModifier? = nil) {
        self.name = name
        self.matchers = matchers
        self.offset = offset
        self.at = at
    }
}

public enum AggregateOp: String, Sendable, CaseIterable {
    case sum, avg, min, max, count, stddev, stdvar, topk, bottomk, quantile, group
    case countValues = "count_values"

    var hasParam: Bool { self == .topk || self == .bottomk || self == .quantile || self == .countValues }
}

public enum BinaryOp: String, Sendable, CaseIterable {
    case add = "+", sub = "-", mul = "*", div = "/", mod = "%", pow = "^", atan2 = "atan2"
    case eql = "==", neq = "!=", gtr = ">", lss = "<", gte = ">=", lte = "<="
    case and = "and", or = "or", unless = "unless"

    /// Binding power; higher binds tighter (Prometheus' yacc precedence table).
    var precedence: Int {
        switch self {
        case .or: return 1
        case .and, .unless: return 2
        case .eql, .neq, .gtr, .lss, .gte, .lte: return 3
        case .add, .sub: return 4
        case .mul, .div, .mod, .atan2: return 5
        case .pow: return 6
        }
    }

    var isRightAssociative: Bool { self == .pow }
    public var isComparison: Bool {
        switch self {
        case .eql, .neq, .gtr, .lss, .gte, .lte: return true
        default: return false
        }
    }
    public var isSetOperator: Bool { self == .and || self == .or || self == .unless }
}

public enum MatchCardinality: String, Sendable, Equatable {
    case oneToOne, manyToOne, oneToMany, manyToMany
}

/// `bool`, `on`/`ignoring`, `group_left`/`group_right`.
public struct VectorMatching: Sendable, Equatable {
    public var card: MatchCardinality = .oneToOne
    /// Whether `on(...)` (true) or `ignoring(...)` (false) was given.
    public var on: Bool = false
    public var matchingLabels: [String] = []
    /// Labels listed in `group_left(...)` / `group_right(...)`.
    public var include: [String] = []
    /// `on`/`ignoring` written explicitly (for the printer).
    public var explicit: Bool = false
    public init() {}
}

public struct BinaryModifiers: Sendable, Equatable {
    public var returnBool = false
    public var matching: VectorMatching?
    public init() {}
}

/// A PromQL expression.
public indirect enum Expr: Sendable {
    case number(Double)
    case string(String)
    case vectorSelector(VectorSelector)
    /// `selector[range]`; offset and @ live on the selector.
    case matrixSelector(VectorSelector, range: Int64)
    case subquery(Subquery)
    case call(Function, [Expr])
    case aggregate(Aggregate)
    case binary(BinaryOp, Expr, Expr, BinaryModifiers)
    case unaryMinus(Expr)
    case paren(Expr)

    public var type: ValueType {
        switch self {
        case .number: return .scalar
        case .string: return .string
        case .vectorSelector: return .vector
        case .matrixSelector, .subquery: return .matrix
        case .call(let f, _): return f.returnType
        case .aggregate: return .vector
        case .binary(_, let l, let r, _):
            return (l.type == .scalar && r.type == .scalar) ? .scalar : .vector
        case .unaryMinus(let e), .paren(let e): return e.type
        }
    }
}

public struct Subquery: Sendable {
    public var expr: Expr
    public var range: Int64
    /// 0 means "the default evaluation interval".
    public var step: Int64
    public var offset: Int64 = 0
    public var at: AtModifier?
}

public struct Aggregate: Sendable {
    public var op: AggregateOp
    public var expr: Expr
    public var param: Expr?
    public var grouping: [String]
    public var without: Bool
    /// `by`/`without` written (even if empty), for the printer.
    public var hasGrouping: Bool
}
