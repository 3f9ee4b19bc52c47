import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import VigilDaemon
import VigilEngine
import VigilTestSupport

/// The real `vigil` binary: `vigil daemon` (SIGHUP reloads the policies, SIGTERM exits 0 after the step in flight)
/// and `vigil serve --with-daemon` (store → engine → audit → state series, end to end). Bounded: every wait polls
/// for at most a few seconds.
@Suite(.serialized) struct ProcessTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let trace = root.appendingPathComponent("Datasets/sim_nasa_http_1995_07_02_7d.csv").path

    static func config(maxReplicas: Int, extraPolicy: String = "", daemon: String = "") -> String {
        """
        policies:
          svc:
            strategy: hpa
            objective: {utilization: 0.5}
            min_replicas: 1
            max_replicas: \(maxReplicas)
            interval: 1s
        \(extraPolicy)
        driver:
          kind: sim
          sim:
            trace: \(trace)
            peak_instances: 20
            speed: 600
            startup: 2s
            initial_replicas: 1
            noise: 0
        \(daemon)
        """
    }

    final class Proc: @unchecked Sendable {
        let process = Process()
        let stderr: URL
        init(_ args: [String], dir: URL) throws {
            let exe = try #require(vigilExecutable(), "vigil executable not found; run swift build first")
            process.executableURL = URL(fileURLWithPath: exe)
            process.arguments = args
            stderr = dir.appendingPathComponent("stderr.log")
            FileManager.default.createFile(atPath: stderr.path, contents: nil)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = try FileHandle(forWritingTo: stderr)
            try process.run()
        }
        var log: String { (try? String(contentsOf: stderr, encoding: .utf8)) ?? "" }
        func kill(_ sig: Int32) { Foundation.kill(process.processIdentifier, sig) }
        func stop() {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
    }

    /// Polls `body` every 100 ms for at most `seconds`; true once it returned true.
    static func eventually(_ seconds: Double, _ body: () async -> Bool) async -> Bool {
        for _ in 0..<Int(seconds * 10) {
            if await body() { return true }
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        return false
    }

    static func get(_ url: String) async -> (Int, String)? { try? await request("GET", url) }

    @Test func daemonReloadsOnSIGHUPAndExitsCleanlyOnSIGTERM() async throws {
        let dir = try tempDir("proc")
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = freePort()
        let cfg = dir.appendingPathComponent("vigil.yml")
        try Self.config(maxReplicas: 10).write(to: cfg, atomically: true, encoding: .utf8)
        let audit = dir.appendingPathComponent("state/audit.db").path
        let p = try Proc(["daemon", "--config", cfg.path, "--listen", "127.0.0.1:\(port)", "--audit", audit, "--log-format", "json"], dir: dir)
        defer { p.stop() }
        let base = "http://127.0.0.1:\(port)"
        let ready = await Self.eventually(15) { await Self.get(base + "/-/ready")?.0 == 200 }
        try #require(ready, "vigil daemon did not become ready: \(p.log)")
        #expect(await Self.get(base + "/-/healthy")?.0 == 200)
        let m1 = await Self.get(base + "/metrics")?.1 ?? ""
        #expect(m1.contains("vigil_group_max_replicas{group=\"svc\"} 10\n"), "\(m1)")
        #expect(m1.contains("vigil_engine_steps_total "))
        #expect(m1.contains("vigil_instance_up{group=\"svc\",host=\"host"))

        try Self.config(maxReplicas: 3).write(to: cfg, atomically: true, encoding: .utf8)
        p.kill(SIGHUP)
        let reloaded = await Self.eventually(30) {
            (await Self.get(base + "/metrics")?.1 ?? "").contains("vigil_group_max_replicas{group=\"svc\"} 3\n")
        }
        #expect(reloaded, "SIGHUP did not reload the policies: \(p.log)")
        // a broken file keeps the running policies and the process
        try "policies: {svc: {max_replicas: zero}}\n".write(to: cfg, atomically: true, encoding: .utf8)
        p.kill(SIGHUP)
        let logged = await Self.eventually(30) { p.log.contains("policy reload failed") }
        #expect(logged)
        #expect(await Self.get(base + "/-/healthy")?.0 == 200)
        let actions = await Self.get(base + "/api/v1/actions")
        #expect(actions?.0 == 200)

        p.kill(SIGTERM)
        let exited = await Self.eventually(15) { !p.process.isRunning }
        try #require(exited, "vigil daemon did not exit on SIGTERM")
        #expect(p.process.terminationReason == .exit && p.process.terminationStatus == 0, "\(p.log)")
        // every log line is one JSON object
        let lines = p.log.split(separator: "\n")
        #expect(!lines.isEmpty)
        for l in lines { #expect((try? JSONSerialization.jsonObject(with: Data(l.utf8))) is [String: Any], "not JSON: \(l)") }
        // the audit outlives the process
        let a = try SQLiteAudit(path: audit)
        defer { a.close() }
        #expect(try a.query(AuditQuery()).contains { $0.record.group == "svc" })
    }

    /// `vigil serve --with-daemon` with the sim driver: the sim's samples go into the store, the policy's
    /// `load_query` reads them back, the engine acts, the audit and the state series are served by the same process.
    @Test func serveWithDaemonRunsStoreEngineAuditEndToEnd() async throws {
        let dir = try tempDir("serve")
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = freePort()
        let cfg = dir.appendingPathComponent("vigil.yml")
        try Self.config(maxReplicas: 10, extraPolicy: "    load_query: 'sum(vigil_sim_group_demand{group=\"svc\"})'")
            .write(to: cfg, atomically: true, encoding: .utf8)
        let p = try Proc(["serve", "--listen", "127.0.0.1:\(port)", "--data", dir.appendingPathComponent("data").path,
                          "--config", cfg.path, "--with-daemon", "--log-level", "warning"], dir: dir)
        defer { p.stop() }
        let base = "http://127.0.0.1:\(port)"
        func query(_ q: String) async -> [[String: Any]] {
            let enc = q.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? q
            guard let (s, b) = await Self.get(base + "/api/v1/query?query=\(enc)"), s == 200,
                  let o = try? jsonObject(b), let d = o["data"] as? [String: Any] else { return [] }
            return d["result"] as? [[String: Any]] ?? []
        }
        let seen = await Self.eventually(20) {
            let a = await query("vigil_group_desired_replicas{group=\"svc\"}")
            let b = await query("vigil_sim_instance_cpu_utilization")
            return !a.isEmpty && !b.isEmpty
        }
        try #require(seen, "no state series in the store: \(p.log)")
        #expect(await !query("vigil_group_load{group=\"svc\"}").isEmpty)
        #expect(await !query("vigil_host_up").isEmpty)
        let gotActions = await Self.eventually(15) {
            guard let (s, b) = await Self.get(base + "/api/v1/actions?group=svc"), s == 200,
                  let d = (try? jsonObject(b))?["data"] as? [[String: Any]] else { return false }
            return d.contains { $0["result"] as? String == "executed" && $0["seq"] is Int }
        }
        #expect(gotActions, "no executed action in the audit: \(p.log)")
        // the load the engine used came from the store through load_query: no query failed
        let errs = await query("vigil_daemon_query_errors_total")
        let v = (errs.first?["value"] as? [Any])?.last as? String
        #expect(v == "0", "query errors: \(errs) \(p.log)")
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("data/audit.db").path))
        p.kill(SIGTERM)
        let exited = await Self.eventually(15) { !p.process.isRunning }
        #expect(exited && p.process.terminationStatus == 0, "\(p.log)")
    }
}
