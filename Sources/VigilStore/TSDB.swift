import Foundation
import Logging
import VigilChunk
import VigilCore

/// Options for opening a `TSDB`.
public struct TSDBOptions: Sendable {
    /// Keep this much data (ms) behind the clock's now: older chunks are deleted and older samples are
    /// refused as too old. 0 keeps everything. Default 15d.
    public var retention: Int64 = 15 * 86_400_000
    /// Samples more than this many ms ahead of the clock's now refuse their whole batch
    /// (`InvalidSeriesError` naming the series and the timestamp); 0 accepts any future time. Default 10 min.
    public var maxFuture: Int64 = 10 * 60_000
    /// Where retention, the too-old bound and the future bound read the time (never from the newest sample).
    public var clock: any VigilClock = WallClock()
    public var walFsync: WALFsyncPolicy = .always
    /// Chunks never span a multiple of this (ms). Default 2h.
    public var chunkRange: Int64 = 2 * 3_600_000
    /// Samples per chunk before it is cut.
    public var samplesPerChunk = 120
    /// Persisted chunks of a series are merged into one re-encoded chunk per window of this many ms
    /// (aligned to the epoch; rounded up to a multiple of `chunkRange`) once the window is a
    /// `chunkRange` behind the newest sample, and by `flush()`. 0: never. Default 6h.
    public var compactRange: Int64 = 6 * 3_600_000
    /// Series windows merged per compaction transaction.
    public var compactBatch = 2048
    /// A WAL segment is closed once it would grow past this many bytes.
    public var walSegmentSize = 64 << 20
    /// The background maintenance checkpoints the WAL once this many bytes were logged since the last one.
    public var checkpointBytes = 128 << 20
    /// Background maintenance period (persist sealed chunks, checkpoint, retention); nil: none
    /// (call `persist()`, `checkpoint()`, `applyRetention()` yourself).
    public var maintenanceInterval: Int64? = 30_000
    public var logger = Logger(label: "vigil.store")
    /// Replay also sets aside intact samples whose series is unknown (instead of refusing to open), copying
    /// their segments to `quarantine/`. What `vigil tsdb repair` opens with.
    public var walRepair = false

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

/// What `TSDB.counters()` reports: figures kept as the store changes (no walk, no query).
public struct StoreCounters: Sendable, Equatable {
    /// Series in the head (every series the store holds).
    public var series = 0
    /// Open and sealed chunks in memory, and their samples.
    public var headChunks = 0
    public var headSamples = 0
    /// Rows of SQLite's `chunks` table, and their samples.
    public var persistedChunks = 0
    public var persistedSamples = 0
    /// File sizes: `vigil.db` with its `-wal`/`-shm`, and the WAL segments.
    public var sqliteBytes = 0
    public var walBytes = 0
    public var samples: Int { headSamples + persistedSamples }
    public var chunks: Int { headChunks + persistedChunks }
}

public struct RetentionResult: Sendable, Equatable {
    public var deletedChunks = 0
    public var deletedSeries = 0
    public var cutoff: Int64? = nil
}

/// The embedded time-series store: an in-memory head (one open chunk per series), a write-ahead log
/// with group commit, and sealed chunks in SQLite. Safe to share between threads and tasks.
///
/// Layout of `directory`: `vigil.db` (+ SQLite's `-wal`/`-shm`), `wal/NNNNNNNN` segments, `LOCK` (held while
/// open: a second open of the directory, in this process or another, throws `StoreLockedError`).
public final class TSDB: SeriesReader, RefAppender, @unchecked Sendable {
    public let directory: String
    public let options: TSDBOptions
    /// Damage found in the WAL when opening: what was skipped, recovered and set aside (docs/storage-format.md).
    public let walCorruption: WALCorruption?
    /// WAL samples skipped at replay because SQLite already had them (after a checkpoint crash).
    public let replaySkipped: Int

