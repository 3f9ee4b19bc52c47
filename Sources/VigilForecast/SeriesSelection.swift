import Foundation

/// Per-series choice between the global model, a per-series linear model and the last value, by each candidate's
/// absolute error on the series' own most recent complete forecasts (a rolling backtest; "follow the leader").
///
/// Why: per-VM CPU at 5-minute steps is mostly bursts and level plateaus where the last value is hard to beat on
/// absolute error, but some VMs run periodic jobs (e.g. a dip every ~hour) that only a model fitted on that VM's own
/// past can follow, and which candidate is best changes between weeks. The choice at origin t uses only values < t.
public struct BacktestSelection: Sendable, Equatable {
    /// Lags of the per-series model.
    public var localLags = 24
    /// Backtest origins (spaced by the horizon H; 72 × 1 h = 3 days at 5-minute steps).
    public var origins = 72
    /// Ridge λ of the per-series model (× mean diagonal of its normal equations).
    public var lambda = 0.01
    /// IRLS rounds towards least absolute deviations.
    public var irls = 3
    public init() {}

    public static let candidateNames = ["global", "local", "last_value"]
}

/// A per-series direct multi-horizon linear model: ŷ_h = last + Σ_j w[j,h]·(x_j − last) + b_h over the last `lags`
/// values, fitted by ridge regression with IRLS towards least absolute deviations (normal equations with `dsyrk`,
/// Cholesky solve).
public struct LocalLinearModel: Sendable, Equatable {
    public let lags: Int
    public let horizon: Int
    /// (lags + 1) × H row-major; the last row is the bias.
    public let weights: [Double]

    /// Fits on every window of `values` (NaN-free, regular). Returns nil when there are fewer than
    /// max(4·(lags+1), 50) windows or the system is singular.
    public static func fit(_ values: ArraySlice<Double>, lags: Int, horizon H: Int, lambda: Double = 0.01, irls: Int = 3) -> LocalLinearModel? {
        let v = Array(values)
        let d = lags + 1
        let n = v.count - lags - H + 1
        guard lags >= 1, H >= 1, n >= max(4 * d, 50), v.allSatisfy(\.isFinite) else { return nil }
        var x = [Double](repeating: 0, count: n * d), y = [Double](repeating: 0, count: n * H)
        for k in 0..<n {
            let o = k + lags
            let last = v[o - 1]
            for j in 0..<lags { x[k * d + j] = v[o - lags + j] - last }
            x[k * d + lags] = 1
            for h in 0..<H { y[k * H + h] = v[o + h] - last }
        }
        var w = [Double](repeating: 1, count: n)
        var coef: [Double]? = nil
        var xw = x, yw = y
        for round in 0...max(0, irls) {
            for k in 0..<n {
                let s = w[k].squareRoot()
                for j in 0..<d { xw[k * d + j] = x[k * d + j] * s }
                for h in 0..<H { yw[k * H + h] = y[k * H + h] * s }
            }
            var G = [Double](repeating: 0, count: d * d), B = [Double](repeating: 0, count: d * H)
            xw.withUnsafeBufferPointer { xp in
                G.withUnsafeMutableBufferPointer { gp in BLAS.syrkTransposed(xp.baseAddress!, gp.baseAddress!, n: n, d: d, beta: 0) }
                yw.withUnsafeBufferPointer { yp in
                    B.withUnsafeMutableBufferPointer { bp in
                        BLAS.gemm(xp.baseAddress!, yp.baseAddress!, bp.baseAddress!, m: d, n: H, k: n, beta: 0, transA: true)
                    }
                }
            }
            var meanDiag = 0.0
            for i in 0..<lags { meanDiag += G[i * d + i] }
            meanDiag = max(meanDiag / Double(lags), 1e-12)
            for i in 0..<lags { G[i * d + i] += lambda * meanDiag }
            G[lags * d + lags] += 1e-9 * meanDiag
            guard let c = try? BLAS.choleskySolve(&G, B, d: d, r: H) else { return coef.map { LocalLinearModel(lags: lags, horizon: H, weights: $0) } }
            coef = c
            if round == irls { break }
            // window weights 1 / max(mean |residual|, 5 % of the mean): towards a least-absolute-deviation fit
            var r = [Double](repeating: 0, count: n)
            var mean = 0.0
            for k in 0..<n {
                var a = 0.0
                for h in 0..<H {
                    var p = 0.0
                    for j in 0..<d { p += x[k * d + j] * c[j * H + h] }
                    a += abs(y[k * H + h] - p)
                }
                r[k] = a / Double(H)
                mean += r[k]
            }
            mean /= Double(n)
            let floor = max(1e-12, 0.05 * mean)
            for k in 0..<n { w[k] = 1 / max(r[k], floor) }
        }
        return coef.map { LocalLinearModel(lags: lags, horizon: H, weights: $0) }
    }

