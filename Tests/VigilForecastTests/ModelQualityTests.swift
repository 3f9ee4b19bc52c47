import Foundation
import Testing

@testable import VigilForecast

/// A machine of `d` metrics: each a noisy daily-ish sine around its own level, some correlated.
private func machine(rows n: Int, dims d: Int, seed: UInt64) -> [Double] {
    var rng = TestRNG(seed)
    var x = [Double](repeating: 0, count: n * d)
    for r in 0..<n {
        let common = sin(Double(r) / 50)
        for c in 0..<d {
            x[r * d + c] = 0.3 + 0.05 * Double(c % 5) + 0.1 * (c % 2 == 0 ? common : sin(Double(r) / 37 + Double(c)))
                + 0.01 * rng.normal()
        }
    }
    return x
}

@Suite struct MultivariateDetectorTests {
    @Test func prefixScoresEqualTheWholeSeriesTruncatedAndRunsAreDeterministic() throws {
        let d = 8
        let train = machine(rows: 2000, dims: d, seed: 1)
        var test = machine(rows: 1000, dims: d, seed: 2)
        for c in 0..<3 { test[600 * d + c] += 0.5 }
        let det = try MultivariateDetector(train: train, rows: 2000, dims: d)
        var a = det, b = det, c = det
        let full = a.scoreAll(test, rows: 1000)
        let prefix = b.scoreAll(Array(test[0..<(700 * d)]), rows: 700)
        #expect(Array(full[0..<700]) == prefix)  // row t's score uses only the training span and rows ≤ t
        #expect(c.scoreAll(test, rows: 1000) == full)  // deterministic
        let again = try MultivariateDetector(train: train, rows: 2000, dims: d)
        #expect(again.threshold == det.threshold && again.levelScale == det.levelScale)
        // a change after the prefix does not alter the prefix' scores
        var changed = test
        for k in (800 * d)..<(900 * d) { changed[k] += 1 }
        var e = det
        #expect(Array(e.scoreAll(changed, rows: 1000)[0..<800]) == Array(full[0..<800]))
    }

    @Test func injectedAnomaliesAreFlaggedAndCleanRowsMostlyAreNot() throws {
        let d = 10
        let train = machine(rows: 3000, dims: d, seed: 3)
        var test = machine(rows: 3000, dims: d, seed: 4)
        // event 1: three metrics shift together for 30 rows; event 2: one metric spikes once; event 3: a metric that
        // was constant in training starts moving
        for r in 1000..<1030 { for c in 2..<5 { test[r * d + c] += 0.4 } }
        test[2000 * d + 7] += 2
        var det = try MultivariateDetector(train: train, rows: 3000, dims: d)
        let s = det.scoreAll(test, rows: 3000)
        #expect(s.allSatisfy { $0 >= 0 && $0 <= 1 })
        #expect(s[1000..<1030].allSatisfy { $0 >= 0.5 })
        #expect(s[2000] >= 0.5)
        // the alarm is held for `hold` rows after the last exceedance, then released
        let hold = det.config.hold
        #expect(s[2000 + hold] >= 0.5)
        #expect(s[2000 + hold + 3] < 0.5)
        let clean = Array(s[100..<900]) + Array(s[1100..<1900])
        let falseRate = Double(clean.filter { $0 >= 0.5 }.count) / Double(clean.count)
        #expect(falseRate < 0.05)
    }

    @Test func constantTrainingMetricAndMissingValuesStayFinite() throws {
        let d = 4, n = 500
        var train = machine(rows: n, dims: d, seed: 5)
        for r in 0..<n { train[r * d + 3] = 0 }  // constant in training
        train[10 * d + 1] = .nan
        var det = try MultivariateDetector(train: train, rows: n, dims: d)
        #expect(det.levelScale.allSatisfy { $0 > 0 && $0.isFinite })
        #expect(det.update([0.3, .nan, 0.3, 0]) < 0.5)
        #expect(det.update([0.3, 0.3, 0.3, 0.2]) >= 0.5)  // the constant metric moved by 20 % of a typical range
        #expect(throws: MultivariateDetector.FitError.self) { _ = try MultivariateDetector(train: [1, 2, 3], rows: 3, dims: 1) }
    }
}

@Suite struct BacktestSelectionTests {
    /// Periodic dips every 11 steps (a batch job), plus noise: only a model of this series' own lags follows it.
    func periodic(_ n: Int, seed: UInt64) -> [Double] {
        var rng = TestRNG(seed)
        return (0..<n).map { i in (i % 11 < 2 ? 10 : 80) + 2 * rng.normal() }
    }

