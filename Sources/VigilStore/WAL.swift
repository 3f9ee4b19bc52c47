import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

// Write-ahead log: numbered segment files in `<data>/wal/`, each an 8-byte header then framed
// records. Layout in docs/storage-format.md.
//
//   segment header: "VWAL" (4 bytes) | version u32 LE (= 1)
//   record:         type u8 | length u32 LE | crc32c u32 LE | payload[length]
//                   crc32c covers type, length and payload.

/// How the WAL makes appends durable.
public enum WALFsyncPolicy: Sendable, Equatable, CustomStringConvertible {
    /// `append` returns after an fsync covering its record (group commit: one fsync serves many appenders).
    case always
    /// `append` returns once the record is queued; the log is written and fsync'd at least every `ms`.
    case interval(milliseconds: Int64)

    public var description: String {
        switch self {
        case .always: return "always"
        case .interval(let ms): return "every \(ms)ms"
        }
    }
}

enum WALRecordType: UInt8 {
    /// New series: repeated (ref uvarint, labels).
    case series = 1
    /// Samples: repeated (ref uvarint, n uvarint, t0 varint, n-1 × uvarint deltas, n × 8-byte values).
    case samples = 2
}

/// One damaged byte range of a WAL segment that replay skipped.
public struct WALDamage: Sendable, Equatable, CustomStringConvertible {
    public let segment: String
    /// First bad byte.
    public let start: Int
    /// Where replay resumed in this segment (a valid record), or the segment's length.
    public let end: Int
    public let reason: String
    /// Records in the range when the damaged record's frame was intact (so the next record started right
    /// after it); nil when the range had to be scanned byte by byte and its record count is unknown.
    public let skippedRecords: Int?

    public var description: String {
        let what = skippedRecords.map { "\($0) record\($0 == 1 ? "" : "s")" } ?? "an unknown number of records"
        return "segment \(segment) bytes \(start)..<\(end) (\(end - start) bytes, \(what)): \(reason)"
    }
}

/// Samples of intact records that replay could not use because the record defining their series was lost.
public struct WALUnattributed: Sendable, Equatable, CustomStringConvertible {
    public let segment: String
    public var records = 0
    public var samples = 0
    /// Series ids they named (first 20).
    public var refs: [UInt64] = []

    public var description: String {
        "segment \(segment): \(samples) samples in \(records) records of series ids \(refs.map(String.init).joined(separator: ","))"
            + " whose series record was lost"
    }
}

/// What replay found wrong with the WAL at start-up and what it did: damaged ranges were skipped and their
/// segments copied to `quarantined` (nothing intact is deleted); a torn tail of the last segment was cut.
public struct WALCorruption: Sendable, Equatable, CustomStringConvertible {
    /// Where the first damage is (segment name, offset, why).
    public let segment: String
    public let offset: Int
    public let reason: String
    /// Bytes cut from the end of the last segment (a record torn by a crash; 0 if none).
    public let truncatedBytes: Int
    /// Every skipped range, in log order (the torn tail included).
    public let damages: [WALDamage]
    public let unattributed: [WALUnattributed]
    /// Copies of the damaged bytes, relative to the data directory (`quarantine/...`).
    public let quarantined: [String]
    /// Records and samples replayed after the first damage (what a truncate-and-drop repair would have lost).
    public let recoveredRecords: Int
    public let recoveredSamples: Int

    public var lostSamples: Int { unattributed.reduce(0) { $0 + $1.samples } }

    public var description: String {
        var lines = ["WAL segment \(segment) damaged at offset \(offset): \(reason)"]
        for d in damages { lines.append("  skipped \(d)") }
        if truncatedBytes > 0 { lines.append("  cut the last segment's torn tail: \(truncatedBytes) bytes") }
        for u in unattributed { lines.append("  lost \(u)") }
        if recoveredRecords > 0 {
            lines.append("  replayed \(recoveredRecords) later records (\(recoveredSamples) samples) past the damage")
        }
        if !quarantined.isEmpty { lines.append("  damaged bytes kept in \(quarantined.joined(separator: ", "))") }
        return lines.joined(separator: "\n")
    }
}

/// Replay stopped on an error that is not damage (the record was intact but could not be applied, e.g. an
/// inconsistency with vigil.db, or a bug): the store refuses to open and no file was changed.
public struct WALReplayError: Error, Sendable, CustomStringConvertible {
    public let segment: String
    public let offset: Int
    public let message: String

