import Foundation
import VigilCore
import VigilEngine

/// Per-VM demand: a long CSV `vm,timestamp,cpu[,memory]` (header optional; timestamps as for `Trace`; `cpu` in
/// cores, `memory` in GiB, 0 when the column is absent). Rows of different VMs may interleave; each VM's rows must
/// be in time order. A VM exists from its first row to its last; between rows its demand is interpolated linearly.
public struct ClusterTrace: Sendable {
    public struct VMSeries: Sendable {
        public var id: String
        public var times: [Int64]
        public var cpu: [Double]
        public var memory: [Double]
        public var start: Int64 { times[0] }
        public var end: Int64 { times[times.count - 1] }
        public var peakCPU: Double { cpu.max() ?? 0 }
        public var peakMemory: Double { memory.max() ?? 0 }
    }
    public var vms: [VMSeries]
    public var start: Int64 { vms.map(\.start).min() ?? 0 }
    public var end: Int64 { vms.map(\.end).max() ?? 0 }

    public init(vms: [VMSeries]) { self.vms = vms }

    public static func load(path: String) throws -> ClusterTrace {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw Trace.ParseError(file: path, line: 0, message: "cannot read: \(error.localizedDescription)")
        }
        return try parse(String(decoding: data, as: UTF8.self), name: path)
    }

    public static func parse(_ text: String, name: String = "cluster") throws -> ClusterTrace {
        var index: [String: Int] = [:]
        var vms: [VMSeries] = []
        var lineNo = 0, rows = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let cols = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cols.count == 3 || cols.count == 4 else {
                throw Trace.ParseError(file: name, line: lineNo, message: "expected `vm,timestamp,cpu[,memory]`, got \(cols.count) columns")
            }
            guard let t = Trace.parseTime(cols[1]) else {
                if rows == 0 && lineNo == 1 { continue }  // header
                throw Trace.ParseError(file: name, line: lineNo, message: "timestamp \"\(cols[1])\" is not Unix seconds, ISO-8601 or YYYY-MM-DD HH:MM:SS")
            }
            guard let c = Double(cols[2]), c.isFinite, c >= 0 else {
                throw Trace.ParseError(file: name, line: lineNo, message: "cpu \"\(cols[2])\" must be a finite number ≥ 0 (cores)")
            }
            var m = 0.0
            if cols.count == 4 {
                guard let mm = Double(cols[3]), mm.isFinite, mm >= 0 else {
                    throw Trace.ParseError(file: name, line: lineNo, message: "memory \"\(cols[3])\" must be a finite number ≥ 0 (GiB)")
                }
                m = mm
            }
            let vm = cols[0]
            guard !vm.isEmpty else { throw Trace.ParseError(file: name, line: lineNo, message: "empty vm name") }
            if let i = index[vm] {
                guard t > vms[i].times[vms[i].times.count - 1] else {
                    throw Trace.ParseError(file: name, line: lineNo, message: "vm \(vm): timestamp \(cols[1]) is not after its previous row's")
                }
                vms[i].times.append(t)
                vms[i].cpu.append(c)
                vms[i].memory.append(m)
            } else {
                index[vm] = vms.count
                vms.append(VMSeries(id: vm, times: [t], cpu: [c], memory: [m]))
            }
            rows += 1
        }
        guard !vms.isEmpty else { throw Trace.ParseError(file: name, line: lineNo, message: "no VM rows") }
        return ClusterTrace(vms: vms)
    }
}

/// A SPECpower-style host power model: average watts at 0 %, 10 %, … 100 % CPU utilisation, linear in between.
public struct PowerModel: Sendable, Equatable {
    public var name: String
    public var watts: [Double]
    /// HP ProLiant ML110 G5 (Xeon 3075), SPECpower_ssj2008 published result, as tabulated in CloudSim's
    /// `PowerModelSpecPowerHpProLiantMl110G5Xeon3075` (Beloglazov & Buyya, CCPE 2012): 93.7 W idle, 135 W at 100 %.
    public static let specpowerML110G5 = PowerModel(name: "hp-ml110-g5", watts: [93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135])
    /// IBM x3550 M3 (Xeon X5675), SPECpower_ssj2008 result as in CloudSim's `PowerModelSpecPowerIbmX3550XeonX5675`:
    /// 58.4 W idle, 222 W at 100 % (a more energy-proportional server: consolidation saves less).
    public static let specpowerX3550M3 = PowerModel(name: "ibm-x3550-m3", watts: [58.4, 98, 109, 118, 128, 140, 153, 170, 189, 205, 222])

