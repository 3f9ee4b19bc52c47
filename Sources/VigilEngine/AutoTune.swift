import Foundation
import VigilCore

/// Engine-wide settings of the predictive policy's online auto-tuning (per group it is on with `autotune: true`, the
/// default). Chosen on the development traces only (BENCHMARKS.md, "Online auto-tuning").
public struct AutoTuneOptions: Sendable, Equatable {
    /// Days of the group's own past replayed at each tuning (at least one full day must have been observed).
    public var days = 3
    /// Forecast quantiles tried (the configured one is always added).
    public var quantiles: [Double] = [0.8, 0.9, 0.95, 0.98]
    /// Peak utilisations tried, as offsets from the configured one (0 = the configured value).
    public var peakOffsets: [Double] = [0, -0.05, -0.10]
    /// Scale-in stabilisation windows tried, as fractions of the configured one (1 = the configured window; a
    /// shorter window gives instances back sooner, the forecast's need still floors every scale-in).
    public var stabilizationFractions: [Double] = [1, 0.4, 0.2]
    /// The reactive baseline replayed alongside: Kubernetes HPA's algorithm at this target utilisation.
    public var hpaTarget = 0.7
    /// The violation budget when HPA's replay has violation minutes: this fraction of them (issue 10's goal: half).
    public var budgetFraction = 0.5
    /// The violation budget when HPA's replay has none: this fraction of the replayed minutes (0: none allowed).
    public var zeroBudgetFraction = 0.0

    public init() {}
}

/// One tuning decision: the setting adopted and what its replay and HPA's measured.
public struct TuneDecision: Sendable, Equatable {
    public var quantile: Double
    public var peakUtilization: Double
    public var stabilizationMs: Int64
    public var instanceHours: Double
    public var violationMinutes: Int
    public var hpaInstanceHours: Double
    public var hpaViolationMinutes: Int
    public var budgetMinutes: Int
    /// Whether some setting met the budget (false: the one with the fewest violation minutes was kept).
    public var withinBudget: Bool
    public var replayedMinutes: Int
    public var settingsTried: Int
}

/// A predictive group's auto-tuner: it keeps the group's observed load at every step of the last `days` days and,
/// per completed minute, the upper bound the forecaster would have given at each candidate quantile (the forecaster's
/// shadow quantiles). Once per day (engine clock, UTC) it replays that past through the predictive policy's decision
/// rule at every (quantile, peak utilisation) of the grid and through HPA at `hpaTarget`, and adopts the cheapest
/// setting whose replayed violation minutes are within the budget derived from HPA's. Causal: a tuning at t reads
/// only loads observed before t.
///
/// The replay is the engine's own rule on a model of the group: HPA's replica calculator as the reactive guard, the
/// forecast's need `ceil(upper / peak_utilization)`, scale-out at once, scale-in to the highest recommendation of the
/// stabilisation window and never below the need; new instances ready after the start-up time; scale-in removes
/// starting instances first, then the newest. A minute violates when the load exceeds the configured
/// `peak_utilization` (the SLO's headroom) times the ready instances. Spares, gates and faults are not replayed (the
/// same for every setting).
final class AutoTuner {
    let options: AutoTuneOptions
    /// The grid's quantiles (sorted, with the configured one): the forecaster's shadow quantiles.
    let quantiles: [Double]
    let peaks: [Double]
    let configuredPeak: Double
    /// The grid's stabilisation windows (ms), the configured one first.
    let windows: [Int64]
    /// The setting in use.
    private(set) var quantile: Double
    private(set) var peakUtilization: Double
    private(set) var stabilizationMs: Int64

    private var times: [Int64] = []
    private var loads: [Float] = []
    /// Per step, the absolute number of the forecast record in force (−1: none yet).
    private var recordOf: [Int32] = []
    /// Per record, `quantiles.count` uppers.
    private var records: [Float] = []
    private var recordBase = 0
    private var recordCount = 0
    private var lastForecastCount = -1
    private var lastTuneDay: Int64?
    /// The last tuning's replays: every setting tried, and HPA's.
    private(set) var lastCandidates: [(quantile: Double, peak: Double, window: Int64, instanceHours: Double, violations: Int)] = []
    private(set) var lastHPA: (instanceHours: Double, violations: Int)?
    let keepMs: Int64

