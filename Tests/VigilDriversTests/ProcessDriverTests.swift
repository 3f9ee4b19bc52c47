import Foundation
import VigilTestSupport
import Testing
import VigilConfig
import VigilCore
import VigilEngine
@testable import VigilDrivers

@Suite("Process driver", .serialized)
struct ProcessDriverTests {
    @Test("scale 1→3→1 starts and stops real HTTP servers on $PORT; a repeated action id is a no-op")
    func scaleOutAndIn() async throws {
        let base = freePortRange(count: 3)
        var g = ProcessDriverConfig.Group(command: ["python3", "-m", "http.server", "$PORT", "--bind", "127.0.0.1"],
                                          replicas: 1, portBase: base, output: "discard")
        g.health = .init(url: "http://127.0.0.1:$PORT/", period: ConfigDuration(milliseconds: 200),
                         timeout: ConfigDuration(milliseconds: 1000), failureThreshold: 3)
        let d = ProcessDriver(config: ProcessDriverConfig(groups: ["web": g], gracePeriod: ConfigDuration(milliseconds: 2000)))
        try await d.launch()
        // Python's start-up takes seconds when the whole suite shares two cores: wait up to a minute (a bound, not
        // a timing claim; the health check itself is what is tested)
        #expect(await eventually(60) { d.status().map(\.state) == [.running] }, "\(d.status())")

        try await d.scale(group: "web", to: 3, actionID: "web:scale_out:1")
        #expect(await eventually(60) { d.status().filter { $0.state == .running }.count == 3 }, "\(d.status())")
        let three = d.status()
        #expect(three.map(\.instance) == ["web-0", "web-1", "web-2"])
        #expect(Set(three.compactMap(\.pid)).count == 3)
        for r in three {  // each replica serves on its own port
            let resp = await HTTPExchange.send(method: "GET", url: "http://127.0.0.1:\(base + r.index)/", timeoutMs: 15_000, clock: WallClock())
            #expect((try? resp.get().status) == 200, "\(r.instance): \(resp)")
        }
        #expect(try await d.inventory().groups == [GroupInfo(id: "web", desiredReplicas: 3)])

        try await d.scale(group: "web", to: 1, actionID: "web:scale_in:2")
        let one = d.status()
        #expect(one.map(\.instance) == ["web-0"])
        #expect(one[0].pid == three[0].pid, "web-0 kept running")
        for r in three.dropFirst() {
            if let pid = r.pid { #expect(!alive(pid), "\(r.instance) stopped") }
        }

        // the engine retries an action id whose call in fact succeeded: nothing happens
        try await d.scale(group: "web", to: 3, actionID: "web:scale_out:1")
        #expect(d.status().count == 1)
        await d.shutdown()
        if let pid = one.first?.pid { #expect(!alive(pid)) }
    }

    @Test("SIGKILL a replica: the reaper reports it exited, nextChange wakes the engine, which restarts it once")
    func killedReplicaIsRestartedByTheEngine() async throws {
        let cfg = ProcessDriverConfig(groups: [
            "w": .init(command: ["sleep", "1000"], replicas: 2, output: "discard"),
            "other": .init(command: ["sleep", "1000"], replicas: 1, output: "discard"),
        ], gracePeriod: ConfigDuration(milliseconds: 1000))
        let d = ProcessDriver(config: cfg)
        try await d.launch()
        let before = d.status()
        let victim = try #require(before.first { $0.instance == "w-0" }?.pid)
        // a 10-minute interval: a restart within the test can only come from nextChange()
        let runner = runEngine(driver: d, policies: ["w": restartOnlyPolicy(), "other": restartOnlyPolicy()], intervalMs: 600_000)
        try await Task.sleep(nanoseconds: 200_000_000)  // the runner's first step and wait
        let t0 = Date()
        kill(victim, SIGKILL)
        let back = await eventually(20) {
            guard let r = d.status().first(where: { $0.instance == "w-0" }) else { return false }
            return r.state == .running && r.pid != nil && r.pid != victim
        }
        let latencyMs = Date().timeIntervalSince(t0) * 1000
        #expect(back, "\(d.status())")
        print("crash to running again: \(String(format: "%.1f", latencyMs)) ms")
        try await Task.sleep(nanoseconds: 300_000_000)
        runner.cancel()
        let audit = await runner.value
        let restarts = audit.filter { $0.kind == .restart && $0.instance == "w-0" && $0.result == .executed }
        #expect(restarts.count == 1, "\(audit)")
        #expect(audit.filter { $0.instance != "w-0" && $0.action != nil }.isEmpty, "nothing else was touched: \(audit)")
        let after = d.status()
        #expect(after.first { $0.instance == "w-0" }?.lastExit == "killed by signal 9")
        for r in before where r.instance != "w-0" {
            #expect(after.first { $0.instance == r.instance }?.pid == r.pid, "\(r.instance) untouched")
        }
        await d.shutdown()
        for r in d.status() { #expect(r.pid == nil || !alive(r.pid!)) }
    }

    @Test("restart is stop + start in place; CPU cores and RSS come from /proc; load = cores / cpu_limit")
    func restartAndStats() async throws {
        // one replica burns a core, the other sleeps
        let cfg = ProcessDriverConfig(groups: [
            "burn": .init(command: ["python3", "-c", "while True: pass"], replicas: 1, cpuLimit: 0.5, output: "discard"),
            "idle": .init(command: ["sleep", "1000"], replicas: 1, output: "discard"),
        ], gracePeriod: ConfigDuration(milliseconds: 1000))
        let d = ProcessDriver(config: cfg)
        _ = try await d.observe()
        try await Task.sleep(nanoseconds: 1_000_000_000)
        let obs = try await d.observe()
        let burn = try #require(d.status().first { $0.group == "burn" })
        let idle = try #require(d.status().first { $0.group == "idle" })
        // the machine is shared, so no fixed share of a core: busy uses CPU, sleep uses (next to) none
        #expect(burn.cpuCores > 0.02 && burn.cpuCores > 10 * idle.cpuCores, "busy \(burn), idle \(idle)")
        // RSS agrees with the kernel's own VmRSS line (same process, a moment later: within 10 %)
        let status = try String(contentsOfFile: "/proc/\(try #require(burn.pid))/status", encoding: .utf8)
        let vmRSSkB = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Double($0.split(separator: " ").dropFirst().first ?? "") })
        #expect(abs(Double(burn.rssBytes) - vmRSSkB * 1024) <= 0.1 * vmRSSkB * 1024, "\(burn.rssBytes) vs VmRSS \(vmRSSkB) kB")
        #expect(abs(try #require(obs.groups["burn"]).load - burn.cpuCores / 0.5) < 1e-9)
        #expect(try #require(obs.groups["idle"]).load < 0.05)

        let old = try #require(d.status().first { $0.group == "idle" })
        try await d.restart(instance: "idle-0", actionID: "idle-0:restart:1")
        let new = try #require(d.status().first { $0.group == "idle" })
        #expect(new.pid != old.pid && new.state == .running && new.startedAtMillis >= old.startedAtMillis)
        #expect(!alive(try #require(old.pid)))
        try await d.restart(instance: "idle-0", actionID: "idle-0:restart:1")  // repeat: no-op
        #expect(d.status().first { $0.group == "idle" }?.pid == new.pid)
        await #expect(throws: DriverError.notFound("replica nope-0")) { try await d.restart(instance: "nope-0", actionID: "x") }
        await #expect(throws: DriverError.self) { try await d.start(instance: "idle-0", on: "elsewhere", actionID: "y") }
        await d.shutdown()
    }

    @Test("SIGTERM is ignored: SIGKILL after the grace period; the replica's forked children die with it")
    func graceThenKillWholeGroup() async throws {
        let script = "trap '' TERM; sleep 1000 & echo $! > \"$VIGIL_PIDFILE\"; wait"
        let pidfile = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-grand-\(getpid()).pid").path
        let cfg = ProcessDriverConfig(groups: [
            "stubborn": .init(command: ["sh", "-c", script], env: ["VIGIL_PIDFILE": pidfile], replicas: 1, output: "discard"),
        ], gracePeriod: ConfigDuration(milliseconds: 300))
        let d = ProcessDriver(config: cfg)
        try await d.launch()
        #expect(await eventually { (try? String(contentsOfFile: pidfile, encoding: .utf8))?.isEmpty == false })
        let grandchild = try #require(Int32((try String(contentsOfFile: pidfile, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)))
        let leader = try #require(d.status().first?.pid)
        #expect(alive(grandchild))
        try await d.stop(instance: "stubborn-0", actionID: "s1")
        #expect(d.status().first?.state == .stopped)
        #expect(!alive(leader))
        #expect(await eventually(30) { !alive(grandchild) }, "the process group was killed")
        await d.shutdown()
    }

    @Test("a command that cannot start is a typed error naming it; the replica is reported exited")
    func badCommand() async throws {
        let d = ProcessDriver(config: ProcessDriverConfig(groups: [
            "bad": .init(command: ["/nonexistent/vigil-test-binary"], replicas: 0, output: "discard"),
        ]))
        await #expect(throws: DriverError.self) { try await d.scale(group: "bad", to: 1, actionID: "b1") }
        do {
            try await d.scale(group: "bad", to: 1, actionID: "b2")
        } catch {
            #expect(error.description.contains("/nonexistent/vigil-test-binary"))
            #expect(error.description.contains("No such file"))
        }
        #expect(d.status().map(\.state) == [.exited])
        await #expect(throws: DriverError.notFound("process group nope")) { try await d.scale(group: "nope", to: 1, actionID: "b3") }
        await d.shutdown()
    }

    @Test("an HTTP health check that starts failing turns the replica unhealthy and wakes the engine")
    func healthCheckFailure() async throws {
        let port = freePort()
        let stopFile = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-health-\(port)-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: stopFile) }
        // serves until the test creates stopFile, then stops answering (the listener closes) while the process
        // lives on; no fixed serving time, so a slow start on a loaded machine cannot skip the healthy phase
        let script = """
        import http.server, os, threading, time, sys
        s = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), http.server.SimpleHTTPRequestHandler)
        threading.Thread(target=s.serve_forever, daemon=True).start()
        while not os.path.exists(sys.argv[2]): time.sleep(0.05)
        s.shutdown(); s.server_close(); time.sleep(1000)
        """
        var g = ProcessDriverConfig.Group(command: ["python3", "-c", script, "$PORT", stopFile], replicas: 1, portBase: port, output: "discard")
        g.health = .init(url: "http://127.0.0.1:$PORT/", period: ConfigDuration(milliseconds: 100),
                         timeout: ConfigDuration(milliseconds: 500), failureThreshold: 2)
        let d = ProcessDriver(config: ProcessDriverConfig(groups: ["h": g]))
        try await d.launch()
        #expect(await eventually(60) { d.status().first?.state == .running }, "\(d.status())")
        let woke = Task { await d.nextChange() }
        FileManager.default.createFile(atPath: stopFile, contents: Data())
        #expect(await eventually(60) { d.status().first?.state == .unhealthy }, "\(d.status())")
        await woke.value
        #expect(d.status().first?.pid != nil, "unhealthy is still running (not fenced)")
        await d.shutdown()
    }

    @Test("dry-run logs what it would do and starts nothing")
    func dryRun() async throws {
        let log = CapturedLog()
        let d = ProcessDriver(config: ProcessDriverConfig(groups: ["w": .init(command: ["sleep", "1000"], replicas: 2)], dryRun: true),
                              logger: log.logger())
        let inv = try await d.inventory()
        #expect(inv.instances.isEmpty)
        try await d.scale(group: "w", to: 3, actionID: "a")
        #expect(d.status().isEmpty)
        #expect(log.all.filter { $0.hasPrefix("dry-run: would start") }.count == 2, "\(log.all)")
        #expect(log.all.contains { $0.hasPrefix("dry-run: would scale") && $0.contains("to=3") }, "\(log.all)")
        await d.shutdown()
    }

    @Test("config: snake_case keys decode through the strict YAML decoder; bad values name the key")
    func configDecoding() throws {
        let yaml = """
        groups:
          web:
            command: ["python3", "-m", "http.server", "$PORT"]
            env: {MODE: "r$REPLICA"}
            working_dir: /tmp
            replicas: 2
            port_base: 8000
            cpu_limit: 0.5
            output: discard
            health: {url: "http://127.0.0.1:$PORT/", period: 5s, timeout: 1s, failure_threshold: 2}
        grace_period: 3s
        dry_run: true
        """
        let c = try StrictYAMLDecoder.decode(ProcessDriverConfig.self, yaml: yaml, file: "t.yml")
        #expect(c.groups["web"]?.portBase == 8000 && c.groups["web"]?.health?.failureThreshold == 2)
        #expect(c.gracePeriod.milliseconds == 3000 && c.dryRun)
        #expect(throws: (any Error).self) { try StrictYAMLDecoder.decode(ProcessDriverConfig.self, yaml: "groups: {w: {command: [x], replicas: -1}}", file: "t.yml") }
        #expect(throws: (any Error).self) { try StrictYAMLDecoder.decode(ProcessDriverConfig.self, yaml: "groups: {w: {command: [x], replica: 1}}", file: "t.yml") }
    }
}
