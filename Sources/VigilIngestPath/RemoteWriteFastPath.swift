import VigilCore
import VigilIngest

/// A remote_write request split by the series cache: series seen before go by reference, the others by labels.
public struct ResolvedWrite: Sendable {
    package let columns: RemoteWriteColumns
    /// Per series: fingerprint of its label key (unused for a series without a key).
    var hashes: [SeriesKey]
    /// Series the cache did not know, labels decoded and validated, in request order.
    var labelled: [SeriesSamples] = []
    /// `labelled[j]` is series `labelledSeries[j]` of `columns`.
    var labelledSeries: [Int] = []
    /// Samples of known series, one entry per sample, in request order.
    var refs = RefSamples()
    /// `refs` entry `k` belongs to series `refSeries[k]`.
    var refSeries: [Int32] = []

    public var seriesCount: Int { columns.seriesCount }
    public var cachedSeries: Int { columns.seriesCount - labelled.count }
}

extension Ingestor {
    /// Whether remote_write bodies can take the by-reference path (the store is a `RefAppender`).
    public var takesRefs: Bool { refAppender != nil }

    /// Looks every series up in the cache and decodes the labels of those it does not know. Throws the decoder's
    /// error for an invalid series (before anything is written).
    public func resolve(_ cols: RemoteWriteColumns) throws(IngestError) -> ResolvedWrite {
        let n = cols.seriesCount
        var hashes = [SeriesKey](repeating: SeriesKey(0, 0), count: n)
        for i in 0..<n {
            hashes[i] = cols.withLabelKey(i) { k in k.map { SeriesRefCache.hash($0) } ?? SeriesKey(0, 0) }
        }
        var found = [UInt64](repeating: 0, count: n)
        seriesCache.withLock { st in
            for i in 0..<n {
                found[i] = cols.withLabelKey(i) { k in k == nil ? 0 : st.lookup(hashes[i]) }
            }
        }
        var w = ResolvedWrite(columns: cols, hashes: hashes)
        let starts = cols.sampleStart
        var hitSamples = 0
        for i in 0..<n where found[i] != 0 { hitSamples += starts[i + 1] - starts[i] }
        if hitSamples > 0 {
            // One pass per column into uninitialised storage: no per-sample capacity or uniqueness checks.
            let refs = [UInt64](unsafeUninitializedCapacity: hitSamples) { buf, count in
                for i in 0..<n where found[i] != 0 {
                    for _ in starts[i]..<starts[i + 1] { buf[count] = found[i]; count += 1 }
                }
            }
            let owner = [Int32](unsafeUninitializedCapacity: hitSamples) { buf, count in
                for i in 0..<n where found[i] != 0 {
                    for _ in starts[i]..<starts[i + 1] { buf[count] = Int32(i); count += 1 }
                }
            }
            let ts = [Int64](unsafeUninitializedCapacity: hitSamples) { buf, count in
                cols.timestamps.withUnsafeBufferPointer { src in
                    for i in 0..<n where found[i] != 0 {
                        for k in starts[i]..<starts[i + 1] { buf[count] = src[k]; count += 1 }
                    }
                }
            }
            let vs = [Double](unsafeUninitializedCapacity: hitSamples) { buf, count in
                cols.values.withUnsafeBufferPointer { src in
                    for i in 0..<n where found[i] != 0 {
                        for k in starts[i]..<starts[i + 1] { buf[count] = src[k]; count += 1 }
                    }
                }
            }
            w.refs = RefSamples(refs: refs, timestamps: ts, values: vs)
            w.refSeries = owner
        }
        for i in 0..<n where found[i] == 0 {
            w.labelled.append(try cols.series(i))
            w.labelledSeries.append(i)
        }
        return w
    }

    /// Writes a resolved request: limits on the new series, one atomic append of both parts, then remembers the
    /// new series' refs. Samples whose ref the store no longer knows (series dropped by retention) are sent again
    /// by labels in a second append.
    public func ingest(_ w: ResolvedWrite, source: String, histograms: Int = 0) async throws(WriteRefusal) -> IngestOutcome {
        let cols = w.columns
        var (out, r, kept) = try await write(w.labelled, refs: w.refs, source: source, histograms: histograms)
        remember(cols, w.hashes, r.seriesRefs, { j in w.labelledSeries[kept?[j] ?? j] })
        metrics.add("vigil_series_cache_lookups_total", [Label("result", "hit")], Double(w.cachedSeries))
        metrics.add("vigil_series_cache_lookups_total", [Label("result", "miss")], Double(w.labelled.count))
        guard !r.unknownRefs.isEmpty else { return out }

        // Series the store dropped since they were cached: forget them, resend their samples with labels.
        var gone: [Int] = []
        var seen = Set<Int32>()
        for k in r.unknownRefs where seen.insert(w.refSeries[k]).inserted { gone.append(Int(w.refSeries[k])) }
        seriesCache.withLock { st in
            for i in gone { cols.withLabelKey(i) { k in if k != nil { st.remove(w.hashes[i]) } } }
        }
        var resend: [SeriesSamples] = []
        var resendSeries: [Int] = []
        var byIndex: [Int: Int] = [:]
        for k in r.unknownRefs {
            let i = Int(w.refSeries[k])
            if byIndex[i] == nil {
                let labels: Labels
                do { labels = try cols.labels(i) } catch { throw .invalid("\(error)") }
                byIndex[i] = resend.count
                resend.append(SeriesSamples(labels: labels, timestamps: [], values: []))
                resendSeries.append(i)
            }
            resend[byIndex[i]!].timestamps.append(w.refs.timestamps[k])
            resend[byIndex[i]!].values.append(w.refs.values[k])
        }
        let (more, r2, kept2) = try await write(resend, refs: nil, source: source, histograms: 0)
        remember(cols, w.hashes, r2.seriesRefs, { j in resendSeries[kept2?[j] ?? j] })
        out.accepted += more.accepted
        out.outOfOrder += more.outOfOrder
        out.duplicate += more.duplicate
        out.tooOld += more.tooOld
        out.seriesLimit += more.seriesLimit
        out.newSeriesRate += more.newSeriesRate
        out.newSeries += more.newSeries
        if out.firstDropped == nil { out.firstDropped = more.firstDropped }
        return out
    }

    /// Caches `refs[j]` (when not 0) under the label key of series `series(j)`.
    private func remember(_ cols: RemoteWriteColumns, _ hashes: [SeriesKey], _ refs: [UInt64], _ series: (Int) -> Int) {
        guard refs.contains(where: { $0 != 0 }) else { return }
        seriesCache.withLock { st in
            for (j, ref) in refs.enumerated() where ref != 0 {
                let i = series(j)
                cols.withLabelKey(i) { k in if k != nil { st.insert(hashes[i], ref: ref) } }
            }
        }
    }
}
