import ArgumentParser
import Foundation
import VigilConfig
import VigilCore
import VigilEngine
import VigilSim

/// `vigil sim --cluster FILE`: replays per-VM demand on a simulated fleet under Vigil's placement planner, a static
/// peak-reservation placement and a DRS/Watcher-style threshold balancer (docs/engine.md, "VM placement").
struct SimClusterArguments: ParsableArguments {
    @Option(help: "Per-VM demand CSV (vm,timestamp,cpu[,memory]; cpu in cores, memory in GiB).")
    var cluster: String?

    @Option(help: "vigil | static | threshold | all.")
    var placement = "all"

    @Option(help: "Hosts in the fleet (default: what static's first-fit-decreasing on peaks needs).")
    var hosts: Int?

    @Option(help: "Cores per host.")
    var hostCores = 32.0

    @Option(help: "Memory per host (GiB).")
    var hostMemoryGib = 128.0

    @Option(help: "Injected host failures, each preceded by --failure-lead of degradation.")
    var failures = 0

    @Option(help: "Degradation before each injected failure (e.g. 60m).")
    var failureLead = "60m"

    @Option(help: "Degradations that recover (false alarms) per injected failure.")
    var falseAlarms = 0.0

    @Option(help: "The threshold baseline's trigger (current host CPU utilisation).")
    var threshold = 0.8

    @Option(help: "Host power model: hp-ml110-g5 (SPECpower, idle 93.7 W, peak 135 W) or ibm-x3550-m3 (58.4 W, 222 W).")
    var powerModel = "hp-ml110-g5"

    @Option(help: "YAML file with a `placement:` section (docs/configuration.md) for Vigil's planner.")
    var config: String?

    @Option(help: "Write a seeded synthetic cluster CSV (with --vms, --days, --seed) and exit.")
    var generateCluster: String?

    @Option(help: "VMs for --generate-cluster.")
    var vms = 200

    @Option(help: "Days for --generate-cluster.")
    var days = 7.0

    @Option(help: "Time one placement decision for these host counts (comma-separated; 20 VMs per host) and exit.")
    var benchPlacement: String?

    var isRequested: Bool { cluster != nil || generateCluster != nil || benchPlacement != nil }

