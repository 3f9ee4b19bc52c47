import CLibvirt
import Foundation
import Logging
import Synchronization
import Testing
import VigilCore
import VigilStore
@testable import VigilServer
@testable import VigilIngestPath
@testable import VigilCollectors

/// The libvirt collector against libvirt's real in-process test driver: `test:///default` (one running domain
/// "test", shared by every connection of the process, so these tests only read it) and driver files written to a
/// temp dir (private to each connection, so a test may destroy domains through the collector's own connection).
@Suite("libvirt collector") struct LibvirtCollectorTests {
    /// What `virDomainGetInfo` and friends say about one domain, read on the collector's thread.
    struct DomainFacts: Sendable {
        var uuid = ""
        var state: Double = -1
        var vcpus: Double = -1
        var maxMemKiB: Double = -1
        var memKiB: Double = -1
        var cpuTimeNs: Double = -1
        var blockReadBytes: [String: Double] = [:]
        var ifaceRxBytes: [String: Double] = [:]
        var domains = -1
    }

    static func facts(_ c: LibvirtCollector, domain: String, disks: [String] = [], ifaces: [String] = []) async -> DomainFacts {
        await c.withConnection { conn in
            var f = DomainFacts()
            guard let conn, let dom = virDomainLookupByName(conn, domain) else { return f }
            defer { virDomainFree(dom) }
            var buf = [CChar](repeating: 0, count: Int(vigil_uuid_string_buflen()))
            if virDomainGetUUIDString(dom, &buf) == 0 { f.uuid = String(cString: buf) }
            var info = virDomainInfo()
            if virDomainGetInfo(dom, &info) == 0 {
                f.state = Double(info.state)
                f.vcpus = Double(info.nrVirtCpu)
                f.maxMemKiB = Double(info.maxMem)
                f.memKiB = Double(info.memory)
                f.cpuTimeNs = Double(info.cpuTime)
            }
            for d in disks {
                var s = virDomainBlockStatsStruct()
                if virDomainBlockStats(dom, d, &s, MemoryLayout<virDomainBlockStatsStruct>.size) == 0 {
                    f.blockReadBytes[d] = Double(s.rd_bytes)
                }
            }
            for i in ifaces {
                var s = virDomainInterfaceStatsStruct()
                if virDomainInterfaceStats(dom, i, &s, MemoryLayout<virDomainInterfaceStatsStruct>.size) == 0 {
                    f.ifaceRxBytes[i] = Double(s.rx_bytes)
                }
            }
            f.domains = Int(virConnectNumOfDomains(conn) + virConnectNumOfDefinedDomains(conn))
            return f
        }
    }

    static func openStore() throws -> (any SampleAppender & SeriesReader, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-libvirt-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return (try TestStore.open(dir: dir), dir)
    }

    static func closeStore(_ store: any SampleAppender & SeriesReader, _ dir: URL) {
        try? (store as? TSDB)?.close()
        try? FileManager.default.removeItem(at: dir)
    }

    static func series(_ store: any SeriesReader, _ name: String, _ extra: [LabelMatcher] = []) throws -> [SeriesSamples] {
        try store.select([.equal("__name__", name)] + extra, mint: .min, maxt: .max)
    }

    /// The one value of the one series matching, or nil.
    static func value(_ store: any SeriesReader, _ name: String, _ extra: [LabelMatcher] = []) throws -> Double? {
        let s = try series(store, name, extra)
        guard s.count == 1, s[0].count == 1 else { return nil }
        return s[0].values[0]
    }

