import VigilCore
import VigilEngine

/// A deterministic simulated cluster, the engine's embedded default driver: hosts, one or more groups of
/// instances that take `startupMs` from start to ready, demand set by the runner, seeded crash injection, host
/// failures (unreachable, then confirmed down). Time is whatever the runner last passed to `advance(to:)`.
public actor SimCluster: Driver {
    public nonisolated let name = "sim"

    struct Inst {
        var id: String
        var group: String
        var host: String
        var state: InstanceInfo.State
        var startedAt: Int64
        /// When it was (re)started after a crash; cleared once it is ready again (for the MTTR).
        var crashedAt: Int64?
    }

    public struct Counters: Sendable, Equatable {
        public var crashes = 0
        public var recoveries = 0
        public var recoverySeconds = 0.0
        public var scaleActions = 0
        public var restarts = 0
        public var relocations = 0
        public var fences = 0
        /// Times a start was refused because another copy of the instance was not fenced (must stay 0).
        public var splitBrainRefused = 0
    }

    public private(set) var now: Int64
    public let startupMs: Int64
    var hosts: [HostInfo]
    var insts: [Inst] = []
    var index: [String: Int] = [:]
    var groupSpec: [String: Int] = [:]
    var nextSerial: [String: Int] = [:]
    var loads: [String: Double] = [:]
    var sloValues: [String: Double] = [:]
    var doneActions = Set<String>()
    var rng: SplitMix64
    public private(set) var counters = Counters()
    /// When set, every call fails with `.unavailable` (a broken backend).
    public var failing = false
    /// Per-instance crash rate (per instance-day) for `advance`.
    public var crashesPerInstanceDay: Double

    public init(startMillis: Int64, startupMs: Int64, hosts: Int = 64, vcpusPerHost: Int = 16, seed: UInt64,
                crashesPerInstanceDay: Double = 0) {
        now = startMillis
        self.startupMs = startupMs
        self.hosts = (0..<hosts).map { HostInfo(id: String(format: "host%03d", $0), vcpus: vcpusPerHost, memoryMiB: 65_536) }
        rng = SplitMix64(seed: seed)
        self.crashesPerInstanceDay = crashesPerInstanceDay
    }

    // MARK: runner side

    /// Creates a group with `replicas` instances already running.
    public func addGroup(_ g: String, replicas: Int) {
        groupSpec[g] = 0
        reconcile(g, to: replicas, ready: true)
    }

    public func setLoad(_ g: String, _ load: Double, slo: Double? = nil) {
        loads[g] = load
        sloValues[g] = slo
    }

    public func setFailing(_ f: Bool) { failing = f }
    public func setCrashRate(_ r: Double) { crashesPerInstanceDay = r }

    /// Moves time to `t`: instances whose start-up is over become ready; running instances crash at the seeded rate.
    public func advance(to t: Int64) {
        let dt = t - now
        now = t
        let p = crashesPerInstanceDay * Double(max(0, dt)) / 86_400_000
        for i in insts.indices {
            if insts[i].state == .starting && t - insts[i].startedAt >= startupMs {
                insts[i].state = .running
                if let c = insts[i].crashedAt {
                    counters.recoveries += 1
                    counters.recoverySeconds += Double(insts[i].startedAt + startupMs - c) / 1000
                    insts[i].crashedAt = nil
                }
            }
            if p > 0 && insts[i].state == .running && rng.uniform() < p { crash(i) }
        }
    }

    func crash(_ i: Int) {
        insts[i].state = .exited
        if insts[i].crashedAt == nil { insts[i].crashedAt = now }
        counters.crashes += 1
    }

    /// Crashes an instance now (fault injection).
    public func crash(instance id: String) {
        if let i = index[id], insts[i].state == .running || insts[i].state == .starting { crash(i) }
    }

    /// Makes a running instance fail its health check while it keeps running (not fenced).
    public func makeUnhealthy(instance id: String) {
        if let i = index[id], insts[i].state == .running {
            insts[i].state = .unhealthy
            if insts[i].crashedAt == nil { insts[i].crashedAt = now }
            counters.crashes += 1
        }
    }

    /// A host stops answering (its instances' state becomes unknown), or is confirmed down (fenced), or comes back.
    public func setHost(_ id: String, _ state: HostInfo.State) {
        guard let h = hosts.firstIndex(where: { $0.id == id }) else { return }
        hosts[h].state = state
        for i in insts.indices where insts[i].host == id {
            switch state {
            case .unreachable, .down:
                if insts[i].state != .stopped && insts[i].state != .exited {
                    if insts[i].crashedAt == nil { insts[i].crashedAt = now; counters.crashes += 1 }
                    insts[i].state = .unknown
                }
            case .up, .degraded, .maintenance:
                if insts[i].state == .unknown { insts[i].state = .running; insts[i].crashedAt = nil }
            }
        }
    }

    public func instances(of g: String) -> [InstanceInfo] { insts.filter { $0.group == g }.map(info) }

    /// Ready instances of a group (serving capacity) and provisioned ones (starting, running or failed but not
    /// stopped: what is paid for).
    public func capacity(_ g: String) -> (ready: Int, provisioned: Int) {
        var r = 0, p = 0
        for i in insts where i.group == g {
            if i.state == .running { r += 1 }
            if i.state != .stopped { p += 1 }
        }
        return (r, p)
    }

    // MARK: Driver

    func info(_ i: Inst) -> InstanceInfo {
        InstanceInfo(id: i.id, group: i.group, host: i.host, state: i.state, startedAtMillis: i.startedAt)
    }

    public func inventory() async throws(DriverError) -> Inventory {
        if failing { throw .unavailable("sim: injected driver failure") }
        return Inventory(hosts: hosts, instances: insts.map(info),
                         groups: groupSpec.keys.sorted().map { GroupInfo(id: $0, desiredReplicas: groupSpec[$0] ?? 0) })
    }

    public func observe() async throws(DriverError) -> Observation {
        let inv = try await inventory()
        var g: [String: GroupObservation] = [:]
        for (k, v) in loads { g[k] = GroupObservation(load: v, sloValue: sloValues[k]) }
        return Observation(timeMillis: now, inventory: inv, groups: g)
    }

    func once(_ actionID: String) throws(DriverError) -> Bool {
        if failing { throw .unavailable("sim: injected driver failure") }
        return doneActions.insert(actionID).inserted
    }

    public func scale(group: String, to replicas: Int, actionID: String) async throws(DriverError) {
        guard try once(actionID) else { return }
        guard groupSpec[group] != nil else { throw .notFound("group \(group)") }
        guard replicas >= 0 else { throw .rejected("replicas \(replicas) < 0") }
        if replicas != groupSpec[group] { counters.scaleActions += 1 }
        reconcile(group, to: replicas, ready: false)
    }

    public func restart(instance: String, actionID: String) async throws(DriverError) {
        guard try once(actionID) else { return }
        guard let i = index[instance] else { throw .notFound("instance \(instance)") }
        let h = hosts.first { $0.id == insts[i].host }
        guard h?.state == .up || h?.state == .degraded else { throw .rejected("host \(insts[i].host) is \(h?.state.rawValue ?? "gone")") }
        counters.restarts += 1
        insts[i].state = .starting
        insts[i].startedAt = now
    }

    public func stop(instance: String, actionID: String) async throws(DriverError) {
        guard try once(actionID) else { return }
        guard let i = index[instance] else { throw .notFound("instance \(instance)") }
        if insts[i].state == .unknown { throw .unavailable("host \(insts[i].host) unreachable") }
        counters.fences += 1
        insts[i].state = .stopped
    }

    public func start(instance: String, on host: String?, actionID: String) async throws(DriverError) {
        guard try once(actionID) else { return }
        guard let i = index[instance] else { throw .notFound("instance \(instance)") }
        let old = hosts.first { $0.id == insts[i].host }
        let fenced = insts[i].state == .stopped || insts[i].state == .exited || old?.state == .down
        guard fenced else {
            counters.splitBrainRefused += 1
            throw .rejected("\(instance) is \(insts[i].state.rawValue) on \(insts[i].host): not fenced")
        }
        if let host {
            guard hosts.contains(where: { $0.id == host && $0.state == .up }) else { throw .rejected("host \(host) not up") }
            if host != insts[i].host { counters.relocations += 1 }
            insts[i].host = host
        }
        insts[i].state = .starting
        insts[i].startedAt = now
    }

    // MARK: placement

    func reconcile(_ g: String, to n: Int, ready: Bool) {
        var members = insts.indices.filter { insts[$0].group == g && insts[$0].state != .stopped }
        if n > members.count {
            var used: [String: Int] = [:]
            for i in insts where i.state != .stopped { used[i.host, default: 0] += 1 }
            for _ in members.count..<n {
                let serial = nextSerial[g, default: 0]
                nextSerial[g] = serial + 1
                let id = "\(g)-\(serial)"
                let host = pickHost(used)
                used[host, default: 0] += 1
                index[id] = insts.count
                insts.append(Inst(id: id, group: g, host: host, state: ready ? .running : .starting, startedAt: ready ? now - startupMs : now))
            }
        } else if n < members.count {
            // remove failed first, then not-ready, then the newest
            func rank(_ s: InstanceInfo.State) -> Int {
                switch s {
                case .exited, .unhealthy, .unknown: return 0
                case .starting: return 1
                default: return 2
                }
            }
            members.sort { (rank(insts[$0].state), -insts[$0].startedAt, insts[$1].id) < (rank(insts[$1].state), -insts[$1].startedAt, insts[$0].id) }
            let remove = Set(members.prefix(members.count - n).filter { insts[$0].state != .unknown })
            if !remove.isEmpty {
                insts = insts.enumerated().filter { !remove.contains($0.offset) }.map(\.element)
                index = Dictionary(uniqueKeysWithValues: insts.enumerated().map { ($1.id, $0) })
            }
        }
        groupSpec[g] = n
    }

    func pickHost(_ used: [String: Int]) -> String {
        var best: (free: Int, id: String)?
        for h in hosts where h.state == .up {
            let free = h.vcpus - used[h.id, default: 0]
            if best == nil || free > best!.free { best = (free, h.id) }
        }
        return best?.id ?? hosts[0].id
    }
}