    public func watts(utilization u: Double) -> Double {
        let x = min(1, max(0, u)) * 10
        let i = min(9, Int(x))
        return watts[i] + (watts[i + 1] - watts[i]) * (x - Double(i))
    }
}

/// The simulated fleet's settings.
public struct ClusterOptions: Sendable {
    public var hosts: Int? = nil
    public var hostCores = 32.0
    public var hostMemoryGiB = 128.0
    public var stepMs: Int64 = 60_000
    public var hostBootMs: Int64 = 300_000
    public var hostShutdownMs: Int64 = 60_000
    public var vmBootMs: Int64 = 60_000
    /// After a host stops answering: fenced (IPMI power-off confirmed) this much later; only then may its VMs
    /// restart elsewhere (Masakari's `stonith_wait` is 30 s, Proxmox ≈ 2 min).
    public var fenceDelayMs: Int64 = 120_000
    public var repairMs: Int64 = 4 * 3_600_000
    /// CPU overhead a live migration puts on source and target, as a fraction of the VM's demand.
    public var migrationOverhead = 0.1
    /// While a host is at risk, Vigil's planner runs this often within a step (the engine's default tick, 15 s), and
    /// a migration that finishes within the step frees its slot for the next one, as in the daemon. Without it a 3 s
    /// migration held its slot for a whole 1-minute step, and a host packed with 90 small VMs could not be emptied
    /// in an hour at 2 migrations at a time. 0 = plan once per step.
    public var riskStepMs: Int64 = 15_000
    public var powerModel = PowerModel.specpowerML110G5
    /// Injected host failures, each preceded by `failureLeadMs` of degradation (rising error counts, exposed as a
    /// failure probability); 0 = none.
    public var failures = 0
    public var failureLeadMs: Int64 = 3_600_000
    /// Degradations that recover instead of failing (false alarms), per real failure.
    public var falseAlarmsPerFailure = 0.0
    /// The threshold baseline's trigger (current utilisation of a host).
    public var threshold = 0.8
    public var placement = PlacementConfig()
    public var seed: UInt64 = 1
    public var hours: Double? = nil

    public init() {}
}

/// The simulated VM cluster (the data plane): hosts with cores and memory and power states, VMs with their demand,
/// live migrations with a duration and a performance cost, host degradation, failure and fencing. Controllers
/// (`ClusterRun`) call `migrate`, `power`, `place`, `restart`; the cluster refuses what a real one would (a second
/// copy of a VM whose host is not fenced, a move onto a host that is off or lacks memory) and counts it.
public final class VMCluster {
    public struct Host {
        public var id: String
        public var cores: Double
        public var memoryGiB: Double
        public var power: PlacementHost.Power = .off
        public var powerDoneAt: Int64 = 0
        public var lastPowerChange: Int64? = nil
        public var state: HostInfo.State = .up
        public var degradeAt: Int64? = nil
        public var failAt: Int64? = nil
        public var failedAt: Int64? = nil
        public var fencedAt: Int64? = nil
        public var repairAt: Int64? = nil
        public var recovers = false
        public var draining = false
        public var failureProbability = 0.0
    }
    public struct VM {
        public var id: String
        public var host: Int?
        public var migratingTo: Int?
        public var migrationStartedAt: Int64 = 0
        public var migrationDoneAt: Int64 = 0
        public var lastMoved: Int64? = nil
        /// Lost with a failed host, waiting to restart elsewhere: the host it was on.
        public var lostFrom: Int?
        public var bootDoneAt: Int64 = 0
        public var cpu = 0.0
        public var memory = 0.0
        public var active = false
        public var everStarted = false
        public var antiAffinity: String? = nil
    }

    public private(set) var hosts: [Host]
    public private(set) var vms: [VM]
    public let trace: ClusterTrace
    public let options: ClusterOptions
    private var cursor: [Int]
    public private(set) var now: Int64

