import Foundation

/// How a series' forecast was made.
public enum ForecastMethod: String, Sendable, CaseIterable {
    case linear
    /// Seasonal naive (the global model validated worse, or the series is shorter than the model's input).
    case seasonalNaive = "seasonal_naive"
    /// Last value (history shorter than one season, or chosen by the backtest selection).
    case lastValue = "last_value"
    /// The series' own linear model, chosen by the backtest selection (`BacktestSelection`).
    case local = "local_linear"
    /// No finite value at all: NaN forecasts.
    case none
}

public struct SeriesForecast: Sendable {
    public var id: String
    public var stepMs: Int64
    public var lastTimestamp: Int64
    public var forecast: [Double]
    public var lo: [Double]
    public var hi: [Double]
    public var method: ForecastMethod
}

public struct ForecastRunReport: Sendable {
    public var counts: [ForecastMethod: Int] = [:]
    public var notes: [String] = []
    /// Models this run fitted on its input, by step (the online loop keeps them for `reuse` on later rounds).
    public var fitted: [Int64: LinearForecaster] = [:]
}

/// The whole `vigil forecast` path: regularise every series, fit (or load) a global linear model per step,
/// forecast all series with enough history in one matrix product, fall back (and say so) for the rest.
public enum ForecastPipeline {
    /// Default input length: one day of steps, capped.
    public static func defaultInputLength(stepMs: Int64) -> Int { max(4, min(1440, Int(86_400_000 / max(1, stepMs)))) }