    @Test func defaultDriverDomainLandsInTheStore() async throws {
        let (store, dir) = try Self.openStore()
        defer { Self.closeStore(store, dir) }
        let ing = Ingestor(appender: store, limits: SeriesLimits(), metrics: SelfMetrics())
        let c = LibvirtCollector(config: LibvirtConfig(uri: "test:///default", labels: ["env": "lab"]), ingestor: ing,
                                 logger: Logger(label: "t"), instance: "hv1")
        let disks = ["vda"], ifaces = ["testnet0"]
        let before = await Self.facts(c, domain: "test", disks: disks, ifaces: ifaces)
        let ts = Int64(Date().timeIntervalSince1970 * 1000)
        let seen = await c.collectOnce(previous: [], at: ts)
        let after = await Self.facts(c, domain: "test", disks: disks, ifaces: ifaces)
        await c.shutdown()
        #expect(before.vcpus > 0 && before.maxMemKiB > 0 && !before.uuid.isEmpty)

        let dom: [LabelMatcher] = [.equal("domain", "test"), .equal("uuid", before.uuid), .equal("instance", "hv1"),
                                   .equal("job", "libvirt"), .equal("env", "lab")]
        #expect(try Self.value(store, "libvirt_up", [.equal("instance", "hv1")]) == 1)
        #expect(try Self.value(store, "libvirt_domains") == Double(after.domains))
        #expect(try Self.value(store, "libvirt_domain_info_state", dom) == after.state)
        #expect(try Self.value(store, "libvirt_domain_info_virtual_cpus", dom) == after.vcpus)
        #expect(try Self.value(store, "libvirt_domain_info_maximum_memory_bytes", dom) == after.maxMemKiB * 1024)
        #expect(try Self.value(store, "libvirt_domain_info_memory_usage_bytes", dom) == after.memKiB * 1024)
        // The test driver's counters move with the clock: the collected value lies between two direct readings.
        let cpu = try #require(try Self.value(store, "libvirt_domain_info_cpu_time_seconds_total", dom))
        #expect(cpu >= before.cpuTimeNs / 1e9 - 1e-6 && cpu <= after.cpuTimeNs / 1e9 + 1e-6)
        let vcpuTimes = try Self.series(store, "libvirt_domain_vcpu_time_seconds_total", dom)
        #expect(Set(vcpuTimes.compactMap { $0.labels["vcpu"] }) == Set((0..<Int(after.vcpus)).map(String.init)))
        for d in disks {
            let v = try #require(try Self.value(store, "libvirt_domain_block_stats_read_bytes_total", dom + [.equal("target_device", d)]))
            #expect(v >= before.blockReadBytes[d]! && v <= after.blockReadBytes[d]!)
        }
        for i in ifaces {
            let v = try #require(try Self.value(store, "libvirt_domain_interface_stats_receive_bytes_total", dom + [.equal("target_device", i)]))
            #expect(v >= before.ifaceRxBytes[i]! && v <= after.ifaceRxBytes[i]!)
        }
        for n in ["libvirt_domain_block_stats_write_bytes_total", "libvirt_domain_block_stats_read_requests_total",
                  "libvirt_domain_block_stats_write_requests_total", "libvirt_domain_interface_stats_transmit_bytes_total",
                  "libvirt_domain_interface_stats_receive_packets_total", "libvirt_domain_interface_stats_transmit_drops_total",
                  "libvirt_domain_memory_stats_rss_bytes", "libvirt_scrape_duration_seconds"] {
            #expect(try Self.series(store, n).count == 1, "\(n)")
        }
        // Every stored domain series is in the returned set (for the next round's stale markers), and nothing else.
        let all = try store.select([try LabelMatcher(.regexMatch, "__name__", "libvirt_domain_.+")], mint: .min, maxt: .max)
        #expect(Set(all.map(\.labels)) == seen)
        #expect(all.allSatisfy { $0.timestamps == [ts] })
    }

    static let twoDomains = """
        <node>
          <domain type='test'>
            <name>alpha</name>
            <uuid>11111111-2222-3333-4444-555555555555</uuid>
            <memory unit='KiB'>1048576</memory>
            <currentMemory unit='KiB'>524288</currentMemory>
            <vcpu>3</vcpu>
            <os><type>hvm</type></os>
            <devices>
              <disk type='file' device='disk'><source file='/guest/a.img'/><target dev='vda' bus='virtio'/></disk>
              <disk type='file' device='disk'><source file='/guest/a2.img'/><target dev="vdb" bus='virtio'/></disk>
              <interface type='network'><mac address='52:54:00:00:00:01'/><source network='default'/><target dev='tapalpha0'/></interface>
            </devices>
          </domain>
          <domain type='test'>
            <name>beta</name>
            <uuid>66666666-7777-8888-9999-000000000000</uuid>
            <memory unit='KiB'>2097152</memory>
            <vcpu>1</vcpu>
            <os><type>hvm</type></os>
            <devices>
              <disk type='file' device='disk'><source file='/guest/b.img'/><target dev='sda' bus='scsi'/></disk>
            </devices>
          </domain>
        </node>
        """

