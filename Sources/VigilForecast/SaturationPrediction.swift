import Foundation

/// Saturation (resource exhaustion) prediction for one VM or host: will its CPU enter a saturation episode — at least
/// `run` consecutive steps at or above `threshold` % — within the next `horizon` steps, given that it was not saturated
/// during the last hour? Features are computed from the values up to t only (`SaturationFeatures.compute`).
public struct SaturationTask: Sendable, Equatable {
    public var threshold = 90.0
    public var run = 3
    public var horizon = 12
    /// Steps of history the features look at (one week at 5-minute steps).
    public var lookback = 2016
    /// One day of steps (the daily features).
    public var day = 288
    public init() {}

    /// Steps of each series in which a saturation episode starts (a run of ≥ `run` values ≥ threshold begins).
    public func episodeStarts(_ cpu: [Double]) -> [Bool] {
        var out = [Bool](repeating: false, count: cpu.count)
        var t = 0
        while t < cpu.count {
            if cpu[t] >= threshold {
                var j = t
                while j < cpu.count && cpu[j] >= threshold { j += 1 }
                if j - t >= run { out[t] = true }
                t = j
            } else { t += 1 }
        }
        return out
    }

    /// For every step t, the index of the last step of the last saturation episode completed by t (nil: none so far).
    /// Uses values ≤ t only: an episode counts once its run of ≥ `run` saturated steps has ended.
    public func lastEpisodeEnds(_ cpu: [Double]) -> [Int?] {
        let n = cpu.count
        var isEnd = [Bool](repeating: false, count: n)
        var t = 0
        while t < n {
            if cpu[t] >= threshold {
                var j = t
                while j < n && cpu[j] >= threshold { j += 1 }
                if j - t >= run { isEnd[j - 1] = true }
                t = j
            } else { t += 1 }
        }
        var out = [Int?](repeating: nil, count: n)
        var last: Int? = nil
        for i in 0..<n {
            if isEnd[i] { last = i }
            out[i] = last
        }
        return out
    }

    /// Whether a prediction is asked at t: the CPU was below the threshold for the whole last hour (12 steps up to t).
    public func isQuiet(_ cpu: [Double], at t: Int) -> Bool {
        !cpu[max(0, t - 11)...t].contains(where: { $0 >= threshold })
    }

    /// The model's features at step t (values ≤ t only): the last day of CPU, the last hour of memory (NaN = unknown),
    /// and the steps since `lastEpisodeEnd` (from `lastEpisodeEnds`). Training (`Evaluation.saturationSamples`) and the
    /// online path (`SaturationModel.latestFeatures`) both call this.
    public func features(cpu: [Double], mem: [Double], at t: Int, lastEpisodeEnd: Int?) -> [Double] {
        SaturationFeatures.compute(cpu: cpu[max(0, t - day + 1)...t], mem: mem[max(0, t - 11)...t],
                                   stepsSinceEpisode: lastEpisodeEnd.map { t - $0 }, task: self)
    }
}

/// A saturation predictor as `vigil serve` runs it: the calibrated logistic regression of `vigil train --kind saturation`
/// plus the task it was trained for (threshold, run, horizon and step from the model header).
public struct SaturationModel: Sendable {
    public var predictor: FailurePredictor
    public var task: SaturationTask
    /// The model's step; watched series are resampled to it.
    public var stepMs: Int64

    public init(predictor: FailurePredictor, task: SaturationTask, stepMs: Int64) {
        self.predictor = predictor
        self.task = task
        self.stepMs = stepMs
    }

    /// Reads a saturation model; refuses other kinds and other feature sets, naming `name` (the file) and what differs.
    public init(modelFile m: ModelFile, name: String = "model") throws {
        let kind = m.header["kind"]?.string ?? "missing"
        guard kind == "failure" else {
            throw ModelFile.FormatError.badHeader("\(name): kind is \(kind), expected failure (a saturation predictor from `vigil train --kind saturation`)")
        }
        let p = try FailurePredictor(modelFile: m)
        guard p.featureNames == SaturationFeatures.names else {
            throw ModelFile.FormatError.badHeader("\(name): features [\(p.featureNames.joined(separator: ","))] are not the saturation features "
                + "[\(SaturationFeatures.names.joined(separator: ","))]; vigil serve computes only those (or the incident features, for forecast.failure_model)")
        }
        guard let stepS = m.header["step_seconds"]?.number, stepS >= 1, let hMin = m.header["horizon_minutes"]?.number, hMin > 0 else {
            throw ModelFile.FormatError.badHeader("\(name): a saturation model needs step_seconds ≥ 1 and horizon_minutes > 0 in its header")
        }
        var task = SaturationTask()
        task.threshold = m.header["saturation_threshold"]?.number ?? task.threshold
        task.run = m.header["saturation_run"]?.number.map { max(1, Int($0)) } ?? task.run
        task.horizon = max(1, Int((hMin * 60 / stepS).rounded()))
        self.init(predictor: p, task: task, stepMs: Int64((stepS * 1000).rounded()))
    }

