import Foundation

/// Streaming anomaly scores one threshold means the same on every stream (`vigil detect`, `vigil_anomaly_score`).
///
/// Raw error: the largest of the `OnlineAnomalyDetector`'s standardised residuals (one-step forecast and slow level)
/// and, when timestamps are given, a time-of-day residual (the value against an exponentially updated per-bin daily
/// profile, divided by its own robust running scale, × `seasonalWeight`): contextual anomalies are normal values at the
/// wrong time of day.
///
/// Score ("anomaly likelihood", as streaming detectors post-process raw scores): the mean of the last `shortWindow`
/// raw errors is compared with the distribution of that mean over the last `longWindow` points (mean and standard
/// distribution of that mean over the last `longWindow` points (`tail = .evt`, the default: the empirical distribution
/// up to its 95th percentile and an exponential tail fitted to the exceedances above it, as peaks-over-threshold
/// detectors do; `.gaussian`: mean and standard deviation; `.robust`: median and 1.4826 · MAD); the score is 1 − the
/// upper tail probability, so a threshold of 0.99 is passed by about 1 % of points of a stream whose errors keep their
/// long-run distribution, whatever the stream's units and noise. `surprise` = −log₁₀(tail) keeps the resolution the Double score loses above
/// 1 − 10⁻¹⁶.
///
/// - Learning: the first `learningPoints` points score 0 (no alarms while the distribution is unknown).
/// - One alarm per incident: a point scoring ≥ `alarmThreshold` is an alarm; the `suppressPoints` points after it
///   report at most 0.5 (the internal state does not depend on this: the score stream with another threshold is the
///   same stream suppressed at that threshold).
/// - While the likelihood is ≥ `incidentLevel`, short means do not enter the long-run distribution (an incident does
///   not teach the detector that incidents are normal).
/// - Adaptation: when the likelihood is still ≥ `incidentLevel` `adaptAfter` points after an incident began (a level
///   shift, a new variance, a new daily pattern), the detector re-bases: the slow level and the daily profile move by
///   the median of their recent residuals, the residual scales restart from the recent residuals, the incident's recent
///   errors join the long-run distribution, and the incident ends.
///
/// Row t uses only rows ≤ t. O(1) per point apart from the inner detector's refits (BLAS: run it on `BLASWorker`).
public struct StreamingAnomalyScorer: Sendable {
    public enum Tail: String, Sendable, CaseIterable {
        /// Empirical below the long window's 95th percentile, an exponential (peaks-over-threshold) tail fitted to the
        /// exceedances above it.
        case evt
        /// Normal with the long window's mean and standard deviation.
        case gaussian
        /// Normal with the long window's median and 1.4826 · MAD.
        case robust
    }

    public struct Config: Sendable {
        public var detector = OnlineAnomalyDetector.Config()
        /// Points averaged into the recent mean error.
        public var shortWindow = 6
        /// Points of history the recent mean is compared with.
        public var longWindow = 2880
        public var tail = Tail.evt
        /// Points scored 0 at the start of a stream.
        public var learningPoints = 288
        /// A score at or above this is an alarm; the next `suppressPoints` points report at most 0.5.
        public var alarmThreshold = 0.99
        public var suppressPoints = 48
        /// Likelihood at which a point belongs to an incident (internal; independent of `alarmThreshold`).
        public var incidentLevel = 0.99
        /// Points into an incident after which a persisting change is adopted as the new normal.
        public var adaptAfter = 24
        /// Time-of-day residual: bin width in seconds (0 = off), its weight in the raw error, and the per-day update
        /// rate of the daily profile.
        public var seasonalBinSeconds = 300.0
        public var seasonalWeight = 0.4
        public var seasonalRate = 0.2
        public init() {}

        /// Defaults for a series sampled every `stepSeconds`: learning and suppression of about a day and four
        /// hours' worth of points (within [96, 1440] and [12, 240]), time-of-day bins of max(step, 5 min).
        public static func forStep(seconds step: Double) -> Config {
            var c = Config()
            guard step.isFinite, step > 0 else { return c }
            let perDay = 86_400 / step
            c.learningPoints = Int(min(1440, max(96, perDay)))
            c.longWindow = Int(min(10_080, max(1_000, 2 * perDay)))
            c.suppressPoints = Int(min(240, max(12, 4 * 3600 / step)))
            c.adaptAfter = max(6, c.suppressPoints / 2)
            c.seasonalBinSeconds = max(step, 300)
            return c
        }
    }

