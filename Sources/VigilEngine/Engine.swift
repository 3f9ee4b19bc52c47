import Foundation
import VigilCore
import VigilForecast

/// Engine-wide settings (per-group settings are in `GroupPolicy`).
public struct EngineOptions: Sendable {
    /// Deadline for one driver call.
    public var driverTimeoutMs: Int64 = 30_000
    /// Consecutive driver failures that open the circuit breaker, and how long it stays open.
    public var breakerThreshold = 3
    public var breakerOpenMs: Int64 = 60_000
    /// Brake: when at least this fraction of instances (and at least `brakeMinInstances`) have failed at once, or
    /// this fraction of hosts is unreachable or down, the engine pages instead of remediating.
    public var brakeFraction = 0.5
    public var brakeMinInstances = 3
    /// Instances moved off degraded hosts per step at most (a concurrency cap on evacuation).
    public var maxEvacuationsPerStep = 2
    /// Where the brake's page goes.
    public var webhook: String? = nil
    /// Run BLAS work (forecaster fits) here; nil = on the calling thread (tests, `vigil sim`'s own thread).
    public var blasWorker: BLASWorker? = nil
    /// Predictive groups keep `k` spare instances beyond the forecast's need, the smallest `k` for which more than
    /// `k` instances being down at once (Poisson, at the group's observed failure rate and a recovery of start-up
    /// plus one interval) has probability ≤ this. No failures observed: no spare. 0 turns spares off.
    public var spareRisk = 0.001
    /// Time constant of the observed failure rate (failures and instance-time both decay with it).
    public var failureRateWindowMs: Int64 = 7 * 86_400_000
    /// The `placement:` section: balance, consolidation and evacuation through the planner (`EnginePlacement.swift`);
    /// nil = off (a `degraded` host is still evacuated by the simple rule in `evacuate`).
    public var placement: PlacementConfig? = nil
    /// Online auto-tuning of predictive groups with `autotune: true` (AutoTune.swift).
    public var autotune = AutoTuneOptions()

    public init() {}
}

/// What one `step` did.
public struct StepReport: Sendable, Equatable {
    public var executed = 0
    public var blocked = 0
    public var failed = 0
    /// The driver's observe call failed: nothing was decided.
    public var observeError: DriverError? = nil
}

/// The remediation engine: each step it observes through the driver, decides per group (scale out/in) and per
/// failed instance (restart → relocate → page), passes every candidate action through the safety gates, executes
/// what passes (or records it in dry-run, or queues it for approval) and writes every decision to the audit log.
///
/// Single-owner: one task calls `step`/`approve` (the daemon's engine loop, `vigil sim`'s loop). The same code runs
/// on the wall clock (`run()`) and in simulated time (`step(at:)` from the simulator).
public final class Engine {
    public let driver: any Driver
    public let clock: any VigilClock
    public let audit: any AuditSink
    public let options: EngineOptions
    public private(set) var policies: [String: GroupPolicy]
    /// When set, every action is blocked (gate `kill_switch`); decisions are still audited.
    public var killSwitch = false

    struct GroupState {
        var hpa = HPAState()
        var forecaster: DemandForecaster?
        var tuner: AutoTuner?
        var nextDecisionAt: Int64 = .min
        var lastScaleOutAt: Int64?
        var lastScaleAt: Int64?
        var actionTimes: [Int64] = []
        /// The last held-back decision's key, so an unchanged hold is audited once, not every interval.
        var lastHold: String?
        /// Observed failures and instance-time (ms), both decaying with `failureRateWindowMs`: the failure rate.
        var failures = 0.0
        var exposureMs = 0.0
        var exposureAt: Int64?
    }

    enum Stage { case restart, relocate, paged }

    struct FailureRecord {
        var incarnation: Int64 = .min
        var streak = 0
        var relocations = 0
        var stage = Stage.restart
        var nextAttemptAt: Int64 = 0
        var deferredAudited = false
        var fenceRequested = false
        /// The incarnation whose relocation is held because its host is unreachable (audited once).
        var fencingHeldFor: Int64 = .min
    }

    private var groups: [String: GroupState] = [:]
    private var failures: [String: FailureRecord] = [:]
    var done = Set<String>()
    /// Evacuations already decided (any result), so each is audited once.
    private var evacuationsDecided = Set<String>()
    var queued: [String: Action] = [:]
    var queueOrder: [String] = []
    var approved: [String] = []
    /// Per group, the scale decision (`kind/to`) a human rejected: not queued again until the decision changes.
    private var rejectedScale: [String: String] = [:]
    private var breakerFailures = 0
    private var breakerOpenUntil: Int64 = .min
    var brakePaged = false
    /// The placement section in force (`updatePlacement`) and the placement loop's state.
    public internal(set) var placement: PlacementConfig?
    var placementState = PlacementState()

