import Foundation
import Testing
import VigilCore
@testable import VigilEngine
import VigilSim

/// The engine against the simulated cluster (the real embedded driver), stepped in simulated time.
struct Harness {
    let engine: Engine
    let sim: SimCluster
    let audit: JSONLinesAudit
    let clock: SimulatedClock

    init(_ p: GroupPolicy, replicas: Int, hosts: Int = 8, options: EngineOptions = EngineOptions(), driver: ((SimCluster) -> any Driver)? = nil) async {
        sim = SimCluster(startMillis: 0, startupMs: p.startup.millis, hosts: hosts, vcpusPerHost: 16, seed: 1)
        await sim.addGroup("web", replicas: replicas)
        clock = SimulatedClock(startMillis: 0)
        audit = JSONLinesAudit()
        engine = Engine(policies: ["web": p], driver: driver?(sim) ?? sim, clock: clock, audit: audit, options: options)
    }

    /// Steps every 15 s over [from, to) with `load(t)` as the group's load; `each` runs before each step.
    func run(from: Int64, to: Int64, load: (Int64) -> Double, each: ((Int64) async -> Void)? = nil) async {
        var t = from
        while t < to {
            await sim.advance(to: t)
            clock.advance(to: t)
            await sim.setLoad("web", load(t))
            await each?(t)
            await engine.step(at: t)
            t += 15_000
        }
    }

    var spec: Int { get async { (try? await sim.inventory().groups.first?.desiredReplicas) ?? -1 } }
    func records(_ kind: ActionKind? = nil, _ result: DecisionResult? = nil) -> [AuditRecord] {
        audit.records().filter { (kind == nil || $0.kind == kind) && (result == nil || $0.result == result) }
    }
}

func hpaPolicy(target: Double = 0.5) -> GroupPolicy {
    var p = GroupPolicy.hpaDefaults(target: target, min: 1, max: 100)
    p.startup = .seconds(60)
    return p
}

struct EngineGateTests {
    /// load 2 on 2 replicas at target 0.5 → 4 at once; at 15 s the load doubles → 8, which each gate must hold.
    enum Gate: String, CaseIterable, Sendable { case cooldown, rateLimit = "rate_limit", bounds, maintenance, killSwitch = "kill_switch" }

    @Test(arguments: Gate.allCases)
    func gateBlocksAndIsAudited(_ gate: Gate) async throws {
        var p = hpaPolicy()
        switch gate {
        case .cooldown: p.scaleOutCooldown = .seconds(600)
        case .rateLimit: p.maxActions = ActionBudget(count: 1, window: .seconds(600))
        case .bounds: p.maxReplicas = 4
        case .maintenance: p.maintenance = [MaintenanceWindow(start: "00:00", duration: .seconds(3600))]
        case .killSwitch: break
        }
        let h = await Harness(p, replicas: 2)
        if gate == .killSwitch { h.engine.killSwitch = true }
        await h.run(from: 0, to: 120_000) { $0 == 0 ? 2 : 4 }
        let blocked = h.records(nil, .blocked)
        #expect(blocked.contains { $0.gate == gate.rawValue }, "\(h.audit.records())")
        let spec = await h.spec
        switch gate {
        case .maintenance, .killSwitch:
            #expect(spec == 2)
            #expect(h.records(nil, .executed).isEmpty)
        case .bounds:
            #expect(spec == 4)  // 2 → 4 was allowed; 8 is outside [1, 4]
            #expect(blocked.first { $0.gate == "bounds" }?.to == 8)
        case .cooldown, .rateLimit:
            #expect(spec == 4)
            #expect(h.records(.scaleOut, .executed).count == 1)
            #expect(blocked.first?.reason.contains("held") == true)
        }
        // once the hold is past, the action goes through
        if gate == .cooldown || gate == .rateLimit {
            await h.run(from: 120_000, to: 660_000) { _ in 4 }
            #expect(await h.spec == 8)
        }
    }

