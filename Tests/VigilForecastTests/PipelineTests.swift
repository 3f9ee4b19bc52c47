import Foundation
import Testing
@testable import VigilForecast

@Suite struct TimestampAndPrepTests {
    @Test func formatsParseAndFormatBack() throws {
        let cases = ["2024-02-29 23:55:00", "2024-02-29T23:55:00Z", "2024-02-29T23:55:00", "1709250900", "2024-02-29T23:55:00+02:00"]
        for c in cases {
            let f = try #require(TimestampFormat.detect(Substring(c)), "\(c)")
            let ms = try #require(f.parse(Substring(c)))
            #expect(f.format(ms) == c)
            #expect(f.format(ms + 300_000) != c)
        }
        // The same instant in the three forms.
        let a = TimestampFormat.spaced.parse("2024-02-29 23:55:00")
        let b = TimestampFormat.unix(fractional: false).parse("1709250900")
        let c = TimestampFormat.iso(suffix: "+02:00").parse("2024-03-01T01:55:00+02:00")
        #expect(a == b && b == c)
        #expect(TimestampFormat.spaced.format(a! + 300_000) == "2024-03-01 00:00:00")
        #expect(TimestampFormat.spaced.parse("2024-13-01 00:00:00") == nil)
    }

    @Test func stepInferenceAndResamplingHandleJitterGapsAndNaN() throws {
        // 300 s with ±2 s jitter, one missing sample, one NaN.
        var ts: [Int64] = [], vs: [Double] = []
        for i in 0..<20 where i != 7 {
            ts.append(Int64(i * 300 + (i % 3 == 0 ? 2 : -1)) * 1000)
            vs.append(i == 12 ? .nan : Double(i))
        }
        let step = try #require(SeriesPrep.inferStep(ts))
        #expect(step == 300_000)
        let r = try #require(SeriesPrep.regularize(ts, vs, step: step))
        #expect(r.lastTimestamp == ts.last!)
        #expect(r.values.count == 20)
        #expect(r.values.allSatisfy { $0.isFinite })
        // a linear ramp stays a ramp after interpolation over the gap and the NaN
        for i in 1..<r.values.count { #expect(abs(r.values[i] - r.values[i - 1] - 1) < 0.02) }
        #expect(r.filled >= 1)
    }

    @Test func counterRateHandlesResets() {
        let v: [Double] = [0, 10, 20, 30, 5, 15]
        #expect(SeriesPrep.rate(v, stepSeconds: 10) == [1, 1, 1, 1, 0.5, 1])
        #expect(SeriesPrep.looksLikeCounter((0..<100).map { Double(($0 % 60) * 7) }))
        #expect(!SeriesPrep.looksLikeCounter([1, 3, 2, 4, 1, 5, 0]))
    }
}

@Suite struct PipelineTests {
    func series(_ id: String, start: Int64, step: Int64, values: [Double]) -> RawSeries {
        RawSeries(id: id, timestamps: values.indices.map { start + Int64($0) * step }, values: values)
    }

