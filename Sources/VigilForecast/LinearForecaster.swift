import CBLAS
import Foundation

/// Per-window normalisation shared by training and inference: subtract the window's last value, divide by the
/// window's standard deviation (around its mean; floored so constant windows stay finite). NLinear-style.
@inline(__always)
func windowNorm(_ p: UnsafePointer<Double>, _ L: Int) -> (last: Double, scale: Double) {
    let last = p[L - 1]
    var s1 = 0.0, s2 = 0.0
    for i in 0..<L {
        let d = p[i] - last
        s1 += d
        s2 += d * d
    }
    let n = Double(L)
    let v = max(0, s2 / n - (s1 / n) * (s1 / n))
    let floor = max(1e-9, 1e-6 * abs(last))
    return (last, max(v.squareRoot(), floor))
}

/// A global linear forecaster (DLinear/NLinear family): for each series, the next H values are a linear map of the
/// last L values after per-window normalisation, one shared map for all series.
///
/// In normalised space `ŷn = Wᵀ·xn + b` with `xn = (x − last)/s`. Denormalised, that is
/// `ŷ = Wᵀ·x + last·c + s·b` with `c = 1 − colsum(W)`, so inference for n series is one `dgemm` (n×L)·(L×H)
/// on the raw values followed by a per-row fix-up. Intervals are split-conformal: held-out residual quantiles
/// per horizon step in normalised units, times the window scale `s`.
public struct LinearForecaster: Sendable, Equatable {
    public var inputLength: Int
    public var horizon: Int
    /// Grid step in ms the model was trained on (0 = any).
    public var stepMs: Int64
    /// L×H row-major: weight of input position i (0 = oldest) for horizon step h.
    public var weights: [Double]
    public var bias: [Double]
    /// Lower/upper held-out residual quantiles per horizon step (normalised units).
    public var qLo: [Double]
    public var qHi: [Double]
    /// Central coverage the quantiles were taken for (e.g. 0.9 → 5 % and 95 %).
    public var coverage: Double
    public var lambda: Double
    /// "linear", "seasonal_naive" or "last_value" (naive maps in the same matrix form, chosen when they validated better).
    public var method: String
    public var seasonalPeriod: Int
    public var trainingHash: String
    public var metrics: [String: Double]
    /// Per-series backtest selection between this model, a per-series model and the last value (`vigil forecast`,
    /// `vigil eval forecast`); nil = always this model.
    public var selection: BacktestSelection? = nil

    /// `c_h = 1 − Σ_i W[i,h]`.
    public var lastCoefficients: [Double] {
        (0..<horizon).map { h in 1 - (0..<inputLength).reduce(0) { $0 + weights[$1 * horizon + h] } }
    }

    /// The seasonal-naive forecaster in matrix form (ŷ_h = x[L − P + (h−1) mod P]); P ≤ L.
    public static func seasonalNaive(inputLength L: Int, horizon H: Int, period P: Int, stepMs: Int64) -> LinearForecaster {
        precondition(P >= 1 && P <= L)
        var w = [Double](repeating: 0, count: L * H)
        for h in 0..<H { w[(L - P + h % P) * H + h] = 1 }
        return LinearForecaster(inputLength: L, horizon: H, stepMs: stepMs, weights: w, bias: .init(repeating: 0, count: H),
                                qLo: .init(repeating: 0, count: H), qHi: .init(repeating: 0, count: H), coverage: 0.9,
                                lambda: 0, method: P == 1 ? "last_value" : "seasonal_naive", seasonalPeriod: P, trainingHash: "", metrics: [:])
    }

    // MARK: inference