    @Test func stabilizationHoldsScaleIn() async {
        let h = await Harness(hpaPolicy(), replicas: 8)
        // steady at 4 (utilisation 0.5 = target) until 60 s, then load 1 → recommendation 2
        await h.run(from: 0, to: 600_000) { $0 < 60_000 ? 4 : 1 }
        let held = h.records(.scaleIn, .blocked).filter { $0.gate == "stabilization" }
        #expect(!held.isEmpty)
        let done = h.records(.scaleIn, .executed)
        #expect(done.count == 1)
        // the last recommendation of 8 was at t = 45 s: scale-in only once it left the 300 s window
        #expect(done.first?.t == 345_000)
        #expect(done.first?.to == 2)
    }

    /// A group at its minimum with no load is not held by the stabilization window (nothing to scale in to), and
    /// one above its minimum is held only down to the minimum: the audit says the bound, not the window, stops it.
    @Test func stabilizationNeverHoldsBelowTheMinimum() async {
        var p = hpaPolicy()
        p.minReplicas = 2
        let atMin = await Harness(p, replicas: 2)
        await atMin.run(from: 0, to: 600_000) { _ in 0 }
        #expect(atMin.records(nil, .blocked).allSatisfy { $0.gate != "stabilization" }, "\(atMin.audit.records())")
        #expect(atMin.records(nil, .executed).isEmpty)
        let above = await Harness(p, replicas: 6)
        await above.run(from: 0, to: 600_000) { $0 < 60_000 ? 1.5 : 0 }
        let held = above.records(.scaleIn, .blocked).filter { $0.gate == "stabilization" }
        #expect(!held.isEmpty && held.allSatisfy { ($0.to ?? 0) >= 2 }, "\(above.audit.records())")
        #expect(above.records(.scaleIn, .executed).last?.to == 2)
        #expect(await above.spec == 2)
    }

    @Test func dryRunRecordsAndExecutesNothing() async {
        var p = hpaPolicy()
        p.mode = .dryRun
        let h = await Harness(p, replicas: 2)
        await h.run(from: 0, to: 60_000) { _ in 4 }
        #expect(await h.spec == 2)
        let dry = h.records(.scaleOut, .dryRun)
        #expect(dry.count == 1)  // an unchanged decision is recorded once
        #expect(dry.first?.to == 6)  // ceil(2 × 2.0/0.5) = 8, limited to max(2×2, 2+4) = 6 in one period
    }

    @Test func approveModeQueuesUntilApproved() async {
        var p = hpaPolicy()
        p.mode = .approve
        let h = await Harness(p, replicas: 2)
        await h.run(from: 0, to: 60_000) { _ in 4 }
        #expect(await h.spec == 2)
        #expect(h.engine.pendingApprovals.count == 1)
        let id = h.engine.pendingApprovals[0].id
        #expect(h.records(.scaleOut, .queued).count == 1)
        #expect(!h.engine.approve("no-such-action"))
        #expect(h.engine.approve(id))
        #expect(!h.engine.approve(id))  // already approved
        await h.run(from: 60_000, to: 75_000) { _ in 4 }
        #expect(await h.spec == 6)
        #expect(h.records(.scaleOut, .executed).first?.action == id)
        #expect(h.engine.isDone(id))
        #expect(h.engine.pendingApprovals.isEmpty)
    }

    @Test func newerDecisionSupersedesQueuedOne() async {
        var p = hpaPolicy()
        p.mode = .approve
        let h = await Harness(p, replicas: 10)
        await h.run(from: 0, to: 30_000) { _ in 6 }  // ceil(10 × 1.2) = 12
        await h.run(from: 30_000, to: 60_000) { _ in 8 }  // ceil(10 × 1.6) = 16
        #expect(h.records(.scaleOut, .superseded).count == 1)
        #expect(h.records(.scaleOut, .queued).map(\.to) == [12, 16])
        #expect(h.engine.pendingApprovals.count == 1)
        #expect(h.engine.pendingApprovals[0].to == 16)
        #expect(await h.spec == 10)
    }

