import ArgumentParser
import Foundation
import VigilForecast

/// Which error the forecaster's training weights target.
enum Objective: String, ExpressibleByArgument { case mase, wape }

/// Per-series backtest selection on or off.
enum SelectionMode: String, ExpressibleByArgument { case backtest, none }

struct TrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model (.vgm) from a dataset and print its held-out evaluation.",
        discussion: """
            --kind forecaster: a global linear forecaster fitted by ridge regression on windows pooled from every series
            (first --train-fraction of each series; its last fifth held out to choose λ and the conformal intervals),
            then evaluated by rolling origin on the remaining part against seasonal naive and last value. The model
            ships with the per-series backtest selection (global model / the series' own linear model / last value,
            by their errors over the series' last 72 forecasts; --selection none turns it off).
            --kind failure: a logistic-regression failure predictor over per-window features of a labelled
            multivariate dataset (SMD/ASD layout: *_train.csv.gz, *_test.csv.gz with a label column).
            --kind saturation: a logistic-regression predictor of CPU saturation onsets (≥ --saturation-threshold % for
            ≥ 3 steps, starting within the next hour, from a VM not saturated in the last hour) over CPU/memory
            features of a Bitbrains folder; first 40 % of every VM's time fits, 40–50 % calibrates, the last half
            evaluates.
            --dataset accepts a Bitbrains or cluster_utilization folder, a long CSV series_id,timestamp,value
            (optionally .gz), or for failure a labelled folder.

            Examples:
              vigil train --dataset ../shared/datasets/bitbrains_rnd --kind forecaster --out Models/vm-cpu-5m.vgm
              vigil train --dataset ../shared/datasets/smd --kind failure --out Models/failure-smd.vgm
              vigil train --dataset ../shared/datasets/bitbrains_rnd --kind saturation --out Models/saturation-vm-5m.vgm
            """
    )

    enum Kind: String, ExpressibleByArgument { case forecaster, failure, saturation }

    @Option(help: "Dataset folder or file.") var dataset: String
    @Option(help: "forecaster | failure") var kind: Kind
    @Option(help: "Output model file.") var out: String
    @Option(help: "Forecast horizon H in steps.") var horizon = 12
    @Option(name: .customLong("input-length"), help: "Input length L in steps (default: one day of steps).") var inputLength: Int?
    @Option(help: "Column to forecast for folder datasets (default: the CPU column).") var metric: String?
    @Option(help: "Training objective: mase (every series counts alike; series may differ in units) or wape (pooled absolute error; one metric in one unit).") var objective: Objective = .mase
    @Option(name: .customLong("train-fraction"), help: "Leading fraction of each series used for training.") var trainFraction = 0.7
    @Option(name: .customLong("origin-stride"), help: "Steps between rolling origins in the evaluation (default H).") var originStride: Int?
    @Option(help: "forecaster: per-series selection shipped with the model: backtest (choose per series between the global model, its own linear model and the last value by their errors over its last 72 forecasts) or none.") var selection: SelectionMode = .backtest
    @Option(name: .customLong("saturation-threshold"), help: "saturation: CPU % counted as saturated.") var saturationThreshold = 90.0
    @Option(name: .customLong("lead-minutes"), help: "failure: predict events starting within this many minutes.") var leadMinutes = 30.0
    @Option(name: .customLong("step-seconds"), help: "failure: sampling step of the labelled dataset.") var stepSeconds = 60.0

    func run() async throws {
        switch kind {
        case .forecaster: try await trainForecaster()
        case .failure: try await trainFailure()
        case .saturation: try await trainSaturation()
        }
    }

    func trainForecaster() async throws {
        let t0 = Date()
        stderr("vigil train: loading \(dataset)…")
        let raw = try DatasetLoader.loadForecastSeries(dataset, metric: metric)
        let (series, step) = Evaluation.prepare(raw, trainFraction: trainFraction)
        guard !series.isEmpty else { throw ValidationError("no usable series in \(dataset)") }
        let L = inputLength ?? ForecastPipeline.defaultInputLength(stepMs: step)
        let H = horizon, stride = originStride ?? horizon, pooled = objective == .wape
        stderr("vigil train: \(series.count) series at \(step / 1000) s steps; L=\(L) H=\(H)")
        let bar = ProgressBar(label: "training")
        let (model, rep) = try await BLASWorker.shared.run { try Evaluation.train(series, inputLength: L, horizon: H, step: step, pooledObjective: pooled) { bar.update($0) } }
        bar.finish()
        var m = model
        if selection == .backtest { m.selection = BacktestSelection() }
        let shipped = m
        let (rows, _, choices) = try await BLASWorker.shared.run { Evaluation.rollingOriginDetailed(series, model: shipped, step: step, originStride: stride) }
        let lin = (rows.first { $0.method.hasPrefix("vigil select") } ?? rows[0]).errors, sn = rows[1].errors
        if m.selection != nil {
            m.metrics["global_test_wape"] = rows[0].errors.wape
            m.metrics["global_test_mase"] = rows[0].errors.mase
            m.metrics["last_value_test_wape"] = rows[2].errors.wape
            m.metrics["last_value_test_mase"] = rows[2].errors.mase
        }
        m.metrics["test_wape"] = lin.wape
        m.metrics["test_1_minus_wape"] = 1 - lin.wape
        m.metrics["test_mase"] = lin.mase
        m.metrics["test_coverage"] = lin.coverage
        m.metrics["seasonal_naive_test_wape"] = sn.wape
        m.metrics["seasonal_naive_test_mase"] = sn.mase
        let name = (dataset as NSString).lastPathComponent
        try m.modelFile(extra: ["dataset": .string(name), "series": .number(Double(series.count)),
                                "train_fraction": .number(trainFraction), "objective": .string(objective.rawValue), "metric": .string(metric ?? "default CPU column")]).write(path: out)
        print("trained on \(rep.trainWindows) windows; held-out scale-weighted MAE (normalised): linear \(String(format: "%.4f", rep.calibrationMAE)) (λ = \(rep.lambdaFraction) × mean diag), seasonal naive \(String(format: "%.4f", rep.seasonalNaiveCalibrationMAE)), last value \(String(format: "%.4f", rep.lastValueCalibrationMAE)) → shipped \(rep.chosen); held-out interval coverage \(String(format: "%.3f", rep.empiricalCoverage))")
        print(Evaluation.forecastTable(rows, title: "rolling-origin evaluation on the last \(Int((1 - trainFraction) * 100)) % of \(series.count) series of \(name) (H=\(H), origins every \(stride) steps):"))
        if m.selection != nil { print("backtest selection chose: global \(choices[0]), own linear model \(choices[1]), last value \(choices[2]) (series × origins)") }
        print("wrote \(out) in \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")
    }
}

