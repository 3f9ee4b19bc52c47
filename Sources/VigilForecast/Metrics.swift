import Foundation

/// Forecast accuracy accumulators (sums, so many windows and series can be pooled).
public struct ForecastErrors: Sendable {
    public var absError = 0.0
    public var absActual = 0.0
    public var count = 0
    /// Σ of per-window MASE-scaled errors (|e| / in-sample seasonal-naive MAE of that series).
    public var scaledError = 0.0
    public var covered = 0

    public init() {}

    public mutating func add(actual: Double, forecast: Double, scale: Double, lo: Double? = nil, hi: Double? = nil) {
        let e = abs(actual - forecast)
        absError += e
        absActual += abs(actual)
        scaledError += e / max(scale, 1e-12)
        count += 1
        if let lo, let hi, actual >= lo && actual <= hi { covered += 1 }
    }

    public mutating func merge(_ o: ForecastErrors) {
        absError += o.absError; absActual += o.absActual; count += o.count; scaledError += o.scaledError; covered += o.covered
    }

    public var mae: Double { absError / Double(max(1, count)) }
    /// WAPE = Σ|e| / Σ|y|.
    public var wape: Double { absError / max(absActual, 1e-300) }
    public var mase: Double { scaledError / Double(max(1, count)) }
    public var coverage: Double { Double(covered) / Double(max(1, count)) }
}

/// In-sample MAE of the seasonal-naive forecast with lag m (the MASE denominator); falls back to lag 1.
public func seasonalNaiveScale(_ v: ArraySlice<Double>, period m: Int) -> Double {
    let a = Array(v)
    let lag = a.count > m ? m : 1
    guard a.count > lag else { return 1 }
    var s = 0.0
    for i in lag..<a.count { s += abs(a[i] - a[i - lag]) }
    return s / Double(a.count - lag)
}

/// Point-wise and event-wise detection metrics (no point-adjust).
public struct DetectionMetrics: Sendable {
    public var tp = 0, fp = 0, fn = 0
    public var events = 0, eventsDetected = 0
    public var predictedSegments = 0, predictedSegmentsHittingEvent = 0
    /// Events with a flagged point at least `leadPoints` before their last point.
    public var eventsEarly = 0

    public init() {}

    public var precision: Double { Double(tp) / Double(max(1, tp + fp)) }
    public var recall: Double { Double(tp) / Double(max(1, tp + fn)) }
    public var f1: Double { f1(precision, recall) }
    public var eventRecall: Double { Double(eventsDetected) / Double(max(1, events)) }
    public var eventPrecision: Double { Double(predictedSegmentsHittingEvent) / Double(max(1, predictedSegments)) }
    public var eventF1: Double { f1(eventPrecision, eventRecall) }
    func f1(_ p: Double, _ r: Double) -> Double { p + r > 0 ? 2 * p * r / (p + r) : 0 }

    public static func += (a: inout DetectionMetrics, b: DetectionMetrics) {
        a.tp += b.tp; a.fp += b.fp; a.fn += b.fn
        a.events += b.events; a.eventsDetected += b.eventsDetected
        a.predictedSegments += b.predictedSegments; a.predictedSegmentsHittingEvent += b.predictedSegmentsHittingEvent
        a.eventsEarly += b.eventsEarly
    }

    /// Evaluates flags against labels. Events are maximal runs of label 1; predicted segments maximal runs of flags.
    public static func evaluate(labels: [Bool], flags: [Bool], leadPoints: Int) -> DetectionMetrics {
        precondition(labels.count == flags.count, "BUG: labels and flags differ in length")
        var m = DetectionMetrics()
        for i in labels.indices {
            switch (labels[i], flags[i]) {
            case (true, true): m.tp += 1
            case (false, true): m.fp += 1
            case (true, false): m.fn += 1
            default: break
            }
        }
        var i = 0
        while i < labels.count {
            if labels[i] {
                var j = i
                while j < labels.count && labels[j] { j += 1 }
                m.events += 1
                if let first = (i..<j).first(where: { flags[$0] }) {
                    m.eventsDetected += 1
                    if (j - 1) - first >= leadPoints { m.eventsEarly += 1 }
                }
                i = j
            } else { i += 1 }
        }
        i = 0
        while i < flags.count {
            if flags[i] {
                var j = i
                while j < flags.count && flags[j] { j += 1 }
                m.predictedSegments += 1
                if (i..<j).contains(where: { labels[$0] }) { m.predictedSegmentsHittingEvent += 1 }
                i = j
            } else { i += 1 }
        }
        return m
    }
}

/// Best point-wise F1 over thresholds taken from the score quantiles (an oracle threshold, reported as such).
public func bestF1Threshold(scores: [[Double]], labels: [[Bool]]) -> Double {
    var all = scores.flatMap { $0 }.filter { $0.isFinite }
    all.sort()
    guard !all.isEmpty else { return .infinity }
    var best = (f1: -1.0, t: all[all.count - 1])
    for q in stride(from: 0.5, through: 0.999, by: 0.0025) {
        let t = all[min(all.count - 1, Int(Double(all.count) * q))]
        var m = DetectionMetrics()
        for (s, l) in zip(scores, labels) {
            var tp = 0, fp = 0, fn = 0
            for i in s.indices {
                let f = s[i] >= t
                if f && l[i] { tp += 1 } else if f { fp += 1 } else if l[i] { fn += 1 }
            }
            m.tp += tp; m.fp += fp; m.fn += fn
        }
        if m.f1 > best.f1 { best = (m.f1, t) }
    }
    return best.t
}