    /// Grid points the online features look at: enough that the capped "steps since the last episode" and the daily
    /// windows equal what training computed on the whole series.
    public var historyPoints: Int { max(task.lookback + task.run, task.day + 1) }
    /// How far back to read a series, in ms.
    public var historyMs: Int64 { Int64(historyPoints + 1) * stepMs }

    /// The features at the newest sample of a raw series (timestamps in ms, CPU in %): resampled onto the model's step
    /// anchored at the last sample (`SeriesPrep.regularize`), then `SaturationTask.features` at the last grid point with
    /// memory unknown. nil when the grid has no full day of history yet, or when the CPU reached the threshold within the
    /// last hour (the model is only defined outside saturation, as in training).
    public func latestFeatures(timestamps: [Int64], values: [Double]) -> [Double]? {
        guard let r = SeriesPrep.regularize(timestamps, values, step: stepMs, maxPoints: historyPoints) else { return nil }
        let cpu = r.values, t = cpu.count - 1
        guard t >= task.day, task.isQuiet(cpu, at: t) else { return nil }
        let mem = [Double](repeating: .nan, count: cpu.count)
        return task.features(cpu: cpu, mem: mem, at: t, lastEpisodeEnd: task.lastEpisodeEnds(cpu)[t])
    }
}

public enum SaturationFeatures {
    public static let names = [
        "cpu_now", "cpu_max_1h", "cpu_mean_1h", "cpu_max_1d", "cpu_mean_1d", "cpu_slope_1h", "cpu_std_1h",
        "fraction_saturated_1d", "log_steps_since_last_episode", "mem_now", "mem_trend_1h", "log_steps_to_threshold_by_trend",
    ]
    public static var count: Int { names.count }

    /// Features at the last value of `cpu` (CPU %, regular steps, ≥ `task.day` values) and `mem` (memory %, same grid;
    /// NaN when unknown). `lastEpisodeEnd`: steps since the end of the last saturation episode completed by t
    /// (nil = none within the lookback).
    public static func compute(cpu: ArraySlice<Double>, mem: ArraySlice<Double>, stepsSinceEpisode: Int?, task: SaturationTask) -> [Double] {
        let n = cpu.count, e = cpu.endIndex
        let h = min(12, n), d = min(task.day, n)
        let hour = cpu[(e - h)..<e], dayW = cpu[(e - d)..<e]
        let now = cpu[e - 1]
        let meanH = hour.reduce(0, +) / Double(h)
        var sxy = 0.0, sxx = 0.0, varH = 0.0
        for (i, v) in hour.enumerated() {
            let x = Double(i) - Double(h - 1) / 2
            sxy += x * (v - meanH); sxx += x * x
            varH += (v - meanH) * (v - meanH)
        }
        let slope = sxx > 0 ? sxy / sxx : 0
        let satFrac = Double(dayW.filter { $0 >= task.threshold }.count) / Double(d)
        let since = Double(min(stepsSinceEpisode ?? task.lookback, task.lookback))
        let toThreshold = slope > 1e-9 ? min(Double(task.day), max(0, (task.threshold - now) / slope)) : Double(task.day)
        let memNow = mem.last ?? .nan
        let memTrend = mem.count >= h ? (mem[mem.endIndex - 1] - mem[mem.endIndex - h]) : 0
        return [now, hour.max() ?? now, meanH, dayW.max() ?? now, dayW.reduce(0, +) / Double(d), slope, (varH / Double(h)).squareRoot(),
                satFrac, log1p(since), memNow.isFinite ? memNow : 0, memTrend.isFinite ? memTrend : 0, log1p(toThreshold)]
    }
}

extension Evaluation {
    /// One VM: CPU % and memory % on a common regular grid.
    public struct UtilisationSeries: Sendable {
        public var id: String
        public var cpu: [Double]
        public var mem: [Double]
        public init(id: String, cpu: [Double], mem: [Double]) { self.id = id; self.cpu = cpu; self.mem = mem }
    }

