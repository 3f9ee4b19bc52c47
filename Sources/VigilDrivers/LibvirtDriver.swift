import CLibvirt
import Foundation
import Logging
import VigilConfig
import VigilCore
import VigilEngine

/// One domain's state as `LibvirtDriver.status()` reports it (for the daemon's metrics and for tests).
public struct DomainStatus: Sendable, Equatable {
    public var instance: String
    public var group: String
    public var host: String
    public var state: InstanceInfo.State
    public var vcpus: Int
    /// CPU cores used between the last two listings (CPU time delta / wall time delta).
    public var cpuCores: Double
    public var memoryBytes: Int64
}

/// libvirt hosts as the engine's driver (docs/drivers.md): one long-lived connection per host URI, each on its own
/// thread; a group's instances are the domains named `<group>-<n>` on any host.
///
/// - scale starts the missing domains `<group>-0..<n>` (a defined, stopped one is started where it is; a missing one
///   is defined from the group's template on the up host with the most free memory, or the group's pinned host) and
///   shuts down those with n or more (ACPI shutdown, `destroy` after `shutdown_timeout`), undefining the ones the
///   driver defined;
/// - restart is a guest reboot, or destroy + start (`restart: destroy_start`); a domain that is not running is started;
/// - migrate tries a live migration and falls back to a cold one: define on the target, shut down on the source,
///   start on the target, undefine on the source. The source copy is always off before the target copy starts
///   (never two running copies); a failed start on the target restarts it on the source;
/// - power off drains a host (its domains migrate to the other up hosts, the host is in maintenance) and runs the
///   host's `power_off` hook; power on runs `power_on` and reconnects.
///
/// A repeated action id is a no-op; every call is bounded by `call_timeout`; `dry_run` logs and changes nothing.
/// Domain lifecycle events (libvirt's default event loop, on its own thread) and lost hosts wake `nextChange()`, so
/// the engine steps at once when a domain crashes instead of at its next interval.
public final class LibvirtDriver: ChangeNotifyingDriver {
    public let name = "libvirt"
    public let config: LibvirtDriverConfig
    let clock: any VigilClock
    let logger: Logger
    let hosts: [String: LibvirtHost]
    let templates: [String: DomainTemplate]

    struct HostState {
        var reachable = false
        var listed = false
        var error: String?
        var maintenance = false
        var poweredOff = false
        var cpus = 0
        var memoryKiB: UInt64 = 0
        var domains: [DomainFacts] = []
    }

    struct State {
        var hosts: [String: HostState] = [:]
        var startedAt: [String: Int64] = [:]
        var stoppedOnPurpose = Set<String>()
        /// Last known persistent definition of each managed domain (for relocation off a host that is gone).
        var xml: [String: String] = [:]
        var desired: [String: Int] = [:]
        var prevCPU: [String: (ns: UInt64, at: Int64)] = [:]
        var cores: [String: Double] = [:]
        /// Domains relocated off a host that could not be reached: destroyed and undefined there when it is back.
        var stale: [String: Set<String>] = [:]
        var actions = ActionLedger()
    }

    private let state = Locked(State())
    private let changes = ChangeSignal()

    /// Reads the groups' templates (relative paths against `baseDir`); throws naming the file at fault.
    public init(config: LibvirtDriverConfig, baseDir: String? = nil, clock: any VigilClock = WallClock(),
                logger: Logger = Logger(label: "vigil.driver.libvirt")) throws(LibvirtDriverSetupError) {
        self.config = config
        self.clock = clock
        self.logger = logger
        var t: [String: DomainTemplate] = [:]
        for (g, gc) in config.groups {
            let path = gc.template.hasPrefix("/") || baseDir == nil ? gc.template : "\(baseDir!)/\(gc.template)"
            do { t[g] = try DomainTemplate(file: path) } catch {
                throw LibvirtDriverSetupError("driver.libvirt.groups.\(g).template: \(error.description)")
            }
        }
        templates = t
        var h: [String: LibvirtHost] = [:]
        for (id, hc) in config.hosts { h[id] = LibvirtHost(id: id, uri: hc.uri, changes: changes) }
        hosts = h
        state.withLock { s in for id in config.hosts.keys { s.hosts[id] = HostState() } }
    }

    // MARK: Driver

    public func inventory() async throws(DriverError) -> Inventory {
        await refresh()
        return state.withLock { makeInventory($0) }
    }

    public func observe() async throws(DriverError) -> Observation {
        await refresh()
        let now = clock.nowMillis()
        return state.withLock { s in
            var groups: [String: GroupObservation] = [:]
            for g in config.groups.keys { groups[g] = GroupObservation(load: 0) }
            for (host, hs) in s.hosts where hs.reachable {
                for d in hs.domains where d.active {
                    guard let m = member(d.name), locate(d.name, s)?.host == host else { continue }
                    groups[m.group]!.load += (s.cores[d.name] ?? 0) / Double(max(1, d.vcpus))
                }
            }
            return Observation(timeMillis: now, inventory: makeInventory(s), groups: groups)
        }
    }

