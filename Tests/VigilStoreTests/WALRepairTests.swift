import Foundation
import Testing
import VigilTestSupport
import VigilCore
@testable import VigilStore

/// Every file under `dir` (relative path → bytes): to check that a failed open changed nothing.
func snapshotFiles(_ dir: String) throws -> [String: [UInt8]] {
    var out: [String: [UInt8]] = [:]
    let fm = FileManager.default
    guard let e = fm.enumerator(atPath: dir) else { return out }
    while let rel = e.nextObject() as? String {
        var isDir: ObjCBool = false
        let p = dir + "/" + rel
        if fm.fileExists(atPath: p, isDirectory: &isDir), !isDir.boolValue {
            out[rel] = [UInt8](try Data(contentsOf: URL(fileURLWithPath: p)))
        }
    }
    return out
}

/// Record frames of a segment: (offset, type, payload length).
func recordFrames(_ path: String) throws -> [(offset: Int, type: UInt8, length: Int)] {
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    var out: [(Int, UInt8, Int)] = []
    try bytes.withUnsafeBytes { buf in
        var pos = WALFormat.segmentHeaderSize
        while pos < buf.count {
            guard case .record(let type, let range, let next) = WALReader.frame(buf, at: pos) else {
                throw WALError(message: "test setup: bad frame at \(pos) of \(path)")
            }
            out.append((pos, type.rawValue, range.count))
            pos = next
        }
    }
    return out
}

