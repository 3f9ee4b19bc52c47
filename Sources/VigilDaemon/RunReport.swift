import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import VigilCore
import VigilEngine
import VigilForecast
import VigilSim

/// The summary of a live run of the daemon on the sim driver (`vigil demo`), computed from what the run wrote and
/// recorded, read back through the public HTTP API like any client:
///
/// - forecast accuracy: every `vigil_forecast{metric="vigil_sim_group_demand"}` made during the run whose target
///   time has passed, against the actual demand resampled as the forecaster resampled it (mean per model step):
///   1 − WAPE of the median, and how often the actual stayed under the 95th-percentile forecast (nominal 95 %);
/// - the actions: `GET /api/v1/actions`, counted by kind and result, with the first reason of each kind;
/// - per group, the live run's cost (instance-hours), SLO-violation minutes and availability from the sim's
///   `vigil_sim_*_total` tallies, beside Kubernetes HPA replayed offline (`Simulation.run(.hpa)`, the real engine
///   in simulated time) on the same recorded demand, start-up time, interval and faults;
/// - crashes, recoveries, mean time to recovery, OOM kills, host failures (cluster-wide tallies).
public struct RunReport: Codable, Sendable {
    public struct ForecastScore: Codable, Sendable {
        public var horizon: String
        public var pairs: Int
        /// 1 − Σ|actual − median| / Σ|actual|.
        public var accuracy: Double
        /// Fraction of actuals ≤ the 95th-percentile forecast.
        public var upperCoverage: Double
    }
    public struct GroupFigures: Codable, Sendable {
        public var group: String
        public var instanceHours: Double
        public var sloViolationMinutes: Int
        public var availability: Double
        public var hpaInstanceHours: Double
        public var hpaSLOViolationMinutes: Int
        public var hpaAvailability: Double
        public var minutes: Int
    }
    public struct ActionCount: Codable, Sendable {
        public var kind: String
        public var result: String
        public var count: Int
        public var example: String
    }
    public var url: String
    public var seed: UInt64
    public var startMillis: Int64
    public var endMillis: Int64
    public var simulatedHours: Double
    public var forecasts: [ForecastScore]
    public var actions: [ActionCount]
    public var groups: [GroupFigures]
    public var crashes: Int
    public var recoveries: Int
    public var mttrSeconds: Double?
    public var oomKills: Int
    public var hostFailures: Int
    /// Demand served / demand, all groups.
    public var availability: Double
    /// A VM-level placement run (`vigil sim --cluster`) beside the live run: energy and migrations against static.
    public var placement: PlacementFigures?
    /// The live run's own placement (the engine's `placement:` section on the sim driver), nil when it was off.
    public var livePlacement: LivePlacement?

    public struct LivePlacement: Codable, Sendable {
        public var mode: String
        /// Live migrations the sim carried out (balance, consolidation and evacuation).
        public var migrations: Int
        /// Of those, evacuations off hosts at risk (executed `evacuate` actions in the audit).
        public var evacuations: Int
        public var powerOns: Int
        public var powerOffs: Int
        /// Hosts powered on at the end, of all hosts.
        public var hostsPowered: Int
        public var hosts: Int
        /// The first executed placement action's reason.
        public var example: String?
    }

    public struct PlacementFigures: Codable, Sendable {
        public var dataset: String
        public var vms: Int
        public var hours: Double
        public var energyKWh: Double
        public var staticEnergyKWh: Double
        public var migrations: Int
        public var meanHostUtilization: Double
        public var staticMeanHostUtilization: Double
        public var failures: Int
        public var evacuatedFraction: Double?
        public var vmAvailability: Double
    }