    public var description: String {
        "WAL replay stopped at segment \(segment) offset \(offset): \(message). The record is intact (its checksum "
            + "matches), so this is not damage, and nothing on disk was changed. Keep a copy of the data directory; "
            + "`vigil tsdb repair --data DIR` sets aside samples whose series is unknown."
    }
}

public struct WALError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { "WAL: \(message)" }
}

enum WALFormat {
    static let magic: [UInt8] = Array("VWAL".utf8)
    static let version: UInt32 = 1
    static let segmentHeaderSize = 8
    static let recordHeaderSize = 9
    static let maxRecordLength = 1 << 30

    static func segmentHeader() -> [UInt8] {
        var h = magic
        putU32LE(&h, version)
        return h
    }

    static func segmentName(_ n: Int) -> String { String(format: "%08d", n) }

    /// Frames a payload into `out` (header + payload).
    static func frame(_ type: WALRecordType, _ payload: [UInt8], into out: inout [UInt8]) {
        var header: [UInt8] = [type.rawValue]
        putU32LE(&header, UInt32(payload.count))
        var crc = header.withUnsafeBytes { CRC32C.update(0, $0) }
        crc = payload.withUnsafeBytes { CRC32C.update(crc, $0) }
        putU32LE(&header, crc)
        out.append(contentsOf: header)
        out.append(contentsOf: payload)
    }

    /// Segment numbers present in `dir`, ascending.
    static func segments(in dir: String) throws -> [Int] {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        return names.compactMap { $0.count == 8 && $0.allSatisfy(\.isASCII) ? Int($0) : nil }.sorted()
    }
}

func fsyncDirectory(_ path: String) {
    let fd = open(path, O_RDONLY | O_DIRECTORY)
    if fd >= 0 {
        _ = fsync(fd)
        close(fd)
    }
}

func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(WALError) {
    var off = 0
    while off < bytes.count {
        let n = write(fd, bytes.baseAddress! + off, bytes.count - off)
        if n < 0 {
            if errno == EINTR { continue }
            throw WALError(message: "write failed: \(String(cString: strerror(errno)))")
        }
        off += n
    }
}

// MARK: - Replay

/// Samples a replayed record held for series nobody defines (their series record was in damaged bytes).
struct ReplayLoss {
    var samples = 0
    var refs: [UInt64] = []
}

/// What a replay found. Replay itself changes no file; `WALReader.commit` acts on the plan once every
/// record has been applied, so an error while applying leaves the directory exactly as it was.
struct WALReplayPlan {
    var lastSegment = 0
    var damages: [WALDamage] = []
    var unattributed: [WALUnattributed] = []
    /// Segments to copy aside before anything changes (damaged, or holding samples nobody can attribute).
    var quarantineSegments: [String] = []
    /// The last segment's torn tail: cut at `offset`.
    var tail: (segment: String, offset: Int, length: Int)? = nil
    var recoveredRecords = 0
    var recoveredSamples = 0

    /// Damage other than a torn tail: the log is rewritten (checkpoint) once replayed, so that it stands
    /// on its own without the damaged segments (every series it needs gets a fresh series record).
    var needsRewrite: Bool { damages.count > (tail == nil ? 0 : 1) || !unattributed.isEmpty }

    mutating func quarantine(_ segment: String) {
        if !quarantineSegments.contains(segment) { quarantineSegments.append(segment) }
    }
}

enum WALReader {
    enum Framed {
        case record(WALRecordType, Range<Int>, next: Int)
        /// `next`: where the following record would start if only the payload or checksum is bad.
        case bad(reason: String, next: Int?)
    }

    /// Reads every segment in order and hands each intact record to `apply` (`afterDamage`: some earlier bytes
    /// were skipped, so series records may be missing). A record that fails its checksum or does not decode is
    /// damage: replay skips to the next valid record (in the same segment if there is one, else the next
    /// segment) and goes on. Any error `apply` throws stops replay with a `WALReplayError` naming the segment
    /// and offset. No file is changed here (see `commit`).
    static func replay(dir: String,
                       apply: (WALRecord, _ afterDamage: Bool) throws -> ReplayLoss) throws -> WALReplayPlan {
        let segs = try WALFormat.segments(in: dir)
        var plan = WALReplayPlan()
        plan.lastSegment = segs.last ?? 0
        var afterDamage = false
        for (i, seg) in segs.enumerated() {
            let name = WALFormat.segmentName(seg)
            let path = dir + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else {
                throw WALError(message: "cannot read segment \(path)")
            }
            try data.withUnsafeBytes { buf in
                try replaySegment(buf, name: name, isLast: i == segs.count - 1, plan: &plan,
                                  afterDamage: &afterDamage, apply: apply)
            }
        }
        return plan
    }

