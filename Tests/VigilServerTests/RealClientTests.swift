import Foundation
import VigilTestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import VigilCore
@testable import VigilServer
@testable import VigilIngestPath

/// A child process killed at the end of the test.
final class Child: @unchecked Sendable {
    let process = Process()
    let log: URL

    init(_ path: String, _ args: [String], log: URL) throws {
        self.log = log
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = args
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let h = try FileHandle(forWritingTo: log)
        process.standardOutput = h
        process.standardError = h
        try process.run()
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
}


/// Polls `f` until it returns non-nil or `seconds` pass.
func eventually<T>(_ seconds: Double, _ what: String, _ f: () async throws -> T?) async throws -> T {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if let v = try await f() { return v }
        try await Task.sleep(for: .milliseconds(250))
    }
    throw DecodeFailure("timed out after \(seconds)s waiting for \(what)")
}

let nodeExporterPath = "/usr/bin/prometheus-node-exporter"

@Suite("Real clients", .serialized, .enabled(if: StoreWiring.decodersAvailable, "VigilIngest's parsers are not wired yet"))
struct RealClientTests {
    func startNodeExporter(_ dir: URL) throws -> (Child, Int) {
        let port = freePort()
        let c = try Child(nodeExporterPath, ["--web.listen-address=127.0.0.1:\(port)", "--collector.disable-defaults",
                                             "--collector.cpu", "--collector.meminfo", "--collector.loadavg"],
                          log: dir.appendingPathComponent("node_exporter.log"))
        return (c, port)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: nodeExporterPath),
                   "prometheus-node-exporter is not installed (apt-get install prometheus-node-exporter)"),
          .timeLimit(.minutes(2)))
    func scrapeCollectorScrapesNodeExporter() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-ne-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (ne, nePort) = try startNodeExporter(dir)
        defer { ne.stop() }
        let target = "127.0.0.1:\(nePort)"
        var o = ServerOptions()
        o.config = try VigilConfig.parse(yaml: """
            scrape_configs:
              - job_name: node
                scrape_interval: 1s
                scrape_timeout: 1s
                static_configs:
                  - targets: ["\(target)"]
            """)
        let s = try await TestServer.start(options: o)
        defer { Task { await s.stop() } }
        let up = try await eventually(30, "two successful scrapes") { () -> [Sample]? in
            let u = try s.store.select([.equal("__name__", "up"), .equal("job", "node")], mint: 0, maxt: .max)
            let ups = u.first?.samples ?? []
            return ups.filter({ $0.v == 1 }).count >= 2 ? ups : nil
        }
        #expect(up.allSatisfy { $0.v == 1 })
        let cpu = try s.store.select([.equal("__name__", "node_cpu_seconds_total")], mint: 0, maxt: .max)
        #expect(cpu.count >= 8, "cpu × mode series")
        #expect(cpu.allSatisfy { $0.labels["job"] == "node" && $0.labels["instance"] == target && $0.labels["cpu"] != nil })
        let scraped = try s.store.select([.equal("__name__", "scrape_samples_scraped")], mint: 0, maxt: .max)
        #expect((scraped.first?.values.last ?? 0) > 50)
        // The target goes away: up drops to 0 and its series get stale markers.
        ne.stop()
        try await eventually(30, "up == 0 and stale markers") { () -> Bool? in
            let u = try s.store.select([.equal("__name__", "up")], mint: 0, maxt: .max).first?.values.last
            let load = try s.store.select([.equal("__name__", "node_load1")], mint: 0, maxt: .max).first?.values.last
            return u == 0 && load?.isStaleNaN == true ? true : nil
        }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: prometheusPath)
                   && FileManager.default.isExecutableFile(atPath: nodeExporterPath),
                   "prometheus / prometheus-node-exporter not installed"),
          .timeLimit(.minutes(3)))
    func prometheusRemoteWritesIntact() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-prom-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (ne, nePort) = try startNodeExporter(dir)
        defer { ne.stop() }
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let promPort = freePort()
        let cfg = dir.appendingPathComponent("prometheus.yml")
        try """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: node
                static_configs:
                  - targets: ["127.0.0.1:\(nePort)"]
            remote_write:
              - url: http://127.0.0.1:\(s.port)/api/v1/write
                queue_config:
                  batch_send_deadline: 1s
                  max_samples_per_send: 500
            """.write(to: cfg, atomically: true, encoding: .utf8)
        let prom = try Child(prometheusPath, ["--config.file=\(cfg.path)", "--storage.tsdb.path=\(dir.appendingPathComponent("tsdb").path)",
                                              "--web.listen-address=127.0.0.1:\(promPort)"],
                             log: dir.appendingPathComponent("prometheus.log"))
        defer { prom.stop() }
        // Wait for ~5 scrapes to reach vigil.
        _ = try await eventually(90, "remote_write from Prometheus") { () -> Bool? in
            let u = try s.store.select([.equal("__name__", "up")], mint: 0, maxt: .max)
            return (u.first?.count ?? 0) >= 5 ? true : nil
        }
        // Compare every node_* / up / scrape_* series vigil got with Prometheus' own raw samples.
        let ours = try s.store.select([try LabelMatcher(.regexMatch, "__name__", "node_load1|node_cpu_seconds_total|up|scrape_.*|node_memory_MemAvailable_bytes")],
                                      mint: 0, maxt: .max)
        #expect(ours.count >= 10)
        let q = "{__name__=~\"node_load1|node_cpu_seconds_total|up|scrape_.*|node_memory_MemAvailable_bytes\"}[5m]"
        let r = try await http("GET", "http://127.0.0.1:\(promPort)/api/v1/query?query=\(q.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)")
        #expect(r.status == 200)
        let json = try JSONSerialization.jsonObject(with: r.body) as! [String: Any]
        let result = (json["data"] as! [String: Any])["result"] as! [[String: Any]]
        var theirs: [Labels: [Int64: Double]] = [:]
        for row in result {
            let labels = Labels(row["metric"] as! [String: String])
            var m: [Int64: Double] = [:]
            for p in row["values"] as! [[Any]] {
                let t = Int64(((p[0] as! NSNumber).doubleValue * 1000).rounded())
                m[t] = Double(p[1] as! String)!
            }
            theirs[labels] = m
        }
        var compared = 0
        for series in ours {
            let p = try #require(theirs[series.labels], "Prometheus has \(series.labels)")
            for smp in series.samples {
                let want = try #require(p[smp.t], "\(series.labels) @\(smp.t)")
                #expect(want.bitPattern == smp.v.bitPattern || (want.isNaN && smp.v.isNaN), "\(series.labels) @\(smp.t)")
                compared += 1
            }
        }
        #expect(compared >= 50)
        ne.stop()
    }

    @Test(.timeLimit(.minutes(8)))
    func pythonClientsPushAndReadBack() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = root.appendingPathComponent("scripts/test-clients/run.sh")
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-py-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: log) }
        let c = try Child("/bin/bash", [script.path, s.base], log: log)
        while c.process.isRunning { try await Task.sleep(for: .milliseconds(200)) }
        #expect(c.process.terminationStatus == 0, "\(c.output)")
    }
}
