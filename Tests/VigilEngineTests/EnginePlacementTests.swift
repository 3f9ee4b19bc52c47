import Foundation
import Testing
import VigilCore
@testable import VigilEngine
import VigilSim

/// A backend without live migration or host power (the protocol's defaults): everything else is the sim's.
struct NoPlacementDriver: Driver {
    let sim: SimCluster
    var name: String { "no-placement" }
    func inventory() async throws(DriverError) -> Inventory { try await sim.inventory() }
    func observe() async throws(DriverError) -> Observation { try await sim.observe() }
    func scale(group: String, to replicas: Int, actionID: String) async throws(DriverError) {
        try await sim.scale(group: group, to: replicas, actionID: actionID)
    }
    func restart(instance: String, actionID: String) async throws(DriverError) { try await sim.restart(instance: instance, actionID: actionID) }
    func stop(instance: String, actionID: String) async throws(DriverError) { try await sim.stop(instance: instance, actionID: actionID) }
    func start(instance: String, on host: String?, actionID: String) async throws(DriverError) {
        try await sim.start(instance: instance, on: host, actionID: actionID)
    }
}

/// The real engine with `placement:` on, acting on the embedded sim driver (`SimCluster`) in simulated time.
struct PlacementHarness {
    let engine: Engine
    let sim: SimCluster
    let audit: JSONLinesAudit
    let clock: SimulatedClock

    /// `hosts` hosts of 16 vCPUs and 64 GiB; `vms` lists (id, host index, cores of demand, GiB); the group `web` has a
    /// restart policy (strategy none) so remediation runs too.
    init(hosts: Int, vms: [(String, Int, Double, Double)], placement: PlacementConfig, off: [Int] = [],
         options: EngineOptions = EngineOptions(), driver: ((SimCluster) -> any Driver)? = nil) async {
        sim = SimCluster(startMillis: 0, startupMs: 60_000, hosts: hosts, vcpusPerHost: 16, seed: 1)
        for (id, h, cpu, mem) in vms {
            await sim.addInstance(id, group: "web", host: String(format: "host%03d", h), vcpus: 4, memoryGiB: mem, demand: cpu)
        }
        for h in off { await sim.setPowered(host: String(format: "host%03d", h), false) }
        var p = GroupPolicy()
        p.strategy = .none
        p.startup = .seconds(60)
        p.restart.restartsBeforeRelocate = 1
        clock = SimulatedClock(startMillis: 0)
        audit = JSONLinesAudit()
        var o = options
        o.placement = placement
        engine = Engine(policies: ["web": p], driver: driver?(sim) ?? sim, clock: clock, audit: audit, options: o)
    }

    /// Steps every 15 s over [from, to); `each` runs before each step (after the sim advanced).
    func run(from: Int64, to: Int64, each: ((Int64) async -> Void)? = nil) async {
        var t = from
        while t < to {
            await sim.advance(to: t)
            clock.advance(to: t)
            await each?(t)
            await engine.step(at: t)
            t += 15_000
        }
    }

    func records(_ kind: ActionKind? = nil, _ result: DecisionResult? = nil) -> [AuditRecord] {
        audit.records().filter { (kind == nil || $0.kind == kind) && (result == nil || $0.result == result) }
    }

    func hostOf(_ id: String) async -> String? { try? await sim.inventory().instances.first { $0.id == id }?.host }
}

func placementConfig(_ mode: PlacementMode = .auto) -> PlacementConfig {
    var c = PlacementConfig()
    c.mode = mode
    c.ceiling = 0.85
    c.interval = .seconds(60)
    c.horizon = .seconds(600)
    c.minStay = .seconds(1800)
    c.consolidate = false
    return c
}

func simHost(_ i: Int) -> String { String(format: "host%03d", i) }

