import Foundation
import VigilCore
import VigilForecast

/// One group's demand forecast, fit online on its own history only (causal: what it says at t depends on loads
/// observed up to t and nothing later).
///
/// The observed loads are kept per minute as the minute's mean and its maximum. After each completed minute n it
/// forecasts the *peak* load of minutes n+1 … n+H (H covers the policy's start-up time plus one interval plus the
/// minute in progress), because that is what the capacity ordered now must carry:
/// - before `minHistory` minutes: the last minute's maximum;
/// - then a ridge regression on the recent level and trend (last minute's mean and maximum, 5- and 30-minute means,
///   the 15-minute change), refit every `refitEvery` minutes on the last `trainWindow` minutes;
/// - with ≥ 2 days of history it adds daily seasonality: yesterday's peak over the same H minutes, additively
///   (today's level + yesterday's rise) and multiplicatively (today's level × yesterday's rise ratio);
/// - with ≥ 8 days, the same a week back.
/// The upper quantile is split-conformal and online: the forecast plus a quantile of the recent errors of such
/// forecasts (actual peak − predicted), each measured in units of the variability at its origin and scaled by
/// today's. The quantile's level adapts (adaptive conformal inference, Gibbs & Candès 2021): after every scored
/// forecast, level += γ·(miss − (1 − q)), so the realised miss rate tracks 1 − q when the demand drifts.
final class DemandForecaster {
    let stepMs: Int64 = 60_000
    let horizon: Int
    /// The ACI target in use (the auto-tuner may switch it: `adopt(shadow:)`).
    private(set) var quantile: Double
    let minHistory = 120
    let refitEvery = 60
    let trainWindow = 7 * 1440
    let maxHistory = 16 * 1440
    let maxResiduals = 1440
    /// ACI step size.
    let aciGamma = 0.005
    let lambda = 1e-3

    /// Per completed minute: mean and maximum of the loads observed in it.
    private(set) var means: [Double] = []
    private(set) var maxes: [Double] = []
    private var historyStart = 0  // absolute index of means[0]
    private var bucketMinute: Int64 = .min
    private var bucketSum = 0.0
    private var bucketMax = -Double.infinity
    private var bucketCount = 0
    private var weights: [Double]?
    private var features = 0  // feature count of `weights`' model
    private var lastFitAt = 0
    /// Forecasts awaiting their actuals: (absolute index of the origin minute, predicted peak, scale, upper).
    private var pending: [(origin: Int, peak: Double, scale: Double, upper: Double)] = []
    private var pendingHead = 0
    private var residuals: [Double] = []
    private var residualHead = 0
    private var sortedResiduals: [Double] = []
    /// The current point forecast of the peak (from the last completed minute).
    private(set) var peak: Double?
    /// Recent variability the errors are measured in (standard deviation of the last 30 minutes' means, floored at
    /// 5 % of their mean).
    private(set) var scale = 1.0
    private(set) var method = "last_value"
    /// The conformal level in use (starts at `quantile`, adapts).
    private(set) var level: Double

    /// Shadow quantiles (auto-tuning): for each, its own ACI level runs on the same residuals, so the upper bound a
    /// forecaster configured with that quantile would have given is known at every minute, at the cost of one
    /// order-statistic lookup per quantile (the regression and the residuals do not depend on the quantile).
    let shadowQuantiles: [Double]
    private(set) var shadowLevels: [Double]
    /// Per pending forecast, `shadowQuantiles.count` uppers (aligned with `pending`).
    private var shadowPending: [Double] = []
    /// The shadow uppers of the last completed minute's forecast (empty before it, or without shadows).
    private(set) var shadowUppers: [Double] = []

    init(leadMs: Int64, quantile: Double, shadowQuantiles: [Double] = []) {
        horizon = Int((leadMs + stepMs - 1) / stepMs) + 1
        self.quantile = quantile
        level = quantile
        self.shadowQuantiles = shadowQuantiles
        shadowLevels = shadowQuantiles
    }

    /// Switches the live quantile to shadow `k`'s, continuing from that shadow's adapted level and pending uppers:
    /// from here on the forecaster behaves exactly as if it had been configured with that quantile all along.
    func adopt(shadow k: Int) {
        guard shadowQuantiles.indices.contains(k) else { return }
        quantile = shadowQuantiles[k]
        level = shadowLevels[k]
        let n = shadowQuantiles.count
        for i in pendingHead..<pending.count { pending[i].upper = shadowPending[i * n + k] }
    }

    var absoluteCount: Int { historyStart + means.count }
    /// The time of the latest observation (nil before the first).
    private(set) var lastObservedMillis: Int64?

