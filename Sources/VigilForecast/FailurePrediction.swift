import Foundation

/// Features of one instance at one moment, computed from its metrics' recent values and anomaly scores.
/// The same function serves offline training and the online forecaster.
public enum FailureFeatures {
    public static let names = [
        "max_anomaly_score_10", "mean_anomaly_score_60", "fraction_metrics_alarming_10", "max_abs_trend_60",
        "saturation_soon_60", "max_level_z_60", "max_volatility_ratio",
    ]
    public static var count: Int { names.count }

    /// `series[k]`: recent regular values of metric k (oldest first); `scores[k]`: its recent anomaly scores.
    /// Windows: the last 60 points (trend, level, saturation) and the last 10 (alarms).
    public static func compute(series: [[Double]], scores: [[Double]]) -> [Double] {
        var f = [Double](repeating: 0, count: count)
        var alarming = 0
        for (k, v) in series.enumerated() {
            let sc = k < scores.count ? scores[k] : []
            let s10 = sc.suffix(10), s60 = sc.suffix(60)
            f[0] = max(f[0], s10.max() ?? 0)
            if !s60.isEmpty { f[1] = max(f[1], s60.reduce(0, +) / Double(s60.count)) }
            if (s10.max() ?? 0) >= 0.5 { alarming += 1 }
            let w = Array(v.suffix(60)).filter { $0.isFinite }
            guard w.count >= 4 else { continue }
            let n = Double(w.count)
            let mean = w.reduce(0, +) / n
            let sd = (w.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / n).squareRoot()
            let hist = v.filter { $0.isFinite }
            let hmean = hist.reduce(0, +) / Double(hist.count)
            let hsd = (hist.map { ($0 - hmean) * ($0 - hmean) }.reduce(0, +) / Double(hist.count)).squareRoot()
            let scale = max(hsd, 1e-6 * max(1, abs(hmean)), 1e-9)
            // least-squares slope per step
            let tm = (n - 1) / 2
            var num = 0.0, den = 0.0
            for (i, y) in w.enumerated() { num += (Double(i) - tm) * (y - mean); den += (Double(i) - tm) * (Double(i) - tm) }
            let slope = den > 0 ? num / den : 0
            f[3] = max(f[3], min(10, abs(slope) * 60 / scale))
            // saturation: steps until the trend line reaches the history's maximum (capacity proxy), within 60 steps
            let cap = hist.max() ?? 0
            if slope > 0, let last = w.last {
                let steps = (cap - last) / slope
                if steps <= 60 { f[4] = max(f[4], 1 - max(0, steps) / 60) }
            }
            f[5] = max(f[5], min(10, abs((w.last ?? mean) - hmean) / scale))
            f[6] = max(f[6], min(10, sd / scale))
        }
        f[2] = series.isEmpty ? 0 : Double(alarming) / Double(series.count)
        return f
    }
}

/// L2-regularised logistic regression fitted by iteratively reweighted least squares on BLAS
/// (weighted XᵀX by `dsyrk`, Cholesky solve), with Platt recalibration on held-out data.
public struct FailurePredictor: Sendable, Equatable {
    public var mean: [Double]
    public var std: [Double]
    /// d weights then the intercept.
    public var weights: [Double]
    public var plattA = 1.0
    public var plattB = 0.0
    public var featureNames: [String]
    public var horizonMinutes: Double
    public var metrics: [String: Double] = [:]

    public func logit(_ x: [Double]) -> Double {
        var z = weights[mean.count]
        for j in mean.indices { z += weights[j] * ((x[j] - mean[j]) / std[j]) }
        return z
    }

    /// Calibrated probability of failure within `horizonMinutes`.
    public func probability(_ x: [Double]) -> Double { sigmoid(plattA * logit(x) + plattB) }

    public static func fit(x: [Double], y: [Bool], rows n: Int, cols d: Int, l2: Double = 1.0, horizonMinutes: Double,
                           featureNames: [String]) throws -> FailurePredictor {
        var mean = [Double](repeating: 0, count: d), std = mean
        for r in 0..<n { for j in 0..<d { mean[j] += x[r * d + j] } }
        for j in 0..<d { mean[j] /= Double(max(1, n)) }
        for r in 0..<n { for j in 0..<d { let e = x[r * d + j] - mean[j]; std[j] += e * e } }
        for j in 0..<d { std[j] = max(1e-9, (std[j] / Double(max(1, n))).squareRoot()) }
        let D = d + 1
        var z = [Double](repeating: 1, count: n * D)
        for r in 0..<n { for j in 0..<d { z[r * D + j] = (x[r * d + j] - mean[j]) / std[j] } }
        var w = [Double](repeating: 0, count: D)
        let pos = Double(y.filter { $0 }.count)
        w[d] = log(max(pos, 0.5) / max(Double(n) - pos, 0.5))
        var zs = z
        func objective(_ w: [Double]) -> Double {
            var ll = 0.0
            for r in 0..<n {
                var t = 0.0
                for j in 0..<D { t += z[r * D + j] * w[j] }
                // log σ(t) for y, log(1 − σ(t)) for ¬y, computed stably
                let u = y[r] ? t : -t
                ll += u >= 0 ? -log1p(exp(-u)) : u - log1p(exp(u))
            }
            var pen = 0.0
            for j in 0..<d { pen += w[j] * w[j] }
            return ll - 0.5 * l2 * pen
        }
        for _ in 0..<50 {
            var p = [Double](repeating: 0, count: n)
            z.withUnsafeBufferPointer { zp in
                w.withUnsafeBufferPointer { wp in p.withUnsafeMutableBufferPointer { pp in BLAS.gemm(zp.baseAddress!, wp.baseAddress!, pp.baseAddress!, m: n, n: 1, k: D) } }
            }
            var resid = [Double](repeating: 0, count: n)
            for r in 0..<n {
                let pr = sigmoid(p[r])
                let s = max(pr * (1 - pr), 1e-10).squareRoot()
                for j in 0..<D { zs[r * D + j] = z[r * D + j] * s }
                resid[r] = (y[r] ? 1 : 0) - pr
            }
            var hess = [Double](repeating: 0, count: D * D)
            var grad = [Double](repeating: 0, count: D)
            zs.withUnsafeBufferPointer { zp in hess.withUnsafeMutableBufferPointer { hp in BLAS.syrkTransposed(zp.baseAddress!, hp.baseAddress!, n: n, d: D, beta: 0) } }
            z.withUnsafeBufferPointer { zp in
                resid.withUnsafeBufferPointer { rp in
                    grad.withUnsafeMutableBufferPointer { gp in BLAS.gemm(zp.baseAddress!, rp.baseAddress!, gp.baseAddress!, m: D, n: 1, k: n, transA: true) }
                }
            }
            for j in 0..<d { hess[j * D + j] += l2; grad[j] -= l2 * w[j] }
            hess[d * D + d] += 1e-8
            let delta = try BLAS.choleskySolve(&hess, grad, d: D, r: 1)
            // damped Newton: halve the step until the penalised log-likelihood does not decrease (plain Newton steps
            // can overshoot on nearly separable data and diverge)
            let before = objective(w)
            var stepSize = 1.0, candidate = w
            for _ in 0..<40 {
                for j in 0..<D { candidate[j] = w[j] + stepSize * delta[j] }
                if objective(candidate) >= before - 1e-12 * abs(before) { break }
                stepSize /= 2
            }
            var change = 0.0
            for j in 0..<D { change = max(change, abs(candidate[j] - w[j])) }
            w = candidate
            if change < 1e-8 { break }
        }
        return FailurePredictor(mean: mean, std: std, weights: w, featureNames: featureNames, horizonMinutes: horizonMinutes)
    }

