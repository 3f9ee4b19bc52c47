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
/// holds the last value, so "a day ago" stays a day ago. Keeps a day plus the horizon plus two hours of minutes (or
/// the recent-peak window, if longer), and, for the seasonal peak, 10-minute maxima over `seasonalDays` days.
public struct InstanceDemandHistory: Sendable, Equatable {
    public private(set) var minutes: [Double] = []
    public private(set) var memoryGiB = 0.0
    /// 10-minute maxima of the finished minutes: `coarse.last` covers absolute minutes [coarseEnd·10, coarseEnd·10+10).
    public private(set) var coarse: [Double] = []
    private var coarseEnd: Int64 = .min
    private var minute: Int64 = .min
    private var sum = 0.0
    private var count = 0
    private let capacity: Int
    private let coarseCapacity: Int
    private let horizon: Int
    private let peakMinutes: Int
    private let seasonalDays: Int
    private let seasonalWindow: Int
    private let trendMinutes: Int

    /// `recentPeakMinutes`: the forecast is at least the peak of this many past minutes (0 = off); `seasonalDays`,
    /// `seasonalWindowMinutes`: and at least the peak at the same time of day on each of that many previous days, over
    /// the coming horizon widened by the window on both sides (0 days = off). `horizon + window` must stay under a
    /// day (the window of "yesterday" then ends before now).
    /// `trendMinutes`: a rise over the last 5 minutes is extrapolated this far ahead (0 = off).
    public init(horizonMinutes: Int, recentPeakMinutes: Int = 0, seasonalDays: Int = 0, seasonalWindowMinutes: Int = 0,
                trendMinutes: Int = 0) {
        horizon = max(1, horizonMinutes)
        self.trendMinutes = max(0, trendMinutes)
        peakMinutes = max(0, recentPeakMinutes)
        seasonalWindow = max(0, seasonalWindowMinutes)
        self.seasonalDays = horizon + seasonalWindow < 1440 ? max(0, seasonalDays) : 0
        capacity = max(1440 + horizon + 120, peakMinutes + 1)
        coarseCapacity = self.seasonalDays > 0 ? (self.seasonalDays * 1440 + seasonalWindow) / 10 + 2 : 0
    }

    /// The history the planner keeps for `config` (its horizon, `peak_window`, `seasonal_days`, `seasonal_window`).
    public init(config: PlacementConfig) {
        self.init(horizonMinutes: Int(max(1, config.horizon.millis / 60_000)),
                  recentPeakMinutes: Int(config.peakWindow.millis / 60_000),
                  seasonalDays: config.seasonalDays, seasonalWindowMinutes: Int(config.seasonalWindow.millis / 60_000),
                  trendMinutes: Int(config.trendLead.millis / 60_000))
    }

    /// The same history under another configuration (a reload changed the horizon or the forecast's windows): the
    /// minutes it holds are replayed, so the seasonal peak sees at most the last day and a bit until it fills again.
    public init(config: PlacementConfig, from old: InstanceDemandHistory) {
        self.init(config: config)
        guard old.minute != .min else { return }
        let first = old.minute - Int64(old.minutes.count)
        for (i, v) in old.minutes.enumerated() { push(first + Int64(i), v) }
        if minutes.count > capacity { minutes.removeFirst(minutes.count - capacity) }
        if coarse.count > coarseCapacity { coarse.removeFirst(coarse.count - coarseCapacity) }
        minute = old.minute
        sum = old.sum
        count = old.count
        memoryGiB = old.memoryGiB
    }

    /// Adds an observation at `t` (ms). Earlier than the current minute: ignored (causal order).
    public mutating func observe(t: Int64, cpu: Double, memoryGiB mem: Double) {
        let m = t >= 0 ? t / 60_000 : (t - 59_999) / 60_000
        guard m >= minute, cpu.isFinite else { return }
        if m != minute {
            if count > 0 {
                let v = sum / Double(count)
                push(minute, v)
                let gap = m - minute - 1
                if gap > 0 {
                    let keep = Int64(max(capacity, coarseCapacity * 10))
                    for k in max(minute + 1, m - keep)..<m { push(k, v) }
                }
                if minutes.count > capacity { minutes.removeFirst(minutes.count - capacity) }
                if coarse.count > coarseCapacity { coarse.removeFirst(coarse.count - coarseCapacity) }
            }
            minute = m
            sum = 0
            count = 0
        }
        sum += max(0, cpu)
        count += 1
        if mem.isFinite { memoryGiB = max(0, mem) }
    }

    private mutating func push(_ m: Int64, _ v: Double) {
        minutes.append(v)
        guard coarseCapacity > 0 else { return }
        let b = m >= 0 ? m / 10 : (m - 9) / 10
        if b == coarseEnd, !coarse.isEmpty {
            coarse[coarse.count - 1] = max(coarse[coarse.count - 1], v)
        } else if b > coarseEnd || coarse.isEmpty {
            if !coarse.isEmpty, b > coarseEnd + 1 {  // whole empty buckets (cannot happen with held gaps; kept safe)
                coarse.append(contentsOf: repeatElement(coarse[coarse.count - 1], count: Int(min(Int64(coarseCapacity), b - coarseEnd - 1))))
            }
            coarse.append(v)
            coarseEnd = b
        }
    }

