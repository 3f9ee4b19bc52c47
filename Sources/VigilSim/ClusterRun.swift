import Foundation
import VigilCore
import VigilEngine

/// Who places the simulated VMs.
public enum PlacementKind: String, Sendable, CaseIterable {
    /// Vigil's planner (`Placement.plan`, VigilEngine) on per-VM forecasts: balance, consolidate, evacuate.
    case vigil
    /// Places once by peak reservation (first-fit decreasing on each VM's peak CPU and memory) and never moves.
    case `static`
    /// A DRS/Watcher-style reactive balancer: all hosts on; when a host's current CPU utilisation exceeds the
    /// threshold (0.8), migrate VMs to the least-loaded host that stays under it.
    case threshold
}

/// What one `vigil sim --cluster` run measured.
public struct ClusterResult: Sendable, Equatable, Codable {
    public var placement: String
    public var hosts: Int
    public var vms: Int
    public var simulatedHours: Double
    /// Served CPU demand / cores of powered (not off) hosts, time-weighted.
    public var meanHostUtilization: Double
    /// Host-minutes with demand (CPU or memory) above capacity.
    public var hostOverloadMinutes: Double
    /// VM-minutes on an overloaded host or in a live migration.
    public var degradedVMMinutes: Double
    public var migrations: Int
    public var energyKWh: Double
    public var meanHostsOn: Double
    public var powerOns: Int
    public var powerOffs: Int
    public var failures: Int
    /// Host failures with no VM left on the host when it failed (nil without failures).
    public var failuresEvacuatedFraction: Double?
    /// Mean minutes between the last VM leaving an evacuated host and its failure.
    public var evacuationLeadMinutes: Double?
    public var falseAlarms: Int
    /// VMs running on a host when it failed (restarted elsewhere once the host was fenced).
    public var instancesLost: Int
    public var restarts: Int
    /// Running VM-time / existing VM-time.
    public var vmAvailability: Double
    public var splitBrainRefused: Int
    public var refusedMoves: Int
    public var auditRecords: Int

    enum CodingKeys: String, CodingKey {
        case placement, hosts, vms, simulatedHours = "simulated_hours", meanHostUtilization = "mean_host_utilization"
        case hostOverloadMinutes = "host_overload_minutes", degradedVMMinutes = "degraded_vm_minutes", migrations
        case energyKWh = "energy_kwh", meanHostsOn = "mean_hosts_on", powerOns = "power_ons", powerOffs = "power_offs"
        case failures, failuresEvacuatedFraction = "failures_evacuated_fraction", evacuationLeadMinutes = "evacuation_lead_minutes"
        case falseAlarms = "false_alarms", instancesLost = "instances_lost", restarts, vmAvailability = "vm_availability"
        case splitBrainRefused = "split_brain_refused", refusedMoves = "refused_moves", auditRecords = "audit_records"
    }

    /// Every field, `null` when unknown (a reader sees `failures_evacuated_fraction: null`, not a missing key).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(placement, forKey: .placement)
        try c.encode(hosts, forKey: .hosts)
        try c.encode(vms, forKey: .vms)
        try c.encode(simulatedHours, forKey: .simulatedHours)
        try c.encode(meanHostUtilization, forKey: .meanHostUtilization)
        try c.encode(hostOverloadMinutes, forKey: .hostOverloadMinutes)
        try c.encode(degradedVMMinutes, forKey: .degradedVMMinutes)
        try c.encode(migrations, forKey: .migrations)
        try c.encode(energyKWh, forKey: .energyKWh)
        try c.encode(meanHostsOn, forKey: .meanHostsOn)
        try c.encode(powerOns, forKey: .powerOns)
        try c.encode(powerOffs, forKey: .powerOffs)
        try c.encode(failures, forKey: .failures)
        try c.encode(failuresEvacuatedFraction, forKey: .failuresEvacuatedFraction)
        try c.encode(evacuationLeadMinutes, forKey: .evacuationLeadMinutes)
        try c.encode(falseAlarms, forKey: .falseAlarms)
        try c.encode(instancesLost, forKey: .instancesLost)
        try c.encode(restarts, forKey: .restarts)
        try c.encode(vmAvailability, forKey: .vmAvailability)
        try c.encode(splitBrainRefused, forKey: .splitBrainRefused)
        try c.encode(refusedMoves, forKey: .refusedMoves)
        try c.encode(auditRecords, forKey: .auditRecords)
    }
}

