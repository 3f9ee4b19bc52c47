import VigilCore

/// A physical or virtual machine instances run on.
public struct HostInfo: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable {
        /// Healthy, accepts instances.
        case up
        /// Reachable but failing (e.g. memory errors): keeps its instances, receives no new ones.
        case degraded
        /// Not answering: its instances' state is unknown and they are NOT fenced (they may still run).
        case unreachable
        /// Confirmed down (powered off, fenced by IPMI/watchdog): its instances are fenced.
        case down
        /// Drained for maintenance: receives no new instances.
        case maintenance
    }
    public var id: String
    public var vcpus: Int
    public var memoryMiB: Int
    public var state: State
    /// Power state (placement: consolidation powers hosts off and on); nil when the driver does not say (on).
    public var power: HostPower?
    /// The failure model's probability that this host fails soon (0–1); nil when the driver has none (placement
    /// then takes 1 for a `degraded` host, 0 otherwise).
    public var failureProbability: Double?

    public init(id: String, vcpus: Int, memoryMiB: Int, state: State = .up, power: HostPower? = nil,
                failureProbability: Double? = nil) {
        self.id = id
        self.vcpus = vcpus
        self.memoryMiB = memoryMiB
        self.state = state
        self.power = power
        self.failureProbability = failureProbability
    }

    /// Powered on (or the driver does not report power): may run instances.
    public var isPoweredOn: Bool { (power ?? .on) == .on }
}

/// A host's power state (`HostInfo.power`, the placement planner's `PlacementHost.Power`).
public typealias HostPower = PlacementHost.Power

/// A VM, container or process: one replica of a group.
public struct InstanceInfo: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable {
        /// Started, not yet ready (booting, warming up).
        case starting
        /// Ready and serving.
        case running
        /// Still running but failing its health check (not fenced: it may hold locks or serve stale data).
        case unhealthy
        /// Exited or crashed: the process is gone, so it is fenced.
        case exited
        /// Stopped on purpose: fenced.
        case stopped
        /// Its host is unreachable: unknown whether it still runs (not fenced).
        case unknown
    }
    public var id: String
    public var group: String
    public var host: String
    public var state: State
    /// When this incarnation was started (ms); a restart starts a new incarnation.
    public var startedAtMillis: Int64
    /// vCPUs it occupies on its host.
    public var vcpus: Int
    /// CPU in use now (cores); nil when the driver does not measure it (placement then spreads the group's load
    /// over its ready instances).
    public var cpu: Double?
    /// Memory it occupies (GiB); nil when unknown (placement counts 0).
    public var memoryGiB: Double?
    /// Target host of a live migration in progress (placement counts it there and against the migration caps).
    public var migratingTo: String?

    public init(id: String, group: String, host: String, state: State, startedAtMillis: Int64, vcpus: Int = 1,
                cpu: Double? = nil, memoryGiB: Double? = nil, migratingTo: String? = nil) {
        self.id = id
        self.group = group
        self.host = host
        self.state = state
        self.startedAtMillis = startedAtMillis
        self.vcpus = vcpus
        self.cpu = cpu
        self.memoryGiB = memoryGiB
        self.migratingTo = migratingTo
    }

    /// Failed: exited, or running but unhealthy.
    public var isFailed: Bool { state == .exited || state == .unhealthy }
}

/// A service's replicas or a VM pool, scaled as one.
public struct GroupInfo: Sendable, Equatable, Codable {
    public var id: String
    /// The replica count the driver is asked to keep (a Deployment's spec.replicas).
    public var desiredReplicas: Int

    public init(id: String, desiredReplicas: Int) {
        self.id = id
        self.desiredReplicas = desiredReplicas
    }
}

/// What the driver manages, as the engine sees it at one instant.
public struct Inventory: Sendable, Equatable, Codable {
    public var hosts: [HostInfo]
    public var instances: [InstanceInfo]
    public var groups: [GroupInfo]

    public init(hosts: [HostInfo] = [], instances: [InstanceInfo] = [], groups: [GroupInfo] = []) {
        self.hosts = hosts
        self.instances = instances
        self.groups = groups
    }

    public func host(_ id: String) -> HostInfo? { hosts.first { $0.id == id } }

    /// An instance is fenced when it cannot be running: it exited or was stopped, or its host is confirmed down.
    /// A second copy may only be started elsewhere when the first is fenced (Proxmox HA, Masakari).
    public func isFenced(_ i: InstanceInfo) -> Bool {
        if i.state == .exited || i.state == .stopped { return true }
        return host(i.host)?.state == .down
    }
}

/// One group's metrics at one instant.
public struct GroupObservation: Sendable, Equatable, Codable {
    /// Demand on the group in units of one instance's capacity (2.5 = two and a half instances' worth of work),
    /// averaged over the policy's metric window. Utilisation of the ready instances is `load / ready`.
    public var load: Double
    /// The SLO series' current value (latency in seconds, error ratio) when the policy's objective is an SLO.
    public var sloValue: Double?

    public init(load: Double, sloValue: Double? = nil) {
        self.load = load
        self.sloValue = sloValue
    }
}

/// What `Driver.observe()` returns: the inventory and each group's metrics, at `timeMillis`.
public struct Observation: Sendable, Equatable {
    public var timeMillis: Int64
    public var inventory: Inventory
    public var groups: [String: GroupObservation]

    public init(timeMillis: Int64, inventory: Inventory, groups: [String: GroupObservation]) {
        self.timeMillis = timeMillis
        self.inventory = inventory
        self.groups = groups
    }
}
