import Foundation
import Testing
import VigilCore
@testable import VigilQuery

/// Deeply nested and very long queries are refused with a clear error, never a stack overflow.
struct BoundedQueryTests {
    static let depthMessage = "query nesting depth exceeds 256"

    static func repeated(_ s: String, _ n: Int) -> String { String(repeating: s, count: n) }

    @Test(arguments: [
        repeated("(", 10_000) + "1" + repeated(")", 10_000),
        repeated("(", 10_000),
        repeated("abs(", 10_000) + "up" + repeated(")", 10_000),
        repeated("1^", 100_000) + "1",
        repeated("1+", 20_000) + "1",
        repeated("-", 10_000) + "1",
        repeated("sum(", 5_000) + "up" + repeated(")", 5_000),
        repeated("max_over_time(", 1_000) + "up" + repeated("[5m:])", 1_000),
    ])
    func deepQueriesAreAParseError(_ q: String) {
        #expect(throws: ParseError.self) { try Parser.parse(q) }
        do { _ = try Parser.parse(q) } catch {
            #expect(error.message == BoundedQueryTests.depthMessage, "\(error.message)")
        }
        // Through the engine: bad_data (HTTP 400).
        let engine = Engine(reader: InMemorySeriesReader([]))
        #expect(throws: QueryError.self) { try engine.instantQuery(q, at: 0) }
        do { _ = try engine.instantQuery(q, at: 0) } catch {
            #expect(error.httpStatus == 400)
            #expect(error.description.contains(BoundedQueryTests.depthMessage))
        }
    }

    @Test func queriesJustUnderTheLimitStillWork() throws {
        let engine = Engine(reader: InMemorySeriesReader([]))
        // 255 levels of parentheses around a number: 256 nodes.
        let parens = BoundedQueryTests.repeated("(", 255) + "7" + BoundedQueryTests.repeated(")", 255)
        guard case .scalar(_, let v) = try engine.instantQuery(parens, at: 0) else { Issue.record("not a scalar"); return }
        #expect(v == 7)
        // A 200-term sum is a left-deep tree of height 200.
        let sum = Array(repeating: "1", count: 200).joined(separator: " + ")
        guard case .scalar(_, let s) = try engine.instantQuery(sum, at: 0) else { Issue.record("not a scalar"); return }
        #expect(s == 200)
        // Printing and re-parsing a deep (but allowed) tree works.
        let e = try Parser.parse(parens)
        #expect(try Parser.parse(e.description).description == e.description)
    }

    /// Precedence and associativity of the explicit-stack reduction match Prometheus'.
    @Test(arguments: [
        ("2 ^ 3 ^ 2", 512.0), ("2 ^ 2 ^ 3 ^ 0", 4), ("-2 ^ 2", -4), ("1 - 2 - 3", -4), ("100 / 10 / 5", 2),
        ("1 + 2 * 3 ^ 2 - 4 / 2", 17), ("2 * 3 % 4", 2), ("1 + 2 == bool 3", 1), ("1 - -1 ^ 2", 2),
        ("2 ^ -1", 0.5), ("(1 + 2) * (3 + 4) ^ 2", 147), ("1 < bool 2 + 3", 1), ("10 - 2 ^ 2 * 2", 2),
    ])
    func precedence(_ q: String, _ want: Double) throws {
        let engine = Engine(reader: InMemorySeriesReader([]))
        guard case .scalar(_, let v) = try engine.instantQuery(q, at: 0) else { Issue.record("not a scalar"); return }
        #expect(v == want, "\(q)")
    }

    @Test func sameTreeAsThePrinterShows() throws {
        #expect(try Parser.parse("a + b * c - d").description == "a + b * c - d")
        guard case .binary(.sub, let l, _, _) = try Parser.parse("a + b * c - d") else { Issue.record("not a - at the top"); return }
        guard case .binary(.add, _, let r, _) = l, case .binary(.mul, _, _, _) = r else { Issue.record("wrong tree"); return }
        guard case .binary(.pow, _, let r2, _) = try Parser.parse("a ^ b ^ c"), case .binary(.pow, _, _, _) = r2 else {
            Issue.record("^ is not right-associative"); return
        }
        guard case .binary(.or, let l3, _, _) = try Parser.parse("a and b or c unless d"),
              case .binary(.and, _, _, _) = l3 else { Issue.record("and/or precedence"); return }
    }

    @Test func longQueriesAreRefusedNamingTheLimit() {
        var o = QueryOptions()
        o.maxQueryLength = 1000
        let q = Array(repeating: "1", count: 600).joined(separator: "+")
        #expect(throws: QueryError.self) { try Engine.parse(q, options: o) }
        do { _ = try Engine.parse(q, options: o) } catch {
            #expect(error.httpStatus == 400)
            #expect(error.description.contains("limit of 1000 bytes"), "\(error)")
        }
    }