    /// Forecasts n series at once. `x` is n×L row-major raw values (oldest first). Outputs are n×H row-major.
    /// `threads` > 1 splits the rows across dedicated threads with OpenBLAS single-threaded per part (the fastest
    /// layout for this tall-skinny product on this class of machine); call from a non-async context (BLASWorker).
    public func predict(_ x: UnsafePointer<Double>, rows n: Int, forecast: UnsafeMutablePointer<Double>,
                        lo: UnsafeMutablePointer<Double>?, hi: UnsafeMutablePointer<Double>?, threads: Int = 1) {
        let L = inputLength, H = horizon
        let c = lastCoefficients
        let parts = max(1, min(threads, n / 1024 + 1))
        let previous = BLAS.threads
        if parts > 1 { BLAS.setThreads(1) }
        let ctx = PredictContext(model: self, c: c, x: x, f: forecast, lo: lo, hi: hi)
        runOnThreads(parts) { p in
            let r0 = n * p / parts, r1 = n * (p + 1) / parts
            if r1 > r0 { ctx.run(rows: r0..<r1, L: L, H: H) }
        }
        if parts > 1 { BLAS.setThreads(previous) }
    }

    /// Convenience over arrays.
    public func predict(_ windows: [Double], rows n: Int, threads: Int = 1) -> (forecast: [Double], lo: [Double], hi: [Double]) {
        precondition(windows.count == n * inputLength, "BUG: windows is not n×L")
        var f = [Double](repeating: 0, count: n * horizon), lo = f, hi = f
        windows.withUnsafeBufferPointer { xp in
            f.withUnsafeMutableBufferPointer { fp in
                lo.withUnsafeMutableBufferPointer { lp in
                    hi.withUnsafeMutableBufferPointer { hp in
                        predict(xp.baseAddress!, rows: n, forecast: fp.baseAddress!, lo: lp.baseAddress, hi: hp.baseAddress,
                                threads: threads)
                    }
                }
            }
        }
        return (f, lo, hi)
    }
}

extension LinearForecaster {
    /// Single-precision inference (`sgemm`): about twice the throughput of `predict`, for values whose magnitude
    /// is modest relative to their variation (float32 keeps ~7 digits: CPU %, latencies, rates; not 6e6 ± 1).
    /// Same layout and threading as `predict`; no interval bounds.
    public func predictFloat(_ x: UnsafePointer<Float>, rows n: Int, forecast: UnsafeMutablePointer<Float>, threads: Int = 1) {
        let L = inputLength, H = horizon
        let wf = weights.map { Float($0) }
        let c = lastCoefficients.map { Float($0) }
        let b = bias.map { Float($0) }
        let parts = max(1, min(threads, n / 1024 + 1))
        let previous = BLAS.threads
        if parts > 1 { BLAS.setThreads(1) }
        let ctx = FloatContext(x: x, f: forecast, w: wf, c: c, b: b)
        runOnThreads(parts) { p in
            let r0 = n * p / parts, r1 = n * (p + 1) / parts
            guard r1 > r0 else { return }
            let xs = ctx.x + r0 * L, fs = ctx.f + r0 * H
            ctx.w.withUnsafeBufferPointer { wp in BLAS.sgemm(xs, wp.baseAddress!, fs, m: r1 - r0, n: H, k: L) }
            for r in 0..<(r1 - r0) {
                let row = xs + r * L
                let last = row[L - 1]
                var s1: Float = 0, s2: Float = 0
                for i in 0..<L { let d = row[i] - last; s1 += d; s2 += d * d }
                let m = s1 / Float(L)
                let sd = max((max(0, s2 / Float(L) - m * m)).squareRoot(), max(1e-9, 1e-6 * abs(last)))
                let fr = fs + r * H
                for h in 0..<H { fr[h] += last * ctx.c[h] + sd * ctx.b[h] }
            }
        }
        if parts > 1 { BLAS.setThreads(previous) }
    }
}

private struct FloatContext: @unchecked Sendable {
    let x: UnsafePointer<Float>
    let f: UnsafeMutablePointer<Float>
    let w: [Float], c: [Float], b: [Float]
}

/// Raw pointers shared with the prediction threads; each thread touches a disjoint row range.
private struct PredictContext: @unchecked Sendable {
    let model: LinearForecaster
    let c: [Double]
    let x: UnsafePointer<Double>
    let f: UnsafeMutablePointer<Double>
    let lo: UnsafeMutablePointer<Double>?
    let hi: UnsafeMutablePointer<Double>?

