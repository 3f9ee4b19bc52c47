/// Kubernetes' Horizontal Pod Autoscaler algorithm (kubernetes/website
/// `content/en/docs/tasks/run-application/horizontal-pod-autoscale.md`; `pkg/controller/podautoscaler`), as pure
/// functions: the replica calculator and the default `behavior` (stabilisation and rate limits).
public enum HPA {
    /// The replica calculator for a utilisation metric.
    ///
    /// `desired = ceil(current × metric / target)`, where the metric is the ready pods' mean and `current` the
    /// number of pods with metrics; no change while `|metric/target − 1| ≤ tolerance`. When scaling up, pods not
    /// yet ready count as 0 % (they are set aside otherwise); if that reverses the direction or lands inside the
    /// tolerance, nothing changes.
    ///
    /// - Parameters:
    ///   - specReplicas: the current `spec.replicas`.
    ///   - ready: ready pods (with metrics).
    ///   - unready: pods started but not ready.
    ///   - utilization: the ready pods' mean utilisation (0.8 = 80 %).
    ///   - target: target utilisation.
    public static func desiredReplicas(specReplicas: Int, ready: Int, unready: Int, utilization: Double,
                                       target: Double, tolerance: Double = 0.1) -> Int {
        guard ready > 0 else { return specReplicas }  // no metrics: the HPA does not act
        let ratio = utilization / target
        if unready > 0 && ratio > 1 {
            let total = Double(ready) * utilization
            let newRatio = total / (Double(ready + unready) * target)
            if newRatio <= 1 || abs(newRatio - 1) <= tolerance { return specReplicas }
            return Int((newRatio * Double(ready + unready)).rounded(.up))
        }
        if abs(ratio - 1) <= tolerance { return specReplicas }
        return Int((ratio * Double(ready)).rounded(.up))
    }

    /// The largest scale-up the default policies allow from `replicas` in one 15 s period: max(+100 %, +4 pods).
    public static func scaleUpLimit(from replicas: Int) -> Int { max(2 * replicas, replicas + 4) }

    /// Stabilisation as the controller does it: the scale-up recommendation is the minimum of the window's
    /// recommendations (window 0 s by default: the current one), the scale-down recommendation the maximum; the
    /// result moves from `specReplicas` only towards a recommendation every recommendation in its window agrees with.
    public static func stabilize(specReplicas: Int, upRecommendations: [Int], downRecommendations: [Int]) -> Int {
        let up = upRecommendations.min() ?? specReplicas
        let down = downRecommendations.max() ?? specReplicas
        if specReplicas < up { return up }
        if specReplicas > down { return down }
        return specReplicas
    }
}

/// One group's HPA controller state: timestamped recommendations for the stabilisation window and the replica
/// changes of the last period for the rate limits.
struct HPAState {
    var recommendations: [(t: Int64, replicas: Int)] = []
    var changes: [(t: Int64, from: Int, to: Int)] = []

    /// The stabilised, rate-limited, bounded recommendation at `t` for `raw`.
    mutating func next(t: Int64, spec: Int, raw: Int, policy: GroupPolicy, upWindowMs: Int64 = 0,
                       periodMs: Int64 = 15_000) -> (replicas: Int, stabilizedFrom: Int?) {
        recommendations.append((t, raw))
        let keep = max(policy.stabilization.millis, upWindowMs)
        recommendations.removeAll { $0.t < t - keep }
        let down = recommendations.filter { $0.t > t - policy.stabilization.millis || $0.t == t }.map(\.replicas)
        let up = recommendations.filter { $0.t > t - upWindowMs || $0.t == t }.map(\.replicas)
        var r = HPA.stabilize(specReplicas: spec, upRecommendations: up, downRecommendations: down)
        // what the window held back, if anything: a recommendation below the group's minimum is the bound's
        // doing, not the window's (a group at its minimum with no load is not "held by stabilization")
        let floor = max(raw, policy.minReplicas)
        let stabilizedFrom: Int? = (floor < spec && r > floor) ? floor : nil
        // rate limits over the last period: up max(100 %, 4 pods), down 100 %
        changes.removeAll { $0.t <= t - periodMs }
        let periodStart = changes.first?.from ?? spec
        if r > spec { r = min(r, HPA.scaleUpLimit(from: periodStart)) }
        r = min(max(r, policy.minReplicas), policy.maxReplicas)
        return (r, stabilizedFrom)
    }

    mutating func applied(t: Int64, from: Int, to: Int) { changes.append((t, from, to)) }
}