    public init(policies: [String: GroupPolicy], driver: any Driver, clock: any VigilClock, audit: any AuditSink,
                options: EngineOptions = EngineOptions()) {
        self.policies = policies
        self.driver = driver
        self.clock = clock
        self.audit = audit
        self.options = options
        placement = options.placement
        for (g, p) in policies { groups[g] = Self.freshState(p, options.autotune) }
    }

    static func freshState(_ p: GroupPolicy, _ tuning: AutoTuneOptions) -> GroupState {
        var s = GroupState()
        if p.strategy == .predictive {
            // auto-tuning replays a utilisation objective (an SLO series cannot be replayed from the load alone)
            if p.autotune, case .utilization = p.objective { s.tuner = AutoTuner(policy: p, options: tuning) }
            s.forecaster = DemandForecaster(leadMs: p.startup.millis + p.interval.millis, quantile: p.quantile,
                                            shadowQuantiles: s.tuner?.quantiles ?? [])
        }
        return s
    }

    /// Actions waiting for approval, oldest first.
    public var pendingApprovals: [Action] { queueOrder.compactMap { queued[$0] } }

    /// Rejects a queued action: it leaves the queue and is never executed (a later decision gets a new id).
    /// Records `rejected`. Returns false when the id is not waiting for approval.
    @discardableResult
    public func reject(_ id: String, reason: String = "rejected") -> Bool {
        guard let a = queued.removeValue(forKey: id) else { return false }
        queueOrder.removeAll { $0 == id }
        approved.removeAll { $0 == id }
        if a.instance == nil { rejectedScale[a.group] = "\(a.kind.rawValue)/\(a.to ?? -1)" }
        if a.group == Placement.group { placementState.rejected.insert(Self.placementKey(a)) }
        audit.record(AuditRecord(t: clock.nowMillis(), action: a.id, kind: a.kind, group: a.group, instance: a.instance,
                                 result: .rejected, gate: nil, from: a.from, to: a.to, reason: "\(reason): " + a.reason,
                                 numbers: a.numbers, error: nil))
        return true
    }

    /// Action ids already executed (e.g. read back from a durable audit at start): a decision with one of these ids
    /// is recorded as `duplicate` and never executed again.
    public func markDone<S: Sequence>(_ ids: S) where S.Element == String { done.formUnion(ids) }

    /// Replaces the policies (config reload): a group whose policy is unchanged keeps its state (forecaster history,
    /// stabilisation window, cooldowns); a new or changed group starts fresh; a removed group is forgotten, and its
    /// queued actions are dropped (returned so the caller can audit them).
    @discardableResult
    public func updatePolicies(_ next: [String: GroupPolicy]) -> [Action] {
        for (g, p) in next where policies[g] != p { groups[g] = Self.freshState(p, options.autotune) }
        for g in policies.keys where next[g] == nil { groups[g] = nil; status[g] = nil }
        policies = next
        let dropped = queueOrder.compactMap { queued[$0] }.filter { next[$0.group] == nil }
        for a in dropped { queued[a.id] = nil; approved.removeAll { $0 == a.id } }
        queueOrder.removeAll { queued[$0] == nil }
        return dropped
    }

    /// What the engine last saw and decided, per group (for the state series).
    public struct GroupStatus: Sendable, Equatable {
        /// The replica count the engine last decided on (its current decision, whether or not a gate held it).
        public var desired: Int?
        /// The provisioned-for upper quantile of the demand forecast (predictive strategy), instances of load.
        public var forecastUpper: Double?
    }

    /// Per group: the last decision (see `GroupStatus`).
    public private(set) var status: [String: GroupStatus] = [:]
    /// The last successful observation (nil before the first, or when the last observe failed).
    public private(set) var lastObservation: Observation?

    /// Feeds a group's predictive forecaster the load history up to now (oldest first; e.g. read from the store when
    /// the daemon starts), as if it had observed it live: a restarted daemon forecasts at once instead of from
    /// scratch. Points at or after the forecaster's latest observation are ignored (causal order). Returns how many
    /// points it took.
    @discardableResult
    public func prime(group g: String, history: [(Int64, Double)]) async -> Int {
        guard let f = groups[g]?.forecaster else { return 0 }
        var n = 0
        var last = Int64.min  // strictly increasing, and before anything the forecaster has already seen
        let cutoff = f.lastObservedMillis ?? .max
        for (t, v) in history where v.isFinite && t < cutoff && t > last {
            await f.observe(t: t, load: v, worker: options.blasWorker)
            last = t
            n += 1
        }
        return n
    }

