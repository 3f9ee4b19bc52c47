import Foundation
import VigilChunk
import VigilCore

// The SQLite side of the store (schema in docs/storage-format.md). Only the maintenance path
// writes (one connection, under `TSDB.maintenance`); readers use pooled connections.

enum Schema {
    /// 3: no `label_index` table (format 2 wrote one on every persist and never read it; the head
    /// builds its postings from `series` at open). A format-2 directory is upgraded in place on open.
    static let version: Int64 = 3

    static let create = """
        CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS symbols(
            id INTEGER PRIMARY KEY,
            text TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS series(
            id INTEGER PRIMARY KEY,
            labels BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS chunks(
            id INTEGER PRIMARY KEY,
            series_id INTEGER NOT NULL,
            min_time INTEGER NOT NULL,
            max_time INTEGER NOT NULL,
            num_samples INTEGER NOT NULL,
            data BLOB NOT NULL);
        CREATE INDEX IF NOT EXISTS chunks_by_series ON chunks(series_id, max_time);
        """
}

/// A chunk ready for SQLite.
struct ChunkRow {
    let ref: UInt64
    let minTime: Int64
    let maxTime: Int64
    let count: Int
    let blob: [UInt8]
}

struct StoreCorruption: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

extension SQLiteConnection {
    func setUpWriter() throws {
        // 64 KiB pages (only takes effect when the file is created): chunk rows are a few hundred
        // bytes, and the space left at the end of each page was ~0.3 bytes/sample with 4 KiB pages.
        try exec("PRAGMA page_size=65536")
        // Compaction frees pages in the middle of the file; incremental vacuum gives them back.
        try exec("PRAGMA auto_vacuum=INCREMENTAL")
        try exec("PRAGMA journal_mode=WAL")
        // FULL: a commit is on disk before the WAL segments it replaces are deleted.
        try exec("PRAGMA synchronous=FULL")
        try exec(Schema.create)
        var v = try scalarInt("SELECT value FROM meta WHERE key='format_version'")
        if v == 2 {
            // Format 2 = 3 plus the unread `label_index` table: drop it (its pages go back to the
            // free list and incremental vacuum returns them).
            try transaction {
                try exec("DROP TABLE IF EXISTS label_index")
                try exec("UPDATE meta SET value=\(Schema.version) WHERE key='format_version'")
            }
            try exec("PRAGMA incremental_vacuum")
            v = Schema.version
        }
        if let v, v != Schema.version {
            throw StoreCorruption(message: "\(path): unsupported format_version \(v) (this build reads \(Schema.version)"
                + (v < Schema.version ? "; the directory was written by an older Vigil: export it with that build, or start afresh)" : ")"))
        }
        if v == nil { try exec("INSERT INTO meta(key, value) VALUES('format_version', \(Schema.version))") }
    }

    /// Inserts series rows and chunks in one transaction. Series rows go in ascending id order so their
    /// pages fill densely.
    func persist(newSeries: [(UInt64, Labels)], chunks: [ChunkRow], symbols: SymbolTable) throws {
        try transaction {
            if !newSeries.isEmpty {
                let ins = try prepare("INSERT OR REPLACE INTO series(id, labels) VALUES(?1, ?2)")
                var blob: [UInt8] = []
                for (ref, labels) in newSeries.sorted(by: { $0.0 < $1.0 }) {
                    blob.removeAll(keepingCapacity: true)
                    try symbols.encode(labels, into: &blob, conn: self)
                    ins.reset()
                    ins.bind(1, Int64(bitPattern: ref))
                    ins.bind(2, blob)
                    try ins.run()
                }
            }
            try insertChunks(chunks)
        }
    }

    func insertChunks(_ chunks: [ChunkRow]) throws {
        let ins = try prepare(
            "INSERT INTO chunks(series_id, min_time, max_time, num_samples, data) VALUES(?1, ?2, ?3, ?4, ?5)")
        for c in chunks {
            ins.reset()
            ins.bind(1, Int64(bitPattern: c.ref))
            ins.bind(2, c.minTime)
            ins.bind(3, c.maxTime)
            ins.bind(4, Int64(c.count))
            ins.bind(5, c.blob)
            try ins.run()
        }
    }