    private static func replaySegment(_ buf: UnsafeRawBufferPointer, name: String, isLast: Bool, plan: inout WALReplayPlan,
                                      afterDamage: inout Bool,
                                      apply: (WALRecord, Bool) throws -> ReplayLoss) throws {
        /// Records a damaged range starting at `pos`; returns where to go on in this segment (nil: its end).
        func damaged(at pos: Int, _ reason: String, hint: Int?, hintRecords: Int) -> Int? {
            if let q = resync(buf, after: pos, hint: hint) {
                plan.damages.append(WALDamage(segment: name, start: pos, end: q, reason: reason,
                                              skippedRecords: q == hint ? hintRecords : nil))
                plan.quarantine(name)
                afterDamage = true
                return q
            }
            plan.damages.append(WALDamage(segment: name, start: pos, end: buf.count, reason: reason,
                                          skippedRecords: hint == buf.count || isLast ? hintRecords : nil))
            if isLast {
                // Nothing valid follows: the record being written when the process died (never acknowledged).
                // A complete record that fails its checksum is kept aside before the cut; zeros are not.
                plan.tail = (name, pos, buf.count - pos)
                if hint != nil && buf[pos...].contains(where: { $0 != 0 }) { plan.quarantine(name) }
            } else {
                plan.quarantine(name)
                afterDamage = true
            }
            return nil
        }

        var pos = WALFormat.segmentHeaderSize
        if let bad = headerProblem(buf) {
            guard let q = damaged(at: 0, bad, hint: buf.count >= pos ? pos : nil, hintRecords: 0) else { return }
            pos = q
        }
        while pos < buf.count {
            switch frame(buf, at: pos) {
            case .bad(let reason, let next):
                guard let q = damaged(at: pos, reason, hint: next, hintRecords: 1) else { return }
                pos = q
            case .record(let type, let range, let next):
                let rec: WALRecord
                do {
                    rec = try WALRecord.decode(type, UnsafeRawBufferPointer(rebasing: buf[range]))
                } catch {
                    guard let q = damaged(at: pos, "undecodable record: \(error)", hint: next, hintRecords: 1) else { return }
                    pos = q
                    continue
                }
                let loss: ReplayLoss
                do { loss = try apply(rec, afterDamage) } catch {
                    throw WALReplayError(segment: name, offset: pos, message: "\(error)")
                }
                if loss.samples > 0 {
                    if plan.unattributed.last?.segment != name { plan.unattributed.append(WALUnattributed(segment: name)) }
                    plan.unattributed[plan.unattributed.count - 1].records += 1
                    plan.unattributed[plan.unattributed.count - 1].samples += loss.samples
                    for r in loss.refs where plan.unattributed[plan.unattributed.count - 1].refs.count < 20 {
                        if !plan.unattributed[plan.unattributed.count - 1].refs.contains(r) {
                            plan.unattributed[plan.unattributed.count - 1].refs.append(r)
                        }
                    }
                    plan.quarantine(name)
                }
                if afterDamage {
                    plan.recoveredRecords += 1
                    plan.recoveredSamples += rec.sampleCount - loss.samples
                }
                pos = next
            }
        }
    }

    static func headerProblem(_ buf: UnsafeRawBufferPointer) -> String? {
        if buf.count < WALFormat.segmentHeaderSize { return "short segment header (\(buf.count) bytes)" }
        if !WALFormat.magic.elementsEqual(buf[0..<4]) { return "bad segment magic" }
        let version = UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        if version != WALFormat.version { return "unsupported segment version \(version)" }
        return nil
    }