/// Per-VM demand forecast for the planner, causal (from the minutes observed up to now): the engine's own
/// `InstanceDemandHistory` per VM (the same rule as `vigil daemon`'s placement), configured by `placement:`.
struct VMForecaster {
    var history: [InstanceDemandHistory]
    let horizonMin: Int

    init(vms: Int, config: PlacementConfig) {
        history = .init(repeating: InstanceDemandHistory(config: config), count: vms)
        horizonMin = Int(max(1, config.horizon.millis / 60_000))
    }

    mutating func observe(_ v: Int, t: Int64, cpu: Double, memory: Double) {
        history[v].observe(t: t, cpu: cpu, memoryGiB: memory)
    }

    func memory(_ v: Int) -> Double { history[v].memoryGiB }

    func forecast(_ v: Int) -> (cpu: Double, spread: Double) {
        history[v].forecast(horizonMinutes: horizonMin) ?? (0, 0)
    }
}

public enum ClusterRun {
    /// First-fit decreasing by peak CPU and memory onto hosts of the given size: (hosts needed, host of each VM).
    public static func staticPlacement(_ trace: ClusterTrace, cores: Double, memoryGiB: Double, hosts: Int? = nil) -> (hosts: Int, assignment: [Int]) {
        let order = trace.vms.indices.sorted { trace.vms[$0].peakCPU > trace.vms[$1].peakCPU || (trace.vms[$0].peakCPU == trace.vms[$1].peakCPU && $0 < $1) }
        var cpu: [Double] = [], mem: [Double] = []
        var assign = [Int](repeating: 0, count: trace.vms.count)
        for v in order {
            let c = trace.vms[v].peakCPU, m = trace.vms[v].peakMemory
            if let h = cpu.indices.first(where: { cpu[$0] + c <= cores + 1e-9 && mem[$0] + m <= memoryGiB + 1e-9 }) {
                cpu[h] += c; mem[h] += m; assign[v] = h
            } else if let limit = hosts, cpu.count >= limit {
                let h = cpu.indices.min { cpu[$0] / cores < cpu[$1] / cores } ?? 0  // overcommitted fleet: least reserved
                cpu[h] += c; mem[h] += m; assign[v] = h
            } else {
                cpu.append(c); mem.append(m); assign[v] = cpu.count - 1
            }
        }
        return (max(1, cpu.count), assign)
    }

