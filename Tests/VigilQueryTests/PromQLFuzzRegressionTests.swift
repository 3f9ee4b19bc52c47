import Testing
import VigilQuery

/// Inputs the `promql` fuzz target (Fuzz/, docs/fuzzing.md) found breaking the print → parse round trip.
@Suite struct PromQLFuzzRegressionTests {
    /// A keyword under a unary plus parses as a metric name (`0++bool`, `a * +on + b`); the printer drops the
    /// unary plus, and used to print `0 + bool` / `a * on + b`, which read back as the bool modifier or a grouping
    /// and failed to parse. Prometheus lexes keywords as keywords everywhere, so it rejects these queries; either
    /// answer is fine here. The printer now parenthesises a right-hand side that starts with a modifier keyword.
    @Test
    func keywordUnderUnaryPlusPrintsSoThatItParsesBack() throws {
        for q in ["0++bool", "0 + +Bool", "2 < b <= +bool + bob", "a * +on + b", "x / +group_left", "y - +ignoring"] {
            let e = try Parser.parse(q)
            let printed = e.description
            let again = try Parser.parse(printed)
            #expect(again.description == printed, "\(q) printed as \(printed)")
        }
        #expect(try Parser.parse("0++bool").description == "0 + (bool)")
        #expect(try Parser.parse("a * +on + b").description == "a * (on) + b")
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
