import Foundation
import Hummingbird
import Testing
import VigilCore
import VigilDaemon
import VigilEngine
import VigilSim

/// The actions API over real HTTP on 127.0.0.1, against a runner with a real SQLite audit; the engine is stepped
/// by hand in simulated time.
@Suite struct ActionsAPITests {
    @Test func approveExecutesAtTheNextStepAndRejectRecordsRejected() async throws {
        let dir = try tempDir("api")
        defer { try? FileManager.default.removeItem(at: dir) }
        let t0 = RunnerTests.t0
        let audit = try SQLiteAudit(path: dir.appendingPathComponent("audit.db").path)
        defer { audit.close() }
        let cluster = await RunnerTests.cluster(["svc", "web"])
        let runner = try EngineRunner(policies: ["svc": hpaPolicy(mode: .approve), "web": hpaPolicy(mode: .approve)],
                                      driver: cluster, clock: SimulatedClock(startMillis: t0), audit: audit, logger: quietLogger)
        let http = try await TestListener.start(router: DaemonHTTP.router(runner: runner))
        defer { Task { await http.stop() } }
        let base = http.base + "/api/v1/actions"

        await runner.step(at: t0)
        let (s1, pendingBody) = try await request("GET", base + "/pending")
        #expect(s1 == 200)
        let pending = try jsonObject(pendingBody)["data"] as? [[String: Any]] ?? []
        #expect(pending.map { $0["id"] as? String } == ["svc:scale_out:\(t0)", "web:scale_out:\(t0)"])
        #expect(pending.first?["to"] as? Int == 5 && pending.first?["kind"] as? String == "scale_out")
        let svc = "svc:scale_out:\(t0)", web = "web:scale_out:\(t0)"

        let (s404, b404) = try await request("POST", base + "/svc:scale_out:1/approve")
        #expect(s404 == 404)
        #expect(try jsonObject(b404)["errorType"] as? String == "not_found")
        let (s2, b2) = try await request("POST", base + "/\(svc)/approve")
        #expect(s2 == 200)
        let d2 = try jsonObject(b2)["data"] as? [String: Any]
        #expect(d2?["id"] as? String == svc && d2?["state"] as? String == "approved")
        let (s409, b409) = try await request("POST", base + "/\(svc)/approve")
        #expect(s409 == 409)
        #expect(try jsonObject(b409)["errorType"] as? String == "conflict")
        let (s3, b3) = try await request("POST", base + "/\(web)/reject")
        #expect(s3 == 200)
        #expect((try jsonObject(b3)["data"] as? [String: Any])?["state"] as? String == "rejected")
        let (s4, _) = try await request("POST", base + "/\(web)/reject")
        #expect(s4 == 409)
        #expect(await cluster.capacity("svc").provisioned == 1)  // approval alone executes nothing

        await runner.step(at: t0 + 15_000)
        #expect(await cluster.capacity("svc").provisioned == 5)
        #expect(await cluster.capacity("web").provisioned == 1)
        // the rejected decision is not put back in the queue while it stays the same
        #expect(await runner.pending().isEmpty)
        let (s5, execBody) = try await request("GET", base + "?result=executed")
        #expect(s5 == 200)
        let executed = try jsonObject(execBody)["data"] as? [[String: Any]] ?? []
        #expect(executed.count == 1 && executed.first?["action"] as? String == svc && executed.first?["seq"] is Int)
        let (_, rejBody) = try await request("GET", base + "?group=web&result=rejected")
        let rejected = try jsonObject(rejBody)["data"] as? [[String: Any]] ?? []
        #expect(rejected.count == 1 && rejected.first?["action"] as? String == web)
        let (_, allBody) = try await request("GET", base + "?limit=3")
        let all = try jsonObject(allBody)["data"] as? [[String: Any]] ?? []
        let seqs = all.compactMap { $0["seq"] as? Int }
        #expect(seqs.count == 3 && seqs == seqs.sorted(by: >))
        let (_, newer) = try await request("GET", base + "?since_seq=\(seqs[0])")
        #expect((try jsonObject(newer)["data"] as? [Any])?.isEmpty == true)
        let (_, approvedBody) = try await request("GET", base + "?result=approved&since=\(Double(t0) / 1000)")
        #expect((try jsonObject(approvedBody)["data"] as? [[String: Any]])?.first?["action"] as? String == svc)

        for bad in ["?limit=0", "?limit=x", "?result=bogus", "?since=yesterday"] {
            let (s, b) = try await request("GET", base + bad)
            #expect(s == 400, "\(bad): \(b)")
            #expect(try jsonObject(b)["errorType"] as? String == "bad_data")
        }
    }

    /// `vigil serve` without `--with-daemon` mounts the routes with no engine: 404 saying what to start.
    @Test func withoutAnEngineEveryRouteIsA404() async throws {
        let router = Router<BasicRequestContext>()
        addActionRoutes(to: router, runner: nil)
        let http = try await TestListener.start(router: router)
        defer { Task { await http.stop() } }
        for (m, p) in [("GET", "/api/v1/actions"), ("GET", "/api/v1/actions/pending"), ("POST", "/api/v1/actions/a:b:1/approve"),
                       ("POST", "/api/v1/actions/a:b:1/reject")] {
            let (s, b) = try await request(m, http.base + p)
            #expect(s == 404)
            let o = try jsonObject(b)
            #expect(o["status"] as? String == "error" && o["errorType"] as? String == "not_found")
            #expect((o["error"] as? String)?.contains("start `vigil daemon` or `vigil serve --with-daemon`") == true)
        }
    }
}
