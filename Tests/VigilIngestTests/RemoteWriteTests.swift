import Foundation
import Testing
import VigilCore
import VigilIngest

@Suite struct RemoteWriteV1Tests {
    @Test func decodesBodyBuiltByRwLoad() throws {
        let body = Array(Data(base64Encoded: RwLoadFixture.snappyBase64)!)
        let r = try RemoteWriteV1.decodeSnappy(body)
        #expect(r.series.count == 3)
        #expect(r.stats.samples == 6)
        #expect(r.series[0].labels == Labels(["__name__": "node_cpu_seconds_total", "cpu": "0", "dc": "dc-1",
                                              "host": "host-0000", "job": "node", "mode": "idle"]))
        #expect(r.series[0].samples == [Sample(1_700_000_000_000, 12345.5), Sample(1_700_000_015_000, 12346.75)])
        #expect(r.series[1].samples == [Sample(1_700_000_000_000, 0.42)])
        let s2 = r.series[2]
        #expect(s2.labels.metricName == "libvirt_domain_memory_rss_bytes")
        #expect(s2.values[0].isNaN && s2.values[1] == .infinity)
        #expect(s2.values[2].bitPattern == (-0.0).bitPattern && s2.timestamps[2] == -5)
    }

    @Test(arguments: [1, 3, 17])
    func roundTrip(hosts: Int) throws {
        var series = benchLikeSeries(hosts: hosts, samples: 3)
        series[0].values[1] = .staleNaN
        series[1].values[0] = -.infinity
        let meta = [MetricMetadata(family: "node_load1", type: .gauge, help: "1m load average.", unit: ""),
                    MetricMetadata(family: "node_cpu_seconds_total", type: .counter, help: "Seconds the CPUs spent in each mode.", unit: "seconds")]
        let r = try RemoteWriteV1.decodeSnappy(RemoteWriteV1.encodeSnappy(series, metadata: meta))
        #expect(r.series == series)
        #expect(r.series[0].values[1].isStaleNaN)
        #expect(r.metadata == meta)
        #expect(r.stats.samples == series.count * 3)
    }

    @Test func countsAndSkipsExemplarsAndHistograms() throws {
        var w = ProtoWriter()
        w.message(1) { ts in
            ts.message(1) { $0.stringField(1, "__name__"); $0.stringField(2, "m") }
            ts.message(2) { $0.doubleField(1, 1); $0.int64Field(2, 5) }
            ts.message(3) { $0.doubleField(2, 9) }  // exemplar
            ts.message(4) { $0.varintField(1, 3) }  // native histogram
            ts.message(4) { $0.varintField(1, 4) }
            ts.varintField(99, 7)  // unknown field: skipped
        }
        let r = try RemoteWriteV1.decode(w.bytes)
        #expect(r.stats.samples == 1 && r.stats.exemplars == 1 && r.stats.histograms == 2)
        #expect(r.stats.skipped[.nativeHistogram] == 2 && r.stats.skipped[.exemplar] == 1)
        #expect(r.series.map(\.samples) == [[Sample(5, 1)]])
    }

    static func body(_ labels: [(String, [UInt8])], extra: ((inout ProtoWriter) -> Void)? = nil) -> [UInt8] {
        var w = ProtoWriter()
        w.message(1) { ts in
            for (n, v) in labels { ts.message(1) { $0.stringField(1, n); $0.bytesField(2, v) } }
            ts.message(2) { $0.doubleField(1, 1); $0.int64Field(2, 1) }
            extra?(&ts)
        }
        return w.bytes
    }

    static let good = body([("__name__", Array("up".utf8)), ("job", Array("a".utf8))])
    static let manyLabels = body([("__name__", Array("up".utf8))] + (0..<100).map { ("l\($0)", Array("v".utf8)) })

    /// Malformed bodies and the documented error code (docs/ingestion-formats.md, "remote_write").
    @Test(arguments: [
        ("garbage", [0xFF, 0xFF, 0xFF, 0xFF], IngestError.Code.protobuf),
        ("truncated", Array(good.dropLast(4)), .protobuf),
        ("field 0", [0x02, 0x00], .protobuf),
        ("wire type 7", [0x0F, 0x00], .protobuf),
        ("group wire type", [0x0B], .protobuf),
        ("timeseries as varint", [0x08, 0x01], .protobuf),
        ("length past end", [0x0A, 0x7F, 0x0A], .protobuf),
        ("varint too long", [0x10] + [UInt8](repeating: 0xFF, count: 11), .protobuf),
        ("sample value as varint", body([("__name__", Array("up".utf8))]) { $0.message(2) { $0.varintField(1, 1) } }, .protobuf),
        ("bad UTF-8 in label value", body([("__name__", Array("up".utf8)), ("job", [0xFF, 0xFE])]), .invalidUTF8),
        ("no metric name", body([("job", Array("a".utf8))]), .invalidLabel),
        ("invalid label name", body([("__name__", Array("up".utf8)), ("a-b", Array("x".utf8))]), .invalidLabel),
        ("duplicate label", body([("__name__", Array("up".utf8)), ("a", Array("1".utf8)), ("a", Array("2".utf8))]), .duplicateLabel),
        ("100 labels", manyLabels, .limit),
        ("label value over 4096 bytes", body([("__name__", Array("up".utf8)), ("a", [UInt8](repeating: 0x61, count: 5000))]), .limit),
    ] as [(String, [UInt8], IngestError.Code)])
    func rejectsMalformed(name: String, body: [UInt8], code: IngestError.Code) throws {
        let e = try #require(throws: IngestError.self, "\(name)") { try RemoteWriteV1.decode(body) }
        #expect(e.code == code, "\(name): \(e)")
        #expect(!e.message.contains("\n"))
        #expect(e.offset != nil || e.series != nil, "\(name): error must name a byte offset or a series: \(e)")
    }

    @Test func errorNamesSeriesIndex() throws {
        let bad = Self.body([("__name__", Array("up".utf8)), ("job", [0xC3])])
        let e = try #require(throws: IngestError.self) { try RemoteWriteV1.decode(Self.good + Self.good + bad) }
        #expect(e.series == 2)
        #expect(e.message.hasPrefix("timeseries #2: "))
    }

    @Test func emptyBodyIsEmptyRequest() throws {
        #expect(try RemoteWriteV1.decode([UInt8]()).series.isEmpty)
        #expect(try RemoteWriteV1.decodeSnappy(Snappy.compress([])).series.isEmpty)
    }

    @Test func mutatedBodiesNeverCrash() {
        let seed: UInt64 = 0xC0FFEE
        var rng = SeededRNG(seed: seed)
        let valid = RemoteWriteV1.encode(benchLikeSeries(hosts: 2, samples: 2),
                                         metadata: [MetricMetadata(family: "node_load1", type: .gauge, help: "h")])
        var errors = 0
        for i in 0..<5000 {
            let m = mutate(valid, rng: &rng)
            do { expectValid(try RemoteWriteV1.decode(m), seed: seed, iteration: i) } catch { errors += 1 }
        }
        #expect(errors > 0)
    }
}