    /// Every series row.
    func loadSeries(symbols: SymbolTable) throws -> [(UInt64, Labels)] {
        let q = try prepare("SELECT id, labels FROM series ORDER BY id")
        defer { q.reset() }
        var out: [(UInt64, Labels)] = []
        while try q.step() {
            let id = q.int64(0)
            do {
                out.append((UInt64(bitPattern: id), try symbols.decode(q.blob(1))))
            } catch {
                throw StoreCorruption(message: "\(path): series id \(id): \(error)")
            }
        }
        return out
    }

    /// Per series: min and max time over its chunks; and the rows and samples in all (one scan, at open).
    func chunkSummary() throws -> ([UInt64: (Int64, Int64)], (chunks: Int, samples: Int)) {
        let q = try prepare("SELECT series_id, min(min_time), max(max_time), count(*), sum(num_samples) FROM chunks GROUP BY series_id")
        defer { q.reset() }
        var out: [UInt64: (Int64, Int64)] = [:]
        var chunks = 0, samples = 0
        while try q.step() {
            out[UInt64(bitPattern: q.int64(0))] = (q.int64(1), q.int64(2))
            chunks += Int(q.int64(3))
            samples += Int(q.int64(4))
        }
        return (out, (chunks, samples))
    }

    /// Per series: min and max time over its chunks.
    func chunkRanges() throws -> [UInt64: (Int64, Int64)] {
        let q = try prepare("SELECT series_id, min(min_time), max(max_time) FROM chunks GROUP BY series_id")
        defer { q.reset() }
        var out: [UInt64: (Int64, Int64)] = [:]
        while try q.step() { out[UInt64(bitPattern: q.int64(0))] = (q.int64(1), q.int64(2)) }
        return out
    }
}

/// Reads persisted chunks of the selected series into per-series columns.
struct ChunkReader {
    let conn: SQLiteConnection

    /// Appends the samples of `ref`'s chunks overlapping [mint, maxt] (whole chunks; caller trims).
    func read(ref: UInt64, mint: Int64, maxt: Int64, into ts: inout [Int64], _ vs: inout [Double]) throws {
        let q = try conn.prepare(
            "SELECT min_time, data FROM chunks WHERE series_id=?1 AND max_time>=?2 AND min_time<=?3 ORDER BY max_time")
        defer { q.reset() }
        q.bind(1, Int64(bitPattern: ref))
        q.bind(2, mint)
        q.bind(3, maxt)
        while try q.step() {
            try decodeChunk(q.blob(1), ref: ref, minTime: q.int64(0), into: &ts, &vs)
        }
    }

    /// Chunks of series with ids in `refs` overlapping [mint, maxt], in (series, time) order;
    /// `sink(ref, minTime, sampleCount, blob)` for each.
    func scan(refs: ClosedRange<UInt64>, mint: Int64, maxt: Int64,
              _ sink: (UInt64, Int64, Int, UnsafeRawBufferPointer) throws -> Void) throws {
        let q = try conn.prepare(
            "SELECT series_id, min_time, num_samples, data FROM chunks WHERE series_id BETWEEN ?1 AND ?2 AND max_time>=?3 AND min_time<=?4 ORDER BY series_id, max_time")
        defer { q.reset() }
        q.bind(1, Int64(bitPattern: refs.lowerBound))
        q.bind(2, Int64(bitPattern: refs.upperBound))
        q.bind(3, mint)
        q.bind(4, maxt)
        while try q.step() {
            try sink(UInt64(bitPattern: q.int64(0)), q.int64(1), Int(max(0, q.int64(2))), q.blob(3))
        }
    }
}

func decodeChunk(_ blob: UnsafeRawBufferPointer, ref: UInt64, minTime: Int64,
                 into ts: inout [Int64], _ vs: inout [Double]) throws {
    do {
        try ChunkCodec.decode(blob, into: &ts, &vs)
    } catch {
        throw StoreCorruption(message: "chunk of series \(ref) starting at \(minTime): \(error)")
    }
}

