import Foundation
import VigilChunk
import VigilCore

// The SQLite side of the store (schema in docs/storage-format.md). Only the maintenance path
// writes (one connection, under `TSDB.maintenance`); readers use pooled connections.

enum Schema {
    static let version: Int64 = 1

    static let create = """
        CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS series(
            id INTEGER PRIMARY KEY,
            labels BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS label_index(
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            series_ids BLOB NOT NULL,
            PRIMARY KEY(name, value)) WITHOUT ROWID;
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

/// Postings blob: uvarint count, then ascending series ids as uvarint deltas.
func encodePostings(_ refs: [UInt64]) -> [UInt8] {
    var out: [UInt8] = []
    putUvarint(&out, UInt64(refs.count))
    var prev: UInt64 = 0
    for r in refs {
        putUvarint(&out, r &- prev)
        prev = r
    }
    return out
}

func decodePostings(_ buf: UnsafeRawBufferPointer) throws(DecodeError) -> [UInt64] {
    var r = ByteReader(buf)
    let n = try r.count(limit: buf.count)
    var out: [UInt64] = []
    out.reserveCapacity(n)
    var prev: UInt64 = 0
    for _ in 0..<n {
        prev &+= try r.uvarint()
        out.append(prev)
    }
    return out
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
        try exec("PRAGMA journal_mode=WAL")
        // FULL: a commit is on disk before the WAL segments it replaces are deleted.
        try exec("PRAGMA synchronous=FULL")
        try exec(Schema.create)
        let v = try scalarInt("SELECT value FROM meta WHERE key='format_version'")
        if let v, v != Schema.version {
            throw StoreCorruption(message: "\(path): unsupported format_version \(v) (this build reads \(Schema.version))")
        }
        if v == nil { try exec("INSERT INTO meta(key, value) VALUES('format_version', \(Schema.version))") }
    }

    /// Inserts series rows (and their label-index entries) and chunks in one transaction.
    func persist(newSeries: [(UInt64, Labels)], chunks: [ChunkRow]) throws {
        try transaction {
            if !newSeries.isEmpty {
                let ins = try prepare("INSERT OR REPLACE INTO series(id, labels) VALUES(?1, ?2)")
                var byPair: [Label: [UInt64]] = [:]
                for (ref, labels) in newSeries {
                    ins.reset()
                    ins.bind(1, Int64(bitPattern: ref))
                    ins.bind(2, encodeLabels(labels))
                    try ins.run()
                    for l in labels { byPair[l, default: []].append(ref) }
                }
                try updatePostings(byPair, adding: true)
            }
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
    }

    /// Adds or removes refs in the label index rows of the given pairs. Call inside a transaction.
    func updatePostings(_ byPair: [Label: [UInt64]], adding: Bool) throws {
        let get = try prepare("SELECT series_ids FROM label_index WHERE name=?1 AND value=?2")
        let put = try prepare("INSERT OR REPLACE INTO label_index(name, value, series_ids) VALUES(?1, ?2, ?3)")
        let del = try prepare("DELETE FROM label_index WHERE name=?1 AND value=?2")
        for (pair, refs) in byPair {
            get.reset()
            get.bind(1, pair.name)
            get.bind(2, pair.value)
            var current: [UInt64] = []
            if try get.step() {
                do { current = try decodePostings(get.blob(0)) } catch {
                    throw StoreCorruption(message: "\(path): label_index row \(pair.name)=\"\(pair.value)\": \(error)")
                }
            }
            get.reset()
            var set = Set(current)
            if adding { set.formUnion(refs) } else { set.subtract(refs) }
            if set.isEmpty {
                del.reset()
                del.bind(1, pair.name)
                del.bind(2, pair.value)
                try del.run()
            } else {
                put.reset()
                put.bind(1, pair.name)
                put.bind(2, pair.value)
                put.bind(3, encodePostings(set.sorted()))
                try put.run()
            }
        }
    }

    /// Every series row.
    func loadSeries() throws -> [(UInt64, Labels)] {
        let q = try prepare("SELECT id, labels FROM series ORDER BY id")
        defer { q.reset() }
        var out: [(UInt64, Labels)] = []
        while try q.step() {
            let id = q.int64(0)
            do {
                out.append((UInt64(bitPattern: id), try decodeLabels(q.blob(1))))
            } catch {
                throw StoreCorruption(message: "\(path): series id \(id): \(error)")
            }
        }
        return out
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

    /// Chunks with rowid in `ids` overlapping [mint, maxt]; `sink(ref, minTime, blob)` for each.
    func scan(ids: ClosedRange<Int64>, mint: Int64, maxt: Int64,
              _ sink: (UInt64, Int64, UnsafeRawBufferPointer) throws -> Void) throws {
        let q = try conn.prepare(
            "SELECT series_id, min_time, data FROM chunks WHERE id BETWEEN ?1 AND ?2 AND max_time>=?3 AND min_time<=?4")
        defer { q.reset() }
        q.bind(1, ids.lowerBound)
        q.bind(2, ids.upperBound)
        q.bind(3, mint)
        q.bind(4, maxt)
        while try q.step() {
            try sink(UInt64(bitPattern: q.int64(0)), q.int64(1), q.blob(2))
        }
    }

    /// One pass over every chunk overlapping [mint, maxt]; `sink(ref, minTime, blob)` for each.
    func scanAll(mint: Int64, maxt: Int64, _ sink: (UInt64, Int64, UnsafeRawBufferPointer) throws -> Void) throws {
        let q = try conn.prepare("SELECT series_id, min_time, data FROM chunks WHERE max_time>=?1 AND min_time<=?2")
        defer { q.reset() }
        q.bind(1, mint)
        q.bind(2, maxt)
        while try q.step() {
            try sink(UInt64(bitPattern: q.int64(0)), q.int64(1), q.blob(2))
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
