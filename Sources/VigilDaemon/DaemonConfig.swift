import Foundation
import VigilConfig
import VigilCore
import VigilDrivers
import VigilEngine
import VigilSim

/// The `daemon:` section of `vigil.yml` (docs/configuration.md): where the daemon listens, where its audit goes,
/// where the engine's metrics come from, and the engine's options. Command-line flags win over it.
public struct DaemonSection: Decodable, Sendable, Equatable {
    /// HTTP address of `vigil daemon` (`--listen`; default 127.0.0.1:9471). Unused inside `vigil serve`.
    public var listen: ListenAddress?
    /// Audit database (`--audit`; default `audit.db` beside the config, or `<data>/audit.db` inside `vigil serve`).
    public var audit: String?
    /// Prometheus-compatible server the policies' queries run against (`--query-url`).
    public var queryURL: String?
    /// File holding the bearer token for `query_url` (`--token-file`).
    public var tokenFile: String?
    /// Every group in dry-run mode, whatever its policy says (`--dry-run`).
    public var dryRun = false
    /// Start with the kill switch on (every action blocked, decisions still audited).
    public var killSwitch = false
    /// Deadline of one driver call.
    public var driverTimeout: ConfigDuration?
    /// Consecutive driver failures that open the circuit breaker, and how long it stays open.
    public var breakerThreshold: Int?
    public var breakerOpen: ConfigDuration?
    /// Brake: fraction of failed instances (or bad hosts) at which the engine pages instead of remediating.
    public var brakeFraction: Double?
    public var brakeMinInstances: Int?
    /// Where the brake's page goes.
    public var webhook: String?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case listen, audit, queryURL = "query_url", tokenFile = "token_file", dryRun = "dry_run", killSwitch = "kill_switch"
        case driverTimeout = "driver_timeout", breakerThreshold = "breaker_threshold", breakerOpen = "breaker_open"
        case brakeFraction = "brake_fraction", brakeMinInstances = "brake_min_instances", webhook
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        listen = try c.decodeIfPresent(ListenAddress.self, forKey: .listen)
        audit = try c.decodeIfPresent(String.self, forKey: .audit)
        queryURL = try c.decodeIfPresent(String.self, forKey: .queryURL)
        tokenFile = try c.decodeIfPresent(String.self, forKey: .tokenFile)
        dryRun = try c.decodeIfPresent(Bool.self, forKey: .dryRun) ?? false
        killSwitch = try c.decodeIfPresent(Bool.self, forKey: .killSwitch) ?? false
        driverTimeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .driverTimeout)
        breakerThreshold = try c.decodeIfPresent(Int.self, forKey: .breakerThreshold)
        breakerOpen = try c.decodeIfPresent(ConfigDuration.self, forKey: .breakerOpen)
        brakeFraction = try c.decodeIfPresent(Double.self, forKey: .brakeFraction)
        brakeMinInstances = try c.decodeIfPresent(Int.self, forKey: .brakeMinInstances)
        webhook = try c.decodeIfPresent(String.self, forKey: .webhook)
        if let u = queryURL, URL(string: u)?.scheme.map({ $0 == "http" || $0 == "https" }) != true {
            throw DecodingError.dataCorruptedError(forKey: .queryURL, in: c, debugDescription: "expected an http(s):// URL, got \"\(u)\"")
        }
        if let n = breakerThreshold, n < 1 {
            throw DecodingError.dataCorruptedError(forKey: .breakerThreshold, in: c, debugDescription: "must be ≥ 1, got \(n)")
        }
        if let f = brakeFraction, !(f > 0 && f <= 1) {
            throw DecodingError.dataCorruptedError(forKey: .brakeFraction, in: c, debugDescription: "must be in (0, 1], got \(f)")
        }
        if let n = brakeMinInstances, n < 1 {
            throw DecodingError.dataCorruptedError(forKey: .brakeMinInstances, in: c, debugDescription: "must be ≥ 1, got \(n)")
        }
    }

    /// The engine options this section sets (the rest default).
    public func engineOptions() -> EngineOptions {
        var o = EngineOptions()
        if let d = driverTimeout { o.driverTimeoutMs = d.milliseconds }
        if let n = breakerThreshold { o.breakerThreshold = n }
        if let d = breakerOpen { o.breakerOpenMs = d.milliseconds }
        if let f = brakeFraction { o.brakeFraction = f }
        if let n = brakeMinInstances { o.brakeMinInstances = n }
        o.webhook = webhook
        return o
    }
}