    public func scale(group: String, to replicas: Int, actionID: String) async throws(DriverError) {
        guard let template = templates[group] else { throw .notFound("libvirt group \(group)") }
        guard replicas >= 0 else { throw .rejected("scale \(group) to \(replicas): replicas must be ≥ 0") }
        guard claim(actionID) else { return }
        await refresh()
        enum Step { case start(String, host: String), create(Int), retire(String, host: String) }
        let (steps, skipped): ([Step], [String]) = state.withLock { s in
            var steps: [Step] = [], skipped: [String] = []
            var byIndex: [Int: (host: String, facts: DomainFacts, reachable: Bool)] = [:]
            for (id, _) in s.hosts.sorted(by: { $0.key < $1.key }) {
                for d in s.hosts[id]!.domains {
                    guard let m = member(d.name), m.group == group, let loc = locate(d.name, s), loc.host == id else { continue }
                    byIndex[m.index] = (id, d, s.hosts[id]!.reachable)
                }
            }
            for k in 0..<replicas {
                guard let have = byIndex[k] else { steps.append(.create(k)); continue }
                if !have.reachable { skipped.append("\(group)-\(k) (host \(have.host) unreachable)"); continue }
                if !have.facts.active { steps.append(.start("\(group)-\(k)", host: have.host)) }
            }
            for (k, have) in byIndex.sorted(by: { $0.key > $1.key }) where k >= replicas {
                if !have.reachable { skipped.append("\(group)-\(k) (host \(have.host) unreachable)"); continue }
                steps.append(.retire("\(group)-\(k)", host: have.host))
            }
            return (steps, skipped)
        }
        if config.dryRun {
            let plan = steps.map { st -> String in
                switch st {
                case .start(let n, let h): return "start \(n) on \(h)"
                case .create(let k): return "define \(group)-\(k) from \(template.file) and start it"
                case .retire(let n, let h): return "shut down \(n) on \(h)"
                }
            }
            logger.info("dry-run: would scale", metadata: ["group": "\(group)", "to": "\(replicas)", "action": "\(actionID)",
                                                          "steps": "\(plan)", "skipped": "\(skipped)"])
            return
        }
        state.withLock { $0.desired[group] = replicas }
        var errors: [String] = skipped.map { "cannot manage \($0)" }
        for st in steps {
            do throws(DriverError) {
                switch st {
                case .start(let n, let h):
                    try await onHost(h, "start \(n)") { c in DomainOps.start(c, n) }
                    noteStarted(n)
                case .create(let k):
                    try await create(group: group, index: k, template: template)
                case .retire(let n, let h):
                    try await shutDown(n, on: h)
                    let ours: Bool = try await onHost(h, "read metadata of \(n)") { c in .success(DomainOps.isOurs(c, n)) }
                    if ours {
                        try await onHost(h, "undefine \(n)") { c in DomainOps.undefine(c, n) }
                        state.withLock { s in
                            s.xml[n] = nil
                            s.stoppedOnPurpose.remove(n)
                        }
                    }
                    logger.info("domain retired", metadata: ["instance": "\(n)", "host": "\(h)", "undefined": "\(ours)"])
                }
            } catch {
                errors.append(error.description)
            }
        }
        await refresh()
        if !errors.isEmpty {
            unclaim(actionID)
            throw .rejected("scale \(group) to \(replicas): " + errors.joined(separator: "; "))
        }
    }

    public func restart(instance: String, actionID: String) async throws(DriverError) {
        let loc = try await find(instance)
        guard claim(actionID) else { return }
        if config.dryRun {
            logger.info("dry-run: would restart", metadata: ["instance": "\(instance)", "host": "\(loc.host)", "action": "\(actionID)",
                                                            "how": "\(loc.facts.active ? config.restart.rawValue : "start")"])
            return
        }
        do throws(DriverError) {
            if !loc.facts.active {
                try await onHost(loc.host, "start \(instance)") { c in DomainOps.start(c, instance) }
            } else {
                switch config.restart {
                case .reboot:
                    try await onHost(loc.host, "reboot \(instance)") { c in DomainOps.reboot(c, instance) }
                case .destroyStart:
                    try await onHost(loc.host, "destroy \(instance)") { c in DomainOps.destroy(c, instance) }
                    try await onHost(loc.host, "start \(instance)") { c in DomainOps.start(c, instance) }
                }
            }
        } catch {
            unclaim(actionID)
            throw error
        }
        noteStarted(instance)
        logger.info("domain restarted", metadata: ["instance": "\(instance)", "host": "\(loc.host)",
                                                   "how": "\(loc.facts.active ? config.restart.rawValue : "start")"])
    }

