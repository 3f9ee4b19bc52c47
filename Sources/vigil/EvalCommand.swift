import ArgumentParser
import Foundation
import VigilForecast

struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate forecasting (MASE, WAPE, 1−WAPE vs seasonal naive) or detection (P/R/F1 vs PCA).",
        discussion: """
            Examples:
              vigil eval forecast --dataset ../shared/datasets/bitbrains_rnd --model Models/vm-cpu-5m.vgm
              vigil eval forecast --dataset ../shared/datasets/cluster_utilization --horizon 12
              vigil eval detect --dataset ../shared/datasets/smd --step-seconds 60
              vigil eval detect --univariate --streams .build-bench/anomaly-streams.csv --split dev
              vigil eval exhaustion --streams /tmp/exhaustion.csv
            """,
        subcommands: [EvalForecast.self, EvalDetect.self, EvalExhaustion.self]
    )
}

struct EvalForecast: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forecast",
        abstract: "Rolling-origin evaluation on the last part of every series.",
        discussion: """
            Without --model, a forecaster is trained on the leading --train-fraction of each series first (as vigil train
            does). Metrics are pooled over all series, origins and horizon steps: MAE, WAPE = Σ|e|/Σ|y|, 1 − WAPE,
            MASE (scaled by each series' in-sample one-day seasonal-naive MAE), and interval coverage.
            Example: vigil eval forecast --dataset ../shared/datasets/bitbrains_rnd --model Models/vm-cpu-5m.vgm
            """
    )
    @Option(help: "Dataset folder or long CSV.") var dataset: String
    @Option(help: "Forecaster .vgm; trained on the leading part when omitted.") var model: String?
    @Option(help: "H when training here.") var horizon = 12
    @Option(name: .customLong("input-length"), help: "L when training here (default one day of steps).") var inputLength: Int?
    @Option(help: "Column for folder datasets.") var metric: String?
    @Option(help: "Training objective: mase (every series counts alike; series may differ in units) or wape (pooled absolute error; one metric in one unit).") var objective: Objective = .mase
    @Option(name: .customLong("train-fraction")) var trainFraction = 0.7
    @Option(name: .customLong("origin-stride"), help: "Steps between origins (default H).") var originStride: Int?
    @Flag(name: .customLong("per-series"), help: "Also print every series' own table.") var perSeries = false
    @Option(help: "Per-series backtest selection row: backtest or none (default: the model file's setting; backtest when training here).") var selection: SelectionMode?

    func run() async throws {
        let raw = try DatasetLoader.loadForecastSeries(dataset, metric: metric)
        let (series, step) = Evaluation.prepare(raw, trainFraction: trainFraction)
        guard !series.isEmpty else { throw ValidationError("no usable series in \(dataset)") }
        let m: LinearForecaster
        if let model {
            m = try LinearForecaster(modelFile: ModelFile.read(path: model))
            if m.stepMs != 0 && m.stepMs != step { throw ValidationError("model step \(m.stepMs / 1000) s ≠ dataset step \(step / 1000) s") }
        } else {
            let L = inputLength ?? ForecastPipeline.defaultInputLength(stepMs: step), H = horizon, pooled = objective == .wape
            let bar = ProgressBar(label: "training")
            m = try await BLASWorker.shared.run { try Evaluation.train(series, inputLength: L, horizon: H, step: step, pooledObjective: pooled) { bar.update($0) }.0 }
            bar.finish()
        }
        let stride = originStride ?? m.horizon
        var mm = m
        switch selection {
        case .backtest?: mm.selection = mm.selection ?? BacktestSelection()
        case .none?: mm.selection = nil
        case nil: if model == nil { mm.selection = BacktestSelection() }
        }
        let em = mm
        let (rows, per, choices) = try await BLASWorker.shared.run { Evaluation.rollingOriginDetailed(series, model: em, step: step, originStride: stride) }
        if perSeries { for p in per { print(Evaluation.forecastTable(p.rows, title: "series \(p.id):")) } }
        if em.selection != nil { print("backtest selection chose: global \(choices[0]), own linear model \(choices[1]), last value \(choices[2]) (series × origins)") }
        print(Evaluation.forecastTable(rows, title: "\((dataset as NSString).lastPathComponent): \(series.count) series, step \(step / 1000) s, L=\(m.inputLength), H=\(m.horizon), test = last \(Int(((1 - trainFraction) * 100).rounded())) % of each series, origins every \(stride) steps"))
    }
}

