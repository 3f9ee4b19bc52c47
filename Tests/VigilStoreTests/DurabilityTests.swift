import Foundation
import Testing
import VigilCore
@testable import VigilStore

@Suite struct DurabilityTests {
    @Test func closeAndReopenGivesBackExactlyWhatWasWritten() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var db = try TSDB(directory: dir.path, options: testOptions(samplesPerChunk: 50))
        for b in batches(series: 30, steps: 0..<130) { _ = try db.appendSync(b) }
        try db.persist() // some chunks in SQLite, some sealed-then-persisted, an open one in the WAL
        for b in batches(series: 30, steps: 130..<175) { _ = try db.appendSync(b) }
        let want = expected(series: 30, steps: 0..<175)
        #expect(try db.select(everything, mint: .min, maxt: .max) == want)
        try db.close()
        #expect(throws: (any Error).self) { try db.appendSync(batches(series: 1, steps: 200..<201)[0]) }

        db = try TSDB(directory: dir.path, options: testOptions(samplesPerChunk: 50))
        #expect(db.walCorruption == nil)
        #expect(try db.select(everything, mint: .min, maxt: .max) == want)
        // Appending continues where it left off, out-of-order detection survives the restart.
        let r = try db.appendSync(batches(series: 30, steps: 174..<176)[0] + batches(series: 30, steps: 175..<176)[0])
        // The repeated step is the same data again: identical resends, not duplicates.
        #expect(r.identical == 30 && r.duplicate == 0 && r.accepted == 30 && r.newSeries == 0)
        try db.close()
        db = try TSDB(directory: dir.path, options: testOptions(samplesPerChunk: 50))
        #expect(try db.select(everything, mint: .min, maxt: .max) == expected(series: 30, steps: 0..<176))
        try db.flush()
        try db.close()
        // Every series has its row in SQLite (format 3: no label_index table; the head indexes `series`).
        let conn = try SQLiteConnection(path: dir.path + "/vigil.db")
        #expect(try conn.scalarInt("SELECT count(*) FROM series") == 30)
        #expect(try conn.scalarInt("SELECT count(*) FROM sqlite_master WHERE name='label_index'") == 0)
    }

    @Test func crashWithoutCloseReplaysTheWAL() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let db = try TSDB(directory: dir.path, options: testOptions(samplesPerChunk: 40))
        for b in batches(series: 10, steps: 0..<100) { _ = try db.appendSync(b) }
        try db.persist()
        for b in batches(series: 10, steps: 100..<150) { _ = try db.appendSync(b) }
        let crashed = try dir.crashCopy()
        defer { crashed.remove() }
        try db.close()
        let re = try TSDB(directory: crashed.path, options: testOptions(samplesPerChunk: 40))
        #expect(re.walCorruption == nil)
        #expect(try re.select(everything, mint: .min, maxt: .max) == expected(series: 10, steps: 0..<150))
        try re.close()
    }

    @Test func checkpointTruncatesTheWALAndAnInterruptedOneReplaysIdempotently() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let db = try TSDB(directory: dir.path, options: testOptions(samplesPerChunk: 30))
        for b in batches(series: 10, steps: 0..<100) { _ = try db.appendSync(b) }
        let beforeCheckpoint = try dir.crashCopy()
        defer { beforeCheckpoint.remove() }
        let walBefore = try walSegments(dir.path).map(fileSize).reduce(0, +)
        try db.checkpoint()
        let segs = try walSegments(dir.path)
        #expect(segs.count == 2)   // the checkpoint and the segment appends go on in
        #expect(segs.map(fileSize).reduce(0, +) < walBefore)
        let afterCheckpoint = try dir.crashCopy()
        defer { afterCheckpoint.remove() }
        try db.close()
        // A crash between writing the new segment and deleting the old ones leaves both: put the old
        // segments back next to the checkpoint and the SQLite chunks; the replay must not double anything.
        for s in try walSegments(beforeCheckpoint.path) {
            let name = (s as NSString).lastPathComponent
            try? FileManager.default.copyItem(atPath: s, toPath: afterCheckpoint.path + "/wal/" + name)
        }
        #expect(try walSegments(afterCheckpoint.path).count > 1)
        let re = try TSDB(directory: afterCheckpoint.path, options: testOptions(samplesPerChunk: 30))
        #expect(re.walCorruption == nil)
        #expect(re.replaySkipped > 0)
        #expect(try re.select(everything, mint: .min, maxt: .max) == expected(series: 10, steps: 0..<100))
        try re.close()
    }

    /// Writes two acknowledged appends, then returns a crash copy whose last WAL segment ends with the second.
    func twoAppendsThenCrash(_ dir: TempDir) throws -> (TempDir, Int) {
        let db = try TSDB(directory: dir.path, options: testOptions())
        for b in batches(series: 4, steps: 0..<10) { _ = try db.appendSync(b) }
        let sizeAfterFirst = fileSize(try walSegments(dir.path).last!)
        _ = try db.appendSync(batches(series: 4, steps: 10..<11)[0])
        let copy = try dir.crashCopy()
        try db.close()
        return (copy, sizeAfterFirst)
    }

    @Test(arguments: ["torn-3", "torn-header", "bitflip-payload", "bitflip-crc", "garbage-tail"])
    func damagedWALTailIsTruncatedAndEverythingBeforeIsKept(_ damage: String) throws {
        let dir = TempDir()
        defer { dir.remove() }
        let (crashed, goodSize) = try twoAppendsThenCrash(dir)
        defer { crashed.remove() }
        let seg = try walSegments(crashed.path).last!
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: seg)))
        let fullSize = bytes.count
        #expect(fullSize > goodSize)
        switch damage {
        case "torn-3": bytes.removeLast(3)
        case "torn-header": bytes.removeLast(bytes.count - goodSize - 4)
        case "bitflip-payload": bytes[bytes.count - 5] ^= 0x10
        case "bitflip-crc": bytes[goodSize + 6] ^= 0x01
        default: bytes += [0x02, 0xFF, 0xFF, 0x00, 0x00, 1, 2, 3, 4, 5]
        }
        try Data(bytes).write(to: URL(fileURLWithPath: seg))

        let re = try TSDB(directory: crashed.path, options: testOptions())
        let c = try #require(re.walCorruption)
        #expect(c.segment == (seg as NSString).lastPathComponent)
        #expect(c.offset == (damage == "garbage-tail" ? fullSize : goodSize), "\(c)")
        let want = damage == "garbage-tail" ? expected(series: 4, steps: 0..<11) : expected(series: 4, steps: 0..<10)
        #expect(try re.select(everything, mint: .min, maxt: .max) == want)
        // The damaged segment was cut at the bad record.
        #expect(fileSize(seg) == c.offset)
        // And the store keeps working.
        _ = try re.appendSync(batches(series: 4, steps: 20..<21)[0])
        try re.close()
        let again = try TSDB(directory: crashed.path, options: testOptions())
        #expect(again.walCorruption == nil)
        #expect(try again.select(everything, mint: .min, maxt: .max).map(\.count) == want.map { $0.count + 1 })
        try again.close()
    }

    @Test func retentionRemovesOnlyExpiredData() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let hour: Int64 = 3_600_000
        var o = testOptions(retention: 2 * hour)
        o.chunkRange = hour
        let clock = SimulatedClock(startMillis: 0) // follows the samples as they are written
        o.clock = clock
        let db = try TSDB(directory: dir.path, options: o)
        // "old" series: only the first hour. "live" series: 5 hours, one sample a minute.
        for k in 0..<60 {
            clock.advance(to: Int64(k) * 60_000)
            _ = try db.appendSync([SeriesSamples(labels: Labels(["__name__": "old"]), timestamps: [Int64(k) * 60_000], values: [Double(k)])])
        }
        for k in 0..<300 {
            clock.advance(to: Int64(k) * 60_000)
            _ = try db.appendSync([SeriesSamples(labels: Labels(["__name__": "live"]), timestamps: [Int64(k) * 60_000], values: [Double(k)])])
        }
        try db.persist()
        let r = try db.applyRetention()
        // now = 299 min; cutoff = 179 min: chunks ending before it go (hours 0 and 1 of "live", "old" entirely).
        #expect(r.cutoff == 299 * 60_000 - 2 * hour)
        #expect(r.deletedChunks == 3)
        #expect(r.deletedSeries == 1)
        #expect(try db.labelValues("__name__", matchers: [], mint: .min, maxt: .max) == ["live"])
        let live = try #require(try db.select([.equal("__name__", "live")], mint: .min, maxt: .max).first)
        // Whole chunks only: hour 2 (120..179 min) is kept although part of it is older than the cutoff.
        #expect(live.timestamps == (120..<300).map { Int64($0) * 60_000 })
        #expect(live.values == (120..<300).map(Double.init))
        try db.close()
        let re = try TSDB(directory: dir.path, options: o)
        #expect(try re.select(everything, mint: .min, maxt: .max).map(\.labels) == [Labels(["__name__": "live"])])
        #expect(try re.select(everything, mint: .min, maxt: .max).first?.count == 180)
        try re.close()
    }
}
