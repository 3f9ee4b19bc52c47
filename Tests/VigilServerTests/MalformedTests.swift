import Foundation
import Testing
import VigilCore
import VigilIngest
@testable import VigilServer
@testable import VigilIngestPath
@testable import VigilCollectors

/// Minimal protobuf writers for hand-made (broken) remote_write bodies.
private func pbLen(_ field: UInt64, _ payload: [UInt8]) -> [UInt8] { varint(field << 3 | 2) + varint(UInt64(payload.count)) + payload }
private func pbLabel(_ n: [UInt8], _ v: [UInt8]) -> [UInt8] { pbLen(1, n) + pbLen(2, v) }
private func pbSample(_ v: Double, _ t: Int64) -> [UInt8] {
    var b: [UInt8] = [0x09]
    withUnsafeBytes(of: v.bitPattern.littleEndian) { b += $0 }
    return b + [0x10] + varint(UInt64(bitPattern: t))
}
private func pbSeries(_ labels: [([UInt8], [UInt8])], _ samples: [[UInt8]]) -> [UInt8] {
    var ts: [UInt8] = []
    for (n, v) in labels { ts += pbLen(1, pbLabel(n, v)) }
    for s in samples { ts += pbLen(2, s) }
    return pbLen(1, ts)
}

private let rwHeaders = ["Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
                         "X-Prometheus-Remote-Write-Version": "0.1.0"]

/// Every endpoint with VigilIngest's real parsers and the SQLite store: each malformed body gets the documented
/// status and a one-line message naming what is wrong, and the store holds exactly what it held before.
@Suite("Malformed input, real parsers") struct MalformedTests {
    struct Case: Sendable, CustomStringConvertible {
        let name: String
        let path: String
        let headers: [String: String]
        let body: [UInt8]
        let status: Int
        let message: String
        var description: String { "\(path): \(name)" }
    }

    static let now = Int64(Date().timeIntervalSince1970 * 1000)

    static let cases: [Case] = {
        // Fixed garbage (a seeded LCG), not fresh random bytes each run: random bytes that happened to start with "#"
        // made the text parser's first error land on line 2 (CI flake); 0xFF first is no metric name, no comment.
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        let garbage: [UInt8] = [0xFF] + (1..<512).map { _ in
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: x >> 56)
        }
        let good = RemoteWriteV1.encodeSnappy([SeriesSamples(labels: Labels(["__name__": "m", "a": "b"]), timestamps: [now], values: [1])])
        let wide = Labels([("__name__", "wide")] + (0..<69).map { ("l\($0)", "v") })
        let wideLine = "wide{" + (0..<69).map { "l\($0)=\"v\"" }.joined(separator: ",") + "} 1\n"
        let badUTF8 = pbSeries([(Array("__name__".utf8), Array("m".utf8)), (Array("a".utf8), [0xff, 0xfe])], [pbSample(1, now)])
        var wrongType = pbSeries([(Array("__name__".utf8), Array("m".utf8))], [[0x08, 0x01, 0x10, 0x01]])
        wrongType = Array(wrongType)
        let textH = ["Content-Type": "text/plain; version=0.0.4"]
        let influxH = ["Content-Type": "text/plain; charset=utf-8"]
        let jsonH = ["Content-Type": "application/json"]
        let pbH = ["Content-Type": "application/x-protobuf"]
        return [
            Case(name: "garbage bytes", path: "/api/v1/write", headers: rwHeaders, body: garbage, status: 400, message: "cannot decompress snappy block"),
            Case(name: "empty body", path: "/api/v1/write", headers: rwHeaders, body: [], status: 400, message: "body is empty"),
            Case(name: "truncated snappy", path: "/api/v1/write", headers: rwHeaders, body: Array(good.prefix(good.count / 2)), status: 400, message: "cannot decompress snappy block"),
            Case(name: "protobuf without snappy", path: "/api/v1/write", headers: rwHeaders,
                 body: RemoteWriteV1.encode([SeriesSamples(labels: Labels(["__name__": "m"]), timestamps: [now], values: [1])]),
                 status: 400, message: "cannot decompress snappy block"),
            Case(name: "invalid protobuf", path: "/api/v1/write", headers: rwHeaders, body: Snappy.compress([0x0a, 0x7f, 0x01]), status: 400, message: "runs past the end"),
            Case(name: "bad UTF-8 label value", path: "/api/v1/write", headers: rwHeaders, body: Snappy.compress(badUTF8), status: 400, message: "not valid UTF-8"),
            Case(name: "wrong wire type for the sample value", path: "/api/v1/write", headers: rwHeaders, body: Snappy.compress(wrongType), status: 400, message: "wire type"),
            Case(name: "70 labels", path: "/api/v1/write", headers: rwHeaders,
                 body: RemoteWriteV1.encodeSnappy([SeriesSamples(labels: wide, timestamps: [now], values: [1])]), status: 400, message: "more than 64 labels in one series"),
            Case(name: "2.0 garbage", path: "/api/v1/write",
                 headers: ["Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request", "Content-Encoding": "snappy"],
                 body: Snappy.compress(garbage), status: 400, message: "cannot decode"),
            Case(name: "1.0 body declared gzip", path: "/api/v1/write",
                 headers: ["Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"], body: good, status: 415, message: "Content-Encoding"),

            Case(name: "garbage bytes", path: "/api/v1/import/prometheus", headers: textH, body: garbage, status: 400, message: "line 1"),
            Case(name: "unterminated label set", path: "/api/v1/import/prometheus", headers: textH, body: Array("m{case=\"bad\" 1\n".utf8), status: 400, message: "line 1 column"),
            Case(name: "non-numeric value", path: "/api/v1/import/prometheus", headers: textH, body: Array("m 1\nm2 abc\n".utf8), status: 400, message: "line 2"),
            Case(name: "bad UTF-8 in a label value", path: "/api/v1/import/prometheus", headers: textH, body: Array("m{a=\"".utf8) + [0xff, 0xfe] + Array("\"} 1\n".utf8), status: 400, message: "UTF-8"),
            Case(name: "one bad line between good ones", path: "/api/v1/import/prometheus", headers: textH, body: Array("ok_a 1\nbad{ 1\nok_b 2\n".utf8), status: 400, message: "line 2"),
            Case(name: "70 labels", path: "/api/v1/import/prometheus", headers: textH, body: Array(wideLine.utf8), status: 400, message: "more than 64 labels in one series"),
            Case(name: "protobuf content type", path: "/api/v1/import/prometheus", headers: pbH, body: Array("m 1\n".utf8), status: 415, message: "Content-Type"),

            Case(name: "garbage bytes", path: "/api/v2/write?precision=ms", headers: influxH, body: garbage, status: 400, message: "line"),
            Case(name: "non-numeric field", path: "/api/v2/write?precision=ms", headers: influxH, body: Array("cpu v=1.2.3 1000\n".utf8), status: 400, message: "invalid float value"),
            Case(name: "empty tag value", path: "/write?precision=s", headers: influxH, body: Array("cpu,host= v=1 1\n".utf8), status: 400, message: "empty value for tag"),
            Case(name: "bad UTF-8 tag", path: "/api/v2/write", headers: influxH, body: Array("cpu,host=".utf8) + [0xff] + Array(" v=1\n".utf8), status: 400, message: "UTF-8"),
            Case(name: "second line bad", path: "/api/v2/write?precision=s", headers: influxH, body: Array("cpu v=1 1\ncpu v=x 2\n".utf8), status: 400, message: "line 2"),

            Case(name: "truncated JSON", path: "/v1/metrics", headers: jsonH, body: Array("{\"resourceMetrics\": [".utf8), status: 400, message: "JSON"),
            Case(name: "wrong JSON type", path: "/v1/metrics", headers: jsonH,
                 body: Array(#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[{"asDouble":true,"timeUnixNano":"1"}]}}]}]}]}"#.utf8),
                 status: 400, message: "expected number"),
            Case(name: "garbage protobuf", path: "/v1/metrics", headers: pbH, body: garbage, status: 400, message: "cannot decode"),
            Case(name: "text content type", path: "/v1/metrics", headers: ["Content-Type": "text/plain"], body: Array("{}".utf8), status: 415, message: "Content-Type"),
        ]
    }()

