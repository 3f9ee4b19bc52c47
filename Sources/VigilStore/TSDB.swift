import Foundation
import Logging
import VigilChunk
import VigilCore

/// Options for opening a `TSDB`.
public struct TSDBOptions: Sendable {
    /// Keep this much data (ms) behind the newest sample; 0 keeps everything. Default 15d.
    public var retention: Int64 = 15 * 86_400_000
    public var walFsync: WALFsyncPolicy = .always
    /// Chunks never span a multiple of this (ms). Default 2h.
    public var chunkRange: Int64 = 2 * 3_600_000
    /// Samples per chunk before it is cut.
    public var samplesPerChunk = 120
    /// A WAL segment is closed once it would grow past this many bytes.
    public var walSegmentSize = 64 << 20
    /// The background maintenance checkpoints the WAL once this many bytes were logged since the last one.
    public var checkpointBytes = 128 << 20
    /// Background maintenance period (persist sealed chunks, checkpoint, retention); nil: none
    /// (call `persist()`, `checkpoint()`, `applyRetention()` yourself).
    public var maintenanceInterval: Int64? = 30_000
    public var logger = Logger(label: "vigil.store")

    public init() {}
}

/// What `stats()` reports.
public struct TSDBStats: Sendable, CustomStringConvertible {
    public var series = 0
    public var samples = 0
    public var persistedSamples = 0
    public var headSamples = 0
    public var persistedChunks = 0
    public var headChunks = 0
    public var minTime: Int64? = nil
    public var maxTime: Int64? = nil
    public var sqliteBytes = 0
    public var walBytes = 0
    public var bytesOnDisk: Int { sqliteBytes + walBytes }
    public var bytesPerSample: Double { samples == 0 ? 0 : Double(bytesOnDisk) / Double(samples) }

    public var description: String {
        func iso(_ t: Int64?) -> String {
            guard let t else { return "-" }
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return f.string(from: Date(timeIntervalSince1970: Double(t) / 1000))
        }
        return """
            series:            \(series)
            samples:           \(samples) (\(persistedSamples) in SQLite, \(headSamples) in the head)
            chunks:            \(persistedChunks) in SQLite, \(headChunks) in the head
            bytes on disk:     \(bytesOnDisk) (SQLite \(sqliteBytes), WAL \(walBytes))
            bytes per sample:  \(String(format: "%.3f", bytesPerSample))
            time range:        \(iso(minTime)) .. \(iso(maxTime))\(minTime.map { " (\($0) .. \(maxTime ?? $0) ms)" } ?? "")
            """
    }
}

public struct RetentionResult: Sendable, Equatable {
    public var deletedChunks = 0
    public var deletedSeries = 0
    public var cutoff: Int64? = nil
}

/// The embedded time-series store: an in-memory head (one open chunk per series), a write-ahead log
/// with group commit, and sealed chunks in SQLite. Safe to share between threads and tasks.
///
/// Layout of `directory`: `vigil.db` (+ SQLite's `-wal`/`-shm`), `wal/NNNNNNNN` segments.
public final class TSDB: SeriesReader, SampleAppender, @unchecked Sendable {
    public let directory: String
    public let options: TSDBOptions
    /// Damage found in the WAL when opening (it was truncated there; everything before was kept).
    public let walCorruption: WALCorruption?
    /// WAL samples skipped at replay because SQLite already had them (after a checkpoint crash).
    public let replaySkipped: Int

    let head: Head
    let wal: WALWriter
    let dbPath: String
    let walDir: String
    let logger: Logger
    let readers: ConnectionPool
    /// Serializes maintenance (persist, checkpoint, retention, flush, close) and guards `writer`.
    private let maintenance = NSLock()
    private var writer: SQLiteConnection?
    private var maintenanceThread: MaintenanceThread?

