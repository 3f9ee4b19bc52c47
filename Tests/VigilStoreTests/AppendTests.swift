import Foundation
import Testing
import VigilCore
@testable import VigilStore

@Suite struct AppendTests {
    /// The by-reference path: refs from a labelled append address the same series; order rules, unknown
    /// refs, atomicity with an invalid labelled part, and WAL replay all hold as for labels.
    @Test func appendByReference() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var db = try TSDB(directory: dir.path, options: testOptions(samplesPerChunk: 4))
        let a = seriesLabels(1), b = seriesLabels(2)
        let first = try db.appendSync([SeriesSamples(labels: a, timestamps: [10], values: [1]),
                                       SeriesSamples(labels: b, timestamps: [10], values: [2])], refs: RefSamples())
        #expect(first.result.newSeries == 2 && first.seriesRefs.count == 2 && !first.seriesRefs.contains(0))
        let (ra, rb) = (first.seriesRefs[0], first.seriesRefs[1])
        var refs = RefSamples()
        for k in 2...9 { refs.append(ref: ra, Int64(k) * 10, Double(k)) }
        refs.append(ref: rb, 20, 20)
        refs.append(ref: rb, 20, 21)       // duplicate (other value)
        refs.append(ref: rb, 15, 9)        // out of order
        refs.append(ref: ra, 90, 9)        // identical resend
        refs.append(ref: 999_999, 30, 3)   // no such series
        let r = try db.appendSync([], refs: refs)
        #expect(r.result.accepted == 9 && r.result.duplicate == 1 && r.result.outOfOrder == 1 && r.result.identical == 1)
        #expect(r.unknownRefs == [12])
        // An invalid labelled entry refuses the whole call, refs included.
        var more = RefSamples()
        more.append(ref: ra, 100, 10)
        #expect(throws: InvalidSeriesError.self) {
            _ = try db.appendSync([SeriesSamples(labels: Labels(["__name__": "ok", "bad-name": "x"]), timestamps: [1], values: [1])],
                                  refs: more)
        }
        let want = [SeriesSamples(labels: a, timestamps: (1...9).map { Int64($0) * 10 }, values: (1...9).map(Double.init)),
                    SeriesSamples(labels: b, timestamps: [10, 20], values: [2, 20])].sorted { $0.labels < $1.labels }
        #expect(try db.select(everything, mint: .min, maxt: .max) == want)
        // Mixed call: a new series by labels and an old one by ref in one write.
        let mixed = try db.appendSync([SeriesSamples(labels: seriesLabels(3), timestamps: [5], values: [5])], refs: more)
        #expect(mixed.result.accepted == 2 && mixed.result.newSeries == 1)
        try db.close()
        db = try TSDB(directory: dir.path, options: testOptions(samplesPerChunk: 4))
        defer { try? db.close() }
        let after = try db.select(everything, mint: .min, maxt: .max)
        #expect(after.count == 3)
        #expect(after.first { $0.labels == a }?.timestamps.last == 100)
        // Refs survive a restart (they are the WAL's and SQLite's series ids).
        var again = RefSamples()
        again.append(ref: ra, 110, 11)
        #expect(try db.appendSync([], refs: again).result.accepted == 1)
    }

    @Test func outOfOrderAndDuplicatesAreCountedSampleBySample() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let db = try TSDB(directory: dir.path, options: testOptions())
        let l = seriesLabels(1)
        var r = try db.appendSync([SeriesSamples(labels: l, timestamps: [10, 20, 30], values: [1, 2, 3])])
        #expect(r.accepted == 3 && r.newSeries == 1 && r.rejected == 0)
        // 30 again (duplicate, other value), 25 (out of order), 40 ok, 40 again (duplicate), 35 (ooo), 50 ok.
        r = try db.appendSync([SeriesSamples(labels: l, timestamps: [30, 25, 40, 40, 35, 50], values: [9, 9, 4, 9, 9, 5])])
        #expect(r.accepted == 2)
        #expect(r.duplicate == 2)
        #expect(r.outOfOrder == 2)
        #expect(r.newSeries == 0)
        let got = try db.select([.equal("instance", "host-1")], mint: .min, maxt: .max)
        #expect(got == [SeriesSamples(labels: l, timestamps: [10, 20, 30, 40, 50], values: [1, 2, 3, 4, 5])])
        // A resend of the newest sample with the same value is neither stored nor rejected (as in Prometheus).
        r = try db.appendSync([SeriesSamples(labels: l, timestamps: [50, 50], values: [5, 6])])
        #expect(r.identical == 1 && r.duplicate == 1 && r.accepted == 0 && r.rejected == 1)
        try db.close()
        // The rejected samples never reached the WAL either.
        let again = try TSDB(directory: dir.path, options: testOptions())
        #expect(try again.select([.equal("instance", "host-1")], mint: .min, maxt: .max) == got)
        try again.close()
    }

    @Test func tooOldSamplesAreCounted() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var o = testOptions(retention: 1000)
        o.clock = SimulatedClock(startMillis: 10_000) // too old: before 9_000
        let db = try TSDB(directory: dir.path, options: o)
        _ = try db.appendSync([SeriesSamples(labels: seriesLabels(1), timestamps: [10_000], values: [1])])
        let r = try db.appendSync([SeriesSamples(labels: seriesLabels(2), timestamps: [5_000, 9_500], values: [1, 2])])
        #expect(r.tooOld == 1 && r.accepted == 1)
        let r2 = try db.appendSync([SeriesSamples(labels: seriesLabels(3), timestamps: [100], values: [1])])
        #expect(r2.tooOld == 1 && r2.newSeries == 0 && r2.accepted == 0)
        #expect(try db.series(everything, mint: .min, maxt: .max).count == 2)
        try db.close()
    }

    @Test func invalidBatchWritesNothing() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let db = try TSDB(directory: dir.path, options: testOptions())
        _ = try db.appendSync([SeriesSamples(labels: seriesLabels(0), timestamps: [1], values: [1])])
        let walBefore = try walSegments(dir.path).map(fileSize)
        var mismatched = SeriesSamples(labels: seriesLabels(5), timestamps: [1, 2], values: [1, 2])
        mismatched.values.append(3)
        let bad: [[SeriesSamples]] = [
            [SeriesSamples(labels: seriesLabels(0), timestamps: [2], values: [2]),
             SeriesSamples(labels: Labels(["__name__": "x", "bad-name": "v"]), timestamps: [2], values: [2])],
            [SeriesSamples(labels: seriesLabels(3), timestamps: [2], values: [2]),
             SeriesSamples(labels: Labels(["job": "no_metric_name"]), timestamps: [2], values: [2])],
            [SeriesSamples(labels: seriesLabels(0), timestamps: [3], values: [3]), mismatched],
            [SeriesSamples(labels: Labels([Label("__name__", "x"), Label("a", "1"), Label("a", "2")]), timestamps: [2], values: [2])],
            [SeriesSamples(labels: Labels(["__name__": "x", "empty": ""]), timestamps: [2], values: [2])],
        ]
        for (n, b) in bad.enumerated() {
            do {
                _ = try db.appendSync(b)
                Issue.record("batch \(n) was accepted")
            } catch let e as InvalidSeriesError {
                #expect(e.index == b.count - 1, "batch \(n): \(e)")
            }
        }
        #expect(try walSegments(dir.path).map(fileSize) == walBefore)
        let all = try db.select(everything, mint: .min, maxt: .max)
        #expect(all == [SeriesSamples(labels: seriesLabels(0), timestamps: [1], values: [1])])
        #expect(try db.labelValues("instance", matchers: [], mint: .min, maxt: .max) == ["host-0"])
        try db.close()
        let again = try TSDB(directory: dir.path, options: testOptions())
        #expect(try again.select(everything, mint: .min, maxt: .max) == all)
        try again.close()
    }

    @Test func concurrentAppendersAndReaders() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        let db = try TSDB(directory: dir.path, options: testOptions(samplesPerChunk: 16))
        let writers = 8, seriesPerWriter = 20, steps = 60
        try await withThrowingTaskGroup(of: Void.self) { g in
            for w in 0..<writers {
                g.addTask {
                    for k in 0..<steps {
                        let batch = (0..<seriesPerWriter).map { i in
                            SeriesSamples(labels: seriesLabels(w * seriesPerWriter + i, job: "w\(w)"),
                                          timestamps: [Int64(k) * 1000], values: [Double(k)])
                        }
                        let r = try await db.append(batch)
                        #expect(r.accepted == seriesPerWriter)
                        if k == steps / 2 && w == 0 { try db.persist() }
                        if k == steps / 3 && w == 1 { try db.checkpoint() }
                    }
                }
            }
            for rdr in 0..<4 {
                g.addTask {
                    for _ in 0..<30 {
                        let got = try db.select([try LabelMatcher(.regexMatch, "job", "w\(rdr)|w\(rdr + 4)")],
                                                mint: .min, maxt: .max)
                        for s in got {
                            // Whatever is visible is a gap-free prefix 0, 1000, 2000, ...
                            #expect(s.timestamps == (0..<s.timestamps.count).map { Int64($0) * 1000 })
                            #expect(s.values == (0..<s.values.count).map(Double.init))
                        }
                        _ = try db.labelValues("job", matchers: [], mint: .min, maxt: .max)
                        await Task.yield()
                    }
                }
            }
            try await g.waitForAll()
        }
        let all = try db.select(everything, mint: .min, maxt: .max)
        #expect(all.count == writers * seriesPerWriter)
        #expect(all.allSatisfy { $0.timestamps.count == steps })
        #expect(try db.labelValues("job", matchers: [], mint: .min, maxt: .max) == (0..<writers).map { "w\($0)" })
        try db.close()
        let again = try TSDB(directory: dir.path, options: testOptions())
        #expect(try again.select(everything, mint: .min, maxt: .max) == all)
        try again.close()
    }

    @Test func intervalFsyncPolicyStillPersists() async throws {
        let dir = TempDir()
        defer { dir.remove() }
        var o = testOptions()
        o.walFsync = .interval(milliseconds: 50)
        let db = try TSDB(directory: dir.path, options: o)
        for b in batches(series: 5, steps: 0..<30) { _ = try await db.append(b) }
        try db.close()
        let again = try TSDB(directory: dir.path, options: testOptions())
        #expect(try again.select(everything, mint: .min, maxt: .max) == expected(series: 5, steps: 0..<30))
        try again.close()
    }
}