@Suite struct RemoteWriteV2Tests {
    @Test(arguments: [1, 4])
    func roundTrip(hosts: Int) throws {
        let series = benchLikeSeries(hosts: hosts, samples: 2)
        let meta = [MetricMetadata(family: "node_load1", type: .gauge, help: "1m load average.", unit: ""),
                    MetricMetadata(family: "node_cpu_seconds_total", type: .counter, help: "CPU seconds.", unit: "seconds")]
        let created = series.indices.map { Int64($0 % 2 == 0 ? 0 : 1_699_999_000_000 + $0) }
        let r = try RemoteWriteV2.decodeSnappy(RemoteWriteV2.encodeSnappy(series, metadata: meta, createdTimestamps: created))
        #expect(r.series == series)
        #expect(Set(r.metadata) == Set(meta))
        #expect(r.createdTimestamps == created)
        #expect(r.stats.samples == series.count * 2)
    }

    @Test func symbolsMayFollowSeries() throws {
        var w = ProtoWriter()
        w.message(5) { ts in
            var refs = ProtoWriter()
            for r in [1, 2, 3, 4] as [UInt64] { refs.varint(r) }
            ts.bytesField(1, refs.bytes)
            ts.message(2) { $0.doubleField(1, 2.5); $0.int64Field(2, 10) }
        }
        for s in ["", "__name__", "up", "job", "api"] { w.stringField(4, s) }
        let r = try RemoteWriteV2.decode(w.bytes)
        #expect(r.series == [SeriesSamples(labels: Labels(["__name__": "up", "job": "api"]), samples: [Sample(10, 2.5)])])
    }

    static func req(symbols: [[UInt8]], refs: [UInt64], packed: Bool = true, extra: ((inout ProtoWriter) -> Void)? = nil) -> [UInt8] {
        var w = ProtoWriter()
        for s in symbols { w.bytesField(4, s) }
        w.message(5) { ts in
            if packed {
                var p = ProtoWriter()
                for r in refs { p.varint(r) }
                ts.bytesField(1, p.bytes)
            } else {
                for r in refs { ts.varintField(1, r) }
            }
            ts.message(2) { $0.doubleField(1, 1); $0.int64Field(2, 1) }
            extra?(&ts)
        }
        return w.bytes
    }

