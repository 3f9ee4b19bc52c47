import Foundation
import VigilCore

/// The `placement:` section of `vigil.yml` (docs/configuration.md, docs/engine.md): how the placement planner
/// balances, consolidates and evacuates hosts. Every key is optional; unknown keys are refused by the config decoder.
public struct PlacementConfig: Sendable, Equatable, Codable {
    /// What the engine (`vigil daemon`, `vigil serve --with-daemon`) does with the planner's decisions: `off`,
    /// `dry-run` (audit only, the default once the section is present), `approve` (queue for a human) or `auto`.
    /// `vigil sim --cluster` always executes its plans and ignores it.
    public var mode = PlacementMode.dryRun
    /// A host's forecast CPU demand (its VMs' upper quantile over `horizon`) may reach this fraction of its cores.
    public var ceiling = 0.9
    /// A host's memory demand may reach this fraction of its memory.
    public var memoryCeiling = 0.95
    /// How far ahead the VMs' demand is forecast; at least a host's boot time, so hosts power on ahead of growth.
    public var horizon = PolicyDuration(millis: 30 * 60_000)
    /// Each VM's forecast is at least the peak of its demand over this past window (0 = off): demand that jumped
    /// recently is likely to jump again, so hosts keep room for it instead of packing on a lull.
    public var peakWindow = PolicyDuration(millis: 3 * 3_600_000)
    /// And at least its peak at the same time of day on each of this many previous days (0 = off), over the coming
    /// horizon widened by `seasonal_window` on both sides (batch jobs at fixed hours).
    public var seasonalDays = 0
    public var seasonalWindow = PolicyDuration(millis: 30 * 60_000)
    /// And at least its latest value plus its rise over the last 5 minutes extrapolated this far ahead (0 = off):
    /// a ramp is met before it arrives (hosts boot, VMs move while there is room).
    public var trendLead = PolicyDuration(millis: 0)
    /// The quantile of a host's summed demand that must stay under the ceiling (VM forecasts combine as
    /// Σ point + z·√Σ spread², z of this quantile: independent errors partly cancel on a host).
    public var quantile = 0.95
    /// Free capacity kept on powered-on (or booting) hosts beyond the forecast: at least `spare_hosts` hosts' worth
    /// (the largest host's cores and memory at the ceiling) and at least `spare_fraction` of the forecast demand.
    /// Consolidation never goes below it, and hosts power on to restore it (`spare_hosts: 1` keeps N+1).
    public var spareHosts = 0
    public var spareFraction = 0.1
    /// Hysteresis between powering on and off: a host is drained only when, without it, the free capacity beyond the
    /// spare is still at least this fraction of its cores and memory at the ceiling.
    public var consolidateMargin = 0.5
    /// Migrations at once into or out of one host.
    public var maxMigrationsPerHost = 2
    /// Migrations at once in the whole cluster.
    public var maxMigrations = 8
    /// Evacuate a host whose failure probability (within its model's horizon) reaches this.
    public var failureProbability = 0.5
    /// When a VM of a host at risk fits on no healthy host under `ceiling` / `memory_ceiling` and no host is left to
    /// power on, evacuation may fill a target up to this fraction of its cores (forecast) and memory: a VM running
    /// hot is better than a VM lost with its host. Balancing relieves the target later. Set it to `ceiling` to
    /// turn the fallback off.
    public var evacuationCeiling = 1.0
    /// Mass-failure brake: when more than this fraction of powered-on hosts (and more than one) are at risk at once,
    /// evacuate none and audit the brake (the signal is more likely broken than the hosts).
    public var brakeFraction = 0.25
    /// Hysteresis: a VM moved (or a host powered on or off) less than this ago is not moved (powered) again for
    /// balance or consolidation; evacuation ignores it.
    public var minStay = PolicyDuration(millis: 60 * 60_000)
    /// Drain and power off hosts the forecast does not need (DPM-style).
    public var consolidate = true
    /// Live-migration bandwidth the cost estimate assumes (GiB/s), and the pre-copy overhead factor (dirty pages
    /// re-sent): a move costs `setup + factor × memory / bandwidth` seconds.
    public var migrationBandwidthGiBps = 1.0
    public var dirtyPageFactor = 1.3
    /// How often the planner runs.
    public var interval = PolicyDuration(millis: 5 * 60_000)

    public init() {}

