import CLibvirt
import Foundation
import Logging
import Synchronization
import VigilConfig
import VigilCore
import VigilIngestPath

/// Reads per-domain statistics from one libvirt connection every `interval`, under the names of the common
/// Prometheus libvirt exporters (the `libvirt-exporter` / `prometheus-libvirt-exporter` family; see docs/serve.md
/// for the exact list): `libvirt_domain_info_*`, `libvirt_domain_vcpu_*`, `libvirt_domain_memory_stats_*`,
/// `libvirt_domain_block_stats_*`, `libvirt_domain_interface_stats_*`, each labelled `domain`, `uuid`, plus the
/// collector's `job` (default `libvirt`) and `instance` (default: the host name) and any configured labels.
///
/// One `virConnectGetAllDomainStats` call per collection (groups STATE, CPU_TOTAL, BALLOON, VCPU, INTERFACE,
/// BLOCK). A driver that leaves a group out (libvirt's `test` driver reports only STATE) gets it filled from the
/// per-domain calls the older exporters use: `virDomainGetInfo`, `virDomainGetVcpus`, `virDomainMemoryStats`,
/// `virDomainBlockStats` / `virDomainInterfaceStats` on the devices named in the domain XML.
///
/// Every collection also writes `libvirt_up` (1/0), `libvirt_scrape_duration_seconds` and `libvirt_domains`.
/// A series that is not reported any more (domain gone or stopped, device unplugged) gets a stale marker, and a
/// failed collection marks everything stale, as the scrape loop does. A dropped connection is reopened on the
/// next collection. libvirt's C calls block, so they all run on this collector's own thread.
public final class LibvirtCollector: Sendable {
    public let config: LibvirtConfig
    let ingestor: Ingestor
    let logger: Logger
    let base: Labels
    private let worker: DedicatedThread
    private let connection: LibvirtConnection
    /// The last collection failed: further failures are logged at debug level until one succeeds.
    private let failing = Mutex(false)

    let clock: any VigilClock

    public init(config: LibvirtConfig, ingestor: Ingestor, logger: Logger, instance: String? = nil,
                clock: any VigilClock = WallClock()) {
        self.clock = clock
        self.config = config
        self.ingestor = ingestor
        self.logger = logger
        var l = config.labels
        l["job"] = l["job"] ?? "libvirt"
        l["instance"] = l["instance"] ?? instance ?? ProcessInfo.processInfo.hostName
        base = Labels(l)
        worker = DedicatedThread(name: "vigil-libvirt")
        connection = LibvirtConnection(uri: config.uri)
        ingestor.metrics.describe("vigil_libvirt_collections_total", "counter", "libvirt collections by result (success, failure).")
    }

    /// Collects until cancelled, then writes stale markers for everything last seen and closes the connection.
    public func run() async {
        var previous = Set<Labels>()
        let (s, atto) = config.interval.components
        let step = max(1, s * 1000 + atto / 1_000_000_000_000_000)
        while !Task.isCancelled {
            let start = clock.nowMillis()
            previous = await collectOnce(previous: previous, at: start)
            do { try await clock.sleep(untilMillis: start + step) } catch { break }
        }
        if !previous.isEmpty {
            let t = clock.nowMillis()
            let stale = previous.sorted().map { SeriesSamples(labels: $0, timestamps: [t], values: [.staleNaN]) }
            _ = try? await ingestor.ingest(stale, source: "libvirt")
        }
        await shutdown()
    }

