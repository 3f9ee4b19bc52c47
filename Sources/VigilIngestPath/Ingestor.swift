import Foundation
import Synchronization
import VigilCore
import VigilIngest

/// Why a request was refused whole (nothing written). Maps to one HTTP status in `IngestRoutes`.
public enum WriteRefusal: Error, Sendable, CustomStringConvertible {
    /// Malformed input or a series over a per-series limit: 400.
    case invalid(String)
    /// The store failed (I/O): 500.
    case storage(String)

    public var description: String {
        switch self {
        case .invalid(let m), .storage(let m): return m
        }
    }
}

/// The result of a write that was (at least partly) accepted.
public struct IngestOutcome: Sendable, Equatable {
    public var accepted = 0
    public var outOfOrder = 0
    public var duplicate = 0
    public var tooOld = 0
    /// Dropped because the active-series limit was reached.
    public var seriesLimit = 0
    /// Dropped because the new-series-per-second limit was reached.
    public var newSeriesRate = 0
    /// remote_write 2.0 native histograms (not stored).
    public var histograms = 0
    public var newSeries = 0
    /// First dropped series, for the message.
    public var firstDropped: String?

    public init() {}

    public var rejected: Int { outOfOrder + duplicate + tooOld + seriesLimit + newSeriesRate + histograms }

    /// One line: `accepted 10 samples, rejected 2 (out_of_order=1 duplicate=1)`.
    public var summary: String {
        var parts: [String] = []
        for (n, v) in [("out_of_order", outOfOrder), ("duplicate", duplicate), ("too_old", tooOld),
                       ("series_limit", seriesLimit), ("new_series_rate", newSeriesRate),
                       ("histogram", histograms)] where v > 0 {
            parts.append("\(n)=\(v)")
        }
        var s = "accepted \(accepted) samples, rejected \(rejected)"
        if !parts.isEmpty { s += " (" + parts.joined(separator: " ") + ")" }
        if let f = firstDropped { s += "; first dropped series: \(f)" }
        return s
    }
}

/// Checks limits, hands batches to the store and keeps the ingestion counters.
/// Every producer (HTTP endpoints, collectors, Graphite/StatsD listeners) writes through one `Ingestor`.
public final class Ingestor: Sendable {
    public let appender: any SampleAppender
    /// The same store when it also takes samples by series reference (the remote_write fast path), else nil.
    package let refAppender: (any RefAppender)?
    /// remote_write label bytes → series ref, for `refAppender`.
    public let seriesCache: SeriesRefCache
    public let limits: SeriesLimits
    public let metrics: SelfMetrics

    private struct Tracker {
        var known = Set<UInt64>()
        var windowStart: Int64 = 0
        var newInWindow = 0
    }

    private let tracker = Mutex(Tracker())
    /// Hash every series against a known set only when a cardinality limit needs it; otherwise the store's
    /// `newSeries` counts are enough for the gauge (and the hot path stays free of per-series hashing).
    package let tracksCardinality: Bool
    private let createdSeries: Mutex<Int>

    /// - Parameter existingSeries: series already in the store at start (for the active-series gauge).
    public init(appender: any SampleAppender, limits: SeriesLimits, metrics: SelfMetrics, existingSeries: Int = 0,
                seriesCacheSize: Int = 1 << 18) {
        self.appender = appender
        self.refAppender = appender as? any RefAppender
        self.seriesCache = SeriesRefCache(maxPerGeneration: seriesCacheSize)
        self.limits = limits
        self.metrics = metrics
        self.tracksCardinality = limits.maxActiveSeries > 0 || limits.maxNewSeriesPerSecond > 0
        self.createdSeries = Mutex(existingSeries)
        metrics.set("vigil_active_series", [], Double(existingSeries))
        metrics.describe("vigil_identical_resent_samples_total", "counter",
                         "Resends of a series' newest sample with the same value (not stored again, not an error).")
        metrics.describe("vigil_series_cache_lookups_total", "counter",
                         "remote_write 1.0 series found in the series cache (hit) or decoded by labels (miss).")
    }

    public var activeSeries: Int {
        tracksCardinality ? tracker.withLock { $0.known.count } : createdSeries.withLock { $0 }
    }

    /// Checks the per-series limits and the Prometheus label rules; the first violation refuses the request.
    public func validate(_ batch: [SeriesSamples]) throws(WriteRefusal) {
        for (i, s) in batch.enumerated() {
            if let v = violation(s.labels) { throw .invalid("series #\(i) \(Self.short(s.labels)): \(v)") }
        }
    }

    /// What is wrong with one label set under `limits` and the Prometheus label rules, nil when nothing is.
    /// Every input path (HTTP bodies, Pushgateway path labels, Graphite, StatsD) is held to this one check.
    public func violation(_ labels: Labels) -> String? {
        if labels.count > limits.maxLabelsPerSeries {
            return "\(labels.count) labels exceed the limit of \(limits.maxLabelsPerSeries)"
        }
        for l in labels {
            if l.name.utf8.count > limits.maxLabelNameBytes {
                return "label name of \(l.name.utf8.count) bytes exceeds the limit of \(limits.maxLabelNameBytes)"
            }
            if l.value.utf8.count > limits.maxLabelValueBytes {
                return "value of label \"\(l.name)\" has \(l.value.utf8.count) bytes, over the limit of \(limits.maxLabelValueBytes)"
            }
        }
        do { try labels.validate() } catch { return "\(error)" }
        return nil
    }