    enum CodingKeys: String, CodingKey {
        case peakWindow = "peak_window", seasonalDays = "seasonal_days", seasonalWindow = "seasonal_window", trendLead = "trend_lead"
        case mode, ceiling, memoryCeiling = "memory_ceiling", horizon, quantile, spareHosts = "spare_hosts", spareFraction = "spare_fraction"
        case consolidateMargin = "consolidate_margin"
        case maxMigrationsPerHost = "max_migrations_per_host", maxMigrations = "max_migrations"
        case failureProbability = "failure_probability", evacuationCeiling = "evacuation_ceiling", brakeFraction = "brake_fraction", minStay = "min_stay"
        case consolidate, migrationBandwidthGiBps = "migration_bandwidth_gib_per_s", dirtyPageFactor = "dirty_page_factor"
        case interval
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = PlacementConfig()
        func frac(_ k: CodingKeys, _ def: Double, _ lo: Double, _ hi: Double, open: Bool = true) throws -> Double {
            let v = try c.decodeIfPresent(Double.self, forKey: k) ?? def
            guard v.isFinite, open ? (v > lo && v <= hi) : (v >= lo && v <= hi) else {
                throw DecodingError.dataCorruptedError(forKey: k, in: c, debugDescription:
                    "\(k.rawValue) must be in \(open ? "(" : "[")\(lo), \(hi)], got \(v)")
            }
            return v
        }
        func count(_ k: CodingKeys, _ def: Int, min: Int) throws -> Int {
            let v = try c.decodeIfPresent(Int.self, forKey: k) ?? def
            guard v >= min else {
                throw DecodingError.dataCorruptedError(forKey: k, in: c, debugDescription: "\(k.rawValue) must be ≥ \(min), got \(v)")
            }
            return v
        }
        if let m = try c.decodeIfPresent(String.self, forKey: .mode) {
            guard let v = PlacementMode(rawValue: m) else {
                throw DecodingError.dataCorruptedError(forKey: .mode, in: c, debugDescription:
                    "mode must be one of off, dry-run, approve, auto; got \"\(m)\"")
            }
            mode = v
        }
        ceiling = try frac(.ceiling, d.ceiling, 0, 1)
        memoryCeiling = try frac(.memoryCeiling, d.memoryCeiling, 0, 1)
        horizon = try c.decodeIfPresent(PolicyDuration.self, forKey: .horizon) ?? d.horizon
        peakWindow = try c.decodeIfPresent(PolicyDuration.self, forKey: .peakWindow) ?? d.peakWindow
        seasonalDays = try count(.seasonalDays, d.seasonalDays, min: 0)
        seasonalWindow = try c.decodeIfPresent(PolicyDuration.self, forKey: .seasonalWindow) ?? d.seasonalWindow
        trendLead = try c.decodeIfPresent(PolicyDuration.self, forKey: .trendLead) ?? d.trendLead
        guard trendLead.millis <= 86_400_000 else {
            throw DecodingError.dataCorruptedError(forKey: .trendLead, in: c, debugDescription: "trend_lead must be at most 1d, got \(trendLead)")
        }
        guard peakWindow.millis <= 7 * 86_400_000 else {
            throw DecodingError.dataCorruptedError(forKey: .peakWindow, in: c, debugDescription: "peak_window must be at most 7d, got \(peakWindow)")
        }
        guard seasonalDays <= 28 else {
            throw DecodingError.dataCorruptedError(forKey: .seasonalDays, in: c, debugDescription: "seasonal_days must be at most 28, got \(seasonalDays)")
        }
        quantile = try frac(.quantile, d.quantile, 0.5, 0.9999, open: false)
        spareHosts = try count(.spareHosts, d.spareHosts, min: 0)
        spareFraction = try frac(.spareFraction, d.spareFraction, 0, 10, open: false)
        consolidateMargin = try frac(.consolidateMargin, d.consolidateMargin, 0, 10, open: false)
        maxMigrationsPerHost = try count(.maxMigrationsPerHost, d.maxMigrationsPerHost, min: 1)
        maxMigrations = try count(.maxMigrations, d.maxMigrations, min: 1)
        failureProbability = try frac(.failureProbability, d.failureProbability, 0, 1)
        evacuationCeiling = try frac(.evacuationCeiling, d.evacuationCeiling, 0, 1)
        brakeFraction = try frac(.brakeFraction, d.brakeFraction, 0, 1)
        minStay = try c.decodeIfPresent(PolicyDuration.self, forKey: .minStay) ?? d.minStay
        consolidate = try c.decodeIfPresent(Bool.self, forKey: .consolidate) ?? d.consolidate
        migrationBandwidthGiBps = try frac(.migrationBandwidthGiBps, d.migrationBandwidthGiBps, 0, 1000)
        dirtyPageFactor = try frac(.dirtyPageFactor, d.dirtyPageFactor, 1, 10, open: false)
        interval = try c.decodeIfPresent(PolicyDuration.self, forKey: .interval) ?? d.interval
        guard interval.millis > 0 else {
            throw DecodingError.dataCorruptedError(forKey: .interval, in: c, debugDescription: "interval must be > 0")
        }
        guard seasonalDays == 0 || horizon.millis + seasonalWindow.millis < 86_400_000 else {
            throw DecodingError.dataCorruptedError(forKey: .seasonalWindow, in: c, debugDescription:
                "horizon (\(horizon)) + seasonal_window (\(seasonalWindow)) must be under a day (the same hour yesterday must be in the past)")
        }
        guard horizon.millis >= interval.millis else {
            throw DecodingError.dataCorruptedError(forKey: .horizon, in: c, debugDescription:
                "horizon (\(horizon)) must be at least the interval (\(interval))")
        }
    }

    /// Estimated live-migration time of a VM with `memoryGiB` of memory (s): 2 s setup plus pre-copy.
    public func migrationSeconds(memoryGiB: Double) -> Double {
        2 + dirtyPageFactor * memoryGiB / migrationBandwidthGiBps
    }
}

/// A host as the planner sees it.
public struct PlacementHost: Sendable, Equatable {
    public enum Power: String, Sendable, Codable { case on, off, booting, shuttingDown = "shutting_down" }
    public var id: String
    public var cores: Double
    public var memoryGiB: Double
    public var power: Power
    public var state: HostInfo.State
    /// The failure model's probability that this host fails within its horizon (0 when unknown).
    public var failureProbability: Double
    /// Being emptied for power-off (the planner's own earlier decision, kept by the caller).
    public var draining: Bool
    /// When its power state last changed (ms), for hysteresis.
    public var lastPowerChangeMillis: Int64?