    init(policy p: GroupPolicy, options: AutoTuneOptions) {
        self.options = options
        var qs = Set(options.quantiles.filter { $0 > 0.5 && $0 < 1 })
        qs.insert(p.quantile)
        quantiles = qs.sorted()
        var pk: [Double] = []
        for o in options.peakOffsets {
            let v = (p.peakUtilization + o) * 1000
            let r = v.rounded() / 1000
            if r > 0, r <= 1, !pk.contains(r) { pk.append(r) }
        }
        if !pk.contains(p.peakUtilization) { pk.insert(p.peakUtilization, at: 0) }
        peaks = pk
        configuredPeak = p.peakUtilization
        quantile = p.quantile
        peakUtilization = p.peakUtilization
        var ws: [Int64] = [p.stabilization.millis]
        for f in options.stabilizationFractions where f > 0 && f <= 1 {
            let w = Int64((Double(p.stabilization.millis) * f / 1000).rounded()) * 1000
            if !ws.contains(w) { ws.append(w) }
        }
        windows = ws
        stabilizationMs = p.stabilization.millis
        keepMs = Int64(max(1, options.days)) * 86_400_000
    }

    /// The policy with the tuned setting in place of the configured one.
    func apply(_ p: inout GroupPolicy) {
        p.quantile = quantile
        p.peakUtilization = peakUtilization
        p.stabilization = PolicyDuration(millis: stabilizationMs)
    }

    /// Records step `t`'s observed load and the forecaster's latest shadow uppers (call after the forecaster has
    /// observed `load`).
    func record(t: Int64, load: Double, forecaster f: DemandForecaster) {
        if f.absoluteCount != lastForecastCount, f.shadowUppers.count == quantiles.count {
            lastForecastCount = f.absoluteCount
            for u in f.shadowUppers { records.append(Float(u)) }
            recordCount += 1
        }
        times.append(t)
        loads.append(Float(load))
        recordOf.append(recordCount > 0 ? Int32(recordCount - 1) : -1)
        // drop what is older than the window (amortised: when twice as much is kept)
        if let first = times.first, t - first > 2 * keepMs {
            let cut = lowerBound(times, t - keepMs)
            times.removeFirst(cut)
            loads.removeFirst(cut)
            recordOf.removeFirst(cut)
            let keepFrom = max(recordBase, Int(recordOf.first ?? Int32(recordCount)))
            if keepFrom > recordBase {
                records.removeFirst((keepFrom - recordBase) * quantiles.count)
                recordBase = keepFrom
            }
        }
    }

    private static func day(_ t: Int64) -> Int64 { t >= 0 ? t / 86_400_000 : (t - 86_399_999) / 86_400_000 }

    /// Whether a tuning is due at `t`: the first step of a new UTC day with at least one full day observed.
    func due(_ t: Int64) -> Bool {
        let d = Self.day(t)
        if lastTuneDay == d { return false }
        guard let first = times.first, t - first >= 86_400_000 else { return false }
        return true
    }