    /// The largest 10-minute maximum over absolute minutes [lo, hi) among the finished buckets before `before`.
    private func coarseMax(_ lo: Int64, _ hi: Int64) -> Double? {
        guard !coarse.isEmpty, hi > lo else { return nil }
        let bLo = lo >= 0 ? lo / 10 : (lo - 9) / 10, bHi = (hi - 1) >= 0 ? (hi - 1) / 10 : (hi - 10) / 10
        let start = coarseEnd - Int64(coarse.count) + 1
        let a = max(bLo, start), b = min(bHi, coarseEnd)
        guard a <= b else { return nil }
        var best = -Double.infinity
        for k in a...b { best = max(best, coarse[Int(k - start)]) }
        return best
    }

    /// The demand forecast over the next `horizonMinutes` (the horizon given at init for the seasonal window): the
    /// point is the largest of the last 30 minutes' mean, the latest value, (with more than a day of history)
    /// yesterday's peak over the coming horizon shifted by how today differs from yesterday at this hour, the peak of
    /// the last `recentPeakMinutes`, the latest value plus the last 5 minutes' rise extrapolated `trendMinutes`
    /// ahead, and the seasonal peak (the same time of day on each of the previous
    /// `seasonalDays` days, over the horizon widened by the window); the spread is the last hour's standard
    /// deviation, floored at 10 % of the point. `vigil sim --cluster` forecasts its VMs with this same type.
    public func forecast(horizonMinutes: Int) -> (cpu: Double, spread: Double)? {
        let cur: Double? = count > 0 ? sum / Double(count) : nil
        let n = minutes.count + (cur == nil ? 0 : 1)
        guard n > 0 else { return nil }
        @inline(__always) func at(_ i: Int) -> Double { i < minutes.count ? minutes[i] : cur! }
        let last = at(n - 1)
        var s30 = 0.0
        for i in max(0, n - 30)..<n { s30 += at(i) }
        let rmean = s30 / Double(min(30, n))
        let k60 = min(60, n)
        var s60 = 0.0
        for i in (n - k60)..<n { s60 += at(i) }
        let m60 = s60 / Double(k60)
        var v60 = 0.0
        for i in (n - k60)..<n { let d = at(i) - m60; v60 += d * d }
        let sd = (v60 / Double(k60)).squareRoot()
        var point = max(rmean, last)
        if n > 1440 {
            let a = n - 1440, b = min(n, a + max(1, horizonMinutes))
            var ahead = 0.0
            for i in a..<b { ahead = max(ahead, at(i)) }
            let lo = max(0, a - 30)
            var sb = 0.0
            for i in lo..<a { sb += at(i) }
            let level = a > lo ? sb / Double(a - lo) : ahead
            point = max(point, ahead - level + rmean)
        }
        if peakMinutes > 0 {
            for i in max(0, n - peakMinutes)..<n { point = max(point, at(i)) }
        }
        if trendMinutes > 0 && n > 5 {
            let rise = last - at(n - 6)
            if rise > 0 { point = max(point, last + rise / 5 * Double(trendMinutes)) }
        }
        if seasonalDays > 0 {
            let now = cur == nil ? minute + 1 : minute  // the minute being forecast from
            for d in 1...seasonalDays {
                let lo = now - Int64(d * 1440 + seasonalWindow), hi = now - Int64(d * 1440) + Int64(horizon + seasonalWindow)
                if let p = coarseMax(lo, min(hi, now)) { point = max(point, p) }
            }
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
        if let n = next, let p = placement, n.horizon != p.horizon || n.peakWindow != p.peakWindow
            || n.seasonalDays != p.seasonalDays || n.seasonalWindow != p.seasonalWindow || n.trendLead != p.trendLead {
            placementState.history = placementState.history.mapValues { InstanceDemandHistory(config: n, from: $0) }
        }
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

    /// Placement, once per `placement.interval` (and every step while a host is at risk: evacuation does not wait; and
    /// every step while a powered host's CPU demand now exceeds `ceiling`: balance and growth, no consolidation):
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
            placementState.history[i.id, default: InstanceDemandHistory(config: cfg)]
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
        // a powered host whose CPU demand now is over its ceiling: balance (and power on) now, without consolidating
        var demandNow: [String: Double] = [:]
        for i in inv.instances where Self.occupies(i) { demandNow[i.host, default: 0] += cpuNow(i) }
        let hot = inv.hosts.contains { h in
            h.isPoweredOn && (demandNow[h.id] ?? 0) > cfg.ceiling * Double(h.vcpus)
        }
        guard t >= placementState.nextPlanAt || atRisk || hot else { return }
        var roundCfg = cfg
        if t >= placementState.nextPlanAt { placementState.nextPlanAt = t + cfg.interval.millis } else if !atRisk { roundCfg.consolidate = false }
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
        let plan = Placement.plan(hosts: pHosts, vms: vms, config: roundCfg, nowMillis: t)

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
