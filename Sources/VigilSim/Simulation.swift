import Foundation
import VigilCore
import VigilEngine

/// Which controller scales the simulated group.
public enum SimPolicy: String, Sendable, CaseIterable {
    /// Vigil's predictive policy (the engine's `.predictive` strategy).
    case vigil
    /// Kubernetes HPA's algorithm and defaults (the engine's `.hpa` strategy).
    case hpa
    /// A fixed replica count for the trace's peak at the target utilisation.
    case `static`
    /// Knows the future: at every interval, exactly what the next start-up time plus one interval needs at the SLO
    /// threshold (a lower bound on cost, not a controller).
    case oracle
}

/// `vigil sim`'s settings; the defaults are the same for every policy.
public struct SimOptions: Sendable {
    public var peakInstances = 20.0
    public var startupMs: Int64 = 120_000
    /// HPA's target utilisation (mean of the ready instances).
    public var target = 0.7
    /// Vigil's reactive guard's target (HPA's rule with its tolerance, catching forecast misses).
    public var vigilTarget = 0.8
    /// Upper quantile Vigil provisions for (0.9: chosen on the tuning trace's first 48 h; BENCHMARKS.md).
    public var quantile = 0.9
    /// A minute violates the SLO when, at any interval in it, demand exceeds this fraction of the ready capacity.
    public var sloThreshold = 0.9
    public var noise = 0.05
    public var seed: UInt64 = 1
    public var intervalMs: Int64 = 15_000
    public var crashesPerInstanceDay = 0.0
    /// Scheduled and random faults (`--faults`); its crash rate adds to `crashesPerInstanceDay`.
    public var faults = FaultPlan()
    /// Count cost, violations and availability only from this many hours after the start (a held-out span after a
    /// warm-up the policies see as history); nil: from the start.
    public var scoreFromHours: Double? = nil
    /// Keep per-minute demand, capacity and violations (`SimResult.series`, for `--plot`).
    public var recordSeries = false
    /// Simulate only the first this many hours (nil: the whole trace).
    public var hours: Double? = nil
    /// Overrides Vigil's policy (from a policy file); bounds, start-up and interval are still set from these options
    /// unless the file sets them.
    public var vigilPolicy: GroupPolicy? = nil
    /// Keep the audit lines in memory (`SimResult.audit`).
    public var keepAudit = false
    /// Vigil's online auto-tuning (`autotune` policy key): nil keeps the policy's own setting (default on).
    public var autotune: Bool? = nil

    public init() {}
}

/// What one run measured.
public struct SimResult: Sendable, Equatable, Codable {
    public var policy: String
    public var simulatedHours: Double
    public var instanceHours: Double
    public var sloViolationMinutes: Int
    public var minutes: Int
    /// Served / provisioned capacity (time-weighted).
    public var meanUtilization: Double
    /// Executed scale actions.
    public var actions: Int
    public var restarts: Int
    public var relocations: Int
    public var crashes: Int
    /// Of the crashes: out-of-memory kills (leaks).
    public var oomKills: Int = 0
    /// Hosts that became unreachable (`host-degrade`).
    public var hostFailures: Int = 0
    /// Instances stopped to fence them before a relocation, and pages (escalations to a human).
    public var fences: Int = 0
    public var pages: Int = 0
    /// Scheduled faults that found no target (no such instance/host, or not running at the time).
    public var faultsMissed: Int = 0
    /// Served demand / demand (instance-time): everything not served counts, faults and under-provisioning.
    public var availability: Double
    /// 1 − (demand the failed instances would have served) / demand: what faults alone cost, measured at every
    /// interval as min(demand, ready + failed) − min(demand, ready).
    public var faultAvailability: Double = 1
    public var mttrSeconds: Double?
    /// SPEC RG elasticity metrics (Herbst et al.), with required resources ceil(demand / SLO threshold) and supply the
    /// ready instances: under-/over-provisioning accuracy (mean relative shortfall/excess, %), time share (%),
    /// jitter (supply changes minus required changes, per hour).
    public var thetaU: Double
    public var thetaO: Double
    public var tauU: Double
    public var tauO: Double
    public var jitter: Double
    public var auditRecords: Int
    public var auditSHA: String
    /// Per-minute series when `SimOptions.recordSeries` (not in the JSON).
    public var series: SimSeries? = nil

