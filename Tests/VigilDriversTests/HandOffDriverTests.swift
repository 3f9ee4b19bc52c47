import Foundation
import VigilTestSupport
import Testing
import VigilConfig
import VigilCore
import VigilEngine
@testable import VigilDrivers

/// A webhook receiver on 127.0.0.1 (Python's http.server): `/ok` checks X-Vigil-Signature with Python's own hmac
/// (401 when it does not match) and appends each body to a file; `/fail` answers 500; `/hang` never answers.
final class Receiver {
    let process: Process
    let port: Int
    let dir: URL
    var received: [[String: Any]] {
        ((try? String(contentsOf: dir.appendingPathComponent("bodies"), encoding: .utf8)) ?? "").split(separator: "\n")
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }
    var hits: Int { ((try? String(contentsOf: dir.appendingPathComponent("hits"), encoding: .utf8)) ?? "").split(separator: "\n").count }

    init(secret: String) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-webhook-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        port = freePort()
        let script = """
        import http.server, hmac, hashlib, sys, time, os
        secret, d = sys.argv[2].encode(), sys.argv[3]
        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a): pass
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                open(os.path.join(d, "hits"), "a").write(self.path + "\\n")
                if self.path == "/hang": time.sleep(30); return
                if self.path == "/fail": self.send_response(500); self.end_headers(); self.wfile.write(b"boom"); return
                want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(want, self.headers.get("X-Vigil-Signature", "")):
                    self.send_response(401); self.end_headers(); return
                open(os.path.join(d, "bodies"), "ab").write(body + b"\\n")
                self.send_response(200); self.end_headers()
        http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
        """
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, String(port), secret, dir.path]
        try process.run()
    }

    func ready() async -> Bool {
        await eventually(60) {
            if case .success = await HTTPExchange.send(method: "GET", url: "http://127.0.0.1:\(port)/", timeoutMs: 500, clock: WallClock()) {
                return true
            }
            return false
        }
    }

    // SIGKILL: a child of the test runner may inherit SIGTERM as ignored (Foundation's Process does not reset it)
    func stop() { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
}

let staticInventory = """
{"hosts": [{"id": "h1", "vcpus": 8, "memory_mib": 16384}],
 "instances": [{"id": "api-0", "group": "api", "host": "h1", "state": "exited", "started_at_ms": 1000},
               {"id": "db-0", "group": "db", "host": "h1", "state": "running", "started_at_ms": 1000}],
 "groups": [{"id": "api", "desired_replicas": 1, "load": 0.5}, {"id": "db", "desired_replicas": 1}]}
"""

@Suite("Webhook and exec drivers", .serialized)
struct HandOffDriverTests {
    @Test("HMAC-SHA256 matches RFC 4231's test vectors 1, 2 and 6 (a key longer than a block)")
    func rfc4231() {
        func h(_ key: [UInt8], _ msg: String) -> String { SHA256.hex(SHA256.hmac(key: key, message: Array(msg.utf8))) }
        #expect(h([UInt8](repeating: 0x0b, count: 20), "Hi There") == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        #expect(h(Array("Jefe".utf8), "what do ya want for nothing?") == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(h([UInt8](repeating: 0xaa, count: 131), "Test Using Larger Than Block-Size Key - Hash Key First")
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        #expect(SHA256.hex(SHA256.hash([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("webhook: the signed JSON document reaches the receiver, which verifies it; a repeated id is not sent again")
    func webhookDelivers() async throws {
        let r = try Receiver(secret: "s3cret")
        defer { r.stop() }
        #expect(await r.ready())
        let secretFile = r.dir.appendingPathComponent("secret").path
        try "s3cret\n".write(toFile: secretFile, atomically: true, encoding: .utf8)
        let inv = try JSONDecoder().decode(InventoryDocument.self, from: Data(staticInventory.utf8))
        let d = try WebhookDriver(config: WebhookDriverConfig(url: "http://127.0.0.1:\(r.port)/ok", secretFile: secretFile, inventory: inv))
        try await d.scale(group: "api", to: 3, actionID: "api:scale_out:5")
        try await d.scale(group: "api", to: 3, actionID: "api:scale_out:5")
        try await d.restart(instance: "api-0", actionID: "api-0:restart:1000")
        let got = r.received
        #expect(got.count == 2, "\(got)")
        #expect(got.first?["version"] as? Int == 1 && got.first?["kind"] as? String == "scale")
        #expect(got.first?["from"] as? Int == 1 && got.first?["to"] as? Int == 3 && got.first?["group"] as? String == "api")
        #expect(got.last?["instance"] as? String == "api-0" && got.last?["group"] as? String == "api")
        let obs = try await d.observe()
        #expect(obs.inventory.groups.first { $0.id == "api" }?.desiredReplicas == 3, "the static inventory follows executed actions")
        #expect(obs.inventory.instances.first { $0.id == "api-0" }?.state == .running)
        #expect(obs.groups["api"]?.load == 0.5)
        // a wrong secret: the receiver answers 401, a refusal, not retried
        try "wrong".write(toFile: secretFile, atomically: true, encoding: .utf8)
        let bad = try WebhookDriver(config: WebhookDriverConfig(url: "http://127.0.0.1:\(r.port)/ok", secretFile: secretFile, inventory: inv))
        let before = r.hits
        do {
            try await bad.scale(group: "api", to: 2, actionID: "x")
            Issue.record("a bad signature was accepted")
        } catch {
            guard case .rejected(let s) = error else { Issue.record("\(error)"); return }
            #expect(s.contains("401"))
        }
        #expect(r.hits == before + 1)
    }

    @Test("webhook answering 500 and one that hangs: retries with back-off, typed errors; the engine's breaker opens, other groups unharmed")
    func webhookFailures() async throws {
        let r = try Receiver(secret: "k")
        defer { r.stop() }
        #expect(await r.ready())
        let inv = try JSONDecoder().decode(InventoryDocument.self, from: Data(staticInventory.utf8))
        let failing = try WebhookDriver(config: WebhookDriverConfig(url: "http://127.0.0.1:\(r.port)/fail", retries: 2,
                                                                    backoff: ConfigDuration(milliseconds: 100), inventory: inv))
        let t0 = Date()
        do {
            try await failing.scale(group: "api", to: 2, actionID: "f1")
            Issue.record("500 accepted")
        } catch {
            guard case .unavailable(let s) = error else { Issue.record("\(error)"); return }
            #expect(s.contains("500") && s.contains("after 3 attempts"), "\(s)")
        }
        #expect(r.hits == 3)
        #expect(Date().timeIntervalSince(t0) >= 0.3, "back-off 100 ms then 200 ms")

        let hanging = try WebhookDriver(config: WebhookDriverConfig(url: "http://127.0.0.1:\(r.port)/hang", timeout: ConfigDuration(milliseconds: 300),
                                                                    retries: 1, backoff: ConfigDuration(milliseconds: 50), inventory: inv))
        await #expect(throws: DriverError.timeout(operation: "POST http://127.0.0.1:\(r.port)/hang", millis: 300)) {
            try await hanging.restart(instance: "api-0", actionID: "h1")
        }

        // the engine over the failing webhook: api-0 exited → restart fails 3 times → breaker opens; db-0 untouched
        var opts = EngineOptions()
        opts.breakerThreshold = 3
        var p = restartOnlyPolicy()
        p.restart.backoff = PolicyDuration(millis: 0)
        p.restart.restartsBeforeRelocate = 100
        let clock = SimulatedClock(startMillis: 2_000_000)
        let audit = JSONLinesAudit()
        let engine = Engine(policies: ["api": p, "db": p], driver: failing, clock: clock, audit: audit, options: opts)
        for k in 0..<5 {
            clock.advance(to: 2_000_000 + Int64(k) * 1000)
            _ = await engine.step(at: clock.nowMillis())
        }
        let recs = audit.records()
        #expect(recs.filter { $0.result == .failed }.count >= 1)
        #expect(recs.contains { $0.result == .blocked && $0.gate == "circuit_breaker" }, "\(recs.map { "\($0.result) \($0.gate ?? "")" })")
        #expect(!recs.contains { $0.instance == "db-0" || $0.group == "db" }, "db is not touched")
        #expect(try await failing.observe().inventory.instances.first { $0.id == "db-0" }?.state == .running)
    }

