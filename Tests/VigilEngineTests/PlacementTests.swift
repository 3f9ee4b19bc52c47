import Foundation
import Testing
import VigilCore
@testable import VigilEngine

/// A random but valid cluster: hosts of mixed size and state, VMs placed respecting anti-affinity and host rules.
func randomCluster(seed: UInt64) -> (hosts: [PlacementHost], vms: [PlacementVM], config: PlacementConfig) {
    var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    func next() -> Double {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        return Double(s >> 11) * 0x1p-53
    }
    var cfg = PlacementConfig()
    cfg.spareHosts = Int(next() * 2)
    cfg.spareFraction = next() * 0.2
    cfg.maxMigrationsPerHost = 1 + Int(next() * 3)
    cfg.maxMigrations = 1 + Int(next() * 10)
    cfg.minStay = PolicyDuration(millis: 3_600_000)
    let nh = 4 + Int(next() * 16)
    var hosts: [PlacementHost] = []
    for h in 0..<nh {
        let r = next()
        let power: PlacementHost.Power = r < 0.15 ? .off : (r < 0.2 ? .booting : .on)
        var host = PlacementHost(id: "h\(h)", cores: [16.0, 32, 64][Int(next() * 3)], memoryGiB: [64.0, 128, 256][Int(next() * 3)], power: power)
        if power == .on && next() < 0.1 { host.failureProbability = 0.6 + 0.4 * next() }
        if power == .on && next() < 0.05 { host.state = .maintenance }
        if power == .on && next() < 0.1 { host.draining = true }
        if next() < 0.3 { host.lastPowerChangeMillis = Int64(next() * 7_200_000) }
        hosts.append(host)
    }
    var vms: [PlacementVM] = []
    var used = [Set<String>](repeating: [], count: nh)
    let nv = Int(Double(nh) * (2 + next() * 20))
    for v in 0..<nv {
        let on = (0..<nh).filter { hosts[$0].power == .on }
        guard !on.isEmpty else { break }
        let h = on[Int(next() * Double(on.count))]
        var vm = PlacementVM(id: "v\(v)", host: h, cpu: next() * 4, cpuSpread: next() * 0.5, memoryGiB: 0.5 + next() * 8)
        if next() < 0.3 {
            let k = "g\(Int(next() * 5))"
            if !used[h].contains(k) { vm.antiAffinity = k; used[h].insert(k) }
        }
        if next() < 0.1 { vm.allowedHosts = Set((0..<nh).filter { $0 == h || next() < 0.3 }) }
        if next() < 0.2 { vm.lastMovedMillis = Int64(next() * 7_200_000) }
        if vm.antiAffinity == nil && vm.allowedHosts == nil && next() < 0.05, let t = on.first(where: { $0 != h }) { vm.migratingTo = t }
        vms.append(vm)
    }
    return (hosts, vms, cfg)
}

/// The host forecast, recomputed independently of the planner.
func hostForecast(_ vms: [PlacementVM], _ h: Int, z: Double) -> (cpu: Double, mem: Double) {
    var m = 0.0, v = 0.0, mem = 0.0
    for x in vms where (x.migratingTo ?? x.host) == h { m += x.cpu; v += x.cpuSpread * x.cpuSpread; mem += x.memoryGiB }
    return (m + z * v.squareRoot(), mem)
}

struct PlacementPlannerTests {
    @Test func normalQuantile() {
        #expect(abs(Placement.normalQuantile(0.95) - 1.644_853_6) < 1e-6)
        #expect(abs(Placement.normalQuantile(0.5)) < 1e-9)
        #expect(abs(Placement.normalQuantile(0.001) + 3.090_232_3) < 1e-6)
    }

