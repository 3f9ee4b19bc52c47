import Foundation
import Testing
import VigilCore
import VigilIngest
@testable import VigilServer
@testable import VigilIngestPath

/// Decoders that understand one fixed body per format, so these tests exercise the server (status codes, limits,
/// durability, counters) independently of the wire-format parsers (tested with real clients elsewhere).
/// Body `ok:<name>:<t>:<v>[;...]` decodes to those samples; `labels:<n>` to one series with n labels;
/// anything else throws like a parser would.
let fixtureDecoders: IngestDecoders = {
    @Sendable func parse(_ b: [UInt8], _ defaultT: Int64 = 0) throws -> [SeriesSamples] {
        let raw = String(decoding: b, as: UTF8.self)
        let s = raw.hasSuffix("\n") ? String(raw.dropLast()) : raw
        if s.hasPrefix("labels:"), let n = Int(s.dropFirst(7).prefix { $0.isNumber }) {
            var l: [(String, String)] = [("__name__", "wide")]
            for i in 0..<(n - 1) { l.append(("l\(i)", "v")) }
            return [SeriesSamples(labels: Labels(l), timestamps: [1000], values: [1])]
        }
        if s.hasPrefix("badname") {
            return [SeriesSamples(labels: Labels(["__name__": "ok_metric"]), timestamps: [1], values: [1]),
                    SeriesSamples(labels: Labels(["__name__": "bad-name"]), timestamps: [1], values: [1])]
        }
        if s.hasPrefix("longvalue") {
            return [SeriesSamples(labels: Labels(["__name__": "m", "x": String(repeating: "a", count: 5000)]),
                                  timestamps: [1], values: [1])]
        }
        guard s.hasPrefix("ok:") else { throw DecodeFailure("line 1: unexpected byte 0x\(String(b.first ?? 0, radix: 16)) (fixture)") }
        var out: [SeriesSamples] = []
        for item in s.dropFirst(3).split(separator: ";") {
            let f = item.split(separator: ":")
            out.append(SeriesSamples(labels: Labels(["__name__": String(f[0])]), timestamps: [f[1] == "_" ? defaultT : Int64(f[1])!], values: [Double(f[2])!]))
        }
        return out
    }
    return IngestDecoders(
        remoteWrite: { b, _ in DecodedWrite(series: try parse(b)) },
        text: { b, t, _ in try parse(b, t) },
        influx: { b, _, _ in try parse(b) },
        otlpProtobuf: { b, _ in try parse(b) },
        otlpJSON: { b, _ in try parse(b) },
        graphite: { b, _ in try parse(b) },
        statsd: { _ in [] })
}()

/// The endpoints with the headers a well-formed request carries.
let endpoints: [(path: String, headers: [String: String])] = [
    ("/api/v1/write", ["Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
                       "X-Prometheus-Remote-Write-Version": "0.1.0"]),
    ("/api/v1/import/prometheus", ["Content-Type": "text/plain; version=0.0.4"]),
    ("/api/v2/write?precision=ms", ["Content-Type": "text/plain; charset=utf-8"]),
    ("/write?precision=s", ["Content-Type": "text/plain"]),
    ("/v1/metrics", ["Content-Type": "application/json"]),
]

@Suite("HTTP plumbing") struct PlumbingTests {
    @Test func healthReadyAndMetrics() async throws {
        let s = try await TestServer.start(decoders: fixtureDecoders)
        defer { Task { await s.stop() } }
        #expect(try await http("GET", s.base + "/-/healthy").status == 200)
        #expect(try await http("GET", s.base + "/-/ready").status == 200)
        _ = try await http("POST", s.base + "/api/v1/write", headers: endpoints[0].headers, body: Data("ok:m:1000:1".utf8))
        let m = try await http("GET", s.base + "/metrics")
        #expect(m.status == 200)
        #expect(m.text.contains("vigil_ingested_samples_total{source=\"remote_write\"} 1"))
        #expect(m.text.contains("vigil_http_request_duration_seconds_bucket{handler=\"/api/v1/write\",le=\"+Inf\"} 1"))
        #expect(m.text.contains("vigil_http_requests_total{code=\"204\",handler=\"/api/v1/write\"} 1"))
        #expect(m.text.contains("vigil_active_series 1"))
    }