    public let config: Config
    private var inner: OnlineAnomalyDetector
    private var seen = 0
    // short window of raw errors
    private var shortRing: [Double]
    private var shortPos = 0, shortSum = 0.0, shortCount = 0
    // long-run distribution of short means
    private var longRing: [Double] = []
    private var longPos = 0, longSum = 0.0, longSumSq = 0.0
    private var robustCenter = 0.0, robustScale = 0.0, sinceRobust = 1 << 30
    // time-of-day profile
    private var profile: [Double] = []
    private var profileSeen: [Bool] = []
    private var sigma3 = 0.0, firstTime: Double? = nil, r3Count = 0
    // incident state
    private var incidentLength = 0
    private var recentR1: [Double] = [], recentR2: [Double] = [], recentR3: [Double] = [], recentMeans: [Double] = []
    private var suppressLeft = 0
    /// −log₁₀ of the tail probability of the last point (0 in the learning period).
    public private(set) var surprise = 0.0
    /// The inner detector's own calibrated score of the last point (the failure features were trained on it).
    public private(set) var legacyScore = 0.0
    /// The last raw error (the max of the standardised residuals).
    public private(set) var lastRaw = 0.0
    /// Adaptations so far.
    public private(set) var adaptations = 0

    public init(config: Config = Config()) {
        self.config = config
        inner = OnlineAnomalyDetector(config: config.detector)
        shortRing = [Double](repeating: 0, count: max(1, config.shortWindow))
        if config.seasonalBinSeconds > 0 {
            let bins = max(1, Int((86_400 / config.seasonalBinSeconds).rounded(.up)))
            profile = [Double](repeating: 0, count: bins)
            profileSeen = [Bool](repeating: false, count: bins)
        }
    }

    /// Feeds one point (`time` in seconds, nil = no time-of-day residual) and returns its score in [0, 1] after alarm
    /// suppression. NaN inputs return the previous surprise's score without updating state.
    public mutating func update(_ x: Double, time: Double? = nil) -> Double {
        let l = updateLikelihood(x, time: time)
        if suppressLeft > 0 { suppressLeft -= 1; return min(l, 0.5) }
        if l >= config.alarmThreshold { suppressLeft = config.suppressPoints }
        return l
    }

    /// Feeds one point and returns the likelihood in [0, 1] before alarm suppression (`surprise` holds −log₁₀ of its
    /// tail). The evaluation suppresses per candidate threshold itself.
    public mutating func updateLikelihood(_ x: Double, time: Double? = nil) -> Double {
        guard x.isFinite else { return seen > config.learningPoints ? 1 - pow(10, -surprise) : 0 }
        seen += 1
        legacyScore = inner.update(x)
        var raw = inner.lastZ
        var r3 = 0.0
        if let t = time, !profile.isEmpty {
            if firstTime == nil { firstTime = t }
            let bins = profile.count
            var phase = Int((t.truncatingRemainder(dividingBy: 86_400) / config.seasonalBinSeconds).rounded(.down))
            if phase < 0 { phase += bins }
            phase = min(bins - 1, phase)
            let pointsPerBin = max(1, config.seasonalBinSeconds / max(1, inferredStep(t)))
            if profileSeen[phase] {
                r3 = x - profile[phase]
                r3Count += 1
                // The time-of-day residual counts once its scale has been learned on 128 residuals (day two).
                let warm = r3Count > 128
                if warm, sigma3 > 0 { raw = max(raw, config.seasonalWeight * abs(r3) / sigma3) }
                let clip = warm ? 4 * sigma3 : abs(r3)
                let a = min(1, config.seasonalRate / pointsPerBin)
                profile[phase] += a * max(-clip, min(clip, r3))
                // scale: the running mean at first, then slow and clipped so an outlier does not inflate it
                let sa = warm ? config.detector.scaleAlpha : 1.0 / Double(r3Count)
                sigma3 += sa * (min(abs(r3), clip) - sigma3)
            } else {
                profile[phase] = x; profileSeen[phase] = true
            }
            lastTime = t
        }
        lastRaw = raw
        // short mean
        let w = shortRing.count
        shortSum += raw - shortRing[shortPos]
        shortRing[shortPos] = raw
        shortPos = (shortPos + 1) % w
        shortCount = min(w, shortCount + 1)
        let mean = shortSum / Double(shortCount)
        // tail of the short mean against its long-run distribution
        let warmInner = seen > config.detector.warmup + w
        var tail = 0.5
        if warmInner, longRing.count >= 32 {
            if config.tail == .evt {
                tail = evtTail(mean)
            } else {
                let (c, s) = center()
                let z = s > 0 ? (mean - c) / s : (mean > c + 1e-12 ? 40 : 0)
                tail = 0.5 * erfc(z / 2.0.squareRoot())
            }
        }
        let sup = min(300, -log10(max(tail, 1e-300)))
        let l = 1 - tail
        let incident = warmInner && longRing.count >= 32 && l >= config.incidentLevel
        // recent residuals for adaptation
        push(&recentR1, inner.lastR1); push(&recentR2, inner.lastR2); push(&recentR3, r3)
        if warmInner { push(&recentMeans, mean) }
        if incident {
            incidentLength += 1
            if incidentLength >= config.adaptAfter { adapt() }
        } else {
            incidentLength = 0
            if warmInner { absorb(mean) }
        }
        guard seen > config.learningPoints else { surprise = 0; return 0 }
        surprise = sup
        return min(1, max(0, l))
    }

