import Testing
import VigilCore
@testable import VigilQuery

struct ParserTests {
    @Test(arguments: [
        ("0x1f", 31.0), ("1e3", 1000), (".5", 0.5), ("1.", 1), ("Inf", .infinity), ("-inf", -.infinity),
        ("2 ^ 3 ^ 2", 512), ("-2 ^ 2", -4), ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("10 % 3", 1),
        ("1 + -1", 0), ("--1", 1), ("2 * 3 - 1", 5), ("1 < bool 2", 1), ("010", 10), ("1e-2", 0.01),
    ])
    func numbers(_ q: String, _ want: Double) throws {
        let e = Engine(reader: InMemorySeriesReader([]))
        guard case .scalar(_, let v) = try e.instantQuery(q, at: 0) else {
            Issue.record("not a scalar")
            return
        }
        #expect(v == want || (v.isNaN && want.isNaN))
    }
}

struct ParserErrorTests {
    @Test(arguments: [
        ("sum(", "1:5: parse error: unexpected end of input"),
        ("foo{", "1:5: parse error: unexpected end of input in label matching, expected label"),
        ("rate(foo)", "1:1: parse error: expected type range vector in call to function \"rate\", got instant vector"),
        ("1 > 1", "1:3: parse error: comparisons between scalars must use BOOL modifier"),
        ("foo and 1", "1:5: parse error: set operator \"and\" not allowed in binary scalar expression"),
        ("nope(foo)", "1:1: parse error: unknown function with name \"nope\""),
        ("{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
        ("foo[5m] + 1", "1:9: parse error: binary expression must contain only scalar and instant vector types"),
        ("foo\n  + )", "2:5: parse error: unexpected \")\""),
        ("\"abc", "1:1: parse error: unterminated quoted string"),
        ("foo offset 5m offset 1m", "1:15: parse error: offset may not be set multiple times"),
        ("sum(foo) offset 5m", "1:10: parse error: offset modifier must be preceded by an instant vector selector or range vector selector or a subquery"),
        ("foo + on(a) group_left(a) bar", "1:5: parse error: label \"a\" must not occur in ON and GROUP clause at once"),
        ("foo[5x]", "1:5: parse error: bad number or duration syntax: \"5x\""),
        ("", "1:1: parse error: no expression found in input"),
        ("foo{a=\"\\q\"}", "1:8: parse error: unknown escape sequence"),
    ])
    func errorsCarryLineAndColumn(_ q: String, _ want: String) {
        #expect(throws: ParseError.self) { try Parser.parse(q) }
        do {
            _ = try Parser.parse(q)
        } catch {
            #expect(error.description == want)
        }
    }

    /// Random byte soup and mutations of valid queries never crash the parser.
    @Test func neverCrashesOnGarbage() throws {
        var rng = OracleData.SplitMix(state: 7)
        let seeds = try OracleTests.loadCorpus()
        let alphabet = Array("abcxyz_:019.eE+-*/%^()[]{},=!~<>@\"'`\\ \n#offsetbyonignoringgroup_leftbool5m1h")
        var parsed = 0
        for i in 0..<4000 {
            var q = Array(seeds[i % seeds.count])
            let edits = 1 + Int(rng.next() % 4)
            for _ in 0..<edits {
                let pos = q.isEmpty ? 0 : Int(rng.next() % UInt64(q.count))
                switch rng.next() % 3 {
                case 0: if !q.isEmpty { q.remove(at: pos) }
                case 1: q.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: pos)
                default: if !q.isEmpty { q[pos] = alphabet[Int(rng.next() % UInt64(alphabet.count))] }
                }
            }
            if (try? Parser.parse(String(q))) != nil { parsed += 1 }
        }
        #expect(parsed > 0)
    }
}

struct PrinterTests {
    @Test(arguments: [
        ("sum by(job)(rate(foo[5m]))", "sum by (job) (rate(foo[5m]))"),
        ("foo{a=\"b\",c=~\"d.*\"} offset 1h30m", "foo{a=\"b\", c=~\"d.*\"} offset 1h30m"),
        ("foo offset -5m", "foo offset -5m"),
        ("foo @ 100", "foo @ 100.000"),
        ("foo @ start()", "foo @ start()"),
        ("rate(foo[5m:1m])", "rate(foo[5m:1m])"),
        ("max_over_time(foo[10m:])", "max_over_time(foo[10m:])"),
        ("a + on(b) group_left(c) d", "a + on (b) group_left (c) d"),
        ("a > bool ignoring(x) b", "a > bool ignoring (x) b"),
        ("topk(5, foo) without (a)", "topk without (a) (5, foo)"),
        ("1e6", "1e+06"),
        ("-(1 + 2)", "-(1 + 2)"),
        ("label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")", "label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")"),
        ("{__name__=\"up\"}", "{__name__=\"up\"}"),
    ])
    func prints(_ q: String, _ want: String) throws {
        let e = try Parser.parse(q)
        #expect(e.description == want)
        // the printed form parses to something that prints the same
        #expect(try Parser.parse(e.description).description == want)
    }

    @Test func corpusRoundTrips() throws {
        for q in try OracleTests.loadCorpus() {
            guard let e = try? Parser.parse(q) else { continue }
            let p = e.description
            let again = try Parser.parse(p)
            #expect(again.description == p, "\(q)")
        }
    }
}