    /// Opens (creating if needed) the store in `directory`, loading SQLite's series and replaying the WAL.
    public init(directory: String, options: TSDBOptions = TSDBOptions()) throws {
        self.directory = directory
        self.options = options
        self.logger = options.logger
        dbPath = directory + "/vigil.db"
        walDir = directory + "/wal"
        try FileManager.default.createDirectory(atPath: walDir, withIntermediateDirectories: true)
        let conn = try SQLiteConnection(path: dbPath)
        try conn.setUpWriter()
        writer = conn
        readers = ConnectionPool(path: dbPath)
        head = Head(chunkRange: options.chunkRange, samplesPerChunk: options.samplesPerChunk,
                    retention: options.retention)

        // SQLite first: series ids and how far each series is persisted.
        let ranges = try conn.chunkRanges()
        for (ref, labels) in try conn.loadSeries() {
            let s = head.createLocked(ref: ref, labels: labels, hash: seriesHash(labels))
            s.inSQLite = true
            if let (lo, hi) = ranges[ref] {
                s.persistedMin = lo
                s.persistedMax = hi
                s.maxTime = hi
                if hi > head.maxTime { head.maxTime = hi }
            }
        }

        // Then the WAL.
        var skipped = 0
        let head = self.head
        let dbPathForErrors = dbPath
        let (corruption, lastSegment) = try WALReader.replay(dir: walDir, logger: logger) { type, payload in
            switch try WALRecord.decode(type, payload) {
            case .series(let entries):
                for (ref, labels) in entries {
                    if let s = head.byRef[ref] {
                        guard s.labels == labels else {
                            throw StoreCorruption(message: "series \(ref) is \(labels) in the WAL but \(s.labels) in \(dbPathForErrors)")
                        }
                    } else {
                        let h = seriesHash(labels)
                        if let other = head.lookupLocked(labels, hash: h) {
                            throw StoreCorruption(message: "series \(labels) has id \(ref) in the WAL but \(other.ref) elsewhere")
                        }
                        head.createLocked(ref: ref, labels: labels, hash: h)
                    }
                }
            case .samples(let entries):
                for e in entries {
                    guard let s = head.byRef[e.ref] else {
                        throw StoreCorruption(message: "samples for unknown series id \(e.ref)")
                    }
                    for k in e.ts.indices {
                        if e.ts[k] > s.maxTime { head.appendSampleLocked(s, e.ts[k], e.vs[k]) } else { skipped += 1 }
                    }
                    if s.maxTime > head.maxTime { head.maxTime = s.maxTime }
                }
            }
        }
        walCorruption = corruption
        replaySkipped = skipped
        wal = try WALWriter(dir: walDir, after: lastSegment, policy: options.walFsync,
                            segmentLimit: options.walSegmentSize, logger: logger)
        logger.info("opened \(directory): \(head.seriesCountLocked) series, WAL replayed up to segment \(lastSegment)")
        if let every = options.maintenanceInterval, every > 0 {
            maintenanceThread = MaintenanceThread(db: self, intervalMs: every)
        }
    }

    deinit {
        if !head.lock.withLock({ head.closed }) { try? close() }
    }

    // MARK: - Append

    /// Appends a batch and returns once it is durable per the fsync policy; the wait for the fsync
    /// suspends the task (the WAL writer thread resumes it) instead of blocking a pool thread.
    public func append(_ batch: [SeriesSamples]) async throws -> AppendResult {
        let (result, position) = try enqueue(batch)
        if let position { try await wal.waitSyncAsync(position) }
        return result
    }

    /// `append` for threads that may block (CLI, benchmarks, tests).
    public func appendSync(_ batch: [SeriesSamples]) throws -> AppendResult {
        let (result, position) = try enqueue(batch)
        if let position { try wal.waitSync(position) }
        return result
    }