    public init(id: String, cores: Double, memoryGiB: Double, power: Power = .on, state: HostInfo.State = .up,
                failureProbability: Double = 0, draining: Bool = false, lastPowerChangeMillis: Int64? = nil) {
        self.id = id
        self.cores = cores
        self.memoryGiB = memoryGiB
        self.power = power
        self.state = state
        self.failureProbability = failureProbability
        self.draining = draining
        self.lastPowerChangeMillis = lastPowerChangeMillis
    }
}

/// A VM as the planner sees it: where it runs and its forecast demand over the horizon.
public struct PlacementVM: Sendable, Equatable {
    public var id: String
    /// Index into the hosts array; nil when not placed (not started, or lost with a failed host).
    public var host: Int?
    /// Target host index of a live migration in progress (its load is counted there).
    public var migratingTo: Int?
    /// Forecast CPU demand over the horizon (cores): the point forecast's peak.
    public var cpu: Double
    /// Spread of that forecast's error (cores, one standard deviation).
    public var cpuSpread: Double
    public var memoryGiB: Double
    /// VMs sharing this key must run on different hosts (VM–VM anti-affinity).
    public var antiAffinity: String?
    /// When set, the VM may only run on these host indices (VM–host affinity, a DRS "must run on" rule).
    public var allowedHosts: Set<Int>?
    /// When it last moved (ms), for hysteresis.
    public var lastMovedMillis: Int64?

    public init(id: String, host: Int?, migratingTo: Int? = nil, cpu: Double, cpuSpread: Double = 0, memoryGiB: Double,
                antiAffinity: String? = nil, allowedHosts: Set<Int>? = nil, lastMovedMillis: Int64? = nil) {
        self.id = id
        self.host = host
        self.migratingTo = migratingTo
        self.cpu = cpu
        self.cpuSpread = cpuSpread
        self.memoryGiB = memoryGiB
        self.antiAffinity = antiAffinity
        self.allowedHosts = allowedHosts
        self.lastMovedMillis = lastMovedMillis
    }
}

/// Why a move or power action was planned.
public enum PlacementReason: String, Sendable, Equatable, Codable {
    case balance, consolidate, evacuate, growth, spare
}

public struct PlacementMove: Sendable, Equatable {
    public var vm: Int
    public var from: Int
    public var to: Int
    public var reason: PlacementReason
    public var estimatedSeconds: Double
    public var record: AuditRecord
}

public struct PlacementPower: Sendable, Equatable {
    public var host: Int
    public var on: Bool
    public var reason: PlacementReason
    public var record: AuditRecord
}

/// One planning round's result: moves and power actions (each with its audit record, result `executed` until the
/// caller says otherwise), hosts to start or stop draining, and the decisions a gate held back.
public struct PlacementPlan: Sendable, Equatable {
    public var moves: [PlacementMove] = []
    public var power: [PlacementPower] = []
    public var drain: [Int] = []
    public var undrain: [Int] = []
    public var blocked: [AuditRecord] = []

    public init() {}
}

/// The placement planner: a pure, deterministic function from hosts, VMs (with their forecasts), the policy and the
/// time to a plan. Order of concerns: evacuate hosts at risk, relieve hosts forecast over their ceiling, power on
/// ahead of forecast growth (spare capacity), then consolidate (drain one host at a time, power off empty ones).
/// Every move respects capacity (CPU quantile and memory under their ceilings on the target, over the horizon),
/// VM–VM anti-affinity and VM–host affinity, the per-host and cluster-wide migration caps, and hysteresis.
/// Cost: O(VMs + hosts) to build the state, O(hosts) per candidate move.
public enum Placement {
    public static let group = "placement"

