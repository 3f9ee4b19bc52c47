import VigilCore

/// A duration in a policy file: a Prometheus-style string (`120s`, `5m`, `1h30m`) or a number of seconds.
public struct PolicyDuration: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    public var millis: Int64

    public init(millis: Int64) { self.millis = millis }
    public static func seconds(_ s: Int64) -> PolicyDuration { PolicyDuration(millis: s * 1000) }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Double.self) {
            guard n >= 0, n.isFinite else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "duration must be ≥ 0, got \(n)")
            }
            millis = Int64((n * 1000).rounded())
            return
        }
        let s = try c.decode(String.self)
        do { millis = try DurationParser.milliseconds(s) } catch {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(DurationParser.format(millis))
    }

    public var description: String { DurationParser.format(millis) }
}

/// What a group is scaled for.
public enum Objective: Sendable, Equatable, Codable {
    /// Keep the ready instances' mean utilisation (load / ready) at this fraction (0 < u ≤ 1).
    case utilization(Double)
    /// Keep an SLO series (latency in seconds, error ratio) at or below `max`; scaled in proportion, as HPA does
    /// for an external metric. `series` is a PromQL expression the daemon evaluates every step (the driver's own
    /// SLO observation is used only where no query source is configured).
    case slo(series: String, max: Double)

    enum CodingKeys: String, CodingKey { case utilization, slo }
    struct SLO: Codable { var series: String; var max: Double }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let u = try c.decodeIfPresent(Double.self, forKey: .utilization) {
            guard u > 0, u <= 1 else {
                throw DecodingError.dataCorruptedError(forKey: .utilization, in: c,
                                                       debugDescription: "utilization must be in (0, 1], got \(u)")
            }
            self = .utilization(u)
        } else if let s = try c.decodeIfPresent(SLO.self, forKey: .slo) {
            guard s.max > 0 else {
                throw DecodingError.dataCorruptedError(forKey: .slo, in: c, debugDescription: "slo.max must be > 0")
            }
            self = .slo(series: s.series, max: s.max)
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath,
                                                    debugDescription: "objective needs `utilization: U` or `slo: {series, max}`"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .utilization(let u): try c.encode(u, forKey: .utilization)
        case .slo(let s, let m): try c.encode(SLO(series: s, max: m), forKey: .slo)
        }
    }
}

/// How a group's replica count is chosen.
public enum ScalingStrategy: String, Sendable, Equatable, Codable {
    /// Vigil's: provision for the forecast's upper quantile over the start-up time, with HPA's rule as a reactive
    /// guard; scale in slowly and never below what the forecast needs.
    case predictive
    /// Kubernetes HPA's algorithm and defaults (reactive only): the baseline.
    case hpa
    /// Never scale (restarts still happen).
    case none
}

/// What the engine does with an action that passed every gate.
public enum PolicyMode: String, Sendable, Equatable, Codable {
    /// Execute it.
    case auto
    /// Record it in the audit log, execute nothing (shadow mode).
    case dryRun = "dry-run"
    /// Queue it until `Engine.approve(_:)` (later: `POST /api/v1/actions/{id}/approve`, the TUI).
    case approve
}

/// A daily window (UTC) in which the group's scaling actions are held back; restarts still happen.
public struct MaintenanceWindow: Sendable, Equatable, Codable {
    /// Start, `HH:MM` UTC.
    public var start: String
    public var duration: PolicyDuration
    /// Days of the week it applies to (`mon` … `sun`); empty = every day.
    public var days: [String]

    public init(start: String, duration: PolicyDuration, days: [String] = []) {
        self.start = start
        self.duration = duration
        self.days = days
    }

    enum CodingKeys: String, CodingKey { case start, duration, days }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        start = try c.decode(String.self, forKey: .start)
        duration = try c.decode(PolicyDuration.self, forKey: .duration)
        days = try c.decodeIfPresent([String].self, forKey: .days) ?? []
        guard startMinute != nil else {
            throw DecodingError.dataCorruptedError(forKey: .start, in: c, debugDescription: "expected HH:MM (UTC), got \"\(start)\"")
        }
        for d in days where Self.dayNames.firstIndex(of: d.lowercased()) == nil {
            throw DecodingError.dataCorruptedError(forKey: .days, in: c, debugDescription: "unknown day \"\(d)\" (mon … sun)")
        }
    }

    static let dayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    var startMinute: Int? {
        let p = start.split(separator: ":")
        guard p.count == 2, let h = Int(p[0]), let m = Int(p[1]), (0..<24).contains(h), (0..<60).contains(m) else { return nil }
        return h * 60 + m
    }

    /// Whether `t` (ms since the epoch) falls in the window (a window may run past midnight).
    public func contains(_ t: Int64) -> Bool {
        guard let sm = startMinute else { return false }
        let dayMs: Int64 = 86_400_000
        let day = t >= 0 ? t / dayMs : (t - dayMs + 1) / dayMs
        // the window starting today or yesterday may cover t
        for d in [day, day - 1] {
            let s = d * dayMs + Int64(sm) * 60_000
            guard t >= s, t < s + duration.millis else { continue }
            if days.isEmpty { return true }
            let weekday = Int(((d % 7) + 7 + 3) % 7)  // 1970-01-01 was a Thursday (index 3)
            if days.contains(where: { $0.lowercased() == Self.dayNames[weekday] }) { return true }
        }
        return false
    }
}

