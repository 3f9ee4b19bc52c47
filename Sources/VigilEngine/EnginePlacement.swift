import Foundation
import VigilCore

/// What the engine does with the placement planner's decisions (`placement.mode`).
public enum PlacementMode: String, Sendable, Equatable, Codable, CaseIterable {
    /// No placement: nothing is planned (a `degraded` host is still evacuated by the engine's simple rule).
    case off
    /// Plan and audit every decision (`dry_run`), execute nothing.
    case dryRun = "dry-run"
    /// Queue every decision for a human (`POST /api/v1/actions/{id}/approve`).
    case approve
    /// Execute what passes the gates.
    case auto

    /// The policy mode the engine's common gate (`submit`) applies; nil for `off`.
    var policyMode: PolicyMode? {
        switch self {
        case .off: return nil
        case .dryRun: return .dryRun
        case .approve: return .approve
        case .auto: return .auto
        }
    }
}

/// One instance's CPU demand, one value a minute (the mean of that minute's observations), for the planner's
/// per-instance forecast. Causal: only what was observed up to now goes in. A gap (no observation for whole minutes)
/// holds the last value, so "a day ago" stays a day ago. Keeps a day plus the horizon plus two hours.
public struct InstanceDemandHistory: Sendable, Equatable {
    public private(set) var minutes: [Double] = []
    public private(set) var memoryGiB = 0.0
    private var minute: Int64 = .min
    private var sum = 0.0
    private var count = 0
    private let capacity: Int

    public init(horizonMinutes: Int) {
        capacity = 1440 + max(1, horizonMinutes) + 120
    }

    /// Adds an observation at `t` (ms). Earlier than the current minute: ignored (causal order).
    public mutating func observe(t: Int64, cpu: Double, memoryGiB mem: Double) {
        let m = t >= 0 ? t / 60_000 : (t - 59_999) / 60_000
        guard m >= minute, cpu.isFinite else { return }
        if m != minute {
            if count > 0 {
                let v = sum / Double(count)
                minutes.append(v)
                let gap = Int(min(Int64(capacity), m - minute - 1))
                if gap > 0 { minutes.append(contentsOf: repeatElement(v, count: gap)) }
                if minutes.count > capacity { minutes.removeFirst(minutes.count - capacity) }
            }
            minute = m
            sum = 0
            count = 0
        }
        sum += max(0, cpu)
        count += 1
        if mem.isFinite { memoryGiB = max(0, mem) }
    }

    /// The demand forecast over the next `horizonMinutes`: the point is the larger of the last 30 minutes' mean, the
    /// latest value and (with more than a day of history) yesterday's peak over the coming horizon shifted by how
    /// today differs from yesterday at this hour; the spread is the last hour's standard deviation, floored at 10 %
    /// of the point (the same rule as `vigil sim --cluster`'s per-VM forecaster).
    public func forecast(horizonMinutes: Int) -> (cpu: Double, spread: Double)? {
        var h = minutes
        if count > 0 { h.append(sum / Double(count)) }
        guard let last = h.last else { return nil }
        let r = h.suffix(30)
        let rmean = r.reduce(0, +) / Double(r.count)
        let hr = h.suffix(60)
        let m60 = hr.reduce(0, +) / Double(hr.count)
        let sd = (hr.reduce(0) { $0 + ($1 - m60) * ($1 - m60) } / Double(hr.count)).squareRoot()
        var point = max(rmean, last)
        let n = h.count
        if n > 1440 {
            let a = n - 1440, b = min(n, a + max(1, horizonMinutes))
            let ahead = h[a..<b].max() ?? 0
            let before = h[max(0, a - 30)..<a]
            let level = before.isEmpty ? ahead : before.reduce(0, +) / Double(before.count)
            point = max(point, ahead - level + rmean)
        }
        return (point, max(sd, 0.1 * point, 0.01))
    }
}

/// The engine's placement loop state (one per engine).
struct PlacementState {
    var history: [String: InstanceDemandHistory] = [:]
    /// When each instance last moved (executed migration), for hysteresis (`min_stay`).
    var lastMoved: [String: Int64] = [:]
    /// When each host's power last changed by the engine's hand.
    var lastPowerChange: [String: Int64] = [:]
    /// Hosts being emptied for power-off (the planner's own decision, carried between rounds).
    var draining: Set<String> = []
    var nextPlanAt: Int64 = .min
    /// Blocked decisions of the previous round (audited once while they persist).
    var lastHolds: Set<String> = []
    /// Dry-run decisions of the previous round (audited once while they persist).
    var lastShadow: Set<String> = []
    /// Approve mode: decisions a human rejected (not queued again while unchanged).
    var rejected: Set<String> = []
    /// Action kinds the driver said it does not support: not submitted again (the failure was audited once).
    var unsupported: Set<ActionKind> = []
}