/// A one-line progress bar on stderr (redrawn at most every 1 %).
final class ProgressBar: @unchecked Sendable {
    let label: String
    private var lastPct = -1
    private let lock = NSLock()
    init(label: String) { self.label = label }
    func update(_ fraction: Double) {
        let pct = Int(max(0, min(1, fraction)) * 100)
        lock.lock(); defer { lock.unlock() }
        if pct == lastPct { return }
        lastPct = pct
        let filled = pct * 30 / 100
        let line = "\r\(label) [" + String(repeating: "#", count: filled) + String(repeating: ".", count: 30 - filled) + "] \(pct)%"
        FileHandle.standardError.write(Data(line.utf8))
    }
    func finish() {
        update(1)
        FileHandle.standardError.write(Data("\n".utf8))
    }
}

extension TrainCommand {
    func trainFailure() async throws {
        let t0 = Date()
        stderr("vigil train: loading labelled machines from \(dataset)…")
        let machines = try DatasetLoader.loadLabelled(dataset)
        guard !machines.isEmpty else { throw ValidationError("no *_test.csv.gz files in \(dataset)") }
        let lead = Int((leadMinutes * 60 / stepSeconds).rounded())
        let every = max(1, Int((300 / stepSeconds).rounded()))
        let bar = ProgressBar(label: "features")
        let parts = try await BLASWorker.shared.run {
            Evaluation.failureSamples(machines, leadPoints: lead, sampleEvery: every, splits: [0.4, 0.5]) { _ in }
        }
        bar.finish()
        let (fitS, calS, evalS) = (parts[0], parts[1], parts[2])
        let d = FailureFeatures.count
        var model = try await BLASWorker.shared.run {
            try FailurePredictor.fit(x: fitS.x.flatMap { $0 }, y: fitS.y, rows: fitS.x.count, cols: d, horizonMinutes: leadMinutes,
                                     featureNames: FailureFeatures.names)
        }
        model.calibrate(x: calS.x, y: calS.y)
        let rep = Evaluation.failureReport(model, evalS, machines: machines, leadPoints: lead)
        model.metrics = ["eval_auc": rep.auc, "eval_brier": rep.brier, "eval_base_rate_brier": rep.baseRateBrier,
                         "eval_samples": Double(rep.samples), "eval_positives": Double(rep.positives)]
        let name = (dataset as NSString).lastPathComponent
        try model.modelFile(extra: ["dataset": .string(name), "label": .string("labelled anomaly event starts within horizon_minutes")]).write(path: out)
        print("failure predictor: logistic regression on \(fitS.x.count) samples (\(fitS.y.filter { $0 }.count) positive), Platt-calibrated on \(calS.x.count)")
        print(Evaluation.failureTable(rep, title: "evaluation on the last half of each machine's test split of \(name) (event starts within \(Int(leadMinutes)) min):"))
        print("weights (standardised features): " + zip(FailureFeatures.names, model.weights).map { "\($0)=\(String(format: "%.3f", $1))" }.joined(separator: " "))
        print("wrote \(out) in \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")
    }
}

