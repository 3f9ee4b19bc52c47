import Foundation
import Testing
import VigilCore
import VigilIngest
import VigilStore
@testable import VigilServer
@testable import VigilIngestPath

/// The remote_write series cache (label bytes → store ref) against the real store over real HTTP.
@Suite("remote_write series cache") struct SeriesCacheTests {
    static let rw = ["Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
                     "X-Prometheus-Remote-Write-Version": "0.1.0"]

    static func series(_ i: Int, _ t: Int64, _ v: Double, name: String = "node_cpu_seconds_total") -> SeriesSamples {
        SeriesSamples(labels: Labels(["__name__": name, "instance": "host-\(i)", "mode": "idle"]),
                      timestamps: [t], values: [v])
    }

    static func body(_ s: [SeriesSamples]) -> Data { Data(RemoteWriteV1.encodeSnappy(s)) }

    static func post(_ s: TestServer, _ series: [SeriesSamples]) async throws -> HTTPAnswer {
        try await http("POST", s.base + "/api/v1/write", headers: rw, body: body(series))
    }

    static func counter(_ s: TestServer, _ line: String) async throws -> Double? {
        let m = try await http("GET", s.base + "/metrics").text
        for l in m.split(separator: "\n") where l.hasPrefix(line + " ") {
            return Double(l.dropFirst(line.count + 1))
        }
        return nil
    }

