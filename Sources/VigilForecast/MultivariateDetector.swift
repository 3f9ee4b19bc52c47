import Foundation

/// Online anomaly scoring of one machine's metrics (one row of d metrics per step), calibrated on a training span of
/// the same machine. The score of row t uses only the training span and rows ≤ t.
///
/// Per metric c (fitted on the training rows, no labels):
/// - centre m_c = median, level scale a_c = the `metricQuantile` quantile of |x − m_c|, step scale b_c = the same
///   quantile of |x_t − x_{t−1}| (floored at 1e-3 × the metric's range, or × the median range of all metrics when the
///   metric was constant);
/// - exceedance u_c(t) = max(|x_c(t) − m_c| / a_c, |x_c(t) − x_c(t−1)| / b_c): ≈ 1 at the metric's own training
///   extreme, for values away from the usual level and for sudden jumps alike.
///
/// Row score s(t) = the mean of the `topK` largest u_c(t) (several metrics moving together count more than one noisy
/// metric), threshold τ = the `thresholdQuantile` quantile of s over the training rows. The reported score is
/// 1 − 2^(−(s/τ)⁴) (0.5 exactly at τ), held as the maximum over the last `hold` + 1 rows, so an alarm stays on for
/// `hold` rows after the last exceedance and close alarms merge into one run.
public struct MultivariateDetector: Sendable {
    public struct Config: Sendable {
        public var topK = 3
        public var metricQuantile = 0.999
        public var thresholdQuantile = 0.995
        public var hold = 5
        public init() {}
    }

    public let config: Config
    public let dims: Int
    public private(set) var center: [Double]
    public private(set) var levelScale: [Double]
    public private(set) var stepScale: [Double]
    /// τ: the raw-score threshold from the training rows.
    public private(set) var threshold: Double

    private var previous: [Double]
    private var recent: [Double]
    private var recentPos = 0

    public struct FitError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Fits the per-metric centres and scales and the threshold on `rows` training rows (row-major, `dims` columns).
    /// Non-finite training values are ignored per metric.
    public init(train x: [Double], rows n: Int, dims d: Int, config: Config = Config()) throws(FitError) {
        guard d >= 1, n >= 16, x.count == n * d else {
            throw FitError(description: "multivariate detector: need ≥ 16 training rows of \(d) metrics (got \(n) rows, \(x.count) values)")
        }
        self.config = config
        self.dims = d
        var center = [Double](repeating: 0, count: d), aScale = center, bScale = center, range = center
        var col: [Double] = [], dif: [Double] = []
        col.reserveCapacity(n); dif.reserveCapacity(n)
        for c in 0..<d {
            col.removeAll(keepingCapacity: true); dif.removeAll(keepingCapacity: true)
            var prev = Double.nan
            for r in 0..<n {
                let v = x[r * d + c]
                guard v.isFinite else { continue }
                col.append(v)
                if prev.isFinite { dif.append(abs(v - prev)) }
                prev = v
            }
            guard !col.isEmpty else { center[c] = 0; aScale[c] = 0; bScale[c] = 0; range[c] = 0; continue }
            col.sort()
            center[c] = col[col.count / 2]
            range[c] = col[col.count - 1] - col[0]
            var dev = col.map { abs($0 - center[c]) }
            dev.sort()
            aScale[c] = MultivariateDetector.quantile(sorted: dev, config.metricQuantile)
            dif.sort()
            bScale[c] = dif.isEmpty ? 0 : MultivariateDetector.quantile(sorted: dif, config.metricQuantile)
        }
        let sortedRanges = range.filter { $0 > 0 }.sorted()
        let typical = sortedRanges.isEmpty ? 1 : sortedRanges[sortedRanges.count / 2]
        for c in 0..<d {
            let floor = max(1e-12, 1e-3 * (range[c] > 0 ? range[c] : typical))
            aScale[c] = max(aScale[c], floor)
            bScale[c] = max(bScale[c], floor)
        }
        self.center = center
        self.levelScale = aScale
        self.stepScale = bScale
        self.threshold = 1
        self.previous = [Double](repeating: .nan, count: d)
        self.recent = [Double](repeating: 0, count: max(1, config.hold + 1))
        // Threshold from the training rows' raw scores (the same online pass, diffs against the previous row).
        var trainScores = [Double](repeating: 0, count: n)
        var prev = [Double](repeating: .nan, count: d)
        var u = [Double](repeating: 0, count: d)
        for r in 0..<n {
            trainScores[r] = x.withUnsafeBufferPointer { rawScore($0.baseAddress! + r * d, previous: &prev, scratch: &u) }
        }
        previous = prev  // continue right after the training rows
        trainScores.sort()
        threshold = max(1e-9, MultivariateDetector.quantile(sorted: trainScores, config.thresholdQuantile))
    }

    static func quantile(sorted a: [Double], _ q: Double) -> Double {
        guard !a.isEmpty else { return 0 }
        return a[min(a.count - 1, max(0, Int((Double(a.count) * q).rounded(.down))))]
    }

    /// Raw score of one row (mean of the top-k exceedances); updates `previous` with the row's finite values.
    func rawScore(_ row: UnsafePointer<Double>, previous prev: inout [Double], scratch u: inout [Double]) -> Double {
        let d = dims
        for c in 0..<d {
            let v = row[c]
            guard v.isFinite else { u[c] = 0; continue }
            var e = abs(v - center[c]) / levelScale[c]
            if prev[c].isFinite { e = max(e, abs(v - prev[c]) / stepScale[c]) }
            u[c] = min(1e6, e)
            prev[c] = v
        }
        let k = min(config.topK, d)
        // top-k by partial selection (k is small)
        var top = [Double](repeating: 0, count: k)
        for c in 0..<d {
            let v = u[c]
            if v > top[k - 1] {
                var i = k - 1
                while i > 0 && top[i - 1] < v { top[i] = top[i - 1]; i -= 1 }
                top[i] = v
            }
        }
        var s = 0.0
        for v in top { s += v }
        return s / Double(k)
    }

    /// The most recent raw (uncalibrated) score, for diagnostics and failure features.
    public private(set) var lastRaw = 0.0
    /// The metric with the largest exceedance in the most recent row (which metric drove the score).
    public private(set) var lastTopMetric = 0

    /// Feeds the next row (`dims` values; NaN = missing) and returns its score in [0, 1] (0.5 = threshold).
    public mutating func update(_ row: [Double]) -> Double {
        precondition(row.count == dims, "BUG: row has \(row.count) values, detector \(dims)")
        var u = [Double](repeating: 0, count: dims)
        var prev = previous
        let s = row.withUnsafeBufferPointer { rawScore($0.baseAddress!, previous: &prev, scratch: &u) }
        previous = prev
        lastRaw = s
        var top = 0
        for c in 1..<max(1, dims) where u[c] > u[top] { top = c }
        lastTopMetric = top
        let z = s / threshold
        let cal = 1 - pow(2, -(z * z * z * z))
        recent[recentPos] = cal
        recentPos = (recentPos + 1) % recent.count
        return min(1, max(0, recent.max() ?? cal))
    }

    /// Scores rows (row-major, `dims` columns) online, continuing from the current state.
    public mutating func scoreAll(_ x: [Double], rows n: Int) -> [Double] {
        (0..<n).map { r in update(Array(x[(r * dims)..<((r + 1) * dims)])) }
    }
}