    /// One collection at `ts` (ms): domain series, stale markers for series of `previous` not seen now, and the
    /// synthetic series. Returns the domain series seen, for the next round.
    @discardableResult
    public func collectOnce(previous: Set<Labels>, at ts: Int64) async -> Set<Labels> {
        let start = clock.nowMillis()
        let reading = await worker.run { [self] in read(at: ts) }
        let duration = Double(clock.nowMillis() - start) / 1000
        var batch = reading.series
        var current = Set<Labels>()
        for s in batch { current.insert(s.labels) }
        for s in previous.sorted() where !current.contains(s) {
            batch.append(SeriesSamples(labels: s, timestamps: [ts], values: [.staleNaN]))
        }
        func synthetic(_ name: String, _ v: Double) {
            batch.append(SeriesSamples(labels: base.setting("__name__", name), timestamps: [ts], values: [v]))
        }
        synthetic("libvirt_up", reading.ok ? 1 : 0)
        synthetic("libvirt_scrape_duration_seconds", duration)
        if reading.ok { synthetic("libvirt_domains", Double(reading.domains)) }
        ingestor.metrics.add("vigil_libvirt_collections_total", [Label("result", reading.ok ? "success" : "failure")])
        let wasFailing = failing.withLock { f in defer { f = !reading.ok }; return f }
        if let e = reading.error {
            logger.log(level: wasFailing ? .debug : .warning, "libvirt collection failed",
                       metadata: ["uri": "\(config.uri)", "error": "\(e)"])
        } else if reading.reconnected {
            logger.info("libvirt connected", metadata: ["uri": "\(config.uri)", "domains": "\(reading.domains)"])
        } else if wasFailing {
            logger.info("libvirt collection recovered", metadata: ["uri": "\(config.uri)", "domains": "\(reading.domains)"])
        }
        do {
            let out = try await ingestor.ingest(batch, source: "libvirt")
            if out.rejected > 0 {
                logger.debug("libvirt samples partly rejected", metadata: ["uri": "\(config.uri)", "result": "\(out.summary)"])
            }
        } catch {
            logger.warning("libvirt write failed", metadata: ["uri": "\(config.uri)", "error": "\(error)"])
        }
        return current
    }

    /// Closes the connection and ends the collector's thread. The collector cannot be used afterwards.
    public func shutdown() async {
        await worker.run { [connection] in connection.close() }
        worker.stop()
    }