    public func stop(instance: String, actionID: String) async throws(DriverError) {
        let loc = try await find(instance)
        guard claim(actionID) else { return }
        if config.dryRun {
            logger.info("dry-run: would stop", metadata: ["instance": "\(instance)", "host": "\(loc.host)", "action": "\(actionID)"])
            return
        }
        do { try await shutDown(instance, on: loc.host) } catch {
            unclaim(actionID)
            throw error
        }
    }

    public func start(instance: String, on host: String?, actionID: String) async throws(DriverError) {
        let loc = try await find(instance, allowUnreachable: true)
        if let host, hosts[host] == nil { throw .notFound("libvirt host \(host)") }
        guard claim(actionID) else { return }
        let target = host ?? loc.host
        if config.dryRun {
            logger.info("dry-run: would start", metadata: ["instance": "\(instance)", "host": "\(target)", "from": "\(loc.host)",
                                                          "action": "\(actionID)"])
            return
        }
        do throws(DriverError) {
            if target == loc.host {
                guard loc.reachable else { throw .unavailable("host \(target) of \(instance) is unreachable") }
                try await onHost(target, "start \(instance)") { c in DomainOps.start(c, instance) }
            } else {
                try await relocate(instance, from: loc, to: target)
            }
        } catch {
            unclaim(actionID)
            throw error
        }
        noteStarted(instance)
    }

    public func migrate(instance: String, to host: String, live: Bool, actionID: String) async throws(DriverError) {
        guard hosts[host] != nil else { throw .notFound("libvirt host \(host)") }
        let loc = try await find(instance)
        guard claim(actionID) else { return }
        if loc.host == host { return }  // already there
        if config.dryRun {
            logger.info("dry-run: would migrate", metadata: ["instance": "\(instance)", "from": "\(loc.host)", "to": "\(host)",
                                                            "live": "\(live && loc.facts.active)", "action": "\(actionID)"])
            return
        }
        do { try await move(instance, from: loc.host, to: host, live: live, wasActive: loc.facts.active) } catch {
            unclaim(actionID)
            throw error
        }
    }

    public func power(host: String, on: Bool, actionID: String) async throws(DriverError) {
        guard let hc = config.hosts[host], let h = hosts[host] else { throw .notFound("libvirt host \(host)") }
        guard claim(actionID) else { return }
        do throws(DriverError) {
            if on {
                if config.dryRun {
                    logger.info("dry-run: would power on", metadata: ["host": "\(host)", "hook": "\(hc.powerOn ?? [])", "action": "\(actionID)"])
                    return
                }
                if let argv = hc.powerOn { try await runHook(argv, host: host, uri: hc.uri) }
                state.withLock { s in
                    s.hosts[host]!.poweredOff = false
                    s.hosts[host]!.maintenance = false
                }
                await refresh()
                logger.info("host powered on", metadata: ["host": "\(host)", "reachable": "\(state.withLock { $0.hosts[host]!.reachable })"])
                return
            }
            await refresh()
            let (running, foreign, targets): ([String], [String], [String]) = state.withLock { s in
                let hs = s.hosts[host]!
                let active = hs.domains.filter(\.active).map(\.name)
                let others = s.hosts.filter { $0.key != host && $0.value.reachable && !$0.value.maintenance && !$0.value.poweredOff }
                return (active.filter { member($0) != nil }, active.filter { member($0) == nil }, others.keys.sorted())
            }
            guard foreign.isEmpty else {
                throw .rejected("host \(host) runs domains vigil does not manage (\(foreign.joined(separator: ", "))); not powering it off")
            }
            guard running.isEmpty || !targets.isEmpty else {
                throw .rejected("host \(host) runs \(running.joined(separator: ", ")) and no other host is up to take them")
            }
            if config.dryRun {
                logger.info("dry-run: would power off", metadata: ["host": "\(host)", "evacuate": "\(running)",
                                                                   "hook": "\(hc.powerOff ?? [])", "action": "\(actionID)"])
                return
            }
            state.withLock { $0.hosts[host]!.maintenance = true }
            for n in running {
                let memKiB = state.withLock { s in s.hosts[host]!.domains.first { $0.name == n }?.memoryKiB ?? 0 }
                guard let to = state.withLock({ s in bestHost(s, memoryKiB: memKiB, among: targets) }) else {
                    throw .rejected("no host has room for \(n) (\(memKiB / 1024) MiB) while draining \(host)")
                }
                try await move(n, from: host, to: to, live: true, wasActive: true)
                await refresh()
            }
            if let argv = hc.powerOff {
                try await runHook(argv, host: host, uri: hc.uri)
                await h.close()
                state.withLock { s in
                    s.hosts[host]!.poweredOff = true
                    s.hosts[host]!.reachable = false
                }
                logger.info("host powered off", metadata: ["host": "\(host)", "evacuated": "\(running)"])
            } else {
                logger.notice("host drained; no power_off hook, left in maintenance", metadata: ["host": "\(host)", "evacuated": "\(running)"])
            }
        } catch {
            unclaim(actionID)
            throw error
        }
    }