    public static func plan(hosts: [PlacementHost], vms: [PlacementVM], config: PlacementConfig, nowMillis: Int64) -> PlacementPlan {
        var p = Planner(hosts: hosts, vms: vms, config: config, now: nowMillis)
        p.run()
        return p.plan
    }

    /// The standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9).
    public static func normalQuantile(_ p: Double) -> Double {
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        let pl = 0.02425
        if p <= 0 { return -.infinity }
        if p >= 1 { return .infinity }
        if p < pl {
            let q = (-2 * log(p)).squareRoot()
            return (((((c[0]*q+c[1])*q+c[2])*q+c[3])*q+c[4])*q+c[5]) / ((((d[0]*q+d[1])*q+d[2])*q+d[3])*q+1)
        }
        if p > 1 - pl {
            let q = (-2 * log(1 - p)).squareRoot()
            return -(((((c[0]*q+c[1])*q+c[2])*q+c[3])*q+c[4])*q+c[5]) / ((((d[0]*q+d[1])*q+d[2])*q+d[3])*q+1)
        }
        let q = p - 0.5, r = q * q
        return (((((a[0]*r+a[1])*r+a[2])*r+a[3])*r+a[4])*r+a[5])*q / (((((b[0]*r+b[1])*r+b[2])*r+b[3])*r+b[4])*r+1)
    }
}

private struct Planner {
    let hosts: [PlacementHost]
    var vms: [PlacementVM]
    let cfg: PlacementConfig
    let now: Int64
    let z: Double
    var plan = PlacementPlan()

    // per-host state (forecast load includes incoming, excludes outgoing migrations)
    var mean: [Double]
    var variance: [Double]
    var mem: [Double]
    var members: [[Int]]
    var anti: [[String: Int]]
    var inflight: [Int]
    var clusterInflight = 0
    var draining: [Bool]
    var atRisk: [Bool]
    var power: [PlacementHost.Power]
    /// VMs moved in this plan (never twice in one round).
    var moved: Set<Int> = []
    let maxCores: Double
    let maxMem: Double

    init(hosts: [PlacementHost], vms: [PlacementVM], config: PlacementConfig, now: Int64) {
        self.hosts = hosts
        self.vms = vms
        cfg = config
        self.now = now
        z = max(0, Placement.normalQuantile(config.quantile))
        let n = hosts.count
        mean = .init(repeating: 0, count: n)
        variance = .init(repeating: 0, count: n)
        mem = .init(repeating: 0, count: n)
        members = .init(repeating: [], count: n)
        anti = .init(repeating: [:], count: n)
        inflight = .init(repeating: 0, count: n)
        draining = hosts.map(\.draining)
        power = hosts.map(\.power)
        atRisk = hosts.map { $0.failureProbability >= config.failureProbability && ($0.state == .up || $0.state == .degraded) && ($0.power == .on || $0.power == .booting) }
        maxCores = hosts.map(\.cores).max() ?? 0
        maxMem = hosts.map(\.memoryGiB).max() ?? 0
        for (i, v) in vms.enumerated() {
            guard let h = v.migratingTo ?? v.host, h >= 0, h < n else { continue }
            mean[h] += v.cpu
            variance[h] += v.cpuSpread * v.cpuSpread
            mem[h] += v.memoryGiB
            members[h].append(i)
            if let k = v.antiAffinity { anti[h][k, default: 0] += 1 }
            if let t = v.migratingTo, let s = v.host, s >= 0, s < n {
                inflight[t] += 1
                inflight[s] += 1
                clusterInflight += 1
            }
        }
    }

    func forecast(_ h: Int) -> Double { mean[h] + z * variance[h].squareRoot() }
    func cap(_ h: Int) -> Double { cfg.ceiling * hosts[h].cores }
    func memCap(_ h: Int) -> Double { cfg.memoryCeiling * hosts[h].memoryGiB }
    func healthy(_ h: Int) -> Bool { hosts[h].state == .up && !atRisk[h] }
    /// Takes new VMs now.
    func target(_ h: Int) -> Bool { power[h] == .on && healthy(h) && !draining[h] }
    /// Counts as capacity within the horizon (on or booting, healthy, not draining).
    func capacityHost(_ h: Int) -> Bool { (power[h] == .on || power[h] == .booting) && healthy(h) && !draining[h] }
    func overloaded(_ h: Int) -> Bool { forecast(h) > cap(h) + 1e-9 || mem[h] > memCap(h) + 1e-9 }