    /// Runs `body` on the collector's thread with its open connection (nil when it cannot connect).
    /// For tests that change the test driver's state through the collector's own connection.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (OpaquePointer?) -> T) async -> T {
        await worker.run { [connection] in
            _ = connection.open()
            return connection.with { body($0) }
        }
    }

    // MARK: - Reading (on the collector's thread)

    struct Reading: Sendable {
        var ok = false
        var series: [SeriesSamples] = []
        var domains = 0
        var error: String?
        var reconnected = false
    }

    static let statsGroups: UInt32 = VIR_DOMAIN_STATS_STATE.rawValue | VIR_DOMAIN_STATS_CPU_TOTAL.rawValue
        | VIR_DOMAIN_STATS_BALLOON.rawValue | VIR_DOMAIN_STATS_VCPU.rawValue
        | VIR_DOMAIN_STATS_INTERFACE.rawValue | VIR_DOMAIN_STATS_BLOCK.rawValue

    private func read(at ts: Int64) -> Reading {
        var r = Reading()
        let opened = connection.open()
        switch opened {
        case .failed(let message):
            r.error = "cannot connect: \(message)"
            return r
        case .opened: r.reconnected = true
        case .alreadyOpen: break
        }
        connection.with { conn in
            guard let conn else { return }
            var records: UnsafeMutablePointer<virDomainStatsRecordPtr?>?
            let n = virConnectGetAllDomainStats(conn, Self.statsGroups, &records, 0)
            guard n >= 0 else {
                r.error = "virConnectGetAllDomainStats: \(libvirtLastError())"
                return
            }
            defer { virDomainStatsRecordListFree(records) }
            var out = DomainSeries(base: base, ts: ts)
            for i in 0..<Int(n) {
                guard let rec = records?[i]?.pointee, let dom = rec.dom else { continue }
                var params = StatsParams()
                if let first = rec.params {
                    for j in 0..<Int(rec.nparams) { params.add(first + j) }
                }
                Self.domainSeries(dom, params, into: &out)
            }
            r.ok = true
            r.domains = Int(n)
            r.series = out.series
        }
        if !r.ok, !connection.isAlive() {
            // The daemon went away (or the connection broke): reopen on the next collection.
            connection.close()
            r.error = (r.error ?? "") + " (connection lost; reconnecting on the next collection)"
        }
        return r
    }

    /// Every series of one domain: from the stats record, and from the per-domain calls for what it lacks.
    static func domainSeries(_ dom: virDomainPtr, _ p: StatsParams, into out: inout DomainSeries) {
        let name = virDomainGetName(dom).map { String(cString: $0) } ?? ""
        var uuidBuf = [CChar](repeating: 0, count: Int(vigil_uuid_string_buflen()))
        let uuid = virDomainGetUUIDString(dom, &uuidBuf) == 0 ? String(cString: uuidBuf) : ""
        out.domain = [("domain", name), ("uuid", uuid)]

        // The per-domain calls are RPCs on a remote connection: make them only for what the record lacks.
        var info = virDomainInfo()
        let needInfo = ["state.state", "cpu.time", "vcpu.current", "balloon.maximum", "balloon.current"].contains { p[$0] == nil }
        let haveInfo = needInfo && virDomainGetInfo(dom, &info) == 0
        let state = p["state.state"] ?? (haveInfo ? Double(info.state) : nil)
        if let state { out.add("libvirt_domain_info_state", state) }
        if let v = p["cpu.time"] ?? (haveInfo ? Double(info.cpuTime) : nil) {
            out.add("libvirt_domain_info_cpu_time_seconds_total", v / 1e9)
        }
        if let v = p["vcpu.current"] ?? (haveInfo ? Double(info.nrVirtCpu) : nil) {
            out.add("libvirt_domain_info_virtual_cpus", v)
        }
        if let v = p["balloon.maximum"] ?? (haveInfo ? Double(info.maxMem) : nil) {
            out.add("libvirt_domain_info_maximum_memory_bytes", v * 1024)
        }
        if let v = p["balloon.current"] ?? (haveInfo ? Double(info.memory) : nil) {
            out.add("libvirt_domain_info_memory_usage_bytes", v * 1024)
        }
        var activeKnown: Bool?
        func active() -> Bool {
            if let a = activeKnown { return a }
            activeKnown = virDomainIsActive(dom) == 1
            return activeKnown!
        }
        var xmlKnown: String??
        func xml() -> String? {
            if let x = xmlKnown { return x }
            xmlKnown = .some(domainXML(dom))
            return xmlKnown!
        }

        // vCPUs
        let vcpus = Int(p["vcpu.current"] ?? (haveInfo ? Double(info.nrVirtCpu) : 0))
        if p.hasPrefix("vcpu.0.") || p["vcpu.maximum"] != nil {
            let maxV = Int(p["vcpu.maximum"] ?? Double(vcpus))
            for i in 0..<maxV {
                let dev = [("vcpu", String(i))]
                if let s = p["vcpu.\(i).state"] { out.add("libvirt_domain_vcpu_state", s, dev) }
                if let t = p["vcpu.\(i).time"] { out.add("libvirt_domain_vcpu_time_seconds_total", t / 1e9, dev) }
                if let w = p["vcpu.\(i).wait"] { out.add("libvirt_domain_vcpu_wait_seconds_total", w / 1e9, dev) }
            }
        } else if vcpus > 0 && active() {
            var infos = [virVcpuInfo](repeating: virVcpuInfo(), count: vcpus)
            let got = virDomainGetVcpus(dom, &infos, Int32(vcpus), nil, 0)
            if got > 0 {
                for v in infos.prefix(Int(got)) {
                    let dev = [("vcpu", String(v.number))]
                    out.add("libvirt_domain_vcpu_state", Double(v.state), dev)
                    out.add("libvirt_domain_vcpu_time_seconds_total", Double(v.cpuTime) / 1e9, dev)
                }
            }
        }

        // Memory statistics (balloon driver / QEMU process)
        if Self.memoryStats.contains(where: { p["balloon.\($0.key)"] != nil }) {
            for m in Self.memoryStats {
                if let v = p["balloon.\(m.key)"] { out.add(m.name, v * m.scale) }
            }
        } else if active() {
            var stats = [virDomainMemoryStatStruct](repeating: virDomainMemoryStatStruct(),
                                                    count: Int(VIR_DOMAIN_MEMORY_STAT_NR.rawValue))
            let got = virDomainMemoryStats(dom, &stats, UInt32(stats.count), 0)
            if got > 0 {
                for s in stats.prefix(Int(got)) {
                    if let m = Self.memoryStats.first(where: { $0.tag == s.tag }) { out.add(m.name, Double(s.val) * m.scale) }
                }
            }
        }

        // Block devices
        if let count = p["block.count"] {
            for i in 0..<Int(count) {
                guard let dev = p.string("block.\(i).name") else { continue }
                let l = [("target_device", dev)]
                for b in Self.blockStats {
                    if let v = p["block.\(i).\(b.key)"] { out.add(b.name, v * b.scale, l) }
                }
            }
        } else if active(), let xml = xml() {
            for dev in deviceTargets(in: xml, element: "disk") {
                var s = virDomainBlockStatsStruct()
                guard virDomainBlockStats(dom, dev, &s, MemoryLayout<virDomainBlockStatsStruct>.size) == 0 else { continue }
                let l = [("target_device", dev)]
                // -1 means "not supported by this driver".
                func add(_ name: String, _ v: Int64) { if v >= 0 { out.add(name, Double(v), l) } }
                add("libvirt_domain_block_stats_read_requests_total", s.rd_req)
                add("libvirt_domain_block_stats_read_bytes_total", s.rd_bytes)
                add("libvirt_domain_block_stats_write_requests_total", s.wr_req)
                add("libvirt_domain_block_stats_write_bytes_total", s.wr_bytes)
                add("libvirt_domain_block_stats_errors_total", s.errs)
            }
        }

        // Network interfaces
        if let count = p["net.count"] {
            for i in 0..<Int(count) {
                guard let dev = p.string("net.\(i).name") else { continue }
                let l = [("target_device", dev)]
                for n in Self.netStats {
                    if let v = p["net.\(i).\(n.key)"] { out.add(n.name, v, l) }
                }
            }
        } else if active(), let xml = xml() {
            for dev in deviceTargets(in: xml, element: "interface") {
                var s = virDomainInterfaceStatsStruct()
                guard virDomainInterfaceStats(dom, dev, &s, MemoryLayout<virDomainInterfaceStatsStruct>.size) == 0 else { continue }
                let l = [("target_device", dev)]
                func add(_ name: String, _ v: Int64) { if v >= 0 { out.add(name, Double(v), l) } }
                add("libvirt_domain_interface_stats_receive_bytes_total", s.rx_bytes)
                add("libvirt_domain_interface_stats_receive_packets_total", s.rx_packets)
                add("libvirt_domain_interface_stats_receive_errors_total", s.rx_errs)
                add("libvirt_domain_interface_stats_receive_drops_total", s.rx_drop)
                add("libvirt_domain_interface_stats_transmit_bytes_total", s.tx_bytes)
                add("libvirt_domain_interface_stats_transmit_packets_total", s.tx_packets)
                add("libvirt_domain_interface_stats_transmit_errors_total", s.tx_errs)
                add("libvirt_domain_interface_stats_transmit_drops_total", s.tx_drop)
            }
        }
    }

    struct StatMap: Sendable {
        let key: String
        let name: String
        let scale: Double
        var tag: Int32 = -1
    }

    /// `balloon.<key>` of the BALLOON group (KiB, or counts) and the matching `virDomainMemoryStats` tag.
    static let memoryStats: [StatMap] = [
        StatMap(key: "rss", name: "libvirt_domain_memory_stats_rss_bytes", scale: 1024, tag: 7),
        StatMap(key: "available", name: "libvirt_domain_memory_stats_available_bytes", scale: 1024, tag: 5),
        StatMap(key: "unused", name: "libvirt_domain_memory_stats_unused_bytes", scale: 1024, tag: 4),
        StatMap(key: "usable", name: "libvirt_domain_memory_stats_usable_bytes", scale: 1024, tag: 8),
        StatMap(key: "disk_caches", name: "libvirt_domain_memory_stats_disk_cache_bytes", scale: 1024, tag: 10),
        StatMap(key: "swap_in", name: "libvirt_domain_memory_stats_swap_in_bytes", scale: 1024, tag: 0),
        StatMap(key: "swap_out", name: "libvirt_domain_memory_stats_swap_out_bytes", scale: 1024, tag: 1),
        StatMap(key: "major_fault", name: "libvirt_domain_memory_stats_major_fault_total", scale: 1, tag: 2),
        StatMap(key: "minor_fault", name: "libvirt_domain_memory_stats_minor_fault_total", scale: 1, tag: 3),
    ]

    /// `block.<i>.<key>` of the BLOCK group (times in ns).
    static let blockStats: [StatMap] = [
        StatMap(key: "rd.reqs", name: "libvirt_domain_block_stats_read_requests_total", scale: 1),
        StatMap(key: "rd.bytes", name: "libvirt_domain_block_stats_read_bytes_total", scale: 1),
        StatMap(key: "rd.times", name: "libvirt_domain_block_stats_read_time_seconds_total", scale: 1e-9),
        StatMap(key: "wr.reqs", name: "libvirt_domain_block_stats_write_requests_total", scale: 1),
        StatMap(key: "wr.bytes", name: "libvirt_domain_block_stats_write_bytes_total", scale: 1),
        StatMap(key: "wr.times", name: "libvirt_domain_block_stats_write_time_seconds_total", scale: 1e-9),
        StatMap(key: "fl.reqs", name: "libvirt_domain_block_stats_flush_requests_total", scale: 1),
        StatMap(key: "fl.times", name: "libvirt_domain_block_stats_flush_time_seconds_total", scale: 1e-9),
        StatMap(key: "allocation", name: "libvirt_domain_block_stats_allocation", scale: 1),
        StatMap(key: "capacity", name: "libvirt_domain_block_stats_capacity_bytes", scale: 1),
        StatMap(key: "physical", name: "libvirt_domain_block_stats_physicalsize_bytes", scale: 1),
    ]

    /// `net.<i>.<key>` of the INTERFACE group.
    static let netStats: [StatMap] = [
        StatMap(key: "rx.bytes", name: "libvirt_domain_interface_stats_receive_bytes_total", scale: 1),
        StatMap(key: "rx.pkts", name: "libvirt_domain_interface_stats_receive_packets_total", scale: 1),
        StatMap(key: "rx.errs", name: "libvirt_domain_interface_stats_receive_errors_total", scale: 1),
        StatMap(key: "rx.drop", name: "libvirt_domain_interface_stats_receive_drops_total", scale: 1),
        StatMap(key: "tx.bytes", name: "libvirt_domain_interface_stats_transmit_bytes_total", scale: 1),
        StatMap(key: "tx.pkts", name: "libvirt_domain_interface_stats_transmit_packets_total", scale: 1),
        StatMap(key: "tx.errs", name: "libvirt_domain_interface_stats_transmit_errors_total", scale: 1),
        StatMap(key: "tx.drop", name: "libvirt_domain_interface_stats_transmit_drops_total", scale: 1),
    ]

    static func domainXML(_ dom: virDomainPtr) -> String? {
        guard let p = virDomainGetXMLDesc(dom, 0) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// `dev` of each `<target dev='…'/>` inside the `<element …>…</element>` blocks of a domain XML, in order.
    static func deviceTargets(in xml: String, element: String) -> [String] {
        var out: [String] = []
        var rest = xml[...]
        while let open = rest.range(of: "<\(element) ") ?? rest.range(of: "<\(element)>") {
            let after = rest[open.upperBound...]
            guard let close = after.range(of: "</\(element)>") else { break }
            let block = after[..<close.lowerBound]
            if let t = block.range(of: "<target ") {
                let tag = block[t.upperBound...].prefix { $0 != ">" }
                for q in ["'", "\""] {
                    if let d = tag.range(of: "dev=\(q)") {
                        let value = tag[d.upperBound...].prefix { String($0) != q }
                        if !value.isEmpty { out.append(String(value)) }
                        break
                    }
                }
            }
            rest = after[close.upperBound...]
        }
        return out
    }
}