    /// Approves a queued action: it is executed at the next step (unless the kill switch or the circuit breaker
    /// holds it). Returns false for an unknown id (never queued, superseded or already done).
    @discardableResult
    public func approve(_ id: String) -> Bool {
        guard queued[id] != nil, !approved.contains(id) else { return false }
        approved.append(id)
        return true
    }

    /// Steps on `clock` every smallest policy interval until cancelled.
    public func run() async throws {
        let interval = policies.values.map(\.interval.millis).min() ?? 15_000
        while true {
            let now = clock.nowMillis()
            await step(at: now)
            try await clock.sleep(untilMillis: (now / interval + 1) * interval)
        }
    }

    /// One round at `t` (ms): observe, decide, gate, act, audit.
    @discardableResult
    public func step(at t: Int64) async -> StepReport {
        var report = StepReport()
        await executeApproved(t, &report)  // before observing, so this step's decisions see their effect
        let obs: Observation
        do {
            let d = driver
            obs = try await withDriverTimeout("observe", millis: options.driverTimeoutMs, clock: clock) { () async throws(DriverError) in
                try await d.observe()
            }
        } catch {
            report.observeError = error
            lastObservation = nil
            noteDriverFailure(t)
            return report
        }
        lastObservation = obs
        let byGroup = Dictionary(grouping: obs.inventory.instances, by: \.group)
        var infos: [String: GroupInfo] = [:]
        for gi in obs.inventory.groups { infos[gi.id] = gi }
        for g in policies.keys.sorted() {
            await decideScaling(group: g, t: t, obs: obs, members: byGroup[g] ?? [], info: infos[g], &report)
        }
        await remediate(t: t, inv: obs.inventory, &report)
        await placementStep(t: t, obs: obs, &report)
        return report
    }

    // MARK: scaling