    @Test func localModelFollowsAPeriodicJobThatLastValueMisses() throws {
        let v = periodic(3000, seed: 1)
        let local = try #require(LocalLinearModel.fit(v[0..<2500], lags: 24, horizon: 12))
        var eLocal = 0.0, eLast = 0.0
        var out = [Double](repeating: 0, count: 12)
        v.withUnsafeBufferPointer { p in
            for o in stride(from: 2500, to: 2988, by: 12) {
                out.withUnsafeMutableBufferPointer { local.predict(p.baseAddress!, end: o, into: $0.baseAddress!) }
                for h in 0..<12 { eLocal += abs(v[o + h] - out[h]); eLast += abs(v[o + h] - v[o - 1]) }
            }
        }
        #expect(eLocal < 0.5 * eLast)
        #expect(LocalLinearModel.fit(v[0..<40], lags: 24, horizon: 12) == nil)  // too short: no model
    }

    @Test func selectionPicksTheCandidateWithTheSmallestRecentErrorAndUsesOnlyThePast() throws {
        let g = LinearForecaster.seasonalNaive(inputLength: 48, horizon: 12, period: 48, stepMs: 300_000)
        let sel = BacktestSelection()
        // periodic series: the own model wins
        let v = periodic(2000, seed: 2)
        let (choice, f, nbt) = sel.forecast(v, global: g)
        #expect(choice == 1)
        #expect(nbt == sel.origins)
        #expect(f.count == 12)
        // an exactly seasonal series: the global (seasonal-naive) model has zero backtest error and is chosen
        let sine = (0..<2000).map { 50 + 20 * sin(2 * Double.pi * Double($0) / 48) }
        #expect(sel.forecast(sine, global: g).choice == 0)
        // short history: no backtest origin, the global model is used
        #expect(sel.forecast(Array(v[0..<50]), global: g).backtestOrigins == 0)
        #expect(sel.forecast(Array(v[0..<50]), global: g).choice == 0)
        // hand example of the choice rule: smallest summed error over the window, ties to the earlier candidate
        let errs: [[Double]] = [[1, 5, 1], [2, 2, 2], [9, 0, 0]]
        #expect(BacktestSelection.choose(errs, window: 0..<3) == 1)
        #expect(BacktestSelection.choose(errs, window: 1..<3) == 2)
        #expect(BacktestSelection.choose(errs, window: 0..<1) == 0)
        #expect(BacktestSelection.choose(errs, window: 0..<0) == 0)
    }

    @Test func selectionRoundTripsThroughTheModelFileAndBadHeadersAreRejected() throws {
        var m = LinearForecaster.seasonalNaive(inputLength: 48, horizon: 12, period: 48, stepMs: 300_000)
        var sel = BacktestSelection()
        sel.origins = 10
        m.selection = sel
        let back = try LinearForecaster(modelFile: try ModelFile.decode(m.modelFile().encode()))
        #expect(back.selection == sel)
        var file = m.modelFile()
        file.header["selection"] = .object(["method": .string("vote"), "local_lags": .number(24), "origins": .number(3)])
        #expect(throws: ModelFile.FormatError.self) { _ = try LinearForecaster(modelFile: try ModelFile.decode(file.encode())) }
    }

    @Test func pipelineReportsTheChosenMethodPerSeries() throws {
        var g = LinearForecaster.seasonalNaive(inputLength: 48, horizon: 12, period: 48, stepMs: 300_000)
        g.selection = BacktestSelection()
        let v = periodic(2000, seed: 3)
        let s = RawSeries(id: "job", timestamps: (0..<2000).map { Int64($0) * 300_000 }, values: v)
        let (out, report) = try ForecastPipeline.run([s], horizon: 12, model: g)
        #expect(out[0].method == .local)
        #expect(out[0].forecast.count == 12 && out[0].lo.count == 12)
        #expect(zip(out[0].lo, out[0].hi).allSatisfy { $0 <= $1 })
        #expect(report.notes.contains { $0.contains("backtest selection") })
        // without selection the same model forecasts seasonal naive
        g.selection = nil
        #expect(try ForecastPipeline.run([s], horizon: 12, model: g).0[0].method == .seasonalNaive)
    }
}

@Suite struct SaturationTests {
    @Test func episodesNeedRunConsecutiveSaturatedSteps() {
        var task = SaturationTask()
        task.run = 3
        let cpu: [Double] = [10, 95, 95, 20, 91, 92, 99, 99, 10, 90, 90, 90]
        #expect(task.episodeStarts(cpu) == [false, false, false, false, true, false, false, false, false, true, false, false])
    }

    /// VMs with a CPU job every 100 steps that ramps up for an hour before saturating for 30 minutes.
    func vms(_ count: Int, n: Int, seed: UInt64) -> [Evaluation.UtilisationSeries] {
        var rng = TestRNG(seed)
        return (0..<count).map { k in
            let phase = k * 17
            let cpu = (0..<n).map { i -> Double in
                let p = (i + phase) % 100
                let base = p >= 80 && p < 86 ? 97 : (p >= 68 && p < 80 ? 30 + 5 * Double(p - 68) : 20)
                return min(100, max(0, base + 3 * rng.normal()))
            }
            return .init(id: "vm\(k)", cpu: cpu, mem: [Double](repeating: 50, count: n))
        }
    }

