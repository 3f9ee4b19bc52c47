import Foundation
import Testing
import VigilCore
@testable import VigilStore

@Suite struct ReadTests {
    /// 40 series, 500 steps, 7 persisted chunks and an open one: reads merge SQLite and head.
    func populated(_ dir: TempDir) throws -> TSDB {
        let db = try TSDB(directory: dir.path, options: testOptions(samplesPerChunk: 64))
        for b in batches(series: 40, steps: 0..<500) { _ = try db.appendSync(b) }
        try db.persist()
        return db
    }

    @Test func selectMergesPersistedAndHeadChunksInTimeOrder() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let db = try populated(dir)
        defer { try? db.close() }
        let st = try db.stats()
        #expect(st.persistedSamples > 0 && st.headSamples > 0)
        #expect(st.samples == 40 * 500)
        #expect(try db.select(everything, mint: .min, maxt: .max) == expected(series: 40, steps: 0..<500))
        // Inclusive bounds that cut through chunks; selections small and large take different paths.
        let mint: Int64 = 17 * 15_000, maxt: Int64 = 433 * 15_000
        #expect(try db.select(everything, mint: mint, maxt: maxt) == expected(series: 40, steps: 17..<434))
        let one = try db.select([.equal("instance", "host-7")], mint: mint, maxt: maxt)
        #expect(one == expected(series: 40, steps: 17..<434).filter { $0.labels["instance"] == "host-7" })
        #expect(try db.select(everything, mint: 10 * 15_000 + 1, maxt: 11 * 15_000 - 1).isEmpty)
        #expect(try db.select(everything, mint: 5, maxt: 1).isEmpty)
    }

    @Test func matchers() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let db = try populated(dir)
        defer { try? db.close() }
        func names(_ ms: [LabelMatcher]) throws -> [String] {
            try db.series(ms, mint: .min, maxt: .max).map { $0["instance"] ?? "?" }.sorted()
        }
        let evens = (0..<40).filter { $0 % 2 == 0 }.map { "host-\($0)" }.sorted()
        #expect(try names([.equal("__name__", "cpu_seconds")]) == evens)
        #expect(try names([try LabelMatcher(.notEqual, "__name__", "mem_bytes")]) == evens)
        #expect(try names([try LabelMatcher(.regexMatch, "instance", "host-1|host-3|nope")]) == ["host-1", "host-3"])
        #expect(try names([try LabelMatcher(.regexMatch, "instance", "host-3.*")]) == ["host-3", "host-30", "host-31",
            "host-32", "host-33", "host-34", "host-35", "host-36", "host-37", "host-38", "host-39"])
        // Anchored: "host-3" alone does not match host-30.
        #expect(try names([try LabelMatcher(.regexMatch, "instance", "host-(3)")]) == ["host-3"])
        #expect(try names([.equal("__name__", "cpu_seconds"), try LabelMatcher(.regexNoMatch, "instance", "host-[0-2].*")])
            == evens.filter { !$0.hasPrefix("host-0") && !$0.hasPrefix("host-1") && !$0.hasPrefix("host-2") })
        // Absent label matches "".
        #expect(try names([.equal("job", "node"), .equal("missing", "")]).count == 40)
        #expect(try names([.equal("missing", "x")]).isEmpty)
        #expect(try db.labelNames([], mint: .min, maxt: .max) == ["__name__", "instance", "job"])
        #expect(try db.labelValues("__name__", matchers: [], mint: .min, maxt: .max) == ["cpu_seconds", "mem_bytes"])
        #expect(try db.labelValues("instance", matchers: [.equal("instance", "host-9")], mint: .min, maxt: .max) == ["host-9"])
        // Out of range: nothing.
        #expect(try db.series(everything, mint: 500 * 15_000, maxt: .max).isEmpty)
    }

    @Test func sealedChunksAreReadableBeforeAndAfterPersist() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let db = try TSDB(directory: dir.path, options: testOptions(samplesPerChunk: 10))
        defer { try? db.close() }
        for b in batches(series: 3, steps: 0..<95) { _ = try db.appendSync(b) }
        let before = try db.select(everything, mint: .min, maxt: .max)
        #expect(before == expected(series: 3, steps: 0..<95))
        #expect(try db.persist() == 27)
        #expect(try db.select(everything, mint: .min, maxt: .max) == before)
        try db.flush()
        #expect(try db.stats().headSamples == 0)
        #expect(try db.select(everything, mint: .min, maxt: .max) == before)
    }

    @Test func chunksAreCutAtChunkRangeBoundaries() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var o = testOptions()
        o.chunkRange = 100_000
        o.compactRange = 0
        let db = try TSDB(directory: dir.path, options: o)
        defer { try? db.close() }
        // 15 s steps: 7 samples per 100 s window at most, far below 120 per chunk.
        for b in batches(series: 1, steps: 0..<40) { _ = try db.appendSync(b) }
        try db.flush()
        let st = try db.stats()
        #expect(st.persistedChunks == 6) // windows [0,100s) .. [500s,600s): 40 × 15 s = 585 s
        #expect(try db.select(everything, mint: .min, maxt: .max) == expected(series: 1, steps: 0..<40))
    }

    /// 3 series, 15 s steps over 1,200 s; chunks of 5 samples cut at 100 s boundaries, merged per 300 s window.
    @Test func compactionMergesWindowsLosslessly() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var o = testOptions(samplesPerChunk: 5)
        o.chunkRange = 100_000
        o.compactRange = 250_000 // rounded up to 300 s
        var db = try TSDB(directory: dir.path, options: o)
        #expect(db.compactRange == 300_000)
        for b in batches(series: 3, steps: 0..<60) { _ = try db.appendSync(b) }
        try db.persist()
        let rowsBefore = try db.stats().persistedChunks
        let want = expected(series: 3, steps: 0..<60)
        #expect(try db.select(everything, mint: .min, maxt: .max).count == 3)
        // Only the windows [0, 300 s) and [300 s, 600 s) are closed at horizon 600 s.
        let r = try db.compact(horizon: 600_000)
        #expect(r.rowsAfter == 6)
        #expect(r.samples == 3 * 40)
        #expect(try db.stats().persistedChunks == rowsBefore - r.rowsBefore + r.rowsAfter)
        #expect(try db.select(everything, mint: .min, maxt: .max) == want)
        // A second pass over the same horizon finds nothing new.
        #expect(try db.compact(horizon: 600_000).rowsAfter == 0)
        // Cuts through merged chunks are trimmed like any other.
        #expect(try db.select(everything, mint: 7 * 15_000, maxt: 33 * 15_000) == expected(series: 3, steps: 7..<34))
        for b in batches(series: 3, steps: 60..<80) { _ = try db.appendSync(b) }
        try db.flush() // compacts every window: 4 per series
        #expect(try db.stats().persistedChunks == 12)
        try db.close()
        db = try TSDB(directory: dir.path, options: o)
        defer { try? db.close() }
        #expect(try db.select(everything, mint: .min, maxt: .max) == expected(series: 3, steps: 0..<80))
    }

    @Test func readersSeeEveryRowWhileCompactionRuns() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var o = testOptions(samplesPerChunk: 4)
        o.chunkRange = 60_000
        o.compactRange = 600_000
        o.compactBatch = 8 // many commits, so some land between a reader's statements
        let db = try TSDB(directory: dir.path, options: o)
        defer { try? db.close() }
        // 300 series (the big-selection scan path) × 200 steps.
        for b in batches(series: 300, steps: 0..<200) { _ = try db.appendSync(b) }
        try db.persist()
        let want = try db.select(everything, mint: .min, maxt: .max)
        #expect(want == expected(series: 300, steps: 0..<200))
        let stop = Atomic(false)
        let bad = Atomic(0), reads = Atomic(0), done = Atomic(false)
        let reader = Thread {
            while !stop.load() {
                if (try? db.select(everything, mint: .min, maxt: .max)) != want { bad.add(1) }
                reads.add(1)
            }
            done.store(true)
        }
        reader.start()
        let r = try db.compact()
        #expect(r.rowsAfter > 0)
        while reads.load() < 3 { usleep(1000) }
        stop.store(true)
        while !done.load() { usleep(1000) }
        #expect(bad.load() == 0)
        #expect(try db.select(everything, mint: .min, maxt: .max) == want)
    }

    /// `select` sorts by cached label ranks once they are computed; new series must still land in label order.
    @Test func resultsStayInLabelOrderAsSeriesArrive() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let db = try TSDB(directory: dir.path, options: testOptions())
        defer { try? db.close() }
        for b in batches(series: 300, steps: 0..<3) { _ = try db.appendSync(b) }
        let first = try db.select(everything, mint: .min, maxt: .max)
        #expect(first == expected(series: 300, steps: 0..<3))
        #expect(!db.head.lock.withLock { db.head.ranksValidLocked }) // the first big selection only notes the generation
        #expect(try db.select(everything, mint: .min, maxt: .max) == first)
        #expect(db.head.lock.withLock { db.head.ranksValidLocked }) // a second big selection with no new series ranked them
        #expect(try db.select(everything, mint: .min, maxt: .max) == first) // now by rank
        for b in batches(series: 300, steps: 0..<3, job: "a-job") { _ = try db.appendSync(b) }
        let both = (expected(series: 300, steps: 0..<3) + expected(series: 300, steps: 0..<3, job: "a-job"))
            .sorted { $0.labels < $1.labels }
        #expect(try db.select(everything, mint: .min, maxt: .max) == both)
        #expect(try db.select(everything, mint: .min, maxt: .max) == both)
        try db.flush()
        #expect(try db.select(everything, mint: .min, maxt: .max) == both)
    }
}

/// A tiny lock-protected box for test threads.
final class Atomic<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var v: T
    init(_ v: T) { self.v = v }
    func load() -> T { lock.withLock { v } }
    func store(_ n: T) { lock.withLock { v = n } }
}

extension Atomic where T == Int {
    func add(_ n: Int) { lock.withLock { v += n } }
}