    func run(rows: Range<Int>, L: Int, H: Int) {
        let n = rows.count
        let xs = x + rows.lowerBound * L
        let fs = f + rows.lowerBound * H
        model.weights.withUnsafeBufferPointer { w in
            BLAS.gemm(xs, w.baseAddress!, fs, m: n, n: H, k: L)
        }
        let b = model.bias, qlo = model.qLo, qhi = model.qHi
        for r in 0..<n {
            let (last, s) = windowNorm(xs + r * L, L)
            let fr = fs + r * H
            for h in 0..<H {
                let y = fr[h] + last * c[h] + s * b[h]
                fr[h] = y
                lo?[(rows.lowerBound + r) * H + h] = y + s * qlo[h]
                hi?[(rows.lowerBound + r) * H + h] = y + s * qhi[h]
            }
        }
    }
}

// MARK: training

/// Options for fitting a `LinearForecaster` by ridge regression.
public struct ForecasterTrainingOptions: Sendable {
    public var inputLength: Int
    public var horizon: Int
    public var stepMs: Int64
    /// Seasonal period in steps for the seasonal-naive baseline (≤ L; 0 = L).
    public var seasonalPeriod: Int = 0
    /// Candidate ridge strengths as fractions of mean(diag(XᵀX)); the best on the held-out windows wins.
    public var lambdaGrid: [Double] = [1e-4, 1e-3, 1e-2, 1e-1, 1, 10]
    /// Window weights by scale: false = relative to the window's own series (each series counts alike: a MASE-like
    /// objective, right when series have different units); true = relative to all windows (big series count more: the
    /// pooled MAE/WAPE objective, right for one metric in one unit such as CPU %).
    public var absoluteScaleWeights = false
    /// Rounds of IRLS towards a least-absolute-deviation fit after the first (weighted least squares) solve.
    public var irlsIterations: Int = 3
    public var maxTrainWindows: Int = 200_000
    public var maxCalibrationWindows: Int = 40_000
    /// Central interval coverage (0.9 → 5 %/95 % quantiles).
    public var coverage: Double = 0.9
    /// Normalised targets are clipped to ±clip so a few level shifts do not dominate the squared loss.
    public var targetClip: Double = 20

    public init(inputLength: Int, horizon: Int, stepMs: Int64) {
        self.inputLength = inputLength
        self.horizon = horizon
        self.stepMs = stepMs
    }
}

/// One regular series prepared for training: values and the index where calibration data starts
/// (training windows have all targets before `calibrationStart`; calibration windows have all targets at or after it).
public struct TrainingSeries: Sendable {
    public var values: [Double]
    public var calibrationStart: Int
    public init(values: [Double], calibrationStart: Int) {
        self.values = values
        self.calibrationStart = calibrationStart
    }
}

public struct ForecasterTrainingReport: Sendable {
    public var trainWindows: Int
    public var calibrationWindows: Int
    public var lambdaFraction: Double
    /// Scale-weighted mean absolute error of the linear fit on the held-out windows, normalised units.
    public var calibrationMAE: Double
    public var seasonalNaiveCalibrationMAE: Double
    public var lastValueCalibrationMAE: Double
    /// "linear", "seasonal_naive" or "last_value".
    public var chosen: String
    public var empiricalCoverage: Double
}