    /// Replays `trace` on a fleet of `options.hosts` hosts (default: what `static` needs) under `kind`.
    public static func run(_ kind: PlacementKind, trace: ClusterTrace, options o: ClusterOptions, audit: JSONLinesAudit? = nil,
                           keepEvents: Bool = false, progress: ((Double) -> Void)? = nil) -> (ClusterResult, VMCluster) {
        let st = staticPlacement(trace, cores: o.hostCores, memoryGiB: o.hostMemoryGiB, hosts: o.hosts)
        let n = o.hosts ?? st.hosts
        let cluster = VMCluster(trace: trace, hosts: n, options: o)
        cluster.keepEvents = keepEvents
        let start = (trace.start / o.stepMs) * o.stepMs
        var end = trace.end
        if let h = o.hours { end = min(end, start + Int64(h * 3_600_000)) }
        let cfg = o.placement
        var fc = VMForecaster(vms: trace.vms.count, config: cfg)
        let interval = kind == .static ? Int64(1) << 60 : cfg.interval.millis
        var nextDecision = start
        var auditCount = 0
        var lastHolds = Set<String>()
        func record(_ r: AuditRecord) {
            auditCount += 1
            audit?.record(r)
        }
        switch kind {
        case .static, .threshold: cluster.initialPowerOn(Array(0..<n))
        case .vigil:
            cluster.initialPowerOn(Array(0..<n))
            for h in 0..<n { cluster.setDraining(h, false) }
        }
        if kind == .vigil { for h in 0..<n { cluster.clearPowerChange(h) } }
        /// One round of Vigil's planner at `t` on the cluster's state now; its decisions are audited and executed.
        func vigilRound(at t: Int64, consolidate: Bool) {
            let (hosts, vms, ids) = plannerInput(cluster, fc)
            var roundCfg = cfg
            if !consolidate { roundCfg.consolidate = false }
            let plan = Placement.plan(hosts: hosts, vms: vms, config: roundCfg, nowMillis: t)
            var holds = Set<String>()
            for r in plan.blocked {
                let key = "\(r.kind.rawValue)/\(r.instance ?? "")/\(r.gate ?? "")"
                holds.insert(key)
                if !lastHolds.contains(key) { record(r) }
            }
            lastHolds = holds
            for h in plan.drain { cluster.setDraining(h, true) }
            for h in plan.undrain { cluster.setDraining(h, false) }
            for m in plan.moves {
                var r = m.record
                if !cluster.migrate(ids[m.vm], to: m.to) { r.result = .failed; r.error = "the cluster refused the move" }
                record(r)
            }
            for p in plan.power {
                var r = p.record
                if !cluster.power(p.host, on: p.on) { r.result = .failed; r.error = "the cluster refused the power change" }
                record(r)
            }
        }
        func hostAtRisk() -> Bool {
            cluster.hosts.contains { $0.failureProbability >= cfg.failureProbability && $0.power == .on }
        }
        let total = Double(max(1, end - start))
        var t = start
        var lastProgress = 0.0
        while t <= end {
            cluster.advance(to: t)
            for v in cluster.vms.indices where cluster.vms[v].active {
                fc.observe(v, t: t, cpu: cluster.vms[v].cpu, memory: cluster.vms[v].memory)
            }
            haRestart(cluster, avoidRisk: kind == .vigil ? cfg.failureProbability : 2)
            placeNew(kind, cluster, st.assignment, fc, cfg)
            if kind != .vigil {
                // the baselines keep every host on: a repaired host is powered back on
                for h in cluster.hosts.indices where cluster.hosts[h].power == .off && cluster.hosts[h].state == .up { cluster.power(h, on: true) }
            }
            // Vigil plans every interval, and every step while a host is at risk (evacuation does not wait)
            let atRisk = kind == .vigil && hostAtRisk()
            // and every step while a powered host's demand now is over its ceiling (balance and growth only)
            let hot = kind == .vigil && !atRisk && t < nextDecision && cluster.hosts.indices.contains {
                cluster.hosts[$0].power == .on && cluster.cpuDemand($0) > cfg.ceiling * cluster.hosts[$0].cores
            }
            if t >= nextDecision || atRisk || hot {
                if t >= nextDecision { nextDecision = t + interval }
                switch kind {
                case .static: break
                case .threshold: thresholdStep(cluster, o)
                case .vigil: vigilRound(at: t, consolidate: !hot)
                }
            }
            cluster.account()
            // While a host is at risk the planner also runs within the step (the daemon's tick), so an evacuation
            // reuses a migration slot as soon as a migration ends instead of at the next step.
            if kind == .vigil, o.riskStepMs > 0, o.riskStepMs < o.stepMs, atRisk {
                var s = t + o.riskStepMs
                while s < t + o.stepMs, hostAtRisk() {
                    cluster.advanceMigrations(to: s)
                    vigilRound(at: s, consolidate: false)
                    s += o.riskStepMs
                }
            }
            if let progress, Double(t - start) / total - lastProgress >= 0.01 {
                lastProgress = Double(t - start) / total
                progress(lastProgress)
            }
            t += o.stepMs
        }
        let c = cluster
        let minutes = Double(c.steps) * Double(o.stepMs) / 60_000
        let r = ClusterResult(
            placement: kind.rawValue, hosts: n, vms: trace.vms.count, simulatedHours: minutes / 60,
            meanHostUtilization: c.poweredCoreMinutes > 0 ? c.servedCoreMinutes / c.poweredCoreMinutes : 0,
            hostOverloadMinutes: c.overloadHostMinutes, degradedVMMinutes: c.degradedVMMinutes, migrations: c.migrations,
            energyKWh: c.energyWh / 1000, meanHostsOn: minutes > 0 ? c.hostsOnMinutes / minutes : 0,
            powerOns: c.powerOns, powerOffs: c.powerOffs, failures: c.failuresHappened,
            failuresEvacuatedFraction: c.failuresHappened > 0 ? Double(c.failuresEvacuated) / Double(c.failuresHappened) : nil,
            evacuationLeadMinutes: c.evacuationLeadMinutes.isEmpty ? nil : c.evacuationLeadMinutes.reduce(0, +) / Double(c.evacuationLeadMinutes.count),
            falseAlarms: c.falseAlarms, instancesLost: c.instancesLost, restarts: c.restarts,
            vmAvailability: c.vmActiveMinutes > 0 ? 1 - c.vmDownMinutes / c.vmActiveMinutes : 1,
            splitBrainRefused: c.splitBrainRefused, refusedMoves: c.refusedMoves, auditRecords: auditCount)
        return (r, cluster)
    }

