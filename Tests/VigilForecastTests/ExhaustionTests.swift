import Foundation
import VigilTestSupport
import Testing
@testable import VigilForecast

/// A series at 5-minute steps: `f(k)` at t = 300·k.
private func series(_ n: Int, _ f: (Int) -> Double) -> (t: [Double], v: [Double]) {
    ((0..<n).map { Double($0 * 300) }, (0..<n).map(f))
}

@Suite struct ExhaustionPredictorTests {
    @Test func noiselessLinearLeakGivesExactTime() throws {
        // 1,000 units of limit, 100 now-ish, +2 per 5 minutes: the line reaches 1,000 at (1000 − v_now)/2 steps.
        let (t, v) = series(48) { 100 + 2 * Double($0) }
        let e = try #require(ExhaustionPredictor.estimate(times: t, values: v, limit: 1000))
        let expected = (1000 - v.last!) / 2 * 300
        #expect(abs(e.secondsToExhaustion - expected) < 1e-6 * expected)
        #expect(abs(e.slopePerSecond - 2.0 / 300) < 1e-12)
        #expect(abs(e.lowerSeconds - expected) < 1e-6 * expected && abs(e.upperSeconds - expected) < 1e-6 * expected)
        #expect(e.probabilityWithinHorizon == 0)  // 1,806 min away, noiseless: certainly not within 30 min
        // The same leak 20 minutes (4 steps) from the limit: certain within 30 minutes.
        let (t2, v2) = series(48) { 1000 - 2 * Double(47 + 4 - $0) }
        let e2 = try #require(ExhaustionPredictor.estimate(times: t2, values: v2, limit: 1000))
        #expect(abs(e2.secondsToExhaustion - 1200) < 1e-6)
        #expect(e2.probabilityWithinHorizon == 1)
    }

    @Test func outliersDoNotMoveTheTrend() throws {
        var rng = TestRNG(7)
        var (t, v) = series(48) { 100 + 2 * Double($0) }
        for k in stride(from: 3, to: 48, by: 7) { v[k] += (rng.uniform() < 0.5 ? -1 : 1) * 400 }  // 7 gross outliers of 48
        let e = try #require(ExhaustionPredictor.estimate(times: t, values: v, limit: 1000))
        let truth = (1000 - (100 + 2 * 47.0)) / 2 * 300
        #expect(abs(e.secondsToExhaustion - truth) < 0.05 * truth)
        // Least squares over the same points is thrown far off: the test can tell the two apart.
        let n = Double(t.count), mt = t.reduce(0, +) / n, mv = v.reduce(0, +) / n
        let ols = zip(t, v).reduce(0) { $0 + ($1.0 - mt) * ($1.1 - mv) } / t.reduce(0) { $0 + ($1 - mt) * ($1 - mt) }
        #expect(abs(ols - 2.0 / 300) > 0.05 * 2.0 / 300)
    }

    @Test func aRestartResetsTheTrend() throws {
        // Leak for 40 steps up to 900, restart to 100, then flat with small noise for 10 steps.
        var rng = TestRNG(3)
        let (t, v) = series(50) { $0 < 40 ? 100 + 20 * Double($0) : 100 + rng.normal() }
        let e = try #require(ExhaustionPredictor.estimate(times: t, values: v, limit: 1000))
        #expect(e.points == 10)
        #expect(e.secondsToExhaustion > 30 * 86400)
        #expect(e.probabilityWithinHorizon < 1e-6)
        // Without the reset the steep pre-restart leak would dominate: the fit over all 50 points sees it.
        var noReset = ExhaustionConfig(); noReset.resetDropFraction = 10; noReset.windowSeconds = 86400
        let all = try #require(ExhaustionPredictor.estimate(times: t, values: v, limit: 1000, config: noReset))
        #expect(all.points == 50 && all.slopePerSecond > 0.01)
        // Too few samples since the restart: no estimate at all rather than a guess.
        #expect(ExhaustionPredictor.estimate(times: Array(t[..<43]), values: Array(v[..<43]), limit: 1000) == nil)
    }