/// How failed instances are brought back: restart in place with capped exponential back-off, then relocate, then
/// page a human.
public struct RestartPolicy: Sendable, Equatable, Codable {
    /// Back-off before the second restart; doubles each failure (the first restart is immediate).
    public var backoff: PolicyDuration = .seconds(10)
    /// Back-off cap.
    public var maxBackoff: PolicyDuration = .seconds(300)
    /// An instance that stayed up this long starts again with a clean record.
    public var resetAfter: PolicyDuration = .seconds(600)
    /// Restarts in place before relocating to another host.
    public var restartsBeforeRelocate: Int = 3
    /// Relocations before paging a human and leaving the instance alone.
    public var relocationsBeforePage: Int = 1
    /// Where the page goes (recorded in the page action; the server posts it).
    public var webhook: String? = nil

    public init() {}

    enum CodingKeys: String, CodingKey {
        case backoff, maxBackoff = "max_backoff", resetAfter = "reset_after"
        case restartsBeforeRelocate = "restarts_before_relocate", relocationsBeforePage = "relocations_before_page"
        case webhook
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = RestartPolicy()
        backoff = try c.decodeIfPresent(PolicyDuration.self, forKey: .backoff) ?? d.backoff
        maxBackoff = try c.decodeIfPresent(PolicyDuration.self, forKey: .maxBackoff) ?? d.maxBackoff
        resetAfter = try c.decodeIfPresent(PolicyDuration.self, forKey: .resetAfter) ?? d.resetAfter
        restartsBeforeRelocate = try c.decodeIfPresent(Int.self, forKey: .restartsBeforeRelocate) ?? d.restartsBeforeRelocate
        relocationsBeforePage = try c.decodeIfPresent(Int.self, forKey: .relocationsBeforePage) ?? d.relocationsBeforePage
        webhook = try c.decodeIfPresent(String.self, forKey: .webhook)
        guard restartsBeforeRelocate >= 0, relocationsBeforePage >= 0 else {
            throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: "restart counts must be ≥ 0"))
        }
    }

    /// The wait before restart number `n` (1-based) of a failure streak: 0, backoff, 2·backoff, … capped.
    public func delay(beforeRestart n: Int) -> Int64 {
        if n <= 1 { return 0 }
        var d = backoff.millis
        for _ in 2..<n {
            d = d > maxBackoff.millis / 2 ? maxBackoff.millis : d * 2
        }
        return min(d, maxBackoff.millis)
    }
}

/// At most `count` actions per `window` for a group (0 = unlimited).
public struct ActionBudget: Sendable, Equatable, Codable {
    public var count: Int
    public var window: PolicyDuration
    public init(count: Int, window: PolicyDuration) {
        self.count = count
        self.window = window
    }
}

/// One group's policy (`policies: <group>:` in the config).
public struct GroupPolicy: Sendable, Equatable, Codable {
    public var objective: Objective = .utilization(0.7)
    public var strategy: ScalingStrategy = .predictive
    public var minReplicas: Int = 1
    public var maxReplicas: Int = 100
    /// From start to ready (boot, warm-up): the forecast looks this far ahead plus one interval.
    public var startup: PolicyDuration = .seconds(120)
    /// How often the engine decides (HPA's sync period).
    public var interval: PolicyDuration = .seconds(15)
    /// HPA's tolerance: no action while |metric/target − 1| ≤ this.
    public var tolerance: Double = 0.1
    /// Scale-in takes the highest recommendation of this window (HPA's scale-down stabilisation).
    public var stabilization: PolicyDuration = .seconds(300)
    /// Minimum time between two scale-outs.
    public var scaleOutCooldown: PolicyDuration = .seconds(0)
    /// Minimum time after any scale action before a scale-in.
    public var scaleInCooldown: PolicyDuration = .seconds(0)
    /// Rate limit on the group's actions.
    public var maxActions: ActionBudget = ActionBudget(count: 0, window: .seconds(600))
    /// Upper quantile of the demand forecast provisioned for (predictive strategy).
    public var quantile: Double = 0.95
    /// Utilisation the forecast's upper quantile may reach (predictive strategy): the SLO's headroom, not the
    /// mean target (the quantile already covers the noise the mean target's headroom is for).
    public var peakUtilization: Double = 0.9
    /// Predictive strategy with a utilisation objective: once a day, replay the group's own last days over a grid
    /// of `quantile` × `peak_utilization` and HPA, and adopt the cheapest setting within a violation budget derived
    /// from HPA's (AutoTune.swift). The configured values are the starting point and the replay's SLO headroom.
    public var autotune = true
    public var mode: PolicyMode = .auto
    public var maintenance: [MaintenanceWindow] = []
    public var restart: RestartPolicy = RestartPolicy()
    /// A PromQL expression giving the group's load (demand in instances' worth of work), evaluated by the daemon at
    /// every step against its query source (the local store or `--query-url`); nil: the driver's own observation.
    public var loadQuery: String? = nil

