import Foundation
import Testing
import VigilCore
@testable import VigilStore

/// Inputs the `wal` fuzz target (Fuzz/, docs/fuzzing.md) found trapping replay; each must now end the log at the
/// bad record with a `walCorruption` naming it, and the store must open.
@Suite struct WALFuzzRegressionTests {
    /// A segment with one correctly framed record (so only the payload is wrong).
    func segment(_ type: UInt8, _ payload: [UInt8]) -> [UInt8] {
        var rec: [UInt8] = [type]
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { rec.append(contentsOf: $0) }
        let crc = CRC32C.checksum(rec + payload)
        withUnsafeBytes(of: crc.littleEndian) { rec.append(contentsOf: $0) }
        return Array("VWAL".utf8) + [1, 0, 0, 0] + rec + payload
    }

    @Test func labelStringLongerThanTheRecordIsUndecodableNotATrap() throws {
        let dir = TempDir()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.path + "/wal", withIntermediateDirectories: true)
        // series record: ref 1, 1 label, name length 3 with only 2 bytes left after the length varint.
        // The length was checked against the bytes left *before* its varint, and the slice trapped.
        let seg = segment(1, [0x01, 0x01, 0x03, 0x61, 0x62])
        try Data(seg).write(to: URL(fileURLWithPath: dir.path + "/wal/00000000"))
        let db = try TSDB(directory: dir.path, options: testOptions())
        let c = try #require(db.walCorruption)
        #expect(c.segment == "00000000" && c.offset == 8, "\(c)")
        #expect(c.reason.contains("undecodable record") && c.reason.contains("string of 3 bytes, 2 left"), "\(c)")
        #expect(try db.select(everything, mint: .min, maxt: .max).isEmpty)
        try db.close()
    }
}
