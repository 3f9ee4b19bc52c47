import Foundation
import VigilCore

// Time sanity on the append path: a sample far ahead of the clock refuses its whole batch.
//
// One sample a month in the future used to become the store's "newest sample", from which retention and
// the too-old bound were computed: retention then deleted everything older than (future − retention)
// and every later write was refused as too old. Both bounds now come from the clock (`TSDBOptions.clock`),
// and samples more than `TSDBOptions.maxFuture` ahead of it are refused before anything is written.

/// Where the first sample past the future bound sits in a batch.
struct TooNewSample {
    /// Index into the labelled part, or into `refs` when `byRef`.
    let index: Int
    let byRef: Bool
    let timestamp: Int64
}

extension TSDB {
    /// The first sample later than `now + maxFuture`, if any (labelled part first, then the refs).
    func firstTooNew(_ batch: [SeriesSamples], _ refs: RefSamples, now: Int64) -> TooNewSample? {
        let bound = now &+ options.maxFuture
        for i in batch.indices {
            let found: Int64? = batch[i].timestamps.withUnsafeBufferPointer { tp in
                var newest = Int64.min
                for t in tp where t > newest { newest = t }
                guard newest > bound else { return nil }
                return tp.first { $0 > bound }
            }
            if let t = found { return TooNewSample(index: i, byRef: false, timestamp: t) }
        }
        let k: Int? = refs.timestamps.withUnsafeBufferPointer { tp in
            var newest = Int64.min
            for t in tp where t > newest { newest = t }
            guard newest > bound else { return nil }
            return tp.firstIndex { $0 > bound }
        }
        if let k { return TooNewSample(index: k, byRef: true, timestamp: refs.timestamps[k]) }
        return nil
    }

    /// The error for `s`. Requires `head.lock` (to name a series given by ref).
    func tooNewError(_ s: TooNewSample, _ batch: [SeriesSamples], _ refs: RefSamples, now: Int64) -> InvalidSeriesError {
        let labels: Labels
        if s.byRef {
            labels = head.seriesLocked(refs.refs[s.index]).map { head.labelsLocked($0) } ?? Labels(["__ref__": "\(refs.refs[s.index])"])
        } else {
            labels = batch[s.index].labels
        }
        return InvalidSeriesError(index: s.index, labels: labels, reason: Self.tooNewReason(s.timestamp, now: now, maxFuture: options.maxFuture))
    }

    package static func tooNewReason(_ t: Int64, now: Int64, maxFuture: Int64) -> String {
        "sample timestamp \(t) ms (\(isoTime(t))) is \(DurationParser.format(t &- now)) ahead of the store's clock "
            + "(\(isoTime(now))); at most \(DurationParser.format(maxFuture)) ahead is accepted "
            + "(--max-future; was the timestamp sent in the wrong unit?); nothing of this batch was written"
    }
}

/// RFC 3339 in UTC with milliseconds; timestamps past year 9999 are said to be so.
func isoTime(_ ms: Int64) -> String {
    if ms > 253_402_300_799_999 { return "after year 9999" }
    if ms < -62_135_596_800_000 { return "before year 1" }
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
}