    /// Feeds one observation; completes minutes, scores old forecasts, refits when due, forecasts.
    func observe(t: Int64, load: Double, worker: BLASWorker?) async {
        lastObservedMillis = t
        let minute = t >= 0 ? t / stepMs : (t - stepMs + 1) / stepMs
        if minute != bucketMinute {
            if bucketCount > 0 { complete(mean: bucketSum / Double(bucketCount), max: bucketMax) }
            bucketMinute = minute
            bucketSum = 0
            bucketMax = -.infinity
            bucketCount = 0
        }
        bucketSum += load
        bucketMax = max(bucketMax, load)
        bucketCount += 1
    }

    private func complete(mean: Double, max mx: Double) {
        means.append(mean)
        maxes.append(mx)
        if means.count > maxHistory + 1440 {
            let drop = means.count - maxHistory
            means.removeFirst(drop)
            maxes.removeFirst(drop)
            historyStart += drop
        }
        let n = absoluteCount
        // score forecasts whose H minutes are now all observed
        while pendingHead < pending.count, pending[pendingHead].origin + horizon < n {
            let p = pending[pendingHead]
            pendingHead += 1
            let lo = p.origin + 1 - historyStart, hi = p.origin + horizon - historyStart
            guard lo >= 0 else { continue }
            var actual = -Double.infinity
            for i in lo...hi { actual = max(actual, maxes[i]) }
            // in units of the larger of the variability then and now: a flat start (a tiny scale) followed by a jump
            // would otherwise count as hundreds of units and pin the upper bound at max_replicas for a day
            addResidual((actual - p.peak) / max(p.scale, recentScale()))
            let miss = actual > p.upper ? 1.0 : 0.0
            level = min(0.999, max(0.5, level + aciGamma * (miss - (1 - quantile))))
            let ns = shadowQuantiles.count
            for k in 0..<ns {
                let m = actual > shadowPending[(pendingHead - 1) * ns + k] ? 1.0 : 0.0
                shadowLevels[k] = min(0.999, max(0.5, shadowLevels[k] + aciGamma * (m - (1 - shadowQuantiles[k]))))
            }
        }
        if pendingHead > 4096 {
            shadowPending.removeFirst(pendingHead * shadowQuantiles.count)
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
        if means.count >= minHistory && n - lastFitAt >= refitEvery {
            refit()
            lastFitAt = n
        }
        let p = forecastPeak()
        peak = p
        scale = recentScale()
        let u = max(0, p + residualQuantile * scale)
        pending.append((n - 1, p, scale, u))
        if !shadowQuantiles.isEmpty {
            shadowUppers.removeAll(keepingCapacity: true)
            for lv in shadowLevels {
                let su = max(0, p + residualQuantile(at: lv) * scale)
                shadowUppers.append(su)
                shadowPending.append(su)
            }
        }
    }

    private func addResidual(_ r: Double) {
        if residuals.count < maxResiduals {
            residuals.append(r)
            let i = lowerBound(sortedResiduals, r)
            sortedResiduals.insert(r, at: i)
        } else {
            let old = residuals[residualHead]
            residuals[residualHead] = r
            residualHead = (residualHead + 1) % maxResiduals
            sortedResiduals.remove(at: lowerBound(sortedResiduals, old))
            sortedResiduals.insert(r, at: lowerBound(sortedResiduals, r))
        }
    }

    /// The level-`level` quantile of the recent scaled peak errors (0 until any are scored).
    var residualQuantile: Double { residualQuantile(at: level) }

    /// The level-`lv` quantile of the recent scaled peak errors (0 until any are scored).
    func residualQuantile(at lv: Double) -> Double {
        let s = sortedResiduals
        guard !s.isEmpty else { return 0 }
        let k = min(s.count - 1, Int((lv * Double(s.count)).rounded(.up)) - 1)
        return s[max(0, k)]
    }

    // MARK: the regression

    /// Which features the history allows at absolute origin `n`: 0 none, 1 level/trend, 2 + daily, 3 + weekly.
    private func tier(_ n: Int) -> Int {
        let local = n - historyStart  // index of the origin in `means`
        if local >= 10_080 + 5 { return 3 }
        if local >= 1440 + 5 { return 2 }
        return local >= 29 ? 1 : 0
    }

    /// Features at local index `i` (the origin minute) for `tier`; `out` is overwritten.
    private func row(_ i: Int, tier: Int, _ out: inout [Double]) {
        out.removeAll(keepingCapacity: true)
        let y = means
        func mean(_ from: Int, _ to: Int) -> Double {
            var s = 0.0
            for j in from...to { s += y[j] }
            return s / Double(to - from + 1)
        }
        let m5 = mean(i - 4, i)
        out.append(1)
        out.append(y[i])
        out.append(maxes[i])
        out.append(m5)
        out.append(mean(i - 29, i))
        out.append(y[i] - y[max(0, i - 15)])
        for (lag, t) in [(1440, 2), (10_080, 3)] where tier >= t {
            let base = mean(i - lag - 4, i - lag)
            var pk = -Double.infinity
            for j in (i - lag + 1)...(i - lag + horizon) { pk = max(pk, maxes[j]) }
            out.append(m5 + (pk - base))
            out.append(base > 1e-9 ? m5 * min(pk / base, 10) : m5)
        }
    }

    private func refit() {
        let n = absoluteCount
        let t = tier(n - 1)
        guard t >= 1 else { return }
        // training origins: the last `trainWindow` with all H targets observed and the tier's features available
        let lastOrigin = means.count - 1 - horizon
        var firstOrigin = max(lastOrigin - trainWindow + 1, 29)
        if t >= 2 { firstOrigin = max(firstOrigin, 1440 + 5) }
        if t >= 3 { firstOrigin = max(firstOrigin, 10_080 + 5) }
        guard lastOrigin - firstOrigin + 1 >= 60 else { return }
        var x: [Double] = []
        row(firstOrigin, tier: t, &x)
        let p = x.count
        var ata = [Double](repeating: 0, count: p * p), aty = [Double](repeating: 0, count: p)
        // normalise by the window's mean level so λ means the same at every scale
        var level = 0.0
        for i in firstOrigin...lastOrigin { level += means[i] }
        level = max(level / Double(lastOrigin - firstOrigin + 1), 1e-9)
        for i in firstOrigin...lastOrigin {
            row(i, tier: t, &x)
            x[0] = level  // intercept column in the same units
            var target = -Double.infinity
            for j in (i + 1)...(i + horizon) { target = max(target, maxes[j]) }
            for a in 0..<p {
                let xa = x[a] / level
                aty[a] += xa * target / level
                for b in a..<p { ata[a * p + b] += xa * x[b] / level }
            }
        }
        let rows = Double(lastOrigin - firstOrigin + 1)
        for a in 0..<p {
            for b in 0..<a { ata[a * p + b] = ata[b * p + a] }
            ata[a * p + a] += lambda * rows
        }
        guard let w = Self.solve(ata, aty, p) else { return }
        weights = w.map { $0 }
        features = t
        scaleForIntercept = level
        method = t == 1 ? "ridge" : t == 2 ? "ridge+daily" : "ridge+daily+weekly"
    }

    private var scaleForIntercept = 1.0

    /// Solves the symmetric positive definite system by Cholesky; nil when it is not.
    static func solve(_ a: [Double], _ b: [Double], _ p: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: p * p)
        for i in 0..<p {
            for j in 0...i {
                var s = a[i * p + j]
                for k in 0..<j { s -= l[i * p + k] * l[j * p + k] }
                if i == j {
                    guard s > 1e-12 else { return nil }
                    l[i * p + i] = s.squareRoot()
                } else {
                    l[i * p + j] = s / l[j * p + j]
                }
            }
        }
        var y = [Double](repeating: 0, count: p)
        for i in 0..<p {
            var s = b[i]
            for k in 0..<i { s -= l[i * p + k] * y[k] }
            y[i] = s / l[i * p + i]
        }
        var x = [Double](repeating: 0, count: p)
        for i in stride(from: p - 1, through: 0, by: -1) {
            var s = y[i]
            for k in (i + 1)..<p { s -= l[k * p + i] * x[k] }
            x[i] = s / l[i * p + i]
        }
        return x
    }