    /// With `selection` (default: the model's own, e.g. `Models/vm-cpu-5m.vgm`), each series with at least L + H
    /// points is forecast by whichever of {global model, its own linear model, last value} had the smallest absolute
    /// error on its own last `selection.origins` complete forecasts (`BacktestSelection.forecast`); intervals are the
    /// global model's, shifted to the chosen forecast. Only when H equals the model's horizon.
    public static func run(_ series: [RawSeries], horizon H: Int, model: LinearForecaster? = nil, coverage: Double = 0.9,
                           selection: BacktestSelection? = nil, reuse: [Int64: LinearForecaster] = [:],
                           threads: Int = 2, log: (String) -> Void = { _ in }) throws -> ([SeriesForecast], ForecastRunReport) {
        precondition(H >= 1, "horizon must be ≥ 1")
        var report = ForecastRunReport()
        var out = [SeriesForecast?](repeating: nil, count: series.count)
        var regular = [SeriesPrep.Regular?](repeating: nil, count: series.count)
        var steps: [Int64] = []
        for (i, s) in series.enumerated() {
            if let st = SeriesPrep.inferStep(s.timestamps) {
                steps.append(st)
                regular[i] = SeriesPrep.regularize(s.timestamps, s.values, step: st, maxPoints: 200_000)
            }
        }
        // Series with a single sample have no step of their own: use the most common step (or 60 s).
        let commonStep = Dictionary(grouping: steps, by: { $0 }).max(by: { $0.value.count < $1.value.count })?.key ?? 60_000
        for (i, s) in series.enumerated() where regular[i] == nil {
            regular[i] = SeriesPrep.regularize(s.timestamps, s.values, step: commonStep)
            if regular[i] == nil {
                let last = s.timestamps.last ?? 0
                let nan = [Double](repeating: .nan, count: H)
                out[i] = SeriesForecast(id: s.id, stepMs: commonStep, lastTimestamp: last, forecast: nan, lo: nan, hi: nan, method: .none)
            }
        }
        let gaps = regular.compactMap { $0?.filled }.reduce(0, +)
        if gaps > 0 { report.notes.append("filled \(gaps) missing or irregular grid points by linear interpolation") }

        var selectionCounts = [0, 0, 0]
        let groups = Dictionary(grouping: series.indices.filter { out[$0] == nil }, by: { regular[$0]!.step })
        for (step, idx) in groups.sorted(by: { $0.key < $1.key }) {
            let day = max(1, Int(86_400_000 / step))
            var m: LinearForecaster? = nil
            if let model, model.stepMs == 0 || model.stepMs == step {
                m = model
            } else if let r = reuse[step], r.horizon == H {
                m = r  // fitted on an earlier round's input (the online loop refits hourly, not every round)
            } else {
                if let model { report.notes.append("model step \(model.stepMs / 1000) s ≠ series step \(step / 1000) s: fitting on the input instead") }
                m = fitOnInput(idx.map { regular[$0]!.values }, step: step, horizon: H, coverage: coverage, report: &report, log: log)
                if let m { report.fitted[step] = m }
            }
            var linearIdx: [Int] = []
            for i in idx {
                if let m, regular[i]!.values.count >= m.inputLength { linearIdx.append(i) } else {
                    out[i] = fallback(id: series[i].id, regular[i]!, horizon: H, period: day, coverage: coverage)
                }
            }
            guard let m, !linearIdx.isEmpty else { continue }
            let (f, lo, hi) = predictMulti(m, windows: linearIdx.map { regular[$0]!.values.suffix(m.inputLength) }, horizon: H,
                                           threads: threads)
            let method: ForecastMethod = m.method == "linear" ? .linear : m.method == "last_value" ? .lastValue : .seasonalNaive
            let sel = m.horizon == H ? (selection ?? m.selection) : nil
            for (k, i) in linearIdx.enumerated() {
                let r = regular[i]!
                var fc = Array(f[(k * H)..<((k + 1) * H)]), l = Array(lo[(k * H)..<((k + 1) * H)]), u = Array(hi[(k * H)..<((k + 1) * H)])
                var how = method
                if let sel {
                    let (choice, sf, _) = sel.forecast(r.values, global: m)
                    selectionCounts[choice] += 1
                    if choice != 0 {
                        for h in 0..<H { l[h] += sf[h] - fc[h]; u[h] += sf[h] - fc[h] }
                        fc = sf
                        how = choice == 1 ? .local : .lastValue
                    }
                }
                out[i] = SeriesForecast(id: series[i].id, stepMs: step, lastTimestamp: r.lastTimestamp,
                                        forecast: fc, lo: l, hi: u, method: how)
            }
        }
        let result = out.map { $0! }
        for r in result { report.counts[r.method, default: 0] += 1 }
        if selectionCounts.reduce(0, +) > 0 {
            report.notes.append("backtest selection: global model \(selectionCounts[0]), own linear model \(selectionCounts[1]), last value \(selectionCounts[2]) series")
        }
        let fbLast = (report.counts[.lastValue] ?? 0) - selectionCounts[2]
        let fb = (report.counts[.seasonalNaive] ?? 0) + fbLast
        if fb > 0 {
            report.notes.append("\(fb) series forecast by a naive fallback (seasonal naive \(report.counts[.seasonalNaive] ?? 0), last value \(fbLast))")
        }
        return (result, report)
    }

    /// Fits a global model on the input series themselves (last fifth of each series held out for λ and intervals).
    static func fitOnInput(_ values: [[Double]], step: Int64, horizon H: Int, coverage: Double, report: inout ForecastRunReport,
                           log: (String) -> Void) -> LinearForecaster? {
        let day = max(1, Int(86_400_000 / step))
        var lens = values.map(\.count).sorted()
        let med = lens[lens.count / 2]
        lens.removeAll()
        // L: a day of steps, shrunk until the median series has room for training and held-out windows.
        var L = defaultInputLength(stepMs: step)
        func cal(_ n: Int) -> Int { max(H, n / 5) }
        while L > 4 && med - cal(med) - H - L + 1 < max(8, H) { L = L * 3 / 4 }
        if L <= 4 || med - cal(med) - H - L + 1 < 1 {
            report.notes.append("step \(step / 1000) s: history too short to fit a model (median \(med) points); naive fallback")
            return nil
        }
        var o = ForecasterTrainingOptions(inputLength: L, horizon: H, stepMs: step)
        o.seasonalPeriod = day <= L ? day : 1
        o.coverage = coverage
        o.maxTrainWindows = 60_000
        let ts = values.map { TrainingSeries(values: $0, calibrationStart: $0.count - cal($0.count)) }
        do {
            let (m, r) = try ForecasterTrainer.fit(ts, options: o)
            log("step \(step / 1000) s: fitted L=\(L) H=\(H) on \(r.trainWindows) windows; held-out MAE \(fmt(r.calibrationMAE)) vs seasonal naive \(fmt(r.seasonalNaiveCalibrationMAE)), last value \(fmt(r.lastValueCalibrationMAE)) (normalised) → \(r.chosen)")
            return m
        } catch {
            report.notes.append("step \(step / 1000) s: could not fit (\(error)); naive fallback")
            return nil
        }
    }