    @Test func destroyedDomainGetsStaleMarkers() async throws {
        let file = try tempFile(Self.twoDomains)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let (store, dir) = try Self.openStore()
        defer { Self.closeStore(store, dir) }
        let ing = Ingestor(appender: store, limits: SeriesLimits(), metrics: SelfMetrics())
        let c = LibvirtCollector(config: LibvirtConfig(uri: "test://\(file)"), ingestor: ing, logger: Logger(label: "t"),
                                 instance: "hv1")
        let t0 = Int64(Date().timeIntervalSince1970 * 1000)
        let first = await c.collectOnce(previous: [], at: t0)
        let alpha = await Self.facts(c, domain: "alpha")
        #expect(alpha.vcpus == 3 && alpha.memKiB == 524288)   // what the driver file says
        #expect(try Self.value(store, "libvirt_domains") == 2)
        let blockDevs = try Self.series(store, "libvirt_domain_block_stats_read_bytes_total")
            .map { "\($0.labels["domain"]!)/\($0.labels["target_device"]!)" }
        #expect(Set(blockDevs) == ["alpha/vda", "alpha/vdb", "beta/sda"])
        #expect(try Self.series(store, "libvirt_domain_interface_stats_receive_bytes_total").map { $0.labels["target_device"] } == ["tapalpha0"])
        let betaFirst = first.filter { $0["domain"] == "beta" }
        #expect(betaFirst.count >= 5)

        // Take beta away through the collector's own connection (test-driver files are per connection).
        let gone = await c.withConnection { conn -> Bool in
            guard let conn, let dom = virDomainLookupByName(conn, "beta") else { return false }
            defer { virDomainFree(dom) }
            guard virDomainDestroy(dom) == 0 else { return false }
            _ = virDomainUndefine(dom)   // the file's domains may be transient: destroy already removed it
            return true
        }
        #expect(gone)
        let t1 = t0 + 15_000
        let second = await c.collectOnce(previous: first, at: t1)
        await c.shutdown()
        #expect(second.allSatisfy { $0["domain"] == "alpha" })
        #expect(try Self.series(store, "libvirt_domains").first?.samples == [Sample(t0, 2), Sample(t1, 1)])
        let all = try store.select([try LabelMatcher(.regexMatch, "__name__", "libvirt_domain_.+")], mint: .min, maxt: .max)
        for s in all {
            if s.labels["domain"] == "beta" {
                #expect(s.timestamps == [t0, t1] && !s.values[0].isNaN && s.values[1].isStaleNaN, "\(s.labels)")
            } else {
                #expect(s.timestamps == [t0, t1] && s.values.allSatisfy { !$0.isNaN }, "\(s.labels)")
            }
        }
        #expect(Set(all.filter { $0.labels["domain"] == "beta" }.map(\.labels)) == betaFirst)
    }

    @Test func unreachableURIGivesUpZeroAndALogLineThenReconnects() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-libvirt-\(UUID().uuidString).xml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (store, dir) = try Self.openStore()
        defer { Self.closeStore(store, dir) }
        let logs = LogCapture()
        let ing = Ingestor(appender: store, limits: SeriesLimits(), metrics: SelfMetrics())
        let c = LibvirtCollector(config: LibvirtConfig(uri: "test://\(path)"), ingestor: ing, logger: logs.logger, instance: "hv1")
        let t0 = Int64(Date().timeIntervalSince1970 * 1000)
        var seen = await c.collectOnce(previous: [], at: t0)
        #expect(seen.isEmpty)
        seen = await c.collectOnce(previous: seen, at: t0 + 1000)
        let lines = logs.lines
        #expect(lines.count == 2)
        // The first failure is a warning carrying libvirt's own message (it names the file); repeats are debug.
        #expect(lines.first?.level == .warning)
        #expect(lines.first.map { $0.text.contains("libvirt collection failed") && $0.text.contains(path) } == true, "\(lines)")
        #expect(lines.last?.level == .debug)