    /// Returns after a domain lifecycle event on any host (a domain started, stopped, crashed, was defined or
    /// undefined — by the driver or by anyone else) or a lost connection, since the previous call returned.
    public func nextChange() async { await changes.wait() }

    // MARK: beyond the Driver protocol

    /// Vertical scaling: sets an instance's vCPUs and/or memory, live when it runs and in its persistent definition.
    /// Bounded by the domain's maximums (a larger value is `rejected` with libvirt's message). The engine does not
    /// issue it yet (the `Driver` protocol has no vertical action); the actions API or a hook may.
    public func resize(instance: String, vcpus: Int?, memoryMiB: Int?, actionID: String) async throws(DriverError) {
        let loc = try await find(instance)
        if let v = vcpus, v < 1 { throw .rejected("resize \(instance): vcpus must be ≥ 1, got \(v)") }
        if let m = memoryMiB, m < 1 { throw .rejected("resize \(instance): memory must be ≥ 1 MiB, got \(m)") }
        guard claim(actionID) else { return }
        if config.dryRun {
            logger.info("dry-run: would resize", metadata: ["instance": "\(instance)", "host": "\(loc.host)", "vcpus": "\(vcpus.map(String.init) ?? "-")",
                                                           "memory_mib": "\(memoryMiB.map(String.init) ?? "-")", "action": "\(actionID)"])
            return
        }
        let kib = memoryMiB.map { UInt64($0) * 1024 }
        do { try await onHost(loc.host, "resize \(instance)") { c in DomainOps.resize(c, instance, vcpus: vcpus, memoryKiB: kib) } } catch {
            unclaim(actionID)
            throw error
        }
        logger.info("domain resized", metadata: ["instance": "\(instance)", "vcpus": "\(vcpus.map(String.init) ?? "-")",
                                                 "memory_mib": "\(memoryMiB.map(String.init) ?? "-")"])
    }

    /// Every managed domain as last listed, sorted by group and name.
    public func status() -> [DomainStatus] {
        state.withLock { s in
            makeInventory(s).instances.map { i in
                let f = s.hosts[i.host]?.domains.first { $0.name == i.id }
                return DomainStatus(instance: i.id, group: i.group, host: i.host, state: i.state, vcpus: i.vcpus,
                                    cpuCores: s.cores[i.id] ?? 0, memoryBytes: Int64(f?.memoryKiB ?? 0) * 1024)
            }
        }
    }

    /// Closes every connection and ends the hosts' threads. Domains keep running. The driver cannot be used afterwards.
    public func shutdown() async {
        for h in hosts.values { await h.shutdown() }
    }

    /// Test hook: drops the connection to `host` as a dead daemon would (the next call reconnects).
    func dropConnection(_ host: String) async { await hosts[host]?.close() }

    // MARK: listing

    /// Lists every reachable host (concurrently, each on its own thread) and updates the state: host reachability,
    /// domains, CPU deltas; applies pending clean-ups on hosts that came back.
    func refresh() async {
        let known = state.withLock { Set($0.xml.keys) }
        let ids = state.withLock { s in s.hosts.filter { !$0.value.poweredOff }.keys.sorted() }
        let results: [(String, Result<HostFacts, DriverError>)] = await withTaskGroup(of: (String, Result<HostFacts, DriverError>).self) { g in
            for id in ids {
                let h = hosts[id]!
                g.addTask {
                    do throws(DriverError) {
                        let clock = self.clock
                        let f = try await h.call("list domains", timeoutMs: self.config.callTimeout.milliseconds, clock: clock) { c in
                            let t = clock.nowMillis()
                            return DomainOps.list(c, wantXML: { self.member($0) != nil && !known.contains($0) }).map { f in
                                var f = f
                                // the middle of the listing: the CPU times were read between t and now
                                f.atMillis = (t + clock.nowMillis()) / 2
                                return f
                            }
                        }
                        return (id, .success(f))
                    } catch {
                        return (id, .failure(error))
                    }
                }
            }
            var out: [(String, Result<HostFacts, DriverError>)] = []
            for await r in g { out.append(r) }
            return out
        }
        let now = clock.nowMillis()
        var cameBack: [String] = [], lost: [String] = []
        state.withLock { s in
            for (id, r) in results {
                switch r {
                case .success(let f):
                    if !s.hosts[id]!.reachable, s.stale[id]?.isEmpty == false { cameBack.append(id) }
                    s.hosts[id]!.reachable = true
                    s.hosts[id]!.listed = true
                    s.hosts[id]!.error = nil
                    s.hosts[id]!.cpus = f.cpus
                    s.hosts[id]!.memoryKiB = f.memoryKiB
                    s.hosts[id]!.domains = f.domains
                    for (n, x) in f.xml { s.xml[n] = x }
                    for d in f.domains where member(d.name) != nil {
                        if s.startedAt[d.name] == nil { s.startedAt[d.name] = now }
                        guard d.active else {
                            s.prevCPU[d.name] = nil
                            s.cores[d.name] = 0
                            continue
                        }
                        if let p = s.prevCPU[d.name], f.atMillis > p.at, d.cpuTimeNs >= p.ns {
                            s.cores[d.name] = Double(d.cpuTimeNs - p.ns) / 1e6 / Double(f.atMillis - p.at)
                        }
                        s.prevCPU[d.name] = (d.cpuTimeNs, f.atMillis)
                    }
                case .failure(let e):
                    if s.hosts[id]!.reachable { lost.append(id) }
                    s.hosts[id]!.reachable = false
                    s.hosts[id]!.error = e.description
                }
            }
        }
        for (id, r) in results {
            if case .failure(let e) = r { logger.warning("libvirt host unreachable", metadata: ["host": "\(id)", "error": "\(e)"]) }
        }
        for id in cameBack { await cleanStale(on: id) }
        if !lost.isEmpty { changes.signal() }
    }