func flipByte(_ path: String, at offset: Int, mask: UInt8 = 0xFF) throws {
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    bytes[offset] ^= mask
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// Issue 16 row 6 and issue 9: damage in one WAL segment used to truncate it and delete every later segment;
/// an error applying an intact record was treated the same way.
@Suite struct WALRepairTests {
    static let steps = 40
    static let series = 3

    func options() -> TSDBOptions {
        var o = testOptions()
        o.walSegmentSize = 512 // a few appends per segment
        return o
    }

    /// `steps` acknowledged appends over several segments, then a crash (a copy of the directory as it is).
    func crashedStore() throws -> (TempDir, [String]) {
        let dir = TempDir()
        let db = try TSDB(directory: dir.path, options: options())
        for b in batches(series: Self.series, steps: 0..<Self.steps) { _ = try db.appendSync(b) }
        let crashed = try dir.crashCopy()
        try db.close()
        dir.remove()
        // The copy's last segment is the open, still-being-written one.
        return (crashed, try walSegments(crashed.path))
    }

    /// Which append (step) a samples record of the crashed store holds: records are written one per append, in order.
    func stepsBySamplesRecord(_ segs: [String]) throws -> [String: [Int: Int]] {
        var out: [String: [Int: Int]] = [:]
        var k = 0
        for s in segs {
            for f in try recordFrames(s) where f.type == WALRecordType.samples.rawValue {
                out[(s as NSString).lastPathComponent, default: [:]][f.offset] = k
                k += 1
            }
        }
        return out
    }

    @Test func aFlippedByteInSegment1LosesOnlyItsRecordAndKeepsEveryLaterSegment() throws {
        let (crashed, segs) = try crashedStore()
        defer { crashed.remove() }
        #expect(segs.count >= 4, "setup: want at least 4 segments, got \(segs.count)")
        let steps = try stepsBySamplesRecord(segs)
        let victim = segs[0]
        let frames = try recordFrames(victim)
        // The second samples record of segment 1: flip a byte in its payload.
        let target = try #require(frames.filter { $0.type == WALRecordType.samples.rawValue }.dropFirst().first)
        let lostStep = try #require(steps["00000001"]?[target.offset])
        try flipByte(victim, at: target.offset + WALFormat.recordHeaderSize + target.length / 2)
        let damagedBytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: victim)))
        let laterRecords = try segs.dropFirst().reduce(0) { $0 + (try recordFrames($1).count) }
            + frames.filter { $0.offset > target.offset }.count

        let re = try TSDB(directory: crashed.path, options: options())
        let c = try #require(re.walCorruption)
        #expect(c.segment == "00000001" && c.offset == target.offset)
        #expect(c.damages == [WALDamage(segment: "00000001", start: target.offset,
                                        end: target.offset + WALFormat.recordHeaderSize + target.length,
                                        reason: c.reason, skippedRecords: 1)])
        #expect(c.reason.contains("CRC32C mismatch"))
        #expect(c.truncatedBytes == 0 && c.unattributed.isEmpty && c.lostSamples == 0)
        #expect(c.recoveredRecords == laterRecords)
        #expect(c.recoveredSamples == (Self.steps - lostStep - 1) * Self.series)
        #expect(c.quarantined == ["quarantine/wal-00000001"])
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: crashed.path + "/quarantine/wal-00000001"))) == damagedBytes)
        #expect(c.description.contains("segment 00000001 bytes \(target.offset)..<"), "\(c)")

        // Every sample but the damaged record's (one step of every series).
        let kept = (0..<Self.steps).filter { $0 != lostStep }
        let want = expected(series: Self.series, steps: 0..<Self.steps).map { s in
            SeriesSamples(labels: s.labels, timestamps: kept.map { s.timestamps[$0] }, values: kept.map { s.values[$0] })
        }
        #expect(try re.select(everything, mint: .min, maxt: .max) == want)
        // The log was rewritten without the damaged segment; the store keeps working and reopens clean.
        #expect(try !walSegments(crashed.path).contains(victim))
        _ = try re.appendSync(batches(series: Self.series, steps: Self.steps..<Self.steps + 1)[0])
        try re.close()
        let again = try TSDB(directory: crashed.path, options: options())
        #expect(again.walCorruption == nil)
        #expect(try again.select(everything, mint: .min, maxt: .max).map(\.count) == want.map { $0.count + 1 })
        try again.close()
    }

    /// A hit on a length field: the next record is found by scanning, and only that record is lost.
    @Test func aDamagedLengthIsSkippedByScanningToTheNextValidRecord() throws {
        let (crashed, segs) = try crashedStore()
        defer { crashed.remove() }
        let steps = try stepsBySamplesRecord(segs)
        let victim = segs[1]
        let name = (victim as NSString).lastPathComponent
        let target = try #require(try recordFrames(victim).filter { $0.type == WALRecordType.samples.rawValue }.dropFirst().first)
        let lostStep = try #require(steps[name]?[target.offset])
        try flipByte(victim, at: target.offset + 1, mask: 0x04) // length += or -= 4
        let re = try TSDB(directory: crashed.path, options: options())
        let c = try #require(re.walCorruption)
        #expect(c.damages.count == 1)
        #expect(c.damages.first?.segment == name && c.damages.first?.start == target.offset)
        #expect(c.damages.first?.end == target.offset + WALFormat.recordHeaderSize + target.length)
        #expect(c.lostSamples == 0)
        let got = try re.select(everything, mint: .min, maxt: .max)
        #expect(got.map(\.count) == Array(repeating: Self.steps - 1, count: Self.series))
        #expect(got.allSatisfy { !$0.timestamps.contains(Int64(lostStep) * 15_000) })
        try re.close()
    }

    /// When the damaged record defined the series, later samples cannot be attributed: counted, their segments
    /// kept aside, nothing else lost or invented.
    @Test func lostSeriesRecordsAreReportedAndTheirSamplesKeptAside() throws {
        let (crashed, segs) = try crashedStore()
        defer { crashed.remove() }
        let first = try #require(try recordFrames(segs[0]).first)
        #expect(first.type == WALRecordType.series.rawValue)
        try flipByte(segs[0], at: first.offset + WALFormat.recordHeaderSize + 3)
        let re = try TSDB(directory: crashed.path, options: options())
        let c = try #require(re.walCorruption)
        #expect(c.damages.count == 1 && c.damages[0].skippedRecords == 1)
        #expect(c.lostSamples == Self.steps * Self.series)
        #expect(c.unattributed.map(\.segment) == segs.map { ($0 as NSString).lastPathComponent })
        #expect(Set(c.unattributed.flatMap(\.refs)) == [1, 2, 3])
        #expect(c.quarantined == segs.map { "quarantine/wal-" + ($0 as NSString).lastPathComponent })
        #expect(try re.select(everything, mint: .min, maxt: .max).isEmpty)
        try re.close()
    }

    /// Issue 9: an error applying an intact record (here: a series record contradicting an earlier one, after
    /// damage that would otherwise be repaired) stops the open and leaves every file as it was.
    @Test func anErrorApplyingARecordStopsStartupAndChangesNoFile() throws {
        let (crashed, segs) = try crashedStore()
        defer { crashed.remove() }
        // Damage in segment 1 (would be repaired) ...
        let f = try #require(try recordFrames(segs[0]).last)
        try flipByte(segs[0], at: f.offset + WALFormat.recordHeaderSize + f.length - 1)
        // ... and in segment 3 an intact record giving series 1 other labels.
        var payload: [UInt8] = []
        encodeSeriesRecordEntry(1, Labels(["__name__": "impostor"]), into: &payload)
        var framed: [UInt8] = []
        WALFormat.frame(.series, payload, into: &framed)
        let third = try FileHandle(forWritingTo: URL(fileURLWithPath: segs[2]))
        try third.seekToEnd()
        try third.write(contentsOf: Data(framed))
        try third.close()
        let offset = fileSize(segs[2]) - framed.count
        let before = try snapshotFiles(crashed.path + "/wal")

        let err = try #require(throws: WALReplayError.self) { try TSDB(directory: crashed.path, options: options()) }
        #expect(err.segment == (segs[2] as NSString).lastPathComponent && err.offset == offset)
        #expect(err.description.contains("impostor") && err.description.contains("nothing on disk was changed"), "\(err)")
        // Byte for byte: no truncation, no deleted or new segment, no quarantine copy.
        #expect(try snapshotFiles(crashed.path + "/wal") == before)
        #expect(!FileManager.default.fileExists(atPath: crashed.path + "/quarantine"))
    }

    /// The reader's contract with an injected failure: whatever `apply` throws becomes a WALReplayError for
    /// that record, and replay changes no file.
    @Test func aThrowingReplayHandlerIsNotTreatedAsDamage() throws {
        let (crashed, segs) = try crashedStore()
        defer { crashed.remove() }
        struct Injected: Error {}
        let before = try snapshotFiles(crashed.path)
        var seen = 0
        let err = try #require(throws: WALReplayError.self) {
            _ = try WALReader.replay(dir: crashed.path + "/wal") { _, _ in
                seen += 1
                if seen == 7 { throw Injected() }
                return ReplayLoss()
            }
        }
        let all = try segs.flatMap { s in try recordFrames(s).map { ((s as NSString).lastPathComponent, $0.offset) } }
        #expect(err.segment == all[6].0 && err.offset == all[6].1)
        #expect(try snapshotFiles(crashed.path) == before)
    }

    /// Intact samples of a series nobody defines (e.g. vigil.db replaced): refused at open with the segment
    /// named; `walRepair` (what `vigil tsdb repair` uses) sets them aside and opens.
    @Test func unknownSeriesRefusesOpenUnlessRepairing() throws {
        let (crashed, segs) = try crashedStore()
        defer { crashed.remove() }
        var payload: [UInt8] = []
        [Int64(5)].withUnsafeBufferPointer { t in
            [Double(1)].withUnsafeBufferPointer { v in encodeSamplesEntry(999, t, v, into: &payload) }
        }
        var framed: [UInt8] = []
        WALFormat.frame(.samples, payload, into: &framed)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: segs[1]))
        try h.seekToEnd()
        try h.write(contentsOf: Data(framed))
        try h.close()
        let before = try snapshotFiles(crashed.path + "/wal")
        let err = try #require(throws: WALReplayError.self) { try TSDB(directory: crashed.path, options: options()) }
        #expect(err.description.contains("unknown series id 999"))
        #expect(try snapshotFiles(crashed.path + "/wal") == before)
        #expect(!FileManager.default.fileExists(atPath: crashed.path + "/quarantine"))

        var o = options()
        o.walRepair = true
        let re = try TSDB(directory: crashed.path, options: o)
        let c = try #require(re.walCorruption)
        #expect(c.damages.isEmpty)
        #expect(c.unattributed == [WALUnattributed(segment: (segs[1] as NSString).lastPathComponent, records: 1, samples: 1, refs: [999])])
        #expect(c.quarantined == ["quarantine/wal-" + (segs[1] as NSString).lastPathComponent])
        #expect(try re.select(everything, mint: .min, maxt: .max) == expected(series: Self.series, steps: 0..<Self.steps))
        try re.close()
        let again = try TSDB(directory: crashed.path, options: options())
        #expect(again.walCorruption == nil)
        try again.close()
    }
}

