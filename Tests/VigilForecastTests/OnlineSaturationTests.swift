import Foundation
import Testing
import VigilCore
@testable import VigilForecast

/// The saturation model served online: the features `vigil serve` computes from the store equal the ones training
/// computed on the same history, and the probabilities land as `vigil_failure_probability{…, kind="saturation"}`.
@Suite struct OnlineSaturationTests {
    static let step: Int64 = 300_000
    static let t0: Int64 = 1_700_000_000_000

    /// Bitbrains-like VM CPU % at 5-minute steps: a job every 100 steps (an hour's ramp, then 30 minutes at ≥ 90 %)
    /// for the first 600 steps, then quiet for ~7 days (so "steps since the last episode" reaches its cap of a week),
    /// then the jobs again. Memory unknown (NaN), as the online path has it.
    static func vm(n: Int = 3000, seed: UInt64 = 21) -> Evaluation.UtilisationSeries {
        var rng = TestRNG(seed)
        let cpu = (0..<n).map { i -> Double in
            let p = (i + 7) % 100
            let busy = i < 600 || i >= 2700
            let base = busy && p >= 80 && p < 86 ? 97 : (busy && p >= 68 && p < 80 ? 30 + 5 * Double(p - 68) : 12)
            return min(100, max(0, base + 2 * rng.normal()))
        }
        return .init(id: "vm0", cpu: cpu, mem: [Double](repeating: .nan, count: n))
    }

    static func shippedModel() throws -> SaturationModel {
        let path = repoRoot.appendingPathComponent("Models/saturation-vm-5m.vgm").path
        return try SaturationModel(modelFile: ModelFile.read(path: path), name: path)
    }

    static let cpuLabels = Labels([("__name__", "vm_cpu_usage_percent"), ("job", "demo"), ("vm", "vm0")])

    static func store(_ cpu: [Double], upTo t: Int) throws -> MemoryStore {
        let store = MemoryStore()
        _ = try store.appendSync([SeriesSamples(labels: cpuLabels, timestamps: (0...t).map { t0 + Int64($0) * step },
                                                values: Array(cpu[0...t]))])
        return store
    }

    @Test func shippedModelHeaderGivesTheTrainingTask() throws {
        let m = try Self.shippedModel()
        #expect(m.stepMs == 300_000)
        #expect(m.task == SaturationTask())  // 90 %, 3 steps, 12 steps = 1 h, as trained
        #expect(m.historyPoints >= m.task.lookback + m.task.run)
    }

    @Test func onlineFeaturesEqualTrainingFeaturesOnTheSameHistory() throws {
        let model = try Self.shippedModel()
        let vm = Self.vm()
        let train = Evaluation.saturationSamples([vm], task: model.task, sampleEvery: 1, splits: [])[0]
        #expect(train.x.count > 1000)
        // the whole series is in the store; the online path reads only up to "now" = t (plus a second)
        let store = try Self.store(vm.cpu, upTo: vm.cpu.count - 1)
        let ends = model.task.lastEpisodeEnds(vm.cpu)
        var checked = 0, capped = 0, recent = 0
        for k in stride(from: 0, to: train.x.count, by: 7) {
            let t = train.origin[k].row
            let now = Self.t0 + Int64(t) * Self.step + 1000
            let got = try store.select([.equal("vm", "vm0")], mint: now - model.historyMs, maxt: now)
            #expect(got.count == 1)
            let online = try #require(model.latestFeatures(timestamps: got[0].timestamps, values: got[0].values), "t=\(t)")
            #expect(online == train.x[k], "t=\(t)")
            checked += 1
            if let e = ends[t], t - e < model.task.lookback { recent += 1 } else { capped += 1 }
        }
        // both regimes of the history-dependent feature were exercised
        #expect(checked > 100 && capped > 10 && recent > 10)
        // while the CPU was at or above 90 % within the last hour, no probability is computed (as in training)
        let busy = try #require((model.task.day..<vm.cpu.count).first { vm.cpu[$0] >= 90 })
        let now = Self.t0 + Int64(busy) * Self.step
        let got = try store.select([.equal("vm", "vm0")], mint: now - model.historyMs, maxt: now)
        #expect(model.latestFeatures(timestamps: got[0].timestamps, values: got[0].values) == nil)
        // less than a day of history: none either
        #expect(model.latestFeatures(timestamps: Array(got[0].timestamps.suffix(100)), values: Array(got[0].values.suffix(100))) == nil)
    }