    @Test(.timeLimit(.minutes(2))) func everyCaseGetsItsStatusAndWritesNothing() async throws {
        let s = try await TestServer.start()
        defer { Task { await s.stop() } }
        // A control sample, so "unchanged" is checked against a non-empty store.
        let ok = try await http("POST", s.base + "/api/v1/import/prometheus", headers: ["Content-Type": "text/plain"],
                                body: Data("control 1 \(Self.now)\n".utf8))
        #expect(ok.status == 204)
        let before = try s.everything()
        for c in Self.cases {
            let r = try await http("POST", s.base + c.path, headers: c.headers, body: Data(c.body))
            #expect(r.status == c.status, "\(c): \(r.text)")
            #expect(r.message.contains(c.message), "\(c): \(r.message)")
            #expect(!r.message.trimmingCharacters(in: .newlines).contains("\n"), "\(c): one line")
        }
        #expect(try s.everything() == before)
    }

    @Test(.timeLimit(.minutes(1))) func graphiteAndStatsDWithRealParsers() async throws {
        let store = MemoryStore()
        let ing = Ingestor(appender: store, limits: SeriesLimits(), metrics: SelfMetrics())
        let d = StoreWiring.decoders()
        let g = GraphiteListener(address: ListenAddress(host: "127.0.0.1", port: 0), ingestor: ing, decoders: d, logger: .init(label: "t"))
        let (stream, cont) = AsyncStream<Int>.makeStream()
        let task = Task { try await g.run { cont.yield($0) } }
        var port = 0
        for await p in stream { port = p; break }
        try await sendTCP(port: port, [Data("servers.web-1.cpu 1.5 1700000000\nservers.web-1.cpu 2.5 1700000010\n".utf8),
                                       Data("broken line\n".utf8)])
        let got = try await eventually(30, "graphite samples") { () -> [Sample]? in
            let s = try store.select([.equal("__name__", "servers_web_1_cpu")], mint: 0, maxt: .max).first?.samples ?? []
            return s.count == 2 ? s : nil
        }
        #expect(got == [Sample(1_700_000_000_000, 1.5), Sample(1_700_000_010_000, 2.5)])
        task.cancel()
        _ = await task.result

        let sd = StatsDListener(address: ListenAddress(host: "127.0.0.1", port: 0), ingestor: ing, decoders: d,
                                logger: .init(label: "t"), flushInterval: .seconds(3600))
        sd.receive(Array("api.hits:3|c|@0.5|#env:prod\napi.temp:20|g\napi.temp:-2|g\n".utf8))
        sd.receive(Array("api.lat:10|ms\napi.lat:30|ms\n".utf8))
        sd.receive(Array("not a statsd line".utf8))
        await sd.flush()
        func last(_ n: String) throws -> Double? { try store.select([.equal("__name__", n)], mint: 0, maxt: .max).first?.values.last }
        #expect(try last("api_hits_total") == 6)
        #expect(try last("api_temp") == 18)
        #expect(try last("api_lat_sum") == 40)
        #expect(try last("api_lat_count") == 2)
    }
}