    // accumulated metrics
    public private(set) var steps = 0
    public private(set) var overloadHostMinutes = 0.0
    public private(set) var degradedVMMinutes = 0.0
    public private(set) var migrations = 0
    public private(set) var migrationsFailed = 0
    public private(set) var powerOns = 0
    public private(set) var powerOffs = 0
    public private(set) var energyWh = 0.0
    public private(set) var servedCoreMinutes = 0.0
    public private(set) var poweredCoreMinutes = 0.0
    public private(set) var hostsOnMinutes = 0.0
    public private(set) var vmActiveMinutes = 0.0
    public private(set) var vmDownMinutes = 0.0
    public private(set) var instancesLost = 0
    public private(set) var restarts = 0
    /// Refused starts of a VM whose previous host was not yet fenced (would run it twice).
    public private(set) var splitBrainRefused = 0
    public private(set) var refusedMoves = 0
    public private(set) var failuresHappened = 0
    public private(set) var failuresEvacuated = 0
    public private(set) var evacuationLeadMinutes: [Double] = []
    public private(set) var falseAlarms = 0
    /// Every event (ms, text) in order, for tests: "start vm h", "migrate vm a b", "fenced h", "restart vm h", …
    public private(set) var events: [(Int64, String)] = []
    public var keepEvents = false
    /// Every 10 steps: (ms, powered hosts, CPU demand in cores, powered cores), for plots.
    public private(set) var timeline: [(t: Int64, hostsOn: Int, demand: Double, cores: Double)] = []
    private var lastLeft: [Int64?]
    /// Migrations that completed between two `account()` calls without being seen in flight by one (sub-step
    /// migrations while a host is at risk): (VM, source host). Accounted as in flight for one step, so a migration
    /// always costs at least one degraded VM-step and its CPU overhead, as before sub-steps.
    private var unaccountedMigrations: [(vm: Int, from: Int)] = []
    /// When `account()` last ran: a migration that started after it and has ended was never seen in flight.
    private var lastAccountAt = Int64.min

    public init(trace: ClusterTrace, hosts n: Int, options: ClusterOptions) {
        self.trace = trace
        self.options = options
        hosts = (0..<n).map { Host(id: "h\($0)", cores: options.hostCores, memoryGiB: options.hostMemoryGiB) }
        vms = trace.vms.map { VM(id: $0.id) }
        cursor = .init(repeating: 0, count: trace.vms.count)
        now = trace.start
        lastLeft = .init(repeating: nil, count: n)
        // degradation schedule: seeded, the same for every controller
        var rng = SplitMix64(seed: options.seed ^ 0xFA11_0000)
        let start = trace.start + 6 * 3_600_000
        var end = trace.end - 2 * 3_600_000
        if let h = options.hours { end = min(end, trace.start + Int64(h * 3_600_000) - 3_600_000) }
        let falseCount = Int((Double(options.failures) * options.falseAlarmsPerFailure).rounded())
        if end > start + options.failureLeadMs, n > 0 {
            for k in 0..<(options.failures + falseCount) {
                let fail = start + options.failureLeadMs + Int64(rng.uniform() * Double(end - start - options.failureLeadMs))
                pendingDegradations.append((fail - options.failureLeadMs, fail, k >= options.failures, rng.next()))
            }
            pendingDegradations.sort { $0.0 < $1.0 }
        }
    }

    /// (degradation start, failure time, recovers, random pick of the host)
    private var pendingDegradations: [(Int64, Int64, Bool, UInt64)] = []

    func log(_ s: @autoclosure () -> String) { if keepEvents { events.append((now, s())) } }

    /// Demand of VM `i` at `t` (nil when it does not exist at `t`).
    func demand(_ i: Int, at t: Int64) -> (cpu: Double, memory: Double)? {
        let s = trace.vms[i]
        guard t >= s.start, t <= s.end else { return nil }
        var c = cursor[i]
        while c + 1 < s.times.count && s.times[c + 1] <= t { c += 1 }
        cursor[i] = c
        if c + 1 >= s.times.count { return (s.cpu[c], s.memory[c]) }
        let f = Double(t - s.times[c]) / Double(s.times[c + 1] - s.times[c])
        return (s.cpu[c] + (s.cpu[c + 1] - s.cpu[c]) * f, s.memory[c] + (s.memory[c + 1] - s.memory[c]) * f)
    }