    let head: Head
    let wal: WALWriter
    /// `<data>/LOCK`, held from open to close.
    let dirLock: DirectoryLock
    let dbPath: String
    let walDir: String
    let logger: Logger
    let readers: ConnectionPool
    /// Serializes maintenance (persist, checkpoint, retention, flush, close) and guards `writer`.
    private let maintenance = NSLock()
    private var writer: SQLiteConnection?
    private var maintenanceThread: MaintenanceThread?
    /// Label symbols of persisted series (guarded by `maintenance`).
    private let symbols = SymbolTable()
    /// Series per head-lock hold while a checkpoint snapshots the head.
    var checkpointBatch = 4096
    /// Tests: called at each step of a checkpoint; what it throws stops the checkpoint there (guarded
    /// by `maintenance`).
    package var checkpointFailpoint: ((CheckpointStep) throws -> Void)?
    /// Compaction has looked at every chunk row with id ≤ this (guarded by `maintenance`).
    private var compactMark: Int64 = 0
    /// Held shared by readers scanning SQLite with several statements, exclusively by compaction commits.
    let layout = RWLock()
    /// `options.compactRange` rounded up to a multiple of `chunkRange` (0: off).
    let compactRange: Int64

    /// Opens (creating if needed) the store in `directory`, loading SQLite's series and replaying the WAL.
    public init(directory: String, options: TSDBOptions = TSDBOptions()) throws {
        self.directory = directory
        self.options = options
        self.logger = options.logger
        dbPath = directory + "/vigil.db"
        walDir = directory + "/wal"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Before anything is read or written: a second process on the same directory would replay and
        // rewrite the log under the first one's feet.
        dirLock = try DirectoryLock(directory: directory)
        try FileManager.default.createDirectory(atPath: walDir, withIntermediateDirectories: true)
        CheckpointFile.removeStale(walDir: walDir)
        let conn = try SQLiteConnection(path: dbPath)
        try conn.setUpWriter()
        writer = conn
        readers = ConnectionPool(path: dbPath)
        head = Head(chunkRange: options.chunkRange, samplesPerChunk: options.samplesPerChunk,
                    retention: options.retention)
        let cr = max(1, options.chunkRange)
        compactRange = options.compactRange <= 0 ? 0 : (options.compactRange + cr - 1) / cr * cr

        // SQLite first: series ids and how far each series is persisted.
        try symbols.load(conn)
        let (ranges, totals) = try conn.chunkSummary()
        head.persistedChunkCount = totals.chunks
        head.persistedSampleCount = totals.samples
        for (ref, labels) in try conn.loadSeries(symbols: symbols) {
            let s = head.createLocked(ref: ref, labels: labels, hash: seriesHash(labels))
            s.inSQLite = true
            if let (lo, hi) = ranges[ref] {
                s.persistedMin = lo
                s.persistedMax = hi
                s.maxTime = hi
                if hi > head.maxTime { head.maxTime = hi }
                if lo < head.chunkMaxTimeBound { head.chunkMaxTimeBound = lo }
            }
        }

        // Then the WAL. Replay changes no file; only once every record applied are damaged segments copied
        // aside and a torn tail cut (an error applying a record leaves the directory as it was).
        var skipped = 0
        let head = self.head
        let dbPathForErrors = dbPath
        let tolerateUnknown = options.walRepair
        let plan = try WALReader.replay(dir: walDir) { record, afterDamage in
            var loss = ReplayLoss()
            switch record {
            case .series(let entries):
                for (ref, labels) in entries {
                    if let s = head.seriesLocked(ref) {
                        guard head.labelsLocked(s) == labels else {
                            throw StoreCorruption(message: "series \(ref) is \(labels) in the WAL but \(head.labelsLocked(s)) in \(dbPathForErrors)")
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
                    guard let s = head.seriesLocked(e.ref) else {
                        // After skipped bytes the series record may have been among them: the samples cannot
                        // be attributed (their segment is kept aside). Without damage it is an inconsistency.
                        guard afterDamage || tolerateUnknown else {
                            throw StoreCorruption(message: "samples for unknown series id \(e.ref)")
                        }
                        loss.samples += e.ts.count
                        if !loss.refs.contains(e.ref) { loss.refs.append(e.ref) }
                        continue
                    }
                    for k in e.ts.indices {
                        if e.ts[k] > s.maxTime { head.appendSampleLocked(s, e.ts[k], e.vs[k]) } else { skipped += 1 }
                    }
                    if s.maxTime > head.maxTime { head.maxTime = s.maxTime }
                }
            }
            return loss
        }
        let corruption = try WALReader.commit(plan, walDir: walDir, dataDir: directory)
        if let corruption { logger.warning("WAL damaged, repaired without deleting intact data:\n\(corruption)") }
        walCorruption = corruption
        replaySkipped = skipped
        let lastSegment = plan.lastSegment
        wal = try WALWriter(dir: walDir, after: lastSegment, policy: options.walFsync,
                            segmentLimit: options.walSegmentSize, logger: logger)
        if plan.needsRewrite {
            // The damaged segments are in quarantine/: rewrite the log from what was recovered, so that it
            // stands on its own (fresh series records for every series with samples in it).
            try checkpoint()
        }
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
        try await append(batch, refs: RefSamples()).result
    }

    /// `append` plus samples by series ref (refs from an earlier result's `seriesRefs`), in one atomic
    /// write: validation of the labelled part comes first and an invalid series refuses everything.
    public func append(_ batch: [SeriesSamples], refs: RefSamples) async throws -> RefAppendResult {
        let (result, position) = try enqueue(batch, refs)
        if let position { try await wal.waitSyncAsync(position) }
        return result
    }

    /// `append` for threads that may block (CLI, benchmarks, tests).
    public func appendSync(_ batch: [SeriesSamples]) throws -> AppendResult {
        try appendSync(batch, refs: RefSamples()).result
    }

    public func appendSync(_ batch: [SeriesSamples], refs: RefSamples) throws -> RefAppendResult {
        let (result, position) = try enqueue(batch, refs)
        if let position { try wal.waitSync(position) }
        return result
    }

    private func enqueue(_ batch: [SeriesSamples], _ refs: RefSamples) throws -> (RefAppendResult, UInt64?) {
        guard refs.refs.count == refs.timestamps.count && refs.refs.count == refs.values.count else {
            throw InvalidSeriesError(index: 0, labels: Labels([:]), reason:
                "\(refs.refs.count) refs, \(refs.timestamps.count) timestamps, \(refs.values.count) values")
        }
        let now = options.clock.nowMillis()
        let minValid = options.retention > 0 ? now &- options.retention : Int64.min
        let future = options.maxFuture > 0 ? firstTooNew(batch, refs, now: now) : nil
        head.lock.lock()
        defer { head.lock.unlock() }
        if head.closed { throw WALError(message: "store is closed") }
        if let future { throw tooNewError(future, batch, refs, now: now) }
        let (result, framed) = try head.appendLocked(batch, refs: refs.isEmpty ? nil : refs, minValid: minValid)
        guard !framed.isEmpty else { return (result, nil) }
        return (result, try wal.enqueue(framed))
    }

    // MARK: - Read

    public func select(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [SeriesSamples] {
        guard mint <= maxt else { return [] }
        let (snaps, ranked) = head.snapshot(head.plan(matchers), mint: mint, maxt: maxt)
        if snaps.isEmpty { return [] }
        var tss = [[Int64]](repeating: [], count: snaps.count)
        var vss = [[Double]](repeating: [], count: snaps.count)
        let persisted = snaps.indices.filter { snaps[$0].hasPersisted }
        if !persisted.isEmpty {
            try layout.withReadLock {
                if persisted.count <= 64 {
                    try readers.with { conn in
                        let reader = ChunkReader(conn: conn)
                        for i in persisted {
                            try reader.read(ref: snaps[i].ref, mint: mint, maxt: maxt, into: &tss[i], &vss[i])
                        }
                    }
                } else {
                    try readPartitioned(snaps, persisted, mint: mint, maxt: maxt, &tss, &vss)
                }
            }
        }
        var result: [SeriesSamples] = []
        result.reserveCapacity(snaps.count)
        var ranks: [Int] = []
        ranks.reserveCapacity(snaps.count)
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
                ranks.append(snaps[i].rank)
            }
            tss[i] = []
            vss[i] = []
        }
        if ranked {
            // Every series' position in label order is known: sort by it (integers, not label sets).
            let order = ranks.indices.sorted { ranks[$0] < ranks[$1] }
            return order.map { result[$0] }
        }
        // Sort a permutation, not the elements: each move of a SeriesSamples retains and releases three buffers.
        let keys = result.map(\.labels)
        let order = keys.indices.sorted { keys[$0] < keys[$1] }
        // Ranking sorts every series' labels: worth it for big selections, not for a few series while
        // new series keep arriving.
        if result.count >= 256 { head.rankSeries() }
        return order.map { result[$0] }
    }

    /// Reads the persisted chunks of the selected series (`persisted`: indices into `snaps`, ascending
    /// ref) on two threads, each walking one half of the refs through `chunks_by_series` in (series,
    /// time) order, so every series is decoded by one thread straight into its own columns.
    private func readPartitioned(_ snaps: [SeriesSnapshot], _ persisted: [Int], mint: Int64, maxt: Int64,
                                 _ tss: inout [[Int64]], _ vss: inout [[Double]]) throws {
        let parts = 2
        let results = ScanResults(parts: parts)
        let readers = self.readers
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            let lo = persisted.count * p / parts, hi = persisted.count * (p + 1) / parts
            guard lo < hi else { return }
            let mine = Array(persisted[lo..<hi])
            var ts = [[Int64]](repeating: [], count: mine.count)
            var vs = [[Double]](repeating: [], count: mine.count)
            do {
                try readers.with { conn in
                    var j = 0
                    try ChunkReader(conn: conn).scan(refs: snaps[mine.first!].ref...snaps[mine.last!].ref,
                                                     mint: mint, maxt: maxt) { ref, minTime, count, blob in
                        while j < mine.count && snaps[mine[j]].ref < ref { j += 1 }
                        guard j < mine.count, snaps[mine[j]].ref == ref else { return }
                        ts[j].reserveCapacity(ts[j].count + count)
                        vs[j].reserveCapacity(vs[j].count + count)
                        try decodeChunk(blob, ref: ref, minTime: minTime, into: &ts[j], &vs[j])
                    }
                }
                results.set(p, mine, ts, vs)
            } catch {
                results.fail(error)
            }
        }
        try results.move(into: &tss, &vss)
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
        var out: [Labels] = []
        head.visit(head.plan(matchers)) { s in if s.overlaps(mint, maxt) { out.append(head.labelsLocked(s)) } }
        return out
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
            _ = try compactLocked(horizon: .max)
            try checkpointLocked()
            try writer?.exec("PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }

    /// Merges persisted chunks per series and `compactRange` window (windows ending at or before
    /// `horizon`; default: every window). The maintenance thread does this on its own.
    @discardableResult
    public func compact(horizon: Int64 = .max) throws -> CompactionResult {
        try maintenance.withLock { try compactLocked(horizon: horizon) }
    }

    /// Requires `maintenance`.
    private func compactLocked(horizon: Int64) throws -> CompactionResult {
        guard compactRange > 0, let writer else { return CompactionResult() }
        let (result, mark) = try writer.compact(range: compactRange, horizon: horizon, mark: compactMark, batch: options.compactBatch, layout: layout)
        compactMark = mark
        if result.rowsBefore > 0 {
            head.lock.withLock {
                head.persistedChunkCount -= result.rowsBefore - result.rowsAfter
                head.persistedSampleCount -= result.samplesDropped
            }
        }
        if result.rowsAfter > 0 {
            logger.debug("compaction: \(result.rowsBefore) chunk rows merged into \(result.rowsAfter) (\(result.samples) samples)")
        }
        return result
    }

    /// Persists sealed chunks, then rewrites the WAL as just the series and samples of the open chunks.
    public func checkpoint() throws {
        try maintenance.withLock {
            try persistLocked(holdingHead: false)
            try checkpointLocked()
        }
    }

    /// Deletes chunks whose newest sample is older than (the clock's now − retention), and series left
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
            dirLock.release()
            if let firstError { throw firstError }
        }
    }

