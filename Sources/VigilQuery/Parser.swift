import VigilCore

/// Limits one parse: nesting depth and a deadline (the query timeout covers parsing).
public struct ParseLimits: Sendable {
    /// Deepest expression tree accepted: every operator, call, aggregation, parenthesis, unary minus and
    /// subquery is one level. Deeper queries are a parse error, never a stack overflow.
    public var maxDepth: Int = 256
    /// Parsing stops with `ParseError.timedOut` after this instant (nil: no deadline).
    public var deadline: ContinuousClock.Instant?
    public init(maxDepth: Int = 256, deadline: ContinuousClock.Instant? = nil) {
        self.maxDepth = maxDepth
        self.deadline = deadline
    }
}

/// Precedence-climbing PromQL parser (Prometheus 2.42 grammar). Binary-operator chains are reduced on an
/// explicit operand/operator stack (no recursion per operator, `^` right-associative); parentheses, calls,
/// aggregations and unary minus recurse, bounded by `ParseLimits.maxDepth`. Linear in the query length.
/// Never crashes on input: every problem is a `ParseError` with a position.
public struct Parser {
    private var tokens: [Token]
    private var i = 0
    private let query: String
    private let bytes: [UInt8]
    private let limits: ParseLimits
    /// Current recursion depth (parseExpr calls on the Swift stack).
    private var nesting = 0

    /// A parsed expression and the height of its tree.
    struct Parsed {
        var expr: Expr
        var height: Int
    }

    public static func parse(_ query: String, limits: ParseLimits = ParseLimits()) throws(ParseError) -> Expr {
        var lexer = Lexer(query)
        lexer.deadline = limits.deadline
        let toks = try lexer.tokenize()
        var p = Parser(tokens: toks, query: query, bytes: lexer.bytes, limits: limits)
        if p.peek.kind == .eof { throw p.err("no expression found in input", p.peek) }
        let e = try p.parseExpr(0)
        if p.peek.kind != .eof { throw p.err("unexpected \(p.peek.describe)", p.peek) }
        return e.expr
    }

    private init(tokens: [Token], query: String, bytes: [UInt8], limits: ParseLimits) {
        self.tokens = tokens
        self.query = query
        self.bytes = bytes
        self.limits = limits
    }

    /// A node one level above its children; refused beyond the depth limit.
    private func node(_ e: Expr, over h: Int, _ t: Token) throws(ParseError) -> Parsed {
        if h + 1 > limits.maxDepth { throw depthError(t) }
        return Parsed(expr: e, height: h + 1)
    }

    private func depthError(_ t: Token) -> ParseError {
        err("query nesting depth exceeds \(limits.maxDepth)", t)
    }

    private var peek: Token { tokens[i] }
    private func peekAt(_ o: Int) -> Token { tokens[min(i + o, tokens.count - 1)] }
    private mutating func advance() -> Token {
        let t = tokens[i]
        if i < tokens.count - 1 { i += 1 }
        return t
    }

    private func checkDeadline() throws(ParseError) {
        if let d = limits.deadline, ContinuousClock.now > d { throw ParseError.timedOut(query) }
    }

    private func err(_ msg: String, _ t: Token) -> ParseError { ParseError(query: query, position: t.pos, message: msg) }
    private func err(_ msg: String, at p: Int) -> ParseError { ParseError(query: query, position: p, message: msg) }

    private mutating func expect(_ k: TokenKind, _ context: String) throws(ParseError) -> Token {
        guard peek.kind == k else { throw err("unexpected \(peek.describe) in \(context)", peek) }
        return advance()
    }

    private var keyword: String? {
        (peek.kind == .identifier) ? peek.text.lowercased() : nil
    }

    // MARK: binary expressions

    private func binaryOp(_ t: Token) -> BinaryOp? {
        switch t.kind {
        case .add: return .add
        case .sub: return .sub
        case .mul: return .mul
        case .div: return .div
        case .mod: return .mod
        case .pow: return .pow
        case .eql: return .eql
        case .neq: return .neq
        case .gtr: return .gtr
        case .lss: return .lss
        case .gte: return .gte
        case .lte: return .lte
        case .identifier:
            switch t.text.lowercased() {
            case "and": return .and
            case "or": return .or
            case "unless": return .unless
            case "atan2": return .atan2
            default: return nil
            }
        default: return nil
        }
    }

