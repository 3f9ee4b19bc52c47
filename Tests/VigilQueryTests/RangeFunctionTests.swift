import Foundation
import Testing
import VigilCore
@testable import VigilQuery

/// The range-function fast paths (windows without counter resets, selections split over two threads,
/// skipping the duplicate-labelset merge) against a plain transcription of Prometheus 2.42.
struct RangeFunctionTests {
    static let step: Int64 = 15_000

    /// 150 counters of 400 samples at 15 s; every fifth has resets at pseudo-random places, one
    /// has NaNs, some start late or stop early (so windows at the ends are partial or empty).
    static let data: [SeriesSamples] = {
        var rng = SplitMix(seed: 42)
        var out: [SeriesSamples] = []
        for i in 0..<150 {
            var s = SeriesSamples(labels: Labels(["__name__": "c_total", "id": String(format: "%03d", i), "grp": "g\(i % 7)"]))
            var v = Double(rng.next() % 1000)
            let first = i % 11 == 0 ? 40 : 0
            let last = i % 13 == 0 ? 300 : 400
            for k in first..<last {
                if i % 5 == 0 && rng.next() % 37 == 0 { v = Double(rng.next() % 50) }  // reset
                v += Double(rng.next() % 1000) / 7
                s.append(Int64(k) * step, i == 3 && k % 50 == 0 ? .nan : v)
            }
            out.append(s)
        }
        return out
    }()

    static let engine = Engine(reader: InMemorySeriesReader(data))

    /// Prometheus 2.42 `extrapolatedRate` over the samples in [t - range, t], written out plainly.
    static func referenceRate(_ s: SeriesSamples, t: Int64, range: Int64, counter: Bool, rate: Bool) -> Double? {
        func firstAtOrAfter(_ x: Int64) -> Int {  // binary search over the sorted timestamps
            var a = 0, b = s.timestamps.count
            while a < b {
                let m = (a + b) / 2
                if s.timestamps[m] < x { a = m + 1 } else { b = m }
            }
            return a
        }
        let lo = firstAtOrAfter(t - range), hi = firstAtOrAfter(t + 1) - 1
        guard hi - lo + 1 >= 2 else { return nil }
        let count = hi - lo + 1
        var result = s.values[hi] - s.values[lo]
        if counter {
            var prev = s.values[lo]
            for i in (lo + 1)...hi {
                if s.values[i] < prev { result += prev }
                prev = s.values[i]
            }
        }
        var toStart = Double(s.timestamps[lo] - (t - range)) / 1000
        let toEnd = Double(t - s.timestamps[hi]) / 1000
        let sampled = Double(s.timestamps[hi] - s.timestamps[lo]) / 1000
        let avg = sampled / Double(count - 1)
        if counter && result > 0 && s.values[lo] >= 0 {
            let toZero = sampled * (s.values[lo] / result)
            if toZero < toStart { toStart = toZero }
        }
        var extrapolate = sampled
        extrapolate += toStart < avg * 1.1 ? toStart : avg / 2
        extrapolate += toEnd < avg * 1.1 ? toEnd : avg / 2
        var factor = extrapolate / sampled
        if rate { factor /= Double(range) / 1000 }
        return result * factor
    }

    static func byLabels(_ r: QueryResult) -> [Labels: [Int64: Double]] {
        guard case .matrix(let m) = r else { return [:] }
        var out: [Labels: [Int64: Double]] = [:]
        for s in m { out[s.labels] = Dictionary(uniqueKeysWithValues: zip(s.timestamps, s.values)) }
        return out
    }