public enum ForecasterTrainer {
    /// Fits by ridge regression on windows pooled from all series: the normal equations XᵀWX (`dsyrk`) and XᵀWY
    /// (`dgemm`) are accumulated in row blocks and solved by Cholesky (`dpotrf_`/`dpotrs_`) per candidate λ; λ is
    /// chosen on held-out windows. Row weights make the fit robust: `irlsIterations` rounds of iteratively
    /// reweighted least squares towards a least-absolute-deviation fit (weight 1/max(mean|residual|, δ) per window),
    /// times the window's scale relative to its series' median scale, so the objective tracks MAE/WAPE in the
    /// series' own units. The best of {linear, seasonal naive, last value} on the held-out windows is returned, with
    /// split-conformal quantiles from its held-out residuals. Runs on the calling thread (use a BLASWorker).
    public static func fit(_ series: [TrainingSeries], options o: ForecasterTrainingOptions,
                           progress: ((Double) -> Void)? = nil) throws -> (LinearForecaster, ForecasterTrainingReport) {
        let L = o.inputLength, H = o.horizon, d = L + 1
        let P = o.seasonalPeriod > 0 ? min(o.seasonalPeriod, L) : L
        var trainTotal = 0, calTotal = 0
        for s in series {
            trainTotal += max(0, s.calibrationStart - H - L + 1)
            calTotal += max(0, s.values.count - H - max(L, s.calibrationStart) + 1)
        }
        guard trainTotal >= 1, calTotal >= 1 else {
            throw LinearAlgebraError.shape("not enough history: \(trainTotal) training and \(calTotal) calibration windows for L=\(L), H=\(H)")
        }
        let maxTrain = max(1000, min(o.maxTrainWindows, 80_000_000 / d))
        let trainStride = max(1, (trainTotal + maxTrain - 1) / maxTrain)
        let maxCal = max(1000, min(o.maxCalibrationWindows, 20_000_000 / d))
        let calStride = max(1, (calTotal + maxCal - 1) / maxCal)

        var hash = FNV1a()
        hash.add(Int64(L)); hash.add(Int64(H)); hash.add(o.stepMs)
        for s in series { hash.add(Int64(s.values.count)); for v in s.values { hash.add(v) } }

        // Materialise normalised windows: X (n×d, last column 1), Y (n×H), ω (relative window scale).
        func windows(training: Bool) -> (x: [Double], y: [Double], w: [Double], n: Int) {
            var x: [Double] = [], y: [Double] = [], w: [Double] = []
            let cap = training ? trainTotal / trainStride + series.count : calTotal / calStride + series.count
            x.reserveCapacity(cap * d); y.reserveCapacity(cap * H); w.reserveCapacity(cap)
            var n = 0
            for (si, s) in series.enumerated() {
                let first = training ? L + si % trainStride : max(L, s.calibrationStart)
                let last = training ? s.calibrationStart - H : s.values.count - H
                if last < first { continue }
                let stride = training ? trainStride : calStride
                var scales: [Double] = []
                s.values.withUnsafeBufferPointer { vp in
                    var e = first
                    while e <= last {
                        x.append(contentsOf: repeatElement(0, count: d))
                        y.append(contentsOf: repeatElement(0, count: H))
                        scales.append(fillRow(vp.baseAddress!, e: e, L: L, H: H, clip: training ? o.targetClip : .infinity,
                                              x: &x, xOff: n * d, y: &y, yOff: n * H))
                        n += 1
                        e += stride
                    }
                }
                var sorted = scales
                sorted.sort()
                let med = max(sorted[sorted.count / 2], 1e-12)
                for sc in scales { w.append(o.absoluteScaleWeights ? sc : min(10, max(0.1, sc / med))) }
            }
            if o.absoluteScaleWeights && !w.isEmpty {
                let med = max(w.sorted()[w.count / 2], 1e-300)
                for i in w.indices { w[i] = min(1000, max(0.001, w[i] / med)) }
            }
            return (x, y, w, n)
        }
        let tr = windows(training: true)
        progress?(0.15)
        let cal = windows(training: false)
        let nTrain = tr.n, nCal = cal.n
        progress?(0.25)

        // Weighted normal equations in row blocks.
        func normalEquations(_ rowWeight: [Double]) -> (G: [Double], B: [Double]) {
            var G = [Double](repeating: 0, count: d * d), B = [Double](repeating: 0, count: d * H)
            let block = 8192
            var xb = [Double](repeating: 0, count: block * d), yb = [Double](repeating: 0, count: block * H)
            var r0 = 0
            while r0 < nTrain {
                let rows = min(block, nTrain - r0)
                for r in 0..<rows {
                    let sw = rowWeight[r0 + r].squareRoot()
                    for j in 0..<d { xb[r * d + j] = tr.x[(r0 + r) * d + j] * sw }
                    for h in 0..<H { yb[r * H + h] = tr.y[(r0 + r) * H + h] * sw }
                }
                xb.withUnsafeBufferPointer { xp in
                    G.withUnsafeMutableBufferPointer { gp in BLAS.syrkTransposed(xp.baseAddress!, gp.baseAddress!, n: rows, d: d) }
                    yb.withUnsafeBufferPointer { yp in
                        B.withUnsafeMutableBufferPointer { bp in
                            BLAS.gemm(xp.baseAddress!, yp.baseAddress!, bp.baseAddress!, m: d, n: H, k: rows, beta: 1, transA: true)
                        }
                    }
                }
                r0 += rows
            }
            return (G, B)
        }
        func solve(_ G: [Double], _ B: [Double], frac: Double) throws -> [Double] {
            var meanDiag = 0.0
            for i in 0..<L { meanDiag += G[i * d + i] }
            meanDiag = max(meanDiag / Double(L), 1e-12)
            var S = G
            for i in 0..<L { S[i * d + i] += frac * meanDiag }
            S[L * d + L] += 1e-9 * meanDiag  // bias column: (almost) unpenalised
            return try BLAS.choleskySolve(&S, B, d: d, r: H)
        }
        /// Residuals Y − X·W (n×H) of a weight matrix over a window set.
        func residuals(_ w: [Double], _ x: [Double], _ y: [Double], _ n: Int) -> [Double] {
            var pred = [Double](repeating: 0, count: n * H)
            x.withUnsafeBufferPointer { xp in
                w.withUnsafeBufferPointer { wp in
                    pred.withUnsafeMutableBufferPointer { pp in BLAS.gemm(xp.baseAddress!, wp.baseAddress!, pp.baseAddress!, m: n, n: H, k: d) }
                }
            }
            for i in 0..<(n * H) { pred[i] = y[i] - pred[i] }
            return pred
        }
        /// Scale-weighted mean absolute residual on the held-out windows (the selection criterion).
        func heldOutError(_ r: [Double]) -> Double {
            var num = 0.0, den = 0.0
            for k in 0..<nCal { for h in 0..<H { num += cal.w[k] * abs(r[k * H + h]) }; den += cal.w[k] * Double(H) }
            return num / max(den, 1e-300)
        }

        var rowWeight = tr.w
        var (G, B) = normalEquations(rowWeight)
        var best: (err: Double, frac: Double, w: [Double])? = nil
        for frac in o.lambdaGrid {
            let w = try solve(G, B, frac: frac)
            let err = heldOutError(residuals(w, cal.x, cal.y, nCal))
            if best == nil || err < best!.err { best = (err, frac, w) }
        }
        guard var best else { throw LinearAlgebraError.shape("empty λ grid") }
        progress?(0.45)
        for it in 0..<o.irlsIterations {
            let r = residuals(best.w, tr.x, tr.y, nTrain)
            for k in 0..<nTrain {
                var m = 0.0
                for h in 0..<H { m += abs(r[k * H + h]) }
                rowWeight[k] = tr.w[k] / max(m / Double(H), 0.05)
            }
            (G, B) = normalEquations(rowWeight)
            let w = try solve(G, B, frac: best.frac)
            let err = heldOutError(residuals(w, cal.x, cal.y, nCal))
            if err < best.err { best = (err, best.frac, w) } else { break }
            progress?(0.45 + 0.45 * Double(it + 1) / Double(max(1, o.irlsIterations)))
        }

        // Candidates in the same matrix form: seasonal naive (period P) and last value (period 1).
        func naiveWeights(_ p: Int) -> [Double] {
            var w = [Double](repeating: 0, count: d * H)
            for h in 0..<H { w[(L - p + h % p) * H + h] = 1 }
            return w
        }
        let snaiveResid = residuals(naiveWeights(P), cal.x, cal.y, nCal)
        let naiveResid = residuals(naiveWeights(1), cal.x, cal.y, nCal)
        let snaiveErr = heldOutError(snaiveResid), naiveErr = heldOutError(naiveResid)
        var model: LinearForecaster
        var chosen = "linear", resid: [Double]
        if best.err <= min(snaiveErr, naiveErr) {
            resid = residuals(best.w, cal.x, cal.y, nCal)
            model = LinearForecaster(inputLength: L, horizon: H, stepMs: o.stepMs, weights: Array(best.w[0..<(L * H)]),
                                     bias: Array(best.w[(L * H)..<(d * H)]), qLo: [], qHi: [], coverage: o.coverage,
                                     lambda: best.frac, method: "linear", seasonalPeriod: P, trainingHash: "", metrics: [:])
        } else {
            let p = snaiveErr <= naiveErr ? P : 1
            chosen = p == 1 ? "last_value" : "seasonal_naive"
            resid = p == 1 ? naiveResid : snaiveResid
            model = .seasonalNaive(inputLength: L, horizon: H, period: p, stepMs: o.stepMs)
        }
        // Split-conformal quantiles per horizon step.
        let a = (1 - o.coverage) / 2
        var qLo = [Double](repeating: 0, count: H), qHi = qLo
        var covered = 0
        for h in 0..<H {
            var col = (0..<nCal).map { resid[$0 * H + h] }
            col.sort()
            qLo[h] = conformalQuantile(col, level: a, lower: true)
            qHi[h] = conformalQuantile(col, level: 1 - a, lower: false)
            for v in col where v >= qLo[h] && v <= qHi[h] { covered += 1 }
        }
        model.qLo = qLo
        model.qHi = qHi
        model.coverage = o.coverage
        model.trainingHash = hash.hex
        let modelErr = min(best.err, snaiveErr, naiveErr)
        model.metrics = ["heldout_weighted_mae_normalised": modelErr, "linear_heldout_weighted_mae_normalised": best.err,
                         "seasonal_naive_heldout_weighted_mae_normalised": snaiveErr,
                         "last_value_heldout_weighted_mae_normalised": naiveErr,
                         "train_windows": Double(nTrain), "calibration_windows": Double(nCal)]
        progress?(1)
        let report = ForecasterTrainingReport(trainWindows: nTrain, calibrationWindows: nCal, lambdaFraction: best.frac,
                                              calibrationMAE: best.err, seasonalNaiveCalibrationMAE: snaiveErr,
                                              lastValueCalibrationMAE: naiveErr, chosen: chosen,
                                              empiricalCoverage: Double(covered) / Double(max(1, nCal * H)))
        return (model, report)
    }