    private struct PendingOp {
        var op: BinaryOp
        var mods: BinaryModifiers
        var matching: VectorMatching?
        var token: Token
    }

    /// An expression whose binary operators all bind at least as tight as `minPrec`. Operators are shifted onto
    /// `ops` and reduced when the next one binds looser (or as loose, left-associative), so a chain of any
    /// length uses constant stack.
    mutating func parseExpr(_ minPrec: Int) throws(ParseError) -> Parsed {
        nesting += 1
        defer { nesting -= 1 }
        if nesting > limits.maxDepth { throw depthError(peek) }
        try checkDeadline()
        var operands: [Parsed] = [try parseUnary()]
        var ops: [PendingOp] = []
        func reduce(_ operands: inout [Parsed], _ ops: inout [PendingOp]) throws(ParseError) {
            let o = ops.removeLast()
            let rhs = operands.removeLast()
            let lhs = operands.removeLast()
            let e = try makeBinary(o.op, lhs.expr, rhs.expr, o.mods, o.matching, o.token)
            operands.append(try node(e, over: max(lhs.height, rhs.height), o.token))
        }
        while let op = binaryOp(peek), op.precedence >= minPrec {
            let opTok = advance()
            var mods = BinaryModifiers()
            var matching: VectorMatching?
            if keyword == "bool" {
                _ = advance()
                mods.returnBool = true
            }
            if keyword == "on" || keyword == "ignoring" {
                var m = VectorMatching()
                m.on = advance().text.lowercased() == "on"
                m.explicit = true
                m.matchingLabels = try parseLabelList("grouping opts")
                if keyword == "group_left" || keyword == "group_right" {
                    m.card = advance().text.lowercased() == "group_left" ? .manyToOne : .oneToMany
                    if peek.kind == .leftParen { m.include = try parseLabelList("grouping opts") }
                }
                matching = m
            } else if keyword == "group_left" || keyword == "group_right" {
                throw err("unexpected <group_left/group_right> without on/ignoring", peek)
            }
            while let top = ops.last,
                  top.op.precedence > op.precedence || (top.op.precedence == op.precedence && !op.isRightAssociative) {
                try reduce(&operands, &ops)
            }
            ops.append(PendingOp(op: op, mods: mods, matching: matching, token: opTok))
            if ops.count > limits.maxDepth { throw depthError(opTok) }
            operands.append(try parseUnary())
        }
        while !ops.isEmpty { try reduce(&operands, &ops) }
        return operands[0]
    }

    private func makeBinary(_ op: BinaryOp, _ lhs: Expr, _ rhs: Expr, _ mods0: BinaryModifiers,
                            _ matching: VectorMatching?, _ t: Token) throws(ParseError) -> Expr {
        var mods = mods0
        let lt = lhs.type, rt = rhs.type
        if (lt != .scalar && lt != .vector) || (rt != .scalar && rt != .vector) {
            throw err("binary expression must contain only scalar and instant vector types", t)
        }
        if mods.returnBool && !op.isComparison {
            throw err("bool modifier can only be used on comparison operators", t)
        }
        if op.isComparison && lt == .scalar && rt == .scalar && !mods.returnBool {
            throw err("comparisons between scalars must use BOOL modifier", t)
        }
        if op.isSetOperator && (lt == .scalar || rt == .scalar) {
            throw err("set operator \"\(op.rawValue)\" not allowed in binary scalar expression", t)
        }
        if matching != nil && (lt != .vector || rt != .vector) {
            throw err("vector matching only allowed between instant vectors", t)
        }
        if lt == .vector && rt == .vector {
            var m = matching ?? VectorMatching()
            if op.isSetOperator {
                if m.card == .oneToMany || m.card == .manyToOne {
                    throw err("no grouping allowed for \"\(op.rawValue)\" operation", t)
                }
                m.card = .manyToMany
            }
            if m.on {
                let set = Set(m.matchingLabels)
                for l in m.include where set.contains(l) {
                    throw err("label \"\(l)\" must not occur in ON and GROUP clause at once", t)
                }
            }
            mods.matching = m
        }
        return .binary(op, lhs, rhs, mods)
    }