    func forecastWith(_ h: Int, _ v: Int) -> Double {
        mean[h] + vms[v].cpu + z * (variance[h] + vms[v].cpuSpread * vms[v].cpuSpread).squareRoot()
    }
    func forecastWithout(_ h: Int, _ v: Int) -> Double {
        mean[h] - vms[v].cpu + z * max(0, variance[h] - vms[v].cpuSpread * vms[v].cpuSpread).squareRoot()
    }

    /// `v` may move to `h`: a healthy target, (anti-)affinity kept, its memory and CPU forecast under the ceilings
    /// (under `evacuation_ceiling` of the host's capacity for an evacuation's last resort).
    func fits(_ v: Int, _ h: Int, lastResort: Bool = false) -> Bool {
        let vm = vms[v]
        guard target(h), h != vm.host else { return false }
        if let a = vm.allowedHosts, !a.contains(h) { return false }
        if let k = vm.antiAffinity, anti[h][k, default: 0] > 0 { return false }
        let memLimit = lastResort ? max(memCap(h), cfg.evacuationCeiling * hosts[h].memoryGiB) : memCap(h)
        let cpuLimit = lastResort ? max(cap(h), cfg.evacuationCeiling * hosts[h].cores) : cap(h)
        return mem[h] + vm.memoryGiB <= memLimit + 1e-9 && forecastWith(h, v) <= cpuLimit + 1e-9
    }

    func capsAllow(_ from: Int, _ to: Int) -> Bool {
        clusterInflight < cfg.maxMigrations && inflight[from] < cfg.maxMigrationsPerHost && inflight[to] < cfg.maxMigrationsPerHost
    }

    /// The host to move `v` to: the tightest fit (packs, for consolidation and evacuation) or the loosest (balance).
    func bestTarget(_ v: Int, tightest: Bool, exclude: Int? = nil, lastResort: Bool = false) -> Int? {
        var best: Int?, bestScore = 0.0
        for h in 0..<hosts.count where h != exclude && fits(v, h, lastResort: lastResort) {
            let headroom = (cap(h) - forecastWith(h, v)) / hosts[h].cores
            let score = tightest ? -headroom : headroom
            if best == nil || score > bestScore { best = h; bestScore = score }
        }
        return best
    }

    func recentlyMoved(_ v: Int) -> Bool {
        if let t = vms[v].lastMovedMillis, now - t < cfg.minStay.millis { return true }
        return false
    }

    mutating func apply(_ v: Int, to t: Int, reason: PlacementReason, why: String, numbers extra: [String: Double]) {
        let vm = vms[v]
        let f = vm.host!
        let before = forecast(f)
        // remove from f
        mean[f] -= vm.cpu
        variance[f] = max(0, variance[f] - vm.cpuSpread * vm.cpuSpread)
        mem[f] -= vm.memoryGiB
        if let i = members[f].firstIndex(of: v) { members[f].remove(at: i) }
        if let k = vm.antiAffinity { anti[f][k, default: 1] -= 1 }
        mean[t] += vm.cpu
        variance[t] += vm.cpuSpread * vm.cpuSpread
        mem[t] += vm.memoryGiB
        members[t].append(v)
        if let k = vm.antiAffinity { anti[t][k, default: 0] += 1 }
        inflight[f] += 1
        inflight[t] += 1
        clusterInflight += 1
        moved.insert(v)
        vms[v].migratingTo = t
        let secs = cfg.migrationSeconds(memoryGiB: vm.memoryGiB)
        var nums = extra
        nums["vm_cpu_forecast"] = vm.cpu
        nums["vm_cpu_spread"] = vm.cpuSpread
        nums["vm_memory_gib"] = vm.memoryGiB
        nums["migration_seconds"] = secs
        nums["source_forecast_before"] = before
        nums["source_forecast_after"] = forecast(f)
        nums["target_forecast_after"] = forecast(t)
        nums["target_ceiling_cores"] = cap(t)
        let kind: ActionKind = reason == .evacuate ? .evacuate : .migrate
        let rec = AuditRecord(t: now, action: "\(kind.rawValue)/\(vm.id)/\(now)", kind: kind, group: Placement.group,
                              instance: vm.id, result: .executed, gate: nil, from: nil, to: nil,
                              reason: "\(why): move \(vm.id) (\(fmt(vm.cpu)) cores, \(fmt(vm.memoryGiB)) GiB, ~\(fmt(secs)) s) from \(hosts[f].id) to \(hosts[t].id) (forecast after \(fmt(forecast(t))) of \(fmt(cap(t))) cores)",
                              numbers: nums, error: nil)
        plan.moves.append(PlacementMove(vm: v, from: f, to: t, reason: reason, estimatedSeconds: secs, record: rec))
    }