    private func decideScaling(group g: String, t: Int64, obs: Observation, members: [InstanceInfo], info: GroupInfo?,
                               _ report: inout StepReport) async {
        guard var p = policies[g], var st = groups[g] else { return }
        defer { groups[g] = st }
        guard let info else { return }
        let load = obs.groups[g]?.load ?? 0
        // one pass over the members (no filtered copies: this runs every interval for every group)
        var ready = 0, unready = 0, live = 0
        for m in members {
            switch m.state {
            case .running: ready += 1; live += 1
            case .starting: unready += 1
            case .stopped: break
            default: live += 1
            }
        }
        noteExposure(&st, t: t, live: live)
        if let f = st.forecaster { await f.observe(t: t, load: load, worker: options.blasWorker) }
        if let tu = st.tuner, let f = st.forecaster {
            autotuneStep(group: g, tuner: tu, forecaster: f, policy: p, t: t, load: load)
            tu.apply(&p)
        }
        guard p.strategy != .none, t >= st.nextDecisionAt else { return }
        st.nextDecisionAt = t + p.interval.millis
        let spec = info.desiredReplicas
        let target = p.target
        // the metric the objective scales on, as a utilisation of the ready instances
        let utilization: Double
        if case .slo(_, let maxValue) = p.objective {
            utilization = (obs.groups[g]?.sloValue ?? 0) / maxValue
        } else {
            utilization = ready > 0 ? load / Double(ready) : 0
        }
        var numbers: [String: Double] = ["current": load, "target": target, "ready": Double(ready),
                                          "starting": Double(unready), "spec": Double(spec)]
        var raw: Int
        var why: String
        if ready == 0 && unready == 0 {
            raw = max(p.minReplicas, Int((load / target).rounded(.up)))
            why = String(format: "no ready instance; load %.2f at target %.2f", load, target)
        } else {
            raw = HPA.desiredReplicas(specReplicas: spec, ready: ready, unready: unready, utilization: utilization,
                                      target: target, tolerance: p.tolerance)
            why = String(format: "utilisation %.2f of %d ready vs target %.2f (tolerance %.2f)", utilization, ready, target, p.tolerance)
        }
        numbers["reactive"] = Double(raw)
        var predictiveNeed: Int?
        if p.strategy == .predictive, let f = st.forecaster, let fc = f.upper() {
            var need = Int((fc.upper / p.peakUtilization - 1e-9).rounded(.up))
            let spare = spares(st, need: need, recoveryMs: p.startup.millis + p.interval.millis)
            if spare > 0 {
                numbers["spare"] = Double(spare)
                numbers["failures_per_instance_day"] = st.failures / st.exposureMs * 86_400_000
                need += spare
            }
            predictiveNeed = need
            numbers["forecast"] = fc.point
            numbers["forecast_upper"] = fc.upper
            numbers["quantile"] = p.quantile
            numbers["peak_utilization"] = p.peakUtilization
            numbers["predictive"] = Double(need)
            let lead = DurationParser.format(p.startup.millis + p.interval.millis)
            if need > raw {
                why = String(format: "p%g forecast peak %.2f instances of load within %@ needs %d at peak utilisation %.2f (current %.2f, %@)",
                             p.quantile * 100, fc.upper, lead, need, p.peakUtilization, load, f.method)
                if spare > 0 { why += " including \(spare) spare for failures" }
            }
            raw = max(raw, need)
        }
        var desired: Int
        var stabilizedFrom: Int?
        if p.strategy == .hpa {
            (desired, stabilizedFrom) = st.hpa.next(t: t, spec: spec, raw: raw, policy: p)
        } else {
            // predictive: out at once to max(forecast need, reactive guard); in only to the window's highest
            // recommendation, never below the forecast's need
            (desired, stabilizedFrom) = st.hpa.next(t: t, spec: spec, raw: raw, policy: p, periodMs: 0)
            if desired > spec { desired = min(max(raw, p.minReplicas), p.maxReplicas) }
            if let need = predictiveNeed, desired < need { desired = min(need, p.maxReplicas) }
        }
        numbers["desired"] = Double(desired)
        status[g] = GroupStatus(desired: desired, forecastUpper: numbers["forecast_upper"])
        if raw > p.maxReplicas || raw < p.minReplicas {
            numbers["bound"] = Double(raw > p.maxReplicas ? p.maxReplicas : p.minReplicas)
        }
        if desired == spec {
            if let from = stabilizedFrom, from < spec {
                hold(&st, t: t, group: g, kind: .scaleIn, gate: "stabilization", from: spec, to: from,
                     reason: "scale \(g) \(spec)→\(from) held: the highest recommendation in the last \(p.stabilization) is \(spec)",
                     numbers: numbers)
            } else if raw != spec && (raw > p.maxReplicas || raw < p.minReplicas) {
                hold(&st, t: t, group: g, kind: raw > spec ? .scaleOut : .scaleIn, gate: "bounds", from: spec, to: raw,
                     reason: "scale \(g) \(spec)→\(raw) held: outside [\(p.minReplicas), \(p.maxReplicas)]", numbers: numbers)
            } else {
                st.lastHold = nil
            }
            return
        }
        let kind: ActionKind = desired > spec ? .scaleOut : .scaleIn
        // gates
        if p.inMaintenance(t) {
            hold(&st, t: t, group: g, kind: kind, gate: "maintenance", from: spec, to: desired,
                 reason: "scale \(g) \(spec)→\(desired) held: maintenance window", numbers: numbers)
            return
        }
        if kind == .scaleOut, let last = st.lastScaleOutAt, t - last < p.scaleOutCooldown.millis {
            hold(&st, t: t, group: g, kind: kind, gate: "cooldown", from: spec, to: desired,
                 reason: "scale \(g) \(spec)→\(desired) held: last scale-out \(DurationParser.format(t - last)) ago < cooldown \(p.scaleOutCooldown)",
                 numbers: numbers)
            return
        }
        if kind == .scaleIn, let last = st.lastScaleAt, t - last < p.scaleInCooldown.millis {
            hold(&st, t: t, group: g, kind: kind, gate: "cooldown", from: spec, to: desired,
                 reason: "scale \(g) \(spec)→\(desired) held: last scale action \(DurationParser.format(t - last)) ago < scale-in cooldown \(p.scaleInCooldown)",
                 numbers: numbers)
            return
        }
        if p.maxActions.count > 0 {
            st.actionTimes.removeAll { $0 <= t - p.maxActions.window.millis }
            if st.actionTimes.count >= p.maxActions.count {
                hold(&st, t: t, group: g, kind: kind, gate: "rate_limit", from: spec, to: desired,
                     reason: "scale \(g) \(spec)→\(desired) held: \(st.actionTimes.count) actions in the last \(p.maxActions.window) (max \(p.maxActions.count))",
                     numbers: numbers)
                return
            }
        }
        if p.mode == .dryRun {
            // shadow mode: an unchanged decision is recorded once
            let key = "dry_run/\(kind.rawValue)/\(desired)"
            if st.lastHold == key { return }
            st.lastHold = key
        }
        let action = Action(id: "\(g):\(kind.rawValue):\(t)", kind: kind, group: g, instance: nil, from: spec, to: desired,
                            host: nil, webhook: nil, decidedAtMillis: t,
                            reason: "scale \(g) \(spec)→\(desired): \(why)", numbers: numbers)
        if p.mode != .dryRun { st.lastHold = nil }
        if await submit(action, policy: p, t: t, &report) {
            st.hpa.applied(t: t, from: spec, to: desired)
            st.lastScaleAt = t
            if kind == .scaleOut { st.lastScaleOutAt = t }
            st.actionTimes.append(t)
        }
    }