    static let syms: [[UInt8]] = ["", "__name__", "up", "job", "a"].map { Array($0.utf8) }

    @Test func unpackedRefsAccepted() throws {
        let r = try RemoteWriteV2.decode(Self.req(symbols: Self.syms, refs: [1, 2, 3, 4], packed: false))
        #expect(r.series.first?.labels == Labels(["__name__": "up", "job": "a"]))
    }

    @Test(arguments: [
        ("ref out of range", req(symbols: syms, refs: [1, 2, 3, 9]), IngestError.Code.badReference),
        ("odd ref count", req(symbols: syms, refs: [1, 2, 3]), .badReference),
        ("symbols[0] not empty", req(symbols: Array(syms.dropFirst()), refs: [0, 1]), .badReference),
        ("bad UTF-8 symbol", req(symbols: syms + [[0xE2, 0x28, 0xA1]], refs: [1, 2]), .invalidUTF8),
        ("help ref out of range", req(symbols: syms, refs: [1, 2]) { ts in ts.message(5) { $0.varintField(1, 2); $0.varintField(3, 77) } }, .badReference),
        ("truncated", Array(req(symbols: syms, refs: [1, 2]).dropLast(3)), .protobuf),
        ("symbols as varint", [0x20, 0x01], .protobuf),
        ("refs as fixed64", [0x2A, 0x09, 0x09, 1, 2, 3, 4, 5, 6, 7, 8], .protobuf),
        ("many labels", req(symbols: syms, refs: [1, 2] + (0..<200).flatMap { _ in [3, 4] as [UInt64] }), .limit),
    ] as [(String, [UInt8], IngestError.Code)])
    func rejectsMalformed(name: String, body: [UInt8], code: IngestError.Code) throws {
        let e = try #require(throws: IngestError.self, "\(name)") { try RemoteWriteV2.decode(body) }
        #expect(e.code == code, "\(name): \(e)")
        #expect(!e.message.contains("\n"))
    }

    @Test func mutatedBodiesNeverCrash() {
        let seed: UInt64 = 0xBEEF2
        var rng = SeededRNG(seed: seed)
        let valid = RemoteWriteV2.encode(benchLikeSeries(hosts: 2, samples: 2),
                                         metadata: [MetricMetadata(family: "node_load1", type: .gauge, help: "h")])
        var errors = 0
        for i in 0..<5000 {
            let m = mutate(valid, rng: &rng)
            do { expectValid(try RemoteWriteV2.decode(m), seed: seed, iteration: i) } catch { errors += 1 }
        }
        #expect(errors > 0)
    }
}

@Suite struct RemoteWriteNegotiationTests {
    @Test(arguments: [
        (nil, nil, RemoteWrite.Version.v1),
        ("application/x-protobuf", "snappy", .v1),
        ("application/x-protobuf;proto=prometheus.WriteRequest", "snappy", .v1),
        ("application/x-protobuf; proto=io.prometheus.write.v2.Request", "snappy", .v2),
        ("Application/X-Protobuf;proto=io.prometheus.write.v2.Request", nil, .v2),
    ] as [(String?, String?, RemoteWrite.Version)])
    func accepts(contentType: String?, encoding: String?, want: RemoteWrite.Version) throws {
        #expect(try RemoteWrite.negotiate(contentType: contentType, contentEncoding: encoding) == want)
    }

    @Test(arguments: [
        ("text/plain", "snappy"),
        ("application/x-protobuf", "gzip"),
        ("application/x-protobuf;proto=io.prometheus.write.v3.Request", "snappy"),
        ("application/json", nil),
    ] as [(String, String?)])
    func refusesWith415Code(contentType: String, encoding: String?) throws {
        let e = try #require(throws: IngestError.self) { try RemoteWrite.negotiate(contentType: contentType, contentEncoding: encoding) }
        #expect(e.code == .unsupported)
    }

    @Test func decodesBothVersionsThroughOneEntryPoint() throws {
        let series = benchLikeSeries(hosts: 1, samples: 2)
        let (v1, r1) = try RemoteWrite.decode(RemoteWriteV1.encodeSnappy(series), contentType: "application/x-protobuf", contentEncoding: "snappy")
        let (v2, r2) = try RemoteWrite.decode(RemoteWriteV2.encodeSnappy(series), contentType: RemoteWriteV2.contentType, contentEncoding: "snappy")
        #expect(v1 == .v1 && v2 == .v2)
        #expect(r1.series == series && r2.series == series)
    }
}