struct EvalDetect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Detection metrics: window-scored univariate streams (--univariate), or a labelled multivariate dataset next to a PCA baseline.",
        discussion: """
            Univariate (--univariate --streams FILE, the CSV of scripts/datasets/inject_anomalies.py): every stream of
            --split is scored online by vigil's anomaly likelihood (as vigil detect does it), by a windowed Gaussian tail
            probability (window: two days of points) and by a rolling robust z-score (median/MAD over one day), each
            with the same learning period and the same suppression after an alarm. Window-based scoring as streaming
            benchmarks do it (a window around each labelled anomaly, the earliest detection in it rewarded most at its
            start, detections outside windows and missed windows cost, normalised 0 = never alarm, 100 = every window at
            its start), for the standard, low-FP and low-FN profiles, the threshold chosen once per profile and method
            over all streams of the split. Also: alarms on the clean streams at the threshold 0.99.

            Multivariate (--dataset): the folder holds <machine>_train.csv.gz and <machine>_test.csv.gz (dims…, label),
            as SMD and ASD do. No point-adjust: point-wise P/R/F1 count every row; event-wise recall counts labelled runs
            with at least one flagged row, event-wise precision counts flagged runs that touch a labelled run. "early" =
            events flagged at least --lead-minutes before their last row. "vigil multivariate" is fitted on each
            machine's train part (per-metric scales, threshold at --threshold-quantile of its train scores) and scores
            the test rows online.

            Examples:
              python3 scripts/datasets/inject_anomalies.py --out .build-bench/anomaly-streams.csv
              vigil eval detect --univariate --streams .build-bench/anomaly-streams.csv --split dev
              vigil eval detect --dataset ../shared/datasets/asd --step-seconds 300
            """
    )
    @Flag(help: "Window-scored univariate streams (needs --streams).") var univariate = false
    @Option(help: "Univariate: streams CSV from scripts/datasets/inject_anomalies.py.") var streams: String?
    @Option(help: "Univariate: the split to score (dev, test or all).") var split = "dev"
    @Option(help: "Univariate: tail of the likelihood (evt, gaussian or robust).") var tail: String = "evt"
    @Option(name: .customLong("short-window"), help: "Univariate: points in the recent mean error.") var shortWindow: Int?
    @Option(name: .customLong("seasonal-weight"), help: "Univariate: weight of the time-of-day residual (0 = off).") var seasonalWeight: Double?
    @Option(help: "Labelled multivariate dataset folder.") var dataset: String?
    @Option(name: .customLong("step-seconds"), help: "Sampling step (SMD 60, ASD 300).") var stepSeconds = 60.0
    @Option(name: .customLong("lead-minutes")) var leadMinutes = 5.0
    @Option(name: .customLong("max-machines")) var maxMachines = Int.max
    @Option(name: .customLong("metric-quantile"), help: "Adaptive-threshold quantile of each per-metric detector.") var metricQuantile = 0.999
    @Option(name: .customLong("top-k"), help: "Multivariate detector: mean of the k largest per-metric exceedances.") var topK = 3
    @Option(name: .customLong("threshold-quantile"), help: "Multivariate detector: threshold = this quantile of the train-part scores.") var thresholdQuantile = 0.995
    @Option(help: "Multivariate detector: rows an alarm is held after the last exceedance.") var hold = 5

    func run() async throws {
        if univariate { return try await runUnivariate() }
        guard let dataset else { throw ValidationError("give --dataset (multivariate) or --univariate --streams FILE") }
        let machines = try DatasetLoader.loadLabelled(dataset, maxMachines: maxMachines)
        let lead = Int((leadMinutes * 60 / stepSeconds).rounded(.up)), q = metricQuantile
        guard topK >= 1, hold >= 0, thresholdQuantile > 0, thresholdQuantile <= 1 else {
            throw ValidationError("--top-k must be ≥ 1, --hold ≥ 0, --threshold-quantile in (0, 1]")
        }
        var mv = MultivariateDetector.Config()
        mv.topK = topK; mv.thresholdQuantile = thresholdQuantile; mv.hold = hold
        let cfg = mv
        let rows = try await BLASWorker.shared.run { Evaluation.detection(machines, leadPoints: lead, metricQuantile: q, multivariate: cfg) { stderr("  " + $0) } }
        print(Evaluation.detectionTable(rows, title: "\((dataset as NSString).lastPathComponent): \(machines.count) machines, \(machines.reduce(0) { $0 + $1.testRows }) test rows", leadLabel: "≥\(Int(leadMinutes)) min"))
    }

    func runUnivariate() async throws {
        guard let streams else { throw ValidationError("--univariate needs --streams FILE (python3 scripts/datasets/inject_anomalies.py --out FILE)") }
        guard let tailKind = StreamingAnomalyScorer.Tail(rawValue: tail) else { throw ValidationError("--tail must be evt, gaussian or robust") }
        if let shortWindow, shortWindow < 1 { throw ValidationError("--short-window must be ≥ 1") }
        let all = try UnivariateDetectionEvaluation.load(path: streams)
        let chosen = all.filter { split == "all" || $0.split == split }
        guard !chosen.isEmpty else { throw ValidationError("\(streams): no stream in split '\(split)' (splits: \(Set(all.map(\.split)).sorted().joined(separator: ", ")))") }
        let sw = shortWindow, seasonal = seasonalWeight
        let bar = ProgressBar(label: "scoring")
        typealias Scored = (stream: AnomalyStream, surprise: [[Double]], likelihood: [Double], suppress: Int)
        let scored: [Scored] = try await BLASWorker.shared.run {
            chosen.enumerated().map { i, s in
                bar.update(Double(i) / Double(chosen.count))
                var c = StreamingAnomalyScorer.Config.forStep(seconds: s.stepSeconds)
                c.tail = tailKind
                if let sw { c.shortWindow = sw }
                if let seasonal { c.seasonalWeight = seasonal; if seasonal == 0 { c.seasonalBinSeconds = 0 } }
                var d = StreamingAnomalyScorer(config: c)
                var vs = [Double](repeating: 0, count: s.values.count), lik = vs, legacy = vs
                for k in s.values.indices {
                    lik[k] = d.updateLikelihood(s.values[k], time: s.times[k])
                    vs[k] = d.surprise
                    legacy[k] = k < c.learningPoints ? 0 : min(300, -log10(max(1e-300, 1 - d.legacyScore)))
                }
                let wg = WindowedGaussianBaseline.surprise(s.values, window: c.longWindow)
                let rz = RollingRobustZBaseline.surprise(s.values, window: c.learningPoints)
                // the baselines get the same learning period
                func learn(_ a: [Double]) -> [Double] { a.enumerated().map { $0.offset < c.learningPoints ? 0 : $0.element } }
                return (s, [vs, learn(wg), learn(rz), legacy], lik, c.suppressPoints)
            }
        }
        bar.finish()
        let methods = ["vigil anomaly likelihood", "windowed Gaussian tail", "rolling robust z", "vigil before (adaptive threshold)"]
        let windows = scored.map { UnivariateDetectionEvaluation.windows($0.stream.anomaly) }
        let nWin = windows.reduce(0) { $0 + $1.count }
        var out = "univariate detection, split \(split): \(scored.count) streams (" + Dictionary(grouping: scored, by: { $0.stream.kind }).map { "\($0.key) \($0.value.count)" }.sorted().joined(separator: ", ")
        out += "), \(nWin) windows, \(scored.reduce(0) { $0 + $1.stream.values.count }) points; threshold chosen per profile and method over the split\n\n"
        out += "| profile | method | threshold | score (0–100) | windows caught | false alarms |\n|---|---|---|---|---|---|\n"
        var standardTh = [Double](repeating: 0, count: methods.count)
        var kindLine = ""
        for p in DetectionProfile.all {
            for (m, name) in methods.enumerated() {
                let input = scored.indices.map { (scored[$0].surprise[m], windows[$0], scored[$0].suppress, scored[$0].stream.kind) }
                let r = UnivariateDetectionEvaluation.tune(input, profile: p)
                if p.name == DetectionProfile.standard.name {
                    standardTh[m] = r.threshold
                    if m == 0 {
                        kindLine = "vigil, standard profile, windows caught by kind: " + r.tally.windowsByKind.keys.sorted().map { "\($0) \(r.tally.caughtByKind[$0, default: 0])/\(r.tally.windowsByKind[$0]!)" }.joined(separator: ", ")
                    }
                }
                out += "| \(p.name) | \(name) | \(scoreLabel(r.threshold)) | \(String(format: "%.1f", r.normalised)) | \(r.tally.caught)/\(r.tally.windows) | \(r.tally.falsePositives) |\n"
            }
        }
        // clean streams at 0.99
        let clean = scored.filter { !$0.stream.anomaly.contains(true) }
        if !clean.isEmpty {
            let th = -log10(0.01)
            let days = clean.reduce(0.0) { $0 + ($1.stream.times.last! - $1.stream.times.first!) / 86400 }
            out += "\nclean streams (\(clean.count), \(String(format: "%.1f", days)) stream-days), threshold 0.99, after the learning period:\n"
            out += "| method | points ≥ 0.99 | points ≥ 0.9999 | alarms (after suppression) per stream-day |\n|---|---|---|---|\n"
            for (m, name) in methods.enumerated() {
                var n = 0, a99 = 0, a9999 = 0, alarms = 0
                for s in clean {
                    let start = UnivariateDetectionEvaluation.probation(s.stream.values.count)
                    let x = s.surprise[m][start...]
                    n += x.count; a99 += x.filter { $0 >= th }.count; a9999 += x.filter { $0 >= 4 }.count
                    alarms += UnivariateDetectionEvaluation.detections(s.surprise[m], threshold: th, suppress: s.suppress).count
                }
                out += "| \(name) | \(pct(a99, n)) | \(pct(a9999, n)) | \(String(format: "%.2f", Double(alarms) / max(days, 1e-9))) |\n"
            }
        }
        print(out + "\n" + kindLine)
    }
}