    /// Domains relocated while `host` was unreachable: their copies there are destroyed and undefined.
    private func cleanStale(on host: String) async {
        let names = state.withLock { $0.stale[host] ?? [] }
        for n in names.sorted() {
            do throws(DriverError) {
                let present: Bool = try await onHost(host, "look up \(n)") { c in
                    guard let d = virDomainLookupByName(c, n) else { return .success(false) }
                    virDomainFree(d)
                    return .success(true)
                }
                if present {
                    logger.warning("removing the stale copy of a relocated domain", metadata: ["instance": "\(n)", "host": "\(host)"])
                    try await onHost(host, "destroy \(n)") { c in DomainOps.destroy(c, n) }
                    try await onHost(host, "undefine \(n)") { c in DomainOps.undefine(c, n) }
                }
                state.withLock { s in
                    s.stale[host]?.remove(n)
                    s.hosts[host]?.domains.removeAll { $0.name == n }
                }
            } catch {
                logger.error("cannot remove the stale copy of a relocated domain", metadata: ["instance": "\(n)", "host": "\(host)", "error": "\(error)"])
            }
        }
    }

    /// `<group>-<n>` of a configured group (the longest group name that matches), or nil.
    func member(_ name: String) -> (group: String, index: Int)? {
        var best: (String, Int)?
        for g in config.groups.keys where name.hasPrefix(g + "-") {
            let rest = name.dropFirst(g.count + 1)
            guard !rest.isEmpty, rest.allSatisfy(\.isASCII), rest.allSatisfy(\.isNumber), let k = Int(rest) else { continue }
            if best == nil || g.count > best!.0.count { best = (g, k) }
        }
        return best.map { (group: $0.0, index: $0.1) }
    }

    /// Where a domain is: the host with its running copy, else the first host (by name) defining it.
    func locate(_ name: String, _ s: State) -> (host: String, facts: DomainFacts, reachable: Bool)? {
        var found: (host: String, facts: DomainFacts, reachable: Bool)?
        for id in s.hosts.keys.sorted() {
            let hs = s.hosts[id]!
            guard let d = hs.domains.first(where: { $0.name == name }) else { continue }
            let reachable = hs.reachable && !hs.poweredOff
            if found == nil || (d.active && reachable && !(found!.facts.active && found!.reachable)) {
                found = (id, d, reachable)
            }
        }
        return found
    }