    private var lastTime: Double? = nil
    private var stepEstimate = 0.0
    private mutating func inferredStep(_ t: Double) -> Double {
        if let p = lastTime, t > p {
            let d = t - p
            stepEstimate = stepEstimate == 0 ? d : stepEstimate + 0.05 * (min(d, 4 * stepEstimate) - stepEstimate)
        }
        return stepEstimate > 0 ? stepEstimate : config.seasonalBinSeconds
    }

    private func push(_ a: inout [Double], _ v: Double) {
        a.append(v)
        if a.count > 2 * max(8, config.adaptAfter) { a.removeFirst(a.count - max(8, config.adaptAfter)) }
    }

    private mutating func absorb(_ mIn: Double) {
        // One wild value (a scale not learned yet) must not stretch the fitted tail for a whole long window.
        let m = snapshot.count >= 32 ? min(mIn, tailU + 20 * tailBeta) : mIn
        if longRing.count < config.longWindow {
            longRing.append(m)
        } else {
            let old = longRing[longPos]
            longSum -= old; longSumSq -= old * old
            longRing[longPos] = m
            longPos = (longPos + 1) % config.longWindow
        }
        longSum += m; longSumSq += m * m
        sinceRobust &+= 1
        sinceSnapshot &+= 1
    }

    private mutating func center() -> (Double, Double) {
        let n = Double(longRing.count)
        switch config.tail {
        case .gaussian, .evt:
            let mu = longSum / n
            let v = max(0, longSumSq / n - mu * mu)
            // floor: a stream that was perfectly constant still needs a scale
            return (mu, max(v.squareRoot(), 1e-6 * max(1, abs(mu))))
        case .robust:
            if sinceRobust >= 64 || longRing.count < 256 {
                sinceRobust = 0
                var c = longRing
                let k = c.count / 2
                let med = c.withUnsafeMutableBufferPointer { quickselect($0, k) }
                var d = longRing.map { abs($0 - med) }
                let mad = d.withUnsafeMutableBufferPointer { quickselect($0, k) }
                robustCenter = med
                robustScale = max(1.4826 * mad, 1e-6 * max(1, abs(med)))
            }
            return (robustCenter, robustScale)
        }
    }

    // Sorted snapshot of the long window, refreshed every 32 absorbed points, with its exponential-tail fit.
    private var snapshot: [Double] = []
    private var sinceSnapshot = 1 << 30
    private(set) var tailU = 0.0, tailBeta = 0.0
    static let tailFraction = 0.05
    static let minTailScale = 0.5

    /// P(a short mean ≥ m) under the long window: the empirical fraction up to the 95th percentile u, then
    /// 0.05 · exp(−(m − u)/β) with β the mean excess over u.
    private mutating func evtTail(_ m: Double) -> Double {
        if sinceSnapshot >= 32 || snapshot.count < 256 && snapshot.count != longRing.count {
            sinceSnapshot = 0
            snapshot = longRing
            snapshot.sort()
            let n = snapshot.count
            let k = min(n - 1, Int(Double(n) * (1 - Self.tailFraction)))
            tailU = snapshot[k]
            let ex = snapshot[k...].map { $0 - tailU }
            // Floor in the raw error's own units (standardised residuals): a stream whose errors were all ~0 (a constant
            // metric) must not turn the first small wobble into a 10⁻³⁰⁰ tail.
            tailBeta = max(Self.minTailScale, ex.reduce(0, +) / Double(max(1, ex.count - 1)))
        }
        let n = Double(snapshot.count)
        if m > tailU {
            return Self.tailFraction * exp(-(m - tailU) / tailBeta)
        }
        // fraction of the window at or above m (at least 1/n)
        var lo = 0, hi = snapshot.count
        while lo < hi { let mid = (lo + hi) / 2; if snapshot[mid] < m { lo = mid + 1 } else { hi = mid } }
        return max(Double(snapshot.count - lo), 1) / n
    }