    /// The planner's view: running (or migrating) VMs with their forecasts; `ids` maps planner VM index → cluster VM.
    static func plannerInput(_ c: VMCluster, _ fc: VMForecaster) -> ([PlacementHost], [PlacementVM], [Int]) {
        let hosts = c.hosts.map { h in
            PlacementHost(id: h.id, cores: h.cores, memoryGiB: h.memoryGiB, power: h.power, state: h.state,
                          failureProbability: h.failureProbability, draining: h.draining, lastPowerChangeMillis: h.lastPowerChange)
        }
        var vms: [PlacementVM] = [], ids: [Int] = []
        for (i, v) in c.vms.enumerated() where v.active && v.host != nil && v.lostFrom == nil {
            let f = fc.forecast(i)
            vms.append(PlacementVM(id: v.id, host: v.host, migratingTo: v.migratingTo, cpu: f.cpu, cpuSpread: f.spread,
                                   memoryGiB: max(v.memory, fc.memory(i)), antiAffinity: v.antiAffinity, lastMovedMillis: v.lastMoved))
            ids.append(i)
        }
        return (hosts, vms, ids)
    }

    /// HA (every controller): a VM lost with a failed host restarts on the on, up host with the most free CPU that
    /// has its memory, once the failed host is fenced; a host is powered on when none has room.
    static func haRestart(_ c: VMCluster, avoidRisk: Double) {
        var needPower = false
        for v in c.vms.indices where c.vms[v].active && c.vms[v].lostFrom != nil {
            guard let from = c.vms[v].lostFrom, let f = c.hosts[from].fencedAt, f <= c.now else { continue }
            if let h = leastLoaded(c, fitting: c.vms[v].memory, excluding: from, avoidRisk: avoidRisk) { c.restart(v, on: h) } else { needPower = true }
        }
        if needPower, !c.hosts.contains(where: { $0.power == .booting }),
           let h = c.hosts.indices.first(where: { c.hosts[$0].power == .off && c.hosts[$0].state == .up }) {
            c.power(h, on: true)
        }
    }

    static func leastLoaded(_ c: VMCluster, fitting mem: Double, excluding x: Int? = nil, cpu: Double = 0, below: Double? = nil,
                            avoidRisk: Double = 2) -> Int? {
        var best: Int?, bestU = 0.0
        for h in c.hosts.indices where h != x && c.hosts[h].power == .on && c.hosts[h].state == .up && !c.hosts[h].draining
            && c.hosts[h].failureProbability < avoidRisk {
            guard c.memoryCommitted(h) + mem <= c.hosts[h].memoryGiB + 1e-9 else { continue }
            let u = (c.cpuDemand(h) + cpu) / c.hosts[h].cores
            if let b = below, u > b { continue }
            if best == nil || u < bestU { best = h; bestU = u }
        }
        return best
    }

    /// First start of VMs that appear in the trace.
    static func placeNew(_ kind: PlacementKind, _ c: VMCluster, _ assignment: [Int], _ fc: VMForecaster, _ cfg: PlacementConfig) {
        var needPower = false
        for v in c.vms.indices where c.vms[v].active && c.vms[v].host == nil && c.vms[v].lostFrom == nil {
            let vm = c.vms[v]
            switch kind {
            case .static:
                let h = assignment[v]
                if c.hosts[h].power == .on && c.hosts[h].state == .up { c.place(v, on: h) }
                else if let h2 = leastLoaded(c, fitting: vm.memory) { c.place(v, on: h2) }
            case .threshold:
                if let h = leastLoaded(c, fitting: vm.memory) { c.place(v, on: h) }
            case .vigil:
                // tightest host whose current demand plus this VM's (×1.5, no history yet) stays under the ceiling
                let need = vm.cpu * 1.5
                var best: Int?, bestU = -1.0
                for h in c.hosts.indices where c.hosts[h].power == .on && c.hosts[h].state == .up && !c.hosts[h].draining
                    && c.hosts[h].failureProbability < cfg.failureProbability {
                    guard c.memoryCommitted(h) + vm.memory <= cfg.memoryCeiling * c.hosts[h].memoryGiB else { continue }
                    let u = (c.cpuDemand(h) + need) / c.hosts[h].cores
                    if u <= cfg.ceiling, u > bestU { best = h; bestU = u }
                }
                if let h = best ?? leastLoaded(c, fitting: vm.memory, avoidRisk: cfg.failureProbability) { c.place(v, on: h) } else { needPower = true }
            }
        }
        if needPower, !c.hosts.contains(where: { $0.power == .booting }),
           let h = c.hosts.indices.first(where: { c.hosts[$0].power == .off && c.hosts[$0].state == .up }) {
            c.power(h, on: true)
        }
    }

