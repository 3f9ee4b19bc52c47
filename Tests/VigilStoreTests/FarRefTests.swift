import Foundation
import Testing
import VigilCore
@testable import VigilStore

/// Series refs past the head's dense ref table (≥ 2³¹: its side maps) and past 32 bits (≥ 2³²: the posting
/// lists' 64-bit part, and not cached by remote_write). Vigil hands out refs from 1, so such refs only come from
/// an existing WAL or vigil.db; here they are written into a crashed store's WAL by hand.
@Suite struct FarRefTests {
    static let past31: UInt64 = (1 << 31) + 5
    static let past32: UInt64 = (1 << 33) + 7

    func labels(_ i: Int) -> Labels { Labels(["__name__": "far_metric", "job": "far", "i": "\(i)"]) }

    @Test func seriesWithRefsPastTheDenseTableAreReplayedFoundAppendedPersistedAndRemoved() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let db = try TSDB(directory: dir.path, options: testOptions())
        _ = try db.appendSync([SeriesSamples(labels: labels(0), timestamps: [1_000], values: [1])])   // ref 1
        let crashed = try dir.crashCopy()
        try db.close()
        defer { crashed.remove() }

        // Series 1 and 2 with far refs, and their samples, at the end of the last segment.
        var payload: [UInt8] = []
        encodeSeriesRecordEntry(Self.past31, labels(1), into: &payload)
        encodeSeriesRecordEntry(Self.past32, labels(2), into: &payload)
        var framed: [UInt8] = []
        WALFormat.frame(.series, payload, into: &framed)
        payload = []
        for (ref, v) in [(Self.past31, 10.0), (Self.past32, 20.0)] {
            [Int64(1_000), 2_000].withUnsafeBufferPointer { t in
                [v, v + 1].withUnsafeBufferPointer { vs in encodeSamplesEntry(ref, t, vs, into: &payload) }
            }
        }
        WALFormat.frame(.samples, payload, into: &framed)
        let last = try #require(try walSegments(crashed.path).last)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: last))
        try h.seekToEnd()
        try h.write(contentsOf: Data(framed))
        try h.close()

        let all = [try LabelMatcher(.equal, "job", "far")]
        var re = try TSDB(directory: crashed.path, options: testOptions())
        #expect(re.head.lock.withLock { re.head.seriesLocked(Self.past32).map { re.head.labelsLocked($0) } } == labels(2))
        #expect(re.head.index.allPostings()[Label("job", "far")] == [1, Self.past31, Self.past32])

        // Found by labels (no new series), appended to by labels and by ref; a new series gets the next ref.
        let r = try re.appendSync([SeriesSamples(labels: labels(1), timestamps: [3_000], values: [12]),
                                   SeriesSamples(labels: labels(3), timestamps: [3_000], values: [30])],
                                  refs: RefSamples(refs: [Self.past32], timestamps: [3_000], values: [22]))
        #expect(r.result.accepted == 3 && r.result.newSeries == 1 && r.unknownRefs.isEmpty)
        #expect(r.seriesRefs == [Self.past31, Self.past32 + 1])
        let want = [SeriesSamples(labels: labels(0), timestamps: [1_000], values: [1]),
                    SeriesSamples(labels: labels(1), timestamps: [1_000, 2_000, 3_000], values: [10, 11, 12]),
                    SeriesSamples(labels: labels(2), timestamps: [1_000, 2_000, 3_000], values: [20, 21, 22]),
                    SeriesSamples(labels: labels(3), timestamps: [3_000], values: [30])]
        #expect(try re.select(all, mint: .min, maxt: .max) == want)
        #expect(try re.select([try LabelMatcher(.equal, "i", "2")], mint: .min, maxt: .max) == [want[2]])
        #expect(re.head.lock.withLock { re.head.seriesCountLocked } == 4)

        // Persisted under those ids and loaded back from SQLite.
        try re.flush()
        try re.close()
        re = try TSDB(directory: crashed.path, options: testOptions())
        #expect(try re.select(all, mint: .min, maxt: .max) == want)
        #expect(re.head.index.allPostings()[Label("job", "far")] == [1, Self.past31, Self.past32, Self.past32 + 1])

        // Removed (as retention removes a series): gone from the maps, the label-set lookup and the index.
        re.head.lock.withLock {
            let gone = [Self.past31, Self.past32].compactMap { re.head.seriesLocked($0) }
            re.head.removeLocked(gone)
        }
        #expect(re.head.lock.withLock { re.head.seriesLocked(Self.past32) == nil && re.head.seriesCountLocked == 2 })
        #expect(re.head.index.allPostings()[Label("job", "far")] == [1, Self.past32 + 1])
        #expect(re.head.lock.withLock { re.head.lookupLocked(labels(2), hash: seriesHash(labels(2))) == nil })
        #expect(re.head.lock.withLock { re.head.lookupLocked(labels(3), hash: seriesHash(labels(3)))?.ref } == Self.past32 + 1)
        try re.close()
    }
}