    private mutating func adapt() {
        let k = config.adaptAfter
        let r1 = Array(recentR1.suffix(k)), r2 = Array(recentR2.suffix(k)), r3 = Array(recentR3.suffix(k))
        inner.adapt(recentR1: r1, recentR2: r2)
        if !profile.isEmpty, r3.contains(where: { $0 != 0 }) {
            let m3 = ExhaustionPredictor.median(unsorted: r3)
            for i in profile.indices where profileSeen[i] { profile[i] += m3 }
            sigma3 = max(sigma3, r3.reduce(0) { $0 + abs($1 - m3) } / Double(r3.count))
        }
        // The incident's own errors were the new regime's: they join the long-run distribution (otherwise a stream
        // whose errors settled higher would stay in the incident for good). The short window restarts.
        for m in recentMeans.suffix(k) { absorb(m) }
        for i in shortRing.indices { shortRing[i] = 0 }
        shortSum = 0; shortCount = 0
        incidentLength = 0
        adaptations += 1
    }

    /// Scores a whole series online (each score uses only the points up to it), with alarm suppression.
    public static func scoreAll(_ values: [Double], times: [Double]? = nil, config: Config = Config()) -> [Double] {
        var d = StreamingAnomalyScorer(config: config)
        return values.indices.map { d.update(values[$0], time: times?[$0]) }
    }
}

/// Baseline: the tail probability of each value against the mean and standard deviation of the previous `window`
/// values (the "windowed Gaussian" of streaming benchmarks), two-sided. Returns −log₁₀(tail) per point (0 while fewer
/// than 32 values are known).
package enum WindowedGaussianBaseline {
    package static func surprise(_ v: [Double], window: Int = 6400) -> [Double] {
        var out = [Double](repeating: 0, count: v.count)
        var ring: [Double] = [], pos = 0, sum = 0.0, sq = 0.0
        for (i, x) in v.enumerated() where x.isFinite {
            if ring.count >= 32 {
                let n = Double(ring.count), mu = sum / n
                let sd = max(max(0, sq / n - mu * mu).squareRoot(), 1e-9 * max(1, abs(mu)))
                out[i] = min(300, -log10(max(1e-300, erfc(abs(x - mu) / sd / 2.0.squareRoot()))))
            }
            if ring.count < window { ring.append(x) } else { let o = ring[pos]; sum -= o; sq -= o * o; ring[pos] = x; pos = (pos + 1) % window }
            sum += x; sq += x * x
        }
        return out
    }
}

/// Baseline: the rolling robust z-score |x − median| / (1.4826 · MAD) over the previous `window` values, as a two-sided
/// normal tail: −log₁₀(tail) per point (0 while fewer than 32 values are known).
package enum RollingRobustZBaseline {
    package static func surprise(_ v: [Double], window: Int = 288) -> [Double] {
        var out = [Double](repeating: 0, count: v.count)
        var ring: [Double] = [], pos = 0
        var sorted: [Double] = []
        var dev = [Double](repeating: 0, count: window)
        for (i, x) in v.enumerated() where x.isFinite {
            if sorted.count >= 32 {
                let n = sorted.count
                let med = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
                for k in 0..<n { dev[k] = abs(sorted[k] - med) }
                let mad = dev.withUnsafeMutableBufferPointer { quickselect(UnsafeMutableBufferPointer(rebasing: $0[0..<n]), n / 2) }
                let s = max(1.4826 * mad, 1e-9 * max(1, abs(med)))
                out[i] = min(300, -log10(max(1e-300, erfc(abs(x - med) / s / 2.0.squareRoot()))))
            }
            if ring.count < window {
                ring.append(x)
            } else {
                let o = ring[pos]; ring[pos] = x; pos = (pos + 1) % window
                sorted.remove(at: lowerBound(sorted, o))
            }
            sorted.insert(x, at: lowerBound(sorted, x))
        }
        return out
    }

    static func lowerBound(_ a: [Double], _ x: Double) -> Int {
        var lo = 0, hi = a.count
        while lo < hi { let m = (lo + hi) / 2; if a[m] < x { lo = m + 1 } else { hi = m } }
        return lo
    }
}
