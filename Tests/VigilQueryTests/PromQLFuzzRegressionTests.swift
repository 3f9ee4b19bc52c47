import Testing
import VigilQuery

/// Inputs the `promql` fuzz target (Fuzz/, docs/fuzzing.md) found breaking the print → parse round trip.
@Suite struct PromQLFuzzRegressionTests {
    /// `0++bool` parses with `bool` as a metric name under a unary plus; the printer drops the unary plus and
    /// prints `0 + bool`, which no longer parses (`bool` is then the comparison modifier). Prometheus lexes
    /// `bool` as a keyword everywhere, so it rejects `0++bool`. Either answer is fine here: reject the query,
    /// or print it so that it parses back the same. Not fixed in the fuzz branch (VigilQuery belongs to the
    /// parser hardening work): recorded as a known issue, which fails this test once the parser is fixed so the
    /// wrapper gets removed.
    @Test func unaryPlusBoolRoundTrips() {
        withKnownIssue("fuzz finding: `0++bool` prints as `0 + bool`, which does not parse") {
            for q in ["0++bool", "0 + +Bool", "2 < b <= +bool + bob"] {
                guard let e = try? Parser.parse(q) else { continue }
                let printed = e.description
                let again = try? Parser.parse(printed)
                #expect(again?.description == printed, "\(q) printed as \(printed)")
            }
        }
    }
}
