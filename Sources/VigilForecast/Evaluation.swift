import Foundation

/// Rolling-origin forecast evaluation and labelled-detection evaluation, shared by `vigil train` and `vigil eval`.
public enum Evaluation {
    public struct ForecastRow: Sendable {
        public var method: String
        public var errors: ForecastErrors
    }

    public struct PreparedSeries: Sendable {
        public var id: String
        public var values: [Double]
        /// First index of the test part (training data before it).
        public var testStart: Int
    }

    /// Regularises series to their (common) step and splits each at `trainFraction`.
    public static func prepare(_ raw: [RawSeries], trainFraction: Double) -> (series: [PreparedSeries], step: Int64) {
        var steps: [Int64: Int] = [:]
        let regs = raw.map { s -> (String, SeriesPrep.Regular?) in
            guard let st = SeriesPrep.inferStep(s.timestamps) else { return (s.id, nil) }
            steps[st, default: 0] += 1
            return (s.id, SeriesPrep.regularize(s.timestamps, s.values, step: st))
        }
        let step = steps.max(by: { $0.value < $1.value })?.key ?? 300_000
        var out: [PreparedSeries] = []
        for (id, r) in regs {
            guard let r, r.step == step, r.values.count >= 10 else { continue }
            out.append(PreparedSeries(id: id, values: r.values, testStart: Int(Double(r.values.count) * trainFraction)))
        }
        return (out, step)
    }

    /// Trains a forecaster on the training parts (last 20 % of each training part held out for λ and intervals).
    public static func train(_ s: [PreparedSeries], inputLength L: Int, horizon H: Int, step: Int64, coverage: Double = 0.9,
                             pooledObjective: Bool = false,
                             progress: ((Double) -> Void)? = nil) throws -> (LinearForecaster, ForecasterTrainingReport) {
        var o = ForecasterTrainingOptions(inputLength: L, horizon: H, stepMs: step)
        o.absoluteScaleWeights = pooledObjective
        let day = Int(86_400_000 / step)
        o.seasonalPeriod = day <= L ? day : 1
        o.coverage = coverage
        let ts = s.map { p in
            TrainingSeries(values: Array(p.values[0..<p.testStart]), calibrationStart: p.testStart - max(H, p.testStart / 5))
        }
        return try ForecasterTrainer.fit(ts, options: o, progress: progress)
    }

    /// Rolling origin over each series' test part: origins every `originStride` steps; each forecasts H steps from
    /// the L points before it. MASE scale: in-sample seasonal-naive MAE (lag = one day of steps) on the training part.
    public static func rollingOrigin(_ s: [PreparedSeries], model m: LinearForecaster, step: Int64, originStride: Int,
                                     selection: BacktestSelection? = nil) -> [ForecastRow] {
        rollingOriginDetailed(s, model: m, step: step, originStride: originStride, selection: selection).pooled
    }