    private func recentScale() -> Double {
        let x = means.suffix(30)
        let n = Double(x.count)
        let mean = x.reduce(0, +) / n
        let v = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
        return max(v.squareRoot(), 0.05 * abs(mean), 1e-9)
    }

    private var buffer: [Double] = []

    /// The point forecast of the peak over the next H minutes.
    private func forecastPeak() -> Double {
        let i = means.count - 1
        guard let w = weights, tier(absoluteCount - 1) >= features else {
            method = "last_value"
            return maxes.last ?? 0
        }
        row(i, tier: features, &buffer)
        buffer[0] = scaleForIntercept
        var y = 0.0
        for k in 0..<w.count { y += w[k] * buffer[k] }
        return max(0, y)
    }

    /// (point peak, upper-quantile peak) for the coming start-up time, or nil before the first complete minute.
    /// The forecast peak and its upper quantile, never below the highest load seen in the minute in progress (the
    /// horizon covers it: scaling in under a load already observed would be undone at the minute's end).
    func upper() -> (point: Double, upper: Double)? {
        guard let p = peak else { return nil }
        let now = bucketCount > 0 ? bucketMax : 0
        return (max(p, now), max(now, max(0, p + residualQuantile * scale)))
    }
}

/// First index whose element is ≥ `x` in an ascending array (the forecaster's sorted residuals, the auto-tuner's
/// timestamps). Module-local: a cross-module generic cost the query path 30 % (BENCHMARKS.md), so each layer keeps
/// its own.
@inline(__always)
func lowerBound<T: Comparable>(_ a: [T], _ x: T) -> Int {
    var lo = 0, hi = a.count
    while lo < hi {
        let m = (lo + hi) >> 1
        if a[m] < x { lo = m + 1 } else { hi = m }
    }
    return lo
}
