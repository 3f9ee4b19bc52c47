import Foundation
import Testing
@testable import VigilForecast

/// A daily-periodic 5-minute series with noise: `days` days from a midnight.
private func daily(days: Int, seed: UInt64, noise: Double = 1) -> (t: [Double], v: [Double]) {
    var rng = TestRNG(seed)
    let n = days * 288
    let t = (0..<n).map { 1_500_000_000 - 1_500_000_000.truncatingRemainder(dividingBy: 86_400) + 300 * Double($0) }
    let v = (0..<n).map { 50 + 20 * sin(2 * .pi * Double($0 % 288) / 288) + noise * rng.normal() }
    return (t, v)
}

private func config5m() -> StreamingAnomalyScorer.Config { .forStep(seconds: 300) }

@Suite struct AnomalyLikelihoodTests {
    @Test func scoresAreOnlineBoundedAndZeroWhileLearning() {
        let (t, v) = daily(days: 4, seed: 1)
        let full = StreamingAnomalyScorer.scoreAll(v, times: t, config: config5m())
        let prefix = StreamingAnomalyScorer.scoreAll(Array(v[0..<700]), times: Array(t[0..<700]), config: config5m())
        #expect(Array(full[0..<700]) == prefix)  // row t uses only rows ≤ t
        #expect(full.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(full[0..<config5m().learningPoints].allSatisfy { $0 == 0 })
    }

    @Test func oneThresholdMeansAboutTheSameOnCleanStreamsOfAnyScale() {
        // Two clean streams in different units and noise: the share of points at or above 0.99 stays small on both,
        // and scores are graded (fewer points above 0.9999 than above 0.99).
        for (seed, scale, noise) in [(UInt64(2), 1.0, 1.0), (UInt64(3), 1e6, 5.0)] {
            let (t, v0) = daily(days: 6, seed: seed, noise: noise)
            let v = v0.map { $0 * scale }
            var d = StreamingAnomalyScorer(config: config5m())
            var lik: [Double] = []
            for k in v.indices { lik.append(d.updateLikelihood(v[k], time: t[k])) }
            let after = lik[config5m().learningPoints...]
            let above99 = Double(after.filter { $0 >= 0.99 }.count) / Double(after.count)
            let above9999 = Double(after.filter { $0 >= 0.9999 }.count) / Double(after.count)
            #expect(above99 < 0.03, "scale \(scale): \(above99) of points ≥ 0.99")
            #expect(above9999 < above99 || above99 == 0)
        }
    }

    @Test func aSpikeRaisesOneAlarm() {
        var (t, v) = daily(days: 4, seed: 4)
        v[900] += 15
        let s = StreamingAnomalyScorer.scoreAll(v, times: t, config: config5m())
        #expect(s[900] >= 0.99)
        let alarms = (880..<(900 + 60)).filter { s[$0] >= 0.99 }
        #expect(alarms == [900])
    }

    @Test func aLevelShiftIsFlaggedAtItsOnsetThenAdoptedAsNormal() {
        var (t, v) = daily(days: 6, seed: 5)
        for k in 864..<v.count { v[k] += 12 }
        var d = StreamingAnomalyScorer(config: config5m())
        var s: [Double] = []
        for k in v.indices { s.append(d.update(v[k], time: t[k])) }
        #expect((864..<876).contains { s[$0] >= 0.99 }, "no alarm in the first hour of the shift")
        #expect(d.adaptations >= 1)
        let later = s[(864 + 288)...]
        #expect(Double(later.filter { $0 >= 0.99 }.count) / Double(later.count) < 0.03)
    }

    @Test func aNormalValueAtTheWrongTimeOfDayIsFlagged() {
        var (t, v) = daily(days: 5, seed: 6)
        // day 4, 06:00–09:00 (the daily peak) replaced by the same hours 12 hours earlier (the trough)
        let start = 3 * 288 + 72
        for k in start..<(start + 36) { v[k] = v[k - 144] }
        let s = StreamingAnomalyScorer.scoreAll(v, times: t, config: config5m())
        #expect((start..<(start + 36)).contains { s[$0] >= 0.99 })
    }

