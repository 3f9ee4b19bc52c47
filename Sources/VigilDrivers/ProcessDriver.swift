import CVigilSpawn
import Foundation
import Logging
import Synchronization
import VigilConfig
import VigilCore
import VigilEngine

/// One replica's state as `ProcessDriver.status()` reports it (for the daemon's metrics and for tests).
public struct ReplicaStatus: Sendable, Equatable {
    public var instance: String
    public var group: String
    public var index: Int
    public var pid: Int32?
    public var state: InstanceInfo.State
    public var startedAtMillis: Int64
    /// CPU cores used between the last two `observe()` calls (utime + stime of the replica's main process).
    public var cpuCores: Double
    /// Resident memory at the last `observe()`.
    public var rssBytes: Int64
    /// How its previous incarnation ended ("killed by signal 9", "exited with code 1"), if it did.
    public var lastExit: String?
}

/// Groups of local processes (docs/drivers.md): scale starts and stops replicas, restart is stop + start in place,
/// an exited replica is reported `exited` the moment the reaper sees it and `nextChange()` returns so the engine
/// steps at once.
///
/// Threads: forks happen on one dedicated thread (`vigil-process-spawn`), which is also every replica's "parent
/// thread" for `PR_SET_PDEATHSIG`: when vigil dies, even by SIGKILL, the kernel kills the replicas. Exits are seen
/// by the `ChildReaper` thread (pidfd + poll). Health probes run on URLSession's threads. Nothing here blocks the
/// Swift concurrency pool.
public final class ProcessDriver: ChangeNotifyingDriver {
    public let name = "process"
    public let config: ProcessDriverConfig
    public let host: String
    let clock: any VigilClock
    let logger: Logger

    struct Replica {
        var id: String
        var group: String
        var index: Int
        var pid: Int32?
        var state: InstanceInfo.State
        var startedAt: Int64
        var stopping = false
        var lastExit: ChildReaper.Exit?
        var healthFailures = 0
        var lastProbeAt: Int64 = .min
        var lastFailureCountedAt: Int64 = .min
        var probing = false
        var prevCPU: (seconds: Double, at: Int64)?
        var cores = 0.0
        var rss: Int64 = 0
    }

    struct State {
        var replicas: [String: Replica] = [:]
        var desired: [String: Int] = [:]
        var actions = ActionLedger()
        var launched = false
        var shutDown = false
        /// pids reaped and not yet consumed by a stop waiting for them.
        var reaped: [Int32: ChildReaper.Exit] = [:]
    }

    private let state: Locked<State>
    private let changes = ChangeSignal()
    private let spawner: DedicatedThread
    private let reaper: ChildReaper
    private let healthTask = Mutex<Task<Void, Never>?>(nil)

    /// `clock` stamps start times and paces the grace period and health probes; `logger` gets dry-run lines and
    /// every start/stop/exit.
    public init(config: ProcessDriverConfig, clock: any VigilClock = WallClock(),
                logger: Logger = Logger(label: "vigil.driver.process")) {
        self.config = config
        self.clock = clock
        self.logger = logger
        host = config.host ?? ProcessInfo.processInfo.hostName
        let st = Locked(State())
        state = st
        let ch = changes
        let log = logger
        spawner = DedicatedThread(name: "vigil-process-spawn")
        reaper = ChildReaper(name: "vigil-process-reaper") { exit in
            let note: String? = st.withLock { s in
                guard let id = s.replicas.first(where: { $0.value.pid == exit.pid })?.key else { return nil }
                s.replicas[id]!.pid = nil
                s.replicas[id]!.lastExit = exit
                if s.replicas[id]!.stopping {
                    s.reaped[exit.pid] = exit  // a stop is waiting for it
                    return nil
                }
                s.replicas[id]!.state = .exited
                return id
            }
            if let note {
                log.warning("replica exited", metadata: ["instance": "\(note)", "pid": "\(exit.pid)", "how": "\(exit.summary)"])
                ch.signal()
            }
        }
        for (g, gc) in config.groups { state.withLock { $0.desired[g] = gc.replicas } }
    }

    // MARK: Driver