    @Test func repeatedSeriesGoByReferenceAndReadBackEqual() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        // Twice the same series in one request (two timestamps), as remote_write shards send them.
        let first = (0..<5).map { Self.series($0, 1000, Double($0)) } + (0..<5).map { Self.series($0, 2000, Double($0) + 0.5) }
        let r1 = try await Self.post(s, first)
        #expect(r1.status == 204, "\(r1.text)")
        #expect(s.server.ingestor.seriesCache.count == 5)
        #expect(try await Self.counter(s, "vigil_series_cache_lookups_total{result=\"miss\"}") == 10)
        var written = 10
        for k in 3...6 {
            let next = (0..<5).map { Self.series($0, Int64(k) * 1000, Double($0 * k)) }
            let r = try await Self.post(s, next)
            #expect(r.status == 204, "\(r.text)")
            #expect(r.header("X-Prometheus-Remote-Write-Samples-Written") == "5")
            written += 5
        }
        #expect(try await Self.counter(s, "vigil_series_cache_lookups_total{result=\"hit\"}") == 20)
        #expect(try await Self.counter(s, "vigil_series_cache_lookups_total{result=\"miss\"}") == 10)
        #expect(try await Self.counter(s, "vigil_ingested_samples_total{source=\"remote_write\"}") == Double(written))
        let got = try s.everything()
        var want: [SeriesSamples] = []
        for i in 0..<5 {
            let later: [Double] = (3...6).map { k in Double(i * k) }
            let values: [Double] = [Double(i), Double(i) + 0.5] + later
            want.append(SeriesSamples(labels: Self.series(i, 0, 0).labels,
                                      timestamps: [1000, 2000, 3000, 4000, 5000, 6000], values: values))
        }
        want.sort { $0.labels < $1.labels }
        #expect(got == want)
        // A resend of the last request is accepted silently (identical samples), an older one is out of order.
        let again = try await Self.post(s, (0..<5).map { Self.series($0, 6000, Double($0 * 6)) })
        #expect(again.status == 204, "\(again.text)")
        let old = try await Self.post(s, [Self.series(0, 1500, 1)])
        #expect(old.status == 400 && old.text.contains("out_of_order=1"), "\(old.text)")
        #expect(try s.sampleCount() == written)
    }

    @Test func staleReferenceIsResentByLabels() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        let a = Self.series(1, 1000, 1), b = Self.series(2, 1000, 2)
        #expect(try await Self.post(s, [a, b]).status == 204)
        // Make the cache point series a at a ref the store does not have (what retention dropping it looks like).
        let cols = try RemoteWriteColumns(message: RemoteWriteV1.encode([a]))
        cols.withLabelKey(0) { k in
            s.server.ingestor.seriesCache.withLock { $0.insert(SeriesRefCache.hash(k!), ref: 987_654) }
        }
        let r = try await Self.post(s, [Self.series(1, 2000, 10), Self.series(2, 2000, 20), Self.series(1, 3000, 11)])
        #expect(r.status == 204, "\(r.text)")
        #expect(r.header("X-Prometheus-Remote-Write-Samples-Written") == "3")
        let got = try s.everything()
        #expect(got.first { $0.labels == a.labels } == SeriesSamples(labels: a.labels, timestamps: [1000, 2000, 3000], values: [1, 10, 11]))
        #expect(got.first { $0.labels == b.labels } == SeriesSamples(labels: b.labels, timestamps: [1000, 2000], values: [2, 20]))
        // The cache now holds the real ref again: the next request is all hits and lands.
        let hitsBefore = try await Self.counter(s, "vigil_series_cache_lookups_total{result=\"hit\"}") ?? 0
        #expect(try await Self.post(s, [Self.series(1, 4000, 12)]).status == 204)
        let hitsAfter = try await Self.counter(s, "vigil_series_cache_lookups_total{result=\"hit\"}")
        let dump = try await http("GET", s.base + "/metrics").text
        #expect(hitsAfter == hitsBefore + 1, "\(hitsBefore) \(String(describing: hitsAfter)) \(dump)")
        #expect(try s.sampleCount() == 6)
    }

    @Test func malformedBodyAfterCachedRequestWritesNothing() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        #expect(try await Self.post(s, [Self.series(1, 1000, 1), Self.series(2, 1000, 2)]).status == 204)
        // Known series first, then an invalid new one: 400 naming it, and the known series' samples are not written.
        let bad = try await Self.post(s, [Self.series(1, 2000, 1), Self.series(3, 2000, 3, name: "bad-name")])
        #expect(bad.status == 400)
        #expect(bad.text.contains("timeseries #1") && bad.text.contains("bad-name"), "\(bad.text)")
        // Known series, then a truncated sample: the protobuf error, nothing written.
        var raw = RemoteWriteV1.encode([Self.series(1, 3000, 1), Self.series(2, 3000, 2)])
        raw.removeLast(3)
        let cut = try await http("POST", s.base + "/api/v1/write", headers: Self.rw, body: Data(Snappy.compress(raw)))
        #expect(cut.status == 400, "\(cut.text)")
        #expect(cut.text.contains("cannot decode remote_write 1.0 request"), "\(cut.text)")
        // A corrupt snappy block after a cached request.
        let junk = try await http("POST", s.base + "/api/v1/write", headers: Self.rw, body: Data([0x05, 0xff, 0x00]))
        #expect(junk.status == 400)
        #expect(try s.sampleCount() == 2)
    }

    @Test func limitsStillHoldForNewSeries() async throws {
        var o = ServerOptions()
        o.limits.maxActiveSeries = 2
        let s = try await TestServer.start(options: o)
        defer { Task { await s.stop() } }
        #expect(try await Self.post(s, [Self.series(1, 1000, 1), Self.series(2, 1000, 2)]).status == 204)
        // Two cached series and a third, new one over the limit: the known ones land, the new one is refused.
        let r = try await Self.post(s, [Self.series(1, 2000, 1), Self.series(3, 2000, 3), Self.series(2, 2000, 2)])
        #expect(r.status == 400)
        #expect(r.text.contains("series_limit=1") && r.text.contains("host-3"), "\(r.text)")
        #expect(r.header("X-Prometheus-Remote-Write-Samples-Written") == "2")
        #expect(try s.sampleCount() == 4)
        #expect(s.server.ingestor.seriesCache.count == 2)
        // Per-series label limits apply to uncached series whatever the cache holds.
        var o2 = ServerOptions()
        o2.limits.maxLabelsPerSeries = 3
        let s2 = try await TestServer.start(options: o2)
        defer { Task { await s2.stop() } }
        #expect(try await Self.post(s2, [Self.series(1, 1000, 1)]).status == 204)
        let wide = SeriesSamples(labels: Labels(["__name__": "m", "a": "1", "b": "2", "c": "3"]), timestamps: [1], values: [1])
        let w = try await Self.post(s2, [Self.series(1, 2000, 1), wide])
        #expect(w.status == 400 && w.text.contains("labels"), "\(w.text)")
        #expect(try s2.sampleCount() == 1)
    }

    /// The cache holds 128-bit fingerprints, not the label bytes: two keys with one fingerprint would misfile
    /// samples, so check the fingerprint tells apart what a sender could send: zero paddings and lengths, one-bit
    /// differences at every position, and 300,000 node_exporter-shaped label keys.
    @Test func fingerprintsTellKeysApart() {
        func fp(_ b: [UInt8]) -> SeriesKey { b.withUnsafeBytes { SeriesRefCache.hash($0) } }
        var seen: [SeriesKey: String] = [:]
        var clashes: [String] = []
        func add(_ b: [UInt8], _ name: String) {
            let k = fp(b)
            if let other = seen[k] { clashes.append("\(name) = \(other)") } else { seen[k] = name }
        }
        for n in 0..<48 { add([UInt8](repeating: 0, count: n), "\(n) zero bytes") }
        let base = Array("__name__\u{0}node_cpu_seconds_total\u{0}cpu\u{0}7\u{0}mode\u{0}idle".utf8)
        for i in base.indices { for bit in 0..<8 { var b = base; b[i] ^= 1 << bit; add(b, "bit \(bit) of byte \(i)") } }
        add(base, "base")
        for host in 0..<3_000 {
            for cpu in 0..<20 {
                for mode in ["idle", "user", "system", "iowait", "steal"] {
                    add(Array("__name__\u{0}node_cpu_seconds_total\u{0}cpu\u{0}\(cpu)\u{0}instance\u{0}host-\(host):9100\u{0}mode\u{0}\(mode)".utf8),
                        "host \(host) cpu \(cpu) \(mode)")
                }
            }
        }
        #expect(clashes.isEmpty, "\(clashes.count) clashes, e.g. \(clashes.prefix(3))")
        #expect(seen.count == 48 + base.count * 8 + 1 + 300_000)
        // the same bytes always give the same fingerprint within a process
        #expect(fp(base) == fp(base))
    }

    @Test func evictionKeepsWritesCorrect() async throws {
        // Unit: two generations of 2 entries.
        let c = SeriesRefCache(maxPerGeneration: 2)
        func key(_ s: String) -> SeriesKey { Array(s.utf8).withUnsafeBytes { SeriesRefCache.hash($0) } }
        func get(_ s: String) -> UInt64 { c.withLock { $0.lookup(key(s)) } }
        func put(_ s: String, _ ref: UInt64) { c.withLock { $0.insert(key(s), ref: ref) } }
        put("a", 1); put("b", 2)
        #expect(get("a") == 1 && get("b") == 2 && c.rotations == 0)
        put("c", 3)                       // current {a,b} full: becomes previous; current {c}
        #expect(c.rotations == 1)
        #expect(get("a") == 1)            // found in previous, moved forward: current {c,a}
        put("d", 4)                       // rotates again: previous {c,a}, current {d}; b is gone
        #expect(c.rotations == 2)
        #expect(get("b") == 0)
        #expect(get("a") == 1 && get("c") == 3 && get("d") == 4)
        c.withLock { $0.remove(key("a")) }
        #expect(get("a") == 0)
        #expect(c.count <= 4)

        // End to end with a tiny cache: 12 series through 3 slots, every sample stored.
        let s = try await TestServer.start(configure: { _ in })
        defer { Task { await s.stop() } }
        let ing = Ingestor(appender: s.store, limits: SeriesLimits(), metrics: SelfMetrics(), seriesCacheSize: 3)
        let dec = StoreWiring.decoders()
        for round in 1...4 {
            let batch = (0..<12).map { Self.series($0, Int64(round) * 1000, Double(round)) }
            let body = RemoteWriteV1.encodeSnappy(batch)
            let cols = try body.withUnsafeBytes { try dec.remoteWriteColumns!($0) }
            let out = try await ing.ingest(try ing.resolve(cols), source: "test")
            #expect(out.accepted == 12 && out.rejected == 0)
        }
        #expect(ing.seriesCache.count <= 6 && ing.seriesCache.rotations > 0)
        #expect(try s.sampleCount() == 48)
        #expect(try s.everything().allSatisfy { $0.timestamps == [1000, 2000, 3000, 4000] })
    }
}