    /// Parses the frame at `pos` and checks its CRC (not the payload's encoding).
    static func frame(_ buf: UnsafeRawBufferPointer, at pos: Int) -> Framed {
        if buf.count - pos < WALFormat.recordHeaderSize {
            return .bad(reason: "torn record header (\(buf.count - pos) of \(WALFormat.recordHeaderSize) bytes)", next: nil)
        }
        let typeByte = buf[pos]
        let length = Int(UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: pos + 1, as: UInt32.self)))
        let stored = UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: pos + 5, as: UInt32.self))
        let start = pos + WALFormat.recordHeaderSize
        if length > buf.count - start {
            return .bad(reason: "torn record (length \(length), \(buf.count - start) bytes left)", next: nil)
        }
        var crc = CRC32C.update(0, UnsafeRawBufferPointer(rebasing: buf[pos..<pos + 5]))
        crc = CRC32C.update(crc, UnsafeRawBufferPointer(rebasing: buf[start..<start + length]))
        if crc != stored {
            return .bad(reason: String(format: "CRC32C mismatch (stored %08x, computed %08x)", stored, crc), next: start + length)
        }
        guard let type = WALRecordType(rawValue: typeByte) else {
            return .bad(reason: "unknown record type \(typeByte)", next: start + length)
        }
        return .record(type, start..<start + length, next: start + length)
    }

    /// The first offset after `pos` where an intact, decodable record starts: `hint` (right after the bad
    /// record, when only its payload or checksum was hit) first, then every byte. A false match needs a
    /// CRC32C collision (2⁻³²) and a payload that decodes.
    static func resync(_ buf: UnsafeRawBufferPointer, after pos: Int, hint: Int?) -> Int? {
        func valid(_ q: Int) -> Bool {
            guard case .record(let type, let range, _) = frame(buf, at: q) else { return false }
            return (try? WALRecord.decode(type, UnsafeRawBufferPointer(rebasing: buf[range]))) != nil
        }
        if let hint, hint > pos, hint < buf.count, valid(hint) { return hint }
        var q = pos + 1
        while q + WALFormat.recordHeaderSize <= buf.count {
            let b = buf[q]
            if (b == WALRecordType.series.rawValue || b == WALRecordType.samples.rawValue) && valid(q) { return q }
            q += 1
        }
        return nil
    }

    /// Acts on a replay's findings: copies damaged segments to `<data>/quarantine/` (fsync'd) and then cuts the
    /// last segment's torn tail. Deletes nothing; the caller rewrites the log (checkpoint) when
    /// `plan.needsRewrite`, which removes the damaged segments from `wal/` once their bytes are safe.
    static func commit(_ plan: WALReplayPlan, walDir: String, dataDir: String) throws -> WALCorruption? {
        guard let first = plan.damages.first ?? plan.unattributed.first.map({
            WALDamage(segment: $0.segment, start: 0, end: 0, reason: "samples of unknown series", skippedRecords: 0)
        }) else { return nil }
        var kept: [String] = []
        for name in plan.quarantineSegments {
            kept.append(try quarantine(walDir + "/" + name, dataDir: dataDir, as: "wal-" + name))
        }
        if let t = plan.tail {
            let path = walDir + "/" + t.segment
            if truncate(path, off_t(t.offset)) != 0 {
                throw WALError(message: "cannot truncate \(path) at \(t.offset): \(String(cString: strerror(errno)))")
            }
            let fd = open(path, O_RDWR)
            if fd >= 0 { _ = fsync(fd); close(fd) }
        }
        return WALCorruption(segment: first.segment, offset: first.start, reason: first.reason,
                             truncatedBytes: plan.tail?.length ?? 0, damages: plan.damages,
                             unattributed: plan.unattributed, quarantined: kept,
                             recoveredRecords: plan.recoveredRecords, recoveredSamples: plan.recoveredSamples)
    }

    /// Copies `path` to `<data>/quarantine/<base>` (or `<base>.N` when another file holds that name); a file
    /// there with the same bytes is reused (a repair interrupted before the log was rewritten).
    static func quarantine(_ path: String, dataDir: String, as base: String) throws -> String {
        let fm = FileManager.default
        guard let bytes = fm.contents(atPath: path) else { throw WALError(message: "cannot read \(path) to quarantine it") }
        let qdir = dataDir + "/quarantine"
        try fm.createDirectory(atPath: qdir, withIntermediateDirectories: true)
        var n = 0
        while true {
            let name = n == 0 ? base : "\(base).\(n)"
            let dest = qdir + "/" + name
            if let existing = fm.contents(atPath: dest) {
                if existing == bytes { return "quarantine/" + name }
                n += 1
                continue
            }
            let tmp = dest + ".tmp"
            let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw WALError(message: "cannot create \(tmp): \(String(cString: strerror(errno)))") }
            do {
                try bytes.withUnsafeBytes { try writeAll(fd, $0) }
            } catch {
                close(fd)
                throw error
            }
            let ok = fsync(fd) == 0
            close(fd)
            guard ok, rename(tmp, dest) == 0 else {
                throw WALError(message: "cannot write \(dest): \(String(cString: strerror(errno)))")
            }
            fsyncDirectory(qdir)
            fsyncDirectory(dataDir)
            return "quarantine/" + name
        }
    }
}

