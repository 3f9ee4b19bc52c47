import Testing
import VigilCore

@Suite struct LabelsTests {
    @Test func sortsAndValidates() throws {
        let l = Labels(["job": "api", "__name__": "up", "instance": "a:1"])
        #expect(l.labels.map(\.name) == ["__name__", "instance", "job"])
        try l.validate()
        #expect(l.description == "up{instance=\"a:1\", job=\"api\"}")
    }

    @Test(arguments: [
        ([("__name__", "x"), ("1bad", "v")], LabelError.invalidName("1bad")),
        ([("__name__", "x"), ("a", "")], LabelError.emptyValue(name: "a")),
        ([("__name__", "x"), ("a", "1"), ("a", "2")], LabelError.duplicateName("a")),
        ([("a", "1")], LabelError.missingMetricName),
        ([("__name__", "a-b")], LabelError.invalidMetricName("a-b")),
    ])
    func rejectsInvalid(pairs: [(String, String)], expected: LabelError) {
        #expect(throws: expected) { try Labels(pairs).validate() }
    }

    @Test func setAndRemove() {
        var l = Labels(["__name__": "m", "b": "2"])
        l.set("a", "1")
        l.set("c", "3")
        #expect(l.labels.map(\.name) == ["__name__", "a", "b", "c"])
        l.set("b", "")
        #expect(l["b"] == nil)
        #expect(l.withoutMetricName.metricName == nil)
    }

    @Test func stableHashDiffersAcrossSplits() {
        // "ab","c" must not collide with "a","bc"
        #expect(Labels(["ab": "c"]).stableHash != Labels(["a": "bc"]).stableHash)
        #expect(Labels(["x": "1"]).stableHash == Labels(["x": "1"]).stableHash)
    }

    @Test func matchersAreAnchored() throws {
        let m = try LabelMatcher(.regexMatch, "job", "api")
        #expect(m.matches("api"))
        #expect(!m.matches("api-2"))
        let m2 = try LabelMatcher(.regexMatch, "job", "api.*|web")
        #expect(m2.matches("api-2") && m2.matches("web") && !m2.matches("xweb"))
        let m3 = try LabelMatcher(.regexNoMatch, "job", "a|b")
        #expect(m3.matches("c") && !m3.matches("a"))
        #expect(m3.literalAlternatives == ["a", "b"])
        let absent = try LabelMatcher(.regexMatch, "zone", ".*")
        #expect(absent.matches(Labels(["__name__": "x"])))
        #expect(throws: MatcherError.self) { try LabelMatcher(.regexMatch, "a", "(") }
    }

    @Test func staleNaN() {
        #expect(Double.staleNaN.isNaN && Double.staleNaN.isStaleNaN && !Double.nan.isStaleNaN)
    }

    @Test(arguments: [("1h30m", Int64(5_400_000)), ("15d", 1_296_000_000), ("500ms", 500), ("1m30s500ms", 90_500)])
    func durations(s: String, ms: Int64) throws {
        #expect(try DurationParser.milliseconds(s) == ms)
        #expect(try DurationParser.milliseconds(DurationParser.format(ms)) == ms)
    }

    @Test(arguments: ["", "1", "m", "30m1h", "1.5h", "1h1h"])
    func badDurations(s: String) {
        #expect(throws: DurationParser.ParseError.self) { try DurationParser.milliseconds(s) }
    }
}