/// The typed parameters of one `virDomainStatsRecord`, by field name.
struct StatsParams {
    private var numbers: [String: Double] = [:]
    private var strings: [String: String] = [:]

    mutating func add(_ p: UnsafePointer<virTypedParameter>) {
        guard let f = vigil_param_field(p) else { return }
        let field = String(cString: f)
        var ok: Int32 = 0
        let v = vigil_param_number(p, &ok)
        if ok != 0 {
            numbers[field] = v
        } else if let s = vigil_param_string(p) {
            strings[field] = String(cString: s)
        }
    }

    subscript(_ field: String) -> Double? { numbers[field] }
    func string(_ field: String) -> String? { strings[field] }
    func hasPrefix(_ prefix: String) -> Bool { numbers.keys.contains { $0.hasPrefix(prefix) } }
}

/// Builds the series of one collection: the collector's labels + the current domain's + per-device labels.
struct DomainSeries {
    let base: Labels
    let ts: Int64
    var domain: [(String, String)] = []
    var series: [SeriesSamples] = []

    init(base: Labels, ts: Int64) {
        self.base = base
        self.ts = ts
    }

    mutating func add(_ name: String, _ value: Double, _ extra: [(String, String)] = []) {
        guard value.isFinite else { return }
        var l = base.setting("__name__", name)
        for (k, v) in domain { l.set(k, v) }
        for (k, v) in extra { l.set(k, v) }
        series.append(SeriesSamples(labels: l, timestamps: [ts], values: [value]))
    }
}