    /// As `rollingOrigin`, plus the rows of every series on its own.
    ///
    /// With `selection` (default: the model's own), a fourth row "vigil select" chooses per series and per origin
    /// between the global model, a per-series linear model (fitted on the training values before the backtest span)
    /// and the last value, by their absolute errors over the previous `selection.origins` origins spaced by H (values
    /// before the origin only); its intervals are the global model's, shifted to the chosen forecast.
    /// `choices` counts how often each candidate was chosen. The last row, "oracle: median of actuals", is a bound and
    /// not a forecast: every origin's H actual values replaced by their median (the best constant for absolute error).
    public static func rollingOriginDetailed(_ s: [PreparedSeries], model m: LinearForecaster, step: Int64, originStride: Int,
                                             selection: BacktestSelection? = nil)
        -> (pooled: [ForecastRow], perSeries: [(id: String, rows: [ForecastRow])], choices: [Int]) {
        var per: [(id: String, rows: [ForecastRow])] = []
        let L = m.inputLength, H = m.horizon
        let day = max(1, Int(86_400_000 / step))
        let sel = originStride % H == 0 ? (selection ?? m.selection) : nil
        var choices = [0, 0, 0]
        var lin = ForecastErrors(), snaive = ForecastErrors(), naive = ForecastErrors(), selected = ForecastErrors(), oracle = ForecastErrors()
        for p in s {
            let v = p.values
            let scale = seasonalNaiveScale(v[0..<p.testStart], period: day)
            var origins: [Int] = []
            var e = max(p.testStart, L, day)
            while e + H <= v.count { origins.append(e); e += originStride }
            if origins.isEmpty { continue }
            var x = [Double](repeating: 0, count: origins.count * L)
            for (k, o) in origins.enumerated() { for j in 0..<L { x[k * L + j] = v[o - L + j] } }
            let (f, lo, hi) = m.predict(x, rows: origins.count, threads: 1)
            var l1 = ForecastErrors(), s1 = ForecastErrors(), n1 = ForecastErrors(), x1 = ForecastErrors(), o1 = ForecastErrors()
            // selection: candidate forecasts on the H-spaced grid from J origins before the first test origin
            var chosen: [[Double]] = []
            if let sel {
                var grid: [Int] = []
                var g = origins[0] - sel.origins * H
                while g < max(L, sel.localLags) && g < origins[0] { g += H }
                while g <= origins[origins.count - 1] { grid.append(g); g += H }
                let nb = grid.firstIndex(of: origins[0])!
                let fitEnd = max(min(p.testStart, grid[0]), min(p.testStart, sel.localLags + H + 4 * (sel.localLags + 1) + 50))
                let local = LocalLinearModel.fit(v[0..<fitEnd], lags: sel.localLags, horizon: H, lambda: sel.lambda, irls: sel.irls)
                let c = BacktestSelection.candidateForecasts(v, origins: grid, global: m, local: local)
                let errs = c.map { cf in grid.indices.map { k in (0..<H).reduce(0.0) { $0 + abs(v[grid[k] + $1] - cf[k * H + $1]) } } }
                let masked = local == nil ? [errs[0], errs[1].map { _ in Double.infinity }, errs[2]] : errs
                for o in origins {
                    let gi = nb + (o - origins[0]) / H
                    let ci = BacktestSelection.choose(masked, window: max(0, gi - sel.origins)..<gi)
                    choices[ci] += 1
                    chosen.append(Array(c[ci][(gi * H)..<((gi + 1) * H)]))
                }
            }
            for (k, o) in origins.enumerated() {
                // bound, not a forecast: the median of the actual next H values (the best constant for absolute error)
                let med = { (a: [Double]) in a.count % 2 == 1 ? a[a.count / 2] : (a[a.count / 2 - 1] + a[a.count / 2]) / 2 }(v[o..<(o + H)].sorted())
                for h in 0..<H {
                    let y = v[o + h]
                    o1.add(actual: y, forecast: med, scale: scale)
                    l1.add(actual: y, forecast: f[k * H + h], scale: scale, lo: lo[k * H + h], hi: hi[k * H + h])
                    s1.add(actual: y, forecast: v[o - day + h % day], scale: scale)
                    n1.add(actual: y, forecast: v[o - 1], scale: scale)
                    if !chosen.isEmpty {
                        let fc = chosen[k][h]
                        x1.add(actual: y, forecast: fc, scale: scale, lo: fc + lo[k * H + h] - f[k * H + h], hi: fc + hi[k * H + h] - f[k * H + h])
                    }
                }
            }
            lin.merge(l1); snaive.merge(s1); naive.merge(n1); selected.merge(x1); oracle.merge(o1)
            per.append((p.id, rows(l1, s1, n1, sel == nil ? nil : x1, o1)))
        }
        func rows(_ a: ForecastErrors, _ b: ForecastErrors, _ c: ForecastErrors, _ d: ForecastErrors?, _ e: ForecastErrors) -> [ForecastRow] {
            var r = [ForecastRow(method: "vigil linear (\(m.method))", errors: a), ForecastRow(method: "seasonal naive (1 day)", errors: b),
                     ForecastRow(method: "naive (last value)", errors: c)]
            if let d { r.append(ForecastRow(method: "vigil select (backtest)", errors: d)) }
            r.append(ForecastRow(method: "oracle: median of actuals", errors: e))
            return r
        }
        return (rows(lin, snaive, naive, sel == nil ? nil : selected, oracle), per, choices)
    }