    /// Replays the last `days` days before `t` (steps at times < t only) and adopts the chosen setting.
    func tune(at t: Int64, policy p: GroupPolicy, forecaster f: DemandForecaster) -> TuneDecision? {
        lastTuneDay = Self.day(t)
        let to = lowerBound(times, t)
        let from = lowerBound(times, t - keepMs)
        guard to - from >= 2 else { return nil }
        var rp = ReplayParams(policy: p, threshold: configuredPeak)
        rp.stabilizationMs = windows[0]
        let hpa = replay(from: from, to: to, params: rp, hpaTarget: options.hpaTarget, shadow: nil, peak: 1)
        let minutes = hpa.minutes
        let budget = hpa.violations > 0
            ? Int((Double(hpa.violations) * options.budgetFraction).rounded(.down))
            : Int((Double(minutes) * options.zeroBudgetFraction).rounded(.down))
        var best: (k: Int, peak: Double, window: Int64, r: ReplayResult)?
        var safest: (k: Int, peak: Double, window: Int64, r: ReplayResult)?
        lastHPA = (hpa.instanceMs / 3_600_000, hpa.violations)
        lastCandidates = []
        for (k, q) in quantiles.enumerated() {
            for pk in peaks {
                for w in windows {
                    var wp = rp
                    wp.stabilizationMs = w
                    let r = replay(from: from, to: to, params: wp, hpaTarget: nil, shadow: k, peak: pk)
                    lastCandidates.append((q, pk, w, r.instanceMs / 3_600_000, r.violations))
                    if r.violations <= budget, best == nil || r.instanceMs < best!.r.instanceMs {
                        best = (k, pk, w, r)
                    }
                    if safest == nil || (r.violations, r.instanceMs) < (safest!.r.violations, safest!.r.instanceMs) {
                        safest = (k, pk, w, r)
                    }
                }
            }
        }
        guard let pick = best ?? safest else { return nil }
        quantile = quantiles[pick.k]
        peakUtilization = pick.peak
        stabilizationMs = pick.window
        f.adopt(shadow: pick.k)
        return TuneDecision(quantile: quantile, peakUtilization: peakUtilization, stabilizationMs: stabilizationMs, instanceHours: pick.r.instanceMs / 3_600_000,
                            violationMinutes: pick.r.violations, hpaInstanceHours: hpa.instanceMs / 3_600_000,
                            hpaViolationMinutes: hpa.violations, budgetMinutes: budget, withinBudget: best != nil,
                            replayedMinutes: minutes, settingsTried: quantiles.count * peaks.count * windows.count)
    }

    struct ReplayParams {
        var guardTarget: Double
        var tolerance: Double
        var stabilizationMs: Int64
        var startupMs: Int64
        var minReplicas: Int
        var maxReplicas: Int
        /// A step violates when load > threshold × ready.
        var threshold: Double

        init(policy p: GroupPolicy, threshold: Double) {
            guardTarget = p.target
            tolerance = p.tolerance
            stabilizationMs = p.stabilization.millis
            startupMs = p.startup.millis
            minReplicas = p.minReplicas
            maxReplicas = p.maxReplicas
            self.threshold = threshold
        }
    }

    struct ReplayResult {
        var instanceMs = 0.0
        var violations = 0
        var minutes = 0
    }

    /// Replays steps [from, to): HPA at `hpaTarget` when given, else the predictive rule with shadow quantile `shadow`
    /// at peak utilisation `peak`.
    private func replay(from: Int, to: Int, params rp: ReplayParams, hpaTarget: Double?, shadow: Int?, peak: Double) -> ReplayResult {
        var res = ReplayResult()
        let nq = quantiles.count
        let target = hpaTarget ?? rp.guardTarget
        let firstLoad = Double(loads[from])
        var ready = min(max(rp.minReplicas, Int((firstLoad / rp.threshold).rounded(.up)), 1), max(1, rp.maxReplicas))
        var starting: [Int64] = []  // ready-at times, oldest first
        var startHead = 0
        var dqT: [Int64] = [], dqV: [Int] = []
        var dqHead = 0
        var bucketMax = 0.0
        var lastMinute = Int64.min
        var violatedMinute = Int64.min
        for i in from..<to {
            let t = times[i]
            let load = Double(loads[i])
            let minute = t / 60_000
            if minute != lastMinute {
                lastMinute = minute
                bucketMax = load
                res.minutes += 1
            } else {
                bucketMax = max(bucketMax, load)
            }
            while startHead < starting.count, starting[startHead] <= t {
                ready += 1
                startHead += 1
            }
            let unready = starting.count - startHead
            let spec = ready + unready
            var raw: Int
            if ready == 0 && unready == 0 {
                raw = max(rp.minReplicas, Int((load / target).rounded(.up)))
            } else {
                raw = HPA.desiredReplicas(specReplicas: spec, ready: ready, unready: unready,
                                          utilization: ready > 0 ? load / Double(ready) : 0, target: target, tolerance: rp.tolerance)
            }
            var need: Int?
            if let k = shadow, hpaTarget == nil {
                let rec = Int(recordOf[i])
                if rec >= recordBase {
                    let upper = max(bucketMax, Double(records[(rec - recordBase) * nq + k]))
                    need = Int((upper / peak - 1e-9).rounded(.up))
                    raw = max(raw, need!)
                }
            }
            // stabilisation window (t − window, t]: its highest recommendation
            while dqV.count > dqHead, dqV[dqV.count - 1] <= raw {
                dqV.removeLast()
                dqT.removeLast()
            }
            dqT.append(t)
            dqV.append(raw)
            while dqHead < dqT.count - 1, dqT[dqHead] <= t - rp.stabilizationMs { dqHead += 1 }
            if dqHead > 512 {
                dqT.removeFirst(dqHead)
                dqV.removeFirst(dqHead)
                dqHead = 0
            }
            let down = dqV[dqHead]
            var r = spec < raw ? raw : (spec > down ? down : spec)
            if r > spec { r = min(r, HPA.scaleUpLimit(from: spec)) }
            r = min(max(r, rp.minReplicas), rp.maxReplicas)
            if hpaTarget == nil {
                if r > spec { r = min(max(raw, rp.minReplicas), rp.maxReplicas) }
                if let need, r < need { r = min(need, rp.maxReplicas) }
            }
            if r > spec {
                for _ in spec..<r { starting.append(t + rp.startupMs) }
            } else if r < spec {
                var remove = spec - r
                while remove > 0, starting.count > startHead {
                    starting.removeLast()
                    remove -= 1
                }
                ready -= remove
            }
            if startHead > 256 {
                starting.removeFirst(startHead)
                startHead = 0
            }
            let dt = i + 1 < to ? Double(times[i + 1] - t) : (i > from ? Double(t - times[i - 1]) : 0)
            res.instanceMs += Double(r) * dt
            if load > rp.threshold * Double(ready), violatedMinute != minute {
                violatedMinute = minute
                res.violations += 1
            }
        }
        return res
    }
}

