import Foundation
import Hummingbird
import Synchronization
import Testing
import VigilCore
@testable import VigilServer
@testable import VigilIngestPath
@testable import VigilCollectors

@Suite("Config and collectors") struct CollectorTests {
    @Test func configParses() throws {
        let c = try VigilConfig.parse(yaml: """
            global:
              scrape_interval: 30s
            host_collector: true
            scrape_configs:
              - job_name: node
                scrape_interval: 5s
                scrape_timeout: 2s
                static_configs:
                  - targets: ["127.0.0.1:9100", "127.0.0.1:9101"]
                    labels: {env: lab}
              - job_name: self
                metrics_path: /metrics
                static_configs:
                  - targets: ["127.0.0.1:9470"]
            forecast:
              interval: 30s
              watch: up
            """)
        #expect(c.hostCollector)
        #expect(c.scrapeInterval == .seconds(30))
        #expect(c.scrapeConfigs.count == 2)
        #expect(c.scrapeConfigs[0].interval == .seconds(5))
        #expect(c.scrapeConfigs[0].timeout == .seconds(2))
        #expect(c.scrapeConfigs[0].targets[1].labels == Labels(["job": "node", "instance": "127.0.0.1:9101", "env": "lab"]))
        #expect(c.scrapeConfigs[1].interval == .seconds(30))
        #expect(c.scrapeConfigs[1].timeout == .seconds(10))
    }