    /// Over random clusters: every move respects capacity, anti-affinity, host rules, the caps and hysteresis; no VM
    /// moves twice; no move lands on a host that is off, at risk, draining or not up; consolidation keeps the spare.
    @Test(arguments: 0..<200)
    func everyPlanRespectsTheRules(seed: Int) {
        let (hosts, vms, cfg) = randomCluster(seed: UInt64(seed))
        let now: Int64 = 7_200_000
        let plan = Placement.plan(hosts: hosts, vms: vms, config: cfg, nowMillis: now)
        let z = Placement.normalQuantile(cfg.quantile)
        var after = vms
        var movedVMs = Set<Int>()
        var perHost = [Int](repeating: 0, count: hosts.count)
        var total = 0
        for v in vms where v.migratingTo != nil { perHost[v.host!] += 1; perHost[v.migratingTo!] += 1; total += 1 }
        for m in plan.moves {
            #expect(movedVMs.insert(m.vm).inserted, "\(vms[m.vm].id) moved twice")
            #expect(vms[m.vm].migratingTo == nil, "moved a VM already migrating")
            #expect(vms[m.vm].host == m.from)
            let t = hosts[m.to]
            #expect(t.power == .on && t.state == .up && t.failureProbability < cfg.failureProbability && !t.draining && !plan.drain.contains(m.to),
                    "target \(t.id) \(t.power) \(t.state) p=\(t.failureProbability)")
            if let a = vms[m.vm].allowedHosts { #expect(a.contains(m.to), "host rule broken for \(vms[m.vm].id)") }
            if m.reason != .evacuate, let lm = vms[m.vm].lastMovedMillis { #expect(now - lm >= cfg.minStay.millis, "hysteresis") }
            perHost[m.from] += 1; perHost[m.to] += 1; total += 1
            after[m.vm].migratingTo = m.to
            #expect(m.record.kind == (m.reason == .evacuate ? .evacuate : .migrate) && m.record.instance == vms[m.vm].id && !m.record.reason.isEmpty)
        }
        if !plan.moves.isEmpty {
            #expect(total <= max(cfg.maxMigrations, vms.filter { $0.migratingTo != nil }.count))
            for h in hosts.indices where plan.moves.contains(where: { $0.from == h || $0.to == h }) {
                #expect(perHost[h] <= max(cfg.maxMigrationsPerHost, vms.filter { $0.migratingTo != nil && ($0.host == h || $0.migratingTo == h) }.count))
            }
        }
        for h in Set(plan.moves.map(\.to)) {
            let f = hostForecast(after, h, z: z)
            // an evacuation's last resort (nothing fits under the ceiling, no host to power on) may go to evacuation_ceiling
            let lastResort = plan.moves.contains { $0.to == h && $0.record.numbers["evacuation_ceiling"] != nil }
            let cpuLimit = lastResort ? max(cfg.ceiling, cfg.evacuationCeiling) : cfg.ceiling
            let memLimit = lastResort ? max(cfg.memoryCeiling, cfg.evacuationCeiling) : cfg.memoryCeiling
            #expect(f.cpu <= cpuLimit * hosts[h].cores + 1e-6, "\(hosts[h].id) over its CPU ceiling after the plan")
            #expect(f.mem <= memLimit * hosts[h].memoryGiB + 1e-6, "\(hosts[h].id) over its memory ceiling")
            var keys: [String: Int] = [:]
            for v in after where (v.migratingTo ?? v.host) == h { if let k = v.antiAffinity { keys[k, default: 0] += 1 } }
            #expect(keys.values.allSatisfy { $0 <= 1 }, "anti-affinity broken on \(hosts[h].id): \(keys)")
        }
        // consolidation (a drain or a power-off) happens only while the spare holds without those hosts
        let off = Set(plan.power.filter { !$0.on }.map(\.host))
        if !plan.drain.isEmpty || !off.isEmpty {
            var draining = hosts.map(\.draining)
            for h in plan.drain { draining[h] = true }
            for h in plan.undrain { draining[h] = false }
            var free = 0.0, demand = 0.0, freeMem = 0.0, demandMem = 0.0
            for h in hosts.indices {
                let f = hostForecast(after, h, z: z)
                let powered = (hosts[h].power == .on || hosts[h].power == .booting || plan.power.contains { $0.host == h && $0.on }) && !off.contains(h)
                let healthy = hosts[h].state == .up && hosts[h].failureProbability < cfg.failureProbability
                if powered && healthy && !draining[h] {
                    free += cfg.ceiling * hosts[h].cores - f.cpu
                    freeMem += cfg.memoryCeiling * hosts[h].memoryGiB - f.mem
                } else if powered && healthy && draining[h] {
                    free -= f.cpu  // VMs still on a host being drained need room elsewhere
                    freeMem -= f.mem
                } else { continue }
                demand += f.cpu
                demandMem += f.mem
            }
            let maxCores = hosts.map(\.cores).max()!, maxMem = hosts.map(\.memoryGiB).max()!
            #expect(free >= max(Double(cfg.spareHosts) * cfg.ceiling * maxCores, cfg.spareFraction * demand) - 1e-6, "spare CPU not kept")
            #expect(freeMem >= max(Double(cfg.spareHosts) * cfg.memoryCeiling * maxMem, cfg.spareFraction * demandMem) - 1e-6, "spare memory not kept")
        }
        for p in plan.power where !p.on {
            #expect(!vms.contains { ($0.migratingTo ?? $0.host) == p.host } && !plan.moves.contains { $0.to == p.host }, "powered off a host with VMs")
        }
        // deterministic
        #expect(Placement.plan(hosts: hosts, vms: vms, config: cfg, nowMillis: now) == plan)
    }

    func twoHosts(p: Double) -> ([PlacementHost], [PlacementVM]) {
        let hosts = [PlacementHost(id: "a", cores: 32, memoryGiB: 128, failureProbability: p), PlacementHost(id: "b", cores: 32, memoryGiB: 128),
                     PlacementHost(id: "c", cores: 32, memoryGiB: 128)]
        let vms = (0..<4).map { PlacementVM(id: "v\($0)", host: 0, cpu: 2, cpuSpread: 0.2, memoryGiB: 4) }
            + (0..<4).map { PlacementVM(id: "w\($0)", host: 1, cpu: 2, cpuSpread: 0.2, memoryGiB: 4) }
        return (hosts, vms)
    }

    @Test func evacuatesAHostAtRiskWithinTheCaps() {
        var cfg = PlacementConfig()
        cfg.consolidate = false
        cfg.maxMigrationsPerHost = 3
        let (hosts, vms) = twoHosts(p: 0.8)
        let plan = Placement.plan(hosts: hosts, vms: vms, config: cfg, nowMillis: 0)
        #expect(plan.moves.count == 3)
        #expect(plan.moves.allSatisfy { $0.reason == .evacuate && $0.from == 0 && $0.to != 0 })
        #expect(plan.blocked.contains { $0.gate == "migration_cap" && $0.instance == "a" })
        #expect(plan.moves[0].record.numbers["failure_probability"] == 0.8)
        let calm = Placement.plan(hosts: twoHosts(p: 0.3).0, vms: vms, config: cfg, nowMillis: 0)
        #expect(calm.moves.isEmpty)
    }

    /// Nothing fits under the ceiling and no host is off: evacuation's last resort fills a target up to
    /// evacuation_ceiling (audited as such); with evacuation_ceiling = ceiling the VMs wait (gate "capacity").
    /// While a host could still be powered on, that comes first.
    @Test func evacuationLastResortGoesUpToTheEvacuationCeiling() {
        var cfg = PlacementConfig()
        cfg.consolidate = false
        cfg.maxMigrationsPerHost = 8
        cfg.maxMigrations = 8
        var hosts = [PlacementHost(id: "a", cores: 32, memoryGiB: 128, failureProbability: 0.9),
                     PlacementHost(id: "b", cores: 32, memoryGiB: 128)]
        // b is at 26 of its 28.8-core ceiling (0.9 × 32); a's two 2.9-core VMs fit only under 100 % (31.8 cores)
        let vms = [PlacementVM(id: "x", host: 0, cpu: 2.9, cpuSpread: 0, memoryGiB: 4),
                   PlacementVM(id: "y", host: 0, cpu: 2.9, cpuSpread: 0, memoryGiB: 4),
                   PlacementVM(id: "big", host: 1, cpu: 26, cpuSpread: 0, memoryGiB: 16)]
        let plan = Placement.plan(hosts: hosts, vms: vms, config: cfg, nowMillis: 0)
        #expect(plan.moves.map(\.vm).sorted() == [0, 1] && plan.moves.allSatisfy { $0.to == 1 && $0.reason == .evacuate })
        #expect(plan.moves.allSatisfy { $0.record.numbers["evacuation_ceiling"] == 1 && $0.record.reason.contains("evacuation_ceiling") })
        var strict = cfg
        strict.evacuationCeiling = strict.ceiling
        let held = Placement.plan(hosts: hosts, vms: vms, config: strict, nowMillis: 0)
        #expect(held.moves.isEmpty && held.blocked.contains { $0.gate == "capacity" && $0.instance == "a" })
        // a host that can be powered on: power it on, no move over the ceiling
        hosts.append(PlacementHost(id: "c", cores: 32, memoryGiB: 128, power: .off))
        let boot = Placement.plan(hosts: hosts, vms: vms, config: cfg, nowMillis: 0)
        #expect(boot.moves.isEmpty && boot.power.contains { $0.host == 2 && $0.on })
    }

    @Test func massFailureBrakeHoldsEvacuations() {
        var cfg = PlacementConfig()
        cfg.consolidate = false
        var (hosts, vms) = twoHosts(p: 0.9)
        hosts[1].failureProbability = 0.9
        let plan = Placement.plan(hosts: hosts, vms: vms, config: cfg, nowMillis: 0)
        #expect(plan.moves.isEmpty)
        #expect(plan.blocked.filter { $0.gate == "brake" }.count == 2)
        vms[0].cpu = 0
    }

    @Test func balancesAHostForecastOverItsCeilingWithFewMoves() {
        var cfg = PlacementConfig()
        cfg.consolidate = false
        let hosts = [PlacementHost(id: "a", cores: 32, memoryGiB: 128), PlacementHost(id: "b", cores: 32, memoryGiB: 128)]
        // 30 cores forecast on a: one 4-core VM must go (fewest moves), not several small ones
        var vms = (0..<13).map { PlacementVM(id: "s\($0)", host: 0, cpu: 2, memoryGiB: 2) }
        vms.append(PlacementVM(id: "big", host: 0, cpu: 4, memoryGiB: 16))
        let plan = Placement.plan(hosts: hosts, vms: vms, config: cfg, nowMillis: 0)
        #expect(plan.moves.count == 1)
        #expect(plan.moves.first?.to == 1)
        #expect(plan.moves.first?.record.reason.contains("forecast 30 cores > ceiling 28.8") == true, "\(plan.moves.first?.record.reason ?? "")")
        // a VM moved 10 minutes ago is not moved back (hysteresis), so the one that can go is a small one… or none
        var recent = vms
        for i in recent.indices { recent[i].lastMovedMillis = 0 }
        #expect(Placement.plan(hosts: hosts, vms: recent, config: cfg, nowMillis: 600_000).moves.isEmpty)
    }

    @Test func consolidatesAnIdleHostAndPowersOnForGrowth() {
        var cfg = PlacementConfig()
        cfg.spareFraction = 0
        let hosts = (0..<3).map { PlacementHost(id: "h\($0)", cores: 32, memoryGiB: 128) }
        let light = (0..<3).map { PlacementVM(id: "v\($0)", host: $0, cpu: 1, memoryGiB: 2) }
        let plan = Placement.plan(hosts: hosts, vms: light, config: cfg, nowMillis: 0)
        #expect(plan.drain.count == 1)
        #expect(plan.moves.count == 1 && plan.moves[0].reason == .consolidate)
        // the drained host, once empty, is powered off
        var hs = hosts
        hs[plan.drain[0]].draining = true
        var vs = light
        vs[plan.moves[0].vm].host = plan.moves[0].to
        let next = Placement.plan(hosts: hs, vms: vs, config: cfg, nowMillis: 300_000)
        #expect(next.power.contains { !$0.on && $0.host == plan.drain[0] })
        // growth: demand forecast beyond the on hosts powers one on
        var off = hosts
        off[2].power = .off
        cfg.spareFraction = 0.1  // 56 cores forecast want 5.6 free; two hosts at 0.9 leave 1.6
        let heavy = (0..<2).map { PlacementVM(id: "v\($0)", host: $0, cpu: 28, memoryGiB: 2) }
        let grow = Placement.plan(hosts: off, vms: heavy, config: cfg, nowMillis: 0)
        #expect(grow.power.contains { $0.on && $0.host == 2 && $0.record.kind == .powerOn })
    }

    @Test func configDecodesValidatesAndDefaults() throws {
        let d = try JSONDecoder().decode(PlacementConfig.self, from: Data(#"{"ceiling":0.8,"spare_hosts":1,"horizon":"45m","max_migrations":4}"#.utf8))
        #expect(d.ceiling == 0.8 && d.spareHosts == 1 && d.horizon.millis == 2_700_000 && d.maxMigrations == 4 && d.quantile == 0.95)
        let f = try JSONDecoder().decode(PlacementConfig.self, from: Data(#"{"peak_window":"2h","seasonal_days":3,"seasonal_window":"20m"}"#.utf8))
        #expect(f.peakWindow.millis == 7_200_000 && f.seasonalDays == 3 && f.seasonalWindow.millis == 1_200_000)
        for bad in [#"{"ceiling":1.5}"#, #"{"max_migrations":0}"#, #"{"horizon":"1m","interval":"5m"}"#, #"{"failure_probability":0}"#,
                    #"{"evacuation_ceiling":1.2}"#, #"{"seasonal_days":-1}"#, #"{"seasonal_days":1,"horizon":"20h","seasonal_window":"4h"}"#, #"{"peak_window":"8d"}"#] {
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(PlacementConfig.self, from: Data(bad.utf8)) }
        }
    }
}
