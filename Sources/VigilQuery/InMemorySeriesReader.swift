import VigilCore

/// A reference `SeriesReader` over series held in memory: for tests, the oracle test and benchmarks
/// until the store is available. Not a store: no persistence, no concurrency beyond immutable reads.
public struct InMemorySeriesReader: SeriesReader {
    public let all: [SeriesSamples]

    /// Series with the same labels are merged (samples sorted by time, later duplicates dropped).
    public init(_ series: [SeriesSamples]) {
        var byLabels: [Labels: Int] = [:]
        var merged: [SeriesSamples] = []
        for s in series {
            if let i = byLabels[s.labels] {
                merged[i].timestamps += s.timestamps
                merged[i].values += s.values
            } else {
                byLabels[s.labels] = merged.count
                merged.append(s)
            }
        }
        for i in merged.indices {
            let idx = merged[i].timestamps.indices.sorted { merged[i].timestamps[$0] < merged[i].timestamps[$1] }
            var ts: [Int64] = []
            var vs: [Double] = []
            for j in idx where ts.last != merged[i].timestamps[j] {
                ts.append(merged[i].timestamps[j])
                vs.append(merged[i].values[j])
            }
            merged[i] = SeriesSamples(labels: merged[i].labels, timestamps: ts, values: vs)
        }
        all = merged.sorted { $0.labels < $1.labels }
    }

    private func matching(_ matchers: [LabelMatcher]) -> [SeriesSamples] {
        all.filter { s in matchers.allSatisfy { $0.matches(s.labels) } }
    }

    public func select(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [SeriesSamples] {
        var out: [SeriesSamples] = []
        for s in matching(matchers) {
            let lo = lowerBound(s.timestamps, mint)
            let hi = lowerBound(s.timestamps, maxt == Int64.max ? maxt : maxt + 1)
            if lo < hi {
                out.append(SeriesSamples(labels: s.labels, timestamps: Array(s.timestamps[lo..<hi]), values: Array(s.values[lo..<hi])))
            }
        }
        return out
    }

    public func series(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [Labels] {
        try select(matchers, mint: mint, maxt: maxt).map(\.labels)
    }

    public func labelNames(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [String] {
        let src = matchers.isEmpty ? try select([], mint: mint, maxt: maxt) : try select(matchers, mint: mint, maxt: maxt)
        return Array(Set(src.flatMap { $0.labels.map(\.name) })).sorted()
    }

    public func labelValues(_ name: String, matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [String] {
        let src = try select(matchers, mint: mint, maxt: maxt)
        return Array(Set(src.compactMap { $0.labels[name] })).sorted()
    }
}