    public func inventory() async throws(DriverError) -> Inventory {
        try await launchIfNeeded()
        return state.withLock { s in makeInventory(s) }
    }

    public func observe() async throws(DriverError) -> Observation {
        try await launchIfNeeded()
        let live = state.withLock { s in s.replicas.values.compactMap { r in r.pid.map { (r.id, $0) } } }
        let samples = await spawner.run { live.map { ($0.0, ProcReader.sample(pid: $0.1)) } }
        let now = clock.nowMillis()
        return state.withLock { s in
            for (id, sample) in samples {
                guard var r = s.replicas[id], let sample else { continue }
                if let p = r.prevCPU, now > p.at {
                    r.cores = max(0, sample.cpuSeconds - p.seconds) / (Double(now - p.at) / 1000)
                }
                r.prevCPU = (sample.cpuSeconds, now)
                r.rss = sample.rssBytes
                s.replicas[id] = r
            }
            var groups: [String: GroupObservation] = [:]
            for (g, gc) in config.groups {
                let cores = s.replicas.values.filter { $0.group == g && $0.pid != nil }.reduce(0) { $0 + $1.cores }
                groups[g] = GroupObservation(load: cores / gc.cpuLimit)
            }
            return Observation(timeMillis: now, inventory: makeInventory(s), groups: groups)
        }
    }

    public func scale(group: String, to replicas: Int, actionID: String) async throws(DriverError) {
        try await launchIfNeeded()
        guard config.groups[group] != nil else { throw .notFound("process group \(group)") }
        guard replicas >= 0 else { throw .rejected("scale \(group) to \(replicas): replicas must be ≥ 0") }
        guard claim(actionID) else { return }
        let (toStart, toStop): ([Int], [String]) = state.withLock { s in
            let have = s.replicas.values.filter { $0.group == group }
            let indices = Set(have.map(\.index))
            return ((0..<replicas).filter { !indices.contains($0) },
                    have.filter { $0.index >= replicas }.sorted { $0.index > $1.index }.map(\.id))
        }
        if config.dryRun {
            logger.info("dry-run: would scale", metadata: ["group": "\(group)", "to": "\(replicas)", "action": "\(actionID)",
                                                          "start": "\(toStart.map { "\(group)-\($0)" })", "stop": "\(toStop)"])
            return
        }
        state.withLock { $0.desired[group] = replicas }
        var errors: [String] = []
        await withTaskGroup(of: String?.self) { tg in
            for id in toStop {
                tg.addTask {
                    do throws(DriverError) { try await self.stopReplica(id, remove: true) } catch { return error.description }
                    return nil
                }
            }
            for k in toStart {
                tg.addTask {
                    self.state.withLock { s in
                        s.replicas["\(group)-\(k)"] = Replica(id: "\(group)-\(k)", group: group, index: k, pid: nil,
                                                              state: .stopped, startedAt: self.clock.nowMillis())
                    }
                    do throws(DriverError) { try await self.startReplica("\(group)-\(k)") } catch { return error.description }
                    return nil
                }
            }
            for await e in tg { if let e { errors.append(e) } }
        }
        if !errors.isEmpty {
            unclaim(actionID)
            throw .rejected("scale \(group) to \(replicas): " + errors.sorted().joined(separator: "; "))
        }
    }

    public func restart(instance: String, actionID: String) async throws(DriverError) {
        try await launchIfNeeded()
        guard exists(instance) else { throw .notFound("replica \(instance)") }
        guard claim(actionID) else { return }
        if config.dryRun {
            logger.info("dry-run: would restart", metadata: ["instance": "\(instance)", "action": "\(actionID)"])
            return
        }
        do {
            try await stopReplica(instance, remove: false)
            try await startReplica(instance)
        } catch {
            unclaim(actionID)
            throw error
        }
    }

    public func stop(instance: String, actionID: String) async throws(DriverError) {
        try await launchIfNeeded()
        guard exists(instance) else { throw .notFound("replica \(instance)") }
        guard claim(actionID) else { return }
        if config.dryRun {
            logger.info("dry-run: would stop", metadata: ["instance": "\(instance)", "action": "\(actionID)"])
            return
        }
        do { try await stopReplica(instance, remove: false) } catch {
            unclaim(actionID)
            throw error
        }
    }