    public static func forecastTable(_ rows: [ForecastRow], title: String) -> String {
        var t = "\(title)\n"
        t += "method                          points      MAE       WAPE    1-WAPE   MASE    coverage\n"
        for r in rows {
            let e = r.errors
            let cov = r.method.hasPrefix("vigil") ? String(format: "%.3f", e.coverage) : "-"
            t += pad(r.method, 30) + String(format: " %8d  %9.4g  %7.4f  %7.4f  %6.3f  ", e.count, e.mae, e.wape, 1 - e.wape, e.mase) + cov + "\n"
        }
        return t
    }

    // MARK: detection

    public struct DetectionResult: Sendable {
        public var method: String
        public var threshold: String
        public var metrics: DetectionMetrics
    }

    /// Scores each machine's test part with Vigil's multivariate detector (`MultivariateDetector`: per-metric scales
    /// and the threshold fitted on the machine's train part, then online over the test rows), and with per-metric
    /// online detectors over train+test (so the test starts with warm
    /// state; every score uses only earlier rows), combined two ways: "max-score" = the largest per-metric calibrated
    /// score; "max-z" = the largest per-metric z through one shared adaptive threshold and calibration. PCA = reconstruction error
    /// of a PCA fitted on the train part. Thresholds: Vigil's own 0.5; PCA at the 99th percentile of its train
    /// scores; and, for both, the best-F1 threshold (an oracle, reported as such).
    public static func detection(_ machines: [DatasetLoader.LabelledMachine], leadPoints: Int, metricQuantile: Double = 0.99,
                                 multivariate: MultivariateDetector.Config = .init(),
                                 progress: ((String) -> Void)? = nil) -> [DetectionResult] {
        var perMetric = OnlineAnomalyDetector.Config()
        perMetric.thresholdQuantile = metricQuantile
        perMetric.memory = max(2048, Int(20 / max(1e-6, 1 - metricQuantile)))
        var mvScores: [[Double]] = [], vigilScores: [[Double]] = [], vigilZScores: [[Double]] = [], pcaScores: [[Double]] = [], pcaTrainThr: [Double] = [], labels: [[Bool]] = []
        for m in machines {
            let d = m.dims
            var combined = [Double](repeating: 0, count: m.testRows), combinedZ = combined
            var dets = [OnlineAnomalyDetector](repeating: OnlineAnomalyDetector(config: perMetric), count: d)
            var calibrator = OnlineAnomalyDetector()
            for r in 0..<(m.trainRows + m.testRows) {
                var z = 0.0, sMax = 0.0
                for c in 0..<d {
                    let x = r < m.trainRows ? m.train[r * d + c] : m.test[(r - m.trainRows) * d + c]
                    let zc = dets[c].updateZ(x)
                    z = max(z, zc)
                    if r >= 64 { sMax = max(sMax, dets[c].calibrate(zc)) }
                }
                let s = r < 64 ? 0 : calibrator.calibrate(z)
                if r >= m.trainRows { combined[r - m.trainRows] = sMax; combinedZ[r - m.trainRows] = s }
            }
            if var mv = try? MultivariateDetector(train: m.train, rows: m.trainRows, dims: d, config: multivariate) {
                mvScores.append(mv.scoreAll(m.test, rows: m.testRows))
            } else {
                mvScores.append([Double](repeating: 0, count: m.testRows))
            }
            vigilZScores.append(combinedZ)
            vigilScores.append(combined)
            let clean = { (x: [Double]) in x.map { $0.isFinite ? $0 : 0 } }
            let pca = PCABaseline(train: clean(m.train), rows: m.trainRows, cols: d)
            let trainS = pca.score(clean(m.train), rows: m.trainRows).sorted()
            pcaTrainThr.append(trainS[min(trainS.count - 1, Int(Double(trainS.count) * 0.99))])
            pcaScores.append(pca.score(clean(m.test), rows: m.testRows))
            labels.append(m.labels)
            progress?("\(m.name): \(m.testRows) test rows, \(d) metrics, PCA k=\(pca.k)")
        }
        func evaluate(_ scores: [[Double]], _ thr: (Int) -> Double) -> DetectionMetrics {
            var total = DetectionMetrics()
            for i in scores.indices {
                total += DetectionMetrics.evaluate(labels: labels[i], flags: scores[i].map { $0 >= thr(i) }, leadPoints: leadPoints)
            }
            return total
        }
        let mvBest = bestF1Threshold(scores: mvScores, labels: labels)
        let vBest = bestF1Threshold(scores: vigilScores, labels: labels)
        let zBest = bestF1Threshold(scores: vigilZScores, labels: labels)
        let pBest = bestF1Threshold(scores: pcaScores, labels: labels)
        return [
            DetectionResult(method: "vigil multivariate", threshold: "own (train q)", metrics: evaluate(mvScores) { _ in 0.5 }),
            DetectionResult(method: "vigil max-score", threshold: "own (score ≥ 0.5)", metrics: evaluate(vigilScores) { _ in 0.5 }),
            DetectionResult(method: "vigil max-z", threshold: "own (score ≥ 0.5)", metrics: evaluate(vigilZScores) { _ in 0.5 }),
            DetectionResult(method: "PCA reconstruction", threshold: "train p99", metrics: evaluate(pcaScores) { pcaTrainThr[$0] }),
            DetectionResult(method: "vigil multivariate", threshold: String(format: "best-F1 oracle (%.3g)", mvBest), metrics: evaluate(mvScores) { _ in mvBest }),
            DetectionResult(method: "vigil max-score", threshold: String(format: "best-F1 oracle (%.3g)", vBest), metrics: evaluate(vigilScores) { _ in vBest }),
            DetectionResult(method: "vigil max-z", threshold: String(format: "best-F1 oracle (%.3g)", zBest), metrics: evaluate(vigilZScores) { _ in zBest }),
            DetectionResult(method: "PCA reconstruction", threshold: String(format: "best-F1 oracle (%.3g)", pBest), metrics: evaluate(pcaScores) { _ in pBest }),
        ]
    }

