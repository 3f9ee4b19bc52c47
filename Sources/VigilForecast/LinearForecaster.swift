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
    /// "linear" or "seasonal_naive" (a seasonal-naive map in the same matrix form, chosen when it validated better).
    public var method: String
    public var seasonalPeriod: Int
    public var trainingHash: String
    public var metrics: [String: Double]

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
                                lambda: 0, method: "seasonal_naive", seasonalPeriod: P, trainingHash: "", metrics: [:])
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
    public var lambdaGrid: [Double] = [1e-4, 1e-3, 1e-2, 1e-1, 1]
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
    /// Mean absolute error on calibration windows, normalised units.
    public var calibrationMAE: Double
    public var seasonalNaiveCalibrationMAE: Double
    public var chosen: String
    public var empiricalCoverage: Double
}

public enum ForecasterTrainer {
    /// Fits by ridge regression on windows pooled from all series: XᵀX accumulated with `dsyrk` and XᵀY with
    /// `dgemm` in row blocks, solved by Cholesky (`dpotrf_`/`dpotrs_`) per candidate λ, λ chosen on held-out windows,
    /// then split-conformal quantiles from the held-out residuals. Runs on the calling thread (use a BLASWorker).
    public static func fit(_ series: [TrainingSeries], options o: ForecasterTrainingOptions,
                           progress: ((Double) -> Void)? = nil) throws -> (LinearForecaster, ForecasterTrainingReport) {
        let L = o.inputLength, H = o.horizon, d = L + 1
        let P = o.seasonalPeriod > 0 ? min(o.seasonalPeriod, L) : L
        // Enumerate windows: end index e (exclusive end of input), targets e..<e+H.
        var trainTotal = 0, calTotal = 0
        for s in series {
            trainTotal += max(0, s.calibrationStart - H - L + 1)
            calTotal += max(0, s.values.count - H - max(L, s.calibrationStart) + 1)
        }
        guard trainTotal >= 1, calTotal >= 1 else {
            throw LinearAlgebraError.shape("not enough history: \(trainTotal) training and \(calTotal) calibration windows for L=\(L), H=\(H)")
        }
        let trainStride = max(1, (trainTotal + o.maxTrainWindows - 1) / o.maxTrainWindows)
        let maxCal = max(1000, min(o.maxCalibrationWindows, 20_000_000 / d))
        let calStride = max(1, (calTotal + maxCal - 1) / maxCal)

        var hash = FNV1a()
        hash.add(Int64(L)); hash.add(Int64(H)); hash.add(o.stepMs)
        for s in series { hash.add(Int64(s.values.count)); for v in s.values { hash.add(v) } }

        // Accumulate G = XᵀX (upper) and B = XᵀY over row blocks.
        var G = [Double](repeating: 0, count: d * d)
        var B = [Double](repeating: 0, count: d * H)
        let block = 8192
        var xb = [Double](repeating: 0, count: block * d)
        var yb = [Double](repeating: 0, count: block * H)
        var rows = 0, nTrain = 0, done = 0
        func flush() {
            guard rows > 0 else { return }
            xb.withUnsafeBufferPointer { xp in
                G.withUnsafeMutableBufferPointer { gp in BLAS.syrkTransposed(xp.baseAddress!, gp.baseAddress!, n: rows, d: d) }
                yb.withUnsafeBufferPointer { yp in
                    B.withUnsafeMutableBufferPointer { bp in
                        BLAS.gemm(xp.baseAddress!, yp.baseAddress!, bp.baseAddress!, m: d, n: H, k: rows, beta: 1, transA: true)
                    }
                }
            }
            nTrain += rows
            rows = 0
            progress?(0.8 * Double(nTrain) / Double(max(1, trainTotal / trainStride)))
        }
        var phase = 0
        for s in series {
            let last = s.calibrationStart - H
            if last < L { continue }
            s.values.withUnsafeBufferPointer { vp in
                var e = L + ((phase % trainStride))
                while e <= last {
                    fillRow(vp.baseAddress!, e: e, L: L, H: H, clip: o.targetClip, x: &xb, xOff: rows * d, y: &yb, yOff: rows * H)
                    rows += 1
                    if rows == block { flush() }
                    e += trainStride
                }
            }
            phase += 1
            done += 1
        }
        flush()

        // Held-out windows (normalised), kept in memory for λ selection and conformal quantiles.
        var xc: [Double] = []
        var yc: [Double] = []
        var nCal = 0
        xc.reserveCapacity(min(calTotal / calStride + 1, maxCal + series.count) * d)
        for s in series {
            let start = max(L, s.calibrationStart)
            if s.values.count - H < start { continue }
            s.values.withUnsafeBufferPointer { vp in
                var e = start
                while e <= s.values.count - H {
                    xc.append(contentsOf: repeatElement(0, count: d))
                    yc.append(contentsOf: repeatElement(0, count: H))
                    fillRow(vp.baseAddress!, e: e, L: L, H: H, clip: .infinity, x: &xc, xOff: nCal * d, y: &yc, yOff: nCal * H)
                    nCal += 1
                    e += calStride
                }
            }
        }

        // Seasonal naive on the same held-out windows (normalised: xn[L − P + h mod P]).
        var snaiveAbs = 0.0
        for r in 0..<nCal { for h in 0..<H { snaiveAbs += abs(yc[r * H + h] - xc[r * d + L - P + h % P]) } }
        let snaiveMAE = snaiveAbs / Double(nCal * H)

        var meanDiag = 0.0
        for i in 0..<L { meanDiag += G[i * d + i] }
        meanDiag = max(meanDiag / Double(L), 1e-12)
        var best: (mae: Double, frac: Double, w: [Double], resid: [Double])? = nil
        for frac in o.lambdaGrid {
            var S = G
            for i in 0..<L { S[i * d + i] += frac * meanDiag }
            S[L * d + L] += 1e-9 * meanDiag  // bias column: (almost) unpenalised
            let w = try BLAS.choleskySolve(&S, B, d: d, r: H)
            var pred = [Double](repeating: 0, count: nCal * H)
            xc.withUnsafeBufferPointer { xp in
                w.withUnsafeBufferPointer { wp in
                    pred.withUnsafeMutableBufferPointer { pp in
                        BLAS.gemm(xp.baseAddress!, wp.baseAddress!, pp.baseAddress!, m: nCal, n: H, k: d)
                    }
                }
            }
            var abs1 = 0.0
            for i in 0..<(nCal * H) { pred[i] = yc[i] - pred[i]; abs1 += abs(pred[i]) }
            let mae = abs1 / Double(nCal * H)
            if best == nil || mae < best!.mae { best = (mae, frac, w, pred) }
        }
        progress?(0.95)
        guard var best else { throw LinearAlgebraError.shape("empty λ grid") }

        var model: LinearForecaster
        var chosen = "linear"
        if snaiveMAE <= best.mae {
            // The linear map did not beat seasonal naive on held-out data: ship seasonal naive (same matrix form).
            chosen = "seasonal_naive"
            model = .seasonalNaive(inputLength: L, horizon: H, period: P, stepMs: o.stepMs)
            var resid = [Double](repeating: 0, count: nCal * H)
            for r in 0..<nCal { for h in 0..<H { resid[r * H + h] = yc[r * H + h] - xc[r * d + L - P + h % P] } }
            best.resid = resid
        } else {
            model = LinearForecaster(inputLength: L, horizon: H, stepMs: o.stepMs, weights: Array(best.w[0..<(L * H)]),
                                     bias: Array(best.w[(L * H)..<(d * H)]), qLo: [], qHi: [], coverage: o.coverage,
                                     lambda: best.frac * meanDiag, method: "linear", seasonalPeriod: P, trainingHash: "",
                                     metrics: [:])
        }
        // Split-conformal quantiles per horizon step.
        let a = (1 - o.coverage) / 2
        var qLo = [Double](repeating: 0, count: H), qHi = qLo
        var covered = 0
        for h in 0..<H {
            var col = (0..<nCal).map { best.resid[$0 * H + h] }
            col.sort()
            qLo[h] = conformalQuantile(col, level: a, lower: true)
            qHi[h] = conformalQuantile(col, level: 1 - a, lower: false)
            for v in col where v >= qLo[h] && v <= qHi[h] { covered += 1 }
        }
        model.qLo = qLo
        model.qHi = qHi
        model.coverage = o.coverage
        model.trainingHash = hash.hex
        let modelMAE = chosen == "linear" ? best.mae : snaiveMAE
        model.metrics = ["calibration_mae_normalised": modelMAE, "seasonal_naive_mae_normalised": snaiveMAE,
                         "train_windows": Double(nTrain), "calibration_windows": Double(nCal)]
        progress?(1)
        let report = ForecasterTrainingReport(trainWindows: nTrain, calibrationWindows: nCal, lambdaFraction: best.frac,
                                              calibrationMAE: modelMAE, seasonalNaiveCalibrationMAE: snaiveMAE, chosen: chosen,
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

    @inline(__always)
    static func fillRow(_ v: UnsafePointer<Double>, e: Int, L: Int, H: Int, clip: Double,
                        x: inout [Double], xOff: Int, y: inout [Double], yOff: Int) {
        let (last, s) = windowNorm(v + (e - L), L)
        let inv = 1 / s
        for i in 0..<L { x[xOff + i] = (v[e - L + i] - last) * inv }
        x[xOff + L] = 1
        for h in 0..<H { y[yOff + h] = min(clip, max(-clip, (v[e + h] - last) * inv)) }
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