extension TrainCommand {
    func trainSaturation() async throws {
        let t0 = Date()
        stderr("vigil train: loading CPU and memory of \(dataset)…")
        func load(_ col: String) throws -> [String: [Double]] {
            let (s, _) = Evaluation.prepare(try DatasetLoader.loadForecastSeries(dataset, metric: col), trainFraction: 1)
            return Dictionary(s.map { ($0.id, $0.values) }, uniquingKeysWith: { a, _ in a })
        }
        let cpu = try load("cpu_usage_pct"), memUse = try load("mem_usage_kb"), memCap = try load("mem_capacity_kb")
        var series: [Evaluation.UtilisationSeries] = []
        for id in cpu.keys.sorted() {
            let c = cpu[id]!
            var mem = [Double](repeating: .nan, count: c.count)
            if let u = memUse[id], let k = memCap[id], u.count == c.count, k.count == c.count {
                for i in c.indices where k[i] > 0 { mem[i] = 100 * u[i] / k[i] }
            }
            series.append(.init(id: id, cpu: c, mem: mem))
        }
        guard !series.isEmpty else { throw ValidationError("no CPU series in \(dataset)") }
        var task = SaturationTask()
        task.threshold = saturationThreshold
        let tk = task, all = series
        let parts = try await BLASWorker.shared.run { Evaluation.saturationSamples(all, task: tk, sampleEvery: 3, splits: [0.4, 0.5]) }
        let (fitS, calS, evalS) = (parts[0], parts[1], parts[2])
        guard fitS.y.contains(true), calS.y.contains(true) else { throw ValidationError("no saturation onsets in the fitting or calibration part") }
        let d = SaturationFeatures.count
        var model = try await BLASWorker.shared.run {
            try FailurePredictor.fit(x: fitS.x.flatMap { $0 }, y: fitS.y, rows: fitS.x.count, cols: d,
                                     horizonMinutes: Double(tk.horizon) * 5, featureNames: SaturationFeatures.names)
        }
        model.calibrate(x: calS.x, y: calS.y)
        let (rep, leads) = Evaluation.saturationReport(model, evalS, series: all, task: tk)
        model.metrics = ["eval_auc": rep.auc, "eval_brier": rep.brier, "eval_base_rate_brier": rep.baseRateBrier,
                         "eval_samples": Double(rep.samples), "eval_positives": Double(rep.positives)]
        let name = (dataset as NSString).lastPathComponent
        try model.modelFile(extra: ["dataset": .string(name), "series": .number(Double(all.count)),
                                    "label": .string("CPU saturation episode (>= saturation_threshold % for >= saturation_run steps) starts within horizon_minutes; VM not saturated in the last hour"),
                                    "saturation_threshold": .number(tk.threshold), "saturation_run": .number(Double(tk.run)),
                                    "step_seconds": .number(300)]).write(path: out)
        print("saturation predictor: logistic regression on \(fitS.x.count) samples (\(fitS.y.filter { $0 }.count) positive), Platt-calibrated on \(calS.x.count) (\(calS.y.filter { $0 }.count) positive)")
        var table = Evaluation.failureTable(rep, title: "evaluation on the last half of every VM's time span of \(name) (\(all.count) VMs; saturation = CPU ≥ \(Int(tk.threshold)) % for ≥ \(tk.run) steps, starting within \(tk.horizon * 5) min):")
        table = table.replacingOccurrences(of: "max-anomaly-score feature alone", with: "steps-since-last-episode alone")
        print(table, terminator: "")
        print("mean lead of the earliest warning per warned onset (minutes), per threshold: " + leads.map { String(format: "%.0f", $0 * 5) }.joined(separator: " / "))
        print("weights (standardised features): " + zip(SaturationFeatures.names, model.weights).map { "\($0)=\(String(format: "%.3f", $1))" }.joined(separator: " "))
        print("wrote \(out) in \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")
    }
}