    static func same(_ a: Double, _ b: Double) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }

    @Test(arguments: ["rate", "increase", "delta"])
    func countersMatchTheReferenceAtEveryStep(_ fn: String) throws {
        let range: Int64 = 300_000
        // 1,198 steps × 150 series: large enough for the two-thread split
        let start: Int64 = 0, end: Int64 = 399 * RangeFunctionTests.step
        let got = RangeFunctionTests.byLabels(
            try RangeFunctionTests.engine.rangeQuery("\(fn)(c_total[5m])", start: start, end: end, step: 5_000))
        var checked = 0
        var withResets = 0
        for s in RangeFunctionTests.data {
            let key = s.labels.withoutMetricName
            let series = got[key] ?? [:]
            var t = start
            while t <= end {
                let want = RangeFunctionTests.referenceRate(s, t: t, range: range, counter: fn != "delta", rate: fn == "rate")
                let have = series[t]
                #expect((want == nil) == (have == nil), "\(fn) \(key) at \(t): \(String(describing: have)) vs \(String(describing: want))")
                if let want, let have {
                    #expect(RangeFunctionTests.same(want, have), "\(fn) \(key) at \(t): \(have) vs \(want)")
                    checked += 1
                }
                t += 5_000
            }
            if s.labels["id"].map({ Int($0)! % 5 == 0 }) == true { withResets += 1 }
        }
        #expect(checked > 100_000)
        #expect(withResets == 30)
        #expect(got.count == RangeFunctionTests.data.count)
    }

    @Test(arguments: ["rate(c_total[5m])", "avg_over_time(c_total[2m])", "max_over_time(c_total[90s])",
                      "last_over_time(c_total[1m])", "resets(c_total[10m])", "deriv(c_total[5m])"])
    func splitSelectionEqualsSeriesOneByOne(_ q: String) throws {
        let whole = RangeFunctionTests.byLabels(try RangeFunctionTests.engine.rangeQuery(q, start: 0, end: 6_000_000, step: 5_000))
        #expect(whole.count == RangeFunctionTests.data.count)
        for s in RangeFunctionTests.data {
            let id = s.labels["id"]!
            let one = q.replacingOccurrences(of: "c_total[", with: "c_total{id=\"\(id)\"}[")
            let single = RangeFunctionTests.byLabels(try RangeFunctionTests.engine.rangeQuery(one, start: 0, end: 6_000_000, step: 5_000))
            #expect(single.count == 1)
            for (labels, points) in single {
                let w = whole[labels] ?? [:]
                #expect(w.count == points.count, "\(q) \(labels)")
                for (t, v) in points { #expect(w[t].map { RangeFunctionTests.same($0, v) } == true, "\(q) \(labels) at \(t)") }
            }
        }
    }

    @Test func sameLabelsAfterDroppingTheNameStillFail() throws {
        // two metrics with the same other labels: rate() over both must report the collision
        let e = Engine(reader: InMemorySeriesReader([
            SeriesSamples(labels: Labels(["__name__": "a_total", "x": "1"]), timestamps: [0, 15_000, 30_000], values: [1, 2, 3]),
            SeriesSamples(labels: Labels(["__name__": "b_total", "x": "1"]), timestamps: [0, 15_000, 30_000], values: [1, 2, 3]),
        ]))
        #expect(throws: QueryError.execution("vector cannot contain metrics with the same labelset")) {
            _ = try e.rangeQuery("rate({__name__=~\"a_total|b_total\"}[1m])", start: 30_000, end: 30_000, step: 1000)
        }
        // one name: nothing collides
        let r = RangeFunctionTests.byLabels(try e.rangeQuery("rate(a_total[1m])", start: 30_000, end: 30_000, step: 1000))
        #expect(r.count == 1)
    }

    @Test func sumByGroupsEverySeriesOnce() throws {
        let got = RangeFunctionTests.byLabels(
            try RangeFunctionTests.engine.rangeQuery("sum by (grp) (increase(c_total[5m]))", start: 600_000, end: 5_000_000, step: 60_000))
        #expect(got.count == 7)
        let single = RangeFunctionTests.byLabels(
            try RangeFunctionTests.engine.rangeQuery("increase(c_total[5m])", start: 600_000, end: 5_000_000, step: 60_000))
        for (labels, points) in got {
            let grp = labels["grp"]!
            #expect(labels.count == 1)
            for (t, v) in points {
                var sum = 0.0
                var first = true
                for (l, p) in single.sorted(by: { $0.key < $1.key }) where l["grp"] == grp {
                    if let x = p[t] { sum = first ? x : sum + x; first = false }
                }
                #expect(v.isNaN ? sum.isNaN : abs(sum - v) <= 1e-9 * abs(v), "\(grp) at \(t)")
            }
        }
    }
}

/// Deterministic test data.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49eb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// The byte writer behind `PromJSON.data` against the string formatters it replaced.
struct ResultJSONTests {
    @Test func pointsAreFormattedAsGoFormatDoes() {
        let values: [Double] = [0, -0.0, 1, -1, 42, 1e15 - 1, 1e15, -1e15, 1e21, 123456789012345678, 0.1, -2.5, 1.0 / 3,
                                1e-7, 5e-324, .greatestFiniteMagnitude, .nan, .infinity, -.infinity, .staleNaN]
        let times: [Int64] = [0, 1, 999, 1000, 1500, 1_796_011_200_000, 1_796_011_200_050, -1, -1500, -2_000]
        for t in times {
            for v in values {
                var w = JSONBytes()
                w.point(t, v)
                let want = "[" + GoFormat.timestamp(t) + ",\"" + GoFormat.formatF(v) + "\"]"
                #expect(String(decoding: w.bytes, as: UTF8.self) == want, "\(t) \(v)")
            }
        }
    }

    @Test func labelsAreEscapedAsPromJSONString() {
        let l = Labels(["__name__": "m", "a": "plain", "b": "quote\"back\\slash", "c": "tab\tnl\n", "d": "ü∑ ctl\u{01}"])
        var w = JSONBytes()
        w.labels(l)
        let want = "{" + l.map { PromJSON.string($0.name) + ":" + PromJSON.string($0.value) }.joined(separator: ",") + "}"
        #expect(String(decoding: w.bytes, as: UTF8.self) == want)
    }
}