    private func enqueue(_ batch: [SeriesSamples]) throws -> (AppendResult, UInt64?) {
        head.lock.lock()
        defer { head.lock.unlock() }
        if head.closed { throw WALError(message: "store is closed") }
        let (result, framed) = try head.appendLocked(batch)
        guard !framed.isEmpty else { return (result, nil) }
        return (result, try wal.enqueue(framed))
    }

    // MARK: - Read

    public func select(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [SeriesSamples] {
        guard mint <= maxt else { return [] }
        let (snaps, total) = head.lock.withLock {
            (head.snapshotLocked(head.selectRefsLocked(matchers), mint: mint, maxt: maxt), head.seriesCountLocked)
        }
        if snaps.isEmpty { return [] }
        var tss = [[Int64]](repeating: [], count: snaps.count)
        var vss = [[Double]](repeating: [], count: snaps.count)
        let persistedCount = snaps.reduce(0) { $0 + ($1.hasPersisted ? 1 : 0) }
        if persistedCount > 0 {
            try readers.with { conn in
                let reader = ChunkReader(conn: conn)
                if persistedCount > 64 && persistedCount * 4 > total {
                    // Big selections: scan the chunks table, split by rowid over two threads.
                    try scanParallel(snaps, mint: mint, maxt: maxt, first: conn, &tss, &vss)
                } else {
                    for (i, s) in snaps.enumerated() where s.hasPersisted {
                        try reader.read(ref: s.ref, mint: mint, maxt: maxt, into: &tss[i], &vss[i])
                    }
                }
            }
        }
        var result: [SeriesSamples] = []
        result.reserveCapacity(snaps.count)
        for i in snaps.indices {
            // Head chunks follow the persisted ones; a chunk persisted after our snapshot shows up in
            // both, so skip head chunks that start at or before what SQLite gave.
            for c in snaps[i].headChunks {
                if let last = tss[i].last, c.minTime <= last { continue }
                c.read(mint: .min, maxt: .max, into: &tss[i], &vss[i])
            }
            trim(&tss[i], &vss[i], mint: mint, maxt: maxt)
            if !tss[i].isEmpty {
                result.append(SeriesSamples(labels: snaps[i].labels, timestamps: tss[i], values: vss[i]))
            }
        }
        // Sort a permutation, not the elements: each move of a SeriesSamples retains and releases three buffers.
        let keys = result.map(\.labels)
        let order = keys.indices.sorted { keys[$0] < keys[$1] }
        return order.map { result[$0] }
    }

    /// Reads the persisted chunks of `snaps` with one scan of `chunks`, split by rowid into two
    /// halves decoded on two threads (the calling one and one more), then concatenated per series.
    private func scanParallel(_ snaps: [SeriesSnapshot], mint: Int64, maxt: Int64, first: SQLiteConnection,
                              _ tss: inout [[Int64]], _ vss: inout [[Double]]) throws {
        var indexBuilder: [UInt64: Int] = [:]
        indexBuilder.reserveCapacity(snaps.count)
        for (i, s) in snaps.enumerated() where s.hasPersisted { indexBuilder[s.ref] = i }
        let index = indexBuilder
        let count = snaps.count
        let bounds = try first.prepare("SELECT min(id), max(id) FROM chunks")
        defer { bounds.reset() }
        guard try bounds.step(), !bounds.isNull(0) else { return }
        let lo = bounds.int64(0), hi = bounds.int64(1)
        bounds.reset()
        let parts = hi - lo > 1024 ? 2 : 1
        let step = (hi - lo) / Int64(parts) + 1
        let results = ScanResults(parts: parts, series: snaps.count)
        let readers = self.readers
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            let from = lo + Int64(p) * step, to = min(hi, from + step - 1)
            var ts = [[Int64]](repeating: [], count: count)
            var vs = [[Double]](repeating: [], count: count)
            var unsorted = Set<Int>()
            do {
                try readers.with { conn in
                    try ChunkReader(conn: conn).scan(ids: from...to, mint: mint, maxt: maxt) { ref, minTime, blob in
                        guard let i = index[ref] else { return }
                        if let last = ts[i].last, minTime <= last { unsorted.insert(i) }
                        try decodeChunk(blob, ref: ref, minTime: minTime, into: &ts[i], &vs[i])
                    }
                }
                results.set(p, ts, vs, unsorted)
            } catch {
                results.fail(error)
            }
        }
        try results.merge(into: &tss, &vss)
    }

