import Foundation

/// Online anomaly scoring of one regular series: every new point's standardised forecast residual, calibrated to
/// [0, 1] against an adaptive threshold, with a short memory. The score of point t uses only points ≤ t.
///
/// - Forecast: a one-step global linear model (the same ridge/normal-equation trainer as the forecaster, L = `lags`)
///   refitted on the history seen so far at doubling sizes, then every `refitEvery` points; last value before that.
/// - Two standardised residuals: the one-step residual r₁ = x − x̂ (spikes, sudden changes) and the level residual
///   r₂ = x − m, m a slow exponential mean (sustained shifts). Each is divided by its own robust running scale
///   (exponential mean absolute value, updated with clipped residuals so an outlier does not inflate it).
/// - z = max(|r₁|/σ₁, |r₂|/σ₂ · levelWeight). Adaptive threshold τ = the `thresholdQuantile` of recent z
///   (a ring of `memory` values, z clipped at 2τ before it enters), floored at `minThreshold`.
/// - Score = 1 − 2^(−(z/τ)⁴): 0.5 exactly at the threshold, ≈ 0 well below, → 1 above. Memory: the reported score
///   is max(score, decay · previous), so an alarm fades within a few points after a single spike.
public struct OnlineAnomalyDetector: Sendable {
    public struct Config: Sendable {
        public var lags = 16
        public var warmup = 32
        public var refitEvery = 4096
        public var maxHistory = 20_000
        public var scaleAlpha = 1.0 / 256
        public var levelAlpha = 1.0 / 256
        public var levelWeight = 0.5
        public var memory = 2048
        public var thresholdQuantile = 0.99
        public var minThreshold = 3.0
        public var decay = 0.5
        public init() {}
    }

    public let config: Config
    private var history: [Double] = []
    private var model: LinearForecaster? = nil
    private var nextFit: Int
    private var sigma1 = 0.0, sigma2 = 0.0, level = 0.0
    private var ring: [Double] = []
    private var ringPos = 0
    private var tau: Double
    private var sinceTau = 0
    private var previous = 0.0
    private var seen = 0
    private var lastFinite: Double? = nil
    private var maxAbs = 0.0

    public init(config: Config = Config()) {
        self.config = config
        self.nextFit = max(config.lags * 8, 128)
        self.tau = config.minThreshold
    }

    /// The most recent standardised residual (for diagnostics and the failure features).
    public private(set) var lastZ = 0.0
    /// The most recent one-step residual x − x̂ and level residual x − m (0 before the second point).
    package private(set) var lastR1 = 0.0, lastR2 = 0.0

    /// Re-bases the detector after a confirmed change (a level shift, a new variance): the slow level moves by the
    /// median of the recent level residuals `r2`, and each residual scale restarts at the mean absolute deviation of its
    /// recent residuals, so the new regime is the detector's normal from here on. The forecast model is unchanged (it
    /// predicts from the latest values and follows a shift by itself).
    package mutating func adapt(recentR1 r1: [Double], recentR2 r2: [Double]) {
        guard r1.count >= 4, r2.count >= 4 else { return }
        let m2 = ExhaustionPredictor.median(unsorted: r2)
        level += m2
        sigma2 = r2.reduce(0) { $0 + abs($1 - m2) } / Double(r2.count)
        let m1 = ExhaustionPredictor.median(unsorted: r1)
        sigma1 = max(sigma1, r1.reduce(0) { $0 + abs($1 - m1) } / Double(r1.count))
    }

    /// Feeds one point, returns its score in [0, 1]. NaN inputs score like the previous point and do not update state.
    public mutating func update(_ xIn: Double) -> Double {
        guard xIn.isFinite else { previous *= config.decay; return previous }
        let z = updateZ(xIn)
        guard seen > config.warmup else { return 0 }
        return calibrate(z)
    }

