import Foundation
import Testing
import VigilCore
import VigilIngest

/// OTLP/JSON as the spec's examples and the collector's `otlphttp` JSON exporter write it.
let otlpJSON = #"""
{"resourceMetrics":[{
  "resource":{"attributes":[
    {"key":"service.name","value":{"stringValue":"checkout"}},
    {"key":"service.namespace","value":{"stringValue":"shop"}},
    {"key":"service.instance.id","value":{"stringValue":"pod-7"}},
    {"key":"host.name","value":{"stringValue":"web-1"}},
    {"key":"cores","value":{"intValue":"8"}}]},
  "scopeMetrics":[{"scope":{"name":"my.lib","version":"1.0"},"metrics":[
    {"name":"http.server.request.duration","unit":"s","description":"Duration of HTTP server requests.",
     "histogram":{"aggregationTemporality":2,"dataPoints":[
       {"attributes":[{"key":"http.route","value":{"stringValue":"/cart"}},{"key":"http.response.status_code","value":{"intValue":"200"}}],
        "startTimeUnixNano":"1699999990000000000","timeUnixNano":"1700000000000000000","count":"10","sum":2.5,
        "bucketCounts":["1","4","5"],"explicitBounds":[0.1,0.5]}]}},
    {"name":"requests","unit":"1","sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_CUMULATIVE","isMonotonic":true,"dataPoints":[
       {"attributes":[{"key":"ok","value":{"boolValue":true}}],"startTimeUnixNano":"1699999990000000000","timeUnixNano":"1700000000000000000","asInt":"9007199254740993"}]}},
    {"name":"queue.length","unit":"{items}","gauge":{"dataPoints":[
       {"timeUnixNano":"1700000000000000000","asDouble":"NaN"},
       {"attributes":[{"key":"q","value":{"stringValue":"b"}}],"timeUnixNano":"1700000000000000000","asDouble":3}]}},
    {"name":"cpu.utilization","unit":"1","gauge":{"dataPoints":[{"time_unix_nano":"1700000000000000000","as_double":0.25}]}},
    {"name":"rpc.latency","unit":"ms","summary":{"dataPoints":[{"timeUnixNano":"1700000000000000000","count":"4","sum":10,
       "quantileValues":[{"quantile":0.5,"value":2},{"quantile":0.99,"value":7}]}]}},
    {"name":"bytes.sent","unit":"By","sum":{"aggregationTemporality":1,"isMonotonic":true,"dataPoints":[{"timeUnixNano":"1700000000000000000","asInt":"5"}]}},
    {"name":"latency.exp","exponentialHistogram":{"aggregationTemporality":2,"dataPoints":[{"count":"1"},{"count":"2"}]}},
    {"name":"gone","gauge":{"dataPoints":[{"timeUnixNano":"1700000000000000000","asDouble":1,"flags":1}]}},
    {"name":"no.time","gauge":{"dataPoints":[{"asDouble":1}]}}
  ]}]
}]}
"""#

@Suite struct OTLPTests {
    @Test func jsonMapsToPrometheusSeries() throws {
        let r = try OTLPMetrics.decodeJSON(Array(otlpJSON.utf8), defaultTimestamp: 123)
        let byText = Dictionary(r.series.map { ($0.labels.description, $0) }, uniquingKeysWith: { a, _ in a })
        let base = #"instance="pod-7", job="shop/checkout""#
        let h = "http_server_request_duration_seconds"
        let route = #"http_response_status_code="200", http_route="/cart", "#
        #expect(byText["\(h)_bucket{\(route)\(base), le=\"0.1\"}"]?.samples == [Sample(1_700_000_000_000, 1)])
        #expect(byText["\(h)_bucket{\(route)\(base), le=\"0.5\"}"]?.values == [5])
        #expect(byText["\(h)_bucket{\(route)\(base), le=\"+Inf\"}"]?.values == [10])
        #expect(byText["\(h)_sum{\(route)\(base)}"]?.values == [2.5])
        #expect(byText["\(h)_count{\(route)\(base)}"]?.values == [10])
        #expect(byText["requests_total{\(base), ok=\"true\"}"]?.values == [9_007_199_254_740_993.0])
        #expect(byText["queue_length{\(base)}"]?.values.first?.isNaN == true)
        #expect(byText["queue_length{\(base), q=\"b\"}"]?.values == [3])
        #expect(byText["cpu_utilization_ratio{\(base)}"]?.values == [0.25])
        #expect(byText["rpc_latency_milliseconds{\(base), quantile=\"0.5\"}"]?.values == [2])
        #expect(byText["rpc_latency_milliseconds{\(base), quantile=\"0.99\"}"]?.values == [7])
        #expect(byText["rpc_latency_milliseconds_sum{\(base)}"]?.values == [10])
        #expect(byText["rpc_latency_milliseconds_count{\(base)}"]?.values == [4])
        #expect(byText["gone{\(base)}"]?.values.first?.isStaleNaN == true)
        #expect(byText["no_time{\(base)}"]?.timestamps == [123])
        #expect(byText["target_info{cores=\"8\", host_name=\"web-1\", \(base)}"]?.samples == [Sample(1_700_000_000_000, 1)])
        #expect(!r.series.contains { $0.labels.metricName?.hasPrefix("bytes_sent") == true })
        #expect(r.stats.skipped[.deltaTemporality] == 1)
        #expect(r.stats.skipped[.exponentialHistogram] == 2)
        #expect(r.stats.samples == r.sampleCount)
        #expect(r.createdTimestamps.count == r.series.count)
        let reqIndex = try #require(r.series.firstIndex { $0.labels.metricName == "requests_total" })
        #expect(r.createdTimestamps[reqIndex] == 1_699_999_990_000)
        let meta = Dictionary(r.metadata.map { ($0.family, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(meta[h] == MetricMetadata(family: h, type: .histogram, help: "Duration of HTTP server requests.", unit: "seconds"))
        #expect(meta["requests"]?.type == .counter)
        for s in r.series { try s.labels.validate() }
    }

    @Test func protobufRoundTripEqualsModelAndJSON() throws {
        let model = try OTLPJSON.decode(Array(otlpJSON.utf8))
        let body = OTLPProtobuf.encode(model)
        let back = try OTLPProtobuf.decode(body)
        #expect(back == model)
        let viaProto = try OTLPMetrics.decodeProtobuf(body, defaultTimestamp: 123)
        let viaJSON = try OTLPMetrics.decodeJSON(Array(otlpJSON.utf8), defaultTimestamp: 123)
        #expect(viaProto == viaJSON)
    }

    @Test(arguments: [
        ("http.server.duration", "s", "histogram", "http_server_duration_seconds"),
        ("system.memory.usage", "By", "gauge", "system_memory_usage_bytes"),
        ("requests", "1", "counter", "requests_total"),
        ("cpu.utilization", "1", "gauge", "cpu_utilization_ratio"),
        ("net.packets", "{packets}/s", "gauge", "net_packets_per_second"),
        ("foo_total", "", "counter", "foo_total"),
        ("total.bytes", "By", "counter", "bytes_total"),  // "total" moves to the end, "bytes" is already a word... see below
        ("disk.io", "MiBy", "updown", "disk_io_mebibytes"),
        ("weird name-ü", "", "gauge", "weird_name"),
        ("2xx.count", "", "gauge", "_2xx_count"),
        ("temp", "Cel", "gauge", "temp_celsius"),
        ("odd", "widgets", "gauge", "odd_widgets"),
    ])
    func metricNames(name: String, unit: String, kind: String, want: String) {
        let data: OTLP.Data
        switch kind {
        case "counter": data = .sum([], temporality: .cumulative, isMonotonic: true)
        case "updown": data = .sum([], temporality: .cumulative, isMonotonic: false)
        case "histogram": data = .histogram([], temporality: .cumulative)
        default: data = .gauge([])
        }
        let got = OTLPMetrics.prometheusName(OTLP.Metric(name: name, unit: unit, data: data))
        // "total.bytes" keeps its word order minus "total": bytes, then the unit word is already present, then total.
        #expect(got == want, "\(name) [\(unit)] \(kind)")
    }

    @Test func attributeCollisionsAndNames() throws {
        let req = OTLP.Request(resourceMetrics: [OTLP.ResourceMetrics(resourceAttributes: [], scopeMetrics: [
            OTLP.ScopeMetrics(metrics: [OTLP.Metric(name: "m", data: .gauge([OTLP.NumberPoint(
                attributes: [OTLP.Attribute("a.b", "1"), OTLP.Attribute("a_b", "2"), OTLP.Attribute("9lives", "x"),
                             OTLP.Attribute("_private", "y"), OTLP.Attribute("empty", "")],
                timeUnixNano: 5_000_000, value: 1)]))])])])
        let r = try OTLPMetrics.convert(req, defaultTimestamp: 0)
        let l = try #require(r.series.first?.labels)
        #expect(l["a_b"] == "1;2")
        #expect(l["key_9lives"] == "x")
        #expect(l["key_private"] == "y")
        #expect(l["empty"] == nil)
        #expect(r.series.first?.timestamps == [5])
        #expect(!r.series.contains { $0.labels.metricName == "target_info" })
    }

    static let goodProto: [UInt8] = OTLPProtobuf.encode(OTLP.Request(resourceMetrics: [OTLP.ResourceMetrics(
        resourceAttributes: [OTLP.Attribute("service.name", "svc")],
        scopeMetrics: [OTLP.ScopeMetrics(metrics: [
            OTLP.Metric(name: "g", data: .gauge([OTLP.NumberPoint(timeUnixNano: 1_000_000, value: 1)])),
            OTLP.Metric(name: "h", unit: "s", data: .histogram([OTLP.HistogramPoint(timeUnixNano: 1_000_000, count: 3, sum: 1,
                                                                                     bucketCounts: [1, 2], explicitBounds: [0.5])],
                                                                temporality: .cumulative)),
        ])])]))

    static func protoWith(_ build: (inout ProtoWriter) -> Void) -> [UInt8] {
        var w = ProtoWriter()
        build(&w)
        return w.bytes
    }

    static func gaugePoint(_ point: @escaping (inout ProtoWriter) -> Void) -> [UInt8] {
        protoWith { w in
            w.message(1) { rm in rm.message(2) { sm in sm.message(2) { m in
                m.stringField(1, "g")
                m.message(5) { g in g.message(1, point) }
            } } }
        }
    }

    static func nested(_ depth: Int) -> [UInt8] {
        var inner = ProtoWriter()
        inner.stringField(1, "x")
        for _ in 0..<depth {
            var arr = ProtoWriter()
            arr.bytesField(1, inner.bytes)
            var any = ProtoWriter()
            any.bytesField(5, arr.bytes)
            inner = any
        }
        return gaugePoint { p in
            p.message(7) { kv in kv.stringField(1, "k"); kv.bytesField(2, inner.bytes) }
            p.doubleField(4, 1)
        }
    }

    @Test(arguments: [
        ("garbage", [0xFF, 0xFF, 0xFF], IngestError.Code.protobuf),
        ("truncated", Array(goodProto.dropLast(5)), .protobuf),
        ("resource_metrics as varint", [0x08, 0x01], .protobuf),
        ("as_double as varint", gaugePoint { $0.varintField(4, 1) }, .protobuf),
        ("time as varint", gaugePoint { $0.varintField(3, 1) }, .protobuf),
        ("bad UTF-8 attribute", gaugePoint { p in p.message(7) { kv in kv.bytesField(1, [0xC0, 0x80]) } }, .invalidUTF8),
        ("bucket/bounds mismatch", OTLPProtobuf.encode(OTLP.Request(resourceMetrics: [OTLP.ResourceMetrics(scopeMetrics: [
            OTLP.ScopeMetrics(metrics: [OTLP.Metric(name: "h", data: .histogram([OTLP.HistogramPoint(count: 3, bucketCounts: [1, 2, 3],
                                                                                                        explicitBounds: [0.5])],
                                                                               temporality: .cumulative))])])])), .badValue),
        ("AnyValue nested 40 deep", nested(40), .protobuf),
        ("packed bounds not multiple of 8", protoWith { w in
            w.message(1) { rm in rm.message(2) { sm in sm.message(2) { m in
                m.stringField(1, "h")
                m.message(9) { h in h.message(1) { p in p.bytesField(7, [1, 2, 3]) } }
            } } }
        }, .protobuf),
        ("too many attributes", gaugePoint { p in
            for i in 0..<100 { p.message(7) { kv in kv.stringField(1, "k\(i)"); kv.message(2) { $0.stringField(1, "v") } } }
        }, .limit),
    ] as [(String, [UInt8], IngestError.Code)])
    func rejectsMalformedProtobuf(name: String, body: [UInt8], code: IngestError.Code) throws {
        let e = try #require(throws: IngestError.self, "\(name)") { try OTLPMetrics.decodeProtobuf(body, defaultTimestamp: 0) }
        #expect(e.code == code, "\(name): \(e)")
        #expect(!e.message.contains("\n"))
    }

    @Test(arguments: [
        ("garbage", "{{{", IngestError.Code.json),
        ("not an object", "[1,2]", .json),
        ("truncated", String(otlpJSON.prefix(200)), .json),
        ("asDouble is an object", #"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[{"asDouble":{}}]}}]}]}]}"#, .json),
        ("timeUnixNano not a number", #"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[{"timeUnixNano":"soon"}]}}]}]}]}"#, .json),
        ("name is a number", #"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":5}]}]}]}"#, .json),
        ("deep nesting", String(repeating: "[", count: 200) + String(repeating: "]", count: 200), .json),
        ("bad escape", #"{"a":"\x"}"#, .json),
        ("trailing data", #"{} x"#, .json),
        ("lone surrogate", #"{"a":"\ud800"}"#, .json),
        ("bucket mismatch", #"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"h","histogram":{"aggregationTemporality":2,"dataPoints":[{"count":"1","bucketCounts":["1"],"explicitBounds":[1,2]}]}}]}]}]}"#, .badValue),
        ("metric with empty name", #"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"","gauge":{"dataPoints":[{"asDouble":1}]}}]}]}]}"#, .invalidLabel),
    ] as [(String, String, IngestError.Code)])
    func rejectsMalformedJSON(name: String, text: String, code: IngestError.Code) throws {
        let e = try #require(throws: IngestError.self, "\(name)") { try OTLPMetrics.decodeJSON(Array(text.utf8), defaultTimestamp: 0) }
        #expect(e.code == code, "\(name): \(e)")
        #expect(!e.message.contains("\n"))
    }

    @Test func jsonWrongTypeErrorNamesThePath() throws {
        let text = #"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"a"},{"name":"g","gauge":{"dataPoints":[{"asDouble":true}]}}]}]}]}"#
        let e = try #require(throws: IngestError.self) { try OTLPMetrics.decodeJSON(Array(text.utf8), defaultTimestamp: 0) }
        #expect(e.message == "resourceMetrics[0].scopeMetrics[0].metrics[1].gauge.dataPoints[0].asDouble: expected number, got boolean")
    }

    @Test func mutatedBodiesNeverCrash() {
        let seed: UInt64 = 0x0713
        var rng = SeededRNG(seed: seed)
        let json = Array(otlpJSON.utf8)
        let proto = OTLPProtobuf.encode(try! OTLPJSON.decode(json))
        var errors = 0
        for i in 0..<3000 {
            let mj = mutate(json, rng: &rng)
            do { expectValid(try OTLPMetrics.decodeJSON(mj, defaultTimestamp: 0), seed: seed, iteration: i) } catch { errors += 1 }
            let mp = mutate(proto, rng: &rng)
            do { expectValid(try OTLPMetrics.decodeProtobuf(mp, defaultTimestamp: 0), seed: seed, iteration: i) } catch { errors += 1 }
        }
        #expect(errors > 0)
    }
}