    private func makeInventory(_ s: State) -> Inventory {
        var hostInfos: [HostInfo] = []
        for id in s.hosts.keys.sorted() {
            let hs = s.hosts[id]!
            let st: HostInfo.State = hs.poweredOff ? .down : !hs.reachable ? .unreachable : hs.maintenance ? .maintenance : .up
            hostInfos.append(HostInfo(id: id, vcpus: hs.cpus, memoryMiB: Int(hs.memoryKiB / 1024), state: st,
                                      power: hs.poweredOff ? .off : hs.reachable ? .on : nil))
        }
        var names = Set<String>()
        for hs in s.hosts.values { for d in hs.domains where member(d.name) != nil { names.insert(d.name) } }
        var instances: [InstanceInfo] = []
        for n in names {
            guard let m = member(n), let loc = locate(n, s) else { continue }
            let st: InstanceInfo.State
            if !loc.reachable {
                st = s.hosts[loc.host]!.poweredOff ? .stopped : .unknown
            } else {
                st = Self.instanceState(loc.facts, stoppedOnPurpose: s.stoppedOnPurpose.contains(n))
            }
            instances.append(InstanceInfo(id: n, group: m.group, host: loc.host, state: st, startedAtMillis: s.startedAt[n] ?? 0,
                                          vcpus: max(1, loc.facts.vcpus), cpu: s.cores[n],
                                          memoryGiB: loc.facts.memoryKiB > 0 ? Double(loc.facts.memoryKiB) / 1_048_576 : nil))
        }
        instances.sort { a, b in
            let (ma, mb) = (member(a.id)!, member(b.id)!)
            return (ma.group, ma.index) < (mb.group, mb.index)
        }
        let groups = config.groups.keys.sorted().map { g in
            GroupInfo(id: g, desiredReplicas: s.desired[g] ?? instances.filter { $0.group == g && ($0.state == .running || $0.state == .starting) }.count)
        }
        return Inventory(hosts: hostInfos, instances: instances, groups: groups)
    }

    /// libvirt's domain state as the engine's: running/blocked/shutting down = running, paused/suspended =
    /// unhealthy (alive, not serving), shut off = stopped when the driver stopped it, else exited, crashed = exited.
    static func instanceState(_ d: DomainFacts, stoppedOnPurpose: Bool) -> InstanceInfo.State {
        switch UInt32(bitPattern: d.state) {
        case VIR_DOMAIN_RUNNING.rawValue, VIR_DOMAIN_BLOCKED.rawValue, VIR_DOMAIN_SHUTDOWN.rawValue: return .running
        case VIR_DOMAIN_PAUSED.rawValue, VIR_DOMAIN_PMSUSPENDED.rawValue: return .unhealthy
        case VIR_DOMAIN_SHUTOFF.rawValue: return stoppedOnPurpose ? .stopped : .exited
        case VIR_DOMAIN_CRASHED.rawValue: return .exited
        default: return d.active ? .running : (stoppedOnPurpose ? .stopped : .exited)
        }
    }

    /// The up host (among `among`, default all) with the most memory left after its running domains, that fits
    /// `memoryKiB` more.
    private func bestHost(_ s: State, memoryKiB: UInt64, among: [String]? = nil) -> String? {
        var best: (String, Int64)?
        for id in (among ?? s.hosts.keys.sorted()).sorted() {
            guard let hs = s.hosts[id], hs.reachable, !hs.maintenance, !hs.poweredOff else { continue }
            let used = hs.domains.filter(\.active).reduce(UInt64(0)) { $0 + $1.memoryKiB }
            let free = Int64(hs.memoryKiB) - Int64(used) - Int64(memoryKiB)
            guard free >= 0 else { continue }
            if best == nil || free > best!.1 { best = (id, free) }
        }
        return best?.0
    }

    /// The current location of a managed instance (listing first); unknown names are `notFound`, an instance on an
    /// unreachable host is `unavailable` unless `allowUnreachable`.
    private func find(_ instance: String, allowUnreachable: Bool = false) async throws(DriverError) -> (host: String, facts: DomainFacts, reachable: Bool) {
        guard member(instance) != nil else { throw .notFound("libvirt instance \(instance) (not <group>-<n> of a configured group)") }
        await refresh()
        guard let loc = state.withLock({ locate(instance, $0) }) else {
            let down = state.withLock { s in s.hosts.filter { !$0.value.reachable }.keys.sorted() }
            throw .notFound("libvirt domain \(instance)" + (down.isEmpty ? "" : " (unreachable hosts not searched: \(down.joined(separator: ", ")))"))
        }
        if !loc.reachable && !allowUnreachable {
            throw .unavailable("host \(loc.host) of \(instance) is unreachable: \(state.withLock { $0.hosts[loc.host]?.error ?? "powered off" })")
        }
        return loc
    }

    // MARK: actions' parts

    @discardableResult
    private func onHost<T: Sendable>(_ host: String, _ what: String,
                                     _ body: @escaping @Sendable (OpaquePointer) -> Result<T, DriverError>) async throws(DriverError) -> T {
        guard let h = hosts[host] else { throw .notFound("libvirt host \(host)") }
        return try await h.call(what, timeoutMs: config.callTimeout.milliseconds, clock: clock, body)
    }

    private func noteStarted(_ n: String) {
        let now = clock.nowMillis()
        state.withLock { s in
            s.startedAt[n] = now
            s.stoppedOnPurpose.remove(n)
            s.prevCPU[n] = nil
        }
    }