    mutating func block(_ kind: ActionKind, _ instance: String, gate: String, _ why: String, _ numbers: [String: Double] = [:]) {
        plan.blocked.append(AuditRecord(t: now, action: nil, kind: kind, group: Placement.group, instance: instance,
                                        result: .blocked, gate: gate, from: nil, to: nil, reason: why, numbers: numbers, error: nil))
    }

    mutating func setPower(_ h: Int, on: Bool, reason: PlacementReason, why: String, numbers: [String: Double]) {
        power[h] = on ? .booting : .shuttingDown
        let kind: ActionKind = on ? .powerOn : .powerOff
        let rec = AuditRecord(t: now, action: "\(kind.rawValue)/\(hosts[h].id)/\(now)", kind: kind, group: Placement.group,
                              instance: hosts[h].id, result: .executed, gate: nil, from: nil, to: nil, reason: why,
                              numbers: numbers, error: nil)
        plan.power.append(PlacementPower(host: h, on: on, reason: reason, record: rec))
    }

    /// Powers on the first off, healthy host (lowest index). Returns false when none is left.
    /// A host could be brought into service: a draining host still on, or a healthy host that is off.
    var canPowerOn: Bool {
        (0..<hosts.count).contains { (draining[$0] && power[$0] == .on && healthy($0))
            || (power[$0] == .off && hosts[$0].state == .up && hosts[$0].failureProbability < cfg.failureProbability) }
    }

    mutating func powerOnOne(reason: PlacementReason, why: String, numbers: [String: Double]) -> Bool {
        // cheaper first: stop draining a host that is still on
        if let h = (0..<hosts.count).first(where: { draining[$0] && power[$0] == .on && healthy($0) }) {
            draining[h] = false
            plan.undrain.append(h)
            return true
        }
        guard let h = (0..<hosts.count).first(where: { power[$0] == .off && hosts[$0].state == .up && hosts[$0].failureProbability < cfg.failureProbability }) else { return false }
        setPower(h, on: true, reason: reason, why: "power on \(hosts[h].id): \(why)", numbers: numbers)
        return true
    }

    /// Free CPU and memory on capacity hosts beyond their forecasts, minus the spare (≥ 0 means enough).
    func spareSlack(excluding x: Int? = nil) -> (cpu: Double, mem: Double) {
        var cpu = 0.0, m = 0.0, demand = 0.0, demandMem = 0.0
        for h in 0..<hosts.count where h != x && capacityHost(h) {
            cpu += cap(h) - forecast(h)
            m += memCap(h) - mem[h]
            demand += forecast(h)
            demandMem += mem[h]
        }
        if let x {  // its VMs go elsewhere
            cpu -= forecast(x)
            m -= mem[x]
            demand += forecast(x)
            demandMem += mem[x]
        }
        let s = Double(cfg.spareHosts)
        return (cpu - max(s * cfg.ceiling * maxCores, cfg.spareFraction * demand),
                m - max(s * cfg.memoryCeiling * maxMem, cfg.spareFraction * demandMem))
    }

    mutating func run() {
        evacuate()
        balance()
        growth()
        if cfg.consolidate { consolidate() }
    }

    mutating func evacuate() {
        let risky = (0..<hosts.count).filter { atRisk[$0] }
        guard !risky.isEmpty else { return }
        let on = (0..<hosts.count).filter { power[$0] == .on || power[$0] == .booting }.count
        if risky.count > 1 && Double(risky.count) > cfg.brakeFraction * Double(on) {
            for h in risky {
                block(.evacuate, hosts[h].id, gate: "brake",
                      "\(risky.count) of \(on) powered-on hosts at risk at once (> \(fmt(cfg.brakeFraction * 100)) %): evacuating none",
                      ["hosts_at_risk": Double(risky.count), "hosts_on": Double(on), "failure_probability": hosts[h].failureProbability])
            }
            return
        }
        for h in risky.sorted(by: { hosts[$0].failureProbability > hosts[$1].failureProbability || (hosts[$0].failureProbability == hosts[$1].failureProbability && $0 < $1) }) {
            let p = hosts[h].failureProbability
            let list = members[h].filter { vms[$0].migratingTo == nil && vms[$0].host == h }
                .sorted { vms[$0].memoryGiB < vms[$1].memoryGiB || (vms[$0].memoryGiB == vms[$1].memoryGiB && $0 < $1) }
            var capped = 0
            var unplacedVMs: [Int] = []
            for v in list {
                guard let t = bestTarget(v, tightest: true) else { unplacedVMs.append(v); continue }
                guard capsAllow(h, t) else { capped += 1; continue }
                apply(v, to: t, reason: .evacuate, why: "host \(hosts[h].id) failure probability \(fmt(p)) ≥ \(fmt(cfg.failureProbability))",
                      numbers: ["failure_probability": p])
            }
            var unplaced = unplacedVMs.count
            // Last resort, when no host is left to power on: the loosest target up to evacuation_ceiling.
            let capacityComing = (0..<hosts.count).contains { power[$0] == .booting && healthy($0) }
            if unplaced > 0 && cfg.evacuationCeiling > cfg.ceiling && !canPowerOn && !capacityComing {
                for v in unplacedVMs {
                    guard let t = bestTarget(v, tightest: false, lastResort: true) else { continue }
                    unplaced -= 1
                    guard capsAllow(h, t) else { capped += 1; continue }
                    apply(v, to: t, reason: .evacuate,
                          why: "host \(hosts[h].id) failure probability \(fmt(p)) ≥ \(fmt(cfg.failureProbability)); no healthy host has room under the ceiling and none is left to power on, so up to evacuation_ceiling \(fmt(cfg.evacuationCeiling))",
                          numbers: ["failure_probability": p, "evacuation_ceiling": cfg.evacuationCeiling])
                }
            }
            if capped > 0 {
                block(.evacuate, hosts[h].id, gate: "migration_cap", "\(capped) VMs of \(hosts[h].id) wait for a migration slot",
                      ["waiting": Double(capped), "in_flight": Double(clusterInflight)])
            }
            if unplaced > 0 {
                if !powerOnOne(reason: .evacuate, why: "\(unplaced) VMs of at-risk host \(hosts[h].id) fit nowhere", numbers: ["unplaced": Double(unplaced), "failure_probability": p]) {
                    block(.evacuate, hosts[h].id, gate: "capacity", "\(unplaced) VMs of \(hosts[h].id) fit on no healthy host and no host is left to power on",
                          ["unplaced": Double(unplaced)])
                }
            }
        }
    }