    @Test func everyEndpointAcceptsAndStoresDurably() async throws {
        let s = try await TestServer.start(decoders: fixtureDecoders)
        defer { Task { await s.stop() } }
        for (i, e) in endpoints.enumerated() {
            let r = try await http("POST", s.base + e.path, headers: e.headers, body: Data("ok:m\(i):1000:\(i).5".utf8))
            #expect(r.status == (e.path == "/v1/metrics" ? 200 : 204), "\(e.path): \(r.text)")
            // Answered after the append returned: the sample is readable now.
            let got = try s.store.select([.equal("__name__", "m\(i)")], mint: 0, maxt: 10_000)
            #expect(got.first?.values == [Double(i) + 0.5], "\(e.path)")
        }
        let rw = try await http("POST", s.base + "/api/v1/write", headers: endpoints[0].headers,
                                body: Data("ok:a:1:1;b:1:2".utf8))
        #expect(rw.header("X-Prometheus-Remote-Write-Samples-Written") == "2")
        #expect(rw.header("X-Prometheus-Remote-Write-Histograms-Written") == "0")
    }

    @Test func malformedBodiesAre400AndWriteNothing() async throws {
        let s = try await TestServer.start(decoders: fixtureDecoders)
        defer { Task { await s.stop() } }
        let cases: [(String, String)] = [
            ("garbage", "line 1: unexpected byte"),
            ("labels:70", "70 labels exceed the limit of 64"),
            ("longvalue", "over the limit of 4096"),
            ("badname", "invalid metric name \"bad-name\""),
        ]
        for e in endpoints {
            for (body, message) in cases {
                let r = try await http("POST", s.base + e.path, headers: e.headers, body: Data(body.utf8))
                #expect(r.status == 400, "\(e.path) \(body)")
                #expect(r.message.contains(message), "\(e.path) \(body): \(r.text)")
                #expect(!r.text.dropLast().contains("\n"), "one line")
            }
        }
        #expect(try s.sampleCount() == 0)
        let m = try await http("GET", s.base + "/metrics")
        #expect(m.text.contains("vigil_rejected_requests_total{reason=\"malformed\"} \(cases.count * endpoints.count)"))
    }

    @Test func influxErrorsAreJSON() async throws {
        let s = try await TestServer.start(decoders: fixtureDecoders)
        defer { Task { await s.stop() } }
        let r = try await http("POST", s.base + "/api/v2/write", body: Data("garbage".utf8))
        #expect(r.status == 400)
        let j = try JSONSerialization.jsonObject(with: r.body) as? [String: String]
        #expect(j?["code"] == "invalid")
        #expect(j?["message"]?.contains("cannot decode Influx line protocol") == true)
        let p = try await http("POST", s.base + "/api/v2/write?precision=x", body: Data("ok:m:1:1".utf8))
        #expect(p.status == 400)
        #expect(p.text.contains("invalid precision"))
    }

    @Test func wrongContentTypeOrEncodingIs415() async throws {
        let s = try await TestServer.start(decoders: fixtureDecoders)
        defer { Task { await s.stop() } }
        let cases: [(String, [String: String], String)] = [
            ("/api/v1/write", ["Content-Type": "text/plain", "Content-Encoding": "snappy"], "unsupported Content-Type \"text/plain\""),
            ("/api/v1/write", ["Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"], "unsupported Content-Encoding \"gzip\""),
            ("/api/v1/write", ["Content-Type": "application/x-protobuf;proto=io.prometheus.write.v3.Request", "Content-Encoding": "snappy"],
             "unsupported remote_write message proto=io.prometheus.write.v3.Request"),
            ("/api/v1/import/prometheus", ["Content-Type": "application/x-protobuf"], "unsupported Content-Type"),
            ("/api/v1/import/prometheus", ["Content-Type": "text/plain", "Content-Encoding": "gzip"], "unsupported Content-Encoding \"gzip\""),
            ("/api/v2/write", ["Content-Encoding": "gzip"], "unsupported Content-Encoding \"gzip\""),
            ("/write", ["Content-Encoding": "br"], "unsupported Content-Encoding \"br\""),
            ("/v1/metrics", ["Content-Type": "text/plain"], "unsupported Content-Type \"text/plain\""),
            ("/v1/metrics", [:], "missing Content-Type"),
            ("/v1/metrics", ["Content-Type": "application/json", "Content-Encoding": "gzip"], "unsupported Content-Encoding"),
        ]
        for (path, h, message) in cases {
            let r = try await http("POST", s.base + path, headers: h, body: Data("ok:m:1:1".utf8))
            #expect(r.status == 415, "\(path) \(h)")
            #expect(r.message.contains(message), "\(path): \(r.text)")
        }
        #expect(try s.sampleCount() == 0)
        // remote_write without any header is accepted (as Prometheus and VictoriaMetrics do).
        let bare = try await http("POST", s.base + "/api/v1/write", body: Data("ok:m:1:1".utf8))
        #expect(bare.status == 204)
        let v2 = try await http("POST", s.base + "/api/v1/write",
                                headers: ["Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
                                          "Content-Encoding": "snappy"], body: Data("ok:m2:1:1".utf8))
        #expect(v2.status == 204)
    }