    /// Forecasts `horizon` steps with a model of horizon ≤ `horizon` (recursively when longer; intervals then widen
    /// with √(h/H_model) from the model's last step).
    public static func predictMulti(_ m: LinearForecaster, windows: [ArraySlice<Double>], horizon H: Int, threads: Int)
        -> (f: [Double], lo: [Double], hi: [Double]) {
        let n = windows.count, L = m.inputLength, Hm = m.horizon
        var x = [Double](repeating: 0, count: n * L)
        for (k, w) in windows.enumerated() { for (j, v) in w.enumerated() { x[k * L + j] = v } }
        var f = [Double](repeating: 0, count: n * H), lo = f, hi = f
        var done = 0
        var scales = [Double](repeating: 0, count: n)
        x.withUnsafeBufferPointer { p in for k in 0..<n { scales[k] = windowNorm(p.baseAddress! + k * L, L).scale } }
        while done < H {
            let (bf, blo, bhi) = m.predict(x, rows: n, threads: threads)
            let take = min(Hm, H - done)
            for k in 0..<n {
                for h in 0..<take {
                    let g = done + h
                    f[k * H + g] = bf[k * Hm + h]
                    if done == 0 {
                        lo[k * H + g] = blo[k * Hm + h]
                        hi[k * H + g] = bhi[k * Hm + h]
                    } else {
                        let widen = (Double(g + 1) / Double(Hm)).squareRoot()
                        lo[k * H + g] = f[k * H + g] + scales[k] * m.qLo[Hm - 1] * widen
                        hi[k * H + g] = f[k * H + g] + scales[k] * m.qHi[Hm - 1] * widen
                    }
                }
            }
            done += take
            if done < H {
                // shift each window by Hm and append the forecasts
                for k in 0..<n {
                    if Hm >= L {
                        for j in 0..<L { x[k * L + j] = bf[k * Hm + Hm - L + j] }
                    } else {
                        for j in 0..<(L - Hm) { x[k * L + j] = x[k * L + j + Hm] }
                        for j in 0..<Hm { x[k * L + L - Hm + j] = bf[k * Hm + j] }
                    }
                }
            }
        }
        return (f, lo, hi)
    }

    /// Seasonal naive when at least one season of history exists, last value otherwise; intervals from the
    /// same method's in-sample errors (5 %/95 % quantiles for coverage 0.9).
    public static func fallback(id: String, _ r: SeriesPrep.Regular, horizon H: Int, period P: Int, coverage: Double) -> SeriesForecast {
        let v = r.values, n = v.count
        let seasonal = n >= P && P > 1
        var f = [Double](repeating: 0, count: H), lo = f, hi = f
        let a = (1 - coverage) / 2
        for h in 0..<H {
            f[h] = seasonal ? v[n - P + h % P] : v[n - 1]
            let lag = seasonal ? P * (h / P + 1) : h + 1
            var e: [Double] = []
            if n > lag { e = (lag..<n).map { v[$0] - v[$0 - lag] } }
            e.sort()
            lo[h] = f[h] + ForecasterTrainer.conformalQuantile(e, level: a, lower: true)
            hi[h] = f[h] + ForecasterTrainer.conformalQuantile(e, level: 1 - a, lower: false)
        }
        return SeriesForecast(id: id, stepMs: r.step, lastTimestamp: r.lastTimestamp, forecast: f, lo: lo, hi: hi,
                              method: seasonal ? .seasonalNaive : .lastValue)
    }
}

func fmt(_ v: Double, _ digits: Int = 4) -> String { String(format: "%.\(digits)f", v) }
