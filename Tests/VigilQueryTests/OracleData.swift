import Foundation
import VigilCore

/// Deterministic test data shared by the oracle test (fed to Prometheus and to Vigil) and engine tests.
/// 2 h of data at a 15 s interval starting at `start`: counters with resets, gauges with NaN, a gap longer
/// than the lookback, a stale marker, classic histogram buckets, ±Inf, a sparse series.
enum OracleData {
    /// 2023-11-14T22:13:00Z, a multiple of 60 s.
    static let start: Int64 = 1_699_999_980_000
    static let span: Int64 = 7_200_000
    static let interval: Int64 = 15_000

    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    }

    static func series() -> [SeriesSamples] {
        var rng = SplitMix(state: 42)
        var out: [SeriesSamples] = []
        let steps = Int(span / interval)
        func ts(_ i: Int, jitter: Bool) -> Int64 {
            start + Int64(i) * interval + (jitter ? Int64(rng.next() % 900) : 0)
        }
        func labels(_ name: String, _ pairs: [(String, String)]) -> Labels {
            Labels([(Labels.metricNameLabel, name)] + pairs)
        }
        // http_requests_total: counters, jittered scrape times, one reset each.
        for (job, inst, method) in [("api", "a", "get"), ("api", "a", "post"), ("api", "b", "get"), ("api", "b", "post"), ("web", "c", "get")] {
            var s = SeriesSamples(labels: labels("http_requests_total", [("job", job), ("instance", inst), ("method", method)]))
            var v = Double(rng.next() % 100)
            let resetAt = 100 + Int(rng.next() % 300)
            let rate = 1 + rng.unit() * 5
            for i in 0...steps {
                if i == resetAt { v = 0 }
                v += (rate * 15 * (0.5 + rng.unit())).rounded()
                s.append(ts(i, jitter: true), v)
            }
            out.append(s)
        }
        // node_cpu_seconds_total: 3 hosts x 2 cpus x 2 modes, exact 15 s.
        for h in 1...3 {
            for cpu in 0...1 {
                for mode in ["idle", "user"] {
                    var s = SeriesSamples(labels: labels("node_cpu_seconds_total", [("host", "h\(h)"), ("cpu", "\(cpu)"), ("mode", mode)]))
                    var v = rng.unit() * 1000
                    for i in 0...steps {
                        v += (mode == "idle" ? 12 : 3) * (0.8 + 0.4 * rng.unit())
                        s.append(ts(i, jitter: false), v)
                    }
                    out.append(s)
                }
            }
        }
        // temperature: r1 normal, r2 with NaN, r3 with a 10 min gap, r4 stale at 60 min then resumes at 80 min.
        for (room, floor) in [("r1", "1"), ("r2", "1"), ("r3", "2"), ("r4", "2")] {
            var s = SeriesSamples(labels: labels("temperature", [("room", room), ("floor", floor)]))
            var v = 18 + rng.unit() * 4
            for i in 0...steps {
                v += (rng.unit() - 0.5) * 0.6
                let t = ts(i, jitter: false)
                let minute = (t - start) / 60_000
                switch room {
                case "r2" where i % 17 == 5: s.append(t, .nan)
                case "r3" where minute >= 40 && minute < 50: continue
                case "r4" where minute >= 60 && minute < 80:
                    if minute == 60 && (t - start) % 60_000 == 0 { s.append(t, .staleNaN) }
                default: s.append(t, v)
                }
            }
            out.append(s)
        }
        // histogram: classic buckets, cumulative.
        let bounds = ["0.1", "0.5", "1", "5", "+Inf"]
        for inst in ["a", "b"] {
            var counts = [Double](repeating: 0, count: bounds.count)
            var sum = 0.0
            var series = bounds.map { SeriesSamples(labels: labels("req_duration_seconds_bucket", [("job", "api"), ("instance", inst), ("le", $0)])) }
            var sSum = SeriesSamples(labels: labels("req_duration_seconds_sum", [("job", "api"), ("instance", inst)]))
            var sCount = SeriesSamples(labels: labels("req_duration_seconds_count", [("job", "api"), ("instance", inst)]))
            for i in 0...steps {
                let t = ts(i, jitter: false)
                for _ in 0..<Int(rng.next() % 20) {
                    let d = -log(1 - rng.unit()) * 0.8
                    sum += d
                    for (b, ub) in [0.1, 0.5, 1, 5, Double.infinity].enumerated() where d <= ub { counts[b] += 1 }
                }
                for b in bounds.indices { series[b].append(t, counts[b]) }
                sSum.append(t, sum)
                sCount.append(t, counts[bounds.count - 1])
            }
            out += series
            out += [sSum, sCount]
        }
        // up: 0/1 gauges.
        for (job, inst) in [("api", "a"), ("api", "b"), ("web", "c")] {
            var s = SeriesSamples(labels: labels("up", [("job", job), ("instance", inst)]))
            for i in 0...steps { s.append(ts(i, jitter: false), rng.unit() < 0.9 ? 1 : 0) }
            out.append(s)
        }
        // machine_info: info metric for joins.
        for (h, ver, rack) in [("h1", "v1", "x"), ("h2", "v2", "x"), ("h3", "v1", "y")] {
            var s = SeriesSamples(labels: labels("machine_info", [("host", h), ("version", ver), ("rack", rack)]))
            for i in 0...steps { s.append(ts(i, jitter: false), 1) }
            out.append(s)
        }
        // balance: gauge crossing zero.
        for acct in ["x", "y"] {
            var s = SeriesSamples(labels: labels("balance", [("account", acct)]))
            var v = (rng.unit() - 0.5) * 20
            for i in 0...steps {
                v += (rng.unit() - 0.5) * 3
                s.append(ts(i, jitter: false), (v * 1000).rounded() / 1000)
            }
            out.append(s)
        }
        // counter_with_reset: frequent resets.
        do {
            var s = SeriesSamples(labels: labels("counter_with_reset", [("id", "1")]))
            var v = 0.0
            for i in 0...steps {
                if i % 37 == 36 { v = rng.unit() * 3 } else { v += rng.unit() * 10 }
                s.append(ts(i, jitter: false), v)
            }
            out.append(s)
        }
        // sparse_metric: every 2 min, stops at 30 min.
        do {
            var s = SeriesSamples(labels: labels("sparse_metric", [("id", "1")]))
            var i = 0
            while Int64(i) * 120_000 <= 1_800_000 {
                s.append(start + Int64(i) * 120_000, Double(i * 3))
                i += 1
            }
            out.append(s)
        }
        // inf_metric: ±Inf now and then.
        for kind in ["pos", "neg"] {
            var s = SeriesSamples(labels: labels("inf_metric", [("kind", kind)]))
            for i in 0...steps {
                let v: Double = i % 23 == 7 ? (kind == "pos" ? .infinity : -.infinity) : Double(i % 11)
                s.append(ts(i, jitter: false), v)
            }
            out.append(s)
        }
        // disk_free_bytes: large values.
        for (h, dev) in [("h1", "sda"), ("h2", "sdb")] {
            var s = SeriesSamples(labels: labels("disk_free_bytes", [("host", h), ("device", dev)]))
            var v = 5e11 + rng.unit() * 1e11
            for i in 0...steps {
                v -= rng.unit() * 1e6
                s.append(ts(i, jitter: false), v.rounded())
            }
            out.append(s)
        }
        return out.sorted { $0.labels < $1.labels }
    }

    /// Evaluation times used by the oracle test's instant queries.
    static let instantTimes: [Int64] = [start + 1_800_000, start + 3_667_000, start + 4_200_000, start + span + 180_000]
}