    @Test(arguments: [
        ("scrape_configs:\n  - job_name: a\n    scrape_intervall: 5s", "unknown key \"scrape_intervall\""),
        ("scrape_configs:\n  - job_name: a\n    scrape_interval: 5x", "3:22: scrape_configs[0].scrape_interval: expected a duration like 30s, 5m or 1h30m, got \"5x\""),
        ("scrape_configs:\n  - job_name: a\n  - job_name: a", "duplicate job_name \"a\""),
        ("scrape_configs:\n  - job_name: a\n    scrape_interval: 1s\n    scrape_timeout: 2s", "scrape_timeout greater than scrape_interval"),
        ("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [\"http://x:1/metrics\"]", "invalid target"),
        ("scrape_configs:\n  - scrape_interval: 1s", "missing key \"job_name\""),
        ("host_collector: maybe", "host_collector"),
    ])
    func configErrors(yaml: String, message: String) {
        #expect {
            try VigilConfig.parse(yaml: yaml)
        } throws: { e in
            "\(e)".contains(message)
        }
    }

    @Test func hostCollectorReadsProc() throws {
        let ing = Ingestor(appender: MemoryStore(), limits: SeriesLimits(), metrics: SelfMetrics())
        let host = HostCollector(ingestor: ing, logger: .init(label: "t"), instance: "h1")
        let got = host.collect(at: 1000)
        let names = Set(got.compactMap { $0.labels.metricName })
        for n in ["node_cpu_seconds_total", "node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes", "node_load1",
                  "node_load5", "node_load15", "node_network_receive_bytes_total", "node_network_transmit_bytes_total",
                  "node_filesystem_avail_bytes", "node_filesystem_size_bytes", "node_boot_time_seconds"] {
            #expect(names.contains(n), "\(n)")
        }
        let idle = got.filter { $0.labels.metricName == "node_cpu_seconds_total" && $0.labels["mode"] == "idle" }
        #expect(idle.count == ProcessInfo.processInfo.processorCount)
        #expect(idle.allSatisfy { $0.labels["instance"] == "h1" && $0.labels["job"] == "node" && $0.values[0] > 0 })
        let lo = got.first { $0.labels.metricName == "node_network_receive_bytes_total" && $0.labels["device"] == "lo" }
        #expect(lo != nil)
        let root = got.first { $0.labels.metricName == "node_filesystem_size_bytes" && $0.labels["mountpoint"] == "/" }
        #expect((root?.values[0] ?? 0) > 0)
        try ing.validate(got)
        #expect(HostCollector.ignoredDisk("vda1") && !HostCollector.ignoredDisk("vda") && HostCollector.ignoredDisk("loop0"))
    }

    /// The scrape loop against a local target whose body the test changes between scrapes.
    @Test func scrapeLoopLabelsUpAndStaleness() async throws {
        let body = Mutex("ok:a:_:1;b:_:2")
        let status = Mutex(200)
        let target = try await TestServer.start(decoders: fixtureDecoders) { srv in
            srv.addRoutes { router, _ in
                router.get("/target") { _, _ in
                    Response(status: .init(code: status.withLock { $0 }),
                             body: ResponseBody(byteBuffer: ByteBuffer(string: body.withLock { $0 })))
                }
            }
        }
        defer { Task { await target.stop() } }
        let store = MemoryStore()
        let ing = Ingestor(appender: store, limits: SeriesLimits(), metrics: SelfMetrics())
        var sc = ScrapeConfig(jobName: "tgt")
        sc.metricsPath = "/target"
        // Generous: at the start of the full suite on a two-core CI machine every test is starting at once, and a
        // 5 s timeout once failed all three scrapes there (up 0, 0, 0) though the target answers in milliseconds.
        sc.interval = .seconds(120)
        sc.timeout = .seconds(60)
        let addr = "127.0.0.1:\(target.port)"
        let loop = ScrapeLoop(config: sc, target: ScrapeTarget(address: addr, labels: Labels(["job": "tgt", "instance": addr])),
                              ingestor: ing, decoders: fixtureDecoders, logger: .init(label: "t"))
        var seen = await loop.scrapeOnce(previous: [], at: 10_000)
        #expect(seen.count == 2)
        body.withLock { $0 = "ok:a:_:3" }
        seen = await loop.scrapeOnce(previous: seen, at: 20_000)
        #expect(seen.count == 1)
        status.withLock { $0 = 500 }
        seen = await loop.scrapeOnce(previous: seen, at: 30_000)
        #expect(seen.isEmpty)

        func values(_ name: String) throws -> [Sample] {
            let s = try store.select([.equal("__name__", name)], mint: 0, maxt: .max)
            #expect(s.count == 1)
            #expect(s.first?.labels["job"] == "tgt" && s.first?.labels["instance"] == addr)
            return s.first?.samples ?? []
        }
        #expect(try values("up") == [Sample(10_000, 1), Sample(20_000, 1), Sample(30_000, 0)])
        #expect(try values("scrape_samples_scraped") == [Sample(10_000, 2), Sample(20_000, 1), Sample(30_000, 0)])
        #expect(try values("scrape_duration_seconds").count == 3)
        #expect(try values("a") == [Sample(10_000, 1), Sample(20_000, 3), Sample(30_000, .staleNaN)])
        #expect(try values("b") == [Sample(10_000, 2), Sample(20_000, .staleNaN)])
    }

    @Test func scrapeLabelClashes() {
        let ing = Ingestor(appender: MemoryStore(), limits: SeriesLimits(), metrics: SelfMetrics())
        var sc = ScrapeConfig(jobName: "j")
        let t = ScrapeTarget(address: "h:1", labels: Labels(["job": "j", "instance": "h:1"]))
        var loop = ScrapeLoop(config: sc, target: t, ingestor: ing, decoders: fixtureDecoders, logger: .init(label: "t"))
        let scraped = Labels(["__name__": "m", "job": "inner"])
        #expect(loop.applyTargetLabels(scraped) == Labels(["__name__": "m", "job": "j", "exported_job": "inner", "instance": "h:1"]))
        sc.honorLabels = true
        loop = ScrapeLoop(config: sc, target: t, ingestor: ing, decoders: fixtureDecoders, logger: .init(label: "t"))
        #expect(loop.applyTargetLabels(scraped) == Labels(["__name__": "m", "job": "inner", "instance": "h:1"]))
    }
}