    mutating func balance() {
        for h in 0..<hosts.count where power[h] == .on && healthy(h) && !draining[h] && overloaded(h) {
            let over = forecast(h)
            let why = forecast(h) > cap(h) + 1e-9
                ? "host \(hosts[h].id) forecast \(fmt(over)) cores > ceiling \(fmt(cap(h))) (\(fmt(cfg.ceiling)) × \(fmt(hosts[h].cores))) within \(cfg.horizon)"
                : "host \(hosts[h].id) memory \(fmt(mem[h])) GiB > ceiling \(fmt(memCap(h))) (\(fmt(cfg.memoryCeiling)) × \(fmt(hosts[h].memoryGiB)))"
            var stuck = false
            while overloaded(h) && !stuck {
                let cands = members[h].filter { vms[$0].host == h && vms[$0].migratingTo == nil && !moved.contains($0) && !recentlyMoved($0) }
                guard !cands.isEmpty else { stuck = true; break }
                // fewest moves: the cheapest VM (memory) whose move alone ends the overload; else the largest
                let solving = cands.filter { forecastWithout(h, $0) <= cap(h) && mem[h] - vms[$0].memoryGiB <= memCap(h) }
                let ordered: [Int]
                if !solving.isEmpty {
                    ordered = solving.sorted { vms[$0].memoryGiB < vms[$1].memoryGiB || (vms[$0].memoryGiB == vms[$1].memoryGiB && $0 < $1) }
                } else {
                    ordered = cands.sorted { vms[$0].cpu > vms[$1].cpu || (vms[$0].cpu == vms[$1].cpu && $0 < $1) }
                }
                var done = false
                for v in ordered {
                    guard let t = bestTarget(v, tightest: false) else { continue }
                    guard capsAllow(h, t) else {
                        block(.migrate, hosts[h].id, gate: "migration_cap", "\(why): no migration slot", ["in_flight": Double(clusterInflight)])
                        return
                    }
                    apply(v, to: t, reason: .balance, why: why, numbers: ["host_forecast": over, "ceiling_cores": cap(h)])
                    done = true
                    break
                }
                if !done { stuck = true }
            }
            if stuck && overloaded(h) {
                if !powerOnOne(reason: .balance, why: "\(why) and no VM of it fits elsewhere", numbers: ["host_forecast": forecast(h), "ceiling_cores": cap(h)]) {
                    block(.migrate, hosts[h].id, gate: "capacity", "\(why); no VM fits elsewhere and no host is left to power on",
                          ["host_forecast": forecast(h), "ceiling_cores": cap(h)])
                }
            }
        }
    }

    /// Power on (or stop draining) until the spare capacity is restored, ahead of the forecast growth.
    mutating func growth() {
        var guardCount = 0
        while guardCount < hosts.count {
            let s = spareSlack()
            guard s.cpu < -1e-9 || s.mem < -1e-9 else { return }
            let why = "the forecast within \(cfg.horizon) leaves \(fmt(-s.cpu)) cores (\(fmt(-s.mem)) GiB) less free than the spare (\(cfg.spareHosts) host(s), \(fmt(cfg.spareFraction * 100)) % of demand)"
            if !powerOnOne(reason: .growth, why: why, numbers: ["slack_cores": s.cpu, "slack_memory_gib": s.mem]) { return }
            guardCount += 1
        }
    }

