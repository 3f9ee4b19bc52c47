import Foundation
import Synchronization

/// Vigil's own metrics, rendered at `GET /metrics` in the text exposition format.
///
/// One registry per process: the HTTP layer, the ingest path, collectors, the online model loop and the store
/// (through `addProvider`) all register their counters, gauges and histograms into the same `SelfMetrics`, and the
/// server renders it once per scrape of `/metrics`.
///
/// Counters and gauges are keyed by (name, sorted label pairs). One mutex guards all of them; updates are a
/// handful per request, so contention is negligible next to decoding and appending.
public final class SelfMetrics: Sendable {
    struct Key: Hashable {
        let name: String
        let labels: [Label]
    }

    struct Histogram {
        var buckets: [Double]
        var counts: [UInt64]
        var sum = 0.0
        var count: UInt64 = 0
    }

    struct State {
        var counters: [Key: Double] = [:]
        var gauges: [Key: Double] = [:]
        var histograms: [Key: Histogram] = [:]
        var help: [String: (type: String, help: String)] = [:]
    }

    private let state = Mutex(State())
    /// Extra exposition text appended at render time (e.g. store internals).
    private let providers = Mutex<[@Sendable () -> String]>([])

    public static let durationBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    public init() {
        describe("vigil_ingested_samples_total", "counter", "Samples written to the store, by source.")
        describe("vigil_rejected_samples_total", "counter",
                 "Samples refused, by reason (out_of_order, duplicate, too_old, series_limit, new_series_rate, histogram, malformed).")
        describe("vigil_new_series_total", "counter", "Series created by ingestion.")
        describe("vigil_active_series", "gauge", "Series this process has accepted samples for since start.")
        describe("vigil_http_requests_total", "counter", "HTTP requests by handler and status code.")
        describe("vigil_http_request_duration_seconds", "histogram", "HTTP request duration by handler.")
        describe("vigil_inflight_requests", "gauge", "Ingestion requests being decoded or written.")
        describe("vigil_inflight_bytes", "gauge", "Body bytes held by in-flight ingestion requests.")
        describe("vigil_append_duration_seconds", "histogram",
                 "Time from handing a batch to the store until it is durable (includes WAL fsync).")
        describe("vigil_scrapes_total", "counter", "Scrapes by job and result.")
        describe("vigil_build_info", "gauge", "Always 1.")
    }

    public func describe(_ name: String, _ type: String, _ help: String) {
        state.withLock { $0.help[name] = (type, help) }
    }

    public func add(_ name: String, _ labels: [Label] = [], _ v: Double = 1) {
        let k = Key(name: name, labels: labels.sorted())
        state.withLock { $0.counters[k, default: 0] += v }
    }

    public func set(_ name: String, _ labels: [Label] = [], _ v: Double) {
        let k = Key(name: name, labels: labels.sorted())
        state.withLock { $0.gauges[k] = v }
    }

    public func observe(_ name: String, _ labels: [Label] = [], _ v: Double, buckets: [Double] = SelfMetrics.durationBuckets) {
        let k = Key(name: name, labels: labels.sorted())
        state.withLock { s in
            var h = s.histograms[k] ?? Histogram(buckets: buckets, counts: Array(repeating: 0, count: buckets.count))
            for (i, b) in h.buckets.enumerated() where v <= b { h.counts[i] += 1 }
            h.sum += v
            h.count += 1
            s.histograms[k] = h
        }
    }

    public func counter(_ name: String, _ labels: [Label] = []) -> Double {
        state.withLock { $0.counters[Key(name: name, labels: labels.sorted())] ?? 0 }
    }

    public func gauge(_ name: String, _ labels: [Label] = []) -> Double? {
        state.withLock { $0.gauges[Key(name: name, labels: labels.sorted())] }
    }

    /// Adds text produced at each render (must be valid exposition lines).
    public func addProvider(_ p: @escaping @Sendable () -> String) {
        providers.withLock { $0.append(p) }
    }

    public func render() -> String {
        let s = state.withLock { $0 }
        var byName: [String: [String]] = [:]
        func fmt(_ v: Double) -> String {
            if v.isNaN { return "NaN" }
            if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
            if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
            return "\(v)"
        }
        func lbl(_ ls: [Label], _ extra: Label? = nil) -> String {
            var all = ls
            if let extra { all.append(extra) }
            if all.isEmpty { return "" }
            return "{" + all.map { "\($0.name)=\"\(Labels.escape($0.value))\"" }.joined(separator: ",") + "}"
        }
        for (k, v) in s.counters { byName[k.name, default: []].append("\(k.name)\(lbl(k.labels)) \(fmt(v))") }
        for (k, v) in s.gauges { byName[k.name, default: []].append("\(k.name)\(lbl(k.labels)) \(fmt(v))") }
        for (k, h) in s.histograms {
            var lines: [String] = []
            for (i, b) in h.buckets.enumerated() {
                lines.append("\(k.name)_bucket\(lbl(k.labels, Label("le", fmt(b)))) \(h.counts[i])")
            }
            lines.append("\(k.name)_bucket\(lbl(k.labels, Label("le", "+Inf"))) \(h.count)")
            lines.append("\(k.name)_sum\(lbl(k.labels)) \(fmt(h.sum))")
            lines.append("\(k.name)_count\(lbl(k.labels)) \(h.count)")
            byName[k.name, default: []].append(lines.joined(separator: "\n"))
        }
        var out = ""
        for name in byName.keys.sorted() {
            if let d = s.help[name] {
                out += "# HELP \(name) \(d.help)\n# TYPE \(name) \(d.type)\n"
            }
            for line in byName[name]!.sorted() { out += line + "\n" }
        }
        for p in providers.withLock({ $0 }) { out += p() }
        return out
    }
}

/// Lets one warning through per `interval` and counts the ones held back, for log lines a sender can trigger at
/// will (malformed StatsD datagrams, the connection cap): the first occurrence is logged at once, a flood costs
/// one line per interval.
package final class LogThrottle: Sendable {
    private let state = Mutex<(last: ContinuousClock.Instant?, suppressed: Int)>((nil, 0))
    package let interval: Duration

    package init(interval: Duration = .seconds(10)) { self.interval = interval }

    /// Nil when the line should be held back, else how many were held back since the last one logged.
    package func admit() -> Int? {
        state.withLock { s in
            let now = ContinuousClock.now
            if let last = s.last, now - last < interval {
                s.suppressed += 1
                return nil
            }
            let n = s.suppressed
            s = (now, 0)
            return n
        }
    }
}

/// The version `vigil` reports (`vigil_build_info`, the scraper's User-Agent).
public let vigilServerVersion = "0.1.0"

extension Duration {
    /// The duration in seconds, for `_seconds` metrics and timeouts.
    package var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}