    public func isRunning(_ v: Int) -> Bool { vms[v].active && vms[v].host != nil && vms[v].lostFrom == nil && vms[v].bootDoneAt <= now }

    /// Memory committed on `h` (VMs on it and VMs migrating to it).
    public func memoryCommitted(_ h: Int) -> Double {
        var m = 0.0
        for v in vms where v.active && (v.host == h || v.migratingTo == h) { m += v.memory }
        return m
    }

    public func cpuDemand(_ h: Int) -> Double {
        var c = 0.0
        for v in vms where v.active && v.host == h && v.lostFrom == nil { c += v.cpu }
        return c
    }

    // MARK: controller operations

    /// Starts a VM that is not running anywhere on `h` (first start). Refused when `h` is not on and up.
    @discardableResult public func place(_ v: Int, on h: Int) -> Bool {
        guard vms[v].host == nil, vms[v].lostFrom == nil, hosts[h].power == .on, hosts[h].state == .up else { refusedMoves += 1; return false }
        vms[v].host = h
        vms[v].everStarted = true
        vms[v].bootDoneAt = now
        log("start \(vms[v].id) \(hosts[h].id)")
        return true
    }

    /// Restarts a VM lost with a failed host on `h`: only once that host is fenced.
    @discardableResult public func restart(_ v: Int, on h: Int) -> Bool {
        guard let from = vms[v].lostFrom else { refusedMoves += 1; return false }
        guard let f = hosts[from].fencedAt, f <= now else { splitBrainRefused += 1; return false }
        guard hosts[h].power == .on, hosts[h].state == .up, h != from else { refusedMoves += 1; return false }
        vms[v].lostFrom = nil
        vms[v].host = h
        vms[v].bootDoneAt = now + options.vmBootMs
        restarts += 1
        log("restart \(vms[v].id) \(hosts[h].id)")
        return true
    }

    /// Live-migrates `v` to `h`; refused when `h` is not on and up, lacks memory, or `v` is not running.
    @discardableResult public func migrate(_ v: Int, to h: Int) -> Bool {
        guard isRunning(v), vms[v].migratingTo == nil, let f = vms[v].host, f != h, hosts[h].power == .on, hosts[h].state == .up,
              memoryCommitted(h) + vms[v].memory <= hosts[h].memoryGiB + 1e-9 else { refusedMoves += 1; return false }
        if let k = vms[v].antiAffinity, vms.indices.contains(where: { $0 != v && vms[$0].antiAffinity == k && (vms[$0].host == h || vms[$0].migratingTo == h) && vms[$0].active }) {
            refusedMoves += 1
            return false
        }
        let secs = options.placement.migrationSeconds(memoryGiB: vms[v].memory)
        vms[v].migratingTo = h
        vms[v].migrationStartedAt = now
        // Within the step when sub-steps are on (a slot frees when the migration ends); otherwise at least a step.
        vms[v].migrationDoneAt = now + (options.riskStepMs > 0 ? max(1_000, Int64(secs * 1000)) : max(options.stepMs, Int64(secs * 1000)))
        migrations += 1
        log("migrate \(vms[v].id) \(hosts[f].id) \(hosts[h].id)")
        return true
    }

    /// Powers a host on (it boots) or off (refused while VMs are on it or migrating to or from it).
    @discardableResult public func power(_ h: Int, on: Bool) -> Bool {
        if on {
            guard hosts[h].power == .off, hosts[h].state == .up else { return false }
            hosts[h].power = .booting
            hosts[h].powerDoneAt = now + options.hostBootMs
            powerOns += 1
        } else {
            guard hosts[h].power == .on, !vms.contains(where: { $0.active && ($0.host == h || $0.migratingTo == h) }) else { refusedMoves += 1; return false }
            hosts[h].power = .shuttingDown
            hosts[h].powerDoneAt = now + options.hostShutdownMs
            powerOffs += 1
        }
        hosts[h].draining = false
        hosts[h].lastPowerChange = now
        log("power \(on ? "on" : "off") \(hosts[h].id)")
        return true
    }

    public func setDraining(_ h: Int, _ d: Bool) { hosts[h].draining = d }

    /// Forgets when a host's power last changed (the initial fleet: no hysteresis on it).
    public func clearPowerChange(_ h: Int) { hosts[h].lastPowerChange = nil }

