import Synchronization
import VigilCore
import VigilStore

/// An in-memory `SampleAppender` + `SeriesReader` with the store's append semantics (whole-batch validation,
/// out-of-order / duplicate / too-old accounting). Nothing is durable: for tests and `--data :memory:`.
public final class MemoryStore: SampleAppender, SeriesReader, Sendable {
    /// Series by metric name, then by label set: a selector with a matcher on `__name__` (as nearly every query has)
    /// looks only at the matching names' series, not at the whole store.
    private let series = Mutex<[String: [Labels: SeriesSamples]]>([:])
    /// Samples older than the clock's now − `outOfBoundsMs` (0 = no bound) are counted as too old, as in the TSDB:
    /// the bound follows the clock, never the newest sample.
    public let outOfBoundsMs: Int64
    /// Samples more than this far ahead of the clock refuse their whole batch (0 = no bound), as in the TSDB.
    public let maxFutureMs: Int64
    private let clock: any VigilClock

    public init(outOfBoundsMs: Int64 = 0, maxFutureMs: Int64 = 0, clock: any VigilClock = WallClock()) {
        self.outOfBoundsMs = outOfBoundsMs
        self.maxFutureMs = maxFutureMs
        self.clock = clock
    }

    public func append(_ batch: [SeriesSamples]) async throws -> AppendResult {
        let now = clock.nowMillis()
        for (i, s) in batch.enumerated() {
            do { try s.labels.validate() } catch {
                throw InvalidSeriesError(index: i, labels: s.labels, reason: "\(error)")
            }
            if maxFutureMs > 0, let t = s.timestamps.first(where: { $0 > now &+ maxFutureMs }) {
                // The TSDB's own wording, so `:memory:` and a data directory refuse the same way.
                throw InvalidSeriesError(index: i, labels: s.labels,
                                         reason: TSDB.tooNewReason(t, now: now, maxFuture: maxFutureMs))
            }
        }
        return series.withLock { all in
            var r = AppendResult()
            for s in batch where !s.timestamps.isEmpty {
                let name = s.labels["__name__"] ?? ""
                var cur = all[name]?[s.labels] ?? { r.newSeries += 1; return SeriesSamples(labels: s.labels) }()
                for (t, v) in zip(s.timestamps, s.values) {
                    if outOfBoundsMs > 0 && t < now &- outOfBoundsMs { r.tooOld += 1; continue }
                    if let last = cur.timestamps.last {
                        if t < last { r.outOfOrder += 1; continue }
                        if t == last {
                            if cur.values.last?.bitPattern == v.bitPattern { r.identical += 1 } else { r.duplicate += 1 }
                            continue
                        }
                    }
                    cur.append(t, v)
                    r.accepted += 1
                }
                if cur.count > 0 { all[name, default: [:]][s.labels] = cur } else { r.newSeries -= 1 }
            }
            return r
        }
    }

    private func matching(_ m: [LabelMatcher]) -> [SeriesSamples] {
        let byName = m.filter { $0.name == "__name__" }  // a bucket's key is its series' __name__ ("" when absent)
        return series.withLock { all in
            var out: [SeriesSamples] = []
            for (name, bucket) in all where byName.allSatisfy({ $0.matches(name) }) {
                for s in bucket.values where m.allSatisfy({ $0.matches(s.labels) }) { out.append(s) }
            }
            return out
        }.sorted { $0.labels < $1.labels }
    }

    public func select(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [SeriesSamples] {
        matching(matchers).compactMap { s in
            var o = SeriesSamples(labels: s.labels)
            for (t, v) in zip(s.timestamps, s.values) where t >= mint && t <= maxt { o.append(t, v) }
            return o.count > 0 ? o : nil
        }
    }

    public func series(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [Labels] {
        try select(matchers, mint: mint, maxt: maxt).map(\.labels)
    }

    public func labelNames(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [String] {
        Array(Set(try series(matchers, mint: mint, maxt: maxt).flatMap { $0.map(\.name) })).sorted()
    }

    public func labelValues(_ name: String, matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [String] {
        Array(Set(try series(matchers, mint: mint, maxt: maxt).compactMap { $0[name] })).sorted()
    }

    /// Total samples held.
    public var sampleCount: Int { series.withLock { $0.values.reduce(0) { n, b in b.values.reduce(n) { $0 + $1.count } } } }
}
