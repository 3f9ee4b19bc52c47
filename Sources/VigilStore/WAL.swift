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

/// The WAL was found damaged at start-up: where, why, and what was cut.
public struct WALCorruption: Sendable, Equatable, CustomStringConvertible {
    public let segment: String
    public let offset: Int
    public let reason: String
    /// Bytes dropped from the damaged segment (its length minus `offset`).
    public let truncatedBytes: Int
    /// Later segments removed because they followed the damage.
    public let removedSegments: [String]

    public var description: String {
        var s = "WAL segment \(segment) corrupt at offset \(offset): \(reason); truncated \(truncatedBytes) bytes"
        if !removedSegments.isEmpty { s += ", removed later segments \(removedSegments.joined(separator: ", "))" }
        return s
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

enum WALReader {
    /// Reads every segment in order, handing each record to `handle`. A bad record (short header,
    /// short payload, CRC mismatch, unknown type, or a payload `handle` cannot decode) ends the log:
    /// the segment is truncated there and later segments are deleted. Returns the damage found, if any,
    /// and the highest segment number seen.
    static func replay(dir: String, logger: Logger,
                       handle: (WALRecordType, UnsafeRawBufferPointer) throws -> Void) throws -> (WALCorruption?, Int) {
        let segs = try WALFormat.segments(in: dir)
        for (i, seg) in segs.enumerated() {
            let name = WALFormat.segmentName(seg)
            let path = dir + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else {
                throw WALError(message: "cannot read segment \(path)")
            }
            let bad: (offset: Int, reason: String)? = data.withUnsafeBytes { buf in
                scan(buf, handle: handle)
            }
            if let bad {
                let later = segs[(i + 1)...].map { WALFormat.segmentName($0) }
                let c = WALCorruption(segment: name, offset: bad.offset, reason: bad.reason,
                                      truncatedBytes: data.count - bad.offset, removedSegments: later)
                logger.warning("\(c)")
                if truncate(path, off_t(bad.offset)) != 0 {
                    throw WALError(message: "cannot truncate \(path) at \(bad.offset): \(String(cString: strerror(errno)))")
                }
                let fd = open(path, O_RDWR)
                if fd >= 0 { _ = fsync(fd); close(fd) }
                for l in later { try? FileManager.default.removeItem(atPath: dir + "/" + l) }
                fsyncDirectory(dir)
                return (c, segs.last ?? 0)
            }
        }
        return (nil, segs.last ?? 0)
    }

    /// Returns the first bad offset and why, or nil if the whole buffer is good.
    static func scan(_ buf: UnsafeRawBufferPointer,
                     handle: (WALRecordType, UnsafeRawBufferPointer) throws -> Void) -> (offset: Int, reason: String)? {
        if buf.count < WALFormat.segmentHeaderSize {
            return (0, "short segment header (\(buf.count) bytes)")
        }
        if !WALFormat.magic.elementsEqual(buf[0..<4]) { return (0, "bad segment magic") }
        let version = UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        if version != WALFormat.version { return (0, "unsupported segment version \(version)") }
        var pos = WALFormat.segmentHeaderSize
        while pos < buf.count {
            if buf.count - pos < WALFormat.recordHeaderSize {
                return (pos, "torn record header (\(buf.count - pos) of \(WALFormat.recordHeaderSize) bytes)")
            }
            let typeByte = buf[pos]
            let length = Int(UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: pos + 1, as: UInt32.self)))
            let stored = UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: pos + 5, as: UInt32.self))
            let start = pos + WALFormat.recordHeaderSize
            if length > buf.count - start {
                return (pos, "torn record (length \(length), \(buf.count - start) bytes left)")
            }
            var crc = CRC32C.update(0, UnsafeRawBufferPointer(rebasing: buf[pos..<pos + 5]))
            let payload = UnsafeRawBufferPointer(rebasing: buf[start..<start + length])
            crc = CRC32C.update(crc, payload)
            if crc != stored {
                return (pos, String(format: "CRC32C mismatch (stored %08x, computed %08x)", stored, crc))
            }
            guard let type = WALRecordType(rawValue: typeByte) else {
                return (pos, "unknown record type \(typeByte)")
            }
            do { try handle(type, payload) } catch {
                return (pos, "undecodable record: \(error)")
            }
            pos = start + length
        }
        return nil
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

    /// Starts segment `segment + 1` holding `framed` (already-framed records), fsyncs it, and deletes
    /// every older segment. Call inside `exclusive`.
    func rewrite(with framed: [UInt8]) throws {
        let old = segment
        try openSegment(old + 1)
        if !framed.isEmpty {
            try framed.withUnsafeBytes { p in try writeAll(fd, p) }
            segmentBytes += framed.count
        }
        if fsync(fd) != 0 { throw WALError(message: "fsync segment \(segment) failed") }
        for s in try WALFormat.segments(in: dir) where s <= old {
            try FileManager.default.removeItem(atPath: dir + "/" + WALFormat.segmentName(s))
        }
        fsyncDirectory(dir)
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
