import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import VigilDaemon
import VigilTestSupport
import VigilCore
import VigilForecast
@testable import VigilServer
@testable import VigilIngestPath
@testable import VigilCollectors
@testable import VigilOnline

/// `vigil config check` and `vigil serve --data :memory:` through the real binary (built by `swift build`), and the
/// demo config through the same checks `vigil serve` makes.
@Suite struct ConfigCheckTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let binary = vigilExecutable() ?? ""
    static var hasBinary: Bool { vigilExecutable() != nil }

    static func run(_ args: [String], cwd: URL = repoRoot) async throws -> (Int32, String, String) {
        let r = try await runProcess(binary, args, cwd: cwd, timeout: 120)
        return (r.status, r.out, r.err)
    }

    /// `make demo`'s config (serve + daemon) decodes with every section `vigil serve --with-daemon` knows, and its
    /// selectors parse.
    @Test func demoConfigIsValid() throws {
        let c = try VigilConfig.loadChecked(file: Self.repoRoot.appendingPathComponent("scripts/demo-vigil.yml").path,
                                            sections: daemonConfigSections)
        #expect(c.forecast?.selectors.count == 2 && c.forecast?.interval == .seconds(300))
    }

    @Test(.enabled(if: hasBinary, "needs the vigil binary: swift build --product vigil"))
    func configCheckCommand() async throws {
        let (rc, out, _) = try await Self.run(["config", "check", "scripts/demo-vigil.yml"])
        #expect(rc == 0 && out.hasPrefix("scripts/demo-vigil.yml: valid") && out.contains("forecast: every 5m"), "\(out)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-cfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    targets: [\"x:1\"]\n".write(to: dir.appendingPathComponent("bad.yml"), atomically: true, encoding: .utf8)
        let (rc2, out2, err2) = try await Self.run(["config", "check", "bad.yml"], cwd: dir)
        #expect(rc2 == 1 && out2.isEmpty)
        #expect(err2.hasPrefix(#"bad.yml:4:5: scrape_configs[0].targets: unknown key "targets""#), "\(err2)")
    }

    /// `--data :memory:` serves without creating any directory; writes are readable back.
    @Test(.enabled(if: hasBinary, "needs the vigil binary: swift build --product vigil"))
    func serveInMemory() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-mem-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let port = Int.random(in: 20_000..<40_000)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = ["serve", "--data", ":memory:", "--listen", "127.0.0.1:\(port)", "--log-level", "error"]
        p.currentDirectoryURL = dir
        try p.run()
        defer { if p.isRunning { p.terminate() }; p.waitUntilExit() }
        let base = "http://127.0.0.1:\(port)"
        var ready = false
        for _ in 0..<100 where !ready {
            if let (_, r) = try? await URLSession.shared.data(from: URL(string: "\(base)/-/ready")!), (r as? HTTPURLResponse)?.statusCode == 200 {
                ready = true
            } else {
                try await Task.sleep(nanoseconds: 100_000_000)
            }
        }
        try #require(ready, "vigil serve --data :memory: did not become ready")
        var req = URLRequest(url: URL(string: "\(base)/api/v1/import/prometheus")!)
        req.httpMethod = "POST"
        req.httpBody = Data("mem_test_metric{a=\"b\"} 42\n".utf8)
        req.setValue("text/plain; version=0.0.4", forHTTPHeaderField: "Content-Type")
        let (_, w) = try await URLSession.shared.data(for: req)
        #expect((w as? HTTPURLResponse)?.statusCode == 204)
        let (body, _) = try await URLSession.shared.data(from: URL(string: "\(base)/api/v1/query?query=mem_test_metric")!)
        #expect(String(decoding: body, as: UTF8.self).contains("\"42\""))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}

/// SIGHUP reload: scrape targets and forecast settings change in place; an invalid file changes nothing.
@Suite struct ConfigReloadTests {
    @Test func reloadAppliesScrapeAndForecastAndKeepsOldOnError() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-reload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("vigil.yml")
        func write(_ text: String) throws { try text.write(to: file, atomically: true, encoding: .utf8) }
        try write("""
            scrape_configs:
              - job_name: a
                static_configs:
                  - targets: ["127.0.0.1:1", "127.0.0.1:2"]
            forecast:
              watch: up
            """)
        let first = try VigilConfig.loadChecked(file: file.path)
        let store = MemoryStore()
        let server = VigilServer(options: ServerOptions(), appender: store, reader: store, decoders: StoreWiring.decoders())
        let scrapes = ScrapeManager(ingestor: server.ingestor, decoders: server.decoders, logger: server.logger,
                                    clock: server.options.clock, configs: first.scrapeConfigs)
        let forecaster = OnlineForecaster(reader: store, appender: store, config: try first.forecast!.onlineConfiguration())
        let loop = OnlineModelLoop(forecaster: forecaster, interval: .seconds(30), clock: WallClock(), metrics: SelfMetrics(), logger: .init(label: "t"))
        let task = Task { await scrapes.run() }
        defer { task.cancel() }
        for _ in 0..<1000 where scrapes.runningTargets.isEmpty { await Task.yield() }
        #expect(scrapes.runningTargets == ["a/127.0.0.1:1", "a/127.0.0.1:2"])

        let reloader = ConfigReloader(file: file.path, sections: [], current: first, scrapes: { scrapes.apply($0) }, forecast: loop, logger: .init(label: "t"))
        try write("""
            global:
              scrape_interval: 30s
            scrape_configs:
              - job_name: a
                static_configs:
                  - targets: ["127.0.0.1:2", "127.0.0.1:3"]
            forecast:
              watch: ['node_load1', 'up']
            """)
        #expect(await reloader.reload() == .applied(restartNeeded: ["global"]))
        #expect(scrapes.runningTargets == ["a/127.0.0.1:2", "a/127.0.0.1:3"])
        #expect(await forecaster.config.selectors.count == 2)

        try write("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [\"127.0.0.1:9\"]\n        lables: {x: y}\n")
        guard case .rejected(let message) = await reloader.reload() else {
            Issue.record("an invalid file was applied")
            return
        }
        #expect(message.hasPrefix("\(file.path):5:9: scrape_configs[0].static_configs[0].lables: unknown key"), "\(message)")
        #expect(scrapes.runningTargets == ["a/127.0.0.1:2", "a/127.0.0.1:3"])
        #expect(await forecaster.config.selectors.count == 2)
        task.cancel()
        await task.value
    }
}
