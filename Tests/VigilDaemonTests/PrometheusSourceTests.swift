import Foundation
import VigilTestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import VigilCore
import VigilDaemon
import VigilEngine
import VigilSim
import VigilStore

/// The policies' queries give the same decisions whether they run against the local store (VigilQuery over the
/// real TSDB) or a real Prometheus holding the same samples (`--query-url`).
@Suite(.serialized) struct PrometheusSourceTests {

    /// 25 minutes of 15 s samples ending 2 minutes ago: demand and latency that rise and fall (quarter values, so
    /// every sum and mean is exact in binary floating point on both sides).
    static func samples(end: Int64) -> [SeriesSamples] {
        let start = end - 25 * 60_000
        var demand = SeriesSamples(labels: Labels([("__name__", "app_demand"), ("group", "svc")]))
        var latency = SeriesSamples(labels: Labels([("__name__", "app_latency_seconds"), ("group", "web")]))
        var t = start
        var i = 0
        while t <= end {
            let phase = Double((i / 8) % 6)  // steps of 2 minutes
            demand.append(t, 1 + phase * 0.75 + Double(i % 4) * 0.25)
            latency.append(t, 0.125 + phase * 0.0625)
            t += 15_000
            i += 1
        }
        return [demand, latency]
    }

    static var policies: [String: GroupPolicy] {
        var svc = GroupPolicy.hpaDefaults(target: 0.5, min: 1, max: 20)
        svc.loadQuery = "sum(avg_over_time(app_demand{group=\"svc\"}[1m]))"
        var web = GroupPolicy.hpaDefaults(target: 0.5, min: 1, max: 20)
        web.objective = .slo(series: "max(app_latency_seconds{group=\"web\"})", max: 0.2)
        return ["svc": svc, "web": web]
    }

    /// The engine over a fresh simulated cluster, its queries answered by `source`, stepped every 15 s (7 s after
    /// each sample, so no range window's edge falls on a sample); returns the audit records.
    static func decisions(source: any MetricSource, from: Int64, to: Int64, dir: URL, name: String) async throws
        -> (records: [AuditRecord], queryErrors: Int) {
        let cluster = SimCluster(startMillis: from, startupMs: 30_000, hosts: 8, seed: 1)
        await cluster.addGroup("svc", replicas: 2)
        await cluster.addGroup("web", replicas: 2)
        let clock = SimulatedClock(startMillis: from)
        let audit = try SQLiteAudit(path: dir.appendingPathComponent("\(name).db").path)
        defer { audit.close() }
        let runner = try EngineRunner(policies: policies, driver: cluster, source: source, clock: clock, audit: audit,
                                      logger: quietLogger)
        var t = from
        while t <= to {
            clock.advance(to: t)
            await cluster.advance(to: t)
            await runner.step(at: t)
            t += 15_000
        }
        let errors = await runner.lastStateSeries.first { $0.labels.metricName == "vigil_daemon_query_errors_total" }?.values.last ?? -1
        return (try audit.query(AuditQuery()).reversed().map(\.record), Int(errors))
    }

    @Test(.enabled(if: prometheusAvailable,
                   "needs \(prometheusPath) (Debian's prometheus package)"),
          .timeLimit(.minutes(1)))
    func remotePrometheusMakesTheSameDecisionsAsTheLocalStore() async throws {
        let dir = try tempDir("prom")
        defer { try? FileManager.default.removeItem(at: dir) }
        let end = (WallClock().nowMillis() / 15_000) * 15_000 - 120_000
        let data = Self.samples(end: end)

        let prom = try await PrometheusTestServer.start(dir: dir)
        defer { prom.stop() }
        try await prom.remoteWrite(data)

        var o = TSDBOptions()
        o.retention = 0
        o.maintenanceInterval = nil
        let db = try TSDB(directory: dir.appendingPathComponent("tsdb").path, options: o)
        defer { try? db.close() }
        _ = try await db.append(data)

        let from = end - 20 * 60_000 + 7_000, to = end + 7_000
        let local = try await Self.decisions(source: LocalMetricSource(reader: db), from: from, to: to, dir: dir, name: "local")
        let remote = try await Self.decisions(source: try RemoteMetricSource(url: prom.base), from: from, to: to, dir: dir, name: "remote")
        #expect(local.queryErrors == 0 && remote.queryErrors == 0)
        #expect(local.records.filter { $0.result == .executed }.count >= 2, "\(local.records.map(\.reason))")
        #expect(Set(local.records.map(\.group)) == ["svc", "web"])
        #expect(local.records.count == remote.records.count)
        for (a, b) in zip(local.records, remote.records) { #expect(a == b) }
    }

    /// A source that cannot answer leaves the driver's observation in place and counts the failure.
    @Test func anUnreachableSourceFallsBackToTheDriversObservation() async throws {
        let dir = try tempDir("unreachable")
        defer { try? FileManager.default.removeItem(at: dir) }
        let t = RunnerTests.t0
        let source = try RemoteMetricSource(url: "http://127.0.0.1:\(freePort())", timeoutSeconds: 2)
        let r = try await Self.decisions(source: source, from: t, to: t, dir: dir, name: "x")
        #expect(r.queryErrors == 2)
        #expect(throws: (any Error).self) { try RemoteMetricSource(url: "ftp://x") }
    }
}