struct EnginePlacementTests {
    /// host000 runs four VMs whose demand climbs from 2 to 4.5 cores each (18 of 16 cores): the engine migrates
    /// VMs off it before it saturates, every move lands where the target stays under its ceiling, and no host ends
    /// over its cores. The audit says why in words and numbers.
    @Test func overloadedHostIsRelieved() async {
        let vms = (0..<4).map { ("v\($0)", 0, 2.0, 4.0) } + [("w0", 1, 2.0, 4.0), ("w1", 2, 2.0, 4.0), ("w2", 3, 2.0, 4.0)]
        let h = await PlacementHarness(hosts: 4, vms: vms, placement: placementConfig())
        await h.run(from: 0, to: 1_800_000) { t in
            if t == 600_000 { for i in 0..<4 { await h.sim.setDemand(instance: "v\(i)", 4.5) } }
        }
        let moves = h.records(.migrate, .executed)
        #expect(!moves.isEmpty, "\(h.audit.records().map(\.reason))")
        #expect(moves.allSatisfy { $0.t >= 600_000 && $0.group == Placement.group })
        for m in moves {
            let after = m.numbers["target_forecast_after"] ?? .infinity, cap = m.numbers["target_ceiling_cores"] ?? 0
            #expect(after <= cap + 1e-9, "\(m.reason)")
            #expect(m.reason.contains("host000 forecast") && m.reason.contains("> ceiling 13.6"), "\(m.reason)")
        }
        #expect(await h.sim.counters.migrations == moves.count)
        let demand = await h.sim.hostDemand()
        #expect(demand.values.allSatisfy { $0 <= 16 }, "\(demand)")
        #expect((demand[simHost(0)] ?? 0) <= 0.85 * 16, "\(demand)")
        // hysteresis: nothing moved twice within min_stay
        let byVM = Dictionary(grouping: moves, by: { $0.instance ?? "" })
        #expect(byVM.values.allSatisfy { ms in zip(ms, ms.dropFirst()).allSatisfy { $1.t - $0.t >= 1_800_000 } })
        #expect(await h.sim.counters.splitBrainRefused == 0)
    }

