import Foundation
import VigilCore
import VigilEngine
import VigilSim

/// Something the runner calls before every engine step, at the step's time: it may move a simulated world forward
/// and returns samples to append to the store (empty when it has none).
public protocol StepHook: Sendable {
    func beforeStep(at t: Int64) async -> [SeriesSamples]
    /// Called once when the runner stops (e.g. stop the replicas a process driver started).
    func stop() async
}

extension StepHook {
    public func stop() async {}
}

/// `driver: {kind: sim}`: a `SimCluster` run live on the daemon's clock. Before every step it advances the cluster
/// to the step's time, sets each group's demand from the trace (replayed from `startMillis` at `speed`, wrapping at
/// the trace's end, times the surges of `faults`) and the SLO value from a queueing model, and returns the simulated
/// instances' metrics:
///
/// - `vigil_sim_instance_cpu_utilization{instance,group,host}`: the group's demand spread over its ready instances
///   (0 for an instance that is not running), capped at 1;
/// - `vigil_sim_instance_memory_ratio{instance,group,host}`: memory in use / limit (a leaking instance climbs to 1,
///   then is OOM-killed);
/// - `vigil_sim_host_cpu_utilization{host}`, `vigil_sim_host_memory_utilization{host}`: the host's busy vCPUs and
///   used memory as fractions (each instance is one vCPU with a 2 GiB limit); hosts that are down or unreachable
///   report nothing;
/// - `vigil_sim_group_demand{group}`: demand in instances' worth of work;
/// - `vigil_sim_group_latency_seconds{group}`: M/M/1 response time `service_time / (1 − ρ)` with ρ = demand / ready
///   (ρ capped at 0.99, so an overloaded or empty group reads 100 × the service time);
/// - `vigil_sim_group_ready{group}`, `vigil_sim_group_provisioned{group}`: instances serving / paid for;
/// - the run's tallies as counters since the daemon started, with `vigil sim`'s accounting (`Simulation.run`):
///   `vigil_sim_instance_seconds_total{group}` (cost), `vigil_sim_demand_seconds_total{group}` and
///   `vigil_sim_served_seconds_total{group}` (availability = served / demand),
///   `vigil_sim_slo_violation_minutes_total{group}` (minutes with demand > 0.9 × ready), and cluster-wide
///   `vigil_sim_crashes_total`, `vigil_sim_recoveries_total`, `vigil_sim_recovery_seconds_total` (MTTR = seconds /
///   recoveries), `vigil_sim_oom_kills_total`, `vigil_sim_host_failures_total`; `vigil_sim_start_time_seconds` (when
///   the tallies began); `vigil_sim_actions_total{kind=scale|restart|relocate|fence|migrate|power_on|power_off}`
///   (driver calls that changed something); `vigil_sim_host_powered{host}` (1 on, 0 off, booting or shutting down)
///   and `vigil_sim_host_failure_probability{host}` (a degraded host's rising failure probability).
///
/// With `backfill`, the first step also writes the groups' demand for that span before the start (one sample a
/// minute), so forecasts and the predictive policy have history from the first minute.
public final class LiveSim: StepHook, @unchecked Sendable {
    public let cluster: SimCluster
    public let demand: DemandModel
    public let config: SimDriverConfig
    public let startMillis: Int64
    private let groups: [String]
    /// The SLO threshold of the violation tally (`SimOptions.sloThreshold`).
    public static let sloThreshold = 0.9
    /// The memory limit of one simulated instance (what `vigil_sim_instance_memory_ratio` is a ratio of).
    public static let instanceMemoryGiB = 2.0

    private struct Tally {
        var instanceMs = 0.0, demandMs = 0.0, servedMs = 0.0
        var violatedMinutes = Set<Int64>()
    }
    private let lock = NSLock()
    private var tallies: [String: Tally] = [:]
    private var lastStep: Int64?
    private var backfilled = false