extension WALRecord {
    var sampleCount: Int {
        switch self {
        case .series: return 0
        case .samples(let e): return e.reduce(0) { $0 + $1.ts.count }
        }
    }
}

// MARK: - Writer (group commit on a dedicated thread)

/// Appends framed records to the current segment on one dedicated thread, so that the fsync never
/// runs on the Swift concurrency pool. Appenders enqueue bytes and receive a logical position;
/// they wait (thread or continuation) until `synced` passes it.
final class WALWriter: @unchecked Sendable {
    let dir: String
    let policy: WALFsyncPolicy
    let segmentLimit: Int
    let logger: Logger

    private let cond = NSCondition()
    // Guarded by `cond`:
    private var pending: [UInt8] = []
    private var enqueued: UInt64 = 0
    private var synced: UInt64 = 0
    private var waiters: [(UInt64, CheckedContinuation<Void, Error>)] = []
    private var failure: WALError?
    private var stopping = false
    private var writing = false
    private var paused = false
    private var flushNow = false
    private var stopped = false
    // Owned by the writer thread, or by an exclusive section while `paused`:
    private var fd: Int32 = -1
    private(set) var segment: Int
    private var segmentBytes = 0

    /// Opens a fresh segment numbered `after + 1` and starts the writer thread.
    init(dir: String, after: Int, policy: WALFsyncPolicy, segmentLimit: Int, logger: Logger) throws {
        self.dir = dir
        self.policy = policy
        self.segmentLimit = segmentLimit
        self.logger = logger
        self.segment = after
        try openSegment(after + 1)
        let t = Thread { [self] in self.run() }
        t.name = "vigil-wal-writer"
        t.start()
    }

    private func openSegment(_ n: Int) throws(WALError) {
        let path = dir + "/" + WALFormat.segmentName(n)
        let newFD = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard newFD >= 0 else { throw WALError(message: "cannot create \(path): \(String(cString: strerror(errno)))") }
        let h = WALFormat.segmentHeader()
        do {
            try h.withUnsafeBytes { p in try writeAll(newFD, p) }
        } catch {
            Glibc.close(newFD)
            throw WALError(message: "cannot write \(path): \(error)")
        }
        if fsync(newFD) != 0 { throw WALError(message: "fsync \(path) failed") }
        fsyncDirectory(dir)
        if fd >= 0 { Glibc.close(fd) }
        fd = newFD
        segment = n
        segmentBytes = h.count
    }

    /// Queues framed bytes; returns the logical position to wait for.
    func enqueue(_ framed: [UInt8]) throws(WALError) -> UInt64 {
        cond.lock()
        defer { cond.unlock() }
        if let failure { throw failure }
        if stopping { throw WALError(message: "log is closed") }
        pending.append(contentsOf: framed)
        enqueued &+= UInt64(framed.count)
        if policy == .always || pending.count > 4 << 20 { cond.broadcast() }
        return enqueued
    }

    /// Blocks the calling thread until `position` is durable (policy always) or returns at once (interval).
    func waitSync(_ position: UInt64) throws(WALError) {
        guard policy == .always else { return }
        cond.lock()
        defer { cond.unlock() }
        while synced < position && failure == nil { cond.wait() }
        if synced < position, let failure { throw failure }
    }

