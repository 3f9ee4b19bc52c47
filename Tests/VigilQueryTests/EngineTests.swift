import Foundation
import Testing
import VigilCore
@testable import VigilQuery

/// Engine semantics without Prometheus (cases from Prometheus' promqltest testdata and its docs).
struct EngineTests {
    static func series(_ name: String, _ labels: [String: String], every: Int64, _ values: [Double?]) -> SeriesSamples {
        var l = labels
        l["__name__"] = name
        var s = SeriesSamples(labels: Labels(l))
        for (i, v) in values.enumerated() {
            if let v { s.append(Int64(i) * every, v) }
        }
        return s
    }

    static let m = 60_000 as Int64

    // load 5m http_requests{path="/foo"} 0+10x10, {path="/bar"} 0+10x5 0+10x4 (a reset)
    static let engine = Engine(reader: InMemorySeriesReader([
        series("http_requests", ["path": "/foo"], every: 5 * m, (0...10).map { Double($0 * 10) }),
        series("http_requests", ["path": "/bar"], every: 5 * m, (0...5).map { Double($0 * 10) } + (0...4).map { Double($0 * 10) }),
        series("gauge", ["g": "a"], every: m, [1, 2, 3, .staleNaN, nil, nil, nil, 7]),
        series("gauge", ["g": "b"], every: m, [5, nil, nil, nil, nil, nil, nil, nil, nil, 9]),
    ]))

    func vector(_ q: String, at t: Int64) throws -> [String: Double] {
        guard case .vector(let v) = try EngineTests.engine.instantQuery(q, at: t) else {
            Issue.record("not a vector")
            return [:]
        }
        var out: [String: Double] = [:]
        for s in v { out[s.labels.description] = s.v }
        return out
    }

    @Test func rateAndIncreaseExtrapolate() throws {
        // 100 over 50m, samples exactly at both window edges: no extrapolation beyond them
        #expect(try vector("rate(http_requests{path=\"/foo\"}[50m])", at: 50 * EngineTests.m) == ["{path=\"/foo\"}": 100.0 / 3000])
        // counter reset on /bar (0..50, then 0..40): increase 50 + 40 = 90
        #expect(try vector("increase(http_requests{path=\"/bar\"}[50m])", at: 50 * EngineTests.m) == ["{path=\"/bar\"}": 90])
        // delta does not treat decreases as resets
        #expect(try vector("delta(http_requests{path=\"/bar\"}[50m])", at: 50 * EngineTests.m) == ["{path=\"/bar\"}": 40])
        // window [20m, 45m] of /foo: 6 samples 40..90 spanning 25m, edges on samples: 50 / 1500 s,
        // at 47m the window [22m, 47m] holds 25m..45m (5 samples, 20m): extrapolated by 2m at each end (< 1.1 x 5m)
        #expect(try vector("rate(http_requests{path=\"/foo\"}[25m])", at: 45 * EngineTests.m) == ["{path=\"/foo\"}": 50.0 / 1500])
        #expect(try vector("increase(http_requests{path=\"/foo\"}[25m])", at: 47 * EngineTests.m) == ["{path=\"/foo\"}": 40.0 * (1500.0 / 1200)])
        // fewer than two samples: no result
        #expect(try vector("rate(http_requests[4m])", at: 50 * EngineTests.m).isEmpty)
    }

    @Test func lookbackAndStaleness() throws {
        // the stale marker at 3m ends g="a" at once; g="b" lasts 5 minutes after its sample at 0
        #expect(try vector("gauge", at: 2 * EngineTests.m) == ["gauge{g=\"a\"}": 3, "gauge{g=\"b\"}": 5])
        #expect(try vector("gauge", at: 3 * EngineTests.m) == ["gauge{g=\"b\"}": 5])
        #expect(try vector("gauge", at: 5 * EngineTests.m) == ["gauge{g=\"b\"}": 5])
        #expect(try vector("gauge", at: 5 * EngineTests.m + 1).isEmpty)
        #expect(try vector("gauge", at: 7 * EngineTests.m) == ["gauge{g=\"a\"}": 7])
        // range functions skip stale markers
        #expect(try vector("count_over_time(gauge{g=\"a\"}[10m])", at: 9 * EngineTests.m) == ["{g=\"a\"}": 4])
    }

