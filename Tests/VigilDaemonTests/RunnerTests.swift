import Foundation
import Testing
import VigilCore
import VigilDaemon
import VigilEngine
import VigilSim

/// The runner with the real SQLite audit (files in a temp dir), the simulated cluster as driver and simulated time.
@Suite struct RunnerTests {
    static let t0: Int64 = 1_764_806_400_000  // 2025-12-04T00:00:00Z, a multiple of 15 s

    static func cluster(_ groups: [String] = ["svc"], load: Double = 3) async -> SimCluster {
        let c = SimCluster(startMillis: t0, startupMs: 30_000, hosts: 4, seed: 1)
        for g in groups {
            await c.addGroup(g, replicas: 1)
            await c.setLoad(g, load)
        }
        return c
    }

    /// The audit is a file that outlives the process: a second engine over it knows what was executed, and the
    /// same decision (same deterministic action id) is recorded as a duplicate instead of being executed again.
    @Test func auditSurvivesRestartAndAnExecutedActionIsNotRepeated() async throws {
        let dir = try tempDir("restart")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("audit.db").path
        do {
            let cluster = await Self.cluster()
            let audit = try SQLiteAudit(path: path)
            let runner = try EngineRunner(policies: ["svc": hpaPolicy()], driver: cluster, clock: SimulatedClock(startMillis: Self.t0),
                                          audit: audit, logger: quietLogger)
            let r = await runner.step(at: Self.t0)
            #expect(r.executed == 1)
            #expect(await cluster.capacity("svc").provisioned == 5)  // load 3 at target 0.5 wants 6; HPA adds at most 4 per period
            audit.close()
        }
        let audit = try SQLiteAudit(path: path)
        defer { audit.close() }
        let before = try audit.query(AuditQuery())
        try #require(before.count == 1)
        #expect(before[0].record.result == .executed && before[0].record.action == "svc:scale_out:\(Self.t0)")
        #expect(before[0].record.to == 5 && before[0].record.numbers["current"] == 3)
        #expect(audit.counts["scale_out/executed"] == 1)
        #expect(try audit.executedActionIDs() == ["svc:scale_out:\(Self.t0)"])

        // a fresh driver in the first one's starting state: the engine decides the same action at the same time
        let cluster = await Self.cluster()
        let runner = try EngineRunner(policies: ["svc": hpaPolicy()], driver: cluster, clock: SimulatedClock(startMillis: Self.t0),
                                      audit: audit, logger: quietLogger)
        let r = await runner.step(at: Self.t0)
        #expect(r.executed == 0)
        #expect(await cluster.capacity("svc").provisioned == 1)
        #expect(await cluster.counters.scaleActions == 0)
        let after = try audit.query(AuditQuery())
        #expect(after.count == 2)
        #expect(after[0].record.result == .duplicate && after[0].record.action == before[0].record.action)
        #expect(after[0].seq > before[0].seq)

        // the queries the API offers
        var q = AuditQuery()
        q.result = .executed
        #expect(try audit.query(q).map(\.seq) == [before[0].seq])
        q = AuditQuery()
        q.sinceSeq = before[0].seq
        #expect(try audit.query(q).map(\.record.result) == [.duplicate])
        q = AuditQuery()
        q.group = "other"
        #expect(try audit.query(q).isEmpty)
        q = AuditQuery()
        q.limit = 1
        #expect(try audit.query(q).count == 1)
        q = AuditQuery()
        q.sinceMillis = Self.t0 + 1
        #expect(try audit.query(q).isEmpty)
        #expect(audit.json(after[0]).hasPrefix("{\"seq\":\(after[0].seq),\"action\":\"svc:scale_out:"))
    }

    /// Stopping the loop lets the step finish and audits what was still waiting for approval.
    @Test func stopAuditsAbandonedActions() async throws {
        let dir = try tempDir("stop")
        defer { try? FileManager.default.removeItem(at: dir) }
        let audit = try SQLiteAudit(path: dir.appendingPathComponent("audit.db").path)
        defer { audit.close() }
        let clock = SimulatedClock(startMillis: Self.t0)
        let runner = try EngineRunner(policies: ["svc": hpaPolicy(mode: .approve)], driver: await Self.cluster(), clock: clock,
                                      audit: audit, logger: quietLogger)
        let task = Task { try await runner.run() }
        await runner.waitForSteps(1)
        #expect(await runner.pending().map(\.id) == ["svc:scale_out:\(Self.t0)"])
        task.cancel()
        _ = await task.result
        let recs = try audit.query(AuditQuery())
        #expect(recs.map(\.record.result) == [.deferred, .queued])
        #expect(recs[0].record.gate == "shutdown" && recs[0].record.action == "svc:scale_out:\(Self.t0)")
    }

    /// A reload keeps the running policies when a query does not parse, and applies good ones (the state series
    /// show the new bounds at the next step).
    @Test func reloadAppliesGoodPoliciesAndRefusesBadQueries() async throws {
        let dir = try tempDir("reload")
        defer { try? FileManager.default.removeItem(at: dir) }
        let audit = try SQLiteAudit(path: dir.appendingPathComponent("audit.db").path)
        defer { audit.close() }
        let runner = try EngineRunner(policies: ["svc": hpaPolicy(max: 10)], driver: await Self.cluster(load: 0.5),
                                      clock: SimulatedClock(startMillis: Self.t0), audit: audit, logger: quietLogger)
        await runner.step(at: Self.t0)
        func maxReplicas() async -> Double? {
            await runner.lastStateSeries.first { $0.labels.metricName == "vigil_group_max_replicas" }?.values.last
        }
        #expect(await maxReplicas() == 10)
        var bad = hpaPolicy(max: 4)
        bad.loadQuery = "sum(rate(x[5m]"
        await #expect(throws: (any Error).self) { try await runner.reload(policies: ["svc": bad]) }
        #expect(await runner.policies["svc"]?.maxReplicas == 10)
        try await runner.reload(policies: ["svc": hpaPolicy(max: 4)])
        await runner.step(at: Self.t0 + 15_000)
        #expect(await maxReplicas() == 4)
        #expect(await runner.metricsText().contains("vigil_group_max_replicas{group=\"svc\"} 4\n"))
    }
}