    /// Defines instance `index` of `group` from its template on the best host and starts it; a failed start
    /// removes the definition again.
    private func create(group: String, index: Int, template: DomainTemplate) async throws(DriverError) {
        let name = "\(group)-\(index)"
        let xml = template.render(group: group, index: index)
        let pinned = config.groups[group]?.host
        let needKiB = Self.memoryKiB(inXML: xml)
        guard let host = state.withLock({ s in pinned.map { bestHost(s, memoryKiB: needKiB, among: [$0]) } ?? bestHost(s, memoryKiB: needKiB) }) else {
            throw .rejected("no up host has \(needKiB / 1024) MiB free for \(name)" + (pinned.map { " (pinned to \($0))" } ?? ""))
        }
        let stored = try await onHost(host, "define \(name)") { c in DomainOps.define(c, xml, name: name, group: group, index: index) }
        do {
            try await onHost(host, "start \(name)") { c in DomainOps.start(c, name) }
        } catch {
            _ = try? await onHost(host, "undefine \(name)") { c in DomainOps.undefine(c, name) }
            throw error
        }
        state.withLock { s in
            s.xml[name] = stored
            // count it on its host at once, so the next create of the same scale sees the host fuller
            s.hosts[host]!.domains.append(DomainFacts(name: name, state: Int32(VIR_DOMAIN_RUNNING.rawValue), active: true, vcpus: 1,
                                                       memoryKiB: needKiB, maxMemoryKiB: needKiB, cpuTimeNs: 0))
        }
        noteStarted(name)
        logger.info("domain created", metadata: ["instance": "\(name)", "host": "\(host)", "template": "\(template.file)"])
    }

    /// `<currentMemory>` (else `<memory>`) of a domain XML in KiB; 0 when absent.
    static func memoryKiB(inXML xml: String) -> UInt64 {
        for tag in ["currentMemory", "memory"] {
            guard let a = xml.range(of: "<\(tag)"), let close = xml.range(of: ">", range: a.upperBound..<xml.endIndex),
                  let end = xml.range(of: "</\(tag)>", range: close.upperBound..<xml.endIndex) else { continue }
            let attrs = xml[a.upperBound..<close.lowerBound]
            guard let v = UInt64(xml[close.upperBound..<end.lowerBound].trimmingCharacters(in: .whitespaces)) else { continue }
            let unit = attrs.range(of: "unit=").map { attrs[$0.upperBound...].dropFirst().prefix { $0 != "'" && $0 != "\"" } } ?? "KiB"
            switch unit.lowercased() {
            case "b", "bytes": return v / 1024
            case "k", "kib": return v
            case "kb": return v * 1000 / 1024
            case "m", "mib": return v * 1024
            case "mb": return v * 1_000_000 / 1024
            case "g", "gib": return v * 1024 * 1024
            case "gb": return v * 1_000_000_000 / 1024
            default: return v
            }
        }
        return 0
    }

    /// ACPI shutdown, `destroy` once `shutdown_timeout` passes; the domain is then `stopped` (fenced).
    private func shutDown(_ n: String, on host: String) async throws(DriverError) {
        try await onHost(host, "shutdown \(n)") { c in DomainOps.requestShutdown(c, n) }
        let deadline = clock.nowMillis() + config.shutdownTimeout.milliseconds
        var off = false
        while true {
            let active: Bool = try await onHost(host, "state of \(n)") { c in DomainOps.isActive(c, n) }
            off = !active
            if off || clock.nowMillis() >= deadline { break }
            do { try await clock.sleep(millis: 100) } catch { break }
        }
        if !off {
            logger.warning("domain ignored the shutdown request; destroying it", metadata: ["instance": "\(n)", "host": "\(host)"])
            try await onHost(host, "destroy \(n)") { c in DomainOps.destroy(c, n) }
        }
        state.withLock { s in
            s.stoppedOnPurpose.insert(n)
            s.prevCPU[n] = nil
        }
        logger.info("domain stopped", metadata: ["instance": "\(n)", "host": "\(host)", "graceful": "\(off)"])
    }

