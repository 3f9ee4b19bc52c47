import Foundation
import VigilChunk
import VigilCore
#if canImport(Glibc)
import Glibc
#endif

// The WAL checkpoint without stopping appends (docs/storage-format.md, "Checkpoint").
//
//   1. Cut (head lock + WAL writer drained, a few ms): the writer syncs its segment N and goes on in
//      N + 2; the next free ref is noted. Every record enqueued before the cut is in a segment ≤ N,
//      every later one in a segment ≥ N + 2.
//   2. Snapshot (head lock per batch of `checkpointBatch` series, ascending ref, refs below the cut's):
//      the label set and head chunks (sealed and open) of each series are copied (chunks are values);
//      encoding and writing happen outside the lock, streamed to `wal/checkpoint.tmp`.
//   3. Install: fsync the file, rename it to segment N + 1, fsync the directory; then delete segments
//      ≤ N, newest first, and fsync the directory.
//
// Crash safety, at any instant (the log replayed is the segments present, in number order):
//   - before the rename: the checkpoint is not a segment (`checkpoint.tmp` is removed at open); the
//     segments ≤ N and ≥ N + 2 are the full log, as without a checkpoint.
//   - after the rename, while segments ≤ N are deleted: those left are a prefix of the old log (newest
//     deleted first), so each of their samples follows its series record; N + 1 then re-states every
//     series below the cut that SQLite does not define, with every head sample it had at its snapshot,
//     which covers every sample of the old log not in SQLite (samples already applied are skipped as
//     not newer than the series' newest, as after any checkpoint crash); the segments ≥ N + 2 follow.
//   - a sample appended after the cut may be both in N + 1 (snapshot taken after it) and in a segment
//     ≥ N + 2: the second copy is skipped at replay. A series created after the cut has its series
//     record in a segment ≥ N + 2, before its samples (the append path logs both in order).
// Persisting to SQLite and retention take the `maintenance` lock, as the checkpoint does, so no
// series becomes `inSQLite` or disappears while it runs.

/// Steps of a checkpoint, for tests that stop it (as a crash would) at each of them.
package enum CheckpointStep: Sendable, Equatable {
    /// The WAL writer went on in a new segment.
    case cut
    /// This many batches of series were written to `checkpoint.tmp` (not synced).
    case wroteBatches(Int)
    /// `checkpoint.tmp` is complete and fsync'd.
    case written
    /// It is a segment now.
    case installed
    /// This many older segments were deleted.
    case deleted(Int)
}

/// The checkpoint file being written (`wal/checkpoint.tmp`), streamed batch by batch.
struct CheckpointFile {
    static let tmpName = "checkpoint.tmp"
    let dir: String
    let tmpPath: String
    private var fd: Int32
    private(set) var bytes = 0

    init(walDir: String) throws {
        dir = walDir
        tmpPath = walDir + "/" + Self.tmpName
        fd = open(tmpPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw WALError(message: "cannot create \(tmpPath): \(String(cString: strerror(errno)))") }
        try write(WALFormat.segmentHeader())
    }

    mutating func write(_ framed: [UInt8]) throws {
        if framed.isEmpty { return }
        let fd = self.fd
        do {
            try framed.withUnsafeBytes { p in try writeAll(fd, p) }
        } catch {
            throw WALError(message: "cannot write \(tmpPath): \(error)")
        }
        bytes += framed.count
    }

    /// Syncs and closes the file (still named `checkpoint.tmp`).
    mutating func finish() throws(WALError) {
        let ok = fsync(fd) == 0
        Glibc.close(fd)
        fd = -1
        if !ok { throw WALError(message: "fsync \(tmpPath) failed: \(String(cString: strerror(errno)))") }
    }

    /// Renames the finished file to segment `number` and syncs the directory.
    func install(as number: Int) throws(WALError) {
        let dest = dir + "/" + WALFormat.segmentName(number)
        guard rename(tmpPath, dest) == 0 else {
            throw WALError(message: "cannot rename \(tmpPath) to \(dest): \(String(cString: strerror(errno)))")
        }
        fsyncDirectory(dir)
    }

    /// Closes the file if a step failed (the `.tmp` stays; the next checkpoint or open replaces it).
    mutating func abandon() {
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    /// Removes a `checkpoint.tmp` left by a crash (never a segment: replay does not read it).
    static func removeStale(walDir: String) {
        unlink(walDir + "/" + tmpName)
    }
}

/// One series as the checkpoint copies it under the head lock.
struct CheckpointEntry {
    let ref: UInt64
    let labels: Labels
    let chunks: [ChunkBuilder]
}

extension Head {
    /// Series with `from ≤ ref < below` (at most `limit` refs looked at, ascending) that the checkpoint
    /// must re-state: those with head chunks, and those SQLite does not define. Returns them and the
    /// next ref to look at (`below` when done). Takes the lock once.
    func checkpointBatch(from: UInt64, below: UInt64, limit: Int) -> ([CheckpointEntry], next: UInt64) {
        lock.withLock {
            var out: [CheckpointEntry] = []
            func take(_ s: MemSeries) {
                guard s.open.count > 0 || !s.sealed.isEmpty || !s.inSQLite else { return }
                var chunks = s.sealed
                if s.open.count > 0 { chunks.append(s.open) }
                out.append(CheckpointEntry(ref: s.ref, labels: labelsLocked(s), chunks: chunks))
            }
            let end = min(below, from &+ UInt64(limit))
            let dense = UInt64(slotCountLocked)
            var r = from
            while r < end && r < dense {
                if let s = seriesLocked(r) { take(s) }
                r += 1
            }
            guard r >= dense else { return (out, end) }
            // Past the dense ref table (never in practice: refs count up from 1): the rest in one go.
            for s in seriesLocked(refsIn: dense..<max(dense, below)) { take(s) }
            return (out, below)
        }
    }
}

/// Encodes a batch as one series record and one samples record (series before their samples).
func encodeCheckpointBatch(_ entries: [CheckpointEntry], into framed: inout [UInt8]) {
    var seriesPayload: [UInt8] = []
    var samplesPayload: [UInt8] = []
    var ts: [Int64] = []
    var vs: [Double] = []
    for e in entries {
        encodeSeriesRecordEntry(e.ref, e.labels, into: &seriesPayload)
        for c in e.chunks {
            ts.removeAll(keepingCapacity: true)
            vs.removeAll(keepingCapacity: true)
            c.read(mint: .min, maxt: .max, into: &ts, &vs)
            if ts.isEmpty { continue }
            ts.withUnsafeBufferPointer { tp in
                vs.withUnsafeBufferPointer { vp in encodeSamplesEntry(e.ref, tp, vp, into: &samplesPayload) }
            }
        }
    }
    if !seriesPayload.isEmpty { WALFormat.frame(.series, seriesPayload, into: &framed) }
    if !samplesPayload.isEmpty { WALFormat.frame(.samples, samplesPayload, into: &framed) }
}