    /// The reactive baseline: for each host over the threshold now, move the VM that alone brings it under (least
    /// memory), else the largest, to the least-loaded host that stays under; the same migration caps as Vigil.
    static func thresholdStep(_ c: VMCluster, _ o: ClusterOptions) {
        let cap = o.placement
        var inflight = [Int](repeating: 0, count: c.hosts.count)
        var cluster = 0
        for v in c.vms where v.active && v.migratingTo != nil {
            inflight[v.host!] += 1
            inflight[v.migratingTo!] += 1
            cluster += 1
        }
        for h in c.hosts.indices where c.hosts[h].power == .on && c.hosts[h].state == .up {
            var load = c.cpuDemand(h)
            let cores = c.hosts[h].cores
            var tries = 0
            while load / cores > o.threshold && tries < 20 {
                tries += 1
                let mine = c.vms.indices.filter { c.vms[$0].active && c.vms[$0].host == h && c.vms[$0].migratingTo == nil && c.isRunning($0) }
                guard !mine.isEmpty else { break }
                let solving = mine.filter { (load - c.vms[$0].cpu) / cores <= o.threshold }
                let v = solving.min { c.vms[$0].memory < c.vms[$1].memory || (c.vms[$0].memory == c.vms[$1].memory && $0 < $1) }
                    ?? mine.max { c.vms[$0].cpu < c.vms[$1].cpu || (c.vms[$0].cpu == c.vms[$1].cpu && $0 > $1) }!
                guard let t = leastLoaded(c, fitting: c.vms[v].memory, excluding: h, cpu: c.vms[v].cpu, below: o.threshold),
                      cluster < cap.maxMigrations, inflight[h] < cap.maxMigrationsPerHost, inflight[t] < cap.maxMigrationsPerHost else { break }
                guard c.migrate(v, to: t) else { break }
                inflight[h] += 1; inflight[t] += 1; cluster += 1
                load -= c.vms[v].cpu
            }
        }
    }

    // MARK: scale benchmark

    /// A random fleet for timing the planner: `hosts` hosts of 32 cores / 256 GiB, `vmsPerHost` VMs each, loaded
    /// 40–95 % (a few over the ceiling), one host at risk.
    public static func benchInput(hosts n: Int, vmsPerHost: Int, seed: UInt64) -> ([PlacementHost], [PlacementVM]) {
        var rng = SplitMix64(seed: seed)
        var hosts: [PlacementHost] = []
        var vms: [PlacementVM] = []
        for h in 0..<n {
            hosts.append(PlacementHost(id: "h\(h)", cores: 32, memoryGiB: 256, failureProbability: h == n / 2 ? 0.9 : 0))
            let target = 32 * (0.4 + 0.55 * rng.uniform())
            for k in 0..<vmsPerHost {
                let cpu = target / Double(vmsPerHost) * (0.5 + rng.uniform())
                vms.append(PlacementVM(id: "v\(h)-\(k)", host: h, cpu: cpu, cpuSpread: 0.1 * cpu, memoryGiB: 2 + 8 * rng.uniform(),
                                       antiAffinity: k == 0 ? "g\(h % 50)" : nil))
            }
        }
        for _ in 0..<(n / 4) { hosts.append(PlacementHost(id: "h\(hosts.count)", cores: 32, memoryGiB: 256, power: .off)) }
        return (hosts, vms)
    }

    /// Median wall time (ms) of one `Placement.plan` over `repeats` runs.
    public static func benchPlacement(hosts: Int, vmsPerHost: Int = 20, repeats: Int = 5) -> (ms: Double, moves: Int, power: Int) {
        let (hs, vs) = benchInput(hosts: hosts, vmsPerHost: vmsPerHost, seed: 7)
        var cfg = PlacementConfig()
        cfg.maxMigrations = max(8, hosts / 10)
        var times: [Double] = []
        var plan = PlacementPlan()
        for _ in 0..<repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            plan = Placement.plan(hosts: hs, vms: vs, config: cfg, nowMillis: 86_400_000)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        times.sort()
        return (times[times.count / 2], plan.moves.count, plan.power.count)
    }
}