    @Test func rangeQueryIsVectorisedPerStep() throws {
        guard case .matrix(let m) = try EngineTests.engine.rangeQuery("gauge", start: 0, end: 10 * EngineTests.m, step: EngineTests.m) else {
            Issue.record("not a matrix")
            return
        }
        #expect(m.map(\.labels.description) == ["gauge{g=\"a\"}", "gauge{g=\"b\"}"])
        #expect(m[0].timestamps == [0, 1, 2, 7, 8, 9, 10].map { $0 * EngineTests.m })
        #expect(m[1].values == [5, 5, 5, 5, 5, 5, 9, 9])
    }

    @Test func metricNameDropping() throws {
        #expect(try vector("gauge{g=\"b\"} * 2", at: 0).keys.first == "{g=\"b\"}")
        #expect(try vector("gauge{g=\"b\"} > 1", at: 0).keys.first == "gauge{g=\"b\"}")
        #expect(try vector("gauge{g=\"b\"} > bool 1", at: 0).keys.first == "{g=\"b\"}")
        #expect(try vector("last_over_time(gauge{g=\"b\"}[1m])", at: 0).keys.first == "gauge{g=\"b\"}")
        #expect(try vector("max_over_time(gauge{g=\"b\"}[1m])", at: 0).keys.first == "{g=\"b\"}")
    }

    @Test func matchingErrors() throws {
        #expect(throws: QueryError.execution("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)")) {
            try EngineTests.engine.instantQuery("gauge + on() gauge{g=\"a\"}", at: 0)
        }
        #expect(throws: QueryError.self) { try EngineTests.engine.instantQuery("gauge{g=\"a\"} + on() gauge", at: 0) }
        #expect(throws: QueryError.execution("vector cannot contain metrics with the same labelset")) {
            try EngineTests.engine.instantQuery("label_replace(gauge, \"g\", \"x\", \"g\", \".*\")", at: 0)
        }
    }

    @Test func scalarResultsAndLimits() throws {
        guard case .scalar(let t, let v) = try EngineTests.engine.instantQuery("1 + 1", at: 5000) else {
            Issue.record("not a scalar")
            return
        }
        #expect(t == 5000 && v == 2)
        var o = QueryOptions()
        o.maxSamples = 5
        let small = Engine(reader: EngineTests.engine.reader, options: o)
        #expect(throws: QueryError.execution("query processing would load too many samples into memory in query execution")) {
            try small.rangeQuery("http_requests", start: 0, end: 50 * EngineTests.m, step: EngineTests.m)
        }
        #expect(throws: QueryError.self) { try EngineTests.engine.rangeQuery("gauge", start: 0, end: 20_000_000, step: 1) }
        #expect(throws: QueryError.self) { try EngineTests.engine.rangeQuery("gauge[5m]", start: 0, end: 1, step: 1) }
    }

    @Test func goNumberFormatting() {
        #expect(GoFormat.formatF(0.1) == "0.1")
        #expect(GoFormat.formatF(1e21) == "1000000000000000000000")
        #expect(GoFormat.formatF(1.5e-7) == "0.00000015")
        #expect(GoFormat.formatF(-2) == "-2")
        #expect(GoFormat.formatF(.infinity) == "+Inf")
        #expect(GoFormat.formatV(1e6) == "1e+06")
        #expect(GoFormat.formatV(123456) == "123456")
        #expect(GoFormat.formatV(0.0001) == "0.0001")
        #expect(GoFormat.formatV(0.00001) == "1e-05")
        #expect(GoFormat.timestamp(1_500) == "1.500")
        #expect(GoFormat.timestamp(1_050) == "1.050")
        #expect(GoFormat.timestamp(-1_005) == "-1.005")
        #expect(GoFormat.timestamp(2_000) == "2")
    }
}