    /// Validates, applies cardinality limits, appends and waits until durable.
    /// - Throws: `WriteRefusal.invalid` (nothing written) or `.storage`.
    /// - Parameter validated: the batch comes from a decoder that already enforced the label rules and limits.
    @discardableResult
    public func ingest(_ batch: [SeriesSamples], source: String, histograms: Int = 0,
                       validated: Bool = false) async throws(WriteRefusal) -> IngestOutcome {
        if !validated { try validate(batch) }
        return try await write(batch, refs: nil, source: source, histograms: histograms).outcome
    }

    /// Cardinality limits on the labelled part, one (atomic) append of it and `refs`, counters.
    /// `kept` maps entries of the written batch (and so `result.seriesRefs`) to `batch` indices when
    /// limits dropped some series; nil when everything was written.
    package func write(_ batch: [SeriesSamples], refs: RefSamples?, source: String, histograms: Int)
        async throws(WriteRefusal) -> (outcome: IngestOutcome, result: RefAppendResult, kept: [Int]?) {
        var out = IngestOutcome()
        out.histograms = histograms
        // Cardinality: decide which series may be created now.
        let nowSec = Int64(Date().timeIntervalSince1970)
        var hashes: [UInt64] = []
        if tracksCardinality {
            hashes.reserveCapacity(batch.count)
            for s in batch { hashes.append(s.labels.stableHash) }
        }
        let limits = self.limits
        let tracks = tracksCardinality
        let (drop, reserved): ([Bool], [UInt64]) = !tracks ? ([], []) : tracker.withLock { t in
            var drop = [Bool](repeating: false, count: batch.count)
            var reserved: [UInt64] = []
            if t.windowStart != nowSec {
                t.windowStart = nowSec
                t.newInWindow = 0
            }
            for (i, h) in hashes.enumerated() where !batch[i].timestamps.isEmpty && !t.known.contains(h) {
                if limits.maxActiveSeries > 0 && t.known.count >= limits.maxActiveSeries {
                    drop[i] = true
                    continue
                }
                if limits.maxNewSeriesPerSecond > 0 && t.newInWindow >= limits.maxNewSeriesPerSecond {
                    drop[i] = true
                    continue
                }
                t.known.insert(h)
                t.newInWindow += 1
                reserved.append(h)
            }
            return (drop, reserved)
        }
        var toWrite = batch
        var kept: [Int]? = nil
        if drop.contains(true) {
            toWrite = []
            toWrite.reserveCapacity(batch.count)
            kept = []
            for (i, s) in batch.enumerated() {
                if drop[i] {
                    let overActive = limits.maxActiveSeries > 0 && activeSeries >= limits.maxActiveSeries
                    if overActive { out.seriesLimit += s.count } else { out.newSeriesRate += s.count }
                    if out.firstDropped == nil {
                        out.firstDropped = "\(Self.short(s.labels)) (\(overActive ? "active series limit \(limits.maxActiveSeries)" : "new series limit \(limits.maxNewSeriesPerSecond)/s") reached)"
                    }
                } else {
                    toWrite.append(s)
                    kept?.append(i)
                }
            }
        }
        let start = ContinuousClock.now
        let full: RefAppendResult
        do {
            if let refAppender {
                full = try await refAppender.append(toWrite, refs: refs ?? RefSamples())
            } else {
                var r = RefAppendResult()
                r.result = try await appender.append(toWrite)
                full = r
            }
        } catch let e as InvalidSeriesError {
            release(reserved)
            metrics.add("vigil_rejected_samples_total", [Label("reason", "malformed")],
                        Double(batch.reduce(0) { $0 + $1.count } + (refs?.count ?? 0)))
            throw .invalid("series #\(e.index) \(Self.short(e.labels)): \(e.reason)")
        } catch {
            release(reserved)
            throw .storage("cannot append to the store: \(error)")
        }
        metrics.observe("vigil_append_duration_seconds", [], (ContinuousClock.now - start).seconds)
        let result = full.result
        out.accepted = result.accepted
        out.outOfOrder = result.outOfOrder
        out.duplicate = result.duplicate
        out.tooOld = result.tooOld
        out.newSeries = result.newSeries
        metrics.add("vigil_ingested_samples_total", [Label("source", source)], Double(result.accepted))
        if result.identical > 0 { metrics.add("vigil_identical_resent_samples_total", [], Double(result.identical)) }
        for (reason, n) in [("out_of_order", out.outOfOrder), ("duplicate", out.duplicate), ("too_old", out.tooOld),
                            ("series_limit", out.seriesLimit), ("new_series_rate", out.newSeriesRate),
                            ("histogram", out.histograms)] where n > 0 {
            metrics.add("vigil_rejected_samples_total", [Label("reason", reason)], Double(n))
        }
        if result.newSeries > 0 {
            metrics.add("vigil_new_series_total", [], Double(result.newSeries))
            if !tracksCardinality { createdSeries.withLock { $0 += result.newSeries } }
        }
        metrics.set("vigil_active_series", [], Double(activeSeries))
        return (out, full, kept)
    }

    private func release(_ hashes: [UInt64]) {
        guard !hashes.isEmpty else { return }
        tracker.withLock { t in for h in hashes { t.known.remove(h) } }
    }

    /// A label set for messages, cut at 200 characters.
    package static func short(_ l: Labels) -> String {
        let s = l.description
        return s.count > 200 ? String(s.prefix(200)) + "…" : s
    }
}