/// libvirt's last error on this thread (libvirt keeps errors per thread), or a generic text.
func libvirtLastError() -> String {
    guard let m = virGetLastErrorMessage() else { return "unknown libvirt error" }
    return String(cString: m)
}

/// A `virConnectPtr` behind a lock. Used only from the collector's thread; the lock keeps it honest anyway.
final class LibvirtConnection: @unchecked Sendable {
    let uri: String
    private let lock = NSLock()
    private var ptr: OpaquePointer?

    enum OpenResult { case alreadyOpen, opened, failed(String) }

    /// libvirt's one-time global setup (thread-safe once done) and silencing of its stderr error printer.
    private static let initialized: Bool = {
        vigil_libvirt_silence_errors()
        return virInitialize() == 0
    }()

    init(uri: String) { self.uri = uri }

    /// Opens the connection if it is not open: read-only, except for the in-process `test:///` driver (whose
    /// state tests change through the same connection).
    func open() -> OpenResult {
        _ = Self.initialized
        return lock.withLock {
            if ptr != nil { return .alreadyOpen }
            let c = uri.hasPrefix("test:///") ? virConnectOpen(uri) : virConnectOpenReadOnly(uri)
            guard let c else { return .failed(libvirtLastError()) }
            ptr = c
            return .opened
        }
    }

    func with<T>(_ body: (OpaquePointer?) -> T) -> T {
        lock.withLock { body(ptr) }
    }

    func isAlive() -> Bool {
        lock.withLock { ptr.map { virConnectIsAlive($0) == 1 } ?? false }
    }

    func close() {
        lock.withLock {
            if let p = ptr { virConnectClose(p) }
            ptr = nil
        }
    }
}