    @Test func oversizeBodyIs413() async throws {
        var o = ServerOptions()
        o.maxBodyBytes = 1024
        let s = try await TestServer.start(options: o, decoders: fixtureDecoders)
        defer { Task { await s.stop() } }
        let big = Data(("ok:m:1:1;" + String(repeating: "x", count: 2000)).utf8)
        for e in endpoints {
            let r = try await http("POST", s.base + e.path, headers: e.headers, body: big)
            #expect(r.status == 413, "\(e.path)")
            #expect(r.message.contains("exceeds --max-body-bytes 1024"), "\(e.path): \(r.text)")
        }
        #expect(try s.sampleCount() == 0)
    }

    @Test func bearerToken() async throws {
        var o = ServerOptions()
        o.authToken = "s3cret-token"
        let s = try await TestServer.start(options: o, decoders: fixtureDecoders)
        defer { Task { await s.stop() } }
        for e in endpoints {
            let none = try await http("POST", s.base + e.path, headers: e.headers, body: Data("ok:m:1:1".utf8))
            #expect(none.status == 401, "\(e.path)")
            #expect(none.text.contains("missing bearer token"))
            var h = e.headers
            h["Authorization"] = "Bearer s3cret-tokem"
            let wrong = try await http("POST", s.base + e.path, headers: h, body: Data("ok:m:1:1".utf8))
            #expect(wrong.status == 401)
            #expect(wrong.text.contains("invalid bearer token"))
            h["Authorization"] = "Bearer s3cret-token-and-more"
            #expect(try await http("POST", s.base + e.path, headers: h, body: Data("ok:m:1:1".utf8)).status == 401)
        }
        #expect(try s.sampleCount() == 0)
        #expect(try await http("GET", s.base + "/metrics").status == 401)
        #expect(try await http("GET", s.base + "/-/healthy").status == 200)
        #expect(try await http("GET", s.base + "/-/ready").status == 200)
        let ok = try await http("POST", s.base + "/api/v1/write", headers: ["Authorization": "Bearer s3cret-token"],
                                body: Data("ok:m:1:1".utf8))
        #expect(ok.status == 204)
        let influx = try await http("POST", s.base + "/api/v2/write", headers: ["Authorization": "Token s3cret-token"],
                                    body: Data("ok:n:1:1".utf8))
        #expect(influx.status == 204)
        #expect(constantTimeEqual(Array("ab".utf8), Array("ab".utf8)))
        #expect(!constantTimeEqual(Array("a".utf8), Array("ab".utf8)))
        #expect(!constantTimeEqual([], []))
    }

    @Test func overloadedIs503WithRetryAfter() async throws {
        var o = ServerOptions()
        o.maxInflightRequests = 0
        let s = try await TestServer.start(options: o, decoders: fixtureDecoders)
        defer { Task { await s.stop() } }
        for e in endpoints {
            let r = try await http("POST", s.base + e.path, headers: e.headers, body: Data("ok:m:1:1".utf8))
            #expect(r.status == 503, "\(e.path)")
            #expect(r.header("Retry-After") == "1")
        }
        #expect(try s.sampleCount() == 0)
    }