    /// Platt scaling: fits a, b of σ(a·logit + b) on held-out data by Newton's method.
    public mutating func calibrate(x: [[Double]], y: [Bool]) {
        let s = x.map { logit($0) }
        var a = 1.0, b = 0.0
        for _ in 0..<50 {
            var g0 = 0.0, g1 = 0.0, h00 = 1e-6, h01 = 0.0, h11 = 1e-6
            for (si, yi) in zip(s, y) {
                let p = sigmoid(a * si + b)
                let e = (yi ? 1 : 0) - p
                let w = p * (1 - p)
                g0 += e * si; g1 += e
                h00 += w * si * si; h01 += w * si; h11 += w
            }
            let det = h00 * h11 - h01 * h01
            guard det > 0 else { break }
            let da = (h11 * g0 - h01 * g1) / det, db = (h00 * g1 - h01 * g0) / det
            a += da; b += db
            if abs(da) + abs(db) < 1e-9 { break }
        }
        plattA = a
        plattB = b
    }

    public func modelFile(extra: [String: JSONValue] = [:]) -> ModelFile {
        var h: [String: JSONValue] = [
            "kind": .string("failure"), "method": .string("logistic_regression_irls_platt"),
            "features": .array(featureNames.map { .string($0) }), "horizon_minutes": .number(horizonMinutes),
            "platt_a": .number(plattA), "platt_b": .number(plattB), "normalisation": .string("standardise_train_mean_std"),
            "metrics": .object(metrics.mapValues { .number($0) }),
        ]
        for (k, v) in extra { h[k] = v }
        let d = mean.count
        return ModelFile(header: h, tensors: [("mean", [d], mean), ("std", [d], std), ("w", [d + 1], weights)])
    }

    public init(mean: [Double], std: [Double], weights: [Double], featureNames: [String], horizonMinutes: Double) {
        self.mean = mean
        self.std = std
        self.weights = weights
        self.featureNames = featureNames
        self.horizonMinutes = horizonMinutes
    }

    public init(modelFile m: ModelFile) throws {
        guard m.header["kind"]?.string == "failure" else {
            throw ModelFile.FormatError.badHeader("kind is \(m.header["kind"]?.string ?? "missing"), expected failure")
        }
        let mean = try m.tensor("mean"), std = try m.tensor("std"), w = try m.tensor("w")
        guard std.count == mean.count, w.count == mean.count + 1 else { throw ModelFile.FormatError.badHeader("tensor sizes") }
        var names: [String] = []
        if case .array(let a)? = m.header["features"] { names = a.compactMap(\.string) }
        self.init(mean: mean, std: std, weights: w, featureNames: names, horizonMinutes: m.header["horizon_minutes"]?.number ?? 30)
        plattA = m.header["platt_a"]?.number ?? 1
        plattB = m.header["platt_b"]?.number ?? 0
        if case .object(let o)? = m.header["metrics"] { for (k, v) in o { if let x = v.number { metrics[k] = x } } }
    }
}

@inline(__always) func sigmoid(_ z: Double) -> Double { z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z)) }

/// Area under the ROC curve (probability a random positive outranks a random negative; ties count half).
public func rocAUC(_ scores: [Double], _ labels: [Bool]) -> Double {
    let order = scores.indices.sorted { scores[$0] < scores[$1] }
    var rankSum = 0.0
    var i = 0
    while i < order.count {
        var j = i
        while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
        let avg = Double(i + j) / 2 + 1
        for k in i...j where labels[order[k]] { rankSum += avg }
        i = j + 1
    }
    let p = Double(labels.filter { $0 }.count), nNeg = Double(labels.count) - p
    guard p > 0, nNeg > 0 else { return .nan }
    return (rankSum - p * (p + 1) / 2) / (p * nNeg)
}
