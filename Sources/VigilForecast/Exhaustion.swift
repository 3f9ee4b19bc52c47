import Foundation

/// Settings of the time-to-exhaustion estimator (`ExhaustionPredictor`).
package struct ExhaustionConfig: Sendable, Equatable {
    /// Only samples newer than `now − windowSeconds` are used (90 min: chosen on the train split of the Bitbrains
    /// injection among 60, 90, 240 and 480 min).
    package var windowSeconds = 90 * 60.0
    /// Fewer samples than this after the last reset (or in the window): no estimate.
    package var minPoints = 6
    /// Longer windows are thinned evenly to this many samples (Theil–Sen costs O(m² log m) in the samples used).
    package var maxPoints = 200
    /// A drop of the running level by more than this fraction of the limit (median of the ≤ 3 samples from i on against
    /// the median of the 3 samples before i) is a reset: a restart, a GC, a cleanup. The trend restarts after it.
    package var resetDropFraction = 0.10
    /// The policy horizon of `probabilityWithinHorizon`.
    package var horizonSeconds = 1800.0
    /// z of the two-sided interval of the slope (1.645: 90 %).
    package var z = 1.645
    /// Residual quantiles that bound the level (0.05 and 0.95).
    package var residualQuantile = 0.05
    package init() {}
}

/// What the estimator says at one instant about one series with a limit.
package struct ExhaustionEstimate: Sendable, Equatable {
    /// Expected seconds until the trend line reaches the limit (0: at or over it now; +∞: not heading for it).
    package var secondsToExhaustion: Double
    /// Earliest plausible: the upper slope bound from the level's upper residual quantile.
    package var lowerSeconds: Double
    /// Latest plausible: the lower slope bound from the level's lower residual quantile (+∞ when that slope is ≤ 0).
    package var upperSeconds: Double
    /// P(some sample reaches the limit within the horizon) under the fitted line, the slope's uncertainty and the
    /// residual spread (normal approximation; future samples independent given the line).
    package var probabilityWithinHorizon: Double
    /// Fitted level at `now` and slope per second (Theil–Sen).
    package var level: Double
    package var slopePerSecond: Double
    package var limit: Double
    /// Samples the fit used (after the last reset).
    package var points: Int
}