/// A seeded synthetic cluster trace (the CSV `vigil sim --cluster` reads): each VM a log-normal base level with a
/// daily cycle (its own amplitude and phase), AR(1) noise and rare bursts; memory a log-normal level with a slow
/// drift; one VM in ten starts or ends inside the span.
public enum SyntheticCluster {
    public static func csv(vms: Int, days: Double, seed: UInt64, stepSeconds: Int = 300, start: Int64 = 1_700_006_400) -> String {
        var rng = SplitMix64(seed: seed)
        let steps = Int(days * 86_400) / stepSeconds
        var out = "vm,timestamp,cpu,memory\n"
        out.reserveCapacity(vms * steps * 28)
        for v in 0..<vms {
            let base = exp(-0.7 + 0.8 * rng.normal())          // median 0.5 cores
            let amp = 0.2 + 0.6 * rng.uniform()
            let phase = rng.uniform() * 2 * Double.pi
            let mem = exp(0.7 + 0.7 * rng.normal())            // median 2 GiB
            var from = 0, to = steps
            let r = rng.uniform()
            if r < 0.05 { from = Int(rng.uniform() * Double(steps / 2)) } else if r < 0.1 { to = steps / 2 + Int(rng.uniform() * Double(steps / 2)) }
            var x = 0.0
            var burst = 0
            for s in from..<max(from + 2, to) {
                let tod = Double(s * stepSeconds % 86_400) / 86_400
                x = 0.8 * x + 0.25 * rng.normal()
                if burst == 0 && rng.uniform() < 0.002 { burst = 3 + Int(rng.uniform() * 9) }
                var c = base * (1 + amp * sin(2 * .pi * tod + phase)) * exp(x - 0.05)
                if burst > 0 { c *= 2.5; burst -= 1 }
                let m = mem * (1 + 0.1 * sin(Double(s) / 500 + phase))
                out += "v\(v),\(start + Int64(s * stepSeconds)),\(String(format: "%.3f", max(0, c))),\(String(format: "%.2f", m))\n"
            }
        }
        return out
    }
}

/// A two-panel SVG (no dependencies): powered hosts over time, and utilisation of the powered cores, one line per
/// placement.
public enum ClusterPlot {
    public static func svg(_ series: [(String, [(t: Int64, hostsOn: Int, demand: Double, cores: Double)])], title: String) -> String {
        let w = 900.0, ph = 200.0, left = 50.0, top = 30.0, gap = 40.0
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
        let all = series.flatMap(\.1)
        let t0 = all.map(\.t).min() ?? 0, t1 = max((all.map(\.t).max() ?? 1), t0 + 1)
        let maxHosts = Double(max(1, all.map(\.hostsOn).max() ?? 1))
        func x(_ t: Int64) -> Double { left + (w - left - 10) * Double(t - t0) / Double(t1 - t0) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(top + 2 * ph + gap + 40))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        s += "<text x=\"\(left)\" y=\"16\" font-size=\"13\">\(escape(title))</text>\n"
        for (panel, label) in [(0, "powered hosts (max \(Int(maxHosts)))"), (1, "utilisation of powered cores (0–1)")] {
            let y0 = top + Double(panel) * (ph + gap)
            s += "<rect x=\"\(left)\" y=\"\(y0)\" width=\"\(w - left - 10)\" height=\"\(ph)\" fill=\"none\" stroke=\"#888\"/>\n"
            s += "<text x=\"\(left + 4)\" y=\"\(y0 + 12)\">\(label)</text>\n"
            for (i, (name, pts)) in series.enumerated() {
                var d = ""
                for (k, p) in pts.enumerated() {
                    let v = panel == 0 ? Double(p.hostsOn) / maxHosts : (p.cores > 0 ? min(1, p.demand / p.cores) : 0)
                    let y = y0 + ph * (1 - v)
                    d += (k == 0 ? "M" : "L") + String(format: "%.1f,%.1f ", x(p.t), y)
                }
                s += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(colors[i % colors.count])\" stroke-width=\"1.2\"/>\n"
                if panel == 0 { s += "<text x=\"\(w - 120)\" y=\"\(y0 + 14 + Double(i) * 13)\" fill=\"\(colors[i % colors.count])\">\(escape(name))</text>\n" }
            }
        }
        let hours = Double(t1 - t0) / 3_600_000
        s += "<text x=\"\(left)\" y=\"\(top + 2 * ph + gap + 20)\">0 h</text><text x=\"\(w - 60)\" y=\"\(top + 2 * ph + gap + 20)\">\(String(format: "%.0f", hours)) h</text>\n"
        return s + "</svg>\n"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