    /// Feeds one point and returns its standardised residual z (0 during warm-up and for NaN), without calibration.
    /// Multivariate scoring combines the z of several metrics and calibrates the combination (`calibrate`).
    public mutating func updateZ(_ xIn: Double) -> Double {
        guard xIn.isFinite else { return 0 }
        let x = xIn
        seen += 1
        defer { lastFinite = x }
        guard let prevX = lastFinite else {
            level = x
            history.append(x)
            return 0
        }
        // one-step forecast from rows < t
        var pred = prevX
        if let m = model, history.count >= m.inputLength {
            history.withUnsafeBufferPointer { hp in
                let base = hp.baseAddress! + (hp.count - m.inputLength)
                let (last, s) = windowNorm(base, m.inputLength)
                var y = 0.0
                for i in 0..<m.inputLength { y += (base[i] - last) / s * m.weights[i] }
                pred = last + s * (y + m.bias[0])
            }
        }
        let r1 = x - pred
        let r2 = x - level
        lastR1 = r1; lastR2 = r2
        maxAbs = max(maxAbs, abs(x))
        // Scale floor: 0.1 % of the largest magnitude seen, so metrics that were constant do not turn a tiny change
        // into an enormous z (and cannot pin the adaptive threshold at a cap).
        let floor = max(1e-9, 1e-3 * maxAbs)
        var z = 0.0
        if seen > config.warmup {
            z = min(1e6, max(abs(r1) / max(sigma1, floor), config.levelWeight * abs(r2) / max(sigma2, floor)))
        }
        // robust scale updates (clipped residuals)
        if seen <= config.warmup {
            let a = 1.0 / Double(seen)
            sigma1 += a * (abs(r1) - sigma1)
            sigma2 += a * (abs(r2) - sigma2)
        } else {
            sigma1 += config.scaleAlpha * (min(abs(r1), 4 * max(sigma1, floor)) - sigma1)
            sigma2 += config.scaleAlpha * (min(abs(r2), 4 * max(sigma2, floor)) - sigma2)
        }
        let step = max(sigma2, floor) * 4
        level += config.levelAlpha * max(-step, min(step, r2))
        history.append(x)
        if history.count > config.maxHistory { history.removeFirst(history.count - config.maxHistory / 2) }
        if history.count >= nextFit { refit() }

        lastZ = z
        return z
    }

    /// Turns a standardised residual into a score in [0, 1] against the adaptive threshold, with short memory.
    public mutating func calibrate(_ z: Double) -> Double {
        // adaptive threshold from the recent z distribution
        let zc = min(z, 2 * tau)
        if ring.count < config.memory { ring.append(zc) } else { ring[ringPos] = zc; ringPos = (ringPos + 1) % config.memory }
        sinceTau += 1
        if sinceTau >= 64 || ring.count < 64 {
            sinceTau = 0
            if ring.count >= 32 {
                let k = min(ring.count - 1, Int(Double(ring.count) * config.thresholdQuantile))
                var c = ring
                let kth = c.withUnsafeMutableBufferPointer { quickselect($0, k) }
                tau = max(config.minThreshold, kth)
            }
        }
        let u = z / tau
        let raw = 1 - pow(2, -(u * u * u * u))
        let s = max(raw, config.decay * previous)
        previous = s
        return min(1, max(0, s))
    }

    private mutating func refit() {
        let L = config.lags
        let n = history.count
        var o = ForecasterTrainingOptions(inputLength: L, horizon: 1, stepMs: 0)
        o.seasonalPeriod = 1
        o.maxTrainWindows = 4_000
        o.maxCalibrationWindows = 1_000
        o.irlsIterations = 1
        if let (m, _) = try? ForecasterTrainer.fit([TrainingSeries(values: history, calibrationStart: n - max(16, n / 5))], options: o) {
            model = m
        }
        nextFit = min(n * 2, n + config.refitEvery)
    }

    /// Scores a whole series online (each score uses only the points up to it).
    public static func scoreAll(_ values: [Double], config: Config = Config()) -> [Double] {
        var d = OnlineAnomalyDetector(config: config)
        return values.map { d.update($0) }
    }
}

/// k-th smallest (0-based) by Hoare selection, in place.
func quickselect(_ a: UnsafeMutableBufferPointer<Double>, _ k: Int) -> Double {
    var lo = 0, hi = a.count - 1
    while lo < hi {
        let pivot = a[(lo + hi) / 2]
        var i = lo, j = hi
        while i <= j {
            while a[i] < pivot { i += 1 }
            while a[j] > pivot { j -= 1 }
            if i <= j { a.swapAt(i, j); i += 1; j -= 1 }
        }
        if k <= j { hi = j } else if k >= i { lo = i } else { return a[k] }
    }
    return a[k]
}