    enum CodingKeys: String, CodingKey {
        case policy, simulatedHours = "simulated_hours", instanceHours = "instance_hours"
        case sloViolationMinutes = "slo_violation_minutes", minutes, meanUtilization = "mean_utilization", actions, restarts
        case relocations, crashes, oomKills = "oom_kills", hostFailures = "host_failures", fences, pages
        case faultsMissed = "faults_missed", availability, faultAvailability = "fault_availability", mttrSeconds = "mttr_seconds", thetaU = "theta_u", thetaO = "theta_o"
        case tauU = "tau_u", tauO = "tau_o", jitter, auditRecords = "audit_records", auditSHA = "audit_fnv64"
    }
}

/// Per-minute series of one run (means over the minute's intervals; `violated` = the minute violated the SLO).
public struct SimSeries: Sendable, Equatable {
    public var startMillis: Int64 = 0
    public var demand: [Double] = []
    public var ready: [Double] = []
    public var provisioned: [Double] = []
    public var violated: [Bool] = []
}

public enum Simulation {
    public static let group = "svc"

    /// The engine policy a `SimPolicy` stands for under `o`.
    public static func groupPolicy(_ kind: SimPolicy, _ o: SimOptions) -> GroupPolicy {
        var p: GroupPolicy
        switch kind {
        case .hpa:
            p = GroupPolicy.hpaDefaults(target: o.target, min: 1, max: 1000)
        case .vigil:
            p = o.vigilPolicy ?? {
                var v = GroupPolicy()
                v.strategy = .predictive
                v.objective = .utilization(o.vigilTarget)
                v.quantile = o.quantile
                v.peakUtilization = o.sloThreshold
                v.minReplicas = 1
                v.maxReplicas = 1000
                return v
            }()
        case .static, .oracle:
            p = GroupPolicy()
            p.strategy = .none
            p.maxReplicas = 1000
        }
        if kind == .vigil, let a = o.autotune { p.autotune = a }
        if o.vigilPolicy == nil || kind != .vigil {
            p.startup = PolicyDuration(millis: o.startupMs)
            p.interval = PolicyDuration(millis: o.intervalMs)
        }
        return p
    }