    /// A failed read of the server; the message names the query.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { message }
    }

    // MARK: computing

    /// Reads the run back from `url` (a `vigil serve --with-daemon` on the sim driver) and replays the HPA
    /// baseline. `config` is the daemon config the run used.
    public static func compute(url: String, config: DaemonConfig, clusterTrace: (name: String, path: String)?) async throws -> RunReport {
        guard let sim = config.driver.sim else { throw Failure(message: "the run's driver is not the sim driver") }
        let c = Client(base: url)
        let end = try await c.serverNow()
        let started = try await c.scalar("min(vigil_sim_start_time_seconds)", at: end)
        guard let started else { throw Failure(message: "\(url) has no vigil_sim_start_time_seconds: is the daemon running on the sim driver?") }
        let start = Int64((started * 1000).rounded())
        let spanS = max(1, (end - start) / 1000)
        var report = RunReport(url: url, seed: sim.seed, startMillis: start, endMillis: end,
                               simulatedHours: Double(end - start) / 3_600_000, forecasts: [], actions: [], groups: [],
                               crashes: 0, recoveries: 0, mttrSeconds: nil, oomKills: 0, hostFailures: 0, availability: 1)

        // forecasts, per horizon over all groups
        let back = spanS + sim.backfill.milliseconds / 1000 + 3600
        let actual = try await c.matrix("vigil_sim_group_demand[\(back)s]", at: end)
        let fc = try await c.matrix(#"vigil_forecast{metric="vigil_sim_group_demand"}[\#(spanS)s]"#, at: end)
        report.forecasts = Self.scoreForecasts(actual: actual, forecasts: fc, from: start, to: end)

        // actions
        let acts = try await c.actions()
        var counts: [String: ActionCount] = [:]
        for a in acts.reversed() {  // oldest first: the example is the first of its kind
            let k = "\(a.kind)/\(a.result)"
            if counts[k] == nil { counts[k] = ActionCount(kind: a.kind, result: a.result, count: 0, example: a.reason) }
            counts[k]!.count += 1
        }
        report.actions = counts.values.sorted { ($0.count, $0.kind, $0.result) > ($1.count, $1.kind, $1.result) }

        // cluster-wide tallies
        func total(_ name: String) async throws -> Double { try await c.scalar("sum(\(name))", at: end) ?? 0 }
        report.crashes = Int(try await total("vigil_sim_crashes_total"))
        report.recoveries = Int(try await total("vigil_sim_recoveries_total"))
        let recSeconds = try await total("vigil_sim_recovery_seconds_total")
        report.mttrSeconds = report.recoveries > 0 ? recSeconds / Double(report.recoveries) : nil
        report.oomKills = Int(try await total("vigil_sim_oom_kills_total"))
        report.hostFailures = Int(try await total("vigil_sim_host_failures_total"))

        // per group: live tallies, then HPA replayed on the recorded demand
        var served = 0.0, demanded = 0.0
        var baselineFaults = sim.faults
        baselineFaults.events.removeAll { if case .surge = $0.kind { return true } else { return false } }  // already in the demand
        for g in config.policies.keys.sorted() {
            func last(_ name: String) async throws -> Double { try await c.scalar(#"max(\#(name){group="\#(g)"})"#, at: end) ?? 0 }
            let inst = try await last("vigil_sim_instance_seconds_total")
            let dem = try await last("vigil_sim_demand_seconds_total")
            let srv = try await last("vigil_sim_served_seconds_total")
            let viol = try await last("vigil_sim_slo_violation_minutes_total")
            served += srv
            demanded += dem
            let series = actual.first { $0.labels["group"] == g }
            let pts = (series?.points ?? []).filter { $0.0 >= start && $0.0 <= end }
            var fig = GroupFigures(group: g, instanceHours: inst / 3600, sloViolationMinutes: Int(viol),
                                   availability: dem > 0 ? srv / dem : 1, hpaInstanceHours: 0, hpaSLOViolationMinutes: 0,
                                   hpaAvailability: 1, minutes: Int((end - start) / 60_000))
            if pts.count >= 2 {
                let trace = Trace(times: pts.map(\.0), values: pts.map(\.1))
                let peak = max(1e-9, pts.map(\.1).max() ?? 1)
                let demand = DemandModel(trace: trace, peakInstances: peak, noise: 0, seed: sim.seed)
                let policy = config.policies[g] ?? GroupPolicy()
                var o = SimOptions()
                o.peakInstances = peak
                o.startupMs = sim.startup.milliseconds
                o.intervalMs = policy.interval.millis
                o.target = 0.7
                o.seed = sim.seed
                o.faults = baselineFaults
                o.crashesPerInstanceDay = sim.crashesPerInstanceDay
                let r = await Simulation.run(.hpa, demand: demand, options: o)
                fig.hpaInstanceHours = r.instanceHours
                fig.hpaSLOViolationMinutes = r.sloViolationMinutes
                fig.hpaAvailability = r.availability
            }
            report.groups.append(fig)
        }
        report.availability = demanded > 0 ? served / demanded : 1

        if let pc = config.placement, pc.mode != .off {
            func kind(_ k: String) async throws -> Int { Int(try await c.scalar(#"max(vigil_sim_actions_total{kind="\#(k)"})"#, at: end) ?? 0) }
            let powered = try await c.scalar("sum(vigil_sim_host_powered)", at: end) ?? 0
            let hosts = try await c.scalar("count(vigil_sim_host_powered)", at: end) ?? 0
            let placed = acts.reversed().filter { ["migrate", "evacuate", "power_on", "power_off"].contains($0.kind) }
            report.livePlacement = LivePlacement(
                mode: pc.mode.rawValue, migrations: try await kind("migrate"),
                evacuations: placed.filter { $0.kind == "evacuate" && $0.result == "executed" }.count,
                powerOns: try await kind("power_on"), powerOffs: try await kind("power_off"),
                hostsPowered: Int(powered), hosts: Int(hosts),
                example: (placed.first { $0.result == "executed" } ?? placed.first)?.reason)
        }

        if let (name, path) = clusterTrace, let trace = try? ClusterTrace.load(path: path) {
            var o = ClusterOptions()
            o.seed = sim.seed
            o.failures = 2
            // N+1: the fleet static placement needs plus one host, as any HA cluster keeps to survive a host failure
            // (with exactly what static needs, a small trace fits on one host and a failure loses every VM)
            o.hosts = ClusterRun.staticPlacement(trace, cores: o.hostCores, memoryGiB: o.hostMemoryGiB).hosts + 1
            let (v, _) = ClusterRun.run(.vigil, trace: trace, options: o)
            let (s, _) = ClusterRun.run(.static, trace: trace, options: o)
            report.placement = PlacementFigures(dataset: name, vms: v.vms, hours: v.simulatedHours, energyKWh: v.energyKWh,
                                                staticEnergyKWh: s.energyKWh, migrations: v.migrations,
                                                meanHostUtilization: v.meanHostUtilization,
                                                staticMeanHostUtilization: s.meanHostUtilization, failures: v.failures,
                                                evacuatedFraction: v.failuresEvacuatedFraction, vmAvailability: v.vmAvailability)
        }
        return report
    }

    /// Pairs each forecast (origin t, horizon h) with the actual demand around t + h: the mean of the actual samples
    /// in the minute ending at t + h (the demand is written every engine interval; the forecaster forecasts its
    /// series at the series' own step, a minute or less here).
    static func scoreForecasts(actual: [Client.Series], forecasts: [Client.Series], from start: Int64, to end: Int64) -> [ForecastScore] {
        struct Acc { var pairs = 0; var absErr = 0.0; var absAct = 0.0; var covered = 0; var coverN = 0 }
        var acc: [String: Acc] = [:]
        let byGroup = Dictionary(actual.compactMap { s in s.labels["group"].map { ($0, s.points) } }, uniquingKeysWith: { a, _ in a })
        func actualMean(_ pts: [(Int64, Double)], endingAt t: Int64) -> Double? {
            // pts ascending: the first index after t, then walk back over the minute
            var lo = 0, hi = pts.count
            while lo < hi { let m = (lo + hi) / 2; if pts[m].0 <= t { lo = m + 1 } else { hi = m } }
            var i = lo - 1, sum = 0.0, n = 0
            while i >= 0, pts[i].0 > t - 60_000 { sum += pts[i].1; n += 1; i -= 1 }
            return n > 0 ? sum / Double(n) : nil
        }
        for f in forecasts {
            guard let h = f.labels["horizon"], let hMs = try? DurationParser.milliseconds(h), let q = f.labels["quantile"],
                  let group = f.labels["group"], let pts = byGroup[group] else { continue }
            var x = acc[h] ?? Acc()
            for (t, v) in f.points where t >= start && t + hMs <= end {
                guard let y = actualMean(pts, endingAt: t + hMs) else { continue }
                if q == "0.5" {
                    x.pairs += 1
                    x.absErr += abs(y - v)
                    x.absAct += abs(y)
                } else if q == "0.95" {
                    x.coverN += 1
                    if y <= v { x.covered += 1 }
                }
            }
            acc[h] = x
        }
        return acc.compactMap { h, x -> ForecastScore? in
            guard x.pairs > 0, x.absAct > 0 else { return nil }
            return ForecastScore(horizon: h, pairs: x.pairs, accuracy: 1 - x.absErr / x.absAct,
                                 upperCoverage: x.coverN > 0 ? Double(x.covered) / Double(x.coverN) : 0)
        }.sorted { ((try? DurationParser.milliseconds($0.horizon)) ?? 0) < ((try? DurationParser.milliseconds($1.horizon)) ?? 0) }
    }

    // MARK: text

    /// The summary as a person reads it.
    public var text: String {
        func pct(_ x: Double) -> String { String(format: "%.1f %%", 100 * x) }
        func f1(_ x: Double) -> String { String(format: "%.1f", x) }
        var out: [String] = []
        out.append("Run summary (seed \(seed), \(f1(simulatedHours)) simulated hours, read from \(url))")
        out.append("")
        out.append("Forecasts (online model on vigil_sim_group_demand, scored once their target time had passed):")
        if forecasts.isEmpty { out.append("  none scored yet (the first forecasts need their horizon to pass)") }
        for f in forecasts {
            out.append("  horizon \(f.horizon.padding(toLength: 5, withPad: " ", startingAt: 0)) accuracy (1 − WAPE) \(pct(f.accuracy)), actual ≤ p95 forecast \(pct(f.upperCoverage)) of \(f.pairs) forecasts")
        }
        out.append("")
        out.append("Actions (audit log, GET /api/v1/actions):")
        if actions.isEmpty { out.append("  none") }
        for a in actions.prefix(12) {
            out.append("  \(String(a.count).leftPad(5)) \(a.kind)/\(a.result)  e.g. \(a.example)")
        }
        out.append("")
        out.append("Healing: \(crashes) crashes (\(oomKills) OOM kills from the leak), \(hostFailures) host failures, \(recoveries) recoveries, mean time to recovery \(mttrSeconds.map { f1($0) + " s" } ?? "n/a") (simulated), availability \(String(format: "%.4f %%", 100 * availability)) of demand served")
        out.append("")
        out.append("Cost and SLO against Kubernetes HPA (defaults, target 70 %) replayed on the same demand and faults:")
        out.append("  group   instance-hours vigil / HPA (ratio)   SLO-violation minutes vigil / HPA   availability vigil / HPA")
        for g in groups {
            let ratio = g.hpaInstanceHours > 0 ? String(format: "%.3f×", g.instanceHours / g.hpaInstanceHours) : "n/a"
            out.append("  \(g.group.padding(toLength: 7, withPad: " ", startingAt: 0)) \(f1(g.instanceHours).leftPad(8)) / \(f1(g.hpaInstanceHours)) (\(ratio))".padding(toLength: 48, withPad: " ", startingAt: 0)
                       + "\(String(g.sloViolationMinutes).leftPad(8)) / \(g.hpaSLOViolationMinutes)".padding(toLength: 36, withPad: " ", startingAt: 0)
                       + "\(pct(g.availability)) / \(pct(g.hpaAvailability))")
        }
        if let p = livePlacement {
            out.append("")
            out.append("Placement in the live run (placement mode \(p.mode)): \(p.migrations) live migrations (\(p.evacuations) evacuations off hosts at risk), \(p.powerOffs) hosts powered off, \(p.powerOns) powered on; \(p.hostsPowered) of \(p.hosts) hosts powered at the end")
            if let e = p.example { out.append("  e.g. \(e)") }
        }
        if let p = placement {
            out.append("")
            out.append("Placement (vigil sim --cluster \(p.dataset): \(p.vms) VMs, \(f1(p.hours)) h, hosts: what static placement needs + 1 spare; two host failures, each after an hour of degradation):")
            let saving = p.staticEnergyKWh > 0 ? 1 - p.energyKWh / p.staticEnergyKWh : 0
            out.append("  energy \(f1(p.energyKWh)) kWh vs static placement \(f1(p.staticEnergyKWh)) kWh (\(saving >= 0 ? "−" : "+")\(pct(abs(saving)))), mean host utilisation \(pct(p.meanHostUtilization)) vs \(pct(p.staticMeanHostUtilization)), \(p.migrations) migrations, failed host evacuated \(p.evacuatedFraction.map(pct) ?? "n/a"), VM availability \(String(format: "%.5f", p.vmAvailability))")
        }
        return out.joined(separator: "\n")
    }

    // MARK: HTTP

    /// A minimal Prometheus-API client (instant queries, the actions API).
    public struct Client: Sendable {
        public let base: String
        public init(base: String) { self.base = base }
        struct Series { var labels: [String: String]; var points: [(Int64, Double)] }
        struct ActionRow { var kind: String; var result: String; var reason: String }

        func get(_ path: String, _ params: [(String, String)]) async throws -> Any {
            guard var comps = URLComponents(string: base + path) else { throw Failure(message: "invalid URL \(base)") }
            comps.queryItems = params.map { URLQueryItem(name: $0.0, value: $0.1) }
            comps.percentEncodedQuery = comps.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
            guard let url = comps.url else { throw Failure(message: "invalid URL \(base)") }
            var req = URLRequest(url: url)
            req.timeoutInterval = 60
            let (data, resp): (Data, URLResponse)
            do { (data, resp) = try await URLSession.shared.data(for: req) } catch {
                throw Failure(message: "\(base)\(path): \(error.localizedDescription)")
            }
            let status = (resp as? HTTPURLResponse)?.statusCode ?? 0
            let json = try? JSONSerialization.jsonObject(with: data)
            guard status == 200, let obj = json as? [String: Any], let d = obj["data"] else {
                let msg = ((json as? [String: Any])?["error"] as? String) ?? String(decoding: data.prefix(300), as: UTF8.self)
                throw Failure(message: "\(path) \(params.first?.1 ?? ""): HTTP \(status): \(msg)")
            }
            return d
        }

        static func secs(_ ms: Int64) -> String { String(format: "%.3f", Double(ms) / 1000) }

        func result(_ expr: String, at: Int64?) async throws -> (String, [[String: Any]]) {
            let d = try await get("/api/v1/query", [("query", expr)] + (at.map { [("time", Self.secs($0))] } ?? []))
            guard let o = d as? [String: Any], let type = o["resultType"] as? String else { throw Failure(message: "\(expr): unexpected answer") }
            if type == "scalar", let v = o["result"] as? [Any] { return (type, [["value": v]]) }
            return (type, o["result"] as? [[String: Any]] ?? [])
        }

        static func point(_ v: Any) -> (Int64, Double)? {
            guard let a = v as? [Any], a.count == 2, let s = a[1] as? String, let x = Double(s) else { return nil }
            let t: Double = (a[0] as? Double) ?? (a[0] as? NSNumber)?.doubleValue ?? .nan
            guard t.isFinite else { return nil }
            return (Int64((t * 1000).rounded()), x)
        }

        public func serverNow() async throws -> Int64 {
            let (_, rows) = try await result("time()", at: nil)
            guard let p = rows.first.flatMap({ $0["value"] }).flatMap(Self.point) else { throw Failure(message: "time(): no answer") }
            return Int64((p.1 * 1000).rounded())
        }

        public func scalar(_ expr: String, at: Int64) async throws -> Double? {
            let (_, rows) = try await result(expr, at: at)
            return rows.first.flatMap { $0["value"] }.flatMap(Self.point).map(\.1)
        }

        func matrix(_ expr: String, at: Int64) async throws -> [Series] {
            let (_, rows) = try await result(expr, at: at)
            return rows.map { r in
                Series(labels: r["metric"] as? [String: String] ?? [:],
                       points: (r["values"] as? [Any] ?? []).compactMap(Self.point))
            }
        }

        func actions() async throws -> [ActionRow] {
            let d = try await get("/api/v1/actions", [("limit", "10000")])
            return (d as? [[String: Any]] ?? []).map {
                ActionRow(kind: $0["kind"] as? String ?? "?", result: $0["result"] as? String ?? "?", reason: $0["reason"] as? String ?? "")
            }
        }
    }
}

extension String {
    fileprivate func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