/// The `driver:` section: which backend the engine acts on. `kind: sim` is a live simulated cluster replaying a
/// demand trace; `process`, `libvirt`, `webhook` and `exec` are `VigilDrivers`' (docs/drivers.md).
public struct DriverSection: Decodable, Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case sim, process, libvirt, webhook, exec
    }
    public var kind: Kind
    public var sim: SimDriverConfig?
    public var process: ProcessDriverConfig?
    public var libvirt: LibvirtDriverConfig?
    public var webhook: WebhookDriverConfig?
    public var exec: ExecDriverConfig?

    public init(kind: Kind, sim: SimDriverConfig? = nil, process: ProcessDriverConfig? = nil, libvirt: LibvirtDriverConfig? = nil,
                webhook: WebhookDriverConfig? = nil, exec: ExecDriverConfig? = nil) {
        self.kind = kind
        self.sim = sim
        self.process = process
        self.libvirt = libvirt
        self.webhook = webhook
        self.exec = exec
    }

    /// Driver kinds this build can run.
    public static let builtIn: Set<Kind> = [.sim, .process, .libvirt, .webhook, .exec]

    enum CodingKeys: String, CodingKey { case kind, sim, process, libvirt, webhook, exec }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let raw = try c.decode(String.self, forKey: .kind)
        guard let k = Kind(rawValue: raw) else {
            throw DecodingError.dataCorruptedError(forKey: .kind, in: c, debugDescription:
                "unknown driver kind \"\(raw)\" (one of: \(Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard Self.builtIn.contains(k) else {
            throw DecodingError.dataCorruptedError(forKey: .kind, in: c, debugDescription:
                "driver kind \"\(raw)\" is not built into this binary yet (available: \(Self.builtIn.map(\.rawValue).sorted().joined(separator: ", ")))")
        }
        kind = k
        sim = try c.decodeIfPresent(SimDriverConfig.self, forKey: .sim)
        process = try c.decodeIfPresent(ProcessDriverConfig.self, forKey: .process)
        libvirt = try c.decodeIfPresent(LibvirtDriverConfig.self, forKey: .libvirt)
        webhook = try c.decodeIfPresent(WebhookDriverConfig.self, forKey: .webhook)
        exec = try c.decodeIfPresent(ExecDriverConfig.self, forKey: .exec)
        for other in [CodingKeys.process, .libvirt, .webhook, .exec] where other.rawValue != raw && c.contains(other) {
            throw DecodingError.dataCorruptedError(forKey: other, in: c, debugDescription:
                "`\(other.rawValue):` settings with `kind: \(raw)`; set `kind: \(other.rawValue)` or remove them")
        }
        for (kk, present) in [(Kind.process, process != nil), (.libvirt, libvirt != nil), (.webhook, webhook != nil), (.exec, exec != nil)]
            where k == kk && !present {
            throw DecodingError.dataCorruptedError(forKey: .kind, in: c, debugDescription:
                "`kind: \(raw)` needs a `\(raw):` section (docs/drivers.md)")
        }
        if k == .sim && sim == nil {
            throw DecodingError.dataCorruptedError(forKey: .sim, in: c, debugDescription: "`kind: sim` needs a `sim:` section with at least `trace:`")
        }
    }
}

/// `driver.sim`: a simulated cluster run live on the daemon's clock. Every policy group gets `initial_replicas`
/// instances at start; its demand is the trace replayed from the daemon's start (scaled so the trace's peak is
/// `peak_instances` instances' worth of work, `speed` trace seconds per clock second, wrapping at the end).
public struct SimDriverConfig: Decodable, Sendable, Equatable {
    /// CSV trace `timestamp,value` (the same files as `vigil sim`).
    public var trace: String
    public var peakInstances = 10.0
    public var noise = 0.05
    public var seed: UInt64 = 1
    public var speed = 1.0
    public var hosts = 8
    public var vcpusPerHost = 16
    /// From start to ready.
    public var startup = ConfigDuration(milliseconds: 30_000)
    public var initialReplicas = 2
    public var crashesPerInstanceDay = 0.0
    /// Service time of one request at no load (the latency model's floor), seconds.
    public var serviceTime = 0.05
    /// Scheduled faults, in `vigil sim --faults` grammar (docs/engine.md), at offsets from the daemon's start.
    public var faults = FaultPlan()
    public var faultsSpec: String?
    /// Demand history written once at start for this span before it (so forecasts and the predictive policy have
    /// history at once); 0 = none.
    public var backfill = ConfigDuration(milliseconds: 0)

    public init(trace: String) { self.trace = trace }