    @Test func driverActionIdsAreIdempotent() async throws {
        let sim = SimCluster(startMillis: 0, startupMs: 60_000, seed: 1)
        await sim.addGroup("web", replicas: 2)
        try await sim.scale(group: "web", to: 5, actionID: "a")
        try await sim.scale(group: "web", to: 3, actionID: "b")
        try await sim.scale(group: "web", to: 5, actionID: "a")  // a retry of a done action: no-op
        #expect(try await sim.inventory().groups[0].desiredReplicas == 3)
        #expect(await sim.instances(of: "web").count == 3)
    }

    @Test func failingDriverOpensTheCircuitBreakerAndHarmsNothing() async {
        let h = await Harness(hpaPolicy(), replicas: 2, driver: { ScaleRefusingDriver(sim: $0) })
        await h.run(from: 0, to: 90_000) { _ in 4 }
        let failed = h.records(.scaleOut, .failed)
        #expect(failed.map(\.t) == [0, 15_000, 30_000])  // three failures open the breaker for 60 s
        #expect(failed[0].error?.contains("unavailable") == true)
        #expect(h.records(.scaleOut, .blocked).filter { $0.gate == "circuit_breaker" }.map(\.t) == [45_000, 60_000, 75_000])
        // observe failing: the step reports it, nothing else happens
        await h.sim.setFailing(true)
        let r = await h.engine.step(at: 200_000)
        #expect(r.observeError == .unavailable("sim: injected driver failure"))
        #expect(r.executed == 0)
    }

    @Test func hangingDriverTimesOut() async {
        var o = EngineOptions()
        o.driverTimeoutMs = 50
        let sink = JSONLinesAudit()
        let e = Engine(policies: ["web": hpaPolicy()], driver: HangingDriver(), clock: WallClock(), audit: sink, options: o)
        let r = await e.step(at: 0)
        #expect(r.observeError == .timeout(operation: "observe", millis: 50))
    }
}

/// A fake (named so): the simulator, except that every scale call fails as an unreachable backend would.
struct ScaleRefusingDriver: Driver {
    let sim: SimCluster
    var name: String { "scale-refusing" }
    func inventory() async throws(DriverError) -> Inventory { try await sim.inventory() }
    func observe() async throws(DriverError) -> Observation { try await sim.observe() }
    func scale(group: String, to replicas: Int, actionID: String) async throws(DriverError) { throw .unavailable("backend down") }
    func restart(instance: String, actionID: String) async throws(DriverError) { try await sim.restart(instance: instance, actionID: actionID) }
    func stop(instance: String, actionID: String) async throws(DriverError) { try await sim.stop(instance: instance, actionID: actionID) }
    func start(instance: String, on host: String?, actionID: String) async throws(DriverError) {
        try await sim.start(instance: instance, on: host, actionID: actionID)
    }
}

/// A fake (named so): a backend whose calls never return.
struct HangingDriver: Driver {
    var name: String { "hanging" }
    func hang() async throws(DriverError) -> Never {
        while true {
            do { try await Task.sleep(nanoseconds: 10_000_000_000) } catch { throw .unavailable("cancelled") }
        }
    }
    func inventory() async throws(DriverError) -> Inventory { try await hang() }
    func observe() async throws(DriverError) -> Observation { try await hang() }
    func scale(group: String, to replicas: Int, actionID: String) async throws(DriverError) { try await hang() }
    func restart(instance: String, actionID: String) async throws(DriverError) { try await hang() }
    func stop(instance: String, actionID: String) async throws(DriverError) { try await hang() }
    func start(instance: String, on host: String?, actionID: String) async throws(DriverError) { try await hang() }
}