    @Test func tickWritesCalibratedProbabilitiesWithTheSeriesLabels() async throws {
        let model = try Self.shippedModel()
        let vm = Self.vm()
        let train = Evaluation.saturationSamples([vm], task: model.task, sampleEvery: 1, splits: [])[0]
        // the last quiet step before the second busy period's first saturation: the ramp is visible
        let k = try #require(train.origin.lastIndex { $0.row < 2780 })
        let t = train.origin[k].row
        let store = try Self.store(vm.cpu, upTo: t)
        // a counter in the same watch gets forecasts but no saturation probability
        _ = try store.appendSync([SeriesSamples(labels: Labels([("__name__", "requests_total"), ("job", "demo"), ("vm", "vm0")]),
                                                timestamps: (0...t).map { Self.t0 + Int64($0) * Self.step }, values: (0...t).map { Double($0) * 10 })])
        var cfg = OnlineForecaster.Configuration(selectors: [[.equal("job", "demo")]])
        cfg.saturationModel = model
        let worker = BLASWorker(name: "online-saturation-test")
        defer { worker.stop() }
        let online = OnlineForecaster(reader: store, appender: store, config: cfg, worker: worker)
        let now = Self.t0 + Int64(t) * Self.step + 10_000
        let r1 = try await online.tick(now: now)
        #expect(r1.saturationProbabilities == 1)
        let p = store.all("vigil_failure_probability")
        #expect(p.count == 1)
        #expect(p[0].labels == Labels([("__name__", "vigil_failure_probability"), ("horizon", "1h"), ("job", "demo"), ("kind", "saturation"),
                                       ("metric", "vm_cpu_usage_percent"), ("vm", "vm0")]))
        #expect(p[0].timestamps == [Self.t0 + Int64(t) * Self.step])
        #expect(p[0].values == [model.predictor.probability(train.x[k])])
        #expect(p[0].values[0] > 0 && p[0].values[0] < 1)

        // no new sample: nothing new
        #expect(try await online.tick(now: now + 10_000).saturationProbabilities == 0)
        // the next sample is saturated: no probability while saturated (the series itself says so)
        _ = try store.appendSync([SeriesSamples(labels: Self.cpuLabels, timestamps: [Self.t0 + Int64(t + 1) * Self.step], values: [99])])
        #expect(try await online.tick(now: now + Self.step).saturationProbabilities == 0)
        #expect(store.all("vigil_failure_probability")[0].count == 1)
    }

    @Test func refusesModelsThatAreNotSaturationModels() throws {
        let incident = FailurePredictor(mean: .init(repeating: 0, count: FailureFeatures.count), std: .init(repeating: 1, count: FailureFeatures.count),
                                        weights: .init(repeating: 0.1, count: FailureFeatures.count + 1), featureNames: FailureFeatures.names,
                                        horizonMinutes: 30)
        #expect { try SaturationModel(modelFile: incident.modelFile(extra: ["step_seconds": .number(300)]), name: "x.vgm") } throws: { e in
            "\(e)".contains("x.vgm: features [max_anomaly_score_10") && "\(e)".contains("not the saturation features")
        }
        let forecaster = LinearForecaster.seasonalNaive(inputLength: 4, horizon: 2, period: 4, stepMs: 300_000)
        #expect { try SaturationModel(modelFile: forecaster.modelFile(), name: "f.vgm") } throws: { e in
            "\(e)".contains("f.vgm: kind is forecaster, expected failure")
        }
        // the right features but no step in the header
        let sat = FailurePredictor(mean: .init(repeating: 0, count: SaturationFeatures.count), std: .init(repeating: 1, count: SaturationFeatures.count),
                                   weights: .init(repeating: 0, count: SaturationFeatures.count + 1), featureNames: SaturationFeatures.names,
                                   horizonMinutes: 60)
        #expect { try SaturationModel(modelFile: sat.modelFile(), name: "s.vgm") } throws: { e in "\(e)".contains("s.vgm: a saturation model needs step_seconds") }
        #expect(try SaturationModel(modelFile: sat.modelFile(extra: ["step_seconds": .number(60)]), name: "s.vgm").task.horizon == 60)
    }
}