    enum CodingKeys: String, CodingKey {
        case trace, peakInstances = "peak_instances", noise, seed, speed, hosts, vcpusPerHost = "vcpus_per_host", startup
        case initialReplicas = "initial_replicas", crashesPerInstanceDay = "crashes_per_instance_day", serviceTime = "service_time"
        case faults, backfill
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        trace = try c.decode(String.self, forKey: .trace)
        let d = SimDriverConfig(trace: "")
        peakInstances = try c.decodeIfPresent(Double.self, forKey: .peakInstances) ?? d.peakInstances
        noise = try c.decodeIfPresent(Double.self, forKey: .noise) ?? d.noise
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        speed = try c.decodeIfPresent(Double.self, forKey: .speed) ?? d.speed
        hosts = try c.decodeIfPresent(Int.self, forKey: .hosts) ?? d.hosts
        vcpusPerHost = try c.decodeIfPresent(Int.self, forKey: .vcpusPerHost) ?? d.vcpusPerHost
        startup = try c.decodeIfPresent(ConfigDuration.self, forKey: .startup) ?? d.startup
        initialReplicas = try c.decodeIfPresent(Int.self, forKey: .initialReplicas) ?? d.initialReplicas
        crashesPerInstanceDay = try c.decodeIfPresent(Double.self, forKey: .crashesPerInstanceDay) ?? d.crashesPerInstanceDay
        serviceTime = try c.decodeIfPresent(Double.self, forKey: .serviceTime) ?? d.serviceTime
        backfill = try c.decodeIfPresent(ConfigDuration.self, forKey: .backfill) ?? d.backfill
        faultsSpec = try c.decodeIfPresent(String.self, forKey: .faults)
        func bad(_ k: CodingKeys, _ m: String) -> DecodingError { .dataCorruptedError(forKey: k, in: c, debugDescription: m) }
        guard peakInstances > 0, peakInstances.isFinite else { throw bad(.peakInstances, "must be > 0, got \(peakInstances)") }
        guard noise >= 0, noise < 2 else { throw bad(.noise, "must be in [0, 2), got \(noise)") }
        guard speed > 0, speed.isFinite else { throw bad(.speed, "must be > 0, got \(speed)") }
        guard hosts >= 1 else { throw bad(.hosts, "must be ≥ 1, got \(hosts)") }
        guard vcpusPerHost >= 1 else { throw bad(.vcpusPerHost, "must be ≥ 1, got \(vcpusPerHost)") }
        guard initialReplicas >= 0 else { throw bad(.initialReplicas, "must be ≥ 0, got \(initialReplicas)") }
        guard crashesPerInstanceDay >= 0 else { throw bad(.crashesPerInstanceDay, "must be ≥ 0") }
        guard serviceTime > 0 else { throw bad(.serviceTime, "must be > 0 seconds") }
        if let spec = faultsSpec {
            do { faults = try FaultPlan.parse(spec) } catch {
                throw bad(.faults, error.description.replacingOccurrences(of: "--faults: ", with: ""))
            }
        }
    }
}

/// The config sections the daemon reads: the engine's `policies:`, `placement:`, `daemon:` and `driver:`.
public let daemonConfigSections: [ConfigSection] = [
    ConfigSection("policies", [String: GroupPolicy].self),
    ConfigSection("placement", PlacementConfig.self),
    ConfigSection("daemon", DaemonSection.self),
    ConfigSection("driver", DriverSection.self),
]

/// What the daemon takes from a loaded config, checked: at least one policy, a driver, PromQL that parses.
public struct DaemonConfig: Sendable {
    public var policies: [String: GroupPolicy]
    public var daemon: DaemonSection
    public var driver: DriverSection
    /// The `placement:` section (nil when absent: placement off).
    public var placement: PlacementConfig?

    public init(policies: [String: GroupPolicy], daemon: DaemonSection = DaemonSection(), driver: DriverSection,
                placement: PlacementConfig? = nil) {
        self.policies = policies
        self.daemon = daemon
        self.driver = driver
        self.placement = placement
    }

    /// From a parsed `VigilConfig` (`file` names it in errors).
    public init(_ c: VigilConfig) throws {
        guard let p = c.section("policies", as: [String: GroupPolicy].self), !p.isEmpty else {
            throw MetricSourceError("\(c.file): no `policies:` (one per group the engine manages; docs/engine.md)")
        }
        guard let d = c.section("driver", as: DriverSection.self) else {
            throw MetricSourceError("\(c.file): no `driver:` section (e.g. `driver: {kind: sim, sim: {trace: demand.csv}}`; docs/daemon.md)")
        }
        do { try validatePolicyQueries(p) } catch { throw MetricSourceError("\(c.file): \(error)") }
        policies = p
        daemon = c.section("daemon", as: DaemonSection.self) ?? DaemonSection()
        driver = d
        placement = c.section("placement", as: PlacementConfig.self)
    }

    /// Loads and checks a config file.
    public static func load(file: String) throws -> DaemonConfig {
        try DaemonConfig(try VigilConfig.load(file: file, sections: daemonConfigSections))
    }
}