    /// Finite-sample split-conformal quantile of sorted residuals: the ⌈(n+1)·level⌉-th smallest (upper) or the
    /// ⌊(n+1)·level⌋-th (lower), clamped to the sample range.
    static func conformalQuantile(_ sorted: [Double], level: Double, lower: Bool) -> Double {
        let n = sorted.count
        if n == 0 { return 0 }
        let k = lower ? Int((Double(n + 1) * level).rounded(.down)) : Int((Double(n + 1) * level).rounded(.up))
        return sorted[min(n, max(1, k)) - 1]
    }

    @inline(__always) @discardableResult
    static func fillRow(_ v: UnsafePointer<Double>, e: Int, L: Int, H: Int, clip: Double,
                        x: inout [Double], xOff: Int, y: inout [Double], yOff: Int) -> Double {
        let (last, s) = windowNorm(v + (e - L), L)
        let inv = 1 / s
        for i in 0..<L { x[xOff + i] = (v[e - L + i] - last) * inv }
        x[xOff + L] = 1
        for h in 0..<H { y[yOff + h] = min(clip, max(-clip, (v[e + h] - last) * inv)) }
        return s
    }
}

/// 64-bit FNV-1a over the bytes of the training data (the model file's `training_data_hash`).
struct FNV1a {
    var h: UInt64 = 0xcbf29ce484222325
    mutating func add(_ v: UInt64) {
        var x = v
        for _ in 0..<8 { h = (h ^ (x & 0xff)) &* 0x100000001b3; x >>= 8 }
    }
    mutating func add(_ v: Int64) { add(UInt64(bitPattern: v)) }
    mutating func add(_ v: Double) { add(v.bitPattern) }
    mutating func add(_ s: String) { for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 } }
    var hex: String { "fnv1a64:" + String(h, radix: 16) }
}