    /// `baseDir` resolves a relative `trace:` (the config file's directory).
    public init(config: SimDriverConfig, groups: [String], startMillis: Int64, baseDir: String? = nil) async throws {
        var path = config.trace
        if !path.hasPrefix("/"), let baseDir { path = URL(fileURLWithPath: baseDir).appendingPathComponent(path).path }
        let trace: Trace
        do { trace = try Trace.load(path: path) } catch { throw MetricSourceError("driver.sim.trace: \(error)") }
        self.config = config
        self.startMillis = startMillis
        self.groups = groups.sorted()
        demand = DemandModel(trace: trace, peakInstances: config.peakInstances, noise: config.noise, seed: config.seed)
        cluster = SimCluster(startMillis: startMillis, startupMs: config.startup.milliseconds, hosts: config.hosts,
                             vcpusPerHost: config.vcpusPerHost, seed: config.seed,
                             crashesPerInstanceDay: config.crashesPerInstanceDay)
        for g in self.groups { await cluster.addGroup(g, replicas: config.initialReplicas) }
        await cluster.schedule(config.faults, from: startMillis)
    }

    /// Trace time for clock time `t` (before the start too), shifted by `shiftMs` of trace time, wrapping at the
    /// trace's end.
    public func traceTime(_ t: Int64, shiftMs: Int64 = 0) -> Int64 {
        let span = max(1, demand.endMillis - demand.startMillis)
        let raw = Int64((Double(t - startMillis) * config.speed).rounded()) + shiftMs
        let off = ((raw % span) + span) % span
        return demand.startMillis + off
    }

    /// Demand of group `g` at clock time `t` (the i-th group, by name, replays the trace i hours later, so groups
    /// differ), times the surge factor of the fault plan at that time.
    public func demand(_ g: String, at t: Int64) -> Double {
        let i = Int64(groups.firstIndex(of: g) ?? 0)
        return demand.demand(at: traceTime(t, shiftMs: i * 3_600_000)) * config.faults.demandFactor(atOffset: t - startMillis)
    }

    public func latency(demand d: Double, ready: Int) -> Double {
        let rho = ready > 0 ? min(0.99, d / Double(ready)) : 0.99
        return config.serviceTime / (1 - rho)
    }

    /// The groups' demand for `backfill` before the start, one sample a minute (the trace's own values: no surge).
    public func history() -> [SeriesSamples] {
        let span = config.backfill.milliseconds
        guard span > 0 else { return [] }
        let step: Int64 = 60_000
        let first = startMillis - (span / step) * step
        let times = Array(stride(from: first, to: startMillis, by: Int(step))).map { Int64($0) }
        return groups.map { g in
            let i = Int64(groups.firstIndex(of: g) ?? 0)
            return SeriesSamples(labels: Labels([("__name__", "vigil_sim_group_demand"), ("group", g)]), timestamps: times,
                                 values: times.map { demand.demand(at: traceTime($0, shiftMs: i * 3_600_000)) })
        }
    }

    static func sample(_ name: String, _ labels: [(String, String)], _ t: Int64, _ v: Double) -> SeriesSamples {
        SeriesSamples(labels: Labels([("__name__", name)] + labels), timestamps: [t], values: [v])
    }