    @Test("exec: the document on stdin, exit 0 is success; exit 1 is an error carrying stderr; a hung command is killed")
    func execDriver() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-exec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let out = dir.appendingPathComponent("got.json").path
        let inv = try JSONDecoder().decode(InventoryDocument.self, from: Data(staticInventory.utf8))
        let ok = ExecDriver(config: ExecDriverConfig(command: ["sh", "-c", "cat >> \(out)"], inventory: inv))
        try await ok.stop(instance: "db-0", actionID: "db-0:fence:1")
        let doc = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any]
        #expect(doc?["kind"] as? String == "stop" && doc?["instance"] as? String == "db-0" && doc?["version"] as? Int == 1)
        #expect(try await ok.inventory().instances.first { $0.id == "db-0" }?.state == .stopped)

        let fails = ExecDriver(config: ExecDriverConfig(command: ["sh", "-c", "echo 'terraform: no quota' >&2; exit 1"], retries: 1,
                                                        backoff: ConfigDuration(milliseconds: 10), inventory: inv))
        do {
            try await fails.scale(group: "api", to: 2, actionID: "e1")
            Issue.record("exit 1 accepted")
        } catch {
            #expect(error.description.contains("exited 1") && error.description.contains("terraform: no quota")
                    && error.description.contains("after 2 attempts"), "\(error)")
        }
        let hangs = ExecDriver(config: ExecDriverConfig(command: ["sleep", "30"], timeout: ConfigDuration(milliseconds: 200), inventory: inv))
        let t0 = Date()
        await #expect(throws: DriverError.timeout(operation: "sleep (killed)", millis: 200)) {
            try await hangs.restart(instance: "api-0", actionID: "e2")
        }
        #expect(Date().timeIntervalSince(t0) < 10, "killed, not waited for")
    }

    @Test("inventory_command: the JSON it prints is the inventory; bad JSON is a typed error; dry-run sends nothing")
    func inventoryCommandAndDryRun() async throws {
        let d = ExecDriver(config: ExecDriverConfig(command: ["false"], inventoryCommand: ["sh", "-c", "cat <<'E'\n\(staticInventory)\nE"]))
        let inv = try await d.inventory()
        #expect(inv.instances.map(\.id) == ["api-0", "db-0"] && inv.hosts.first?.memoryMiB == 16384)
        let bad = ExecDriver(config: ExecDriverConfig(command: ["false"], inventoryCommand: ["echo", "{not json"]))
        await #expect(throws: DriverError.self) { try await bad.inventory() }
        let log = CapturedLog()
        let dry = ExecDriver(config: ExecDriverConfig(command: ["false"], dryRun: true), logger: log.logger())
        try await dry.scale(group: "api", to: 4, actionID: "d1")  // `false` would fail: nothing ran
        #expect(log.all.contains { $0.contains("dry-run: would hand off") && $0.contains("\"to\":4") }, "\(log.all)")
    }
}