    @Test func everySeriesGetsExactlyHRowsAndFallbacksAreReported() throws {
        var rng = TestRNG(21)
        var input: [RawSeries] = []
        for i in 0..<12 {
            let v = ar2Series(2000, rng: &rng, level: 50, scale: 2)
            input.append(series("vm\(i)", start: 1_700_000_000_000, step: 60_000, values: v))
        }
        input.append(series("const", start: 1_700_000_000_000, step: 60_000, values: .init(repeating: 7, count: 2000)))
        input.append(series("short", start: 1_700_000_000_000, step: 60_000, values: [1, 2, 3, 4, 5]))
        input.append(series("allnan", start: 1_700_000_000_000, step: 60_000, values: [.nan, .nan]))
        let (out, report) = try ForecastPipeline.run(input, horizon: 5)
        #expect(out.count == input.count)
        for (o, s) in zip(out, input) {
            #expect(o.id == s.id)
            #expect(o.forecast.count == 5 && o.lo.count == 5 && o.hi.count == 5)
        }
        #expect(out[0].method == .linear)
        #expect(out[0].lastTimestamp == input[0].timestamps.last!)
        let c = out[12]
        for h in 0..<5 { #expect(abs(c.forecast[h] - 7) < 1e-6 && c.lo[h] <= c.forecast[h] + 1e-9 && c.hi[h] >= c.forecast[h] - 1e-9) }
        #expect(out[13].method == .lastValue && out[13].forecast == [5, 5, 5, 5, 5])
        #expect(out[14].method == .none && out[14].forecast[0].isNaN)
        #expect(report.counts[.linear] == 13)
        #expect(report.notes.contains { $0.contains("naive fallback") })
        for o in out where o.method == .linear { for h in 0..<5 { #expect(o.lo[h] <= o.forecast[h] && o.forecast[h] <= o.hi[h]) } }
    }

    @Test func longerHorizonThanTheModelIsForecastRecursively() throws {
        var rng = TestRNG(4)
        let data = (0..<8).map { _ in ar2Series(800, rng: &rng, level: 10, scale: 1) }
        let (m, _) = try ForecasterTrainer.fit(data.map { TrainingSeries(values: $0, calibrationStart: 600) },
                                              options: ForecasterTrainingOptions(inputLength: 32, horizon: 4, stepMs: 60_000))
        let input = data.enumerated().map { series("s\($0.offset)", start: 0, step: 60_000, values: $0.element) }
        let (out, _) = try ForecastPipeline.run(input, horizon: 10, model: m)
        for o in out {
            #expect(o.forecast.count == 10 && o.forecast.allSatisfy { $0.isFinite })
            // interval widths do not shrink past the model's horizon
            #expect(o.hi[9] - o.lo[9] >= o.hi[3] - o.lo[3] - 1e-9)
        }
        // the first 4 steps equal the direct model output
        let direct = m.predict(Array(data[0].suffix(32)), rows: 1).forecast
        for h in 0..<4 { #expect(abs(direct[h] - out[0].forecast[h]) < 1e-9) }
    }

    @Test func fastAndGeneralCSVReadersAgree() throws {
        let p = tempPath("fast.csv")
        try "id,ts,value\r\nb,2024-01-01T00:00:00Z,1.5\r\nb,2024-01-01T00:05:00Z,\r\na,2024-01-01T00:00:00Z,NaN\r\nb,2024-01-01T00:10:00Z, 2e3\r\na,2024-01-01T00:05:00Z,-4\r\n"
            .write(toFile: p, atomically: true, encoding: .utf8)
        let fast = try #require(try CSVReader.readLongFast(path: p))
        let general = try CSVReader.readLongGeneral(path: p)
        #expect(fast.format == .iso(suffix: "Z") && general.format == fast.format)
        #expect(fast.series.map(\.id) == ["b", "a"] && general.series.map(\.id) == ["b", "a"])
        for (x, y) in zip(fast.series, general.series) {
            #expect(x.timestamps == y.timestamps)
            #expect(x.values.map(\.bitPattern) == y.values.map(\.bitPattern))
        }
        #expect(fast.series[0].values[2] == 2000 && fast.series[0].values[1].isNaN)
        // the fast reader reports positions too
        try "s,1700000000,1\ns,1700000060,1.2.3\n".write(toFile: p, atomically: true, encoding: .utf8)
        #expect(throws: CSVError.self) { try CSVReader.readLong(path: p) }
        do { _ = try CSVReader.readLong(path: p) } catch let e as CSVError { #expect(e.line == 2 && e.column == 3) }
    }

    @Test func csvReaderNamesFileLineAndColumn() throws {
        let p = tempPath("bad.csv")
        try "series_id,timestamp,value\na,2024-01-01 00:00:00,1\na,2024-01-01 00:05:00,x1\n".write(toFile: p, atomically: true, encoding: .utf8)
        do {
            _ = try CSVReader.readLong(path: p)
            Issue.record("expected an error")
        } catch let e as CSVError {
            #expect(e.line == 3 && e.column == 3)
            #expect(e.description.hasPrefix(p + ":3:3:"))
        }
        let ok = tempPath("ok.csv")
        try "b,1700000000,1\nb,1700000060,2\n\"a,1\",1700000000,3\n".write(toFile: ok, atomically: true, encoding: .utf8)
        let (s, f) = try CSVReader.readLong(path: ok)
        #expect(f == .unix(fractional: false))
        #expect(s.map(\.id) == ["b", "a,1"])
        #expect(s[0].values == [1, 2])
    }
}

@Suite struct DetectionTests {
    @Test func scoresAreOnlineBoundedAndFlagASpikeBriefly() {
        var rng = TestRNG(8)
        var v = (0..<3000).map { i in 10 + sin(Double(i) / 30) + 0.1 * rng.normal() }
        v[2500] += 3
        let full = OnlineAnomalyDetector.scoreAll(v)
        let prefix = OnlineAnomalyDetector.scoreAll(Array(v[0...2500]))
        #expect(Array(full[0...2500]) == prefix)  // row t's score only depends on rows ≤ t
        #expect(full.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(full[2500] > 0.9)
        #expect(full[2510] < 0.5)  // short memory
        let normal = full[1000..<2400]
        #expect(Double(normal.filter { $0 >= 0.5 }.count) / Double(normal.count) < 0.03)
    }

    @Test func detectionMetricsCountPointsEventsAndLead() {
        let labels: [Bool] = [false, true, true, true, true, true, true, true, false, false, true, true, false, false]
        let flags: [Bool] = [false, false, true, false, false, false, false, false, false, true, false, false, false, false]
        let m = DetectionMetrics.evaluate(labels: labels, flags: flags, leadPoints: 5)
        #expect(m.tp == 1 && m.fp == 1 && m.fn == 8)
        #expect(m.events == 2 && m.eventsDetected == 1 && m.eventsEarly == 1)
        #expect(m.predictedSegments == 2 && m.predictedSegmentsHittingEvent == 1)
        #expect(abs(m.eventF1 - 0.5) < 1e-12)
    }

    @Test func pcaBaselineScoresOffPlanePointsHigher() {
        var rng = TestRNG(2)
        let n = 500, d = 5
        var x: [Double] = []
        for _ in 0..<n {
            let a = rng.normal(), b = rng.normal()
            x += [a, b, a + b, a - b, 2 * a] .map { $0 + 0.01 * rng.normal() }
        }
        let p = PCABaseline(train: x, rows: n, cols: d, varianceKept: 0.95)
        #expect(p.k == 2)
        let s = p.score([1, 1, 2, 0, 2, 1, 1, -2, 0, 2], rows: 2)
        #expect(s[1] > 100 * s[0])
    }
}