    public func series(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [Labels] {
        try matchingSeries(matchers, mint: mint, maxt: maxt).sorted()
    }

    public func labelNames(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [String] {
        var names = Set<String>()
        for l in try matchingSeries(matchers, mint: mint, maxt: maxt) { for p in l { names.insert(p.name) } }
        return names.sorted()
    }

    public func labelValues(_ name: String, matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [String] {
        var values = Set<String>()
        for l in try matchingSeries(matchers, mint: mint, maxt: maxt) { if let v = l[name] { values.insert(v) } }
        return values.sorted()
    }

    /// Series matching `matchers` with a chunk overlapping [mint, maxt] (chunk granularity for SQLite data).
    private func matchingSeries(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [Labels] {
        head.lock.withLock {
            head.selectRefsLocked(matchers).compactMap { r in
                guard let s = head.byRef[r], s.overlaps(mint, maxt) else { return nil }
                return s.labels
            }
        }
    }

    // MARK: - Maintenance

    /// Writes every sealed (cut) chunk to SQLite, re-encoded with the smallest codec.
    @discardableResult
    public func persist() throws -> Int {
        try maintenance.withLock { try persistLocked(holdingHead: false) }
    }

    /// Seals every open chunk, writes everything to SQLite, truncates the WAL and checkpoints SQLite.
    /// Afterwards the data lives in `vigil.db` alone.
    public func flush() throws {
        try maintenance.withLock {
            head.lock.withLock { head.cutAllLocked() }
            try persistLocked(holdingHead: false)
            try checkpointLocked()
            try writer?.exec("PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }

    /// Persists sealed chunks, then rewrites the WAL as just the series and samples of the open chunks.
    public func checkpoint() throws {
        try maintenance.withLock {
            try persistLocked(holdingHead: false)
            try checkpointLocked()
        }
    }

    /// Deletes chunks whose newest sample is older than (newest sample − retention), and series left
    /// with no data.
    @discardableResult
    public func applyRetention() throws -> RetentionResult {
        try maintenance.withLock { try retentionLocked() }
    }

    /// Persists sealed chunks, checkpoints the WAL and closes files. Further appends throw.
    public func close() throws {
        maintenanceThread?.stop()
        try maintenance.withLock {
            if head.lock.withLock({ head.closed }) { return }
            var firstError: Error? = nil
            do {
                try persistLocked(holdingHead: false)
                try checkpointLocked()
            } catch {
                firstError = error
            }
            head.lock.withLock { head.closed = true }
            wal.close()
            readers.drain()
            try? writer?.exec("PRAGMA wal_checkpoint(TRUNCATE)")
            writer = nil
            if let firstError { throw firstError }
        }
    }

    func maintenanceTick() {
        do {
            try maintenance.withLock {
                if head.lock.withLock({ head.closed }) { return }
                try persistLocked(holdingHead: false)
                if head.lock.withLock({ head.walBytesSinceCheckpoint }) >= options.checkpointBytes {
                    try checkpointLocked()
                }
                if options.retention > 0 { _ = try retentionLocked() }
            }
        } catch {
            logger.error("maintenance failed: \(error)")
        }
    }

    /// Requires `maintenance`. Encodes and inserts the sealed chunks of dirty series.
    @discardableResult
    private func persistLocked(holdingHead: Bool) throws -> Int {
        guard let writer else { throw WALError(message: "store is closed") }
        struct Work {
            let s: MemSeries
            let labels: Labels
            let ref: UInt64
            let chunks: [ChunkBuilder]
            let needsRow: Bool
        }
        let collect = { () -> [Work] in
            let w = self.head.dirty.map {
                Work(s: $0, labels: $0.labels, ref: $0.ref, chunks: $0.sealed, needsRow: !$0.inSQLite)
            }
            return w
        }
        let work = holdingHead ? collect() : head.lock.withLock(collect)
        if work.isEmpty { return 0 }
        var rows: [ChunkRow] = []
        var ts: [Int64] = []
        var vs: [Double] = []
        for w in work {
            for c in w.chunks {
                ts.removeAll(keepingCapacity: true)
                vs.removeAll(keepingCapacity: true)
                c.read(mint: .min, maxt: .max, into: &ts, &vs)
                let blob = ChunkCodec.encodeBest(timestamps: ts[...], values: vs[...])
                rows.append(ChunkRow(ref: w.ref, minTime: c.minTime, maxTime: c.maxTime, count: c.count, blob: blob))
            }
        }
        try writer.persist(newSeries: work.filter(\.needsRow).map { ($0.ref, $0.labels) }, chunks: rows)
        let apply = {
            for w in work {
                let s = w.s
                s.inSQLite = true
                let k = min(w.chunks.count, s.sealed.count)
                if k > 0 {
                    if let first = w.chunks.first?.minTime { s.persistedMin = min(s.persistedMin, first) }
                    if let last = w.chunks.last?.maxTime { s.persistedMax = max(s.persistedMax, last) }
                }
                s.sealed.removeFirst(k)
                self.head.sealedChunkCount -= k
                if s.sealed.isEmpty && s.isDirty {
                    s.isDirty = false
                }
            }
            self.head.dirty.removeAll { !$0.isDirty }
        }
        if holdingHead { apply() } else { head.lock.withLock(apply) }
        return rows.count
    }

    /// Requires `maintenance`. Blocks appends while the WAL is rewritten.
    private func checkpointLocked() throws {
        head.lock.lock()
        defer { head.lock.unlock() }
        // Chunks sealed since the unlocked persist: few, write them now.
        try persistLocked(holdingHead: true)
        var seriesPayload: [UInt8] = []
        var samplesPayload: [UInt8] = []
        var ts: [Int64] = []
        var vs: [Double] = []
        for s in head.byRef.values.sorted(by: { $0.ref < $1.ref }) where s.open.count > 0 {
            encodeSeriesRecordEntry(s.ref, s.labels, into: &seriesPayload)
            ts.removeAll(keepingCapacity: true)
            vs.removeAll(keepingCapacity: true)
            s.open.read(mint: .min, maxt: .max, into: &ts, &vs)
            ts.withUnsafeBufferPointer { tp in
                vs.withUnsafeBufferPointer { vp in encodeSamplesEntry(s.ref, tp, vp, into: &samplesPayload) }
            }
        }
        var framed: [UInt8] = []
        if !seriesPayload.isEmpty { WALFormat.frame(.series, seriesPayload, into: &framed) }
        if !samplesPayload.isEmpty { WALFormat.frame(.samples, samplesPayload, into: &framed) }
        try wal.exclusive { try wal.rewrite(with: framed) }
        head.walBytesSinceCheckpoint = framed.count
    }

    /// Requires `maintenance`.
    private func retentionLocked() throws -> RetentionResult {
        var result = RetentionResult()
        guard options.retention > 0, let writer else { return result }
        let newest = head.lock.withLock { head.maxTime }
        guard newest != .min else { return result }
        let cutoff = newest &- options.retention
        result.cutoff = cutoff
        // Head: drop sealed and open chunks entirely older than the cutoff.
        var headDropped = 0
        head.lock.withLock {
            for s in head.byRef.values {
                let before = s.sealed.count
                s.sealed.removeAll { $0.maxTime < cutoff }
                head.sealedChunkCount -= before - s.sealed.count
                headDropped += before - s.sealed.count
                if s.open.count > 0 && s.open.maxTime < cutoff {
                    s.open = ChunkBuilder()
                    headDropped += 1
                }
            }
        }
        try persistLocked(holdingHead: false)
        var emptySeries: [(UInt64, Labels)] = []
        try writer.transaction {
            let del = try writer.prepare("DELETE FROM chunks WHERE max_time < ?1")
            del.bind(1, cutoff)
            try del.run()
            result.deletedChunks = Int(sqlite3Changes(writer)) + headDropped
        }
        let ranges = try writer.chunkRanges()
        head.lock.withLock {
            for s in head.byRef.values {
                if let (lo, hi) = ranges[s.ref] {
                    s.persistedMin = lo
                    s.persistedMax = hi
                } else {
                    s.persistedMin = .max
                    s.persistedMax = .min
                }
                if !s.hasData { emptySeries.append((s.ref, s.labels)) }
            }
        }
        if !emptySeries.isEmpty {
            try writer.transaction {
                let del = try writer.prepare("DELETE FROM series WHERE id=?1")
                var byPair: [Label: [UInt64]] = [:]
                for (ref, labels) in emptySeries {
                    del.reset()
                    del.bind(1, Int64(bitPattern: ref))
                    try del.run()
                    for l in labels { byPair[l, default: []].append(ref) }
                }
                try writer.updatePostings(byPair, adding: false)
            }
            head.lock.withLock {
                for (ref, _) in emptySeries {
                    // Re-check: an append may have arrived since.
                    if let s = head.byRef[ref], !s.hasData { head.removeLocked(s) } else if let s = head.byRef[ref] {
                        s.inSQLite = false
                    }
                }
            }
            result.deletedSeries = emptySeries.count
        }
        if result.deletedChunks > 0 {
            logger.info("retention: deleted \(result.deletedChunks) chunks and \(result.deletedSeries) series older than \(cutoff)")
        }
        return result
    }

    // MARK: - Stats

    /// Per chunk encoding in SQLite (first byte of the blob): chunks, blob bytes, samples.
    public func chunkEncodingStats() throws -> [(encoding: UInt8, chunks: Int, bytes: Int, samples: Int)] {
        try readers.with { conn in
            let q = try conn.prepare(
                "SELECT hex(substr(data, 1, 1)), count(*), sum(length(data)), sum(num_samples) FROM chunks GROUP BY 1 ORDER BY 1")
            defer { q.reset() }
            var out: [(encoding: UInt8, chunks: Int, bytes: Int, samples: Int)] = []
            while try q.step() {
                out.append((UInt8(q.text(0), radix: 16) ?? 255, Int(q.int64(1)), Int(q.int64(2)), Int(q.int64(3))))
            }
            return out
        }
    }

    public func stats() throws -> TSDBStats {
        var st = TSDBStats()
        head.lock.withLock {
            var lo = Int64.max, hi = Int64.min
            for s in head.byRef.values {
                let n = s.headSampleCount
                st.headSamples += n
                st.headChunks += s.sealed.count + (s.open.count > 0 ? 1 : 0)
                if s.hasData { st.series += 1 }
                if n > 0 { lo = min(lo, s.headMinTime); hi = max(hi, s.maxTime) }
                if s.persistedMin <= s.persistedMax { lo = min(lo, s.persistedMin); hi = max(hi, s.persistedMax) }
            }
            if lo <= hi { st.minTime = lo; st.maxTime = hi }
        }
        try readers.with { conn in
            let q = try conn.prepare("SELECT count(*), coalesce(sum(num_samples), 0) FROM chunks")
            defer { q.reset() }
            if try q.step() {
                st.persistedChunks = Int(q.int64(0))
                st.persistedSamples = Int(q.int64(1))
            }
        }
        st.samples = st.persistedSamples + st.headSamples
        let fm = FileManager.default
        for suffix in ["", "-wal", "-shm"] {
            if let a = try? fm.attributesOfItem(atPath: dbPath + suffix), let n = a[.size] as? Int { st.sqliteBytes += n }
        }
        for seg in (try? WALFormat.segments(in: walDir)) ?? [] {
            if let a = try? fm.attributesOfItem(atPath: walDir + "/" + WALFormat.segmentName(seg)),
               let n = a[.size] as? Int { st.walBytes += n }
        }
        return st
    }
}

/// Per-thread results of `TSDB.scanParallel`.
final class ScanResults: @unchecked Sendable {
    private let lock = NSLock()
    private var ts: [[[Int64]]]
    private var vs: [[[Double]]]
    private var unsorted = Set<Int>()
    private var error: Error?

    init(parts: Int, series: Int) {
        ts = Array(repeating: [], count: parts)
        vs = Array(repeating: [], count: parts)
    }

    func set(_ p: Int, _ t: [[Int64]], _ v: [[Double]], _ u: Set<Int>) {
        lock.withLock {
            ts[p] = t
            vs[p] = v
            unsorted.formUnion(u)
        }
    }

    func fail(_ e: Error) { lock.withLock { if error == nil { error = e } } }

    func merge(into tss: inout [[Int64]], _ vss: inout [[Double]]) throws {
        try lock.withLock {
            if let error { throw error }
            for i in tss.indices {
                for p in ts.indices where !ts[p].isEmpty {
                    if tss[i].isEmpty {
                        tss[i] = ts[p][i]
                        vss[i] = vs[p][i]
                        continue
                    }
                    if let a = tss[i].last, let b = ts[p][i].first, b <= a { unsorted.insert(i) }
                    tss[i] += ts[p][i]
                    vss[i] += vs[p][i]
                }
            }
            for i in unsorted { sortByTime(&tss[i], &vss[i]) }
        }
    }
}

/// Sorts columns by time, dropping repeated timestamps.
func sortByTime(_ ts: inout [Int64], _ vs: inout [Double]) {
    let order = ts.indices.sorted { ts[$0] < ts[$1] }
    var nts: [Int64] = []
    var nvs: [Double] = []
    for i in order where nts.last.map({ ts[i] > $0 }) ?? true {
        nts.append(ts[i])
        nvs.append(vs[i])
    }
    ts = nts
    vs = nvs
}

/// Keeps the samples with mint <= t <= maxt (columns sorted by time).
func trim(_ ts: inout [Int64], _ vs: inout [Double], mint: Int64, maxt: Int64) {
    guard let first = ts.first, let last = ts.last, first < mint || last > maxt else { return }
    var lo = 0
    while lo < ts.count && ts[lo] < mint { lo += 1 }
    var hi = ts.count
    while hi > lo && ts[hi - 1] > maxt { hi -= 1 }
    // In place: the arrays are uniquely owned here, so this moves no more than the kept part.
    ts.removeSubrange(hi...)
    vs.removeSubrange(hi...)
    ts.removeSubrange(..<lo)
    vs.removeSubrange(..<lo)
}

/// Runs `TSDB.maintenanceTick` every interval on its own thread.
final class MaintenanceThread: @unchecked Sendable {
    private let cond = NSCondition()
    private var stopping = false
    private var done = false

    init(db: TSDB, intervalMs: Int64) {
        let t = Thread { [weak db, self] in
            self.cond.lock()
            while !self.stopping {
                if !self.cond.wait(until: Date(timeIntervalSinceNow: Double(intervalMs) / 1000)) {
                    self.cond.unlock()
                    db?.maintenanceTick()
                    self.cond.lock()
                }
            }
            self.done = true
            self.cond.broadcast()
            self.cond.unlock()
        }
        t.name = "vigil-store-maintenance"
        t.start()
    }

    func stop() {
        cond.lock()
        stopping = true
        cond.broadcast()
        while !done { cond.wait() }
        cond.unlock()
    }
}