/// The `symbols` table in memory: every label name and value a persisted series uses, stored once;
/// `series.labels` holds pairs of symbol ids. Owned by the writer (under `TSDB.maintenance`) and, at
/// open, by the opener.
final class SymbolTable {
    private var ids: [String: Int64] = [:]
    private var texts: [Int64: String] = [:]
    private var next: Int64 = 1

    /// Loads every symbol row.
    func load(_ conn: SQLiteConnection) throws {
        let q = try conn.prepare("SELECT id, text FROM symbols")
        defer { q.reset() }
        while try q.step() {
            let id = q.int64(0)
            let text = q.text(1)
            ids[text] = id
            texts[id] = text
            if id >= next { next = id + 1 }
        }
    }

    private func id(_ s: String, conn: SQLiteConnection) throws -> Int64 {
        if let id = ids[s] { return id }
        let id = next
        let ins = try conn.prepare("INSERT INTO symbols(id, text) VALUES(?1, ?2)")
        ins.bind(1, id)
        ins.bind(2, s)
        try ins.run()
        ids[s] = id
        texts[id] = s
        next += 1
        return id
    }

    /// uvarint label count, then (name id, value id) uvarints; inserts new symbols (inside the caller's
    /// transaction; `forget(after:)` undoes the memory side if it rolls back).
    func encode(_ labels: Labels, into out: inout [UInt8], conn: SQLiteConnection) throws {
        putUvarint(&out, UInt64(labels.count))
        for l in labels {
            putUvarint(&out, UInt64(try id(l.name, conn: conn)))
            putUvarint(&out, UInt64(try id(l.value, conn: conn)))
        }
    }

    var mark: Int64 { next }

    /// Drops symbols with id ≥ `mark` (their insert was rolled back).
    func forget(from mark: Int64) {
        guard mark < next else { return }
        for id in mark..<next {
            if let t = texts.removeValue(forKey: id) { ids[t] = nil }
        }
        next = mark
    }

