import Foundation
import Testing
import VigilCore
@testable import VigilStore

/// Issue 16, row 1: one sample with a far-future timestamp used to expire the whole store and make every later
/// write "too old". Both bounds come from the clock now, and far-future samples refuse their batch.
@Suite struct TimeBoundsTests {
    static let day: Int64 = 86_400_000
    /// 2026-12-04T12:00:00Z
    static let now: Int64 = 1_796_385_600_000

    func options(retention: Int64 = 15 * day, maxFuture: Int64 = 10 * 60_000, clock: SimulatedClock) -> TSDBOptions {
        var o = testOptions(retention: retention)
        o.maxFuture = maxFuture
        o.clock = clock
        return o
    }

    func walBytes(_ dir: TempDir) throws -> [[UInt8]] {
        try walSegments(dir.path).map { try [UInt8](Data(contentsOf: URL(fileURLWithPath: $0))) }
    }

    @Test func farFutureSampleRefusesTheWholeBatchNamingSeriesAndTimestamp() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let clock = SimulatedClock(startMillis: Self.now)
        let db = try TSDB(directory: dir.path, options: options(clock: clock))
        let good = Labels(["__name__": "up", "job": "a"])
        let atk = Labels(["__name__": "atk", "job": "b"])
        _ = try db.appendSync([SeriesSamples(labels: good, timestamps: [Self.now - 60_000], values: [1])])
        let before = try walBytes(dir)

        let future = Self.now + 20 * Self.day
        let batch = [SeriesSamples(labels: good, timestamps: [Self.now], values: [2]),
                     SeriesSamples(labels: atk, timestamps: [Self.now - 1000, future], values: [1, 2])]
        let err = try #require(throws: InvalidSeriesError.self) { try db.appendSync(batch) }
        #expect(err.index == 1)
        #expect(err.labels == atk)
        #expect(err.description.contains("\(future)"), "\(err)")
        #expect(err.description.contains("2026-12-24T12:00:00.000Z"), "\(err)")
        #expect(err.description.contains("2w6d ahead"), "\(err)")
        // Nothing of the batch: neither the good series' sample nor atk's valid one, and no new series.
        #expect(try walBytes(dir) == before)
        #expect(try db.select(everything, mint: .min, maxt: .max)
                == [SeriesSamples(labels: good, timestamps: [Self.now - 60_000], values: [1])])

        // By reference: the error names the series behind the ref.
        let r = try db.appendSync([SeriesSamples(labels: atk, timestamps: [Self.now - 500], values: [3])], refs: RefSamples())
        let ref = try #require(r.seriesRefs.first)
        let byRef = try #require(throws: InvalidSeriesError.self) {
            try db.appendSync([], refs: RefSamples(refs: [ref, ref], timestamps: [Self.now, future], values: [1, 2]))
        }
        #expect(byRef.labels == atk && byRef.index == 1 && byRef.description.contains("\(future)"))
        #expect(try db.select([.equal("__name__", "atk")], mint: .min, maxt: .max).first?.timestamps == [Self.now - 500])
        try db.close()
    }

    @Test func theFutureBoundIsInclusiveAndFollowsTheClock() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let clock = SimulatedClock(startMillis: Self.now)
        let db = try TSDB(directory: dir.path, options: options(maxFuture: 60_000, clock: clock))
        let l = Labels(["__name__": "x"])
        #expect(try db.appendSync([SeriesSamples(labels: l, timestamps: [Self.now + 60_000], values: [1])]).accepted == 1)
        #expect(throws: InvalidSeriesError.self) {
            try db.appendSync([SeriesSamples(labels: l, timestamps: [Self.now + 60_001], values: [1])])
        }
        clock.advance(by: 1)
        #expect(try db.appendSync([SeriesSamples(labels: l, timestamps: [Self.now + 60_001], values: [1])]).accepted == 1)
        try db.close()
    }

    @Test func maxFutureZeroAcceptsAnyTime() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let db = try TSDB(directory: dir.path, options: options(maxFuture: 0, clock: SimulatedClock(startMillis: Self.now)))
        let r = try db.appendSync([SeriesSamples(labels: Labels(["__name__": "x"]), timestamps: [Self.now + 400 * Self.day], values: [1])])
        #expect(r.accepted == 1)
        try db.close()
    }

    /// A far-future sample already in the store (written with the bound off, or by an older version) neither
    /// expires current data nor makes current writes "too old", before or after a restart.
    @Test func retentionWithAFarFutureSamplePresentKeepsCurrentData() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let clock = SimulatedClock(startMillis: Self.now)
        var o = options(retention: 2 * Self.day, maxFuture: 0, clock: clock)
        o.chunkRange = 3_600_000
        let db = try TSDB(directory: dir.path, options: o)
        let cur = Labels(["__name__": "current"])
        // 6 hours of current data, one sample a minute, then the far-future one on another series.
        let ts = (0..<360).map { Self.now - 6 * 3_600_000 + Int64($0) * 60_000 }
        for t in ts { _ = try db.appendSync([SeriesSamples(labels: cur, timestamps: [t], values: [Double(t % 1000)])]) }
        _ = try db.appendSync([SeriesSamples(labels: Labels(["__name__": "atk"]), timestamps: [Self.now + 20 * Self.day], values: [1])])
        try db.persist()

        let r = try db.applyRetention()
        #expect(r.cutoff == Self.now - 2 * Self.day)
        #expect(r.deletedChunks == 0 && r.deletedSeries == 0)
        // A current write is not too old.
        let w = try db.appendSync([SeriesSamples(labels: cur, timestamps: [Self.now + 1000], values: [7])])
        #expect(w.accepted == 1 && w.tooOld == 0)
        try db.close()

        let re = try TSDB(directory: dir.path, options: o)
        #expect(try re.select([.equal("__name__", "current")], mint: .min, maxt: .max).first?.timestamps == ts + [Self.now + 1000])
        let w2 = try re.appendSync([SeriesSamples(labels: cur, timestamps: [Self.now + 2000], values: [8])])
        #expect(w2.accepted == 1 && w2.tooOld == 0)
        // Three days later the current series has expired; the future one stays until its time comes.
        clock.advance(by: 3 * Self.day)
        try re.flush()
        let r2 = try re.applyRetention()
        #expect(r2.deletedSeries == 1)
        #expect(try re.labelValues("__name__", matchers: [], mint: .min, maxt: .max) == ["atk"])
        try re.close()
    }

    @Test func tooOldIsMeasuredFromTheClockEvenInAnEmptyStore() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let db = try TSDB(directory: dir.path, options: options(retention: Self.day, clock: SimulatedClock(startMillis: Self.now)))
        let r = try db.appendSync([SeriesSamples(labels: Labels(["__name__": "x"]),
                                                 timestamps: [Self.now - 2 * Self.day, Self.now - Self.day + 1], values: [1, 2])])
        #expect(r.tooOld == 1 && r.accepted == 1)
        try db.close()
    }
}