    public func start(instance: String, on host: String?, actionID: String) async throws(DriverError) {
        try await launchIfNeeded()
        guard exists(instance) else { throw .notFound("replica \(instance)") }
        if let host, host != self.host {
            throw .rejected("the process driver runs replicas on \(self.host) only, not on \(host)")
        }
        guard claim(actionID) else { return }
        if config.dryRun {
            logger.info("dry-run: would start", metadata: ["instance": "\(instance)", "action": "\(actionID)"])
            return
        }
        if state.withLock({ $0.replicas[instance]?.pid != nil }) { return }  // already running
        do { try await startReplica(instance) } catch {
            unclaim(actionID)
            throw error
        }
    }

    /// Returns when a replica exited, turned unhealthy or became ready since the previous call returned.
    public func nextChange() async { await changes.wait() }

    // MARK: lifecycle

    /// Starts every group's configured replicas (once; `inventory`/`observe` call it on first use) and the health
    /// probe loop.
    public func launch() async throws(DriverError) { try await launchIfNeeded() }

    /// Stops every replica (SIGTERM to its process group, SIGKILL after the grace period), then the driver's
    /// threads. The driver cannot be used afterwards.
    public func shutdown() async {
        let ids: [String] = state.withLock { s in
            s.shutDown = true
            return s.replicas.values.filter { $0.pid != nil }.map(\.id)
        }
        healthTask.withLock { $0 }?.cancel()
        await withTaskGroup(of: Void.self) { tg in
            for id in ids { tg.addTask { try? await self.stopReplica(id, remove: false) } }
        }
        reaper.stop()
        spawner.stop()  // the spawning thread ends: PR_SET_PDEATHSIG kills anything still alive
    }

    /// Every replica, sorted by group and index.
    public func status() -> [ReplicaStatus] {
        state.withLock { s in
            s.replicas.values.sorted { ($0.group, $0.index) < ($1.group, $1.index) }.map {
                ReplicaStatus(instance: $0.id, group: $0.group, index: $0.index, pid: $0.pid, state: $0.state,
                              startedAtMillis: $0.startedAt, cpuCores: $0.cores, rssBytes: $0.rss, lastExit: $0.lastExit?.summary)
            }
        }
    }

    // MARK: internals

    private func launchIfNeeded() async throws(DriverError) {
        let first: Bool = state.withLock { s in
            if s.shutDown || s.launched { return false }
            s.launched = true
            return true
        }
        if state.withLock({ $0.shutDown }) { throw .unavailable("process driver is shut down") }
        guard first else { return }
        var ids: [String] = []
        for (g, gc) in config.groups.sorted(by: { $0.key < $1.key }) {
            for k in 0..<gc.replicas {
                let id = "\(g)-\(k)"
                ids.append(id)
                if config.dryRun {
                    logger.info("dry-run: would start", metadata: ["instance": "\(id)", "command": "\(substitute(gc.command, gc, k))"])
                    continue
                }
                state.withLock { s in
                    s.replicas[id] = Replica(id: id, group: g, index: k, pid: nil, state: .stopped, startedAt: clock.nowMillis())
                }
            }
        }
        if config.dryRun { return }
        var errors: [String] = []
        for id in ids {
            do { try await startReplica(id) } catch { errors.append(error.description) }
        }
        if config.groups.values.contains(where: { $0.health != nil }) {
            healthTask.withLock { $0 = Task { await self.healthLoop() } }
        }
        if !errors.isEmpty {
            logger.error("some replicas did not start", metadata: ["errors": "\(errors)"])
        }
    }

    private func makeInventory(_ s: State) -> Inventory {
        let mem = Int(ProcessInfo.processInfo.physicalMemory / (1 << 20))
        let hostInfo = HostInfo(id: host, vcpus: ProcessInfo.processInfo.activeProcessorCount, memoryMiB: mem, state: .up)
        let instances = s.replicas.values.sorted { ($0.group, $0.index) < ($1.group, $1.index) }.map {
            InstanceInfo(id: $0.id, group: $0.group, host: host, state: $0.state, startedAtMillis: $0.startedAt, vcpus: 1)
        }
        let groups = config.groups.keys.sorted().map { GroupInfo(id: $0, desiredReplicas: s.desired[$0] ?? 0) }
        return Inventory(hosts: [hostInfo], instances: instances, groups: groups)
    }