    @Test(arguments: ["flat", "decreasing", "noisy-flat"])
    func cleanSeriesGiveNoWarning(_ shape: String) throws {
        var rng = TestRNG(11)
        let (t, v) = series(48) { k in
            switch shape {
            case "flat": return 500
            case "decreasing": return 800 - 5 * Double(k)
            default: return 500 + 20 * rng.normal()
            }
        }
        let e = try #require(ExhaustionPredictor.estimate(times: t, values: v, limit: 1000))
        if shape != "noisy-flat" { #expect(e.secondsToExhaustion == .infinity) }
        #expect(e.upperSeconds == .infinity)
        #expect(e.probabilityWithinHorizon < 1e-6)
    }

    @Test func theIntervalWidensWithNoise() throws {
        var widths: [Double] = []
        for sigma in [0.0, 5, 20, 60] {
            var rng = TestRNG(5)
            let (t, v) = series(48) { 100 + 4 * Double($0) + sigma * rng.normal() }
            let e = try #require(ExhaustionPredictor.estimate(times: t, values: v, limit: 1000))
            #expect(e.lowerSeconds <= e.secondsToExhaustion && e.secondsToExhaustion <= e.upperSeconds)
            widths.append(e.upperSeconds - e.lowerSeconds)
        }
        #expect(widths[0] == 0)
        #expect(zip(widths, widths.dropFirst()).allSatisfy { $0 < $1 }, "widths \(widths)")
    }

    @Test func atTheLimitIsCertainAndBadLimitsGiveNothing() throws {
        let (t, v) = series(10) { 900 + 20 * Double($0) }
        let e = try #require(ExhaustionPredictor.estimate(times: t, values: v, limit: 1000))
        #expect(e.secondsToExhaustion == 0 && e.probabilityWithinHorizon == 1)
        #expect(ExhaustionPredictor.estimate(times: t, values: v, limit: 0) == nil)
        #expect(ExhaustionPredictor.estimate(times: t, values: v, limit: .nan) == nil)
    }

    @Test func theOutputAtTUsesNothingAfterT() throws {
        var rng = TestRNG(9)
        let (t, v) = series(300) { 200 + 1.5 * Double($0) + 10 * rng.normal() }
        var s = ExhaustionStream(id: "a", split: "test")
        s.times = t; s.values = v; s.limits = Array(repeating: 1000, count: 300)
        s.exhausted = Array(repeating: false, count: 300); s.kinds = Array(repeating: "linear", count: 300)
        var changed = s
        for k in 150..<300 { changed.values[k] = 900 + Double(k - 150) * (k % 5 == 0 ? 0.2 : 0.6) }  // a future heading for the limit
        let a = ExhaustionEvaluation.scores(s, config: ExhaustionConfig())
        let b = ExhaustionEvaluation.scores(changed, config: ExhaustionConfig())
        #expect(Array(a.vigil[..<150]) == Array(b.vigil[..<150]))
        #expect(Array(a.naive[..<150]) == Array(b.naive[..<150]))
        #expect(Array(a.vigil[150...]) != Array(b.vigil[150...]))
    }
}

@Suite struct ExhaustionEvaluationTests {
    /// Counting on a hand-made stream: 5-minute rows, exhaustion at row 20, warnings at rows given.
    private func stream(_ warnRows: Set<Int>) -> (ExhaustionStream, [Bool]) {
        var s = ExhaustionStream(id: "x", split: "test")
        s.times = (0..<300).map { Double($0 * 300) }  // ~1.04 days
        s.values = Array(repeating: 1, count: 300); s.limits = Array(repeating: 2, count: 300)
        s.exhausted = (0..<300).map { $0 == 20 }; s.kinds = Array(repeating: "linear", count: 300)
        return (s, (0..<300).map { warnRows.contains($0) })
    }

    @Test func countsPrecisionRecallLeadAndFalseWarnings() {
        // Rows 12…18: 12 is 40 min ahead (wrong: > 30), 13 is 35 min ahead (wrong), 14…18 right; caught (16 is 20 min
        // ahead); the run starts at 12 → lead 40 min. Rows 100, 101 and 200: two false warnings.
        let (s, w) = stream(Set(12...18).union([100, 101, 200]))
        let c = ExhaustionEvaluation.counts(s, warn: w)
        #expect(c.warnSteps == 10 && c.correctSteps == 5)
        #expect(c.events == 1 && c.caught == 1)
        #expect(c.leadsSeconds == [2400])
        #expect(c.falseEpisodes == 2 + 1)  // 12–13 is a run of incorrect rows too
        #expect(abs(c.vmDays - 299 * 300 / 86400.0) < 1e-9)
    }

    @Test func aWarningLessThanTheLeadAheadDoesNotCatch() {
        let (s, w) = stream([19, 20])  // 5 min ahead, and the exhausted row itself (not counted as a warning)
        let c = ExhaustionEvaluation.counts(s, warn: w)
        #expect(c.caught == 0 && c.warnSteps == 1 && c.correctSteps == 1 && c.falseEpisodes == 0)
    }