    /// `plot` is `vigil sim`'s `--plot`: with --cluster, an SVG of powered hosts and utilisation over time per placement.
    func run(seed: UInt64, hours: Double?, json: Bool, audit: String?, plot: String?) throws {
        if let b = benchPlacement {
            let counts = b.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !counts.isEmpty, counts.allSatisfy({ $0 >= 2 }) else { throw ValidationError("--bench-placement: host counts ≥ 2, e.g. 100,1000") }
            print("hosts   vms      plan-ms (median of 5)  moves  power")
            for n in counts {
                let r = ClusterRun.benchPlacement(hosts: n)
                print(String(format: "%5d  %7d  %12.1f  %13d  %5d", n, n * 20, r.ms, r.moves, r.power))
            }
            return
        }
        if let g = generateCluster {
            guard vms >= 1, days > 0 else { throw ValidationError("--vms must be ≥ 1 and --days > 0") }
            let text = SyntheticCluster.csv(vms: vms, days: days, seed: seed)
            do { try text.write(toFile: g, atomically: true, encoding: .utf8) } catch { throw ValidationError("\(g): \(error.localizedDescription)") }
            return
        }
        guard let path = cluster else { throw ValidationError("--cluster FILE is required") }
        let trace: ClusterTrace
        do { trace = try ClusterTrace.load(path: path) } catch { throw ValidationError("\(error)") }
        var o = ClusterOptions()
        o.seed = seed
        o.hours = hours
        guard hostCores > 0, hostMemoryGib > 0 else { throw ValidationError("--host-cores and --host-memory-gib must be > 0") }
        o.hostCores = hostCores
        o.hostMemoryGiB = hostMemoryGib
        if let h = hosts { guard h >= 1 else { throw ValidationError("--hosts must be ≥ 1") }; o.hosts = h }
        guard failures >= 0, falseAlarms >= 0 else { throw ValidationError("--failures and --false-alarms must be ≥ 0") }
        o.failures = failures
        o.falseAlarmsPerFailure = falseAlarms
        do { o.failureLeadMs = try DurationParser.milliseconds(failureLead) } catch { throw ValidationError("--failure-lead: \(error)") }
        guard threshold > 0, threshold <= 1 else { throw ValidationError("--threshold must be in (0, 1]") }
        o.threshold = threshold
        switch powerModel {
        case PowerModel.specpowerML110G5.name: o.powerModel = .specpowerML110G5
        case PowerModel.specpowerX3550M3.name: o.powerModel = .specpowerX3550M3
        default: throw ValidationError("--power-model: hp-ml110-g5 or ibm-x3550-m3")
        }
        if let f = config {
            let c: VigilConfig
            do { c = try VigilConfig.load(file: f, sections: policySections) } catch { throw ValidationError("\(error)") }
            if let p = c.section("placement", as: PlacementConfig.self) { o.placement = p }
        }
        let kinds: [PlacementKind]
        if placement == "all" { kinds = PlacementKind.allCases } else {
            guard let k = PlacementKind(rawValue: placement) else { throw ValidationError("--placement: vigil, static, threshold or all") }
            kinds = [k]
        }
        let tty = isatty(2) != 0
        var results: [ClusterResult] = []
        var timelines: [(String, [(t: Int64, hostsOn: Int, demand: Double, cores: Double)])] = []
        for k in kinds {
            var sink: JSONLinesAudit?
            var handle: FileHandle?
            if k == .vigil, let a = audit {
                _ = FileManager.default.createFile(atPath: a, contents: nil)
                handle = FileHandle(forWritingAtPath: a)
                sink = JSONLinesAudit(handle: handle, keepInMemory: false)
            }
            let started = Date()
            let (r, c) = ClusterRun.run(k, trace: trace, options: o, audit: sink) { f in
                if tty { FileHandle.standardError.write(Data(String(format: "\r%@: %3.0f%%", k.rawValue, f * 100).utf8)) }
            }
            try? handle?.close()
            if tty { FileHandle.standardError.write(Data(String(format: "\r%@: done in %.1f s\n", k.rawValue, Date().timeIntervalSince(started)).utf8)) }
            results.append(r)
            timelines.append((k.rawValue, c.timeline))
        }
        if let p = plot {
            do { try ClusterPlot.svg(timelines, title: "\(path): powered hosts and utilisation").write(toFile: p, atomically: true, encoding: .utf8) } catch {
                throw ValidationError("--plot \(p): \(error.localizedDescription)")
            }
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        if json {
            if results.count == 1 {
                print(String(decoding: try enc.encode(results[0]), as: UTF8.self))
            } else {
                var obj: [String: Any] = ["cluster": path, "seed": seed, "host_cores": hostCores, "host_memory_gib": hostMemoryGib]
                var pol: [String: Any] = [:]
                let st = results.first { $0.placement == "static" }
                for r in results {
                    var d = (try? JSONSerialization.jsonObject(with: enc.encode(r))) as? [String: Any] ?? [:]
                    if let s = st, s.energyKWh > 0 { d["energy_ratio_vs_static"] = r.energyKWh / s.energyKWh }
                    pol[r.placement] = d
                }
                obj["policies"] = pol
                print(String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]), as: UTF8.self))
            }
            return
        }
        print("cluster \(path): \(trace.vms.count) VMs, \(String(format: "%.1f", results.first?.simulatedHours ?? 0)) h, \(results.first?.hosts ?? 0) hosts × \(hostCores) cores / \(hostMemoryGib) GiB, seed \(seed), failures \(failures)")
        print("placement  util   overload-min  degraded-vm-min  migrations  energy-kWh  hosts-on  power-on/off  evacuated  lead-min  lost  availability")
        for r in results {
            print(String(format: "%-9@  %.3f  %12.0f  %15.0f  %10d  %10.2f  %8.2f  %5d/%-6d  %9@  %8@  %4d  %.6f",
                         r.placement, r.meanHostUtilization, r.hostOverloadMinutes, r.degradedVMMinutes, r.migrations, r.energyKWh,
                         r.meanHostsOn, r.powerOns, r.powerOffs,
                         r.failuresEvacuatedFraction.map { String(format: "%.2f", $0) } ?? "-",
                         r.evacuationLeadMinutes.map { String(format: "%.0f", $0) } ?? "-", r.instancesLost, r.vmAvailability))
        }
    }
}