    /// Decays the group's failure counts to `t` and adds `live` instances' time since the last step.
    private func noteExposure(_ st: inout GroupState, t: Int64, live: Int) {
        if let last = st.exposureAt, t > last {
            let dt = Double(t - last)
            let decay = exp(-dt / Double(options.failureRateWindowMs))
            st.failures *= decay
            st.exposureMs = st.exposureMs * decay + Double(live) * dt
        }
        st.exposureAt = t
    }

    /// Spare instances for `need` at the observed failure rate: the smallest k with P(Poisson(μ) > k) ≤ spareRisk,
    /// μ = need × rate × recovery time. Capped at need (never more than doubles the group).
    private func spares(_ st: GroupState, need: Int, recoveryMs: Int64) -> Int {
        guard options.spareRisk > 0, st.failures > 0.5, st.exposureMs > 0, need > 0 else { return 0 }
        let mu = Double(need) * st.failures / st.exposureMs * Double(recoveryMs)
        var term = exp(-mu), cdf = term, k = 0
        while 1 - cdf > options.spareRisk && k < need {
            k += 1
            term *= mu / Double(k)
            cdf += term
        }
        return k
    }

    /// Audits a held-back decision once per distinct (kind, gate, target).
    private func hold(_ st: inout GroupState, t: Int64, group: String, kind: ActionKind, gate: String, from: Int, to: Int,
                      reason: String, numbers: [String: Double]) {
        let key = "\(kind.rawValue)/\(gate)/\(to)"
        guard st.lastHold != key else { return }
        st.lastHold = key
        audit.record(AuditRecord(t: t, action: nil, kind: kind, group: group, instance: nil, result: .blocked, gate: gate,
                                 from: from, to: to, reason: reason, numbers: numbers, error: nil))
    }

    // MARK: remediation

    private func remediate(t: Int64, inv: Inventory, _ report: inout StepReport) async {
        let failed = inv.instances.filter { $0.isFailed || $0.state == .unknown }
        let badHosts = inv.hosts.filter { $0.state == .unreachable || $0.state == .down }.count
        let braking = (failed.count >= options.brakeMinInstances
                       && Double(failed.count) >= options.brakeFraction * Double(max(1, inv.instances.count)))
            || (inv.hosts.count >= 2 && Double(badHosts) >= options.brakeFraction * Double(inv.hosts.count))
        if braking {
            if !brakePaged {
                brakePaged = true
                let a = Action(id: "engine:page:brake:\(t)", kind: .page, group: "*", instance: nil, from: nil, to: nil, host: nil,
                               webhook: options.webhook, decidedAtMillis: t,
                               reason: "brake: \(failed.count) of \(inv.instances.count) instances failed, \(badHosts) of \(inv.hosts.count) hosts unreachable or down; remediation paused, paging",
                               numbers: ["failed": Double(failed.count), "instances": Double(inv.instances.count),
                                         "bad_hosts": Double(badHosts), "hosts": Double(inv.hosts.count)])
                audit.record(AuditRecord(t: t, action: a.id, kind: .page, group: "*", instance: nil, result: .executed, gate: "brake",
                                         from: nil, to: nil, reason: a.reason, numbers: a.numbers, error: nil))
                done.insert(a.id)
            }
            return
        }
        brakePaged = false
        await evacuate(t: t, inv: inv, &report)
        // only instances that are not serving or have a failure record can lead to a decision (same order as before:
        // by id); skipping the rest keeps a step O(failed · log failed) beyond the one pass
        let attention = inv.instances.filter { ($0.state != .running && $0.state != .starting) || failures[$0.id] != nil }
        for inst in attention.sorted(by: { $0.id < $1.id }) {
            guard let p = policies[inst.group] else { continue }
            await remediate(inst, policy: p, t: t, inv: inv, &report)
        }
    }