    /// Dry-run: the same overload is planned and audited (each decision once while it stands), nothing moves.
    @Test func dryRunExecutesNothingButAudits() async {
        let vms = (0..<4).map { ("v\($0)", 0, 4.5, 4.0) } + [("w0", 1, 1.0, 4.0)]
        let h = await PlacementHarness(hosts: 3, vms: vms, placement: placementConfig(.dryRun))
        await h.run(from: 0, to: 900_000)
        let shadow = h.records(.migrate, .dryRun)
        #expect(!shadow.isEmpty)
        #expect(h.records(nil, .executed).isEmpty)
        #expect(await h.sim.counters.migrations == 0)
        for i in 0..<4 { #expect(await h.hostOf("v\(i)") == simHost(0)) }
        let keys = shadow.map { "\($0.instance ?? "")→\($0.reason)" }
        #expect(Set(shadow.compactMap(\.instance)).count == shadow.count, "each decision audited once: \(keys)")
    }

    /// Consolidation: an empty host and a nearly idle one are drained and powered off; the hosts left on keep a
    /// spare host's worth of capacity. When demand then grows past what the spare allows, a host is powered on
    /// ahead of it (it boots for the sim's boot time before it takes VMs).
    @Test func consolidatesIdleHostsKeepsSpareAndPowersOnForGrowth() async {
        var cfg = placementConfig()
        cfg.consolidate = true
        cfg.spareHosts = 1
        cfg.consolidateMargin = 0.25  // the default 0.5 keeps host002 (7 cores on 2 hosts leave 6.6 free beyond the spare, < 6.8)
        cfg.minStay = .seconds(600)
        let vms = [("a0", 0, 1.0, 4.0), ("a1", 0, 1.0, 4.0), ("a2", 0, 1.0, 4.0), ("b0", 1, 1.0, 4.0), ("b1", 1, 1.0, 4.0),
                   ("b2", 1, 1.0, 4.0), ("c0", 2, 1.0, 4.0)]
        let h = await PlacementHarness(hosts: 4, vms: vms, placement: cfg)
        await h.run(from: 0, to: 3_600_000)
        let offs = h.records(.powerOff, .executed)
        #expect(Set(offs.compactMap(\.instance)) == [simHost(2), simHost(3)], "\(h.audit.records().map(\.reason))")
        let inv = try! await h.sim.inventory()
        let on = inv.hosts.filter { $0.power == .on }
        #expect(on.count == 2)
        let demand = await h.sim.hostDemand()
        let free = on.reduce(0.0) { $0 + 0.85 * Double($1.vcpus) - (demand[$1.id] ?? 0) }
        #expect(free >= 0.85 * 16, "spare host kept: \(free) cores free")
        #expect(inv.instances.allSatisfy { i in on.contains { $0.id == i.host } })
        #expect(await h.sim.counters.powerOffs == 2)
        // growth: every VM to 3 cores (21 cores + a spare host's 13.6 > 2 × 13.6)
        await h.run(from: 3_600_000, to: 4_800_000) { t in
            if t == 3_600_000 { for v in vms { await h.sim.setDemand(instance: v.0, 3) } }
        }
        let ons = h.records(.powerOn, .executed)
        #expect(!ons.isEmpty, "\(h.audit.records().suffix(5).map(\.reason))")
        #expect(ons.allSatisfy { $0.t >= 3_600_000 })
        #expect(await h.sim.counters.powerOns == ons.count)
        #expect(try! await h.sim.inventory().hosts.filter { $0.power == .on }.count >= 3)
    }

    /// A degrading host (failure probability rising over 20 minutes, failing 30 minutes after it degraded) is
    /// evacuated once its probability passes the threshold, before it fails: nothing is lost, nothing relocated.
    /// A host that fails faster than its probability rises is not evacuated in time: its instances restart
    /// elsewhere only once it is confirmed down (fenced).
    @Test func degradingHostIsEvacuatedBeforeItFails() async throws {
        let vms = (0..<8).map { ("v\($0)", $0 % 4, 1.0, 4.0) }
        let h = await PlacementHarness(hosts: 4, vms: vms, placement: placementConfig())
        await h.sim.schedule(try FaultPlan.parse("host-degrade@5m:host=host001,fail_after=30m,down_after=5m"), from: 0)
        await h.run(from: 0, to: 3_000_000)
        let ev = h.records(.evacuate, .executed)
        #expect(Set(ev.compactMap(\.instance)) == ["v1", "v5"], "\(h.audit.records().map(\.reason))")
        #expect(ev.allSatisfy { $0.t > 300_000 && $0.t < 2_100_000 && $0.reason.contains("host001 failure probability") })
        #expect(ev.allSatisfy { ($0.numbers["failure_probability"] ?? 0) >= 0.5 })
        #expect(h.records(.relocate).isEmpty && h.records(.fence).isEmpty)
        #expect(await h.sim.counters.hostFailures == 1)
        for v in ["v1", "v5"] { #expect(await h.hostOf(v) != simHost(1)) }

        // too fast to evacuate: unreachable after 2 min (probability 0.095), down 3 min later
        let g = await PlacementHarness(hosts: 4, vms: vms, placement: placementConfig())
        await g.sim.schedule(try FaultPlan.parse("host-degrade@5m:host=host002,fail_after=2m,down_after=3m"), from: 0)
        await g.run(from: 0, to: 1_800_000)
        #expect(g.records(.evacuate, .executed).isEmpty)
        let held = g.audit.records().filter { $0.gate == "fencing" }
        let relocated = g.records(.relocate, .executed)
        #expect(Set(relocated.compactMap(\.instance)) == ["v2", "v6"], "\(g.audit.records().map { "\($0.t) \($0.kind) \($0.result) \($0.gate ?? "") \($0.reason)" })")
        #expect(!held.isEmpty && held.allSatisfy { r in relocated.allSatisfy { $0.t > r.t } })
        #expect(relocated.allSatisfy { $0.t >= 600_000 }, "not before the host is confirmed down at 10 min")
        #expect(await g.sim.counters.splitBrainRefused == 0)
    }

    /// Caps: at most `max_migrations` migrations under way in the cluster and `max_migrations_per_host` per host
    /// at any time (a move of 12 GiB takes 17.6 s, so moves overlap steps).
    @Test func migrationCapsAreRespected() async {
        var cfg = placementConfig()
        cfg.maxMigrations = 2
        cfg.maxMigrationsPerHost = 1
        let vms = (0..<5).map { ("v\($0)", 0, 3.5, 12.0) } + (0..<5).map { ("u\($0)", 1, 3.5, 12.0) }
        let h = await PlacementHarness(hosts: 6, vms: vms, placement: cfg)
        var peak = 0, peakPerHost = 0
        await h.run(from: 0, to: 1_200_000) { _ in
            let inv = try! await h.sim.inventory()
            let moving = inv.instances.filter { $0.migratingTo != nil }
            peak = max(peak, moving.count)
            var per: [String: Int] = [:]
            for m in moving { per[m.host, default: 0] += 1; per[m.migratingTo!, default: 0] += 1 }
            peakPerHost = max(peakPerHost, per.values.max() ?? 0)
        }
        let moves = h.records(.migrate, .executed)
        #expect(moves.count >= 4, "\(moves.map(\.reason))")
        #expect(peak >= 1 && peak <= 2 && peakPerHost <= 1, "peak \(peak), per host \(peakPerHost)")
        #expect(Dictionary(grouping: moves, by: \.t).values.allSatisfy { $0.count <= 2 })
        #expect(h.audit.records().contains { $0.gate == "migration_cap" })
    }

    /// The kill switch blocks placement actions like any other (audited with the gate), and approve mode queues
    /// them: nothing moves until approved, and a queued move is not queued again.
    @Test func killSwitchAndApproveGatePlacement() async {
        let vms = (0..<4).map { ("v\($0)", 0, 4.5, 4.0) } + [("w0", 1, 1.0, 4.0)]
        let h = await PlacementHarness(hosts: 3, vms: vms, placement: placementConfig())
        h.engine.killSwitch = true
        await h.run(from: 0, to: 300_000)
        #expect(!h.records(.migrate, .blocked).isEmpty && h.records(.migrate, .blocked).allSatisfy { $0.gate == "kill_switch" })
        #expect(await h.sim.counters.migrations == 0)

        let a = await PlacementHarness(hosts: 3, vms: vms, placement: placementConfig(.approve))
        await a.run(from: 0, to: 300_000)
        let queued = a.records(.migrate, .queued)
        #expect(!queued.isEmpty && Set(queued.compactMap(\.instance)).count == queued.count, "\(queued.map(\.reason))")
        #expect(await a.sim.counters.migrations == 0)
        let first = a.engine.pendingApprovals[0]
        #expect(a.engine.approve(first.id))
        await a.run(from: 300_000, to: 330_000)
        #expect(a.records(.migrate, .executed).map(\.action) == [first.id])
        #expect(await a.sim.counters.migrations == 1)
    }

    /// Same seed, same faults, same config → the same audit bytes (with random crashes and a degrading host).
    @Test func sameSeedSameAuditBytes() async throws {
        func run() async throws -> Data {
            var cfg = placementConfig()
            cfg.consolidate = true
            let vms = (0..<10).map { ("v\($0)", $0 % 5, 0.5 + Double($0 % 3), 4.0) }
            let h = await PlacementHarness(hosts: 6, vms: vms, placement: cfg)
            await h.sim.setCrashRate(20)
            await h.sim.schedule(try FaultPlan.parse("host-degrade@20m:host=host001,fail_after=30m,down_after=5m"), from: 0)
            await h.run(from: 0, to: 5_400_000) { t in
                for i in 0..<10 where t % 900_000 == 0 { await h.sim.setDemand(instance: "v\(i)", 0.5 + Double((i + Int(t / 900_000)) % 5)) }
            }
            #expect(!h.records(.migrate).isEmpty || !h.records(.powerOff).isEmpty)
            return h.audit.data
        }
        let a = try await run(), b = try await run()
        #expect(a == b)
        #expect(a.count > 1000)
    }

    /// The per-instance history is causal: a forecast at t uses only what was observed up to t, minute means.
    @Test func demandHistoryIsCausalMinuteMeans() {
        var hist = InstanceDemandHistory(horizonMinutes: 10)
        hist.observe(t: 0, cpu: 1, memoryGiB: 2)
        hist.observe(t: 30_000, cpu: 3, memoryGiB: 2)
        hist.observe(t: 60_000, cpu: 5, memoryGiB: 3)
        #expect(hist.minutes == [2])
        hist.observe(t: 10_000, cpu: 100, memoryGiB: 2)  // the past: ignored
        #expect(hist.minutes == [2])
        let f = hist.forecast(horizonMinutes: 10)!
        #expect(f.cpu == 5 && f.spread >= 0.5)  // latest value beats the mean (3.5)
        hist.observe(t: 300_000, cpu: 1, memoryGiB: 3)  // a gap of 3 minutes holds the last value
        #expect(hist.minutes == [2, 5, 5, 5, 5])
        #expect(hist.memoryGiB == 3)
    }

    /// Between planning intervals, a powered host whose demand now exceeds its ceiling is balanced at once (not at
    /// the next interval), and such an extra round does not consolidate.
    @Test func hostOverItsCeilingIsBalancedBeforeTheNextInterval() async {
        let vms = (0..<4).map { ("v\($0)", 0, 2.0, 4.0) } + [("w0", 1, 1.0, 4.0)]
        var cfg = placementConfig()
        cfg.interval = .seconds(3600)
        cfg.horizon = .seconds(3600)
        cfg.peakWindow = .seconds(0)
        cfg.consolidate = true
        cfg.minStay = .seconds(0)
        let h = await PlacementHarness(hosts: 3, vms: vms, placement: cfg)
        await h.run(from: 0, to: 1_200_000) { t in
            if t == 600_000 { for i in 0..<4 { await h.sim.setDemand(instance: "v\(i)", 4.5) } }  // host000: 18 > 0.85 × 16
        }
        let moves = h.records(.migrate, .executed).filter { !$0.reason.contains("drain") }  // balance, not consolidation
        #expect(!moves.isEmpty && moves.allSatisfy { $0.t >= 600_000 && $0.t < 700_000 }, "\(moves.map(\.t))")
        #expect(h.records(.migrate, .executed).filter { $0.reason.contains("drain") }.allSatisfy { $0.t == 0 })
        #expect(h.records(.powerOff).allSatisfy { $0.t == 0 }, "\(h.records(.powerOff).map(\.t))")
    }

    /// The forecast keeps room for a VM's recent peak (`peak_window`) and for its peak at the same time of day on
    /// earlier days (`seasonal_days`, over the horizon widened by `seasonal_window`): a batch job that ran two days
    /// ago at 10:00 is expected at 09:40 today; the forecast at a minute depends only on what came before it.
    @Test func demandForecastKeepsRecentAndSeasonalPeaks() {
        func job(_ m: Int) -> Double { m < 1440 && m % 1440 >= 600 && m % 1440 < 630 ? 8 : 1 }  // day 0, 10:00–10:30
        let now = 2 * 1440 + 9 * 60 + 40  // day 2, 09:40
        func history(days: Int, peak: Int = 0, future: Double? = nil) -> (InstanceDemandHistory, [Double]) {
            var h = InstanceDemandHistory(horizonMinutes: 30, recentPeakMinutes: peak, seasonalDays: days, seasonalWindowMinutes: 10)
            var out: [Double] = []
            for m in 0..<(now + 120) {
                h.observe(t: Int64(m) * 60_000, cpu: m > now ? (future ?? job(m)) : job(m), memoryGiB: 1)
                out.append(h.forecast(horizonMinutes: 30)!.cpu)
            }
            return (h, out)
        }
        let (_, two) = history(days: 2), (_, one) = history(days: 1), (_, off) = history(days: 0)
        #expect(two[now - 1] == 8)   // day 0's job, 2 days back, within the horizon + window
        #expect(one[now - 1] == 1 && off[now - 1] == 1)  // yesterday had no job
        #expect(two[now - 1440 - 1] == 8 && one[now - 1440 - 1] == 8)  // day 1 09:40: yesterday's job ahead
        #expect(two[now - 60] == 1)  // day 2 08:40: the job is 80 minutes ahead, outside 30 + 10
        // the recent peak: 8 cores 41 minutes ago are kept for a 60-minute window, not for a 10-minute one
        let (_, p60) = history(days: 0, peak: 60), (_, p10) = history(days: 0, peak: 10)
        #expect(p60[670] == 8 && p10[670] == 1 && p60[700] == 1)
        // causal: a different future changes nothing before it, and does change what comes after
        let (_, changed) = history(days: 2, peak: 60, future: 30), (_, same) = history(days: 2, peak: 60)
        #expect(Array(changed.prefix(now + 1)) == Array(same.prefix(now + 1)))
        #expect(changed[now + 1] != same[now + 1])
    }

    /// `trend_lead`: a rise over the last 5 minutes is extrapolated ahead; a fall is not.
    @Test func demandForecastExtrapolatesARise() {
        var up = InstanceDemandHistory(horizonMinutes: 30, trendMinutes: 10), flat = InstanceDemandHistory(horizonMinutes: 30)
        var down = InstanceDemandHistory(horizonMinutes: 30, trendMinutes: 10)
        for m in 0..<20 {
            up.observe(t: Int64(m) * 60_000, cpu: Double(m), memoryGiB: 1)
            flat.observe(t: Int64(m) * 60_000, cpu: Double(m), memoryGiB: 1)
            down.observe(t: Int64(m) * 60_000, cpu: Double(20 - m), memoryGiB: 1)
        }
        #expect(up.forecast(horizonMinutes: 30)!.cpu == 29)  // 19 + 1 core/min × 10
        #expect(flat.forecast(horizonMinutes: 30)!.cpu == 19)
        #expect(down.forecast(horizonMinutes: 30)!.cpu == 10.5)  // the last 20 minutes' mean (no extrapolated fall)
    }

    /// A reload that changes the forecast's windows keeps the history it has (replayed into the new layout).
    @Test func demandHistorySurvivesAReconfiguration() {
        var cfg = PlacementConfig()
        cfg.seasonalDays = 0
        var h = InstanceDemandHistory(config: cfg)
        for m in 0..<200 { h.observe(t: Int64(m) * 60_000, cpu: m == 150 ? 6 : 1, memoryGiB: 2) }
        cfg.seasonalDays = 2
        cfg.peakWindow = PolicyDuration(millis: 3_600_000)
        let r = InstanceDemandHistory(config: cfg, from: h)
        #expect(r.minutes == h.minutes && r.memoryGiB == 2)
        #expect(r.forecast(horizonMinutes: 30)!.cpu == 6)  // the peak 49 minutes ago, within the new 1-hour window
        #expect(!r.coarse.isEmpty && r.coarse.max() == 6)
    }

    /// A driver without `migrate`: the first placement move fails (`unsupported`, audited), the circuit breaker
    /// does not count it, and no further move is tried; remediation keeps working.
    @Test func unsupportedDriverFailsOnceWithoutOpeningTheBreaker() async {
        let vms = (0..<4).map { ("v\($0)", 0, 4.5, 4.0) } + [("w0", 1, 1.0, 4.0)]
        let h = await PlacementHarness(hosts: 3, vms: vms, placement: placementConfig(), driver: { NoPlacementDriver(sim: $0) })
        await h.run(from: 0, to: 600_000) { t in if t == 300_000 { await h.sim.crash(instance: "w0") } }
        let failed = h.records(.migrate, .failed)
        #expect(failed.count == 1 && failed[0].error?.contains("unsupported") == true, "\(failed)")
        #expect(h.records(.migrate).count == 1)
        #expect(!h.audit.records().contains { $0.gate == "circuit_breaker" })
        #expect(h.records(.restart, .executed).map(\.instance) == ["w0"])
    }
}