    /// Saturation samples: every `sampleEvery` steps t (with a day of history) at which the CPU was below the threshold
    /// for the whole last hour; label = an episode starts within (t, t + horizon]. Split by t's position in its series
    /// at `splits` (e.g. [0.4, 0.5] → fit / calibrate / evaluate).
    public static func saturationSamples(_ series: [UtilisationSeries], task: SaturationTask, sampleEvery: Int, splits: [Double])
        -> [FailureSamples] {
        var parts = [FailureSamples](repeating: FailureSamples(), count: splits.count + 1)
        for (si, s) in series.enumerated() {
            let n = s.cpu.count
            guard n > task.day + task.horizon + task.run else { continue }
            let starts = task.episodeStarts(s.cpu)
            let lastEnds = task.lastEpisodeEnds(s.cpu)
            var t = task.day
            var nextStart = [Int](repeating: Int.max, count: n + 1)
            for i in stride(from: n - 1, through: 0, by: -1) { nextStart[i] = starts[i] ? i : nextStart[i + 1] }
            while t < n - task.horizon {
                defer { t += sampleEvery }
                guard task.isQuiet(s.cpu, at: t) else { continue }
                let f = task.features(cpu: s.cpu, mem: s.mem, at: t, lastEpisodeEnd: lastEnds[t])
                let y = nextStart[t + 1] <= t + task.horizon
                let frac = Double(t) / Double(n)
                let p = splits.firstIndex(where: { frac < $0 }) ?? splits.count
                parts[p].x.append(f)
                parts[p].y.append(y)
                parts[p].origin.append((si, t))
            }
        }
        return parts
    }

    /// Evaluates calibrated saturation probabilities: AUC, Brier, and per probability threshold the sample precision
    /// and recall, episodes warned (a sample with p ≥ threshold within the `horizon` steps before the onset) and the
    /// mean lead time of the earliest warning, in steps.
    public static func saturationReport(_ model: FailurePredictor, _ s: FailureSamples, series: [UtilisationSeries],
                                        task: SaturationTask) -> (report: FailureReport, meanLeadSteps: [Double]) {
        var r = FailureReport()
        let p = s.x.map { model.probability($0) }
        r.samples = p.count
        r.positives = s.y.filter { $0 }.count
        r.auc = rocAUC(p, s.y)
        r.baselineAUC = rocAUC(s.x.map { $0[8] }.map { -$0 }, s.y)  // steps since the last episode, alone (fewer = riskier)
        let base = Double(r.positives) / Double(max(1, r.samples))
        for (pi, yi) in zip(p, s.y) {
            let t = yi ? 1.0 : 0
            r.brier += (pi - t) * (pi - t)
            r.baseRateBrier += (base - t) * (base - t)
        }
        r.brier /= Double(max(1, r.samples)); r.baseRateBrier /= Double(max(1, r.samples))
        // onsets inside each series' evaluated span that have at least one sample in the horizon before them
        var ranges: [Int: (Int, Int)] = [:]
        for o in s.origin { let c = ranges[o.machine] ?? (Int.max, Int.min); ranges[o.machine] = (min(c.0, o.row), max(c.1, o.row)) }
        var onsets: [(Int, Int)] = []
        for (si, (lo, hi)) in ranges.sorted(by: { $0.key < $1.key }) {
            let st = task.episodeStarts(series[si].cpu)
            for t in (lo + 1)...(hi + task.horizon) where t < st.count && st[t] { onsets.append((si, t)) }
        }
        var leads: [Double] = []
        for thr in [0.1, 0.2, 0.3, 0.5] {
            var tp = 0, fp = 0
            var earliest: [Int: Int] = [:]  // onset index → largest lead
            for (k, pi) in p.enumerated() where pi >= thr {
                if s.y[k] { tp += 1 } else { fp += 1 }
                let o = s.origin[k]
                for (ei, e) in onsets.enumerated() where e.0 == o.machine && e.1 > o.row && e.1 - o.row <= task.horizon {
                    earliest[ei] = max(earliest[ei] ?? 0, e.1 - o.row)
                }
            }
            r.rows.append((thr, Double(tp) / Double(max(1, tp + fp)), Double(tp) / Double(max(1, r.positives)), earliest.count, onsets.count))
            leads.append(earliest.isEmpty ? 0 : Double(earliest.values.reduce(0, +)) / Double(earliest.count))
        }
        return (r, leads)
    }
}