    public static func detectionTable(_ rows: [DetectionResult], title: String, leadLabel: String) -> String {
        var t = "\(title)\n"
        t += "method               threshold                   P       R       F1    | ev-P    ev-R    ev-F1  | events  detected  early(\(leadLabel))\n"
        for r in rows {
            let m = r.metrics
            t += pad(r.method, 20) + " " + pad(r.threshold, 26) + String(format: " %6.3f  %6.3f  %6.3f  | %6.3f  %6.3f  %6.3f | %6d  %8d  %6d\n", m.precision, m.recall, m.f1, m.eventPrecision, m.eventRecall, m.eventF1, m.events,
                        m.eventsDetected, m.eventsEarly)
        }
        return t
    }
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }

// MARK: failure prediction

extension Evaluation {
    public struct FailureSamples: Sendable {
        public var x: [[Double]] = []
        public var y: [Bool] = []
        /// For each sample: machine index and test row.
        public var origin: [(machine: Int, row: Int)] = []
    }

    /// Builds failure-prediction samples from labelled machines: at every `sampleEvery`-th test row t outside an
    /// event, features from rows ≤ t (per-metric online anomaly scores over train+test, recent values), label =
    /// an event starts within the next `leadPoints` rows. Returns the samples of the test parts split at
    /// `splits` (fractions of each machine's test rows), e.g. [0.4, 0.5] → fit / calibrate / evaluate.
    public static func failureSamples(_ machines: [DatasetLoader.LabelledMachine], leadPoints: Int, sampleEvery: Int,
                                      splits: [Double], progress: ((String) -> Void)? = nil) -> [FailureSamples] {
        var parts = [FailureSamples](repeating: FailureSamples(), count: splits.count + 1)
        for (mi, m) in machines.enumerated() {
            let d = m.dims, total = m.trainRows + m.testRows
            var cols: [[Double]] = [], scores: [[Double]] = []
            for c in 0..<d {
                var col = [Double](repeating: 0, count: total)
                for r in 0..<m.trainRows { col[r] = m.train[r * d + c] }
                for r in 0..<m.testRows { col[m.trainRows + r] = m.test[r * d + c] }
                scores.append(OnlineAnomalyDetector.scoreAll(col))
                cols.append(col)
            }
            var t = 0
            while t < m.testRows - 1 {
                defer { t += sampleEvery }
                if m.labels[t] { continue }
                let g = m.trainRows + t
                let hist = max(0, g - 719)
                let f = FailureFeatures.compute(series: cols.map { Array($0[hist...g]) }, scores: scores.map { Array($0[max(0, g - 59)...g]) })
                let end = min(m.testRows - 1, t + leadPoints)
                let y = t + 1 <= end && (t + 1...end).contains { m.labels[$0] }
                let frac = Double(t) / Double(m.testRows)
                let p = splits.firstIndex(where: { frac < $0 }) ?? splits.count
                parts[p].x.append(f)
                parts[p].y.append(y)
                parts[p].origin.append((mi, t))
            }
            progress?("\(m.name): features done")
        }
        return parts
    }

