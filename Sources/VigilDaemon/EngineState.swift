import Foundation
import VigilCore
import VigilEngine

/// The engine's state as series (CONTRACTS.md §2; docs/daemon.md): built after every step, appended to the store
/// the daemon reads (inside `vigil serve`) and rendered on the daemon's `/metrics`.
public enum EngineState {
    /// Every state series at `t`.
    public static func series(t: Int64, observation: Observation?, policies: [String: GroupPolicy],
                              status: [String: VigilEngine.Engine.GroupStatus], actionCounts: [String: Int],
                              steps: Int, lastStepSeconds: Double, queryErrors: Int) -> [SeriesSamples] {
        var out: [SeriesSamples] = []
        func add(_ name: String, _ labels: [(String, String)], _ v: Double) {
            out.append(SeriesSamples(labels: Labels([("__name__", name)] + labels), timestamps: [t], values: [v]))
        }
        let inv = observation?.inventory
        for g in policies.keys.sorted() {
            let p = policies[g]!
            let members = inv?.instances.filter { $0.group == g } ?? []
            let gl = [("group", g)]
            if let inv {
                add("vigil_group_replicas", gl, Double(members.count))
                add("vigil_group_ready_replicas", gl, Double(members.filter { $0.state == .running }.count))
                if let o = observation?.groups[g] { add("vigil_group_load", gl, o.load) }
                if let s = status[g]?.desired {
                    add("vigil_group_desired_replicas", gl, Double(s))
                } else if let spec = inv.groups.first(where: { $0.id == g })?.desiredReplicas {
                    add("vigil_group_desired_replicas", gl, Double(spec))
                }
            }
            add("vigil_group_min_replicas", gl, Double(p.minReplicas))
            add("vigil_group_max_replicas", gl, Double(p.maxReplicas))
            if let u = status[g]?.forecastUpper { add("vigil_group_forecast_upper", gl, u) }
        }
        if let inv {
            let perHost = Dictionary(grouping: inv.instances.filter { $0.state != .stopped }, by: \.host)
            for h in inv.hosts.sorted(by: { $0.id < $1.id }) {
                add("vigil_host_up", [("host", h.id)], h.state == .up ? 1 : 0)
                for st in ["up", "degraded", "unreachable", "down", "maintenance"] {
                    add("vigil_host_state", [("host", h.id), ("state", st)], h.state.rawValue == st ? 1 : 0)
                }
                add("vigil_host_vcpus", [("host", h.id)], Double(h.vcpus))
                add("vigil_host_memory_bytes", [("host", h.id)], Double(h.memoryMiB) * 1_048_576)
                add("vigil_host_instances", [("host", h.id)], Double(perHost[h.id]?.count ?? 0))
            }
            for i in inv.instances.sorted(by: { $0.id < $1.id }) {
                add("vigil_instance_up", [("instance", i.id), ("group", i.group), ("host", i.host)], i.state == .running ? 1 : 0)
            }
        }
        for (k, n) in actionCounts.sorted(by: { $0.key < $1.key }) {
            let parts = k.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            add("vigil_actions_total", [("kind", parts[0]), ("result", parts[1])], Double(n))
        }
        add("vigil_engine_steps_total", [], Double(steps))
        add("vigil_engine_step_seconds", [], lastStepSeconds)
        add("vigil_daemon_query_errors_total", [], Double(queryErrors))
        return out
    }

    static let help: [String: (type: String, help: String)] = [
        "vigil_group_replicas": ("gauge", "Instances the driver reports for the group, any state."),
        "vigil_group_ready_replicas": ("gauge", "Running (ready) instances of the group."),
        "vigil_group_desired_replicas": ("gauge", "The engine's current replica decision for the group."),
        "vigil_group_min_replicas": ("gauge", "The group policy's min_replicas."),
        "vigil_group_max_replicas": ("gauge", "The group policy's max_replicas."),
        "vigil_group_load": ("gauge", "The group's demand in instances' worth of work."),
        "vigil_group_forecast_upper": ("gauge", "The forecast's provisioned-for upper quantile of load (predictive)."),
        "vigil_host_up": ("gauge", "1 when the host is up."),
        "vigil_host_state": ("gauge", "1 for the host's current state, 0 for the others."),
        "vigil_host_vcpus": ("gauge", "vCPUs of the host."),
        "vigil_host_memory_bytes": ("gauge", "Memory of the host."),
        "vigil_host_instances": ("gauge", "Instances placed on the host (not stopped)."),
        "vigil_instance_up": ("gauge", "1 when the instance is running."),
        "vigil_actions_total": ("counter", "Engine decisions by action kind and result (from the audit, across restarts)."),
        "vigil_engine_steps_total": ("counter", "Engine steps since start."),
        "vigil_engine_step_seconds": ("gauge", "Wall time the last engine step took."),
        "vigil_daemon_query_errors_total": ("counter", "Policy queries (load_query, slo series) that failed or returned nothing."),
    ]

    /// Prometheus text exposition of `series` (one sample each, no timestamps), with HELP/TYPE per name.
    public static func exposition(_ series: [SeriesSamples]) -> String {
        var out = ""
        var seen = Set<String>()
        let byName = Dictionary(grouping: series, by: { $0.labels.metricName ?? "" })
        for name in byName.keys.sorted() {
            if let h = help[name], seen.insert(name).inserted {
                out += "# HELP \(name) \(h.help)\n# TYPE \(name) \(h.type)\n"
            }
            for s in byName[name]! {
                let rest = s.labels.filter { $0.name != "__name__" }
                out += name
                if !rest.isEmpty {
                    out += "{" + rest.map { "\($0.name)=\"\(Labels.escape($0.value))\"" }.joined(separator: ",") + "}"
                }
                out += " \(format(s.values.last ?? .nan))\n"
            }
        }
        return out
    }

    static func format(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }
}