        // The file appears: the next collection connects.
        try Self.twoDomains.write(toFile: path, atomically: true, encoding: .utf8)
        seen = await c.collectOnce(previous: seen, at: t0 + 2000)
        await c.shutdown()
        #expect(!seen.isEmpty)
        #expect(try Self.series(store, "libvirt_up").first?.samples == [Sample(t0, 0), Sample(t0 + 1000, 0), Sample(t0 + 2000, 1)])
        #expect(ing.metrics.render().contains("vigil_libvirt_collections_total{result=\"failure\"} 2"))
        #expect(logs.lines.last.map { $0.level == .info && $0.text.contains("libvirt connected") } == true)
    }

    @Test func unknownDriverGivesUpZero() async throws {
        let store = MemoryStore()
        let logs = LogCapture()
        let ing = Ingestor(appender: store, limits: SeriesLimits(), metrics: SelfMetrics())
        let c = LibvirtCollector(config: LibvirtConfig(uri: "nosuchdriver:///system"), ingestor: ing, logger: logs.logger)
        await c.collectOnce(previous: [], at: 1000)
        await c.shutdown()
        #expect(try Self.value(store, "libvirt_up") == 0)
        #expect(try Self.series(store, "libvirt_domains").isEmpty)
        #expect(logs.lines.count == 1 && logs.lines[0].text.contains("nosuchdriver"), "\(logs.lines)")
    }

    /// The bulk-stats path as QEMU fills it (field names of `virConnectGetAllDomainStats`), built with libvirt's own
    /// typed-parameter functions and read against the test driver's domain: units are converted, device labels come
    /// from the record, and the fallback calls are not used for what the record has.
    @Test func bulkStatsRecordFieldsMapToExporterNames() async throws {
        let c = LibvirtCollector(config: LibvirtConfig(uri: "test:///default"),
                                 ingestor: Ingestor(appender: MemoryStore(), limits: SeriesLimits(), metrics: SelfMetrics()),
                                 logger: Logger(label: "t"))
        let ull: [(String, UInt64)] = [
            ("cpu.time", 7_500_000_000), ("vcpu.current", 2), ("vcpu.maximum", 2),
            ("vcpu.0.time", 3_000_000_000), ("vcpu.1.time", 4_250_000_000), ("vcpu.1.wait", 5_000_000),
            ("balloon.current", 3_145_728), ("balloon.maximum", 4_194_304), ("balloon.rss", 1_000),
            ("balloon.major_fault", 17),
            ("block.0.rd.reqs", 10), ("block.0.rd.bytes", 40_960), ("block.0.rd.times", 2_000_000),
            ("block.0.wr.reqs", 3), ("block.0.wr.bytes", 12_288), ("block.0.capacity", 10_737_418_240),
            ("net.0.rx.bytes", 1_500), ("net.0.rx.pkts", 12), ("net.0.tx.bytes", 900), ("net.0.tx.drop", 1),
        ]
        let ints: [(String, Int32)] = [("state.state", 3), ("state.reason", 1), ("vcpu.0.state", 1), ("vcpu.1.state", 2)]
        let uints: [(String, UInt32)] = [("block.count", 1), ("net.count", 1)]
        let strings: [(String, String)] = [("block.0.name", "sdz"), ("block.0.path", "/var/lib/x.qcow2"), ("net.0.name", "vnet3")]
        let got = await c.withConnection { conn -> [SeriesSamples] in
            guard let conn, let dom = virDomainLookupByName(conn, "test") else { return [] }
            defer { virDomainFree(dom) }
            var params: virTypedParameterPtr?
            var n: Int32 = 0, cap: Int32 = 0
            for (k, v) in ull { _ = virTypedParamsAddULLong(&params, &n, &cap, k, v) }
            for (k, v) in ints { _ = virTypedParamsAddInt(&params, &n, &cap, k, v) }
            for (k, v) in uints { _ = virTypedParamsAddUInt(&params, &n, &cap, k, v) }
            for (k, v) in strings { _ = virTypedParamsAddString(&params, &n, &cap, k, v) }
            var sp = StatsParams()
            if let first = params { for j in 0..<Int(n) { sp.add(first + j) } }
            virTypedParamsFree(params, n)
            var out = DomainSeries(base: Labels(["job": "libvirt", "instance": "hv1"]), ts: 5000)
            LibvirtCollector.domainSeries(dom, sp, into: &out)
            return out.series
        }
        await c.shutdown()
        var byKey: [String: Double] = [:]
        for s in got {
            #expect(s.labels["domain"] == "test" && s.labels["uuid"]?.count == 36 && s.timestamps == [5000])
            let extra = s.labels.filter { !["__name__", "job", "instance", "domain", "uuid"].contains($0.name) }
                .map { "\($0.name)=\($0.value)" }.joined(separator: ",")
            byKey[s.labels.metricName! + (extra.isEmpty ? "" : "{\(extra)}")] = s.values[0]
        }
        #expect(byKey == [
            "libvirt_domain_info_state": 3,
            "libvirt_domain_info_cpu_time_seconds_total": 7.5,
            "libvirt_domain_info_virtual_cpus": 2,
            "libvirt_domain_info_maximum_memory_bytes": 4_294_967_296,
            "libvirt_domain_info_memory_usage_bytes": 3_221_225_472,
            "libvirt_domain_vcpu_state{vcpu=0}": 1, "libvirt_domain_vcpu_state{vcpu=1}": 2,
            "libvirt_domain_vcpu_time_seconds_total{vcpu=0}": 3, "libvirt_domain_vcpu_time_seconds_total{vcpu=1}": 4.25,
            "libvirt_domain_vcpu_wait_seconds_total{vcpu=1}": 0.005,
            "libvirt_domain_memory_stats_rss_bytes": 1_024_000,
            "libvirt_domain_memory_stats_major_fault_total": 17,
            "libvirt_domain_block_stats_read_requests_total{target_device=sdz}": 10,
            "libvirt_domain_block_stats_read_bytes_total{target_device=sdz}": 40_960,
            "libvirt_domain_block_stats_read_time_seconds_total{target_device=sdz}": 0.002,
            "libvirt_domain_block_stats_write_requests_total{target_device=sdz}": 3,
            "libvirt_domain_block_stats_write_bytes_total{target_device=sdz}": 12_288,
            "libvirt_domain_block_stats_capacity_bytes{target_device=sdz}": 10_737_418_240,
            "libvirt_domain_interface_stats_receive_bytes_total{target_device=vnet3}": 1_500,
            "libvirt_domain_interface_stats_receive_packets_total{target_device=vnet3}": 12,
            "libvirt_domain_interface_stats_transmit_bytes_total{target_device=vnet3}": 900,
            "libvirt_domain_interface_stats_transmit_drops_total{target_device=vnet3}": 1,
        ])
    }

    @Test func deviceTargetsFromDomainXML() {
        let xml = """
            <domain><devices>
              <disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>
              <disk type="file"><source file="x"/><target bus="virtio" dev="vda"/></disk>
              <interface type='bridge'><target dev='tap0'/></interface><interface type='user'></interface>
            </devices></domain>
            """
        #expect(LibvirtCollector.deviceTargets(in: xml, element: "disk") == ["hdc", "vda"])
        #expect(LibvirtCollector.deviceTargets(in: xml, element: "interface") == ["tap0"])
    }

    @Test func configSection() async throws {
        let c = try VigilConfig.parse(yaml: """
            global:
              scrape_interval: 20s
            libvirt:
              uri: test:///default
              labels: {env: lab, instance: hv7}
            """)
        #expect(c.libvirt == LibvirtConfig(uri: "test:///default", interval: .seconds(20), labels: ["env": "lab", "instance": "hv7"]))
        let d = try VigilConfig.parse(yaml: "libvirt:\n  uri: qemu:///system\n  interval: 5s")
        #expect(d.libvirt?.interval == .seconds(5))
        #expect(try VigilConfig.parse(yaml: "host_collector: true").libvirt == nil)
        // Configured labels reach the series; job defaults to libvirt.
        let col = LibvirtCollector(config: c.libvirt!, ingestor: Ingestor(appender: MemoryStore(), limits: SeriesLimits(),
                                   metrics: SelfMetrics()), logger: Logger(label: "t"))
        #expect(col.base == Labels(["job": "libvirt", "instance": "hv7", "env": "lab"]))
        await col.shutdown()
    }

    @Test(arguments: [
        ("libvirt:\n  uri: test:///default\n  intervall: 5s", "unknown key \"intervall\""),
        ("libvirt:\n  interval: 5s", "2:3: libvirt: missing key \"uri\""),
        ("libvirt:\n  uri: test:///default\n  interval: 5x", "libvirt.interval"),
        ("libvirt:\n  uri: test:///default\n  interval: 0s", "3:13: libvirt.interval: expected a positive duration, got \"0s\""),
        ("libvirt:\n  uri: default", "libvirt.uri: expected a libvirt connection URI"),
        ("libvirt:\n  uri: test:///default\n  labels: {domain: x}", "\"domain\" is set by the collector"),
        ("libvirt:\n  uri: test:///default\n  labels: {\"a-b\": x}", "invalid label name \"a-b\""),
        ("libvirt: qemu:///system", "libvirt"),
    ])
    func configErrors(yaml: String, message: String) {
        #expect {
            try VigilConfig.parse(yaml: yaml)
        } throws: { e in
            "\(e)".contains(message)
        }
    }

    /// The whole path: VigilServer with the libvirt section, the collector loop, the store, the query API over HTTP.
    @Test func servedThroughTheQueryAPI() async throws {
        var opts = ServerOptions()
        opts.config.libvirt = LibvirtConfig(uri: "test:///default", interval: .seconds(1))
        let srv = try await TestServer.start(options: opts) { s in
            s.addRoutes { router, reader in addQueryRoutes(to: router, reader: reader) }
        }
        defer { Task { await srv.stop() } }
        let probe = LibvirtCollector(config: LibvirtConfig(uri: "test:///default"),
                                     ingestor: Ingestor(appender: MemoryStore(), limits: SeriesLimits(), metrics: SelfMetrics()),
                                     logger: Logger(label: "t"))
        let facts = await Self.facts(probe, domain: "test")
        await probe.shutdown()
        var result: [[String: Any]] = []
        for _ in 0..<100 {   // the first collection runs as the server starts; bounded wait of 10 s
            let a = try await http("GET", srv.base + "/api/v1/query?query=libvirt_domain_info_virtual_cpus")
            #expect(a.status == 200)
            let j = try JSONSerialization.jsonObject(with: a.body) as? [String: Any]
            result = ((j?["data"] as? [String: Any])?["result"] as? [[String: Any]]) ?? []
            if !result.isEmpty { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(result.count == 1)
        let metric = result.first?["metric"] as? [String: String]
        #expect(metric?["domain"] == "test" && metric?["uuid"] == facts.uuid && metric?["job"] == "libvirt")
        #expect(metric?["instance"] == ProcessInfo.processInfo.hostName)
        let value = (result.first?["value"] as? [Any])?.last as? String
        #expect(value.flatMap(Double.init) == facts.vcpus)
        let up = try await http("GET", srv.base + "/api/v1/query?query=libvirt_up")
        #expect(up.text.contains("\"value\":[") && up.text.contains(",\"1\"]"), "\(up.text)")
    }
}

/// A swift-log handler that keeps every line, for tests that check what was logged.
final class LogCapture: Sendable {
    struct Line: Sendable {
        let level: Logger.Level
        let text: String
    }
    private let store = Mutex<[Line]>([])
    var lines: [Line] { store.withLock { $0 } }
    func append(_ l: Line) { store.withLock { $0.append(l) } }

    var logger: Logger {
        var l = Logger(label: "capture") { _ in Handler(capture: self) }
        l.logLevel = .trace
        return l
    }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let md = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            capture.append(Line(level: event.level, text: "\(event.message) \(md)"))
        }
    }
}