    private mutating func parseUnary() throws(ParseError) -> Parsed {
        if peek.kind == .sub || peek.kind == .add {
            let t = advance()
            let p = try parseExpr(BinaryOp.pow.precedence)
            let e = p.expr
            if e.type != .scalar && e.type != .vector {
                throw err("unary expression only allowed on expressions of type scalar or instant vector, got \"\(e.type.documentedName)\"", t)
            }
            if t.kind == .add { return p }
            if case .number(let v) = e { return Parsed(expr: .number(-v), height: p.height) }
            return try node(.unaryMinus(e), over: p.height, t)
        }
        let e = try parsePrimary()
        return try parsePostfix(e)
    }

    // MARK: postfix: ranges, subqueries, offset, @

    private mutating func parsePostfix(_ p0: Parsed) throws(ParseError) -> Parsed {
        var e = p0.expr
        var height = p0.height
        while true {
            if peek.kind == .leftBracket {
                let lb = advance()
                let rangeTok = advance()
                guard rangeTok.kind == .duration else {
                    throw err("unexpected \(rangeTok.describe) in subquery or range selector, expected duration", rangeTok)
                }
                if peek.kind == .colon {
                    _ = advance()
                    var step: Int64 = 0
                    if peek.kind == .duration { step = advance().durationMs }
                    _ = try expect(.rightBracket, "subquery selector")
                    if e.type != .vector {
                        throw err("subquery is only allowed on instant vector, got \(e.type.documentedName) instead", lb)
                    }
                    if rangeTok.durationMs == 0 { throw err("duration must be greater than 0", rangeTok) }
                    if height + 1 > limits.maxDepth { throw depthError(lb) }
                    height += 1
                    e = .subquery(Subquery(expr: e, range: rangeTok.durationMs, step: step))
                } else {
                    _ = try expect(.rightBracket, "range selector")
                    guard case .vectorSelector(let vs) = e else {
                        throw err("ranges only allowed for vector selectors", lb)
                    }
                    if vs.offset != 0 || vs.at != nil { throw err("no offset modifiers allowed before range", lb) }
                    if rangeTok.durationMs == 0 { throw err("duration must be greater than 0", rangeTok) }
                    e = .matrixSelector(vs, range: rangeTok.durationMs)
                }
            } else if keyword == "offset" {
                let t = advance()
                var sign: Int64 = 1
                if peek.kind == .sub { _ = advance(); sign = -1 } else if peek.kind == .add { _ = advance() }
                let d = advance()
                guard d.kind == .duration else { throw err("unexpected \(d.describe) in offset, expected duration", d) }
                e = try setOffset(e, sign * d.durationMs, t)
            } else if peek.kind == .at {
                let t = advance()
                let at: AtModifier
                if keyword == "start" || keyword == "end" {
                    let isStart = advance().text.lowercased() == "start"
                    _ = try expect(.leftParen, "@ modifier")
                    _ = try expect(.rightParen, "@ modifier")
                    at = isStart ? .start : .end
                } else {
                    var sign = 1.0
                    if peek.kind == .sub { _ = advance(); sign = -1 } else if peek.kind == .add { _ = advance() }
                    let n = advance()
                    guard n.kind == .number else { throw err("unexpected \(n.describe) in @, expected timestamp", n) }
                    let v = sign * n.number
                    guard v.isFinite, abs(v) < 9.2e15 else {
                        throw err("timestamp out of bounds for @ modifier: \(v)", n)
                    }
                    at = .timestamp(Int64((v * 1000).rounded(.toNearestOrAwayFromZero)))
                }
                e = try setAt(e, at, t)
            } else {
                return Parsed(expr: e, height: height)
            }
        }
    }

