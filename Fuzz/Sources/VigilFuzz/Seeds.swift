import Foundation
import Logging
import VigilChunk
import VigilCore
import VigilIngest
import VigilStore

/// Writes the seed corpora (`Fuzz/corpus/<target>/seed-*`) with the project's own encoders, so every seed is a
/// well-formed input of today's format. Run from the repository root by `Fuzz/make-seeds.sh`
/// (VIGIL_FUZZ_WRITE_SEEDS=Fuzz/corpus); inputs a fuzz run found later are kept beside them.
enum Seeds {
    static func write(to dir: String) throws {
        var all: [String: [(String, [UInt8])]] = [:]
        func add(_ target: String, _ name: String, _ bytes: [UInt8]) { all[target, default: []].append((name, bytes)) }
        func addText(_ target: String, _ name: String, _ s: String) { add(target, name, Array(s.utf8)) }

        // Samples as the collectors produce them: counters, gauges with NaN/±Inf/stale markers, many labels.
        let t0: Int64 = 1_700_000_000_000
        let series = [
            SeriesSamples(labels: Labels([("__name__", "http_requests_total"), ("job", "api"), ("instance", "10.0.0.1:9100"), ("code", "200")]),
                          timestamps: [t0, t0 + 15_000, t0 + 30_000], values: [1, 2, 40]),
            SeriesSamples(labels: Labels([("__name__", "vm_cpu_usage_percent"), ("vm", "db-1"), ("host", "kvm-03")]),
                          timestamps: [t0, t0 + 15_000, t0 + 30_000, t0 + 45_000], values: [12.5, .nan, .infinity, -.infinity]),
            SeriesSamples(labels: Labels([("__name__", "up"), ("job", "node")]), timestamps: [t0], values: [1]),
        ]
        let meta = [MetricMetadata(family: "http_requests_total", type: .counter, help: "Requests.", unit: ""),
                    MetricMetadata(family: "vm_cpu_usage_percent", type: .gauge, help: "CPU %", unit: "percent")]
        let bench = IngestBench.workload(hosts: 2, samplesPerSeries: 3)

        // remote_write 1.0 / 2.0 (raw protobuf: the targets snappy-compress it themselves).
        add("remote-write-v1", "seed-small", RemoteWriteV1.encode(series))
        add("remote-write-v1", "seed-metadata", RemoteWriteV1.encode(series, metadata: meta))
        add("remote-write-v1", "seed-bench", RemoteWriteV1.encode(bench))
        add("remote-write-v1", "seed-empty", [])
        add("remote-write-v2", "seed-small", RemoteWriteV2.encode(series))
        add("remote-write-v2", "seed-metadata", RemoteWriteV2.encode(series, metadata: meta))
        add("remote-write-v2", "seed-bench", RemoteWriteV2.encode(bench))

        // snappy: compressed blocks (decompressed by the target) of text, protobuf and a repetitive run.
        add("snappy", "seed-rw1", Snappy.compress(RemoteWriteV1.encode(bench)))
        add("snappy", "seed-text", Snappy.compress(Array(TextExposition.encode(series, metadata: meta).utf8)))
        add("snappy", "seed-run", Snappy.compress([UInt8](repeating: 0x61, count: 300)))

        // Text exposition.
        addText("text-exposition", "seed-encoded", TextExposition.encode(series, metadata: meta))
        addText("text-exposition", "seed-prometheus", """
            # HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
            # TYPE node_cpu_seconds_total counter
            node_cpu_seconds_total{cpu="0",mode="idle"} 2.5e+06
            node_cpu_seconds_total{cpu="0",mode="user"} 1234.5 1700000000000
            # TYPE rpc_duration_seconds summary
            rpc_duration_seconds{quantile="0.5"} 4773
            rpc_duration_seconds_sum 1.7560473e+07
            rpc_duration_seconds_count 2693
            # TYPE http_request_duration_seconds histogram
            http_request_duration_seconds_bucket{le="0.05"} 24054
            http_request_duration_seconds_bucket{le="+Inf"} 144320
            http_request_duration_seconds_sum 53423
            http_request_duration_seconds_count 144320
            msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9
            metric_without_timestamp_and_labels 12.47
            something_weird{problem="division by zero"} +Inf -3982045

            """)
        addText("text-exposition", "seed-openmetrics", """
            # TYPE acme_http_router_request_seconds summary
            # UNIT acme_http_router_request_seconds seconds
            # HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
            acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32
            acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0
            acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0
            # TYPE foo histogram
            foo_bucket{le="0.01"} 0 # {trace_id="KOO5S4vxi0o"} 0.67
            foo_bucket{le="+Inf"} 17 1520879607.789
            foo_count 17
            # TYPE state stateset
            state{state="a"} 1
            # EOF

            """)

        // Influx line protocol: first byte picks the precision (0 → ns).
        addText("influx", "seed-lines", "\u{0}" + """
            cpu,host=server01,region=us-west usage_idle=99.5,usage_user=0.3 1700000000000000000
            mem,host=server01 used=12345i,avail=4.5e9,ok=true,name="x y" 1700000000000000000
            disk\\ io,path=/dev/sda read_bytes=10u
            weather,location=us\\,midwest temperature=82 1465839830100400200

            """)
        addText("influx", "seed-seconds", "\u{3}cpu value=1 1700000000\n")

        // OTLP: the JSON request of the ingest tests, and the protobuf encoder on gauge/sum/histogram/summary.
        addText("otlp-json", "seed-request", otlpJSON)
        let points = [OTLP.NumberPoint(attributes: [OTLP.Attribute("q", "a")], timeUnixNano: 1_700_000_000_000_000_000, value: 3)]
        let req = OTLP.Request(resourceMetrics: [OTLP.ResourceMetrics(
            resourceAttributes: [OTLP.Attribute("service.name", "checkout"), OTLP.Attribute("host.name", "web-1")],
            scopeMetrics: [OTLP.ScopeMetrics(scopeName: "lib", scopeVersion: "1", metrics: [
                OTLP.Metric(name: "queue.length", unit: "{items}", data: .gauge(points)),
                OTLP.Metric(name: "requests", unit: "1", data: .sum(points, temporality: .cumulative, isMonotonic: true)),
                OTLP.Metric(name: "http.server.request.duration", unit: "s", data: .histogram([OTLP.HistogramPoint(
                    timeUnixNano: 1_700_000_000_000_000_000, count: 10, sum: 2.5, bucketCounts: [1, 4, 5],
                    explicitBounds: [0.1, 0.5])], temporality: .cumulative)),
                OTLP.Metric(name: "rpc.latency", unit: "ms", data: .summary([OTLP.SummaryPoint(
                    timeUnixNano: 1_700_000_000_000_000_000, count: 4, sum: 10, quantiles: [(0.5, 2), (0.99, 7)])])),
            ])])])
        add("otlp-protobuf", "seed-request", OTLPProtobuf.encode(req))

        // Plaintext listeners.
        addText("graphite", "seed-lines", """
            servers.web1.cpu.user 12.5 1700000000
            servers.web1.cpu.system;dc=ams;rack=r4 3 1700000000
            servers.web1.load -1

            """)
        addText("statsd", "seed-lines", """
            api.requests:1|c
            api.requests:3|c|@0.5|#env:prod,zone:a
            api.latency:320|ms
            api.latency:12.5|h|@0.1
            queue.depth:+4|g
            queue.depth:-2|g
            users.unique:alice|s
            api.size:512|d
            """)

        // PromQL: every query of the oracle corpus (Tests/VigilQueryTests/corpus/queries.promql).
        let corpus = (try? String(contentsOfFile: "Tests/VigilQueryTests/corpus/queries.promql", encoding: .utf8)) ?? ""
        let queries = corpus.split(separator: "\n").map(String.init).filter { !$0.isEmpty && !$0.hasPrefix("#") }
        for (i, q) in queries.enumerated() { addText("promql", String(format: "seed-%03d", i), q) }

        // HTTP time/duration parameters.
        for (i, s) in ["1700000000", "1700000000.123", "-1.5", "2026-12-04T17:50:00Z", "2026-12-04T17:50:00.123456789+01:00",
                       "1h30m", "15s", "500ms", "1y2w3d4h5m6s7ms", "0.25", "1e3", "-292273086-05-16T16:47:06Z"].enumerated() {
            addText("http-params", "seed-\(i)", s)
        }

        // Config: the documented example (docs/serve.md) and a forecast section.
        addText("config", "seed-full", """
            global:
              scrape_interval: 15s
              scrape_timeout: 10s
            host_collector: true
            host_collector_interval: 15s
            libvirt:
              uri: test:///default
              interval: 15s
              labels: {env: lab}
            scrape_configs:
              - job_name: node
                scrape_interval: 5s
                scrape_timeout: 2s
                metrics_path: /metrics
                scheme: http
                honor_labels: false
                static_configs:
                  - targets: ["127.0.0.1:9100"]
                    labels: {env: lab}

            """)
        addText("config", "seed-forecast", """
            forecast:
              interval: 30s
              watch: ['vm_cpu_usage_percent{job="demo"}']
              horizon: 12
              instance_label: instance

            """)

        // Model files: the committed models.
        for m in ["failure-smd", "saturation-vm-5m", "vm-cpu-5m"] {
            if let d = FileManager.default.contents(atPath: "Models/\(m).vgm") { add("model-file", "seed-\(m)", [UInt8](d)) }
        }

        // Chunks: every encoding on a regular counter, a jittery gauge and special values.
        var ts: [Int64] = [], counter: [Double] = [], gauge: [Double] = []
        for i in 0..<40 {
            let jitter: Int64 = i % 3 == 0 ? 7 : 0
            ts.append(t0 + Int64(i) * 15_000 + jitter)
            counter.append(Double(i * 10))
            gauge.append(Double(i) * 0.25 + 12.3)
        }
        gauge[5] = .nan
        gauge[9] = .infinity
        for e in ChunkEncoding.allCases {
            add("chunk", "seed-\(e)-counter", ChunkCodec.encode(e, timestamps: ts[...], values: counter[...]))
            add("chunk", "seed-\(e)-gauge", ChunkCodec.encode(e, timestamps: ts[...], values: gauge[...]))
        }
        add("chunk", "seed-one", ChunkCodec.encodeBest(timestamps: [t0], values: [1]))

        // WAL: the segment a real store wrote for `series`, raw (mode byte 1) and re-framed by the target (mode 0).
        let segment = try walSegment(series)
        add("wal", "seed-raw", [1] + segment)
        add("wal", "seed-framed", [0] + reframe(segment))

        for (target, seeds) in all {
            let d = dir + "/" + target
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            for (name, bytes) in seeds {
                guard FileManager.default.createFile(atPath: d + "/" + name, contents: Data(bytes)) else {
                    throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: d + "/" + name])
                }
            }
            print("\(target): \(seeds.count) seeds")
        }
    }

    /// Appends `series` to a fresh store and returns its first WAL segment, read while the store is open.
    static func walSegment(_ series: [SeriesSamples]) throws -> [UInt8] {
        let dir = NSTemporaryDirectory() + "/vigil-fuzz-seed-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = TSDBOptions()
        options.maintenanceInterval = nil
        options.logger = Logger(label: "seeds", factory: { _ in SwiftLogNoOpLogHandler() })
        let db = try TSDB(directory: dir, options: options)
        _ = try db.appendSync(series)
        _ = try db.appendSync(series.map { s in
            SeriesSamples(labels: s.labels, timestamps: s.timestamps.map { $0 + 60_000 }, values: s.values)
        })
        let wal = dir + "/wal"
        let names = try FileManager.default.contentsOfDirectory(atPath: wal).sorted()
        guard let first = names.first, let d = FileManager.default.contents(atPath: wal + "/" + first) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: wal])
        }
        try db.close()
        return [UInt8](d)
    }

    /// Segment → the WAL target's framed input (type u8 | length u16 LE | payload per record).
    static func reframe(_ seg: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var pos = 8
        while pos + 9 <= seg.count {
            let n = Int(seg[pos + 1]) | Int(seg[pos + 2]) << 8 | Int(seg[pos + 3]) << 16 | Int(seg[pos + 4]) << 24
            guard n <= 0xFFFF, pos + 9 + n <= seg.count else { break }
            out += [seg[pos], UInt8(n & 0xFF), UInt8(n >> 8)]
            out += seg[(pos + 9)..<(pos + 9 + n)]
            pos += 9 + n
        }
        return out
    }

    static let otlpJSON = #"""
    {"resourceMetrics":[{
      "resource":{"attributes":[
        {"key":"service.name","value":{"stringValue":"checkout"}},
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
        {"name":"rpc.latency","unit":"ms","summary":{"dataPoints":[{"timeUnixNano":"1700000000000000000","count":"4","sum":10,
           "quantileValues":[{"quantile":0.5,"value":2},{"quantile":0.99,"value":7}]}]}},
        {"name":"latency.exp","exponentialHistogram":{"aggregationTemporality":2,"dataPoints":[{"count":"1"},{"count":"2"}]}},
        {"name":"gone","gauge":{"dataPoints":[{"timeUnixNano":"1700000000000000000","asDouble":1,"flags":1}]}}
      ]}]
    }]}
    """#
}