    mutating func consolidate() {
        // a plan that already powers hosts on, or moves for other reasons this round, does not also consolidate
        if plan.power.contains(where: \.on) || !plan.undrain.isEmpty { return }
        // 1. power off drained (empty) hosts
        for h in 0..<hosts.count where power[h] == .on && members[h].isEmpty && inflight[h] == 0 {
            // an idle host that was not drained on purpose: off only once it has been on long enough
            if !draining[h], let t = hosts[h].lastPowerChangeMillis, now - t < cfg.minStay.millis { continue }
            let s = spareSlack(excluding: h)
            guard s.cpu >= 0, s.mem >= 0 else {
                if draining[h] { draining[h] = false; plan.undrain.append(h) }  // needed again
                continue
            }
            draining[h] = false
            setPower(h, on: false, reason: .consolidate,
                     why: "power off \(hosts[h].id): empty, and the forecast keeps the spare without it",
                     numbers: ["slack_cores": s.cpu, "slack_memory_gib": s.mem])
        }
        // 2. keep draining the host being drained, or stop when it is needed again
        let drainingNow = (0..<hosts.count).filter { draining[$0] && power[$0] == .on }
        for h in drainingNow {
            let s = spareSlack()
            if s.cpu < 0 || s.mem < 0 {
                draining[h] = false
                plan.undrain.append(h)
                continue
            }
            drainMoves(h)
        }
        if !drainingNow.isEmpty { return }
        // 3. start draining the least-loaded host whose VMs all fit elsewhere and whose removal keeps the spare
        let cands = (0..<hosts.count).filter { power[$0] == .on && healthy($0) && !members[$0].isEmpty }
            .filter { h in hosts[h].lastPowerChangeMillis.map { now - $0 >= cfg.minStay.millis } ?? true }
            .sorted { forecast($0) / hosts[$0].cores < forecast($1) / hosts[$1].cores || (forecast($0) / hosts[$0].cores == forecast($1) / hosts[$1].cores && $0 < $1) }
        guard cands.count > 1 else { return }
        for h in cands.prefix(3) {
            let s = spareSlack(excluding: h)
            guard s.cpu >= cfg.consolidateMargin * cap(h), s.mem >= cfg.consolidateMargin * memCap(h) else { return }  // the least loaded doesn't fit: neither will the others
            guard members[h].allSatisfy({ vms[$0].migratingTo == nil && !recentlyMoved($0) }) else { continue }
            guard canRehome(h) else { continue }
            draining[h] = true
            plan.drain.append(h)
            drainMoves(h)
            return
        }
    }

    /// Whether every VM on `h` fits on the other target hosts (tentative first-fit-decreasing, nothing changed).
    func canRehome(_ h: Int) -> Bool {
        var copy = self
        copy.draining[h] = true
        let list = members[h].sorted { vms[$0].cpu > vms[$1].cpu || (vms[$0].cpu == vms[$1].cpu && $0 < $1) }
        for v in list {
            guard let t = copy.bestTarget(v, tightest: true) else { return false }
            let vm = vms[v]
            copy.mean[t] += vm.cpu
            copy.variance[t] += vm.cpuSpread * vm.cpuSpread
            copy.mem[t] += vm.memoryGiB
            if let k = vm.antiAffinity { copy.anti[t][k, default: 0] += 1 }
        }
        return true
    }

    mutating func drainMoves(_ h: Int) {
        let list = members[h].filter { vms[$0].host == h && vms[$0].migratingTo == nil && !recentlyMoved($0) }
            .sorted { vms[$0].cpu > vms[$1].cpu || (vms[$0].cpu == vms[$1].cpu && $0 < $1) }
        for v in list {
            guard let t = bestTarget(v, tightest: true) else {
                // it no longer fits: give the host back
                draining[h] = false
                plan.undrain.append(h)
                return
            }
            guard capsAllow(h, t) else { return }
            apply(v, to: t, reason: .consolidate,
                  why: "drain \(hosts[h].id) for power-off: the forecast fits on fewer hosts with the spare kept",
                  numbers: ["slack_cores_without_host": spareSlack(excluding: h).cpu])
        }
    }
}

private func fmt(_ x: Double) -> String {
    guard x.isFinite else { return "\(x)" }
    let r = (x * 100).rounded() / 100
    if r == r.rounded() { return String(Int(r)) }
    var s = String(r)
    if let dot = s.firstIndex(of: "."), s.distance(from: dot, to: s.endIndex) > 3 { s = String(s[..<s.index(dot, offsetBy: 3)]) }
    return s
}