    private func setOffset(_ e: Expr, _ off: Int64, _ t: Token) throws(ParseError) -> Expr {
        switch e {
        case .vectorSelector(var vs):
            if vs.offset != 0 { throw err("offset may not be set multiple times", t) }
            vs.offset = off
            return .vectorSelector(vs)
        case .matrixSelector(var vs, let r):
            if vs.offset != 0 { throw err("offset may not be set multiple times", t) }
            vs.offset = off
            return .matrixSelector(vs, range: r)
        case .subquery(var s):
            if s.offset != 0 { throw err("offset may not be set multiple times", t) }
            s.offset = off
            return .subquery(s)
        default:
            throw err("offset modifier must be preceded by an instant vector selector or range vector selector or a subquery", t)
        }
    }

    private func setAt(_ e: Expr, _ at: AtModifier, _ t: Token) throws(ParseError) -> Expr {
        switch e {
        case .vectorSelector(var vs):
            if vs.at != nil { throw err("@ <timestamp> may not be set multiple times", t) }
            vs.at = at
            return .vectorSelector(vs)
        case .matrixSelector(var vs, let r):
            if vs.at != nil { throw err("@ <timestamp> may not be set multiple times", t) }
            vs.at = at
            return .matrixSelector(vs, range: r)
        case .subquery(var s):
            if s.at != nil { throw err("@ <timestamp> may not be set multiple times", t) }
            s.at = at
            return .subquery(s)
        default:
            throw err("@ modifier must be preceded by an instant vector selector or range vector selector or a subquery", t)
        }
    }

    // MARK: primaries

    private mutating func parsePrimary() throws(ParseError) -> Parsed {
        let t = peek
        switch t.kind {
        case .number:
            _ = advance()
            return Parsed(expr: .number(t.number), height: 1)
        case .string:
            _ = advance()
            return Parsed(expr: .string(t.text), height: 1)
        case .leftParen:
            _ = advance()
            let p = try parseExpr(0)
            _ = try expect(.rightParen, "paren expression")
            return try node(.paren(p.expr), over: p.height, t)
        case .leftBrace:
            return try parseSelector(name: nil, nameTok: t)
        case .metricIdentifier:
            _ = advance()
            return try parseSelector(name: t.text, nameTok: t)
        case .identifier:
            let lower = t.text.lowercased()
            if let op = AggregateOp(rawValue: lower) {
                let n = peekAt(1)
                let nk = n.kind == .identifier ? n.text.lowercased() : ""
                if n.kind == .leftParen || nk == "by" || nk == "without" {
                    return try parseAggregate(op)
                }
            }
            if peekAt(1).kind == .leftParen {
                guard let f = Function.all[t.text] else {
                    throw err("unknown function with name \"\(t.text)\"", t)
                }
                _ = advance()
                return try parseCall(f, t)
            }
            _ = advance()
            return try parseSelector(name: t.text, nameTok: t)
        case .eof:
            throw err("unexpected end of input", t)
        default:
            throw err("unexpected \(t.describe)", t)
        }
    }

    private mutating func parseCall(_ f: Function, _ nameTok: Token) throws(ParseError) -> Parsed {
        _ = try expect(.leftParen, "function call")
        var args: [Expr] = []
        var height = 0
        if peek.kind != .rightParen {
            while true {
                let a = try parseExpr(0)
                height = max(height, a.height)
                args.append(a.expr)
                if peek.kind == .comma {
                    _ = advance()
                    continue
                }
                break
            }
        }
        _ = try expect(.rightParen, "function call argument list")
        // arity
        let n = f.argTypes.count
        if f.variadic == 0 {
            if args.count != n {
                throw err("expected \(n) argument(s) in call to \"\(f.name)\", got \(args.count)", nameTok)
            }
        } else if f.variadic > 0 {
            if args.count < n - f.variadic {
                throw err("expected at least \(n - f.variadic) argument(s) in call to \"\(f.name)\", got \(args.count)", nameTok)
            }
            if args.count > n {
                throw err("expected at most \(n) argument(s) in call to \"\(f.name)\", got \(args.count)", nameTok)
            }
        } else if args.count < n - 1 {
            throw err("expected at least \(n - 1) argument(s) in call to \"\(f.name)\", got \(args.count)", nameTok)
        }
        for (k, a) in args.enumerated() {
            let want = f.argTypes[min(k, n - 1)]
            if a.type != want {
                throw err("expected type \(want.documentedName) in call to function \"\(f.name)\", got \(a.type.documentedName)", nameTok)
            }
        }
        return try node(.call(f, args), over: height, nameTok)
    }