/// PCA-reconstruction anomaly baseline: standardise with the training mean/std, keep the top-k principal
/// directions (subspace iteration on the covariance with BLAS; k explains ≥ `varianceKept`), score = squared
/// reconstruction error.
public struct PCABaseline: Sendable {
    public var mean: [Double]
    public var std: [Double]
    /// d×k row-major orthonormal basis.
    public var basis: [Double]
    public var k: Int

    public init(train x: [Double], rows n: Int, cols d: Int, varianceKept: Double = 0.9) {
        var mean = [Double](repeating: 0, count: d), std = mean
        for r in 0..<n { for c in 0..<d { mean[c] += x[r * d + c] } }
        for c in 0..<d { mean[c] /= Double(n) }
        for r in 0..<n { for c in 0..<d { let e = x[r * d + c] - mean[c]; std[c] += e * e } }
        for c in 0..<d { std[c] = max(1e-3, (std[c] / Double(max(1, n - 1))).squareRoot()) }
        var z = x
        for r in 0..<n { for c in 0..<d { z[r * d + c] = (x[r * d + c] - mean[c]) / std[c] } }
        var cov = [Double](repeating: 0, count: d * d)
        z.withUnsafeBufferPointer { zp in
            cov.withUnsafeMutableBufferPointer { cp in BLAS.syrkTransposed(zp.baseAddress!, cp.baseAddress!, n: n, d: d, beta: 0) }
        }
        for i in 0..<d { for j in 0..<i { cov[i * d + j] = cov[j * d + i] } }
        for i in 0..<(d * d) { cov[i] /= Double(max(1, n - 1)) }
        var trace = 0.0
        for i in 0..<d { trace += cov[i * d + i] }
        // Subspace iteration for all d directions (d is small), Gram–Schmidt re-orthonormalisation.
        var v = [Double](repeating: 0, count: d * d)
        for i in 0..<d { v[i * d + i] = 1; if i + 1 < d { v[(i + 1) * d + i] = 0.1 } }
        var tmp = v
        for _ in 0..<200 {
            cov.withUnsafeBufferPointer { cp in
                v.withUnsafeBufferPointer { vp in
                    tmp.withUnsafeMutableBufferPointer { tp in BLAS.gemm(cp.baseAddress!, vp.baseAddress!, tp.baseAddress!, m: d, n: d, k: d) }
                }
            }
            PCABaseline.orthonormalizeColumns(&tmp, d: d, k: d)
            swap(&v, &tmp)
        }
        // Eigenvalues (Rayleigh quotients), columns already ordered by subspace iteration.
        var kept = 0.0, k = 0
        while k < d && kept < varianceKept * trace {
            var q = 0.0
            for i in 0..<d { var s = 0.0; for j in 0..<d { s += cov[i * d + j] * v[j * d + k] }; q += v[i * d + k] * s }
            kept += q
            k += 1
        }
        k = max(1, k)
        var b = [Double](repeating: 0, count: d * k)
        for i in 0..<d { for j in 0..<k { b[i * k + j] = v[i * d + j] } }
        self.mean = mean
        self.std = std
        self.basis = b
        self.k = k
    }

    static func orthonormalizeColumns(_ a: inout [Double], d: Int, k: Int) {
        for j in 0..<k {
            for p in 0..<j {
                var dot = 0.0
                for i in 0..<d { dot += a[i * k + j] * a[i * k + p] }
                for i in 0..<d { a[i * k + j] -= dot * a[i * k + p] }
            }
            var nrm = 0.0
            for i in 0..<d { nrm += a[i * k + j] * a[i * k + j] }
            nrm = nrm.squareRoot()
            if nrm < 1e-300 { for i in 0..<d { a[i * k + j] = i == j ? 1 : 0 }; continue }
            for i in 0..<d { a[i * k + j] /= nrm }
        }
    }

    /// Squared reconstruction error per row of x (n×d).
    public func score(_ x: [Double], rows n: Int) -> [Double] {
        let d = mean.count
        var z = x
        for r in 0..<n { for c in 0..<d { z[r * d + c] = (x[r * d + c] - mean[c]) / std[c] } }
        var proj = [Double](repeating: 0, count: n * k)
        z.withUnsafeBufferPointer { zp in
            basis.withUnsafeBufferPointer { bp in
                proj.withUnsafeMutableBufferPointer { pp in BLAS.gemm(zp.baseAddress!, bp.baseAddress!, pp.baseAddress!, m: n, n: k, k: d) }
            }
        }
        var rec = [Double](repeating: 0, count: n * d)
        proj.withUnsafeBufferPointer { pp in
            basis.withUnsafeBufferPointer { bp in
                rec.withUnsafeMutableBufferPointer { rp in
                    BLAS.gemm(pp.baseAddress!, bp.baseAddress!, rp.baseAddress!, m: n, n: d, k: k, transB: true)
                }
            }
        }
        return (0..<n).map { r in
            var s = 0.0
            for c in 0..<d { let e = z[r * d + c] - rec[r * d + c]; s += e * e }
            return s
        }
    }
}
