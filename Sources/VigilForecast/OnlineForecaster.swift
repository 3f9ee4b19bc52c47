import Foundation
import VigilCore

/// What `vigil serve` runs every `forecast_interval`: pull the watched series from the store as one matrix,
/// forecast them in one pass, score their new points, and write the results back as ordinary series:
///
/// - `vigil_forecast{<series labels>, metric="<name>", quantile="0.5"|"0.95", horizon="<duration>"}` stamped at the
///   series' last sample time t with the forecast for t + horizon (stores are append-only, so forecasts are written
///   at their origin; compare with `vigil_forecast offset <horizon>` against the actual series);
/// - `vigil_anomaly_score{<series labels>, metric="<name>"}` for every newly seen point, in [0, 1]: the anomaly
///   likelihood of `StreamingAnomalyScorer` (0.99 ≈ 1 % of points of a series that behaves as it did; one alarm per
///   incident at `anomalyAlarmThreshold`);
/// - `vigil_failure_probability{<series labels>, metric="<name>", kind="saturation", horizon="1h"}` per watched gauge
///   when a saturation model is configured (`SaturationModel`): the calibrated probability that the series (CPU %)
///   starts a saturation episode within the model's horizon, stamped at the series' last sample;
/// - `vigil_failure_probability{<instance label>="…", kind="incident", horizon="30m"}` per instance when an incident
///   (`FailureFeatures`) model is configured, stamped at `now`.
///
/// Counters (names ending in `_total`, `_count`, `_sum`, `_bucket`) are modelled as per-second rates.
/// With a model, a series sampled finer than the model's step (15 s scrapes, a 5-minute model) is resampled to the
/// model's step first (`resample`: the mean per step), so the shipped model forecasts it instead of a model refitted
/// on every tick; a series the model still cannot take is refitted and counted (`TickReport.refits`).
/// All BLAS work runs on the `BLASWorker`'s dedicated thread. Ticks are serialised: a tick that arrives while one
/// runs waits for it, so detector state is never read by one tick and overwritten by another.
public actor OnlineForecaster {
    public struct Configuration: Sendable {
        /// Series selectors (each a list of matchers, ANDed); their union is watched.
        public var selectors: [[LabelMatcher]]
        /// Forecaster; nil = fit per tick on the pulled history (or naive fallback when too short).
        public var model: LinearForecaster?
        /// Horizon in steps when no model is given.
        public var horizon: Int = 12
        /// Without a model: forecast at this step (ms; finer series resampled to it, mean per step); nil = each
        /// series' own inferred step.
        public var stepMs: Int64? = nil
        /// Horizons (in steps, 1-based, ≤ horizon) written back; default: the last one.
        public var writeHorizons: [Int]? = nil
        /// How much history to pull, in ms (default: 2 × L model steps, at least 2 hours; 3 days without a model).
        public var lookbackMs: Int64? = nil
        /// Incident model over `FailureFeatures` (per instance); nil = none.
        public var failureModel: FailurePredictor? = nil
        /// Saturation model over `SaturationFeatures` (per watched gauge, taken as CPU %); nil = none.
        public var saturationModel: SaturationModel? = nil
        /// The label that identifies an instance for failure prediction.
        public var instanceLabel = "instance"
        /// `vigil_anomaly_score` at or above this is an alarm; the points after it (four hours' worth) are written at
        /// ≤ 0.5, so an alert on this threshold fires once per incident.
        public var anomalyAlarmThreshold = 0.99
        /// Series with a limit: time to exhaustion and P(exhaustion within `exhaustionHorizonSeconds`) are written for
        /// every watched series a pairing names (see `ExhaustionPairing`). Empty = off.
        public var exhaustionPairings: [ExhaustionPairing] = ExhaustionPairing.defaults
        public var exhaustionHorizonSeconds = 1800.0

        public init(selectors: [[LabelMatcher]], model: LinearForecaster? = nil) {
            self.selectors = selectors
            self.model = model
        }
    }

    /// How a watched series relates to its limit. The partner series has the same labels apart from its name.
    /// - `.usage(limit:)`: the watched series is the usage and `limit` names the limit series (`X` and `X_limit`);
    /// - `.free(size:)`: the watched series is free space and `size` names the total: usage = size − free
    ///   (`node_memory_MemAvailable_bytes` against `node_memory_MemTotal_bytes`, `node_filesystem_avail_bytes`
    ///   against `node_filesystem_size_bytes`).
    public struct ExhaustionPairing: Sendable, Equatable {
        public enum Partner: Sendable, Equatable { case limit(String), size(String) }
        /// The watched series' metric name; `*` followed by a suffix matches any name with that suffix (`*_bytes`).
        public var metric: String
        public var partner: Partner
        public init(metric: String, partner: Partner) { self.metric = metric; self.partner = partner }

        /// Memory and filesystem free space (node_exporter names) and, for any watched series `X`, a series
        /// `X_limit` with the same labels.
        public static let defaults: [ExhaustionPairing] = [
            .init(metric: "node_memory_MemAvailable_bytes", partner: .size("node_memory_MemTotal_bytes")),
            .init(metric: "node_filesystem_avail_bytes", partner: .size("node_filesystem_size_bytes")),
            .init(metric: "*", partner: .limit("_limit")),
        ]

        /// The partner's metric name for a watched series named `name`, nil when this pairing does not apply.
        /// With `metric` `*`, a `.limit` partner is a suffix appended to the name.
        func partnerName(for name: String) -> String? {
            if metric == "*" {
                guard case .limit(let suffix) = partner, !name.hasSuffix(suffix) else { return nil }
                return name + suffix
            }
            if metric.hasPrefix("*") ? name.hasSuffix(metric.dropFirst()) : name == metric {
                switch partner { case .limit(let n), .size(let n): return n }
            }
            return nil
        }
    }

    public struct TickReport: Sendable, Equatable {
        public var seriesRead = 0
        public var seriesForecast = 0
        public var samplesWritten = 0
        public var fallbacks = 0
        /// Series forecast by a model fitted on the pulled history although a model was configured (its step and the
        /// series' differ even after resampling).
        public var refits = 0
        /// Series resampled to the model's step before forecasting.
        public var seriesResampled = 0
        /// Models fitted on the pulled history this tick (no `forecast.model`, or one of another step); a fitted model
        /// is reused for `refitOnInputEveryMs` of the clock, not refitted every tick.
        public var fitsOnInput = 0
        /// `vigil_failure_probability{kind="saturation"}` samples computed this tick.
        public var saturationProbabilities = 0
        /// `vigil_failure_probability{kind="exhaustion"}` samples written this tick.
        public var exhaustionProbabilities = 0
        /// The first few series behind `fallbacks` and `refits`, for the log line.
        public var fallbackSeries: [String] = []
        public var refitSeries: [String] = []
    }

    let reader: SeriesReader
    let appender: SampleAppender
    public private(set) var config: Configuration
    let worker: BLASWorker
    /// The last tick started (ticks run one after another).
    private var tail: Task<Void, Never>?
    private var detectors: [Labels: StreamingAnomalyScorer] = [:]
    /// Points each series' detector has taken (tests check none is lost or taken twice).
    private(set) var detectorObservations: [Labels: Int] = [:]
    private var lastScored: [Labels: Int64] = [:]
    private var lastForecastOrigin: [Labels: Int64] = [:]
    private var lastSaturationOrigin: [Labels: Int64] = [:]
    private var lastExhaustionOrigin: [Labels: Int64] = [:]
    /// Models fitted on the pulled history, by step, with the tick time they were fitted at. Fitting one (a day of
    /// lags, ridge, held-out λ) costs seconds at a 1-minute step; it is redone once `refitOnInputEveryMs` has passed.
    private var fittedOnInput: [Int64: (model: LinearForecaster, at: Int64)] = [:]
    public static let refitOnInputEveryMs: Int64 = 3_600_000

    public init(reader: SeriesReader, appender: SampleAppender, config: Configuration, worker: BLASWorker = .shared) {
        self.reader = reader
        self.appender = appender
        self.config = config
        self.worker = worker
    }

    static func isCounter(_ name: String) -> Bool {
        ["_total", "_count", "_sum", "_bucket"].contains { name.hasSuffix($0) }
    }

    /// Replaces the configuration from the next tick on (config reload). Detector state of series still watched is
    /// kept.
    public func reconfigure(_ config: Configuration) {
        self.config = config
        fittedOnInput = [:]
    }

    /// The mean per step: buckets [k·step, (k+1)·step) of the epoch, each stamped at its end (k+1)·step; only buckets
    /// that ended by `now` (the one still filling would bias the last point); NaN (stale markers) skipped; a bucket
    /// without samples is left out (the pipeline interpolates gaps).
    public static func resample(timestamps: [Int64], values: [Double], stepMs: Int64, now: Int64) -> (timestamps: [Int64], values: [Double]) {
        precondition(stepMs > 0)
        var ts: [Int64] = [], vs: [Double] = []
        var bucket = Int64.min, sum = 0.0, n = 0
        func flush() {
            if n > 0, bucket != .min {
                ts.append((bucket + 1) * stepMs)
                vs.append(sum / Double(n))
            }
        }
        for (t, v) in zip(timestamps, values) where v.isFinite {
            let b = t >= 0 ? t / stepMs : (t - stepMs + 1) / stepMs
            if (b + 1) * stepMs > now { break }
            if b != bucket { flush(); bucket = b; sum = 0; n = 0 }
            sum += v
            n += 1
        }
        flush()
        return (ts, vs)
    }

    /// One round at time `now` (ms, from the caller's `VigilClock`). Waits for a tick still running.
    @discardableResult
    public func tick(now: Int64) async throws -> TickReport {
        let previous = tail
        let run = Task { () async throws -> TickReport in
            await previous?.value
            return try await self.tickAlone(now: now)
        }
        tail = Task { _ = try? await run.value }
        return try await withTaskCancellationHandler { try await run.value } onCancel: { run.cancel() }
    }

    /// Vigil's own series (model outputs, engine state) are never watched, even when a selector matches them, except
    /// the simulator's (`vigil_sim_*`: a simulated workload's demand, latency and utilisation, watched like any other).
    static func watchable(_ name: String) -> Bool {
        !name.hasPrefix("vigil_") || name.hasPrefix("vigil_sim_")
    }

    private func tickAlone(now: Int64) async throws -> TickReport {
        try Task.checkCancellation()
        let config = self.config
        var report = TickReport()
        let L = config.model?.inputLength ?? 288
        let stepGuess = config.model?.stepMs ?? 0
        let lookback = config.lookbackMs ?? (config.model != nil ? max(7_200_000, Int64(2 * L) * max(stepGuess, 15_000)) : 3 * 86_400_000)
        // The saturation features look back further (a week at 5-minute steps): pull that much, and give the
        // forecaster and the detectors only their own lookback.
        let pullBack = max(lookback, config.saturationModel?.historyMs ?? 0)
        var byLabels: [Labels: SeriesSamples] = [:]
        for sel in config.selectors {
            // On the read executor's threads: SQLite reads never block the Swift concurrency pool.
            for s in try await reader.selectAsync(sel, mint: now - pullBack, maxt: now) where Self.watchable(s.labels.metricName ?? "") {
                byLabels[s.labels] = s
            }
        }
        let pulledLong = byLabels.keys.sorted().map { byLabels[$0]! }
        let pulled = pullBack == lookback ? pulledLong : pulledLong.compactMap { s -> SeriesSamples? in
            guard let k = s.timestamps.firstIndex(where: { $0 >= now - lookback }) else { return nil }
            return SeriesSamples(labels: s.labels, timestamps: Array(s.timestamps[k...]), values: Array(s.values[k...]))
        }
        report.seriesRead = pulled.count
        guard !pulled.isEmpty else { return report }

        // Counters → rates on their own grid; everything else as is. Then, with a model, series finer than its step
        // are resampled to it (mean per step).
        var inputs: [RawSeries] = []
        let modelStep = config.model?.stepMs ?? 0
        let targetStep = modelStep > 0 ? modelStep : (config.stepMs ?? 0)
        for s in pulled {
            let name = s.labels.metricName ?? ""
            var ts = s.timestamps, vs = s.values
            if OnlineForecaster.isCounter(name), let st = SeriesPrep.inferStep(s.timestamps),
               let r = SeriesPrep.regularize(s.timestamps, s.values, step: st) {
                let rate = SeriesPrep.rate(r.values, stepSeconds: Double(st) / 1000)
                let n = rate.count
                ts = (0..<n).map { r.lastTimestamp - Int64(n - 1 - $0) * st }
                vs = rate
            }
            if targetStep > 0, let st = SeriesPrep.inferStep(ts), st < targetStep {
                (ts, vs) = OnlineForecaster.resample(timestamps: ts, values: vs, stepMs: targetStep, now: now)
                report.seriesResampled += 1
            }
            if modelStep > 0, let st = SeriesPrep.inferStep(ts), st != modelStep {
                report.refits += 1
                if report.refitSeries.count < 5 { report.refitSeries.append(s.labels.description) }
            }
            inputs.append(RawSeries(id: s.labels.description, timestamps: ts, values: vs))
        }
        // The online path forecasts every watched series with the global model in one batched product; the per-series
        // backtest selection (`vigil forecast`) would refit a model per series per tick, so it is off here.
        var onlineModel = config.model
        onlineModel?.selection = nil
        let model = onlineModel, H = config.model?.horizon ?? config.horizon
        let detectorsIn = detectors, lastScoredIn = lastScored, inputsIn = inputs
        let reuse = fittedOnInput.filter { _, e in now >= e.at && now - e.at < Self.refitOnInputEveryMs }.mapValues(\.model)
        let labels = pulled.map(\.labels)
        let failure = config.failureModel, instanceLabel = config.instanceLabel, alarm = config.anomalyAlarmThreshold
        // Saturation: gauges only, once per new last sample.
        let saturation = config.saturationModel
        let lastSatIn = lastSaturationOrigin
        let satInputs = saturation == nil ? [] : pulledLong.filter { s in
            !OnlineForecaster.isCounter(s.labels.metricName ?? "") && (s.timestamps.last.map { t in lastSatIn[s.labels].map { t > $0 } ?? true } ?? false)
        }
        // The BLAS work runs on values (this tick's copies of the detectors it needs); its results are applied below
        // in one synchronous step. No other tick runs in between (ticks are serialised by `tick`).
        let (forecasts, newDetectors, scores, failureOut, satOut, fitted) = try await worker.run {
            () throws -> ([SeriesForecast], [Labels: StreamingAnomalyScorer], [[Sample]], [(String, Double)], [(Labels, Int64, Double?)],
                          [Int64: LinearForecaster]) in
            let inputs = inputsIn
            let (fc, fcReport) = try ForecastPipeline.run(inputs, horizon: H, model: model, reuse: reuse, threads: 1)
            var dets: [Labels: StreamingAnomalyScorer] = [:]
            var scores: [[Sample]] = [], legacy: [[Double]] = []
            for (i, s) in inputs.enumerated() {
                var d = detectorsIn[labels[i]] ?? {
                    var c = StreamingAnomalyScorer.Config.forStep(seconds: SeriesPrep.inferStep(s.timestamps).map { Double($0) / 1000 } ?? 60)
                    c.alarmThreshold = alarm
                    return StreamingAnomalyScorer(config: c)
                }()
                let after = lastScoredIn[labels[i]] ?? Int64.min
                var out: [Sample] = [], old: [Double] = []
                for k in s.timestamps.indices where s.timestamps[k] > after && s.values[k].isFinite {
                    out.append(Sample(s.timestamps[k], d.update(s.values[k], time: Double(s.timestamps[k]) / 1000)))
                    old.append(d.legacyScore)
                }
                if !out.isEmpty { dets[labels[i]] = d }
                scores.append(out); legacy.append(old)
            }
            var fail: [(String, Double)] = []
            if let failure {
                var groups: [String: [Int]] = [:]
                for (i, l) in labels.enumerated() { groups[l[instanceLabel] ?? "", default: []].append(i) }
                for (inst, idx) in groups.sorted(by: { $0.key < $1.key }) where !inst.isEmpty {
                    let feats = FailureFeatures.compute(series: idx.map { inputs[$0].values }, scores: idx.map { legacy[$0] })
                    fail.append((inst, failure.probability(feats)))
                }
            }
            var sat: [(Labels, Int64, Double?)] = []
            if let saturation {
                for s in satInputs {
                    let f = saturation.latestFeatures(timestamps: s.timestamps, values: s.values)
                    sat.append((s.labels, s.timestamps.last!, f.map { saturation.predictor.probability($0) }))
                }
            }
            return (fc, dets, scores, fail, sat, fcReport.fitted)
        }
        for (step, m) in fitted { fittedOnInput[step] = (m, now) }
        report.fitsOnInput = fitted.count
        for (l, d) in newDetectors { detectors[l] = d }
        for (i, sc) in scores.enumerated() where !sc.isEmpty { detectorObservations[labels[i], default: 0] += sc.count }

        var batch: [SeriesSamples] = []
        let writeH = (config.writeHorizons ?? [H]).filter { $0 >= 1 && $0 <= H }
        for (i, f) in forecasts.enumerated() {
            let base = labels[i]
            let name = base.metricName ?? "unknown"
            if let sc = scores[i].last {
                var l = base.setting(Labels.metricNameLabel, "vigil_anomaly_score")
                l.set("metric", name)
                batch.append(SeriesSamples(labels: l, samples: scores[i]))
                lastScored[base] = sc.t
            }
            guard f.method != .none, lastForecastOrigin[base].map({ f.lastTimestamp > $0 }) ?? true else { continue }
            lastForecastOrigin[base] = f.lastTimestamp
            report.seriesForecast += 1
            if f.method != .linear {
                report.fallbacks += 1
                if report.fallbackSeries.count < 5 { report.fallbackSeries.append(base.description) }
            }
            for h in writeH {
                for (q, v) in [("0.5", f.forecast[h - 1]), ("0.95", f.hi[h - 1])] where v.isFinite {
                    var l = base.setting(Labels.metricNameLabel, "vigil_forecast")
                    l.set("metric", name)
                    l.set("quantile", q)
                    l.set("horizon", DurationParser.format(Int64(h) * f.stepMs))
                    batch.append(SeriesSamples(labels: l, timestamps: [f.lastTimestamp], values: [v]))
                }
            }
        }
        if let fm = config.failureModel {
            let horizon = DurationParser.format(Int64((fm.horizonMinutes * 60_000).rounded()))
            for (inst, p) in failureOut {
                batch.append(SeriesSamples(labels: Labels([(Labels.metricNameLabel, "vigil_failure_probability"), (config.instanceLabel, inst),
                                                           ("kind", "incident"), ("horizon", horizon)]),
                                           timestamps: [now], values: [p]))
            }
        }
        if let sm = config.saturationModel {
            let horizon = DurationParser.format(Int64(sm.task.horizon) * sm.stepMs)
            for (base, t, p) in satOut {
                lastSaturationOrigin[base] = t
                guard let p else { continue }
                var l = base.setting(Labels.metricNameLabel, "vigil_failure_probability")
                l.set("metric", base.metricName ?? "unknown")
                l.set("kind", "saturation")
                l.set("horizon", horizon)
                batch.append(SeriesSamples(labels: l, timestamps: [t], values: [p]))
                report.saturationProbabilities += 1
            }
        }
        batch += try await exhaustion(pulledLong, now: now, config: config, report: &report)
        if !batch.isEmpty {
            let r = try await appender.append(batch)
            report.samplesWritten = r.accepted
        }
        return report
    }

    /// Time to exhaustion of every watched gauge a pairing names, against its partner series (same labels, the partner's
    /// name), once per new last sample: `vigil_time_to_exhaustion_seconds{<labels>, metric}` (when finite) and
    /// `vigil_failure_probability{<labels>, metric, kind="exhaustion", horizon}`, stamped at the series' last sample.
    private func exhaustion(_ watched: [SeriesSamples], now: Int64, config: Configuration, report: inout TickReport) async throws -> [SeriesSamples] {
        guard !config.exhaustionPairings.isEmpty else { return [] }
        var est = ExhaustionConfig()
        est.horizonSeconds = config.exhaustionHorizonSeconds
        let window = Int64(est.windowSeconds * 1000)
        // watched series → (pairing, partner name); one select per partner name
        var wanted: [(SeriesSamples, ExhaustionPairing, String)] = []
        for s in watched {
            let name = s.labels.metricName ?? ""
            guard !OnlineForecaster.isCounter(name), let t = s.timestamps.last,
                  lastExhaustionOrigin[s.labels].map({ t > $0 }) ?? true else { continue }
            for p in config.exhaustionPairings { if let partner = p.partnerName(for: name) { wanted.append((s, p, partner)); break } }
        }
        guard !wanted.isEmpty else { return [] }
        var partners: [String: [Labels: SeriesSamples]] = [:]
        for name in Set(wanted.map(\.2)) {
            var byRest: [Labels: SeriesSamples] = [:]
            for s in try await reader.selectAsync([.equal(Labels.metricNameLabel, name)], mint: now - window, maxt: now) {
                byRest[s.labels.removing([Labels.metricNameLabel])] = s
            }
            partners[name] = byRest
        }
        typealias Job = (labels: Labels, times: [Double], usage: [Double], limit: Double, last: Int64)
        var jobs: [Job] = []
        for (s, p, partnerName) in wanted {
            guard let partner = partners[partnerName]?[s.labels.removing([Labels.metricNameLabel])],
                  let limitNow = partner.values.last(where: { $0.isFinite }), let last = s.timestamps.last else { continue }
            let from = s.timestamps.firstIndex { $0 > now - window } ?? s.timestamps.count
            let ts = s.timestamps[from...].map { Double($0) / 1000 }
            let vs: [Double]
            switch p.partner {
            case .limit: vs = Array(s.values[from...])
            case .size: vs = s.values[from...].map { limitNow - $0 }  // used = size − free
            }
            jobs.append((s.labels, ts, vs, limitNow, last))
        }
        let jobsIn = jobs, cfg = est
        let results = try await worker.run { jobsIn.map { ExhaustionPredictor.estimate(times: $0.times, values: $0.usage, limit: $0.limit, config: cfg) } }
        let horizon = DurationParser.format(Int64((config.exhaustionHorizonSeconds * 1000).rounded()))
        var out: [SeriesSamples] = []
        for (job, r) in zip(jobs, results) {
            lastExhaustionOrigin[job.labels] = job.last
            guard let r else { continue }
            let name = job.labels.metricName ?? "unknown"
            if r.secondsToExhaustion.isFinite {
                var l = job.labels.setting(Labels.metricNameLabel, "vigil_time_to_exhaustion_seconds")
                l.set("metric", name)
                out.append(SeriesSamples(labels: l, timestamps: [job.last], values: [r.secondsToExhaustion]))
            }
            var l = job.labels.setting(Labels.metricNameLabel, "vigil_failure_probability")
            l.set("metric", name)
            l.set("kind", "exhaustion")
            l.set("horizon", horizon)
            out.append(SeriesSamples(labels: l, timestamps: [job.last], values: [r.probabilityWithinHorizon]))
            report.exhaustionProbabilities += 1
        }
        return out
    }
}