    @Test func windowScoringRewardsEarlyDetectionsAndChargesTheRest() {
        var labels = [Bool](repeating: false, count: 1000)
        for k in 500..<510 { labels[k] = true }
        let w = UnivariateDetectionEvaluation.windows(labels)
        // one run: W = 0.1 · 1000 = 100 rows, from 50 before the run to 50 after its start
        #expect(w == [.init(start: 450, end: 550)])
        let p = DetectionProfile.standard
        let early = UnivariateDetectionEvaluation.tally(detections: [450], windows: w, profile: p)
        let late = UnivariateDetectionEvaluation.tally(detections: [540], windows: w, profile: p)
        #expect(early.caught == 1 && late.caught == 1)
        #expect(early.score > 0.98 && late.score < early.score && late.score > 0)
        let missed = UnivariateDetectionEvaluation.tally(detections: [200], windows: w, profile: p)
        #expect(missed.caught == 0 && missed.falsePositives == 1)
        #expect(abs(missed.score - (-0.11 - 1)) < 1e-12)
        // a second detection in the window counts nothing; one right after the window costs less than the full fp
        let twice = UnivariateDetectionEvaluation.tally(detections: [450, 460], windows: w, profile: p)
        #expect(twice.score == early.score && twice.falsePositives == 0)
        let after = UnivariateDetectionEvaluation.tally(detections: [450, 560], windows: w, profile: p)
        #expect(after.score < early.score && after.score > early.score - 0.11)
        #expect(abs(UnivariateDetectionEvaluation.normalised(early, profile: p) - 100) < 1e-9)
        #expect(UnivariateDetectionEvaluation.normalised(UnivariateDetectionEvaluation.tally(detections: [], windows: w, profile: p), profile: p) == 0)
        // probation: detections in the first 15 % are ignored, suppression skips the rows after a detection
        let sur = (0..<1000).map { $0 == 100 || $0 == 451 || $0 == 455 || $0 == 700 ? 5.0 : 0.0 }
        #expect(UnivariateDetectionEvaluation.detections(sur, threshold: 2, suppress: 10) == [451, 700])
    }

    /// The bounded end-to-end evaluation: the committed synthetic sample of scripts/datasets/inject_anomalies.py,
    /// scored as `vigil eval detect --univariate` scores it.
    @Test func endToEndOnTheCommittedSample() throws {
        let path = repoRoot.appendingPathComponent("scripts/datasets/anomaly-synthetic.csv").path
        let streams = try UnivariateDetectionEvaluation.load(path: path)
        #expect(streams.count == 6)
        var input: [(surprise: [Double], windows: [UnivariateDetectionEvaluation.Window], suppress: Int, kind: String)] = []
        var baseline = input
        for s in streams {
            let c = StreamingAnomalyScorer.Config.forStep(seconds: s.stepSeconds)
            #expect(c.learningPoints == 288)
            var d = StreamingAnomalyScorer(config: c)
            var sur: [Double] = []
            for k in s.values.indices { _ = d.updateLikelihood(s.values[k], time: s.times[k]); sur.append(d.surprise) }
            let w = UnivariateDetectionEvaluation.windows(s.anomaly)
            input.append((sur, w, c.suppressPoints, s.kind))
            let wg = WindowedGaussianBaseline.surprise(s.values, window: c.longWindow).enumerated().map { $0.offset < c.learningPoints ? 0 : $0.element }
            baseline.append((wg, w, c.suppressPoints, s.kind))
        }
        let r = UnivariateDetectionEvaluation.tune(input, profile: .standard)
        #expect(r.tally.windows >= 4)
        #expect(r.tally.caught * 2 >= r.tally.windows, "caught \(r.tally.caught) of \(r.tally.windows)")
        #expect(r.normalised > 0)
        let b = UnivariateDetectionEvaluation.tune(baseline, profile: .standard)
        #expect(r.normalised > b.normalised, "vigil \(r.normalised) vs windowed Gaussian \(b.normalised)")
    }
}
