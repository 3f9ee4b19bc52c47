#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import VigilCore

/// Parse throughput on generated payloads shaped like `shared/bench/rw_load.py`'s workload (node_exporter CPU
/// series and load per host). For `vigil bench` and the server engineer; it reports, it never asserts.
public enum IngestBench {
    public struct Result: Sendable, CustomStringConvertible {
        public var format: String
        /// Bytes of one payload as parsed (compressed for `remote_write … (snappy)`).
        public var payloadBytes: Int
        /// Samples in one payload.
        public var samples: Int
        public var iterations: Int
        /// Best single-iteration wall time, in seconds.
        public var bestSeconds: Double
        /// Best single-iteration CPU time of the calling thread, in seconds (`CLOCK_THREAD_CPUTIME_ID`): the
        /// parse cost without time spent waiting for a core when the machine is shared.
        public var bestCPUSeconds: Double

        public var samplesPerSecond: Double { Double(samples) / bestSeconds }
        public var megabytesPerSecond: Double { Double(payloadBytes) / bestSeconds / 1e6 }
        public var samplesPerCPUSecond: Double { Double(samples) / bestCPUSeconds }

        public var description: String {
            func f(_ x: Double) -> String { String(Int(x.rounded())) }
            return "\(format): \(samples) samples, \(payloadBytes) bytes; best of \(iterations): \(f(bestSeconds * 1e6)) µs = "
                + "\(f(samplesPerSecond)) samples/s, \(f(megabytesPerSecond)) MB/s; CPU \(f(bestCPUSeconds * 1e6)) µs = "
                + "\(f(samplesPerCPUSecond)) samples per CPU-second"
        }
    }

    /// Series of `hosts` hosts × 33 series (32 CPU mode counters, `node_load1`), `samplesPerSeries` each, 15 s apart.
    public static func workload(hosts: Int, samplesPerSeries: Int, start: Int64 = 1_700_000_000_000) -> [SeriesSamples] {
        var out: [SeriesSamples] = []
        out.reserveCapacity(hosts * 33)
        let modes = ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"]
        for h in 0..<hosts {
            var host = String(h)
            while host.count < 4 { host = "0" + host }
            host = "host-" + host
            let dc = "dc-\(h % 4 + 1)"
            for cpu in 0..<4 {
                for (m, mode) in modes.enumerated() {
                    var s = SeriesSamples(labels: Labels(["__name__": "node_cpu_seconds_total", "host": host, "dc": dc, "job": "node",
                                                          "cpu": String(cpu), "mode": mode]))
                    for k in 0..<samplesPerSeries {
                        s.append(start + Int64(k) * 15_000, Double(h * 7919 + cpu * 131 + m) * 1.5 + Double(k) * 0.731)
                    }
                    out.append(s)
                }
            }
            var load = SeriesSamples(labels: Labels(["__name__": "node_load1", "host": host, "dc": dc, "job": "node"]))
            for k in 0..<samplesPerSeries { load.append(start + Int64(k) * 15_000, Double((h + k) % 17) / 8) }
            out.append(load)
        }
        return out
    }

    /// Runs every parser `iterations` times on payloads built from `workload(hosts:samplesPerSeries:)`.
    public static func run(hosts: Int = 100, samplesPerSeries: Int = 10, iterations: Int = 5) -> [Result] {
        let series = workload(hosts: hosts, samplesPerSeries: samplesPerSeries)
        let total = series.reduce(0) { $0 + $1.count }
        let rw1 = RemoteWriteV1.encode(series)
        let rw1s = Snappy.compress(rw1)
        let rw2 = RemoteWriteV2.encode(series)
        let text = Array(TextExposition.encode(series).utf8)
        var influx = ""
        for s in series {
            let tags = s.labels.filter { $0.name != Labels.metricNameLabel }.map { ",\($0.name)=\($0.value)" }.joined()
            for i in 0..<s.count {
                influx += "\(s.labels.metricName ?? "m")\(tags) value=\(s.values[i]) \(s.timestamps[i] * 1_000_000)\n"
            }
        }
        let influxBytes = Array(influx.utf8)
        var points: [OTLP.Metric] = []
        for s in series {
            let attrs = s.labels.filter { $0.name != Labels.metricNameLabel }.map { OTLP.Attribute($0.name, $0.value) }
            let pts = (0..<s.count).map { OTLP.NumberPoint(attributes: attrs, timeUnixNano: UInt64(s.timestamps[$0]) * 1_000_000, value: s.values[$0]) }
            points.append(OTLP.Metric(name: s.labels.metricName ?? "m", data: .gauge(pts)))
        }
        let otlp = OTLPProtobuf.encode(OTLP.Request(resourceMetrics: [OTLP.ResourceMetrics(scopeMetrics: [OTLP.ScopeMetrics(metrics: points)])]))

        var results: [Result] = []
        func measure(_ name: String, bytes: Int, samples: Int, _ body: () throws(IngestError) -> Int) {
            var best = Double.infinity
            var bestCPU = Double.infinity
            var produced = 0
            for _ in 0..<max(1, iterations) {
                let c0 = threadCPUSeconds()
                let t0 = ContinuousClock.now
                do { produced = try body() } catch { produced = -1 }
                let d = ContinuousClock.now - t0
                let c1 = threadCPUSeconds()
                let secs = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
                best = min(best, secs)
                bestCPU = min(bestCPU, c1 - c0)
            }
            // `produced` is kept so the work cannot be optimised away; a mismatch shows in the sample column.
            results.append(Result(format: name, payloadBytes: bytes, samples: produced == samples ? samples : produced,
                                  iterations: max(1, iterations), bestSeconds: max(best, 1e-9), bestCPUSeconds: max(bestCPU, 1e-9)))
        }
        let limits = IngestLimits(maxDecodedBytes: 1 << 30)
        measure("snappy decompress", bytes: rw1s.count, samples: total) { () throws(IngestError) in
            _ = try Snappy.decompress(rw1s, maxDecodedSize: 1 << 30); return total
        }
        measure("remote_write 1.0 (snappy)", bytes: rw1s.count, samples: total) { () throws(IngestError) in
            try RemoteWriteV1.decodeSnappy(rw1s, limits: limits).sampleCount
        }
        measure("remote_write 1.0 (raw protobuf)", bytes: rw1.count, samples: total) { () throws(IngestError) in
            try RemoteWriteV1.decode(rw1, limits: limits).sampleCount
        }
        measure("remote_write 2.0 (raw protobuf)", bytes: rw2.count, samples: total) { () throws(IngestError) in
            try RemoteWriteV2.decode(rw2, limits: limits).sampleCount
        }
        measure("text exposition 0.0.4", bytes: text.count, samples: total) { () throws(IngestError) in
            try TextExposition.parse(text, defaultTimestamp: 0, limits: limits).sampleCount
        }
        measure("influx line protocol", bytes: influxBytes.count, samples: total) { () throws(IngestError) in
            try InfluxLine.parse(influxBytes, precision: .nanoseconds, defaultTimestamp: 0, limits: limits).sampleCount
        }
        measure("OTLP protobuf (gauges)", bytes: otlp.count, samples: total) { () throws(IngestError) in
            try OTLPMetrics.decodeProtobuf(otlp, defaultTimestamp: 0, limits: limits).sampleCount
        }
        return results
    }

    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        guard clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0 else { return 0 }
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