    func decode(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> Labels {
        var r = ByteReader(bytes)
        let n = try r.count(limit: bytes.count / 2)
        var ls: [Label] = []
        ls.reserveCapacity(n)
        for _ in 0..<n {
            let p = r.pos
            let a = try r.uvarint(), b = try r.uvarint()
            guard let name = texts[Int64(bitPattern: a)], let value = texts[Int64(bitPattern: b)] else {
                throw DecodeError(reason: "unknown symbol id \(texts[Int64(bitPattern: a)] == nil ? a : b)", offset: p)
            }
            ls.append(Label(name, value))
        }
        guard r.isAtEnd else { throw DecodeError(reason: "trailing bytes after labels", offset: r.pos) }
        let labels = Labels(ls)
        do { try labels.validate() } catch {
            throw DecodeError(reason: "invalid labels: \(error)", offset: 0)
        }
        return labels
    }
}

/// What one compaction pass did.
public struct CompactionResult: Sendable, Equatable {
    /// Rows replaced, and the merged rows written in their place.
    public var rowsBefore = 0
    public var rowsAfter = 0
    public var samples = 0
    /// Samples the merge dropped (a timestamp present in two rows is kept once).
    public var samplesDropped = 0
}

extension SQLiteConnection {
    /// Merges, per series, the chunk rows of each `range`-aligned time window ending at or before
    /// `horizon` into one chunk re-encoded with `ChunkCodec.encodeBest`, looking only at windows that
    /// gained a row with id > `mark`. Returns the result and the mark for the next pass (rows of
    /// windows still open are looked at again). Each batch of windows is one transaction, taken while
    /// holding `layout` exclusively so that a reader's multi-statement scan never sees half of it.
    func compact(range: Int64, horizon: Int64, mark: Int64, batch batchSize: Int, layout: RWLock) throws -> (CompactionResult, Int64) {
        struct Key: Hashable { let ref: Int64; let window: Int64 }
        var windows = Set<Key>()
        var nextMark = mark
        var pendingMin = Int64.max
        do {
            let q = try prepare("SELECT id, series_id, min_time FROM chunks WHERE id > ?1 ORDER BY id")
            defer { q.reset() }
            q.bind(1, mark)
            while try q.step() {
                let id = q.int64(0)
                let w = floorDiv(q.int64(2), range)
                let (end, o) = (w &+ 1).multipliedReportingOverflow(by: range)
                if !o && end <= horizon {
                    windows.insert(Key(ref: q.int64(1), window: w))
                } else {
                    pendingMin = min(pendingMin, id)
                }
                nextMark = max(nextMark, id)
            }
        }
        var result = CompactionResult()
        let sorted = windows.sorted { ($0.ref, $0.window) < ($1.ref, $1.window) }
        var ts: [Int64] = []
        var vs: [Double] = []
        var i = 0
        while i < sorted.count {
            let batch = sorted[i..<min(sorted.count, i + max(1, batchSize))]
            i += batch.count
            // Read and re-encode outside the transaction (readers don't block a writer in WAL mode).
            var replace: [(ids: [Int64], row: ChunkRow)] = []
            let sel = try prepare(
                "SELECT id, min_time, max_time, data FROM chunks WHERE series_id=?1 AND max_time>=?2 AND max_time<?3 ORDER BY max_time")
            for k in batch {
                sel.reset()
                sel.bind(1, k.ref)
                sel.bind(2, k.window &* range)
                sel.bind(3, (k.window &+ 1) &* range)
                var ids: [Int64] = []
                var lo = Int64.max, hi = Int64.min
                ts.removeAll(keepingCapacity: true)
                vs.removeAll(keepingCapacity: true)
                while try sel.step() {
                    ids.append(sel.int64(0))
                    lo = min(lo, sel.int64(1))
                    hi = max(hi, sel.int64(2))
                    try decodeChunk(sel.blob(3), ref: UInt64(bitPattern: k.ref), minTime: sel.int64(1), into: &ts, &vs)
                }
                sel.reset()
                guard ids.count > 1 else { continue }
                var sortedOK = true
                for j in 1..<max(1, ts.count) where ts[j] <= ts[j - 1] { sortedOK = false; break }
                let decoded = ts.count
                if !sortedOK { sortByTime(&ts, &vs) }
                result.samplesDropped += decoded - ts.count
                let blob = ChunkCodec.encodeBest(timestamps: ts[...], values: vs[...])
                replace.append((ids, ChunkRow(ref: UInt64(bitPattern: k.ref), minTime: lo, maxTime: hi, count: ts.count, blob: blob)))
                result.rowsBefore += ids.count
                result.rowsAfter += 1
                result.samples += ts.count
            }
            if replace.isEmpty { continue }
            try layout.withWriteLock {
                try transaction {
                    let del = try prepare("DELETE FROM chunks WHERE id=?1")
                    for r in replace {
                        for id in r.ids {
                            del.reset()
                            del.bind(1, id)
                            try del.run()
                        }
                    }
                    try insertChunks(replace.map(\.row))
                }
            }
        }
        if result.rowsAfter > 0 {
            try exec("PRAGMA incremental_vacuum")
        }
        // Merged rows got ids above everything looked at; rows of open windows must be seen again.
        let after = try scalarInt("SELECT max(id) FROM chunks") ?? nextMark
        return (result, pendingMin == .max ? max(nextMark, after) : pendingMin - 1)
    }
}

/// A readers-writer lock (pthread_rwlock).
final class RWLock: @unchecked Sendable {
    private let l = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
    init() { pthread_rwlock_init(l, nil) }
    deinit {
        pthread_rwlock_destroy(l)
        l.deallocate()
    }
    func withReadLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_rdlock(l)
        defer { pthread_rwlock_unlock(l) }
        return try body()
    }
    func withWriteLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_wrlock(l)
        defer { pthread_rwlock_unlock(l) }
        return try body()
    }
}