    /// Suspends until `position` is durable without blocking a pool thread.
    func waitSyncAsync(_ position: UInt64) async throws {
        guard policy == .always else { return }
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
            cond.lock()
            if synced >= position {
                cond.unlock()
                c.resume()
            } else if let failure {
                cond.unlock()
                c.resume(throwing: failure)
            } else {
                waiters.append((position, c))
                cond.unlock()
            }
        }
    }

    private func run() {
        cond.lock()
        while true {
            switch policy {
            case .always:
                while !stopping && (pending.isEmpty || paused) { cond.wait() }
            case .interval(let ms):
                // While paused (an exclusive section runs) sleep until resumed: spinning here would hold
                // `cond` and deadlock the section's end.
                let deadline = Date(timeIntervalSinceNow: Double(ms) / 1000)
                while !stopping {
                    if paused {
                        cond.wait()
                        continue
                    }
                    if flushNow || pending.count > 4 << 20 { break }
                    if !cond.wait(until: deadline) { break }
                }
            }
            if pending.isEmpty {
                if stopping { break }
                flushNow = false
                continue
            }
            var batch: [UInt8] = []
            swap(&batch, &pending)
            let target = enqueued
            writing = true
            cond.unlock()

            var err: WALError? = nil
            do {
                if !batch.isEmpty {
                    if segmentBytes > WALFormat.segmentHeaderSize && segmentBytes + batch.count > segmentLimit {
                        if fsync(fd) != 0 { throw WALError(message: "fsync segment \(segment) failed") }
                        try openSegment(segment + 1)
                    }
                    try batch.withUnsafeBytes { p in try writeAll(fd, p) }
                    segmentBytes += batch.count
                }
                if fdatasync(fd) != 0 {
                    throw WALError(message: "fdatasync segment \(segment) failed: \(String(cString: strerror(errno)))")
                }
            } catch let e as WALError {
                err = e
            } catch {
                err = WALError(message: "\(error)")
            }

            cond.lock()
            writing = false
            flushNow = false
            var ready: [CheckedContinuation<Void, Error>] = []
            var failed: [CheckedContinuation<Void, Error>] = []
            if let err {
                logger.error("\(err)")
                failure = err
                failed = waiters.map(\.1)
                waiters.removeAll()
            } else {
                synced = target
                var keep: [(UInt64, CheckedContinuation<Void, Error>)] = []
                for w in waiters { if w.0 <= target { ready.append(w.1) } else { keep.append(w) } }
                waiters = keep
            }
            cond.broadcast()
            cond.unlock()
            for c in ready { c.resume() }
            for c in failed { c.resume(throwing: err ?? WALError(message: "write failed")) }
            cond.lock()
            if failure != nil {
                // A failed write leaves the log in an unknown state: refuse everything from now on.
                while !stopping { cond.wait() }
                break
            }
        }
        stopped = true
        cond.broadcast()
        cond.unlock()
    }

    /// Runs `body` with the writer drained and paused (nothing queued, nothing in flight).
    /// The caller must prevent new enqueues (the head lock) for the duration.
    func exclusive<T>(_ body: () throws -> T) throws -> T {
        cond.lock()
        flushNow = true
        cond.broadcast()
        while (!pending.isEmpty || writing) && failure == nil && !stopped { cond.wait() }
        if let failure {
            cond.unlock()
            throw failure
        }
        paused = true
        cond.unlock()
        defer {
            cond.lock()
            paused = false
            cond.broadcast()
            cond.unlock()
        }
        return try body()
    }

    /// Syncs the current segment and goes on in segment `current + 2`, leaving `current + 1` free for
    /// a checkpoint (`CheckpointFile`), which replay then reads after every older segment and before
    /// everything appended from now on. Returns the free number. Call inside `exclusive` (nothing queued
    /// or in flight, so every record enqueued before the call is in an older segment).
    func rotateLeavingGap() throws(WALError) -> Int {
        let old = segment
        if fsync(fd) != 0 { throw WALError(message: "fsync segment \(old) failed: \(String(cString: strerror(errno)))") }
        try openSegment(old + 2)
        return old + 1
    }

    /// Writes and syncs everything queued, then stops the thread and closes the segment.
    func close() {
        cond.lock()
        if stopping {
            cond.unlock()
            return
        }
        stopping = true
        cond.broadcast()
        while !stopped { cond.wait() }
        let leftover = waiters
        waiters.removeAll()
        cond.unlock()
        for w in leftover { w.1.resume(throwing: WALError(message: "log closed")) }
        if fd >= 0 {
            _ = fsync(fd)
            Glibc.close(fd)
            fd = -1
        }
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }
}