    func maintenanceTick() {
        do {
            try maintenance.withLock {
                if head.lock.withLock({ head.closed }) { return }
                try persistLocked(holdingHead: false)
                // Not past the clock: a far-future sample must not make every window look finished.
                let newest = min(head.lock.withLock { head.maxTime }, options.clock.nowMillis())
                if compactRange > 0 && newest != .min {
                    _ = try compactLocked(horizon: newest &- max(1, options.chunkRange))
                }
                // Once the log has grown by more than it would be rewritten to (at least `checkpointBytes`):
                // a head of millions of series rewrites hundreds of MB, which must not repeat every tick.
                let (logged, live) = head.lock.withLock { (head.walBytesSinceCheckpoint, head.walBytesAtCheckpoint) }
                if logged - live >= max(options.checkpointBytes, live) {
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
                Work(s: $0, labels: self.head.labelsLocked($0), ref: $0.ref, chunks: $0.sealed, needsRow: !$0.inSQLite)
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
        let symbolMark = symbols.mark
        do {
            try writer.persist(newSeries: work.filter(\.needsRow).map { ($0.ref, $0.labels) }, chunks: rows, symbols: symbols)
        } catch {
            symbols.forget(from: symbolMark)
            throw error
        }
        let apply = {
            for w in work {
                let s = w.s
                s.inSQLite = true
                let k = min(w.chunks.count, s.sealed.count)
                if k > 0 {
                    if let first = w.chunks.first?.minTime { s.persistedMin = min(s.persistedMin, first) }
                    if let last = w.chunks.last?.maxTime { s.persistedMax = max(s.persistedMax, last) }
                }
                for c in s.sealed.prefix(k) { self.head.headSampleCount -= c.count }
                s.sealed.removeFirst(k)
                self.head.sealedChunkCount -= k
                if s.sealed.isEmpty && s.isDirty {
                    s.isDirty = false
                }
            }
            self.head.dirty.removeAll { !$0.isDirty }
            self.head.persistedChunkCount += rows.count
            self.head.persistedSampleCount += rows.reduce(0) { $0 + $1.count }
        }
        if holdingHead { apply() } else { head.lock.withLock(apply) }
        return rows.count
    }

    /// Requires `maintenance`. Rewrites the WAL as the head's live series and chunks without holding
    /// the head lock for the rewrite: a short cut, snapshots in batches, the file written and installed
    /// outside the lock (Checkpoint.swift has the steps and why a crash at any of them loses nothing).
    private func checkpointLocked() throws {
        let (cutRef, number, loggedAtCut) = try head.lock.withLock {
            if head.closed { throw WALError(message: "store is closed") }
            let n = try wal.exclusive { try wal.rotateLeavingGap() }
            return (head.nextRef, n, head.walBytesSinceCheckpoint)
        }
        try checkpointFailpoint?(.cut)
        var file = try CheckpointFile(walDir: walDir)
        do {
            var from: UInt64 = 0
            var batches = 0
            var framed: [UInt8] = []
            while from < cutRef {
                let (entries, next) = head.checkpointBatch(from: from, below: cutRef, limit: checkpointBatch)
                from = next
                if entries.isEmpty { continue }
                framed.removeAll(keepingCapacity: true)
                encodeCheckpointBatch(entries, into: &framed)
                try file.write(framed)
                batches += 1
                try checkpointFailpoint?(.wroteBatches(batches))
            }
            try file.finish()
        } catch {
            file.abandon()
            throw error
        }
        try checkpointFailpoint?(.written)
        try file.install(as: number)
        try checkpointFailpoint?(.installed)
        // Newest first: whatever a crash leaves of them is a prefix of the old log.
        var deleted = 0
        for seg in try WALFormat.segments(in: walDir).reversed() where seg < number {
            let path = walDir + "/" + WALFormat.segmentName(seg)
            guard unlink(path) == 0 || errno == ENOENT else {
                throw WALError(message: "cannot delete \(path): \(String(cString: strerror(errno)))")
            }
            deleted += 1
            try checkpointFailpoint?(.deleted(deleted))
        }
        fsyncDirectory(walDir)
        head.lock.withLock {
            head.walBytesSinceCheckpoint = head.walBytesSinceCheckpoint - loggedAtCut + file.bytes
            head.walBytesAtCheckpoint = file.bytes
        }
    }

    /// Requires `maintenance`.
    private func retentionLocked() throws -> RetentionResult {
        var result = RetentionResult()
        guard options.retention > 0, let writer else { return result }
        // From the clock, never from the newest sample: one sample far in the future must not expire the rest.
        let cutoff = options.clock.nowMillis() &- options.retention
        result.cutoff = cutoff
        // Nothing can be older than the cutoff: skip the walks over every series and the scan of SQLite.
        if head.lock.withLock({ cutoff <= head.chunkMaxTimeBound }) { return result }
        // Head: drop sealed and open chunks entirely older than the cutoff.
        var headDropped = 0
        head.lock.withLock {
            head.forEachSeriesLocked { s in
                let before = s.sealed.count
                for c in s.sealed where c.maxTime < cutoff { head.headSampleCount -= c.count }
                s.sealed.removeAll { $0.maxTime < cutoff }
                head.sealedChunkCount -= before - s.sealed.count
                headDropped += before - s.sealed.count
                if s.open.count > 0 && s.open.maxTime < cutoff {
                    head.headSampleCount -= s.open.count
                    head.openChunkCount -= 1
                    s.open = ChunkBuilder()
                    headDropped += 1
                }
            }
        }
        try persistLocked(holdingHead: false)
        var emptySeries: [(UInt64, Labels)] = []
        try writer.transaction {
            let del = try writer.prepare("DELETE FROM chunks WHERE max_time < ?1 RETURNING num_samples")
            defer { del.reset() }
            del.bind(1, cutoff)
            var rows = 0, samples = 0
            while try del.step() {
                rows += 1
                samples += Int(del.int64(0))
            }
            result.deletedChunks = rows + headDropped
            head.lock.withLock {
                head.persistedChunkCount -= rows
                head.persistedSampleCount -= samples
            }
        }
        if result.deletedChunks > headDropped { try writer.exec("PRAGMA incremental_vacuum") }
        let ranges = try writer.chunkRanges()
        head.lock.withLock {
            head.forEachSeriesLocked { s in
                if let (lo, hi) = ranges[s.ref] {
                    s.persistedMin = lo
                    s.persistedMax = hi
                } else {
                    s.persistedMin = .max
                    s.persistedMax = .min
                }
                if !s.hasData { emptySeries.append((s.ref, head.labelsLocked(s))) }
            }
        }
        // Every chunk left ends at or after the cutoff.
        head.lock.withLock { head.chunkMaxTimeBound = max(head.chunkMaxTimeBound, cutoff) }
        if !emptySeries.isEmpty {
            try writer.transaction {
                let del = try writer.prepare("DELETE FROM series WHERE id=?1")
                for (ref, _) in emptySeries {
                    del.reset()
                    del.bind(1, Int64(bitPattern: ref))
                    try del.run()
                }
            }
            head.lock.withLock {
                var gone: [MemSeries] = []
                for (ref, _) in emptySeries {
                    // Re-check: an append may have arrived since.
                    if let s = head.seriesLocked(ref), !s.hasData { gone.append(s) } else if let s = head.seriesLocked(ref) {
                        s.inSQLite = false
                    }
                }
                head.removeLocked(gone)
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
            head.forEachSeriesLocked { s in
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

    /// The store's size figures as kept up to date by appends, persists, compaction and retention:
    /// O(1), for /metrics on every scrape (`stats()` walks the head and counts SQLite's rows).
    public func counters() -> StoreCounters {
        var c = head.lock.withLock {
            StoreCounters(series: head.seriesCountLocked, headChunks: head.openChunkCount + head.sealedChunkCount,
                          headSamples: head.headSampleCount, persistedChunks: head.persistedChunkCount,
                          persistedSamples: head.persistedSampleCount)
        }
        let fm = FileManager.default
        for suffix in ["", "-wal", "-shm"] {
            if let a = try? fm.attributesOfItem(atPath: dbPath + suffix), let n = a[.size] as? Int { c.sqliteBytes += n }
        }
        for seg in (try? WALFormat.segments(in: walDir)) ?? [] {
            if let a = try? fm.attributesOfItem(atPath: walDir + "/" + WALFormat.segmentName(seg)),
               let n = a[.size] as? Int { c.walBytes += n }
        }
        return c
    }
}

/// Per-thread results of `TSDB.readPartitioned`: each part owns distinct series.
final class ScanResults: @unchecked Sendable {
    private let lock = NSLock()
    private var parts: [(idx: [Int], ts: [[Int64]], vs: [[Double]])?]
    private var error: Error?

    init(parts: Int) { self.parts = Array(repeating: nil, count: parts) }

    func set(_ p: Int, _ idx: [Int], _ t: [[Int64]], _ v: [[Double]]) {
        lock.withLock { parts[p] = (idx, t, v) }
    }

    func fail(_ e: Error) { lock.withLock { if error == nil { error = e } } }

    func move(into tss: inout [[Int64]], _ vss: inout [[Double]]) throws {
        try lock.withLock {
            if let error { throw error }
            for k in parts.indices {
                guard var part = parts[k] else { continue }
                parts[k] = nil
                for (j, i) in part.idx.enumerated() {
                    swap(&tss[i], &part.ts[j])
                    swap(&vss[i], &part.vs[j])
                }
            }
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