    public struct FailureReport: Sendable {
        public var samples = 0, positives = 0
        public var auc = 0.0, baselineAUC = 0.0
        public var brier = 0.0, baseRateBrier = 0.0
        public var rows: [(threshold: Double, precision: Double, recall: Double, eventsWarned: Int, events: Int)] = []
    }

    /// Evaluates calibrated probabilities on samples (events = labelled runs whose start lies in the sample range).
    public static func failureReport(_ model: FailurePredictor, _ s: FailureSamples, machines: [DatasetLoader.LabelledMachine],
                                     leadPoints: Int) -> FailureReport {
        var r = FailureReport()
        let p = s.x.map { model.probability($0) }
        r.samples = p.count
        r.positives = s.y.filter { $0 }.count
        r.auc = rocAUC(p, s.y)
        r.baselineAUC = rocAUC(s.x.map { $0[0] }, s.y)
        let base = Double(r.positives) / Double(max(1, r.samples))
        for (pi, yi) in zip(p, s.y) {
            let t = yi ? 1.0 : 0
            r.brier += (pi - t) * (pi - t)
            r.baseRateBrier += (base - t) * (base - t)
        }
        r.brier /= Double(max(1, r.samples))
        r.baseRateBrier /= Double(max(1, r.samples))
        // events whose start falls within the evaluated rows of each machine
        var ranges: [Int: (Int, Int)] = [:]
        for o in s.origin { let cur = ranges[o.machine] ?? (Int.max, Int.min); ranges[o.machine] = (min(cur.0, o.row), max(cur.1, o.row)) }
        var starts: [(Int, Int)] = []
        for (mi, (lo, hi)) in ranges {
            let l = machines[mi].labels
            for t in max(1, lo + 1)...max(lo + 1, hi) where t < l.count && l[t] && !l[t - 1] { starts.append((mi, t)) }
        }
        for thr in [0.1, 0.2, 0.3, 0.5] {
            var tp = 0, fp = 0
            var warned = Set<Int>()
            for (k, pi) in p.enumerated() where pi >= thr {
                if s.y[k] { tp += 1 } else { fp += 1 }
                let o = s.origin[k]
                for (ei, e) in starts.enumerated() where e.0 == o.machine && e.1 > o.row && e.1 - o.row <= leadPoints { warned.insert(ei) }
            }
            r.rows.append((thr, Double(tp) / Double(max(1, tp + fp)), Double(tp) / Double(max(1, r.positives)), warned.count, starts.count))
        }
        return r
    }

    public static func failureTable(_ r: FailureReport, title: String) -> String {
        var t = "\(title)\n"
        t += String(format: "samples %d, positives %d (base rate %.4f); ROC AUC %.3f (max-anomaly-score feature alone: %.3f); Brier %.4f vs base-rate %.4f\n",
                    r.samples, r.positives, Double(r.positives) / Double(max(1, r.samples)), r.auc, r.baselineAUC, r.brier, r.baseRateBrier)
        t += "p threshold   precision   recall   events warned in time\n"
        for row in r.rows {
            t += String(format: "%11.2f   %9.3f   %6.3f   %d / %d\n", row.threshold, row.precision, row.recall, row.eventsWarned, row.events)
        }
        return t
    }
}