    /// The committed fixture (scripts/datasets/inject_exhaustion.py --synthetic) end to end: the estimator warns of
    /// most injected leaks, with thresholds tuned on the fixture itself. (The static 90 %-style alarm does slightly better
    /// here, F1 0.68 against 0.63: the synthetic spikes are rare and the leaks short; on Bitbrains it is the other way.)
    @Test func syntheticFixtureEndToEnd() throws {
        let path = repoRoot.appendingPathComponent("scripts/datasets/exhaustion-synthetic.csv").path
        let streams = try ExhaustionEvaluation.load(path: path)
        #expect(streams.count == 6)
        let scored = streams.map { ($0, ExhaustionEvaluation.scores($0, config: ExhaustionConfig())) }
        let events = streams.reduce(0) { $0 + $1.exhausted.filter { $0 }.count }
        #expect(events >= 4)
        let (_, v) = ExhaustionEvaluation.tune(scored.map { ($0.0, $0.1.vigil) }, grid: ExhaustionEvaluation.vigilGrid, horizon: 1800, minLead: 600)
        let (_, f) = ExhaustionEvaluation.tune(scored.map { ($0.0, $0.1.fraction) }, grid: ExhaustionEvaluation.fractionGrid, horizon: 1800, minLead: 600)
        #expect(v.recall >= 0.6, "recall \(v.recall)")
        #expect(v.f1 >= 0.5, "vigil F1 \(v.f1), static F1 \(f.f1)")
        #expect(f.f1 > 0)
    }

    @Test func badStreamFilesAreNamedPrecisely() throws {
        let p = tempPath("bad-exhaustion.csv")
        try "stream,split,kind,t,value,limit,exhausted\nvm1,test,clean,0,1,2,0\nvm1,test,clean,300,abc,2,0\n".write(toFile: p, atomically: true, encoding: .utf8)
        #expect { try ExhaustionEvaluation.load(path: p) } throws: { "\($0)".contains(":3:5:") && "\($0)".contains("value 'abc'") }
        try "stream,split,kind,t,value,limit\n".write(toFile: p, atomically: true, encoding: .utf8)
        #expect { try ExhaustionEvaluation.load(path: p) } throws: { "\($0)".contains("missing column 'exhausted'") }
        try "stream,split,kind,t,value,limit,exhausted\nvm1,test,clean,300,1,2,0\nvm1,test,clean,0,1,2,0\n".write(toFile: p, atomically: true, encoding: .utf8)
        #expect { try ExhaustionEvaluation.load(path: p) } throws: { "\($0)".contains(":3:4:") && "\($0)".contains("does not increase") }
    }

    /// Real Bitbrains memory with injected leaks, derived on the fly from ../shared by the committed script (the first
    /// 6 VMs), at the threshold chosen on the validation split (P ≥ 0.45; Models/README.md): floors far below the
    /// measured figures that a broken estimator (no warnings, or warnings everywhere) cannot pass.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: sharedDatasets.appendingPathComponent("bitbrains_rnd").path)
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"), "../shared/datasets/bitbrains_rnd or python3 not present"))
    func bitbrainsInjectedLeaks() async throws {
        let out = tempPath("exhaustion-bitbrains.csv")
        let r = try await runProcess("/usr/bin/python3", [
            repoRoot.appendingPathComponent("scripts/datasets/inject_exhaustion.py").path, "--vms", "6", "--out", out,
            "--dataset", sharedDatasets.appendingPathComponent("bitbrains_rnd/vm_metrics_2013-08_21d.csv.gz").path], timeout: 300)
        #expect(r.status == 0, "\(r.err.suffix(2000))")
        let streams = try ExhaustionEvaluation.load(path: out)
        #expect(streams.count == 6)
        let c = streams.reduce(ExhaustionCounts()) { acc, s in
            acc + ExhaustionEvaluation.counts(s, warn: ExhaustionEvaluation.scores(s, config: ExhaustionConfig()).vigil.map { $0 >= 0.45 })
        }
        #expect(c.events >= 5)
        #expect(c.recall >= 0.3, "recall \(c.recall)")
        #expect(c.precision >= 0.15, "precision \(c.precision)")
        #expect(c.falsePerVMDay <= 0.5, "false warnings per VM-day \(c.falsePerVMDay)")
    }
}
