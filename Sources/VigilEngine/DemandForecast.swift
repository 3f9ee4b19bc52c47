import VigilCore
import VigilForecast

/// One group's demand forecast, fit online on its own history only (causal: what it says at t depends on loads
/// observed up to t and nothing later).
///
/// Loads are averaged per minute. After each completed minute m the forecaster predicts minutes m+1 … m+H
/// (H covers the policy's start-up time plus one interval plus the minute in progress) with a
/// `LinearForecaster` (VigilForecast: ridge fit of the last `inputLength` minutes, or seasonal naive / last value
/// when those validated better), refit on the history so far every `refitEvery` minutes once `minHistory` minutes
/// are in; before the first fit it uses the last minute's value. The upper quantile is split-conformal and online:
/// the forecast's peak plus the q-quantile of the recent errors of the peak (actual − predicted), each measured in
/// units of the variability at its origin and scaled by today's.
final class DemandForecaster {
    let stepMs: Int64 = 60_000
    let inputLength = 30
    let horizon: Int
    let quantile: Double
    let minHistory = 360
    let refitEvery = 360
    let maxHistory = 7 * 1440
    let maxResiduals = 1440

    private(set) var history: [Double] = []
    private var historyStart = 0  // absolute index of history[0]
    private var bucketMinute: Int64 = .min
    private var bucketSum = 0.0
    private var bucketCount = 0
    private var model: LinearForecaster?
    private var lastFitAt = 0  // absolute minute count at the last fit
    /// Forecast peaks awaiting their actuals: (absolute index of the origin minute, predicted peak).
    private var pending: [(origin: Int, peak: Double, scale: Double)] = []
    private var residuals: [Double] = []
    private var residualHead = 0
    /// The current forecast (from the last completed minute).
    private(set) var peak: Double?
    /// The recent variability the errors are measured in (standard deviation of the last `inputLength` minutes,
    /// floored at 5 % of their mean): errors scale with it, so one quantile serves quiet nights and busy days.
    private(set) var scale = 1.0
    private(set) var method = "last_value"

    init(leadMs: Int64, quantile: Double) {
        horizon = Int((leadMs + stepMs - 1) / stepMs) + 1
        self.quantile = quantile
    }

    var absoluteCount: Int { historyStart + history.count }

    /// Feeds one observation; completes minutes, scores old forecasts, refits when due, forecasts.
    func observe(t: Int64, load: Double, worker: BLASWorker?) async {
        let minute = t >= 0 ? t / stepMs : (t - stepMs + 1) / stepMs
        if minute != bucketMinute {
            if bucketCount > 0 { await complete(bucketSum / Double(bucketCount), worker: worker) }
            bucketMinute = minute
            bucketSum = 0
            bucketCount = 0
        }
        bucketSum += load
        bucketCount += 1
    }

    private func complete(_ value: Double, worker: BLASWorker?) async {
        history.append(value)
        if history.count > maxHistory + 1440 {
            let drop = history.count - maxHistory
            history.removeFirst(drop)
            historyStart += drop
        }
        let n = absoluteCount
        // score forecasts whose H minutes are now all observed
        while let p = pending.first, p.origin + horizon < n {
            let lo = p.origin + 1 - historyStart, hi = p.origin + horizon - historyStart
            if lo >= 0 {
                var actual = -Double.infinity
                for i in lo...hi { actual = max(actual, history[i]) }
                let r = (actual - p.peak) / p.scale
                if residuals.count < maxResiduals { residuals.append(r) } else {
                    residuals[residualHead] = r
                    residualHead = (residualHead + 1) % maxResiduals
                }
            }
            pending.removeFirst()
        }
        cachedQuantile = computeResidualQuantile()
        if history.count >= minHistory && n - lastFitAt >= refitEvery {
            await refit(worker: worker)
            lastFitAt = n
        }
        let p = forecastPeak()
        peak = p
        scale = recentScale()
        pending.append((n - 1, p, scale))
    }

    private func refit(worker: BLASWorker?) async {
        var o = ForecasterTrainingOptions(inputLength: inputLength, horizon: horizon, stepMs: stepMs)
        o.coverage = 2 * quantile - 1
        o.lambdaGrid = [1e-2, 1e-1, 1, 10]
        o.irlsIterations = 1
        let values = history
        let series = [TrainingSeries(values: values, calibrationStart: values.count * 4 / 5)]
        let opts = o
        let fit: @Sendable () throws -> LinearForecaster = { try ForecasterTrainer.fit(series, options: opts).0 }
        do {
            if let worker { model = try await worker.run(fit) } else { model = try fit() }
            method = model?.method ?? "last_value"
        } catch {
            // not enough windows or a singular system: keep the previous model
        }
    }

    private func recentScale() -> Double {
        let x = history.suffix(inputLength)
        let n = Double(x.count)
        let mean = x.reduce(0, +) / n
        let v = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
        return max(v.squareRoot(), 0.05 * abs(mean), 1e-9)
    }

    /// The peak of the point forecast over the next H minutes (denormalised linear map, as `LinearForecaster.predict`).
    private func forecastPeak() -> Double {
        guard let m = model, history.count >= m.inputLength else { return history.last ?? 0 }
        let L = m.inputLength, H = m.horizon
        let x = history[(history.count - L)...]
        let last = x.last!
        var s1 = 0.0, s2 = 0.0
        for v in x { let d = v - last; s1 += d; s2 += d * d }
        let mean = s1 / Double(L)
        let s = max(max(0, s2 / Double(L) - mean * mean).squareRoot(), max(1e-9, 1e-6 * abs(last)))
        let c = m.lastCoefficients
        var best = -Double.infinity
        for h in 0..<H {
            var y = last * c[h] + s * m.bias[h]
            var i = 0
            for v in x { y += m.weights[i * H + h] * v; i += 1 }
            best = max(best, y)
        }
        return max(0, best)
    }

    private var cachedQuantile = 0.0
    /// The q-quantile of the recent relative peak errors (0 until any are scored), as of the last complete minute.
    var residualQuantile: Double { cachedQuantile }

    private func computeResidualQuantile() -> Double {
        guard !residuals.isEmpty else { return 0 }
        let s = residuals.sorted()
        let k = min(s.count - 1, Int((quantile * Double(s.count)).rounded(.up)) - 1)
        return s[max(0, k)]
    }

    /// (point peak, upper-quantile peak) for the coming start-up time, or nil before the first complete minute.
    func upper() -> (point: Double, upper: Double)? {
        guard let p = peak else { return nil }
        return (p, max(0, p + residualQuantile * scale))
    }
}