    /// Evacuation: a running instance of a managed group on a host that reports `degraded` (failing hardware, rising
    /// error counters: a failure is expected) is live-migrated to the `up` host with the most free vCPUs, before the
    /// host fails, at most `maxEvacuationsPerStep` per step. Each (instance, incarnation, host) is decided once: its
    /// action id names them, so a retry is a duplicate, and a dry-run or a held move is not re-audited every step.
    private func evacuate(t: Int64, inv: Inventory, _ report: inout StepReport) async {
        if let pc = placement, pc.mode != .off { return }  // the planner evacuates (by failure probability)
        let degraded = inv.hosts.filter { $0.state == .degraded }.sorted { $0.id < $1.id }
        guard !degraded.isEmpty else { return }
        var used: [String: Int] = [:]
        for i in inv.instances where i.state != .stopped { used[i.host, default: 0] += 1 }
        var moved = 0
        for h in degraded {
            for inst in inv.instances.filter({ $0.host == h.id && $0.state == .running }).sorted(by: { $0.id < $1.id }) {
                guard moved < options.maxEvacuationsPerStep, let p = policies[inst.group] else { continue }
                let id = "\(inst.id):evacuate:\(h.id):\(inst.startedAtMillis)"
                guard !evacuationsDecided.contains(id), !done.contains(id) else { continue }
                evacuationsDecided.insert(id)
                let free = { (x: HostInfo) in x.vcpus - used[x.id, default: 0] }
                guard let target = inv.hosts.filter({ $0.state == .up && $0.isPoweredOn && free($0) > 0 })
                    .max(by: { (free($0), $1.id) < (free($1), $0.id) }) else {
                    audit.record(AuditRecord(t: t, action: id, kind: .evacuate, group: inst.group, instance: inst.id, result: .blocked,
                                             gate: "capacity", from: nil, to: nil,
                                             reason: "evacuate \(inst.id) off degraded \(h.id) held: no healthy host has a free vCPU",
                                             numbers: [:], error: nil))
                    report.blocked += 1
                    continue
                }
                let a = Action(id: id, kind: .evacuate, group: inst.group, instance: inst.id, from: nil, to: nil, host: target.id,
                               webhook: nil, decidedAtMillis: t,
                               reason: "evacuate \(inst.id) \(h.id)→\(target.id): host \(h.id) is degraded (a failure is expected); moved live before it fails (\(target.id) has \(free(target)) free vCPUs)",
                               numbers: ["target_free_vcpus": Double(free(target))])
                if await submit(a, policy: p, t: t, &report) {
                    used[target.id, default: 0] += 1
                    used[h.id, default: 0] -= 1
                }
                moved += 1
            }
        }
    }