    /// Forecast from the `lags` values ending just before `end` (exclusive) in `v`.
    public func predict(_ v: UnsafePointer<Double>, end: Int, into out: UnsafeMutablePointer<Double>) {
        let d = lags + 1
        let last = v[end - 1]
        for h in 0..<horizon {
            var p = weights[lags * horizon + h]
            for j in 0..<lags { p += (v[end - lags + j] - last) * weights[j * horizon + h] }
            out[h] = last + p
        }
        _ = d
    }
}

extension BacktestSelection {
    /// Forecasts of the three candidates (global, local, last value) at `origins` of one regular series, each n×H:
    /// candidate c's forecast for origin k at [c][k·H + h]. Origins must be ≥ max(L, lags) and ≤ v.count.
    /// A missing local model repeats the last value.
    public static func candidateForecasts(_ v: [Double], origins: [Int], global m: LinearForecaster, local: LocalLinearModel?)
        -> [[Double]] {
        let L = m.inputLength, H = m.horizon, n = origins.count
        var x = [Double](repeating: 0, count: n * L)
        for (k, o) in origins.enumerated() { for j in 0..<L { x[k * L + j] = v[o - L + j] } }
        let g = n == 0 ? [] : m.predict(x, rows: n, threads: 1).forecast
        var loc = [Double](repeating: 0, count: n * H), last = loc
        v.withUnsafeBufferPointer { vp in
            loc.withUnsafeMutableBufferPointer { lp in
                for (k, o) in origins.enumerated() {
                    for h in 0..<H { last[k * H + h] = vp[o - 1] }
                    if let local, local.horizon == H, o >= local.lags {
                        local.predict(vp.baseAddress!, end: o, into: lp.baseAddress! + k * H)
                    } else {
                        for h in 0..<H { lp[k * H + h] = vp[o - 1] }
                    }
                }
            }
        }
        return [g, loc, last]
    }

    /// Index of the candidate with the smallest summed absolute error over the origins `window` (each with its H
    /// actual values known), ties to the earlier candidate; `errors[c][k]` = candidate c's Σ_h |error| at origin k.
    public static func choose(_ errors: [[Double]], window: Range<Int>) -> Int {
        guard !window.isEmpty else { return 0 }
        var best = 0, bestErr = Double.infinity
        for c in errors.indices {
            var e = 0.0
            for k in window { e += errors[c][k] }
            if e < bestErr { best = c; bestErr = e }
        }
        return best
    }

    /// Chooses a candidate for forecasting right after the end of `v` (the whole history) and returns the chosen
    /// candidate's index and forecast (H values). Backtest: origins n − k·H for k = 1…`origins` (those with room for
    /// the global model's input); the local model is fitted on the values before the first backtest origin.
    public func forecast(_ v: [Double], global m: LinearForecaster) -> (choice: Int, forecast: [Double], backtestOrigins: Int) {
        let H = m.horizon, L = m.inputLength, n = v.count
        var bt: [Int] = []
        var k = 1
        while k <= origins, n - k * H >= max(L, localLags) { bt.append(n - k * H); k += 1 }
        bt.reverse()
        let fitEnd = bt.first ?? n
        let local = LocalLinearModel.fit(v[0..<fitEnd], lags: localLags, horizon: H, lambda: lambda, irls: irls)
        let c = BacktestSelection.candidateForecasts(v, origins: bt + [n], global: m, local: local)
        var errs = [[Double]](repeating: [Double](repeating: 0, count: bt.count), count: c.count)
        for ci in c.indices {
            for (k, o) in bt.enumerated() {
                var e = 0.0
                for h in 0..<H { e += abs(v[o + h] - c[ci][k * H + h]) }
                errs[ci][k] = e
            }
        }
        let choice = local == nil && !bt.isEmpty
            ? BacktestSelection.choose([errs[0], [Double](repeating: .infinity, count: bt.count), errs[2]], window: 0..<bt.count)
            : BacktestSelection.choose(errs, window: 0..<bt.count)
        let off = bt.count * H
        return (choice, Array(c[choice][off..<(off + H)]), bt.count)
    }
}