extension Engine {
    /// Replaces the `placement:` section (config reload). The demand history, hysteresis times and draining hosts
    /// are kept; the next step plans afresh. Placement actions waiting for approval are dropped (returned so the
    /// caller can audit them) unless the new mode is still `approve`.
    @discardableResult
    public func updatePlacement(_ next: PlacementConfig?) -> [Action] {
        let changed = next != placement
        placement = next
        if changed { placementState.nextPlanAt = .min }
        guard next?.mode != .approve else { return [] }
        let dropped = queuedActions(of: Placement.group)
        for a in dropped { queued[a.id] = nil }
        if !dropped.isEmpty {
            let ids = Set(dropped.map(\.id))
            queueOrder.removeAll { ids.contains($0) }
            approved.removeAll { ids.contains($0) }
        }
        if next == nil || next?.mode == .off { placementState.draining = [] }
        return dropped
    }

    /// The demand history the planner forecasts an instance from (tests, introspection).
    public func demandHistory(of instance: String) -> InstanceDemandHistory? { placementState.history[instance] }

    static func placementKey(_ a: Action) -> String { "\(a.kind.rawValue)/\(a.instance ?? "")/\(a.host ?? "")" }

    /// Bookkeeping after a placement action executed (now or after approval).
    func placementExecuted(_ a: Action, t: Int64) {
        switch a.kind {
        case .migrate, .evacuate:
            if let i = a.instance { placementState.lastMoved[i] = t }
        case .powerOn, .powerOff:
            if let h = a.host {
                placementState.lastPowerChange[h] = t
                if a.kind == .powerOff { placementState.draining.remove(h) }
            }
        default: break
        }
    }

    /// The failure probability the planner sees for a host.
    static func risk(_ h: HostInfo) -> Double {
        if let p = h.failureProbability, p.isFinite { return min(1, max(0, p)) }
        return h.state == .degraded ? 1 : 0
    }

    /// Whether an instance occupies its host's capacity.
    static func occupies(_ i: InstanceInfo) -> Bool {
        switch i.state {
        case .running, .starting, .unhealthy, .unknown: return true
        case .exited, .stopped: return false
        }
    }