    private func remediate(_ inst: InstanceInfo, policy p: GroupPolicy, t: Int64, inv: Inventory, _ report: inout StepReport) async {
        let id = inst.id
        switch inst.state {
        case .running:
            if let r = failures[id], r.stage != .paged, t - inst.startedAtMillis >= p.restart.resetAfter.millis {
                failures[id] = nil  // stayed up long enough: a clean record
            }
            return
        case .starting:
            return
        case .unknown where inv.host(inst.host)?.state == .down:
            break  // its host is confirmed down: fenced, handled as a failure below (relocation)
        case .unknown:
            // host unreachable: the instance may still run; a second copy would split the brain
            var r = failures[id] ?? FailureRecord()
            if r.fencingHeldFor != inst.startedAtMillis {
                r.fencingHeldFor = inst.startedAtMillis
                groups[inst.group]?.failures += 1
                audit.record(AuditRecord(t: t, action: nil, kind: .relocate, group: inst.group, instance: id, result: .blocked,
                                         gate: "fencing", from: nil, to: nil,
                                         reason: "relocate \(id) held: host \(inst.host) is unreachable and not confirmed down, so \(id) is not fenced",
                                         numbers: [:], error: nil))
                failures[id] = r
            }
            return
        case .exited, .unhealthy, .stopped:
            break
        }

        var r = failures[id] ?? FailureRecord()
        if inst.state == .stopped && r.incarnation == .min { return }  // stopped on purpose, not by us
        let hostDown = inv.host(inst.host)?.state == .down
        if r.incarnation != inst.startedAtMillis {
            // a new failure of this incarnation
            if r.fencingHeldFor != inst.startedAtMillis { groups[inst.group]?.failures += 1 }  // not yet counted
            r.incarnation = inst.startedAtMillis
            r.deferredAudited = false
            r.fenceRequested = false
            if t - inst.startedAtMillis >= p.restart.resetAfter.millis { r.streak = 0 }
            r.streak += 1
            if hostDown || inv.host(inst.host)?.state == .maintenance {
                r.stage = .relocate
            } else if r.streak <= p.restart.restartsBeforeRelocate {
                r.stage = .restart
                r.nextAttemptAt = t + p.restart.delay(beforeRestart: r.streak)
            } else if r.relocations < p.restart.relocationsBeforePage {
                r.stage = .relocate
            } else {
                r.stage = .paged
                let a = Action(id: "\(id):page:\(inst.startedAtMillis)", kind: .page, group: inst.group, instance: id, from: nil, to: nil,
                               host: nil, webhook: p.restart.webhook, decidedAtMillis: t,
                               reason: "page: \(id) failed \(r.streak) times in a row after \(r.relocations) relocation(s); leaving it to a human",
                               numbers: ["failures": Double(r.streak), "relocations": Double(r.relocations)])
                failures[id] = r
                _ = await submit(a, policy: p, t: t, &report)
                return
            }
        }
        defer { failures[id] = r }
        switch r.stage {
        case .paged:
            return
        case .restart:
            if t < r.nextAttemptAt {
                if !r.deferredAudited {
                    r.deferredAudited = true
                    audit.record(AuditRecord(t: t, action: nil, kind: .restart, group: inst.group, instance: id, result: .deferred,
                                             gate: "backoff", from: nil, to: nil,
                                             reason: "restart \(id) in \(DurationParser.format(r.nextAttemptAt - t)): failure \(r.streak) in a row (back-off \(p.restart.backoff) doubling, cap \(p.restart.maxBackoff))",
                                             numbers: ["failures": Double(r.streak), "backoff_s": Double(r.nextAttemptAt - t) / 1000],
                                             error: nil))
                }
                return
            }
            let a = Action(id: "\(id):restart:\(inst.startedAtMillis)", kind: .restart, group: inst.group, instance: id, from: nil, to: nil,
                           host: inst.host, webhook: nil, decidedAtMillis: t,
                           reason: "restart \(id) on \(inst.host): \(inst.state.rawValue), failure \(r.streak) in a row",
                           numbers: ["failures": Double(r.streak), "backoff_s": Double(p.restart.delay(beforeRestart: r.streak)) / 1000])
            _ = await submit(a, policy: p, t: t, &report)
        case .relocate:
            guard inv.isFenced(inst) else {
                if !r.fenceRequested {
                    r.fenceRequested = true
                    let a = Action(id: "\(id):fence:\(inst.startedAtMillis)", kind: .fence, group: inst.group, instance: id, from: nil, to: nil,
                                   host: inst.host, webhook: nil, decidedAtMillis: t,
                                   reason: "stop \(id) on \(inst.host) before relocating it (\(inst.state.rawValue), not fenced)",
                                   numbers: ["failures": Double(r.streak)])
                    _ = await submit(a, policy: p, t: t, &report)
                }
                return
            }
            let used = Dictionary(grouping: inv.instances.filter { $0.state != .stopped && $0.state != .exited }, by: \.host)
                .mapValues { $0.reduce(0) { $0 + $1.vcpus } }
            let target = inv.hosts.filter { $0.state == .up && $0.isPoweredOn && $0.id != inst.host && $0.vcpus - (used[$0.id] ?? 0) >= inst.vcpus }
                .sorted { ($0.vcpus - (used[$0.id] ?? 0), $1.id) > ($1.vcpus - (used[$1.id] ?? 0), $0.id) }.first
            guard let target else {
                r.stage = .paged
                let a = Action(id: "\(id):page:\(inst.startedAtMillis)", kind: .page, group: inst.group, instance: id, from: nil, to: nil,
                               host: nil, webhook: p.restart.webhook, decidedAtMillis: t,
                               reason: "page: \(id) needs relocating but no other host is up with \(inst.vcpus) free vCPU(s)",
                               numbers: ["failures": Double(r.streak)])
                _ = await submit(a, policy: p, t: t, &report)
                return
            }
            let a = Action(id: "\(id):relocate:\(inst.startedAtMillis)", kind: .relocate, group: inst.group, instance: id, from: nil, to: nil,
                           host: target.id, webhook: nil, decidedAtMillis: t,
                           reason: "relocate \(id) \(inst.host)→\(target.id): \(hostDown ? "host \(inst.host) is down" : "failed \(r.streak) times in a row"); \(id) is fenced (\(hostDown ? "host down" : inst.state.rawValue))",
                           numbers: ["failures": Double(r.streak), "relocations": Double(r.relocations)])
            if await submit(a, policy: p, t: t, &report) {
                r.relocations += 1
                r.streak = 0
                r.stage = .restart
            }
        }
    }

    // MARK: gates common to every action, and execution

    /// Kill switch, circuit breaker, duplicate suppression, mode; then the driver. True when executed.
    private func submit(_ a: Action, policy p: GroupPolicy, t: Int64, _ report: inout StepReport) async -> Bool {
        await submit(a, mode: p.mode, t: t, &report)
    }