    private func exists(_ id: String) -> Bool { state.withLock { $0.replicas[id] != nil } }

    /// True when `actionID` is new (and now taken); false for a repeat, which the caller treats as done.
    private func claim(_ actionID: String) -> Bool { state.withLock { $0.actions.claim(actionID) } }

    private func unclaim(_ actionID: String) { state.withLock { $0.actions.unclaim(actionID) } }

    func substitute(_ s: String, _ gc: ProcessDriverConfig.Group, _ k: Int) -> String {
        s.replacingOccurrences(of: "$PORT", with: String(gc.portBase + k)).replacingOccurrences(of: "$REPLICA", with: String(k))
    }

    func substitute(_ argv: [String], _ gc: ProcessDriverConfig.Group, _ k: Int) -> [String] {
        argv.map { substitute($0, gc, k) }
    }

    private func startReplica(_ id: String) async throws(DriverError) {
        guard let r = state.withLock({ $0.replicas[id] }), let gc = config.groups[r.group] else {
            throw .notFound("replica \(id)")
        }
        let k = r.index
        let argv = substitute(gc.command, gc, k)
        var env = ProcessInfo.processInfo.environment
        for (key, v) in gc.env { env[key] = substitute(v, gc, k) }
        env["VIGIL_GROUP"] = r.group
        env["VIGIL_INSTANCE"] = id
        env["VIGIL_REPLICA"] = String(k)
        if gc.portBase > 0 { env["PORT"] = String(gc.portBase + k) }
        let envp = env.map { "\($0.key)=\($0.value)" }.sorted()
        let cwd = gc.workingDir
        let output = gc.output == "inherit" || gc.output == "discard" ? gc.output : substitute(gc.output, gc, k)
        let result: Int32 = await spawner.run {
            var outFD: Int32 = output == "inherit" ? -2 : -1
            if output != "inherit" && output != "discard" {
                outFD = open(output, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
                if outFD < 0 { return -errno }
            }
            defer { if outFD >= 0 { close(outFD) } }
            return withCStrings(argv) { av in
                withCStrings(envp) { ev in
                    if let cwd { return cwd.withCString { vigil_spawn(av[0], av, ev, $0, outFD, outFD) } }
                    return vigil_spawn(av[0], av, ev, nil, outFD, outFD)
                }
            }
        }
        guard result > 0 else {
            let why = String(cString: strerror(-result))
            state.withLock { s in
                s.replicas[id]?.state = .exited
                s.replicas[id]?.startedAt = clock.nowMillis()
            }
            throw .rejected("cannot start \(id) (\(argv[0])): \(why)")
        }
        let pid = result
        state.withLock { s in
            s.replicas[id]?.pid = pid
            s.replicas[id]?.stopping = false
            s.replicas[id]?.startedAt = clock.nowMillis()
            s.replicas[id]?.state = gc.health == nil ? .running : .starting
            s.replicas[id]?.healthFailures = 0
            s.replicas[id]?.lastProbeAt = .min
            s.replicas[id]?.lastFailureCountedAt = clock.nowMillis()
            s.replicas[id]?.prevCPU = nil
            s.replicas[id]?.cores = 0
        }
        if let err = reaper.watch(pid: pid) {
            logger.error("cannot watch replica", metadata: ["instance": "\(id)", "pid": "\(pid)", "error": "\(String(cString: strerror(err)))"])
        }
        logger.info("replica started", metadata: ["instance": "\(id)", "pid": "\(pid)"])
    }

    /// SIGTERM to the replica's process group, SIGKILL after the grace period; `remove` drops it from the inventory.
    private func stopReplica(_ id: String, remove: Bool) async throws(DriverError) {
        let pid: Int32? = state.withLock { s in
            guard let p = s.replicas[id]?.pid else { return nil }
            s.replicas[id]?.stopping = true
            return p
        }
        if let pid {
            _ = kill(-pid, SIGTERM)
            var gone = await waitExit(pid, millis: config.gracePeriod.milliseconds)
            if !gone {
                logger.warning("replica ignored SIGTERM; sending SIGKILL", metadata: ["instance": "\(id)", "pid": "\(pid)"])
                _ = kill(-pid, SIGKILL)
                gone = await waitExit(pid, millis: 5_000)
            }
            if !gone { throw .timeout(operation: "stop \(id)", millis: config.gracePeriod.milliseconds + 5_000) }
            logger.info("replica stopped", metadata: ["instance": "\(id)", "pid": "\(pid)"])
        }
        state.withLock { s in
            if remove {
                s.replicas[id] = nil
            } else {
                s.replicas[id]?.state = .stopped
                s.replicas[id]?.stopping = false
            }
        }
    }

    private func waitExit(_ pid: Int32, millis: Int64) async -> Bool {
        let deadline = clock.nowMillis() + millis
        while true {
            if state.withLock({ $0.reaped.removeValue(forKey: pid) }) != nil { return true }
            if clock.nowMillis() >= deadline { return false }
            // a cancelled task (the daemon shutting down) still gives the replica its grace period: the clock's sleep
            // throws at once then, so wait without it (bounded by the deadline above)
            do { try await clock.sleep(millis: 2) } catch { usleep(2_000) }
        }
    }

    // MARK: health

    private func healthLoop() async {
        let periods = config.groups.values.compactMap { $0.health?.period.milliseconds }
        let tick = max(10, min(100, periods.min() ?? 100))
        while !Task.isCancelled {
            let now = clock.nowMillis()
            let due: [(String, Int64, String, ProcessDriverConfig.HealthCheck)] = state.withLock { s in
                var out: [(String, Int64, String, ProcessDriverConfig.HealthCheck)] = []
                for (id, r) in s.replicas {
                    guard r.pid != nil, !r.probing, !r.stopping, let gc = config.groups[r.group], let h = gc.health else { continue }
                    // a starting replica is probed often so it turns ready quickly; failures still count once a period
                    let every = r.state == .starting ? min(h.period.milliseconds, 200) : h.period.milliseconds
                    guard r.lastProbeAt == .min || now - r.lastProbeAt >= every else { continue }
                    s.replicas[id]!.probing = true
                    s.replicas[id]!.lastProbeAt = now
                    out.append((id, r.startedAt, substitute(h.url, gc, r.index), h))
                }
                return out
            }
            for (id, incarnation, url, h) in due {
                Task {
                    let r = await HTTPExchange.send(method: "GET", url: url, timeoutMs: h.timeout.milliseconds, clock: self.clock)
                    let ok: Bool
                    if case .success(let resp) = r, (200..<400).contains(resp.status) { ok = true } else { ok = false }
                    self.applyProbe(id, incarnation: incarnation, ok: ok, check: h)
                }
            }
            do { try await clock.sleep(millis: tick) } catch { return }
        }
    }

    private func applyProbe(_ id: String, incarnation: Int64, ok: Bool, check h: ProcessDriverConfig.HealthCheck) {
        let now = clock.nowMillis()
        let changed: Bool = state.withLock { s in
            guard var r = s.replicas[id] else { return false }
            r.probing = false
            defer { s.replicas[id] = r }
            guard r.startedAt == incarnation, r.pid != nil, !r.stopping else { return false }
            let before = r.state
            if ok {
                r.healthFailures = 0
                r.lastFailureCountedAt = now
                if r.state == .starting || r.state == .unhealthy { r.state = .running }
            } else if r.state != .starting || now - r.lastFailureCountedAt >= h.period.milliseconds {
                r.healthFailures += 1
                r.lastFailureCountedAt = now
                if r.healthFailures >= h.failureThreshold { r.state = .unhealthy }
            }
            return r.state != before
        }
        if changed { changes.signal() }
    }
}

/// Runs `body` with a NULL-terminated `char *[]` of `strings` (freed afterwards).
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var ptrs: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    ptrs.append(nil)
    defer { for p in ptrs { free(p) } }
    return ptrs.withUnsafeBufferPointer { body($0.baseAddress!) }
}