    /// Replays `demand` against one group under `kind`, with the real engine making every decision in simulated time.
    public static func run(_ kind: SimPolicy, demand: DemandModel, options o: SimOptions,
                           audit: JSONLinesAudit? = nil, progress: ((Double) -> Void)? = nil) async -> SimResult {
        let g = group
        let start = (demand.startMillis / o.intervalMs) * o.intervalMs
        var end = demand.endMillis
        if let h = o.hours { end = min(end, start + Int64(h * 3_600_000)) }
        let policy = groupPolicy(kind, o)
        let cluster = SimCluster(startMillis: start, startupMs: policy.startup.millis, seed: o.seed,
                                 crashesPerInstanceDay: o.crashesPerInstanceDay)
        await cluster.schedule(o.faults, from: start)
        let scoreFrom = start + Int64((o.scoreFromHours ?? 0) * 3_600_000)
        let clock = SimulatedClock(startMillis: start)
        let sink = audit ?? JSONLinesAudit(keepInMemory: o.keepAudit)
        var engineOptions = EngineOptions()
        engineOptions.autotune.hpaTarget = o.target  // the tuner's baseline is the HPA this run compares with
        let engine = Engine(policies: [g: policy], driver: cluster, clock: clock, audit: sink, options: engineOptions)
        let staticReplicas = Int((demand.peakInstances / o.target).rounded(.up))
        let initial: Int
        switch kind {
        case .static: initial = staticReplicas
        default: initial = max(1, Int((demand.demand(at: start) / o.target).rounded(.up)))
        }
        await cluster.addGroup(g, replicas: initial)

        var window: [Double] = []  // demand at the last two intervals: the 30 s metric window
        var instanceMs = 0.0, servedMs = 0.0, demandMs = 0.0, capacityMs = 0.0, faultLostMs = 0.0
        var series = SimSeries()
        series.startMillis = (max(start, scoreFrom) / 60_000) * 60_000
        var minuteSums = (n: 0, d: 0.0, r: 0.0, p: 0.0, v: false)
        var seriesMinute = series.startMillis / 60_000
        var c0: SimCluster.Counters?
        var pages0 = 0
        let surges = o.faults.events.contains { if case .surge = $0.kind { return true } else { return false } }
        var violatedMinutes = Set<Int64>()
        var thetaU = 0.0, thetaO = 0.0, underMs = 0.0, overMs = 0.0
        var supplyChanges = 0, requiredChanges = 0
        var lastSupply = -1, lastRequired = -1
        var t = start
        let total = Double(end - start)
        var nextProgress = start
        while t < end {
            let d = surges ? demand.demand(at: t) * o.faults.demandFactor(atOffset: t - start) : demand.demand(at: t)
            window.append(d)
            if window.count > Int(max(1, 30_000 / o.intervalMs)) { window.removeFirst() }
            let load = window.reduce(0, +) / Double(window.count)
            await cluster.advance(to: t)
            clock.advance(to: t)
            await cluster.setLoad(g, load)
            if kind == .oracle {
                // exactly what is needed from now until instances started now are ready, plus one interval
                var need = 0.0
                var u = t
                while u <= t + policy.startup.millis + o.intervalMs {
                    need = max(need, demand.demand(at: u))
                    u += o.intervalMs
                }
                let n = max(1, Int((need / o.sloThreshold).rounded(.up)))
                try? await cluster.scale(group: g, to: n, actionID: "oracle:\(t)")
            }
            await engine.step(at: t)
            let (ready, provisioned, failed) = await cluster.capacity(g)
            guard t >= scoreFrom else {
                t += o.intervalMs
                continue
            }
            if c0 == nil {
                c0 = t > start ? await cluster.counters : SimCluster.Counters()
                pages0 = t > start ? sink.counts["page/executed", default: 0] : 0
            }
            let dt = Double(o.intervalMs)
            faultLostMs += (min(d, Double(ready + failed)) - min(d, Double(ready))) * dt
            if o.recordSeries {
                if t / 60_000 != seriesMinute && minuteSums.n > 0 {
                    let k = Double(minuteSums.n)
                    series.demand.append(minuteSums.d / k)
                    series.ready.append(minuteSums.r / k)
                    series.provisioned.append(minuteSums.p / k)
                    series.violated.append(minuteSums.v)
                    minuteSums = (0, 0, 0, 0, false)
                }
                seriesMinute = t / 60_000
                minuteSums.n += 1
                minuteSums.d += d
                minuteSums.r += Double(ready)
                minuteSums.p += Double(provisioned)
                if d > o.sloThreshold * Double(ready) { minuteSums.v = true }
            }
            instanceMs += Double(provisioned) * dt
            servedMs += min(d, Double(ready)) * dt
            demandMs += d * dt
            capacityMs += Double(provisioned) * dt
            if d > o.sloThreshold * Double(ready) { violatedMinutes.insert(t / 60_000) }
            let required = Int((d / o.sloThreshold).rounded(.up))
            let r = Double(max(required, 1))
            if ready < required { thetaU += Double(required - ready) / r * dt; underMs += dt }
            if ready > required { thetaO += Double(ready - required) / r * dt; overMs += dt }
            if lastSupply >= 0 && ready != lastSupply { supplyChanges += 1 }
            if lastRequired >= 0 && required != lastRequired { requiredChanges += 1 }
            lastSupply = ready
            lastRequired = required
            t += o.intervalMs
            if let progress, t >= nextProgress {
                progress(Double(t - start) / total)
                nextProgress = t + Int64(total / 100)
            }
        }
        if o.recordSeries && minuteSums.n > 0 {
            let k = Double(minuteSums.n)
            series.demand.append(minuteSums.d / k)
            series.ready.append(minuteSums.r / k)
            series.provisioned.append(minuteSums.p / k)
            series.violated.append(minuteSums.v)
        }
        let c = (await cluster.counters).minus(c0 ?? SimCluster.Counters())
        let span = Double(max(0, t - max(start, scoreFrom)))
        let hours = span / 3_600_000
        var h = FNV64()
        if let a = audit ?? (o.keepAudit ? sink : nil) { h.add(a.data) }
        return SimResult(policy: kind.rawValue, simulatedHours: hours, instanceHours: instanceMs / 3_600_000,
                         sloViolationMinutes: violatedMinutes.count, minutes: Int(span / 60_000),
                         meanUtilization: capacityMs > 0 ? servedMs / capacityMs : 0,
                         actions: c.scaleActions, restarts: c.restarts, relocations: c.relocations, crashes: c.crashes,
                         oomKills: c.oomKills, hostFailures: c.hostFailures, fences: c.fences,
                         pages: sink.counts["page/executed", default: 0] - pages0, faultsMissed: c.faultsMissed,
                         availability: demandMs > 0 ? servedMs / demandMs : 1,
                         faultAvailability: demandMs > 0 ? 1 - faultLostMs / demandMs : 1,
                         mttrSeconds: c.recoveries > 0 ? c.recoverySeconds / Double(c.recoveries) : nil,
                         thetaU: span > 0 ? 100 * thetaU / span : 0, thetaO: span > 0 ? 100 * thetaO / span : 0,
                         tauU: span > 0 ? 100 * underMs / span : 0, tauO: span > 0 ? 100 * overMs / span : 0,
                         jitter: hours > 0 ? Double(supplyChanges - requiredChanges) / hours : 0,
                         auditRecords: sink.count, auditSHA: h.hex, series: o.recordSeries ? series : nil)
    }
}