    /// `submit` with the mode given directly (placement actions have no group policy).
    func submit(_ a: Action, mode: PolicyMode, t: Int64, _ report: inout StepReport) async -> Bool {
        func rec(_ result: DecisionResult, gate: String? = nil, error: String? = nil) {
            audit.record(AuditRecord(t: t, action: a.id, kind: a.kind, group: a.group, instance: a.instance, result: result, gate: gate,
                                     from: a.from, to: a.to, reason: a.reason, numbers: a.numbers, error: error))
        }
        if done.contains(a.id) {
            rec(.duplicate)
            return false
        }
        if killSwitch {
            rec(.blocked, gate: "kill_switch")
            report.blocked += 1
            return false
        }
        if t < breakerOpenUntil {
            rec(.blocked, gate: "circuit_breaker")
            report.blocked += 1
            return false
        }
        switch mode {
        case .dryRun:
            rec(.dryRun)
            return false
        case .approve:
            // one queued scale action per group: a newer one supersedes it
            if a.instance == nil {
                let key = "\(a.kind.rawValue)/\(a.to ?? -1)"
                if rejectedScale[a.group] == key { return false }  // rejected; asked again once the decision changes
                rejectedScale[a.group] = nil
                for old in queueOrder where queued[old]?.group == a.group && queued[old]?.instance == nil {
                    if queued[old]?.to == a.to { return false }  // same decision already waiting
                    let o = queued.removeValue(forKey: old)!
                    audit.record(AuditRecord(t: t, action: o.id, kind: o.kind, group: o.group, instance: nil, result: .superseded, gate: nil,
                                             from: o.from, to: o.to, reason: "superseded by \(a.id)", numbers: [:], error: nil))
                    approved.removeAll { $0 == old }
                }
                queueOrder.removeAll { queued[$0] == nil }
            } else if queued[a.id] != nil {
                return false
            }
            queued[a.id] = a
            queueOrder.append(a.id)
            rec(.queued)
            return false
        case .auto:
            return await execute(a, t: t, &report, record: rec)
        }
    }

    private func execute(_ a: Action, t: Int64, _ report: inout StepReport, record: (DecisionResult, String?, String?) -> Void) async -> Bool {
        let d = driver
        let timeout = options.driverTimeoutMs
        do {
            try await withDriverTimeout(a.kind.rawValue, millis: timeout, clock: clock) { () async throws(DriverError) in
                switch a.kind {
                case .scaleOut, .scaleIn: try await d.scale(group: a.group, to: a.to ?? 0, actionID: a.id)
                case .restart: try await d.restart(instance: a.instance ?? "", actionID: a.id)
                case .fence: try await d.stop(instance: a.instance ?? "", actionID: a.id)
                case .relocate: try await d.start(instance: a.instance ?? "", on: a.host, actionID: a.id)
                case .page, .tune: break  // the record is the page (the server posts it); a tuning is applied by the engine
                case .migrate, .evacuate: try await d.migrate(instance: a.instance ?? "", to: a.host ?? "", live: true, actionID: a.id)
                case .powerOn, .powerOff: try await d.power(host: a.host ?? "", on: a.kind == .powerOn, actionID: a.id)
                }
            }
        } catch {
            record(.failed, nil, error.description)
            report.failed += 1
            if case .unsupported = error, a.group == Placement.group {
                placementState.unsupported.insert(a.kind)  // a driver without migration or power: not a backend fault
                return false
            }
            noteDriverFailure(t)
            return false
        }
        breakerFailures = 0
        done.insert(a.id)
        record(.executed, nil, nil)
        report.executed += 1
        return true
    }

    private func executeApproved(_ t: Int64, _ report: inout StepReport) async {
        guard !approved.isEmpty else { return }
        let ids = approved
        approved = []
        for id in ids {
            guard let a = queued[id], policies[a.group] != nil || a.group == Placement.group else { continue }
            if killSwitch || t < breakerOpenUntil {
                approved.append(id)  // keep it approved; try again next step
                continue
            }
            queued[id] = nil
            queueOrder.removeAll { $0 == id }
            let rec: (DecisionResult, String?, String?) -> Void = { result, gate, err in
                self.audit.record(AuditRecord(t: t, action: a.id, kind: a.kind, group: a.group, instance: a.instance, result: result,
                                              gate: gate, from: a.from, to: a.to, reason: "approved: " + a.reason, numbers: a.numbers, error: err))
            }
            if done.contains(id) { rec(.duplicate, nil, nil); continue }
            let ok = await execute(a, t: t, &report, record: rec)
            if ok, var st = groups[a.group], a.instance == nil {
                st.hpa.applied(t: t, from: a.from ?? 0, to: a.to ?? 0)
                st.lastScaleAt = t
                if a.kind == .scaleOut { st.lastScaleOutAt = t }
                st.actionTimes.append(t)
                groups[a.group] = st
            }
            if ok, a.group == Placement.group { placementExecuted(a, t: t) }
        }
    }

    private func noteDriverFailure(_ t: Int64) {
        breakerFailures += 1
        if breakerFailures >= options.breakerThreshold {
            breakerOpenUntil = t + options.breakerOpenMs
            breakerFailures = 0
        }
    }

    /// Re-executes an already executed action id through the driver path: a no-op recorded as `duplicate`
    /// (idempotency; the server's approve endpoint may be called twice).
    public func isDone(_ id: String) -> Bool { done.contains(id) }
}