/// `vigil tsdb repair` as a process on a damaged directory.
@Suite struct RepairCommandTests {
    @Test(.enabled(if: vigilExecutable() != nil, "the vigil executable is not built next to the tests (swift build)"))
    func repairRecoversADamagedDirectoryAndReportsIt() async throws {
        let exe = try #require(vigilExecutable())
        let (crashed, segs) = try WALRepairTests().crashedStore()
        defer { crashed.remove() }
        let target = try #require(try recordFrames(segs[1]).dropFirst().first)
        try flipByte(segs[1], at: target.offset + WALFormat.recordHeaderSize + target.length - 2)
        let name = (segs[1] as NSString).lastPathComponent

        func run(_ args: [String]) async throws -> (Int32, String) {
            let r = try await runProcess(exe, args, mergeStderr: true, timeout: 120)
            return (r.status, r.out)
        }
        let (status, out) = try await run(["tsdb", "repair", "--data", crashed.path])
        #expect(status == 0, "\(out)")
        #expect(out.contains("segment \(name) bytes \(target.offset)..<\(target.offset + WALFormat.recordHeaderSize + target.length)"), "\(out)")
        #expect(out.contains("1 record"), "\(out)")
        #expect(out.contains(crashed.path + "/quarantine/wal-" + name), "\(out)")
        #expect(FileManager.default.fileExists(atPath: crashed.path + "/quarantine/wal-" + name))
        // Afterwards the directory opens clean with all but the one damaged append (one sample per series).
        let db = try TSDB(directory: crashed.path, options: WALRepairTests().options())
        #expect(db.walCorruption == nil)
        #expect(try db.select(everything, mint: .min, maxt: .max).map(\.count)
                == Array(repeating: WALRepairTests.steps - 1, count: WALRepairTests.series))
        try db.close()
        let (status2, out2) = try await run(["tsdb", "repair", "--data", crashed.path])
        #expect(status2 == 0 && out2.contains("WAL intact"), "\(out2)")
        let (_, help) = try await run(["tsdb", "repair", "--help"])
        #expect(help.contains("Example: vigil tsdb repair --data ./data"))
    }
}