/// FNV-1a 64 over bytes: a short fingerprint of the audit log for reports (same seed → same fingerprint).
struct FNV64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func add(_ d: Data) {
        for b in d { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    }
    var hex: String { String(h, radix: 16) }
}

extension Simulation {
    /// How long one engine step takes for `instances` instances in `groups` groups (predictive policies, a warm
    /// forecaster, 1 % of instances failed so remediation runs too): the median of `steps` steps, in ms.
    public static func benchDecision(instances: Int, groups: Int, steps: Int = 20) async -> Double {
        let per = max(1, instances / groups)
        let cluster = SimCluster(startMillis: 0, startupMs: 120_000, hosts: max(4, instances / 8), vcpusPerHost: 16, seed: 1)
        var policies: [String: GroupPolicy] = [:]
        for g in 0..<groups {
            let name = String(format: "g%04d", g)
            var p = GroupPolicy()
            p.maxReplicas = per * 4
            policies[name] = p
            await cluster.addGroup(name, replicas: per)
            await cluster.setLoad(name, Double(per) * 0.7)
        }
        for g in 0..<groups where g % 10 == 0 { await cluster.crash(instance: String(format: "g%04d-0", g)) }
        let clock = SimulatedClock(startMillis: 0)
        let engine = Engine(policies: policies, driver: cluster, clock: clock, audit: JSONLinesAudit(keepInMemory: false))
        var times: [Double] = []
        var t: Int64 = 0
        for _ in 0..<steps {
            await cluster.advance(to: t)
            clock.advance(to: t)
            let c0 = ContinuousClock.now
            await engine.step(at: t)
            let d = ContinuousClock.now - c0
            times.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
            t += 15_000
        }
        times.sort()
        return times[times.count / 2]
    }
}