    /// Powers on the initial hosts at once (before the first step: no boot).
    public func initialPowerOn(_ hs: [Int]) {
        for h in hs {
            hosts[h].power = .on
            hosts[h].lastPowerChange = now
        }
    }

    // MARK: time

    /// Advances to `t`: completes boots, shutdowns and migrations, applies degradation and failures, updates each VM's
    /// demand and existence. Call `account()` after the controller acted.
    public func advance(to t: Int64) {
        now = t
        // degradations and failures
        while let d = pendingDegradations.first, d.0 <= t {
            pendingDegradations.removeFirst()
            let cands = hosts.indices.filter { hosts[$0].power == .on && hosts[$0].state == .up && hosts[$0].degradeAt == nil }
            guard !cands.isEmpty else { continue }
            let withVMs = cands.filter { h in vms.contains { $0.active && $0.host == h } }
            let pool = withVMs.isEmpty ? cands : withVMs
            let h = pool[Int(d.3 % UInt64(pool.count))]
            hosts[h].degradeAt = d.0
            hosts[h].failAt = d.1
            hosts[h].recovers = d.2
            hosts[h].state = .up
            log("degrade \(hosts[h].id)")
        }
        for h in hosts.indices {
            if let d = hosts[h].degradeAt, let f = hosts[h].failAt, hosts[h].failedAt == nil {
                // corrected-error counts rise towards failure; the model's probability follows them (20 min ramp, noisy)
                let x = Double(t - d) / 1_200_000
                var rng = SplitMix64(seed: options.seed &+ UInt64(bitPattern: t) &+ UInt64(h))
                hosts[h].failureProbability = min(0.99, max(0, 0.95 * min(1, x) + 0.05 * (rng.uniform() - 0.5)))
                if t >= f {
                    if hosts[h].recovers {
                        hosts[h].degradeAt = nil
                        hosts[h].failAt = nil
                        hosts[h].failureProbability = 0
                        falseAlarms += 1
                        log("recovered \(hosts[h].id)")
                    } else if hosts[h].power == .off {
                        // failed after it was emptied and powered off: nothing lost, an evacuated failure
                        hosts[h].degradeAt = nil
                        hosts[h].failAt = nil
                        hosts[h].failureProbability = 0
                        failuresHappened += 1
                        failuresEvacuated += 1
                        if let l = lastLeft[h] { evacuationLeadMinutes.append(Double(t - l) / 60_000) }
                        log("failed \(hosts[h].id) lost 0 (off)")
                    } else {
                        fail(h)
                    }
                }
            }
            if let fa = hosts[h].failedAt, hosts[h].fencedAt == nil, t >= fa + options.fenceDelayMs {
                hosts[h].fencedAt = t
                hosts[h].state = .down
                log("fenced \(hosts[h].id)")
            }
            if let r = hosts[h].repairAt, t >= r {
                hosts[h] = Host(id: hosts[h].id, cores: hosts[h].cores, memoryGiB: hosts[h].memoryGiB)
                hosts[h].lastPowerChange = t
                log("repaired \(hosts[h].id)")
            }
            switch hosts[h].power {
            case .booting where t >= hosts[h].powerDoneAt: hosts[h].power = .on
            case .shuttingDown where t >= hosts[h].powerDoneAt: hosts[h].power = .off
            default: break
            }
        }
        completeMigrations(at: t)
        // demand, arrivals and departures
        for v in vms.indices {
            if let d = demand(v, at: t) {
                vms[v].cpu = d.cpu
                vms[v].memory = d.memory
                vms[v].active = true
            } else if vms[v].active || (t > trace.vms[v].end) {
                if vms[v].active, let h = vms[v].host { lastLeft[h] = t }
                vms[v].active = false
                vms[v].host = nil
                vms[v].migratingTo = nil
                vms[v].lostFrom = nil
            }
        }
    }

    /// Moves the clock to `t` within a step (no demand, power or failure changes) and completes the migrations done
    /// by then: the planner's sub-steps while a host is at risk. A migration off a host that fails (not a false
    /// alarm) before the migration ends is not completed here; the failure, applied at the next step, loses it.
    public func advanceMigrations(to t: Int64) {
        precondition(t >= now, "time runs forward")
        now = t
        completeMigrations(at: t)
    }