    public func beforeStep(at t: Int64) async -> [SeriesSamples] {
        await cluster.advance(to: t)
        var out: [SeriesSamples] = []
        let first: Bool = lock.withLock { defer { backfilled = true }; return !backfilled }
        if first { out += history() }
        let dt = lock.withLock { () -> Double in
            defer { lastStep = t }
            return Double(max(0, t - (lastStep ?? t)))
        }
        var hostCPU: [String: Double] = [:], hostMem: [String: Double] = [:]
        for g in groups {
            let d = demand(g, at: t)
            let members = await cluster.instances(of: g)
            let cap = await cluster.capacity(g)
            let ready = cap.ready
            let lat = latency(demand: d, ready: ready)
            await cluster.setLoad(g, d, slo: lat)
            let tally = lock.withLock { () -> Tally in
                var x = tallies[g] ?? Tally()
                x.instanceMs += Double(cap.provisioned) * dt
                x.servedMs += min(d, Double(ready)) * dt
                x.demandMs += d * dt
                if dt > 0 && d > Self.sloThreshold * Double(ready) { x.violatedMinutes.insert(t / 60_000) }
                tallies[g] = x
                return x
            }
            let gl = [("group", g)]
            out.append(Self.sample("vigil_sim_group_demand", gl, t, d))
            out.append(Self.sample("vigil_sim_group_latency_seconds", gl, t, lat))
            out.append(Self.sample("vigil_sim_group_ready", gl, t, Double(ready)))
            out.append(Self.sample("vigil_sim_group_provisioned", gl, t, Double(cap.provisioned)))
            out.append(Self.sample("vigil_sim_instance_seconds_total", gl, t, tally.instanceMs / 1000))
            out.append(Self.sample("vigil_sim_demand_seconds_total", gl, t, tally.demandMs / 1000))
            out.append(Self.sample("vigil_sim_served_seconds_total", gl, t, tally.servedMs / 1000))
            out.append(Self.sample("vigil_sim_slo_violation_minutes_total", gl, t, Double(tally.violatedMinutes.count)))
            let u = ready > 0 ? min(1, d / Double(ready)) : 0
            for m in members {
                let il = [("instance", m.id), ("group", g), ("host", m.host)]
                out.append(Self.sample("vigil_sim_instance_cpu_utilization", il, t, m.state == .running ? u : 0))
                if m.state == .running { hostCPU[m.host, default: 0] += u }
                if m.state == .running || m.state == .starting, let mem = await cluster.memoryFraction(instance: m.id) {
                    out.append(Self.sample("vigil_sim_instance_memory_ratio", il, t, mem))
                    hostMem[m.host, default: 0] += mem * Self.instanceMemoryGiB
                }
            }
        }
        // each instance is one vCPU and has a 2 GiB memory limit (SimCluster's leak model)
        for h in await cluster.hostInfos() {
            out.append(Self.sample("vigil_sim_host_powered", [("host", h.id)], t, h.isPoweredOn ? 1 : 0))
            out.append(Self.sample("vigil_sim_host_failure_probability", [("host", h.id)], t, h.failureProbability ?? 0))
        }
        for h in (try? await cluster.inventory().hosts) ?? [] where h.state != .down && h.state != .unreachable && h.isPoweredOn {
            out.append(Self.sample("vigil_sim_host_cpu_utilization", [("host", h.id)], t, (hostCPU[h.id] ?? 0) / Double(max(1, h.vcpus))))
            out.append(Self.sample("vigil_sim_host_memory_utilization", [("host", h.id)], t,
                                   (hostMem[h.id] ?? 0) / max(1, Double(h.memoryMiB) / 1024)))
        }
        out.append(Self.sample("vigil_sim_start_time_seconds", [], t, Double(startMillis) / 1000))
        let c = await cluster.counters
        for (name, v) in [("vigil_sim_crashes_total", Double(c.crashes)), ("vigil_sim_recoveries_total", Double(c.recoveries)),
                          ("vigil_sim_recovery_seconds_total", c.recoverySeconds), ("vigil_sim_oom_kills_total", Double(c.oomKills)),
                          ("vigil_sim_host_failures_total", Double(c.hostFailures))] {
            out.append(Self.sample(name, [], t, v))
        }
        for (kind, v) in [("scale", c.scaleActions), ("restart", c.restarts), ("relocate", c.relocations), ("fence", c.fences), ("migrate", c.migrations),
                          ("power_on", c.powerOns), ("power_off", c.powerOffs)] {
            out.append(Self.sample("vigil_sim_actions_total", [("kind", kind)], t, Double(v)))
        }
        return out
    }
}
