import ArgumentParser
import Foundation
import VigilCore
import VigilEngine
import VigilSim
import VigilConfig

/// `vigil sim`: replays a demand trace against a simulated cluster under Vigil's policy, Kubernetes HPA, a static
/// provisioning and an oracle, with the real remediation engine deciding in simulated time.
struct SimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Replay a real demand trace against a simulated cluster: Vigil's policy vs HPA vs static (vs oracle).",
        discussion: """
            The trace (CSV `timestamp,value`; Unix seconds, ISO-8601 or YYYY-MM-DD HH:MM:SS; any step) is scaled so \
            its maximum needs --peak-instances instances at 100 % utilisation, interpolated to the 15 s interval with \
            seeded autocorrelated noise (--noise, log-normal, AR(1) per minute). Every policy sees the same demand, \
            start-up time and faults. A minute violates the SLO when demand exceeds the ready instances' capacity \
            times 0.9 at any interval in it. Cost is instance-hours (starting, running and failed instances). HPA is \
            always run as the baseline; ratios are policy / HPA.

            Datasets (--dataset, from ./Datasets, derived by scripts/datasets/derive_sim_traces.py):
              nasa_http_1995_07_02_7d   NASA web server requests/min, 7 days (the tuning trace)
              nasa_http_1995_08_06_7d   the same server five weeks later (held out)
              google2019_cpu_5m         Google 2019 cell CPU, 5 min, 28 days (held out)
              azure2019_cpu_5m          Azure 2019 VM CPU sum, 5 min, 30 days (held out)

            Examples:
              vigil sim --dataset nasa_http_1995_07_02_7d
              vigil sim --trace my_rps.csv --policy all --seed 7 --json
              vigil sim --dataset google2019_cpu_5m --crash-rate 1 --audit vigil-audit.jsonl
              vigil sim --dataset nasa_http_1995_07_02_7d --policy-file policy.yml --hours 24
              vigil sim --bench-decisions 100,1000,10000   # engine decision time as the fleet grows
              vigil sim --dataset nasa_http_1995_07_02_7d --hours 48 --plot sim.svg
              vigil sim --dataset nasa_http_1995_07_02_7d --hours 24 \
                --faults 'crash:rate=1/day; crashloop@6h:instance=svc-2,count=5; surge@12h:factor=3,duration=1h'

            FAULTS (--faults SPEC; OFFSET is a duration from the start: 90s, 30m, 6h, 1d; seeded by --seed):
              SPEC := FAULT (';' FAULT)*     FAULT := KIND ['@' OFFSET] [':' KEY=VALUE (',' KEY=VALUE)*]
              crash:rate=R                   random crashes, R per instance-day (1/day, 0.5/h, 3/d)
              crash@T[:instance=ID]          one crash (no instance: a seeded pick among the running ones)
              crashloop@T[:instance=ID][,count=N][,after=DUR]
                                             crashes at T, then DUR (30s) after each time it is ready; N (5) in all
              leak@T[:instance=ID],rate=R[,limit=SIZE]
                                             memory grows R (10%/h, 200MiB/h) from 25 % of SIZE (2GiB) until
                                             OOM-killed; every incarnation leaks again
              host-degrade@T[:host=ID][,fail_after=DUR][,down_after=DUR][,repair_after=DUR]
                                             degraded at T, unreachable after 30m (instances unknown, not fenced),
                                             down 5m later (fenced), up again after repair_after (never by default)
              surge@T[:factor=F][,duration=DUR]   demand × F (2) for DUR (1h)

            VM placement (--cluster FILE: a long CSV vm,timestamp,cpu[,memory]; cpu in cores, memory in GiB):
              vigil sim --cluster Datasets/cluster_bitbrains_dev.csv                 # vigil vs static vs threshold
              vigil sim --cluster Datasets/cluster_bitbrains_test.csv --placement vigil --json --failures 4
              vigil sim --generate-cluster synth.csv --vms 200 --days 7 --seed 3    # a seeded synthetic fleet
              vigil sim --bench-placement 100,1000                                  # planner time, 20 VMs per host
            """
    )

    @Option(help: "Demand trace CSV (timestamp,value).")
    var trace: String?

    @Option(help: "A committed trace by name (see below).")
    var dataset: String?

    @Option(help: "Where --dataset looks.")
    var datasetsDir = "Datasets"

    @Option(help: "vigil | hpa | static | oracle | all (HPA always runs as the baseline).")
    var policy = "all"

    @Option(help: "YAML policy for Vigil's run (`policies: {svc: {...}}`, the config's policy schema).")
    var policyFile: String?

    @Option(help: "Seed for noise and faults.")
    var seed: UInt64 = 1

    @Option(help: "Simulate only the first H hours.")
    var hours: Double?

    @Option(help: "Instances the trace's maximum needs at 100 % utilisation.")
    var peakInstances = 20.0

    @Option(help: "Instance start-up time (e.g. 120s, 5m).")
    var startup = "120s"

    @Option(help: "HPA's target utilisation.")
    var target = 0.7

    @Option(help: "Vigil's reactive guard's target utilisation (its forecast is provisioned at the SLO threshold, 0.9).")
    var vigilTarget = 0.8

    @Option(help: "Upper quantile Vigil provisions for (with auto-tuning: its starting point).")
    var quantile = 0.9

    @Flag(inversion: .prefixedNo, help: "Vigil's online auto-tuning: once a simulated day, replay the last 3 days over quantile × peak utilisation and HPA and adopt the cheapest setting within a violation budget (default: on, or the policy file's `autotune`).")
    var autotune: Bool?

    @Option(help: "Noise: standard deviation of the log demand factor (0 = off).")
    var noise = 0.05

    @Option(help: "Injected crashes per instance-day (the same as --faults 'crash:rate=R/day').")
    var crashRate = 0.0

    @Option(help: ArgumentHelp("Faults to inject, ';'-separated (repeatable); see FAULTS below.", valueName: "spec"))
    var faults: [String] = []

    @Option(help: "Score only from this many hours after the start (a held-out span after a warm-up).")
    var scoreFrom: Double?

    @Option(help: "Write Vigil's audit log (JSON lines) here.")
    var audit: String?

    @Flag(help: "One JSON object instead of a table.")
    var json = false

    @OptionGroup(title: "VM placement (--cluster)") var clusterArgs: SimClusterArguments

    @Option(help: "Write an SVG: demand, capacity and violations over time, and the cost-versus-violations curves (Vigil at quantiles 0.8/0.9/0.95/0.98, HPA at targets 0.5/0.6/0.7/0.8; 8 extra runs). With --cluster: powered hosts and utilisation over time per placement.")
    var plot: String?

    @Option(help: "Instead of a replay: time one engine step for these instance counts (comma-separated; 10 per group).")
    var benchDecisions: String?

    func run() async throws {
        if clusterArgs.isRequested { return try clusterArgs.run(seed: seed, hours: hours, json: json, audit: audit, plot: plot) }
        if let b = benchDecisions {
            let counts = b.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !counts.isEmpty, counts.allSatisfy({ $0 >= 10 }) else { throw ValidationError("--bench-decisions: counts ≥ 10, e.g. 100,1000,10000") }
            print("instances  groups  step-ms (median of 20)")
            for n in counts {
                let ms = await Simulation.benchDecision(instances: n, groups: n / 10)
                print(String(format: "%9d  %6d  %8.2f", n, n / 10, ms))
            }
            return
        }
        let path: String
        switch (trace, dataset) {
        case (let t?, nil): path = t
        case (nil, let d?): path = (datasetsDir as NSString).appendingPathComponent("sim_\(d).csv")
        default: throw ValidationError("give exactly one of --trace FILE or --dataset NAME")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("\(path) not found" + (dataset != nil ? " (run from the repository root, or pass --datasets-dir)" : ""))
        }
        let tr: Trace
        do { tr = try Trace.load(path: path) } catch { throw ValidationError("\(error)") }
        var o = SimOptions()
        o.seed = seed
        o.hours = hours
        o.peakInstances = peakInstances
        do { o.startupMs = try DurationParser.milliseconds(startup) } catch { throw ValidationError("--startup: \(error)") }
        guard target > 0, target <= 1 else { throw ValidationError("--target must be in (0, 1]") }
        guard quantile > 0.5, quantile < 1 else { throw ValidationError("--quantile must be in (0.5, 1)") }
        guard peakInstances >= 1 else { throw ValidationError("--peak-instances must be ≥ 1") }
        guard noise >= 0, crashRate >= 0 else { throw ValidationError("--noise and --crash-rate must be ≥ 0") }
        o.target = target
        guard vigilTarget > 0, vigilTarget <= 1 else { throw ValidationError("--vigil-target must be in (0, 1]") }
        o.vigilTarget = vigilTarget
        o.quantile = quantile
        o.noise = noise
        o.crashesPerInstanceDay = crashRate
        o.recordSeries = plot != nil
        if !faults.isEmpty {
            do { o.faults = try FaultPlan.parse(faults.joined(separator: ";")) } catch { throw ValidationError("\(error)") }
        }
        if let s = scoreFrom {
            guard s >= 0 else { throw ValidationError("--score-from must be ≥ 0 hours") }
            o.scoreFromHours = s
        }
        if let f = policyFile { o.vigilPolicy = try loadSimPolicy(path: f) }
        o.autotune = autotune
        let kinds: [SimPolicy]
        if policy == "all" { kinds = [.vigil, .hpa, .static, .oracle] } else {
            guard let k = SimPolicy(rawValue: policy) else { throw ValidationError("--policy: vigil, hpa, static, oracle or all") }
            kinds = k == .hpa ? [.hpa] : [k, .hpa]
        }
        let demand = DemandModel(trace: tr, peakInstances: o.peakInstances, noise: o.noise, seed: o.seed)
        let tty = isatty(2) != 0
        var results: [SimResult] = []
        for k in kinds {
            var auditSink: JSONLinesAudit?
            var handle: FileHandle?
            if k == .vigil, let a = audit {
                _ = FileManager.default.createFile(atPath: a, contents: nil)
                handle = FileHandle(forWritingAtPath: a)
                auditSink = JSONLinesAudit(handle: handle, keepInMemory: false)
            }
            let started = Date()
            let r = await Simulation.run(k, demand: demand, options: o, audit: auditSink) { f in
                if tty { FileHandle.standardError.write(Data(String(format: "\r%@: %3.0f%%", k.rawValue, f * 100).utf8)) }
            }
            try? handle?.close()
            if tty { FileHandle.standardError.write(Data(String(format: "\r%@: done in %.1f s\n", k.rawValue, Date().timeIntervalSince(started)).utf8)) }
            results.append(r)
        }
        if let out = plot {
            var curves: [String: [SimPlot.Point]] = [:]
            var c = o
            c.recordSeries = false
            for q in [0.8, 0.9, 0.95, 0.98] {
                c.quantile = q
                if var vp = o.vigilPolicy { vp.quantile = q; c.vigilPolicy = vp }
                let r = await Simulation.run(.vigil, demand: demand, options: c)
                curves["vigil", default: []].append(SimPlot.Point(label: "q \(q)", instanceHours: r.instanceHours, violationMinutes: r.sloViolationMinutes))
            }
            c = o
            c.recordSeries = false
            for u in [0.5, 0.6, 0.7, 0.8] {
                c.target = u
                let r = await Simulation.run(.hpa, demand: demand, options: c)
                curves["hpa", default: []].append(SimPlot.Point(label: "target \(u)", instanceHours: r.instanceHours, violationMinutes: r.sloViolationMinutes))
            }
            let svg = SimPlot.render(title: "vigil sim \(path) (seed \(seed))",
                                     runs: results.compactMap { r in r.series.map { (r.policy, $0) } }, curves: curves)
            do { try Data(svg.utf8).write(to: URL(fileURLWithPath: out)) } catch { throw ValidationError("--plot: cannot write \(out): \(error.localizedDescription)") }
            FileHandle.standardError.write(Data("wrote \(out)\n".utf8))
        }
        let hpa = results.first { $0.policy == "hpa" }
        if json {
            var obj: [String: Any] = ["trace": path, "seed": seed, "peak_instances": peakInstances, "startup_s": Double(o.startupMs) / 1000,
                                      "target": target, "quantile": quantile, "noise": noise, "crash_rate": crashRate]
            if !faults.isEmpty { obj["faults"] = faults.joined(separator: ";") }
            if let s = scoreFrom { obj["score_from_hours"] = s }
            var pol: [String: Any] = [:]
            let enc = JSONEncoder()
            for r in results {
                var d = (try? JSONSerialization.jsonObject(with: enc.encode(r))) as? [String: Any] ?? [:]
                if let h = hpa {
                    d["violation_ratio_vs_hpa"] = h.sloViolationMinutes > 0 ? Double(r.sloViolationMinutes) / Double(h.sloViolationMinutes) : nil
                    d["cost_ratio_vs_hpa"] = h.instanceHours > 0 ? r.instanceHours / h.instanceHours : nil
                }
                pol[r.policy] = d
            }
            obj["policies"] = pol
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("trace \(path): \(String(format: "%.1f", results.first?.simulatedHours ?? 0)) h simulated, peak \(Int(peakInstances)) instances, start-up \(startup), target \(target), seed \(seed), crashes/instance-day \(crashRate)")
        print("policy   inst-hours  vs-hpa  SLO-viol-min  vs-hpa  mean-util  actions  restarts  avail      MTTR-s  θU%    θO%    τU%    τO%    jitter/h")
        for r in results {
            let cr = hpa.map { $0.instanceHours > 0 ? String(format: "%.3f", r.instanceHours / $0.instanceHours) : "-" } ?? "-"
            let vr = hpa.map { $0.sloViolationMinutes > 0 ? String(format: "%.3f", Double(r.sloViolationMinutes) / Double($0.sloViolationMinutes)) : "-" } ?? "-"
            print(String(format: "%-8@ %10.1f  %6@  %12d  %6@  %9.3f  %7d  %8d  %.6f  %6@  %5.2f  %5.1f  %5.2f  %5.1f  %7.2f",
                         r.policy, r.instanceHours, cr, r.sloViolationMinutes, vr, r.meanUtilization, r.actions, r.restarts,
                         r.availability, r.mttrSeconds.map { String(format: "%.0f", $0) } ?? "-", r.thetaU, r.thetaO, r.tauU, r.tauO, r.jitter))
        }
        if !o.faults.isEmpty || crashRate > 0 {
            print("faults: policy  crashes  oom  hosts-lost  restarts  relocations  fences  pages  missed  fault-availability")
            for r in results {
                print(String(format: "        %-7@ %7d  %3d  %10d  %8d  %11d  %6d  %5d  %6d  %.6f", r.policy, r.crashes, r.oomKills,
                             r.hostFailures, r.restarts, r.relocations, r.fences, r.pages, r.faultsMissed, r.faultAvailability))
            }
        }
    }
}

/// Reads a policy file for `vigil sim`: `policies:` mapping group names to `GroupPolicy`; the group `svc` or the only
/// one. The one place that decodes policy YAML here: swap to `VigilConfig`'s strict decoder when it lands.
/// The remediation engine's sections of `vigil.yml` (docs/engine.md): `policies:` maps a group name to its policy.
let policySections: [ConfigSection] = [ConfigSection("policies", [String: GroupPolicy].self),
                                       ConfigSection("placement", PlacementConfig.self)]

func loadSimPolicy(path: String) throws -> GroupPolicy {
    // The one strict config loader (file:line:column errors, unknown keys refused), as `vigil serve` reads it.
    let config: VigilConfig
    do { config = try VigilConfig.load(file: path, sections: policySections) } catch { throw ValidationError("\(error)") }
    let policies = config.section("policies", as: [String: GroupPolicy].self) ?? [:]
    if let p = policies[Simulation.group] { return p }
    guard policies.count == 1, let p = policies.values.first else {
        throw ValidationError("\(path): expected one policy under `policies:` (or one named \(Simulation.group))")
    }
    return p
}