    private func completeMigrations(at t: Int64) {
        for v in vms.indices {
            guard let to = vms[v].migratingTo, t >= vms[v].migrationDoneAt, let from = vms[v].host else { continue }
            if let f = hosts[from].failAt, !hosts[from].recovers, f <= vms[v].migrationDoneAt { continue }
            vms[v].host = to
            vms[v].migratingTo = nil
            vms[v].lastMoved = t
            lastLeft[from] = t
            if vms[v].migrationStartedAt > lastAccountAt { unaccountedMigrations.append((v, from)) }
            log("migrated \(vms[v].id) \(hosts[to].id)")
        }
    }

    /// Fails a host now, without degradation (tests, fault injection).
    public func failNow(_ h: Int) { fail(h) }

    private func fail(_ h: Int) {
        hosts[h].failedAt = now
        hosts[h].state = .unreachable
        hosts[h].power = .off
        hosts[h].repairAt = now + options.repairMs
        failuresHappened += 1
        var lost = 0
        for v in vms.indices where vms[v].active {
            if vms[v].migratingTo == h { vms[v].migratingTo = nil; migrationsFailed += 1 }  // aborted, stays on source
            if vms[v].host == h {
                if vms[v].migratingTo != nil { vms[v].migratingTo = nil; migrationsFailed += 1 }
                vms[v].lostFrom = h
                lost += 1
            }
        }
        instancesLost += lost
        if lost == 0 {
            failuresEvacuated += 1
            if let l = lastLeft[h] { evacuationLeadMinutes.append(Double(now - l) / 60_000) }
        }
        log("failed \(hosts[h].id) lost \(lost)")
    }

    /// Accounts one step of `stepMs` at the current state.
    public func account() {
        let dtMin = Double(options.stepMs) / 60_000
        steps += 1
        var demandOn = [Double](repeating: 0, count: hosts.count)
        var memOn = [Double](repeating: 0, count: hosts.count)
        for v in vms where v.active {
            vmActiveMinutes += dtMin
            guard let h = v.host, v.lostFrom == nil, v.bootDoneAt <= now else { vmDownMinutes += dtMin; continue }
            demandOn[h] += v.cpu
            memOn[h] += v.memory
            if let t = v.migratingTo {
                demandOn[h] += v.cpu * options.migrationOverhead
                demandOn[t] += v.cpu * options.migrationOverhead
                memOn[t] += v.memory
            }
        }
        // sub-step migrations that began and ended since the last account: charged as in flight for this step
        var chargedMigrating = Set<Int>()
        for (v, from) in unaccountedMigrations where vms[v].active && vms[v].lostFrom == nil {
            guard let h = vms[v].host else { continue }
            demandOn[from] += vms[v].cpu * options.migrationOverhead
            demandOn[h] += vms[v].cpu * options.migrationOverhead
            memOn[from] += vms[v].memory
            chargedMigrating.insert(v)
        }
        unaccountedMigrations.removeAll(keepingCapacity: true)
        lastAccountAt = now
        var on = 0, cores = 0.0
        for h in hosts.indices {
            let host = hosts[h]
            guard host.power != .off else { continue }
            on += 1
            cores += host.cores
            hostsOnMinutes += dtMin
            poweredCoreMinutes += host.cores * dtMin
            let u = host.power == .on ? min(1, demandOn[h] / host.cores) : 0
            servedCoreMinutes += min(demandOn[h], host.cores) * dtMin
            energyWh += options.powerModel.watts(utilization: u) * dtMin / 60
            if demandOn[h] > host.cores + 1e-9 || memOn[h] > host.memoryGiB + 1e-9 { overloadHostMinutes += dtMin }
        }
        if (steps - 1) % 10 == 0 { timeline.append((now, on, demandOn.reduce(0, +), cores)) }
        for (i, v) in vms.enumerated() where v.active && v.lostFrom == nil {
            guard let h = v.host else { continue }
            if v.migratingTo != nil || chargedMigrating.contains(i) || demandOn[h] > hosts[h].cores + 1e-9 || memOn[h] > hosts[h].memoryGiB + 1e-9 { degradedVMMinutes += dtMin }
        }
    }
}
