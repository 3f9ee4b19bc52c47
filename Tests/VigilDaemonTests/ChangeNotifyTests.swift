import Foundation
import Testing
import VigilCore
import VigilDaemon
import VigilEngine
import VigilSim

/// The real `SimCluster` with a change signal added (test wrapper: the sim has no change notification of its own):
/// `crash(_:)` crashes an instance and tells the runner, as a process driver does when a child exits.
final class NotifyingSim: ChangeNotifyingDriver, @unchecked Sendable {
    let sim: SimCluster
    let changes: AsyncStream<Void>
    let cont: AsyncStream<Void>.Continuation
    var name: String { "notifying-sim" }

    init(_ sim: SimCluster) {
        self.sim = sim
        (changes, cont) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func crash(_ id: String) async {
        await sim.crash(instance: id)
        cont.yield()
    }

    func nextChange() async {
        for await _ in changes { return }
    }

    func inventory() async throws(DriverError) -> Inventory { try await sim.inventory() }
    /// The OS thread the last `observe` call began on (the engine's step runs on the daemon's engine thread).
    nonisolated(unsafe) var observeThread: String?
    func observe() async throws(DriverError) -> Observation {
        observeThread = currentThreadName()
        return try await sim.observe()
    }
    func scale(group: String, to replicas: Int, actionID: String) async throws(DriverError) {
        try await sim.scale(group: group, to: replicas, actionID: actionID)
    }
    func restart(instance: String, actionID: String) async throws(DriverError) { try await sim.restart(instance: instance, actionID: actionID) }
    func stop(instance: String, actionID: String) async throws(DriverError) { try await sim.stop(instance: instance, actionID: actionID) }
    func start(instance: String, on host: String?, actionID: String) async throws(DriverError) {
        try await sim.start(instance: instance, on: host, actionID: actionID)
    }
}

/// `Thread.current` from a synchronous helper (unavailable in async code).
func currentThreadName() -> String? { Thread.current.name }

@Suite struct ChangeNotifyTests {
    /// The clock never moves, so only the driver's signal can make the runner step again: the crashed instance is
    /// restarted by that step.
    @Test(.timeLimit(.minutes(1))) func aDriverChangeStepsAtOnce() async throws {
        let dir = try tempDir("notify")
        defer { try? FileManager.default.removeItem(at: dir) }
        let t0 = RunnerTests.t0
        let sim = SimCluster(startMillis: t0, startupMs: 30_000, hosts: 4, seed: 1)
        await sim.addGroup("svc", replicas: 2)
        await sim.setLoad("svc", 0.8)
        let driver = NotifyingSim(sim)
        let audit = try SQLiteAudit(path: dir.appendingPathComponent("audit.db").path)
        defer { audit.close() }
        var p = hpaPolicy()
        p.interval = .seconds(3600)
        let runner = try EngineRunner(policies: ["svc": p], driver: driver, clock: SimulatedClock(startMillis: t0), audit: audit,
                                      logger: quietLogger)
        let task = Task { try await runner.run() }
        defer { task.cancel() }
        await runner.waitForSteps(1)
        await driver.crash("svc-0")
        await runner.waitForSteps(2)
        var q = AuditQuery()
        q.result = .executed
        let executed = try audit.query(q).map(\.record)
        #expect(executed.contains { $0.kind == .restart && $0.instance == "svc-0" }, "\(executed)")
        #expect(await sim.counters.restarts == 1)
        #expect(driver.observeThread == "vigil.engine", "the step ran off the engine thread")
    }
}