    /// A retried batch that was already written (same timestamps, same values) succeeds, as in Prometheus.
    @Test func identicalResendIsAccepted() async throws {
        let s = try await TestServer.start(decoders: fixtureDecoders)
        let h = endpoints[0].headers
        #expect(try await http("POST", s.base + "/api/v1/write", headers: h, body: Data("ok:m:2000:1".utf8)).status == 204)
        let again = try await http("POST", s.base + "/api/v1/write", headers: h, body: Data("ok:m:2000:1".utf8))
        #expect(again.status == 204, "\(again.text)")
        let changed = try await http("POST", s.base + "/api/v1/write", headers: h, body: Data("ok:m:2000:2".utf8))
        #expect(changed.status == 400 && changed.text.contains("duplicate=1"), "\(changed.text)")
        #expect(try s.sampleCount() == 1)
        await s.stop()
    }

    @Test func partialRejectionsAreReported() async throws {
        let s = try await TestServer.start(decoders: fixtureDecoders)
        defer { Task { await s.stop() } }
        let h = endpoints[0].headers
        #expect(try await http("POST", s.base + "/api/v1/write", headers: h, body: Data("ok:m:2000:1".utf8)).status == 204)
        let r = try await http("POST", s.base + "/api/v1/write", headers: h, body: Data("ok:m:1000:1;m:2000:5;n:1000:1".utf8))
        #expect(r.status == 400)
        #expect(r.text.contains("accepted 1 samples, rejected 2 (out_of_order=1 duplicate=1)"), "\(r.text)")
        #expect(r.header("X-Prometheus-Remote-Write-Samples-Written") == "1")
        #expect(try s.sampleCount() == 2)
        // OTLP reports partial success in the 200 body.
        let o = try await http("POST", s.base + "/v1/metrics", headers: ["Content-Type": "application/json"],
                               body: Data("ok:m:1500:1;q:1:1".utf8))
        #expect(o.status == 200)
        #expect(o.text.contains("\"rejectedDataPoints\":\"1\""))
        let m = try await http("GET", s.base + "/metrics")
        #expect(m.text.contains("vigil_rejected_samples_total{reason=\"out_of_order\"} 2"))
        #expect(m.text.contains("vigil_rejected_samples_total{reason=\"duplicate\"} 1"))
    }

    @Test func cardinalityLimits() async throws {
        var o = ServerOptions()
        o.limits.maxActiveSeries = 2
        let s = try await TestServer.start(options: o, decoders: fixtureDecoders)
        defer { Task { await s.stop() } }
        let h = endpoints[0].headers
        let r = try await http("POST", s.base + "/api/v1/write", headers: h, body: Data("ok:a:1:1;b:1:1;c:1:1".utf8))
        #expect(r.status == 400)
        #expect(r.text.contains("series_limit=1"))
        #expect(r.text.contains("active series limit 2"))
        // Known series still take samples.
        #expect(try await http("POST", s.base + "/api/v1/write", headers: h, body: Data("ok:a:2:1;b:2:1".utf8)).status == 204)
        #expect(try s.sampleCount() == 4)

        var o2 = ServerOptions()
        o2.limits.maxNewSeriesPerSecond = 1
        let s2 = try await TestServer.start(options: o2, decoders: fixtureDecoders)
        defer { Task { await s2.stop() } }
        let r2 = try await http("POST", s2.base + "/api/v1/write", headers: h, body: Data("ok:a:1:1;b:1:1;c:1:1".utf8))
        #expect(r2.text.contains("new_series_rate=") || r2.status == 204)
    }

    @Test func exportReadsBack() async throws {
        let s = try await TestServer.start(decoders: fixtureDecoders)
        defer { Task { await s.stop() } }
        _ = try await http("POST", s.base + "/api/v1/write", body: Data("ok:m:1000:1.5;m2:1000:2".utf8))
        _ = try await http("POST", s.base + "/api/v1/write", body: Data("ok:m:2000:-3e-7".utf8))
        let r = try await http("GET", s.base + "/api/v1/export?match%5B%5D=m")
        #expect(r.status == 200)
        #expect(r.text == "{\"metric\":{\"__name__\":\"m\"},\"values\":[1.5,-3e-07],\"timestamps\":[1000,2000]}\n")
        let bad = try await http("GET", s.base + "/api/v1/export?match%5B%5D=%7Ba%3D%22%22%7D")
        #expect(bad.status == 400)
    }
}
