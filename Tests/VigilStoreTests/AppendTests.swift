import Foundation
import Testing
import VigilCore
@testable import VigilStore

@Suite struct AppendTests {
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
        let db = try TSDB(directory: dir.path, options: testOptions(retention: 1000))
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