    /// Live migration when asked and possible, else cold: define on the target, stop on the source (fencing: before
    /// the target copy starts), start on the target, undefine on the source. A failed start on the target undoes
    /// the move (target definition removed, source copy started again).
    private func move(_ n: String, from src: String, to dst: String, live: Bool, wasActive: Bool) async throws(DriverError) {
        guard let dstHost = hosts[dst] else { throw .notFound("libvirt host \(dst)") }
        guard state.withLock({ s in s.hosts[dst].map { $0.reachable && !$0.maintenance && !$0.poweredOff } ?? false }) else {
            throw .unavailable("migration target \(dst) is not up (unreachable, in maintenance or powered off)")
        }
        if live && wasActive {
            do throws(DriverError) {
                let d = try await dstHost.connection(timeoutMs: config.callTimeout.milliseconds, clock: clock)
                try await onHost(src, "live migration of \(n) to \(dst)") { c in DomainOps.migrateLive(c, d.ptr, n) }
                logger.info("domain migrated live", metadata: ["instance": "\(n)", "from": "\(src)", "to": "\(dst)"])
                return
            } catch {
                logger.notice("live migration not possible; migrating cold", metadata: ["instance": "\(n)", "from": "\(src)", "to": "\(dst)",
                                                                                        "error": "\(error)"])
            }
        }
        let xml: String = try await onHost(src, "read the definition of \(n)") { c in
            DomainOps.with(c, n) { dom in DomainOps.xml(dom).map { .success($0) } ?? .failure(libvirtError("read the definition of \(n)")) }
        }
        try await onHost(dst, "define \(n) on \(dst)") { c in DomainOps.define(c, xml, name: n, group: nil, index: 0) }
        if wasActive {
            try await shutDown(n, on: src)  // fencing: the source copy is off before the target copy starts
            do {
                try await onHost(dst, "start \(n) on \(dst)") { c in DomainOps.start(c, n) }
            } catch {
                logger.error("start on the migration target failed; restarting on the source", metadata: ["instance": "\(n)", "from": "\(src)",
                                                                                                          "to": "\(dst)", "error": "\(error)"])
                _ = try? await onHost(dst, "undefine \(n) on \(dst)") { c in DomainOps.undefine(c, n) }
                _ = try? await onHost(src, "start \(n) on \(src)") { c in DomainOps.start(c, n) }
                throw error
            }
            logger.info("domain started on the migration target", metadata: ["instance": "\(n)", "host": "\(dst)"])
            noteStarted(n)
        }
        try await onHost(src, "undefine \(n) on \(src)") { c in DomainOps.undefine(c, n) }
        state.withLock { $0.xml[n] = xml }
        logger.info("domain migrated cold", metadata: ["instance": "\(n)", "from": "\(src)", "to": "\(dst)", "restarted": "\(wasActive)"])
    }

    /// `start` on another host: the instance is fenced (stopped, or its host unreachable/down: the engine decided).
    /// Its definition (from the source, or the last one read when the source is gone) is defined on the target and
    /// started; the source copy is undefined now, or destroyed and undefined when its host is back.
    private func relocate(_ n: String, from loc: (host: String, facts: DomainFacts, reachable: Bool), to dst: String) async throws(DriverError) {
        if loc.reachable {
            if loc.facts.active {
                throw .rejected("\(n) is running on \(loc.host); stop it first, or migrate it")
            }
            try await move(n, from: loc.host, to: dst, live: false, wasActive: false)
            try await onHost(dst, "start \(n) on \(dst)") { c in DomainOps.start(c, n) }
            logger.info("domain relocated", metadata: ["instance": "\(n)", "from": "\(loc.host)", "to": "\(dst)"])
            return
        }
        guard let xml = state.withLock({ $0.xml[n] }) else {
            throw .rejected("no definition of \(n) is known (its host \(loc.host) is unreachable); cannot relocate it")
        }
        guard state.withLock({ s in s.hosts[dst].map { $0.reachable && !$0.maintenance && !$0.poweredOff } ?? false }) else {
            throw .unavailable("relocation target \(dst) is not up")
        }
        try await onHost(dst, "define \(n) on \(dst)") { c in DomainOps.define(c, xml, name: n, group: nil, index: 0) }
        try await onHost(dst, "start \(n) on \(dst)") { c in DomainOps.start(c, n) }
        state.withLock { s in
            s.stale[loc.host, default: []].insert(n)
            // forget the unreachable host's copy: the instance now lives on dst
            if let i = s.hosts[loc.host]?.domains.firstIndex(where: { $0.name == n }) { s.hosts[loc.host]!.domains.remove(at: i) }
        }
        logger.warning("domain relocated off an unreachable host; its copy there is removed when the host is back",
                       metadata: ["instance": "\(n)", "from": "\(loc.host)", "to": "\(dst)"])
    }

    private func runHook(_ argv: [String], host: String, uri: String) async throws(DriverError) {
        let args = argv.map { $0.replacingOccurrences(of: "$HOST", with: host).replacingOccurrences(of: "$URI", with: uri) }
        let out = try await CommandRunner.run(args, input: Data(), timeoutMs: config.hookTimeout.milliseconds, clock: clock)
        guard out.status == 0 else {
            throw .rejected("power hook \(args[0]) for \(host) exited with \(out.status)" + (out.stderr.isEmpty ? "" : ": \(out.stderr)"))
        }
    }

    // MARK: action ids

    /// True when `actionID` is new (and now taken); false for a repeat, which the caller treats as done.
    private func claim(_ actionID: String) -> Bool { state.withLock { $0.actions.claim(actionID) } }

    private func unclaim(_ actionID: String) { state.withLock { $0.actions.unclaim(actionID) } }
}
