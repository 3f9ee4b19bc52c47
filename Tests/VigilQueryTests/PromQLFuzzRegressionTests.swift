import Testing
import VigilQuery

/// Inputs the `promql` fuzz target (Fuzz/, docs/fuzzing.md) found breaking the print → parse round trip.
@Suite struct PromQLFuzzRegressionTests {
    /// A keyword under a unary plus parses as a metric name (`0++bool`, `a * +on + b`); the printer drops the
    /// unary plus and prints `0 + bool` / `a * on + b`, which no longer parse (the keyword is then the bool
    /// modifier or a grouping). Prometheus lexes keywords as keywords everywhere, so it rejects these queries. Either answer is fine here: reject the query,
    /// or print it so that it parses back the same. Not fixed in the fuzz branch (VigilQuery belongs to the
    /// parser hardening work): recorded as a known issue, which fails this test once the parser is fixed so the
    /// wrapper gets removed.
    @Test func unaryPlusBoolRoundTrips() {
        withKnownIssue("fuzz finding: a keyword under a unary plus prints without it (`0++bool` → `0 + bool`) and does not parse back") {
            for q in ["0++bool", "0 + +Bool", "2 < b <= +bool + bob", "a * +on + b"] {
                guard let e = try? Parser.parse(q) else { continue }
                let printed = e.description
                let again = try? Parser.parse(printed)
                #expect(again?.description == printed, "\(q) printed as \(printed)")
            }
        }
    }

    /// 690 nested parentheses (`+sum((((…`) overflowed the stack in `Parser.parseUnary` under ASan; a release
    /// build overflows at some greater depth, and queries arrive over HTTP. The parser's nesting limit (256) now
    /// turns this into a ParseError.
    @Test
    func deepNestingIsAParseErrorNotAStackOverflow() {
        for q in [String(repeating: "(", count: 100_000) + "1" + String(repeating: ")", count: 100_000),
                  String(repeating: "-", count: 100_000) + "1",
                  "sum(" + String(repeating: "(", count: 100_000) + "up"] {
            #expect(throws: ParseError.self) { try Parser.parse(q) }
        }
    }
}
