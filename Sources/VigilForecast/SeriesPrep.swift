/// Turning real, messy series into regular vectors the linear models can use.
public enum SeriesPrep {
    /// The regular step of a series in ms: the median of the positive differences (nil with < 2 distinct times).
    public static func inferStep(_ ts: [Int64]) -> Int64? {
        var d: [Int64] = []
        d.reserveCapacity(max(0, ts.count - 1))
        for i in 1..<max(1, ts.count) where ts[i] > ts[i - 1] { d.append(ts[i] - ts[i - 1]) }
        if d.isEmpty { return nil }
        d.sort()
        let med = d[d.count / 2]
        // Snap to a whole second when the step is at least a second (jittered scrapes: 299.8 s → 300 s).
        if med >= 1000 { return max(1000, ((med + 500) / 1000) * 1000) }
        return med
    }

    /// A series resampled onto a regular grid that ends exactly at the last finite sample's timestamp.
    public struct Regular: Sendable {
        public var step: Int64
        public var lastTimestamp: Int64
        public var values: [Double]
        /// Grid points that had no sample within half a step (filled by interpolation).
        public var filled: Int
    }

    /// Resamples (t, v) onto `step`, anchored at the last finite sample; NaN/±Inf samples are dropped first,
    /// grid points between samples are linearly interpolated, points before the first sample are not produced.
    /// `maxPoints` keeps only the most recent grid points.
    public static func regularize(_ ts: [Int64], _ vs: [Double], step: Int64, maxPoints: Int = Int.max) -> Regular? {
        var t: [Int64] = []
        var v: [Double] = []
        t.reserveCapacity(ts.count)
        v.reserveCapacity(vs.count)
        for i in 0..<ts.count where vs[i].isFinite {
            if let lt = t.last, ts[i] <= lt {
                if ts[i] == lt { v[v.count - 1] = vs[i] }  // duplicate timestamp: the later value wins
                continue
            }
            t.append(ts[i])
            v.append(vs[i])
        }
        guard let last = t.last, step > 0 else { return nil }
        let span = last - t[0]
        let n = min(Int((span + step / 2) / step) + 1, maxPoints)
        var out = [Double](repeating: 0, count: n)
        var filled = 0
        // Walk the grid from the newest point backwards, with a cursor into the samples.
        var j = t.count - 1
        for k in 0..<n {
            let g = last - Int64(k) * step
            while j > 0 && t[j - 1] >= g { j -= 1 }
            // now t[j] >= g and (j == 0 or t[j-1] < g)
            if t[j] == g || j == 0 {
                out[n - 1 - k] = v[j]
                if t[j] - g > step / 2 { filled += 1 }
            } else {
                let t0 = t[j - 1], t1 = t[j]
                let w = Double(g - t0) / Double(t1 - t0)
                out[n - 1 - k] = v[j - 1] + w * (v[j] - v[j - 1])
                if min(g - t0, t1 - g) > step / 2 { filled += 1 }
            }
        }
        return Regular(step: step, lastTimestamp: last, values: out, filled: filled)
    }

    /// Whether a metric looks like a monotone counter (non-decreasing apart from a few resets).
    public static func looksLikeCounter(_ v: [Double]) -> Bool {
        guard v.count >= 3 else { return false }
        var ups = 0, downs = 0
        for i in 1..<v.count {
            if v[i] > v[i - 1] { ups += 1 } else if v[i] < v[i - 1] { downs += 1 }
        }
        return ups > 0 && downs * 20 <= ups && downs <= 3
    }

    /// Per-second rate of a counter on a regular grid, with Prometheus-style reset handling.
    /// The result has the same length; element 0 copies element 1.
    public static func rate(_ v: [Double], stepSeconds: Double) -> [Double] {
        guard v.count >= 2 else { return v.map { _ in 0 } }
        var r = [Double](repeating: 0, count: v.count)
        for i in 1..<v.count {
            let d = v[i] - v[i - 1]
            r[i] = (d >= 0 ? d : v[i]) / stepSeconds
        }
        r[0] = r[1]
        return r
    }
}