    public init() {}

    /// Kubernetes HPA defaults: target 0.7 here (the usual choice; HPA has no default target), 15 s sync, 10 %
    /// tolerance, 300 s scale-down stabilisation, no extra rate limit.
    public static func hpaDefaults(target: Double = 0.7, min: Int = 1, max: Int = 100) -> GroupPolicy {
        var p = GroupPolicy()
        p.strategy = .hpa
        p.objective = .utilization(target)
        p.minReplicas = min
        p.maxReplicas = max
        return p
    }

    enum CodingKeys: String, CodingKey {
        case objective, strategy, minReplicas = "min_replicas", maxReplicas = "max_replicas", startup, interval
        case tolerance, stabilization, scaleOutCooldown = "scale_out_cooldown", scaleInCooldown = "scale_in_cooldown"
        case maxActions = "max_actions", quantile, peakUtilization = "peak_utilization", mode, maintenance, restart
        case loadQuery = "load_query", autotune
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = GroupPolicy()
        objective = try c.decodeIfPresent(Objective.self, forKey: .objective) ?? d.objective
        strategy = try c.decodeIfPresent(ScalingStrategy.self, forKey: .strategy) ?? d.strategy
        minReplicas = try c.decodeIfPresent(Int.self, forKey: .minReplicas) ?? d.minReplicas
        maxReplicas = try c.decodeIfPresent(Int.self, forKey: .maxReplicas) ?? d.maxReplicas
        startup = try c.decodeIfPresent(PolicyDuration.self, forKey: .startup) ?? d.startup
        interval = try c.decodeIfPresent(PolicyDuration.self, forKey: .interval) ?? d.interval
        tolerance = try c.decodeIfPresent(Double.self, forKey: .tolerance) ?? d.tolerance
        stabilization = try c.decodeIfPresent(PolicyDuration.self, forKey: .stabilization) ?? d.stabilization
        scaleOutCooldown = try c.decodeIfPresent(PolicyDuration.self, forKey: .scaleOutCooldown) ?? d.scaleOutCooldown
        scaleInCooldown = try c.decodeIfPresent(PolicyDuration.self, forKey: .scaleInCooldown) ?? d.scaleInCooldown
        maxActions = try c.decodeIfPresent(ActionBudget.self, forKey: .maxActions) ?? d.maxActions
        quantile = try c.decodeIfPresent(Double.self, forKey: .quantile) ?? d.quantile
        peakUtilization = try c.decodeIfPresent(Double.self, forKey: .peakUtilization) ?? d.peakUtilization
        autotune = try c.decodeIfPresent(Bool.self, forKey: .autotune) ?? d.autotune
        mode = try c.decodeIfPresent(PolicyMode.self, forKey: .mode) ?? d.mode
        maintenance = try c.decodeIfPresent([MaintenanceWindow].self, forKey: .maintenance) ?? d.maintenance
        restart = try c.decodeIfPresent(RestartPolicy.self, forKey: .restart) ?? d.restart
        loadQuery = try c.decodeIfPresent(String.self, forKey: .loadQuery)
        if let q = loadQuery, q.trimmingCharacters(in: .whitespaces).isEmpty {
            throw DecodingError.dataCorruptedError(forKey: .loadQuery, in: c, debugDescription: "load_query is empty")
        }
        func bad(_ k: CodingKeys, _ m: String) -> DecodingError { .dataCorruptedError(forKey: k, in: c, debugDescription: m) }
        guard minReplicas >= 0 else { throw bad(.minReplicas, "min_replicas must be ≥ 0, got \(minReplicas)") }
        guard maxReplicas >= minReplicas else { throw bad(.maxReplicas, "max_replicas (\(maxReplicas)) < min_replicas (\(minReplicas))") }
        guard interval.millis > 0 else { throw bad(.interval, "interval must be > 0") }
        guard tolerance >= 0, tolerance < 1 else { throw bad(.tolerance, "tolerance must be in [0, 1), got \(tolerance)") }
        guard quantile > 0.5, quantile < 1 else { throw bad(.quantile, "quantile must be in (0.5, 1), got \(quantile)") }
        guard peakUtilization > 0, peakUtilization <= 1 else {
            throw bad(.peakUtilization, "peak_utilization must be in (0, 1], got \(peakUtilization)")
        }
        guard maxActions.count >= 0 else { throw bad(.maxActions, "max_actions.count must be ≥ 0") }
    }

    /// The utilisation target (an SLO objective scales on its own ratio; its target is 1 of `max`).
    var target: Double {
        if case .utilization(let u) = objective { return u }
        return 1
    }

    func inMaintenance(_ t: Int64) -> Bool { maintenance.contains { $0.contains(t) } }
}
