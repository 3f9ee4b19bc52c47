import VigilCore
import VigilEngine

/// A deterministic simulated cluster, the engine's embedded default driver: hosts, one or more groups of
/// instances that take `startupMs` from start to ready, demand set by the runner, seeded crash injection, host
/// failures (unreachable, then confirmed down). Time is whatever the runner last passed to `advance(to:)`.
///
/// Placement: each instance has vCPUs, memory and a CPU demand (its group's load spread over the ready instances,
/// at most its vCPUs, or what the runner set with `setDemand`); live migration takes `2 s + 1.3 × memory /
/// migrationBandwidthGiBps` during which the instance runs on its source and uses `migrationOverhead` more CPU (the
/// move's brief cost); hosts power off (only when empty) after `hostShutdownMs` and on after `hostBootMs`; a
/// degraded host's failure probability rises from 0 to 0.95 over `failureRampMs` (rising error counts) until it fails.
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
        /// Crash loop: crashes still to come, each `loopAfterMs` after the instance becomes ready.
        var loopRemaining = 0
        var loopAfterMs: Int64 = 0
        var loopCrashAt: Int64?
        /// Memory leak: fraction of the memory limit gained per ms, from `leakSince` or the incarnation's start.
        var leakPerMs = 0.0
        var leakSince: Int64 = 0
        var vcpus = 1
        var memoryGiB = 2.0
        /// CPU demand (cores) set by the runner; nil = the group's load spread over its ready instances.
        var demand: Double?
        /// Live migration in progress: the target host and when it completes.
        var migratingTo: String?
        var migrationDoneAt: Int64 = 0
    }

    /// A fault resolved to what it does at an absolute time.
    enum Scheduled {
        case crash(String?)
        case crashLoop(String?, count: Int, afterMs: Int64)
        case leak(String?, perMs: Double)
        case hostDegrade(String?, failAfterMs: Int64, downAfterMs: Int64, repairAfterMs: Int64?)
        case host(String, HostInfo.State)
    }

    public struct Counters: Sendable, Equatable {
        public var crashes = 0
        public var recoveries = 0
        public var recoverySeconds = 0.0
        public var scaleActions = 0
        public var restarts = 0
        public var relocations = 0
        /// Live migrations started (evacuations, placement moves).
        public var migrations = 0
        /// Live migrations cut short (source or target lost, instance stopped): the instance stays where it was.
        public var migrationsAborted = 0
        /// Time spent in live migrations (s), each paying `migrationOverhead` more CPU.
        public var migrationSeconds = 0.0
        public var powerOns = 0
        public var powerOffs = 0
        public var fences = 0
        /// Times a start was refused because another copy of the instance was not fenced (must stay 0).
        public var splitBrainRefused = 0
        /// Instances killed for running out of memory (leaks); also counted in `crashes`.
        public var oomKills = 0
        /// Hosts that went unreachable (a `host-degrade` fault's second stage).
        public var hostFailures = 0
        /// Scheduled faults that found nothing to act on (no such instance or host, or it was not running).
        public var faultsMissed = 0

        /// What happened since `base` was taken.
        public func minus(_ b: Counters) -> Counters {
            var c = self
            c.crashes -= b.crashes; c.recoveries -= b.recoveries; c.recoverySeconds -= b.recoverySeconds
            c.scaleActions -= b.scaleActions; c.restarts -= b.restarts; c.relocations -= b.relocations; c.migrations -= b.migrations
            c.fences -= b.fences; c.splitBrainRefused -= b.splitBrainRefused; c.oomKills -= b.oomKills
            c.migrationsAborted -= b.migrationsAborted; c.migrationSeconds -= b.migrationSeconds
            c.powerOns -= b.powerOns; c.powerOffs -= b.powerOffs
            c.hostFailures -= b.hostFailures; c.faultsMissed -= b.faultsMissed
            return c
        }
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
    /// Scheduled faults, in time order.
    var scheduled: [(at: Int64, what: Scheduled)] = []
    /// Memory an instance starts at, as a fraction of its limit (leaks grow from here to 1).
    static let baseMemory = 0.25
    /// Host boot and shutdown times, live-migration bandwidth (GiB/s) and CPU overhead (fraction of the instance's
    /// demand while it moves), and the ramp of a degraded host's failure probability.
    public var hostBootMs: Int64 = 180_000
    public var hostShutdownMs: Int64 = 60_000
    public var migrationBandwidthGiBps = 1.0
    public var migrationOverhead = 0.1
    public var failureRampMs: Int64 = 1_200_000
    /// When a powering host finishes booting or shutting down, and when a host became degraded.
    var powerDoneAt: [String: Int64] = [:]
    var degradedAt: [String: Int64] = [:]

    public init(startMillis: Int64, startupMs: Int64, hosts: Int = 64, vcpusPerHost: Int = 16, seed: UInt64,
                crashesPerInstanceDay: Double = 0) {
        now = startMillis
        self.startupMs = startupMs
        self.hosts = (0..<hosts).map {
            HostInfo(id: String(format: "host%03d", $0), vcpus: vcpusPerHost, memoryMiB: 65_536, power: .on, failureProbability: 0)
        }
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

    /// Adds a running instance of `group` on `host` with its size (tests, hand-built clusters); the group is created
    /// if new (its spec counts the instance).
    public func addInstance(_ id: String, group: String, host: String, vcpus: Int = 1, memoryGiB: Double = 2, demand: Double? = nil) {
        index[id] = insts.count
        var x = Inst(id: id, group: group, host: host, state: .running, startedAt: now - startupMs)
        x.vcpus = vcpus
        x.memoryGiB = memoryGiB
        x.demand = demand
        insts.append(x)
        groupSpec[group, default: 0] += 1
    }

    /// Sets an instance's CPU demand in cores (nil: back to its share of the group's load).
    public func setDemand(instance id: String, _ cores: Double?) {
        if let i = index[id] { insts[i].demand = cores }
    }

    /// Sets the runner's settings for placement (boot and shutdown times, migration bandwidth and cost).
    public func setPlacementTimes(hostBootMs: Int64? = nil, hostShutdownMs: Int64? = nil, migrationBandwidthGiBps: Double? = nil,
                                  migrationOverhead: Double? = nil, failureRampMs: Int64? = nil) {
        if let v = hostBootMs { self.hostBootMs = v }
        if let v = hostShutdownMs { self.hostShutdownMs = v }
        if let v = migrationBandwidthGiBps { self.migrationBandwidthGiBps = v }
        if let v = migrationOverhead { self.migrationOverhead = v }
        if let v = failureRampMs { self.failureRampMs = v }
    }

    /// Powers a host off (or on) at once, without boot or shutdown time (the initial fleet).
    public func setPowered(host id: String, _ on: Bool) {
        if let h = hosts.firstIndex(where: { $0.id == id }) { hosts[h].power = on ? .on : .off }
    }

    /// Hosts as the driver reports them (power state, failure probability).
    public func hostInfos() -> [HostInfo] { hosts }

    /// CPU demand (cores) on each powered host now, counting live migrations' overhead on source and target.
    public func hostDemand() -> [String: Double] {
        let ready = readyCounts()
        var out: [String: Double] = [:]
        for x in insts where x.state == .running {
            let c = cpu(x, ready: ready)
            out[x.host, default: 0] += c
            if let t = x.migratingTo { out[t, default: 0] += c / (1 + migrationOverhead) * migrationOverhead }
        }
        return out
    }
    public func setCrashRate(_ r: Double) { crashesPerInstanceDay = r }

    /// Schedules a fault plan's events at offsets from `startMillis` (its random crash rate adds to the cluster's).
    public func schedule(_ plan: FaultPlan, from startMillis: Int64) {
        crashesPerInstanceDay += plan.crashesPerInstanceDay
        for e in plan.events {
            let what: Scheduled
            switch e.kind {
            case .crash(let i): what = .crash(i)
            case .crashLoop(let i, let n, let after): what = .crashLoop(i, count: n, afterMs: after)
            case .leak(let i, let r): what = .leak(i, perMs: r)
            case .hostDegrade(let h, let f, let d, let r): what = .hostDegrade(h, failAfterMs: f, downAfterMs: d, repairAfterMs: r)
            case .surge: continue  // the runner multiplies the demand
            }
            enqueue(startMillis + e.atMs, what)
        }
    }

    func enqueue(_ at: Int64, _ what: Scheduled) {
        let i = scheduled.firstIndex { $0.at > at } ?? scheduled.count
        scheduled.insert((at, what), at: i)
    }

    /// Moves time to `t`: instances whose start-up is over become ready; scheduled faults due by `t` happen; running
    /// instances crash at the seeded rate, crash-looping ones after their delay, leaking ones when out of memory.
    public func advance(to t: Int64) {
        let dt = t - now
        now = t
        while let e = scheduled.first, e.at <= t {
            scheduled.removeFirst()
            fire(e.what, at: e.at)
        }
        advancePlacement(to: t)
        let p = crashesPerInstanceDay * Double(max(0, dt)) / 86_400_000
        for i in insts.indices {
            if insts[i].state == .starting && t - insts[i].startedAt >= startupMs {
                insts[i].state = .running
                let readyAt = insts[i].startedAt + startupMs
                if let c = insts[i].crashedAt {
                    counters.recoveries += 1
                    counters.recoverySeconds += Double(readyAt - c) / 1000
                    insts[i].crashedAt = nil
                }
                if insts[i].loopRemaining > 0 { insts[i].loopCrashAt = readyAt + insts[i].loopAfterMs }
            }
            let live = insts[i].state == .running || insts[i].state == .starting
            if live && insts[i].leakPerMs > 0 {
                let from = max(insts[i].leakSince, insts[i].startedAt)
                let oomAt = from + Int64(((1 - Self.baseMemory) / insts[i].leakPerMs).rounded(.up))
                if oomAt <= t {
                    counters.oomKills += 1
                    crash(i, at: oomAt)
                    continue
                }
            }
            if insts[i].state == .running, let at = insts[i].loopCrashAt, at <= t {
                insts[i].loopCrashAt = nil
                insts[i].loopRemaining -= 1
                crash(i, at: at)
                continue
            }
            if p > 0 && insts[i].state == .running && rng.uniform() < p {
                crash(i, at: t - Int64(rng.uniform() * Double(dt)))  // somewhere in the interval just passed
            }
        }
    }

    /// Completes live migrations, boots and shutdowns due by `t`; raises degraded hosts' failure probability.
    func advancePlacement(to t: Int64) {
        for i in insts.indices {
            guard let to = insts[i].migratingTo, t >= insts[i].migrationDoneAt else { continue }
            insts[i].migratingTo = nil
            let target = hosts.first { $0.id == to }
            if (insts[i].state == .running || insts[i].state == .starting), target?.state == .up, target?.isPoweredOn == true {
                insts[i].host = to
            } else {
                counters.migrationsAborted += 1
            }
        }
        for h in hosts.indices {
            if let at = powerDoneAt[hosts[h].id], t >= at {
                powerDoneAt[hosts[h].id] = nil
                if hosts[h].power == .booting { hosts[h].power = .on }
                if hosts[h].power == .shuttingDown { hosts[h].power = .off }
            }
            if hosts[h].state == .degraded, let d = degradedAt[hosts[h].id] {
                hosts[h].failureProbability = min(0.95, 0.95 * Double(max(0, t - d)) / Double(max(1, failureRampMs)))
            }
        }
    }

    /// Memory in use as a fraction of the limit (1 = OOM), for a leaking instance.
    public func memoryFraction(instance id: String) -> Double? {
        guard let i = index[id] else { return nil }
        let x = insts[i]
        guard x.leakPerMs > 0, x.state == .running || x.state == .starting else { return Self.baseMemory }
        return min(1, Self.baseMemory + x.leakPerMs * Double(max(0, now - max(x.leakSince, x.startedAt))))
    }

    /// The instance a fault names, or a seeded pick among the running ones.
    func target(_ id: String?) -> Int? {
        if let id { return index[id] }
        let running = insts.indices.filter { insts[$0].state == .running }
        guard !running.isEmpty else { return nil }
        return running[Int(rng.next() % UInt64(running.count))]
    }

    func fire(_ what: Scheduled, at: Int64) {
        switch what {
        case .crash(let id):
            guard let i = target(id), insts[i].state == .running || insts[i].state == .starting else { counters.faultsMissed += 1; return }
            crash(i, at: at)
        case .crashLoop(let id, let n, let after):
            guard let i = target(id), insts[i].state == .running || insts[i].state == .starting else { counters.faultsMissed += 1; return }
            insts[i].loopRemaining = n - 1
            insts[i].loopAfterMs = after
            insts[i].loopCrashAt = nil
            crash(i, at: at)
        case .leak(let id, let r):
            guard let i = target(id) else { counters.faultsMissed += 1; return }
            insts[i].leakPerMs = r
            insts[i].leakSince = at
        case .hostDegrade(let id, let fail, let down, let repair):
            let h: String
            if let id {
                guard hosts.contains(where: { $0.id == id }) else { counters.faultsMissed += 1; return }
                h = id
            } else {
                let busy = Set(insts.filter { $0.state == .running }.map(\.host)).sorted()
                guard !busy.isEmpty else { counters.faultsMissed += 1; return }
                h = busy[Int(rng.next() % UInt64(busy.count))]
            }
            setHost(h, .degraded)
            enqueue(at + fail, .host(h, .unreachable))
            enqueue(at + fail + down, .host(h, .down))
            if let repair { enqueue(at + fail + down + repair, .host(h, .up)) }
        case .host(let h, let state):
            if state == .unreachable { counters.hostFailures += 1 }
            setHost(h, state)
        }
    }

    func crash(_ i: Int, at: Int64? = nil) {
        insts[i].state = .exited
        insts[i].loopCrashAt = nil
        if insts[i].crashedAt == nil { insts[i].crashedAt = at ?? now }
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
        let wasDown = hosts[h].state == .down
        if state == .degraded && hosts[h].state != .degraded { degradedAt[id] = now }
        if state == .up || state == .maintenance { degradedAt[id] = nil; hosts[h].failureProbability = 0 }
        hosts[h].state = state
        if state == .unreachable || state == .down {
            for i in insts.indices where insts[i].migratingTo != nil && (insts[i].host == id || insts[i].migratingTo == id) {
                insts[i].migratingTo = nil
                counters.migrationsAborted += 1
            }
        }
        for i in insts.indices where insts[i].host == id {
            switch state {
            case .unreachable, .down:
                if insts[i].state != .stopped && insts[i].state != .exited {
                    if insts[i].crashedAt == nil { insts[i].crashedAt = now; counters.crashes += 1 }
                    insts[i].state = .unknown
                }
            case .up, .degraded, .maintenance:
                // back from unreachable: its instances ran all along; back from down: they were powered off
                if insts[i].state == .unknown {
                    if wasDown { insts[i].state = .exited } else { insts[i].state = .running; insts[i].crashedAt = nil }
                }
            }
        }
    }

    public func instances(of g: String) -> [InstanceInfo] {
        let ready = readyCounts()
        return insts.filter { $0.group == g }.map { info($0, ready: ready) }
    }

    /// Ready instances of a group (serving capacity) and provisioned ones (starting, running or failed but not
    /// stopped: what is paid for).
    /// `failed`: instances out of service because of a fault (crashed, unhealthy, on a lost host, or starting again
    /// after one): what the fault took away.
    public func capacity(_ g: String) -> (ready: Int, provisioned: Int, failed: Int) {
        var r = 0, p = 0, f = 0
        for i in insts where i.group == g {
            if i.state == .running { r += 1 }
            if i.state != .stopped { p += 1 }
            if i.crashedAt != nil && i.state != .stopped && i.state != .running { f += 1 }
        }
        return (r, p, f)
    }

    // MARK: Driver

    func readyCounts() -> [String: Int] {
        var r: [String: Int] = [:]
        for x in insts where x.state == .running { r[x.group, default: 0] += 1 }
        return r
    }

    /// CPU in use (cores): the demand the runner set, or the group's load spread over its ready instances (at most
    /// the instance's vCPUs), plus the live-migration overhead while it moves; 0 when not running.
    func cpu(_ x: Inst, ready: [String: Int]) -> Double {
        guard x.state == .running else { return 0 }
        let base = x.demand ?? min(1, (loads[x.group] ?? 0) / Double(max(1, ready[x.group] ?? 0))) * Double(x.vcpus)
        return x.migratingTo != nil ? base * (1 + migrationOverhead) : base
    }

    func info(_ i: Inst, ready: [String: Int]) -> InstanceInfo {
        InstanceInfo(id: i.id, group: i.group, host: i.host, state: i.state, startedAtMillis: i.startedAt, vcpus: i.vcpus,
                     cpu: cpu(i, ready: ready), memoryGiB: i.memoryGiB, migratingTo: i.migratingTo)
    }

    func info(_ i: Inst) -> InstanceInfo { info(i, ready: readyCounts()) }

    public func inventory() async throws(DriverError) -> Inventory {
        if failing { throw .unavailable("sim: injected driver failure") }
        let ready = readyCounts()
        return Inventory(hosts: hosts, instances: insts.map { info($0, ready: ready) },
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
        guard h?.isPoweredOn == true else { throw .rejected("host \(insts[i].host) is powered \(h?.power?.rawValue ?? "off")") }
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
        if insts[i].migratingTo != nil { insts[i].migratingTo = nil; counters.migrationsAborted += 1 }
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
            guard hosts.contains(where: { $0.id == host && $0.state == .up && $0.isPoweredOn }) else { throw .rejected("host \(host) not up") }
            if host != insts[i].host { counters.relocations += 1 }
            insts[i].host = host
        }
        insts[i].state = .starting
        insts[i].startedAt = now
    }

    /// Live migration: a running instance moves to an `up`, powered-on host and keeps running on its source until
    /// the move completes (`migrationMs`), paying `migrationOverhead` more CPU meanwhile. One copy at all times.
    public func migrate(instance: String, to host: String, live: Bool, actionID: String) async throws(DriverError) {
        guard try once(actionID) else { return }
        guard let i = index[instance] else { throw .notFound("instance \(instance)") }
        guard insts[i].state == .running || insts[i].state == .starting else {
            throw .rejected("\(instance) is \(insts[i].state.rawValue): only a running instance migrates live")
        }
        guard insts[i].migratingTo == nil else { throw .rejected("\(instance) is already migrating to \(insts[i].migratingTo!)") }
        guard hosts.contains(where: { $0.id == host && $0.state == .up && $0.isPoweredOn }) else { throw .rejected("host \(host) not up") }
        guard host != insts[i].host else { return }
        counters.migrations += 1
        let ms = migrationMs(memoryGiB: insts[i].memoryGiB)
        counters.migrationSeconds += Double(ms) / 1000
        insts[i].migratingTo = host
        insts[i].migrationDoneAt = now + ms
    }

    /// How long a live migration of `memoryGiB` takes: 2 s of setup plus 1.3 × memory / bandwidth (pre-copy with
    /// dirty pages re-sent, as `PlacementConfig.migrationSeconds` estimates it).
    public func migrationMs(memoryGiB: Double) -> Int64 {
        Int64(((2 + 1.3 * memoryGiB / migrationBandwidthGiBps) * 1000).rounded())
    }

    /// Host power: off only when nothing runs on it or migrates to it (shutting down for `hostShutdownMs`), on from
    /// off (booting for `hostBootMs`, then it takes instances).
    public func power(host: String, on: Bool, actionID: String) async throws(DriverError) {
        guard try once(actionID) else { return }
        guard let h = hosts.firstIndex(where: { $0.id == host }) else { throw .notFound("host \(host)") }
        let state = hosts[h].power ?? .on
        if on {
            guard state == .off else {
                if state == .on || state == .booting { return }
                throw .rejected("host \(host) is \(state.rawValue)")
            }
            hosts[h].power = .booting
            powerDoneAt[host] = now + hostBootMs
            counters.powerOns += 1
        } else {
            guard state == .on else {
                if state == .off || state == .shuttingDown { return }
                throw .rejected("host \(host) is \(state.rawValue)")
            }
            let busy = insts.filter { ($0.host == host && $0.state != .stopped) || $0.migratingTo == host }
            guard busy.isEmpty else { throw .rejected("host \(host) still runs \(busy.count) instance(s), e.g. \(busy[0].id)") }
            hosts[h].power = .shuttingDown
            powerDoneAt[host] = now + hostShutdownMs
            counters.powerOffs += 1
        }
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
        for h in hosts where h.state == .up && h.isPoweredOn {
            let free = h.vcpus - used[h.id, default: 0]
            if best == nil || free > best!.free { best = (free, h.id) }
        }
        return best?.id ?? hosts[0].id
    }
}