private func scoreLabel(_ surprise: Double) -> String { "≥ " + String(format: "%.\(max(2, Int(surprise.rounded(.up))))f", 1 - pow(10, -surprise)) }
private func pct(_ a: Int, _ n: Int) -> String { n == 0 ? "–" : String(format: "%.2f %%", 100 * Double(a) / Double(n)) }

struct EvalExhaustion: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exhaustion",
        abstract: "Time-to-exhaustion warnings on streams with injected leaks and fills, next to two baselines.",
        discussion: """
            --streams is the CSV of scripts/datasets/inject_exhaustion.py (stream,split,kind,t,value,limit,exhausted).
            Every row is scored from the rows up to it only, by the Theil–Sen exhaustion estimator (P of reaching the
            limit within --horizon-minutes), a static alarm (value/limit) and a naive one (time to the limit along the
            last two samples' slope). Each method's threshold is chosen on the --tune-on split (best F1) and then
            applied unchanged to every split. A warning row is correct when the stream reaches its limit within the
            horizon after it; an exhaustion is caught when a row between horizon and --lead-minutes before it warns;
            a false warning is a run of incorrect warning rows (per VM-day).
            Example:
              python3 scripts/datasets/inject_exhaustion.py --out /tmp/exhaustion.csv
              vigil eval exhaustion --streams /tmp/exhaustion.csv --window-minutes 90
            """
    )
    @Option(help: "Streams CSV from scripts/datasets/inject_exhaustion.py.") var streams: String
    @Option(name: .customLong("horizon-minutes"), help: "Warn of exhaustion within this horizon.") var horizonMinutes = 30.0
    @Option(name: .customLong("lead-minutes"), help: "A caught exhaustion was warned at least this long ahead.") var leadMinutes = 10.0
    @Option(name: .customLong("window-minutes"), help: "Estimator window.") var windowMinutes = 90.0
    @Option(name: .customLong("reset-drop"), help: "Estimator reset: a level drop by this fraction of the limit.") var resetDrop = 0.10
    @Option(name: .customLong("tune-on"), help: "Split the thresholds are chosen on.") var tuneOn = "validation"
    @Option(help: "Only these splits (comma-separated; default all, tune split first).") var splits: String?

    func run() async throws {
        guard horizonMinutes > 0, leadMinutes >= 0, leadMinutes < horizonMinutes, windowMinutes > 0, resetDrop > 0 else {
            throw ValidationError("need --horizon-minutes > --lead-minutes ≥ 0, --window-minutes > 0, --reset-drop > 0")
        }
        let all = try ExhaustionEvaluation.load(path: streams)
        var names = [tuneOn]
        for s in all where !names.contains(s.split) { names.append(s.split) }
        if let splits { names = [tuneOn] + splits.split(separator: ",").map(String.init).filter { $0 != tuneOn } }
        guard all.contains(where: { $0.split == tuneOn }) else { throw ValidationError("\(streams): no stream in split '\(tuneOn)'") }
        var cfg = ExhaustionConfig()
        cfg.windowSeconds = windowMinutes * 60; cfg.horizonSeconds = horizonMinutes * 60; cfg.resetDropFraction = resetDrop
        let config = cfg, H = horizonMinutes * 60, lead = leadMinutes * 60
        let chosen = all.filter { names.contains($0.split) }
        let bar = ProgressBar(label: "scoring")
        let scored = try await BLASWorker.shared.run {
            chosen.enumerated().map { i, s in
                bar.update(Double(i) / Double(max(1, chosen.count)))
                return (s, ExhaustionEvaluation.scores(s, config: config))
            }
        }
        bar.finish()
        typealias Pick = @Sendable (ExhaustionEvaluation.Scores) -> [Double]
        let methods: [(String, Pick, [Double], (Double) -> String)] = [
            ("vigil (Theil–Sen TTE)", { $0.vigil }, ExhaustionEvaluation.vigilGrid, { "P ≥ \(fmt($0))" }),
            ("static value/limit", { $0.fraction }, ExhaustionEvaluation.fractionGrid, { "≥ \(fmt($0))" }),
            ("naive last-slope TTE", { $0.naive }, ExhaustionEvaluation.naiveGrid, { "TTE ≤ \(Int(-$0 / 60)) min" }),
        ]
        let tune = scored.filter { $0.0.split == tuneOn }
        var out = "exhaustion: \(chosen.count) streams (" + names.map { n in "\(n) \(chosen.filter { $0.split == n }.count)" }.joined(separator: ", ")
        out += "), \"exhausts within \(fmt(horizonMinutes)) min, warned ≥ \(fmt(leadMinutes)) min ahead\", window \(fmt(windowMinutes)) min, thresholds chosen on \(tuneOn)\n"
        out += "| split | method | threshold | precision | recall (caught/events) | F1 | false warnings / VM-day | lead p10 / p50 / p90 (min) |\n|---|---|---|---|---|---|---|---|\n"
        var kindRows = ""
        for (name, pick, grid, label) in methods {
            let (th, _) = ExhaustionEvaluation.tune(tune.map { ($0.0, pick($0.1)) }, grid: grid, horizon: H, minLead: lead)
            for split in names {
                let c = scored.filter { $0.0.split == split }.reduce(ExhaustionCounts()) {
                    $0 + ExhaustionEvaluation.counts($1.0, warn: pick($1.1).map { $0 >= th }, horizon: H, minLead: lead)
                }
                let l = [0.1, 0.5, 0.9].map { fmt(ExhaustionEvaluation.percentile(c.leadsSeconds, $0) / 60) }.joined(separator: " / ")
                out += "| \(split) | \(name) | \(label(th)) | \(fmt3(c.precision)) | \(fmt3(c.recall)) (\(c.caught)/\(c.events)) | \(fmt3(c.f1)) | \(fmt3(c.falsePerVMDay)) | \(l) |\n"
                if split != tuneOn {
                    let kinds = c.eventsByKind.keys.sorted().map { "\($0) \(c.caughtByKind[$0, default: 0])/\(c.eventsByKind[$0]!)" }
                    kindRows += "\(split), \(name): caught by kind: \(kinds.joined(separator: ", "))\n"
                }
            }
        }
        print(out + "\n" + kindRows, terminator: "")
    }
}

private func fmt(_ x: Double) -> String { x.isNaN ? "–" : String(format: x == x.rounded() ? "%.0f" : "%.3g", x) }
private func fmt3(_ x: Double) -> String { String(format: "%.3f", x) }