/// Time to exhaustion of a series with a limit (memory against its limit, used bytes against the filesystem size, open
/// file descriptors against their ulimit): a Theil–Sen trend over a recent window, restarted after the last reset
/// (a drop of the level), with a level + slope interval.
///
/// A pure function of the samples it is given: the value at `now` uses nothing after `now`. Cost: O(m² log m) for m
/// samples used (m ≤ `maxPoints`; 48 samples of a 4-hour window at 5-minute steps: 1,128 pairwise slopes).
package enum ExhaustionPredictor {
    /// Estimate at the last sample. `times` (seconds, ascending) and `values` are the series' recent samples (older than
    /// the window is fine; they are skipped); NaN values are skipped. `limit` is the limit now (for a `*_limit` series
    /// that changes, its latest value). Returns nil when fewer than `minPoints` samples follow the last reset, or the
    /// limit is not a positive finite number.
    package static func estimate(times: ArraySlice<Double>, values: ArraySlice<Double>, limit: Double,
                                 config c: ExhaustionConfig = ExhaustionConfig()) -> ExhaustionEstimate? {
        precondition(times.count == values.count, "times and values differ in length")
        guard limit.isFinite, limit > 0, let now = times.last else { return nil }
        // The window, newest last, NaN skipped.
        var ts: [Double] = [], vs: [Double] = []
        var i = times.endIndex - 1, j = values.endIndex - 1
        while i >= times.startIndex, times[i] > now - c.windowSeconds {
            if values[j].isFinite { ts.append(times[i]); vs.append(values[j]) }
            i -= 1; j -= 1
        }
        ts.reverse(); vs.reverse()
        if let last = vs.last, last >= limit {
            // Already at the limit: nothing to extrapolate.
            return ExhaustionEstimate(secondsToExhaustion: 0, lowerSeconds: 0, upperSeconds: 0, probabilityWithinHorizon: 1,
                                      level: last, slopePerSecond: 0, limit: limit, points: 1)
        }
        // Reset: the last drop of the running level.
        let start = lastReset(vs, drop: c.resetDropFraction * limit)
        if start > 0 { ts.removeFirst(start); vs.removeFirst(start) }
        guard ts.count >= max(2, c.minPoints) else { return nil }
        if ts.count > c.maxPoints {
            // Thin evenly, keeping the newest sample.
            let m = c.maxPoints, n = ts.count
            let stepBack = Double(n - 1) / Double(m - 1)
            let idx: [Int] = (0..<m).map { (k: Int) -> Int in n - 1 - Int((Double(m - 1 - k) * stepBack).rounded()) }
            ts = idx.map { ts[$0] }; vs = idx.map { vs[$0] }
        }
        let m = ts.count
        var slopes: [Double] = []
        slopes.reserveCapacity(m * (m - 1) / 2)
        for a in 0..<m { for b in (a + 1)..<m where ts[b] > ts[a] { slopes.append((vs[b] - vs[a]) / (ts[b] - ts[a])) } }
        guard !slopes.isEmpty else { return nil }
        slopes.sort()
        let nS = slopes.count
        let slope = median(sorted: slopes)
        // Sen's slope interval: order statistics at (N ∓ z·sqrt(Var S))/2 (Kendall's S under no trend beyond b).
        let cS = c.z * (Double(m * (m - 1) * (2 * m + 5)) / 18).squareRoot()
        let lo = max(0, min(nS - 1, Int(((Double(nS) - cS) / 2).rounded(.down))))
        let hi = max(0, min(nS - 1, Int(((Double(nS) + cS) / 2).rounded(.up))))
        let sLo = slopes[lo], sHi = slopes[hi]
        let level = median(unsorted: (0..<m).map { vs[$0] - slope * (ts[$0] - now) })
        var res = (0..<m).map { vs[$0] - (level + slope * (ts[$0] - now)) }
        res.sort()
        let rLo = quantile(sorted: res, c.residualQuantile), rHi = quantile(sorted: res, 1 - c.residualQuantile)
        let mad = median(unsorted: res.map { abs($0 - median(sorted: res)) }) * 1.4826
        let sdSlope = (sHi - sLo) / (2 * c.z)

        func cross(_ from: Double, _ s: Double) -> Double {
            if from >= limit { return 0 }
            return s > 0 ? (limit - from) / s : .infinity
        }
        let expected = cross(level, slope)
        let earliest = min(expected, cross(level + max(0, rHi), max(slope, sHi)))
        let latest = max(expected, cross(level + min(0, rLo), min(slope, sLo)))
        // P(some sample in (now, now + horizon] reaches the limit): each future sample at the series' own step is the
        // line plus residual noise plus the slope's uncertainty; samples taken as independent given the line.
        var gaps = (1..<m).map { ts[$0] - ts[$0 - 1] }
        gaps.sort()
        let step = max(1, median(sorted: gaps))
        let ahead = max(1, Int((c.horizonSeconds / step).rounded(.down)))
        var pNone = 1.0
        for k in 1...ahead {
            let h = Double(k) * step
            let mean = level + slope * h
            let sd = (mad * mad * (1 + 1 / Double(m)) + sdSlope * sdSlope * h * h).squareRoot()
            let pk = sd > 0 ? normalCDF((mean - limit) / sd) : (mean >= limit ? 1 : 0)
            pNone *= 1 - pk
        }
        let p = 1 - pNone
        return ExhaustionEstimate(secondsToExhaustion: expected, lowerSeconds: earliest, upperSeconds: latest,
                                  probabilityWithinHorizon: p, level: level, slopePerSecond: slope, limit: limit, points: m)
    }

    package static func estimate(times: [Double], values: [Double], limit: Double,
                                 config: ExhaustionConfig = ExhaustionConfig()) -> ExhaustionEstimate? {
        estimate(times: times[...], values: values[...], limit: limit, config: config)
    }

    /// Index of the first sample after the last reset in `v` (0: none). A reset at i: the median of v[i..<i+3] lies more
    /// than `drop` below the median of v[i-3..<i]. One low or high outlier does not move either median.
    static func lastReset(_ v: [Double], drop: Double) -> Int {
        guard v.count >= 4 else { return 0 }
        func before(_ i: Int) -> Double { median(unsorted: Array(v[(i - 3)..<i])) }
        func holds(_ i: Int) -> Bool { median(unsorted: Array(v[i..<min(v.count, i + 3)])) < before(i) - drop }
        var i = v.count - 1
        while i >= 3, !holds(i) { i -= 1 }
        guard i >= 3 else { return 0 }
        // The medians straddle the drop for a few i: take the first sample of that run that is itself below the level.
        var first = i
        while first - 1 >= 3, holds(first - 1) { first -= 1 }
        for k in first...i where v[k] < before(k) - drop { return k }
        return i
    }

    static func median(sorted s: [Double]) -> Double {
        let n = s.count
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
    }
    static func median(unsorted s: [Double]) -> Double { median(sorted: s.sorted()) }
    static func quantile(sorted s: [Double], _ q: Double) -> Double {
        let x = q * Double(s.count - 1), i = Int(x.rounded(.down)), f = x - Double(i)
        return i + 1 < s.count ? s[i] * (1 - f) + s[i + 1] * f : s[i]
    }
    static func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }
}