    /// Placement, once per `placement.interval` (and every step while a host is at risk: evacuation does not wait):
    /// every instance's demand goes into its history (every step, whatever else happens); the planner
    /// (`Placement.plan`) gets the hosts and instances with their forecasts; its moves and power changes go through
    /// the engine's common gates (kill switch, circuit breaker, duplicate ids, mode) as `migrate`, `evacuate`,
    /// `power_on` and `power_off` actions of the group `placement`, with the planner's reason. Nothing is planned
    /// while the engine's mass-failure brake holds.
    func placementStep(t: Int64, obs: Observation, _ report: inout StepReport) async {
        guard let cfg = placement, let mode = cfg.mode.policyMode else { return }
        var inv = obs.inventory
        let horizonMin = Int(max(1, cfg.horizon.millis / 60_000))
        var ready: [String: Int] = [:]
        for i in inv.instances where i.state == .running { ready[i.group, default: 0] += 1 }
        func cpuNow(_ i: InstanceInfo) -> Double {
            if let c = i.cpu, c.isFinite { return max(0, c) }
            guard i.state == .running else { return 0 }
            let share = (obs.groups[i.group]?.load ?? 0) / Double(max(1, ready[i.group] ?? 0))
            return min(1, max(0, share)) * Double(max(1, i.vcpus))
        }
        // 1. demand history (causal: what is observed now, appended after everything before it)
        var seen = Set<String>()
        for i in inv.instances where Self.occupies(i) {
            seen.insert(i.id)
            placementState.history[i.id, default: InstanceDemandHistory(horizonMinutes: horizonMin)]
                .observe(t: t, cpu: cpuNow(i), memoryGiB: i.memoryGiB ?? 0)
        }
        if placementState.history.count > seen.count {
            placementState.history = placementState.history.filter { seen.contains($0.key) }
            placementState.lastMoved = placementState.lastMoved.filter { seen.contains($0.key) }
        }
        // 2. when to plan
        if brakePaged { return }
        let atRisk = inv.hosts.contains {
            Self.risk($0) >= cfg.failureProbability && ($0.state == .up || $0.state == .degraded) && $0.isPoweredOn
        }
        guard t >= placementState.nextPlanAt || atRisk else { return }
        if t >= placementState.nextPlanAt { placementState.nextPlanAt = t + cfg.interval.millis }
        if report.executed > 0 {
            // this step already changed the world (a scale-in removed instances, a relocation moved one): plan on
            // what is there now, not on the observation from before
            let d = driver
            do {
                inv = try await withDriverTimeout("inventory", millis: options.driverTimeoutMs, clock: clock) { () async throws(DriverError) in
                    try await d.inventory()
                }
            } catch {
                placementState.nextPlanAt = .min  // planned again at the next step
                return
            }
        }
        let hosts = inv.hosts.sorted { $0.id < $1.id }

        // 3. the planner's view; actions waiting for approval count as under way
        var index: [String: Int] = [:]
        for (k, h) in hosts.enumerated() { index[h.id] = k }
        var queuedMove: [String: String] = [:]
        var queuedPower: [String: Bool] = [:]
        for a in queuedActions(of: Placement.group) {
            switch a.kind {
            case .migrate, .evacuate: if let i = a.instance, let h = a.host { queuedMove[i] = h }
            case .powerOn, .powerOff: if let h = a.host { queuedPower[h] = a.kind == .powerOn }
            default: break
            }
        }
        let pHosts = hosts.map { h -> PlacementHost in
            var power = h.power ?? .on
            if let on = queuedPower[h.id] { power = on ? .booting : .shuttingDown }
            return PlacementHost(id: h.id, cores: Double(h.vcpus), memoryGiB: Double(h.memoryMiB) / 1024, power: power,
                                 state: h.state, failureProbability: Self.risk(h),
                                 draining: placementState.draining.contains(h.id),
                                 lastPowerChangeMillis: placementState.lastPowerChange[h.id])
        }
        var vms: [PlacementVM] = []
        for i in inv.instances.sorted(by: { $0.id < $1.id }) where Self.occupies(i) {
            guard let h = index[i.host] else { continue }
            let movable = (i.state == .running || i.state == .starting)
            // an instance that is failing or unreachable stays where it is (remediation owns it); on a host being
            // evacuated it is left out (it would only ask for capacity it cannot use)
            if !movable && pHosts[h].failureProbability >= cfg.failureProbability { continue }
            let now = cpuNow(i)
            let f = placementState.history[i.id]?.forecast(horizonMinutes: horizonMin) ?? (cpu: now, spread: max(0.1 * now, 0.01))
            let target = (i.migratingTo ?? queuedMove[i.id]).flatMap { index[$0] }
            vms.append(PlacementVM(id: i.id, host: h, migratingTo: target == h ? nil : target, cpu: f.cpu, cpuSpread: f.spread,
                                   memoryGiB: max(i.memoryGiB ?? 0, placementState.history[i.id]?.memoryGiB ?? 0),
                                   allowedHosts: movable ? nil : [],
                                   lastMovedMillis: movable ? placementState.lastMoved[i.id] : t))
        }
        let plan = Placement.plan(hosts: pHosts, vms: vms, config: cfg, nowMillis: t)

        // 4. the plan through the gates
        for h in plan.drain { placementState.draining.insert(hosts[h].id) }
        for h in plan.undrain { placementState.draining.remove(hosts[h].id) }
        var holds = Set<String>()
        for r in plan.blocked {
            let key = "\(r.kind.rawValue)/\(r.instance ?? "")/\(r.gate ?? "")"
            holds.insert(key)
            if !placementState.lastHolds.contains(key) {
                audit.record(r)
                report.blocked += 1
            }
        }
        placementState.lastHolds = holds
        var shadow = Set<String>()
        var actions: [Action] = []
        for m in plan.moves {
            let vm = vms[m.vm]
            let kind: ActionKind = m.reason == .evacuate ? .evacuate : .migrate
            var numbers = m.record.numbers
            numbers["estimated_seconds"] = m.estimatedSeconds
            actions.append(Action(id: "placement:\(kind.rawValue):\(vm.id):\(t)", kind: kind, group: Placement.group, instance: vm.id,
                                  from: nil, to: nil, host: hosts[m.to].id, webhook: nil, decidedAtMillis: t,
                                  reason: m.record.reason, numbers: numbers))
        }
        for p in plan.power {
            let kind: ActionKind = p.on ? .powerOn : .powerOff
            let h = hosts[p.host].id
            actions.append(Action(id: "placement:\(kind.rawValue):\(h):\(t)", kind: kind, group: Placement.group, instance: h,
                                  from: nil, to: nil, host: h, webhook: nil, decidedAtMillis: t, reason: p.record.reason,
                                  numbers: p.record.numbers))
        }
        for a in actions {
            if placementState.unsupported.contains(a.kind) { continue }
            let key = Self.placementKey(a)
            switch mode {
            case .dryRun:
                // shadow mode: nothing changes, so the same decision comes back every round; audited once
                shadow.insert(key)
                if placementState.lastShadow.contains(key) { continue }
            case .approve:
                if placementState.rejected.contains(key) { continue }
            case .auto:
                break
            }
            if await submit(a, mode: mode, t: t, &report) { placementExecuted(a, t: t) }
        }
        placementState.lastShadow = shadow
    }

    /// Queued actions of `group`, oldest first.
    func queuedActions(of group: String) -> [Action] { pendingApprovals.filter { $0.group == group } }
}