extension Engine {
    /// Records step `t` for a group's tuner and, once per day, tunes and audits the decision (kind `tune`).
    func autotuneStep(group g: String, tuner tu: AutoTuner, forecaster f: DemandForecaster, policy p: GroupPolicy,
                      t: Int64, load: Double) {
        if tu.due(t), let d = tu.tune(at: t, policy: p, forecaster: f) {
            let hpaT = tu.options.hpaTarget
            var reason = String(format: "tune %@: q %g, peak utilisation %.2f, stabilisation %@: replayed last %.1f days: %.1f instance-hours, %d violation minutes vs HPA at %.2f %.1f instance-hours, %d violation minutes",
                                g, d.quantile, d.peakUtilization, DurationParser.format(d.stabilizationMs), Double(d.replayedMinutes) / 1440, d.instanceHours, d.violationMinutes,
                                hpaT, d.hpaInstanceHours, d.hpaViolationMinutes)
            reason += d.withinBudget
                ? " (cheapest of \(d.settingsTried) settings within the budget of \(d.budgetMinutes) violation minutes)"
                : " (no setting of \(d.settingsTried) within the budget of \(d.budgetMinutes) violation minutes: the one with the fewest)"
            let numbers: [String: Double] = [
                "quantile": d.quantile, "peak_utilization": d.peakUtilization, "stabilization_seconds": Double(d.stabilizationMs) / 1000,
                "replay_instance_hours": d.instanceHours, "replay_violation_minutes": Double(d.violationMinutes),
                "hpa_instance_hours": d.hpaInstanceHours, "hpa_violation_minutes": Double(d.hpaViolationMinutes),
                "hpa_target": hpaT, "budget_minutes": Double(d.budgetMinutes), "replayed_minutes": Double(d.replayedMinutes),
                "configured_quantile": p.quantile, "configured_peak_utilization": p.peakUtilization,
                "configured_stabilization_seconds": Double(tu.windows[0]) / 1000,
            ]
            audit.record(AuditRecord(t: t, action: "\(g):tune:\(t)", kind: .tune, group: g, instance: nil, result: .executed,
                                     gate: nil, from: nil, to: nil, reason: reason, numbers: numbers, error: nil))
        }
        tu.record(t: t, load: load, forecaster: f)
    }
}