    /// The query timeout covers parsing: a parse past its deadline is a timeout (503), not bad_data.
    @Test func parsingHonoursTheDeadline() {
        let q = Array(repeating: "up", count: 20_000).joined(separator: " or ")
        let past = ContinuousClock.now.advanced(by: .seconds(-1))
        #expect(throws: QueryError.timeout("query timed out in query parsing")) {
            try Engine.parse(q, options: QueryOptions(), deadline: past)
        }
    }

    /// A tree built in code (not by the parser) deeper than the limit is refused by the evaluator.
    @Test func evaluatorRefusesDeepTrees() {
        var e = Expr.number(1)
        for _ in 0..<400 { e = .paren(e) }
        let engine = Engine(reader: InMemorySeriesReader([]))
        #expect(throws: QueryError.self) { try engine.instantQuery(e, at: 0) }
        do { _ = try engine.instantQuery(e, at: 0) } catch {
            #expect(error.httpStatus == 400)
            #expect(error.description.contains("nesting depth"))
        }
    }

    /// Parsing is linear: the parser's work (tokens consumed) for n terms grows as n, not n².
    @Test func lexingIsLinearInTheQueryLength() throws {
        for n in [1_000, 10_000, 100_000] {
            var lexer = Lexer(Array(repeating: "1", count: n).joined(separator: "+"))
            let toks = try lexer.tokenize()
            #expect(toks.count == 2 * n) // n numbers, n - 1 operators, eof
        }
    }
}

struct DateFunctionTests {
    static func value(_ q: String, at t: Int64 = 0) throws -> Double? {
        let engine = Engine(reader: InMemorySeriesReader([]))
        guard case .vector(let v) = try engine.instantQuery(q, at: t), v.count == 1 else { return nil }
        return v[0].v
    }

    @Test(arguments: [
        ("year(vector(1709164800))", 2024.0), ("month(vector(1709164800))", 2), ("day_of_month(vector(1709164800))", 29),
        ("days_in_month(vector(1709164800))", 29), ("days_in_month(vector(1675209600))", 28), // 2023-02-01
        ("days_in_month(vector(951782400))", 29), ("days_in_month(vector(4107456000))", 28), // 2000, 2100
        ("day_of_year(vector(1735603200))", 366), // 2024-12-31
        ("day_of_week(vector(0))", 4), ("hour(vector(3599))", 0), ("minute(vector(3599))", 59), ("hour(vector(3600))", 1),
        ("year(vector(-1))", 1969), ("month(vector(-1))", 12), ("day_of_month(vector(-1))", 31), ("hour(vector(-1))", 23),
        ("year(vector(-62135596801))", 0), ("year(vector(NaN))", 292_277_026_596), ("days_in_month(vector(NaN))", 31),
        ("day_of_year(vector(NaN))", 339), ("year(vector(9.3e15))", 294_707_238),
    ])
    func knownDates(_ q: String, _ want: Double) throws {
        #expect(try DateFunctionTests.value(q) == want, "\(q)")
    }

    @Test func withoutArgumentItIsTheEvaluationTime() throws {
        // 2023-11-14T22:13:20Z
        #expect(try DateFunctionTests.value("year()", at: 1_700_000_000_000) == 2023)
        #expect(try DateFunctionTests.value("hour()", at: 1_700_000_000_000) == 22)
        #expect(try DateFunctionTests.value("minute()", at: 1_700_000_000_000) == 13)
    }

    @Test func metricNameIsDropped() throws {
        let r = InMemorySeriesReader([SeriesSamples(labels: Labels(["__name__": "t", "a": "b"]), timestamps: [0], values: [86400])])
        guard case .vector(let v) = try Engine(reader: r).instantQuery("day_of_month(t)", at: 0) else { Issue.record("no vector"); return }
        #expect(v.count == 1)
        #expect(v.first?.labels == Labels(["a": "b"]))
        #expect(v.first?.v == 2)
    }

    /// Every day from 1600 to 2400 agrees with the proleptic Gregorian calendar (VigilCore's CivilTime).
    @Test func agreesWithTheCalendarForEightCenturies() {
        let first = CivilTime.daysFromCivil(year: 1600, month: 1, day: 1)
        let last = CivilTime.daysFromCivil(year: 2400, month: 12, day: 31)
        var bad = 0
        for d in stride(from: first, through: last, by: 1) {
            let f = GoTime.fields(unixSeconds: d * 86400 + 43_210)
            let c = CivilTime.civilFromDays(d)
            if f.year != c.year || f.month != c.month || f.day != c.day
                || GoTime.daysInMonth(f) != CivilTime.daysInMonth(year: Int(c.year), month: c.month) { bad += 1 }
        }
        #expect(bad == 0)
    }
}
