import VigilCore

/// Recursive-descent / precedence-climbing PromQL parser (Prometheus 2.42 grammar).
/// Never crashes on input: every problem is a `ParseError` with a position.
public struct Parser {
    private var tokens: [Token]
    private var i = 0
    private let query: String

    public static func parse(_ query: String) throws(ParseError) -> Expr {
        var lexer = Lexer(query)
        let toks = try lexer.tokenize()
        var p = Parser(tokens: toks, query: query)
        if p.peek.kind == .eof { throw p.err("no expression found in input", p.peek) }
        let e = try p.parseExpr(0)
        if p.peek.kind != .eof { throw p.err("unexpected \(p.peek.describe)", p.peek) }
        return e
    }

    private init(tokens: [Token], query: String) {
        self.tokens = tokens
        self.query = query
    }

    private var peek: Token { tokens[i] }
    private func peekAt(_ o: Int) -> Token { tokens[min(i + o, tokens.count - 1)] }
    private mutating func advance() -> Token {
        let t = tokens[i]
        if i < tokens.count - 1 { i += 1 }
        return t
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

    mutating func parseExpr(_ minPrec: Int) throws(ParseError) -> Expr {
        var lhs = try parseUnary()
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
            let next = op.isRightAssociative ? op.precedence : op.precedence + 1
            let rhs = try parseExpr(next)
            lhs = try makeBinary(op, lhs, rhs, mods, matching, opTok)
        }
        return lhs
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

    private mutating func parseUnary() throws(ParseError) -> Expr {
        if peek.kind == .sub || peek.kind == .add {
            let t = advance()
            let e = try parseExpr(BinaryOp.pow.precedence)
            if e.type != .scalar && e.type != .vector {
                throw err("unary expression only allowed on expressions of type scalar or instant vector, got \"\(e.type.documentedName)\"", t)
            }
            if t.kind == .add { return e }
            if case .number(let v) = e { return .number(-v) }
            return .unaryMinus(e)
        }
        let e = try parsePrimary()
        return try parsePostfix(e)
    }

    // MARK: postfix: ranges, subqueries, offset, @

    private mutating func parsePostfix(_ e0: Expr) throws(ParseError) -> Expr {
        var e = e0
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
                return e
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

    private mutating func parsePrimary() throws(ParseError) -> Expr {
        let t = peek
        switch t.kind {
        case .number:
            _ = advance()
            return .number(t.number)
        case .string:
            _ = advance()
            return .string(t.text)
        case .leftParen:
            _ = advance()
            let e = try parseExpr(0)
            _ = try expect(.rightParen, "paren expression")
            return .paren(e)
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

    private mutating func parseCall(_ f: Function, _ nameTok: Token) throws(ParseError) -> Expr {
        _ = try expect(.leftParen, "function call")
        var args: [Expr] = []
        if peek.kind != .rightParen {
            while true {
                args.append(try parseExpr(0))
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
        return .call(f, args)
    }

    private mutating func parseAggregate(_ op: AggregateOp) throws(ParseError) -> Expr {
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
        if peek.kind != .rightParen {
            while true {
                args.append(try parseExpr(0))
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
        return .aggregate(Aggregate(op: op, expr: expr, param: param, grouping: grouping,
                                    without: without, hasGrouping: hasGrouping))
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

    private mutating func parseSelector(name: String?, nameTok: Token) throws(ParseError) -> Expr {
        var matchers: [LabelMatcher] = []
        if let name { matchers.append(.equal(Labels.metricNameLabel, name)) }
        if peek.kind == .leftBrace {
            _ = advance()
            while peek.kind != .rightBrace {
                let lt = advance()
                guard lt.kind == .identifier else { throw err("unexpected \(lt.describe) in label matching, expected label", lt) }
                let opTok = advance()
                let type: LabelMatcher.MatchType
                switch opTok.kind {
                case .assign: type = .equal
                case .neq: type = .notEqual
                case .eqlRegex: type = .regexMatch
                case .neqRegex: type = .regexNoMatch
                default: throw err("unexpected \(opTok.describe) in label matching, expected one of \"=\", \"!=\", \"=~\", \"!~\"", opTok)
                }
                let v = advance()
                guard v.kind == .string else { throw err("unexpected \(v.describe) in label matching, expected string", v) }
                if lt.text == Labels.metricNameLabel && name != nil {
                    throw err("metric name must not be set twice: \"\(name!)\" or \"\(v.text)\"", lt)
                }
                do {
                    matchers.append(try LabelMatcher(type, lt.text, v.text))
                } catch {
                    throw err("\(error)", v)
                }
                if peek.kind == .comma { _ = advance(); continue }
                if peek.kind != .rightBrace {
                    throw err("unexpected \(peek.describe) in label matching, expected \",\" or \"}\"", peek)
                }
            }
            _ = advance()
        }
        if !matchers.contains(where: { !$0.matchesEmpty }) {
            throw err("vector selector must contain at least one non-empty matcher", nameTok)
        }
        return .vectorSelector(VectorSelector(name: name, matchers: matchers))
    }
}
