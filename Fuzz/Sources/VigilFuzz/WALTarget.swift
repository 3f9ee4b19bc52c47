import Foundation
import Logging
import VigilStore

/// The WAL reader, through the public door the server uses: a store directory whose `wal/00000000` segment is
/// built from the input is opened with `TSDB(directory:)` (replay, truncation of a damaged tail) and closed.
/// A second open must then find a clean log: replay cuts damage once.
///
/// Input layout: byte 0 odd → the rest is the segment file verbatim (header, framing and CRC paths); even →
/// the rest is a list of records `type u8 | length u16 LE | payload`, framed by this harness with a correct
/// segment header and CRC32C, so the fuzzer reaches the record decoders and replay behind the checksum.
enum WALTarget {
    nonisolated(unsafe) static var root = ""

    static func setUp() {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        root = base + "/vigil-fuzz-wal-\(getpid())"
    }

    static func segment(from b: [UInt8]) -> [UInt8] {
        guard let mode = b.first else { return [] }
        if mode & 1 == 1 { return Array(b.dropFirst()) }
        var out = Array("VWAL".utf8) + [1, 0, 0, 0]
        var i = 1
        while i + 3 <= b.count {
            let type = b[i]
            let want = Int(b[i + 1]) | Int(b[i + 2]) << 8
            i += 3
            let n = min(want, b.count - i)
            let payload = b[i..<(i + n)]
            i += n
            var rec: [UInt8] = [type]
            withUnsafeBytes(of: UInt32(n).littleEndian) { rec.append(contentsOf: $0) }
            let crc = (rec + payload).withUnsafeBytes { CRC32C.update(0, $0) }
            withUnsafeBytes(of: crc.littleEndian) { rec.append(contentsOf: $0) }
            out += rec
            out += payload
        }
        return out
    }

    static func run(_ b: [UInt8]) {
        let fm = FileManager.default
        try? fm.removeItem(atPath: root)
        try? fm.createDirectory(atPath: root + "/wal", withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: root) }
        guard fm.createFile(atPath: root + "/wal/00000000", contents: Data(segment(from: b))) else {
            finding("cannot write the WAL segment under \(root)")
        }
        var options = TSDBOptions()
        options.maintenanceInterval = nil
        options.walFsync = .interval(milliseconds: 60_000)
        options.logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
        guard let db = try? TSDB(directory: root, options: options) else { return }
        try? db.close()
        guard let again = try? TSDB(directory: root, options: options) else {
            finding("store opened once, then failed to reopen")
        }
        // An emptied segment is reported again as a short header; anything that cuts bytes is a finding.
        if let c = again.walCorruption, c.truncatedBytes > 0 || !c.removedSegments.isEmpty {
            finding("second open still cuts the WAL: \(c)")
        }
        try? again.close()
    }
}

