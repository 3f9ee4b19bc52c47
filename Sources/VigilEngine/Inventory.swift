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

    public init(id: String, vcpus: Int, memoryMiB: Int, state: State = .up) {
        self.id = id
        self.vcpus = vcpus
        self.memoryMiB = memoryMiB
        self.state = state
    }
}

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

    public init(id: String, group: String, host: String, state: State, startedAtMillis: Int64, vcpus: Int = 1) {
        self.id = id
        self.group = group
        self.host = host
        self.state = state
        self.startedAtMillis = startedAtMillis
        self.vcpus = vcpus
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