    private mutating func parseAggregate(_ op: AggregateOp) throws(ParseError) -> Parsed {
        let opTok = advance()
        var grouping: [String] = []
        var without = false
        var hasGrouping = false
        if keyword == "by" || keyword == "without" {
            without = advance().text.lowercased() == "without"
            grouping = try parseLabelList("grouping opts")
            hasGrouping = true
        }
        _ = try expect(.leftParen, "aggregation")
        var args: [Expr] = []
        var height = 0
        if peek.kind != .rightParen {
            while true {
                let a = try parseExpr(0)
                height = max(height, a.height)
                args.append(a.expr)
                if peek.kind == .comma { _ = advance(); continue }
                break
            }
        }
        _ = try expect(.rightParen, "aggregation")
        if keyword == "by" || keyword == "without" {
            if hasGrouping { throw err("unexpected \(peek.describe): grouping given twice", peek) }
            without = advance().text.lowercased() == "without"
            grouping = try parseLabelList("grouping opts")
            hasGrouping = true
        }
        let wantArgs = op.hasParam ? 2 : 1
        if args.count != wantArgs {
            if op.hasParam && args.count < 2 {
                throw err("wrong number of arguments for aggregate expression provided, expected \(wantArgs), got \(args.count)", opTok)
            }
            throw err("wrong number of arguments for aggregate expression provided, expected \(wantArgs), got \(args.count)", opTok)
        }
        let expr = args[wantArgs - 1]
        if expr.type != .vector {
            throw err("expected type instant vector in aggregation expression, got \(expr.type.documentedName)", opTok)
        }
        var param: Expr?
        if op.hasParam {
            let want: ValueType = op == .countValues ? .string : .scalar
            if args[0].type != want {
                throw err("expected type \(want.documentedName) in aggregation parameter, got \(args[0].type.documentedName)", opTok)
            }
            param = args[0]
        }
        return try node(.aggregate(Aggregate(op: op, expr: expr, param: param, grouping: grouping,
                                             without: without, hasGrouping: hasGrouping)), over: height, opTok)
    }

    private mutating func parseLabelList(_ context: String) throws(ParseError) -> [String] {
        _ = try expect(.leftParen, context)
        var out: [String] = []
        while peek.kind != .rightParen {
            let t = advance()
            guard t.kind == .identifier else { throw err("unexpected \(t.describe) in \(context), expected label", t) }
            out.append(t.text)
            if peek.kind == .comma { _ = advance(); continue }
            if peek.kind != .rightParen { throw err("unexpected \(peek.describe) in \(context), expected \",\" or \")\"", peek) }
        }
        _ = advance()
        return out
    }

    /// The `{…}` of a selector is read by the one selector parser (VigilCore's `SelectorParser`), from the
    /// query's bytes; the tokens it covered are skipped.
    private mutating func parseSelector(name: String?, nameTok: Token) throws(ParseError) -> Parsed {
        var matchers: [LabelMatcher] = []
        if let name { matchers.append(.equal(Labels.metricNameLabel, name)) }
        if peek.kind == .leftBrace {
            let (ms, end): ([LabelMatcher], Int)
            do {
                (ms, end) = try SelectorParser.matcherList(bytes, from: peek.pos, metricName: name, input: query)
            } catch {
                throw err(error.reason, at: error.position)
            }
            matchers += ms
            while peek.kind != .eof && peek.pos < end { _ = advance() }
        }
        if !matchers.contains(where: { !$0.matchesEmpty }) {
            throw err("vector selector must contain at least one non-empty matcher", nameTok)
        }
        return Parsed(expr: .vectorSelector(VectorSelector(name: name, matchers: matchers)), height: 1)
    }
}