    @Test func samplesUseOnlyThePastAndAPredictorLearnsTheRamp() throws {
        let series = vms(6, n: 3000, seed: 9)
        let task = SaturationTask()
        let parts = Evaluation.saturationSamples(series, task: task, sampleEvery: 3, splits: [0.4, 0.5])
        #expect(parts.count == 3)
        // features at t are unchanged when everything after t changes
        var cut = series[0]
        let t = parts[0].origin.first { $0.machine == 0 }!.row
        cut.cpu = Array(cut.cpu[0...t]) + [Double](repeating: 100, count: cut.cpu.count - t - 1)
        let again = Evaluation.saturationSamples([cut], task: task, sampleEvery: 3, splits: [0.4, 0.5])
        #expect(again[0].x[0] == parts[0].x[0])
        // no sample is taken while the VM was saturated within the last hour
        for (k, o) in parts[2].origin.enumerated() where k < 200 {
            #expect(!series[o.machine].cpu[(o.row - 11)...o.row].contains { $0 >= task.threshold })
        }
        var model = try FailurePredictor.fit(x: parts[0].x.flatMap { $0 }, y: parts[0].y, rows: parts[0].x.count, cols: SaturationFeatures.count,
                                             horizonMinutes: 60, featureNames: SaturationFeatures.names)
        model.calibrate(x: parts[1].x, y: parts[1].y)
        let (rep, _) = Evaluation.saturationReport(model, parts[2], series: series, task: task)
        #expect(rep.positives > 0)
        #expect(rep.auc > 0.9)
        #expect(rep.brier < rep.baseRateBrier)
        #expect(rep.rows[0].eventsWarned > 0 && rep.rows[0].eventsWarned <= rep.rows[0].events)
    }
}

@Suite struct DetectionEvaluationTests {
    @Test func evaluationReportsTheMultivariateDetectorNextToPCAWithoutTestLabels() {
        let d = 6
        var machines: [DatasetLoader.LabelledMachine] = []
        for k in 0..<2 {
            let train = machine(rows: 2000, dims: d, seed: 10 + UInt64(k))
            var test = machine(rows: 2000, dims: d, seed: 20 + UInt64(k))
            var labels = [Bool](repeating: false, count: 2000)
            for r in 700..<740 { labels[r] = true; for c in 0..<3 { test[r * d + c] += 0.5 } }
            for r in 1500..<1510 { labels[r] = true; test[r * d + 4] -= 1 }
            machines.append(.init(name: "m\(k)", dims: d, train: train, trainRows: 2000, test: test, testRows: 2000, labels: labels))
        }
        let rows = Evaluation.detection(machines, leadPoints: 5)
        let mv = rows.first { $0.method == "vigil multivariate" && $0.threshold.hasPrefix("own") }!.metrics
        #expect(mv.events == 4 && mv.eventsDetected == 4)
        #expect(mv.eventsEarly == 4)
        // the threshold is the train scores' 99.5th percentile and alarms are held 5 rows: ≈ 3 % of clean rows flagged
        #expect(Double(mv.fp) / Double(2 * 2000 - 100) < 0.05)
        #expect(mv.recall > 0.8)
        #expect(rows.contains { $0.method == "PCA reconstruction" && $0.threshold == "train p99" })
    }
}

@Suite struct WideCSVTests {
    @Test func wideCSVKeepsTimestampsSkipsLabelsAndNamesBadCells() throws {
        let p = tempPath("wide.csv")
        try "timestamp,cpu,mem,label\n2024-01-01 00:00:00,1,2,0\n2024-01-01 00:01:00,,3.5,1\n".write(toFile: p, atomically: true, encoding: .utf8)
        let w = try CSVReader.readWide(path: p)
        #expect(w.keys == ["2024-01-01 00:00:00", "2024-01-01 00:01:00"])
        #expect(w.names == ["cpu", "mem"] && w.rows == 2)
        #expect(w.values[0] == 1 && w.values[1] == 2 && w.values[2].isNaN && w.values[3] == 3.5)
        let q = tempPath("wide-bad.csv")
        try "dim_1,dim_2\n0.1,0.2\n0.3,abc\n".write(toFile: q, atomically: true, encoding: .utf8)
        #expect {
            _ = try CSVReader.readWide(path: q)
        } throws: { e in
            let c = e as? CSVError
            return c?.line == 3 && c?.column == 2 && c!.description.contains("dim_2")
        }
        let r = tempPath("wide-noheader.csv")
        try "0.1,0.2\n0.3,0.4\n".write(toFile: r, atomically: true, encoding: .utf8)
        #expect(throws: CSVError.self) { _ = try CSVReader.readWide(path: r) }
    }
}
