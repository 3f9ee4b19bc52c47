import Foundation
import CVigilPrefetch
import VigilChunk
import VigilCore

/// The fields of one series (the header of its `MemSeries` allocation; its label ids follow it).
/// Ordered so that the small fields fill the open chunk's tail (the allocation is 16 + 101 bytes before the
/// ids: 168 bytes, a 176-byte malloc block, for a 6-label series).
struct SeriesState {
    let ref: UInt64
    /// Cut chunks not yet in SQLite, oldest first.
    var sealed: [ChunkBuilder] = []
    /// Newest sample time anywhere (open, sealed or SQLite); `.min` when the series has no sample.
    var maxTime: Int64 = .min
    /// Time range of the chunks in SQLite (`persistedMin > persistedMax` when none).
    var persistedMin: Int64 = .max
    var persistedMax: Int64 = .min
    /// Value bits of the sample at `maxTime`, valid when `hasLastValue`.
    var lastValueBits: UInt64 = 0
    /// The open chunk.
    var open = ChunkBuilder()
    /// Number of label ids after the header (2 per label; `MemSeries.maxLabels` labels at most).
    let idCount: UInt16
    /// Position in label order among all series (valid while `Head.ranksValidLocked`).
    var rank: Int32 = 0
    private var flags: UInt8 = 0

    /// `lastValueBits` holds the value at `maxTime` (false when only SQLite has it).
    var hasLastValue: Bool { get { flag(1) } set { setFlag(1, newValue) } }
    /// The series has a row in SQLite's `series` table.
    var inSQLite: Bool { get { flag(2) } set { setFlag(2, newValue) } }
    /// Listed in `Head.dirty` (has sealed chunks waiting for SQLite).
    var isDirty: Bool { get { flag(4) } set { setFlag(4, newValue) } }

    init(ref: UInt64, idCount: UInt16) {
        self.ref = ref
        self.idCount = idCount
    }

    @inline(__always) private func flag(_ m: UInt8) -> Bool { flags & m != 0 }
    @inline(__always) private mutating func setFlag(_ m: UInt8, _ on: Bool) { if on { flags |= m } else { flags &= ~m } }
}

/// One series in memory: one allocation holding its fields (`SeriesState`) and, after them, its label set
/// as symbol ids of the head's `HeadSymbols` (name, value, name, value, ... in label order). Every mutable
/// field is guarded by `Head.lock`; `ref` and the label ids never change.
final class MemSeries: ManagedBuffer<SeriesState, UInt32> {
    /// Most labels a series may have (appends refuse larger label sets before creating anything).
    static let maxLabels = Int(UInt16.max) / 2

    static func make(ref: UInt64, labelIDs: [UInt32]) -> MemSeries {
        precondition(labelIDs.count <= 2 * maxLabels, "BUG: label set too large")
        let b = MemSeries.create(minimumCapacity: labelIDs.count) { _ in
            SeriesState(ref: ref, idCount: UInt16(labelIDs.count))
        }
        let s = unsafeDowncast(b, to: MemSeries.self)
        s.withUnsafeMutablePointerToElements { p in
            labelIDs.withUnsafeBufferPointer { ids in
                if let base = ids.baseAddress { p.initialize(from: base, count: ids.count) }
            }
        }
        return s
    }

    // (UInt32 ids are trivial: nothing to deinitialize; ManagedBuffer destroys the header.)

    var ref: UInt64 { header.ref }
    var open: ChunkBuilder {
        _read { yield header.open }
        _modify { yield &header.open }
    }
    var sealed: [ChunkBuilder] {
        _read { yield header.sealed }
        _modify { yield &header.sealed }
    }
    var maxTime: Int64 {
        get { header.maxTime }
        set { header.maxTime = newValue }
    }
    var persistedMin: Int64 {
        get { header.persistedMin }
        set { header.persistedMin = newValue }
    }
    var persistedMax: Int64 {
        get { header.persistedMax }
        set { header.persistedMax = newValue }
    }
    /// Value bits of the sample at `maxTime` when it went through the head (nil when only SQLite has it).
    var lastValueBits: UInt64? {
        get { header.hasLastValue ? header.lastValueBits : nil }
        set {
            header.hasLastValue = newValue != nil
            header.lastValueBits = newValue ?? 0
        }
    }
    var inSQLite: Bool {
        get { header.inSQLite }
        set { header.inSQLite = newValue }
    }
    var isDirty: Bool {
        get { header.isDirty }
        set { header.isDirty = newValue }
    }
    var rank: Int32 {
        get { header.rank }
        set { header.rank = newValue }
    }

    /// The label ids (valid while the series is alive).
    @inline(__always)
    func withLabelIDs<R>(_ body: (UnsafeBufferPointer<UInt32>) throws -> R) rethrows -> R {
        let n = Int(header.idCount)
        return try withUnsafeMutablePointerToElements { try body(UnsafeBufferPointer(start: $0, count: n)) }
    }

    /// The label set, built from the head's symbols (call with the head lock held).
    func labels(_ symbols: HeadSymbols) -> Labels { withLabelIDs { symbols.labels($0) } }

    func hasLabels(_ l: Labels, _ symbols: HeadSymbols) -> Bool { withLabelIDs { symbols.equal($0, l) } }

    var headMinTime: Int64 { sealed.first?.minTime ?? open.minTime }
    var headSampleCount: Int { sealed.reduce(open.count) { $0 + $1.count } }
    var hasData: Bool { open.count > 0 || !sealed.isEmpty || persistedMin <= persistedMax }

    /// Whether some chunk of the series overlaps [mint, maxt].
    func overlaps(_ mint: Int64, _ maxt: Int64) -> Bool {
        if persistedMin <= persistedMax && persistedMin <= maxt && persistedMax >= mint { return true }
        if open.count > 0 && open.minTime <= maxt && open.maxTime >= mint { return true }
        for c in sealed where c.minTime <= maxt && c.maxTime >= mint { return true }
        return false
    }
}

/// What a reader copies out of the head under the lock (chunks are value types).
struct SeriesSnapshot {
    let ref: UInt64
    let labels: Labels
    let hasPersisted: Bool
    var headChunks: [ChunkBuilder]
    let rank: Int
}

/// The in-memory part of the store: series, their open and sealed chunks, and the postings index.
/// Series state is guarded by `lock` (methods named `...Locked` require it held); the postings index
/// has its own lock (`index.lock`, taken after `lock` when series come or go), so resolving a
/// query's matchers does not hold up appends.
final class Head: @unchecked Sendable {
    let lock = NSLock()

    let chunkRange: Int64
    let samplesPerChunk: Int
    let retention: Int64

    /// name → value → refs, under its own lock.
    let index = PostingsIndex()

    // Guarded by `lock`:
    /// Series by ref (refs are dense, from 1): the table owns them (a retained reference each, released
    /// when the series is removed or the head goes). 8 bytes a ref; no other map by ref.
    private var slots = ContiguousArray<Unmanaged<MemSeries>?>()
    /// Series whose ref is outside the dense table's range (`isDense`): none unless refs pass 2³¹.
    private var far: [UInt64: MemSeries] = [:]
    private(set) var seriesCountLocked = 0
    /// Dense series by `seriesHash(labels)` (8 bytes a slot, label sets sharing a hash each have a slot);
    /// `far` series by hash in `farByHash`.
    private var byHash = SeriesHashTable()
    private var farByHash: [UInt64: [MemSeries]] = [:]
    var nextRef: UInt64 = 1
    /// Newest sample time across all series (for the retention bound on appends).
    var maxTime: Int64 = .min
    /// A lower bound of every chunk's newest sample time, head and SQLite (retention has nothing to
    /// delete while its cutoff is at or below this, and skips its walks over every series).
    var chunkMaxTimeBound: Int64 = .max
    /// Series with sealed chunks waiting for SQLite.
    var dirty: [MemSeries] = []
    var sealedChunkCount = 0
    /// Series whose open chunk holds at least one sample.
    var openChunkCount = 0
    /// Samples in open and sealed head chunks.
    var headSampleCount = 0
    /// Rows and samples in SQLite's `chunks` table (kept by the maintenance path as it writes).
    var persistedChunkCount = 0
    var persistedSampleCount = 0
    /// WAL bytes written since the last checkpoint.
    var walBytesSinceCheckpoint = 0
    /// Size of the WAL the last checkpoint wrote (the live series and open chunks).
    var walBytesAtCheckpoint = 0
    var closed = false
    /// Bumped when a series is created or removed; `rankedGeneration` is the one `rank`s were set for.
    private(set) var generation = 0
    private var rankedGeneration = -1
    /// The generation a `rankSeries` call last saw (it ranks when the next call sees the same one).
    private var lastRankAttempt = -1

    init(chunkRange: Int64, samplesPerChunk: Int, retention: Int64) {
        self.chunkRange = max(1, chunkRange)
        self.samplesPerChunk = max(1, samplesPerChunk)
        self.retention = retention
    }

    deinit {
        for case let u? in slots { u.release() }
    }

    // MARK: series map

    /// Refs kept in the dense table (and `byHash`).
    @inline(__always)
    static func isDense(_ ref: UInt64) -> Bool { ref >= 1 && ref < UInt64(Int32.max) }

    func lookupLocked(_ labels: Labels, hash: UInt64) -> MemSeries? {
        var found: MemSeries? = nil
        byHash.first(hash) { ref in
            guard let u = slots[Int(ref)] else { return false }
            let s = u.takeUnretainedValue()
            if s.hasLabels(labels, index.symbols) { found = s; return true }
            return false
        }
        if found == nil && !far.isEmpty { found = farByHash[hash]?.first { $0.hasLabels(labels, index.symbols) } }
        return found
    }

    /// The label set of `s` (a series of this head).
    @inline(__always)
    func labelsLocked(_ s: MemSeries) -> Labels { s.labels(index.symbols) }

    /// Calls `body` with every series, ascending ref.
    func forEachSeriesLocked(_ body: (MemSeries) throws -> Void) rethrows {
        for case let u? in slots { try body(u.takeUnretainedValue()) }
        if !far.isEmpty { for ref in far.keys.sorted() { try body(far[ref]!) } }
    }

    /// Every series' ref, ascending.
    func allRefsLocked() -> [UInt64] {
        var out: [UInt64] = []
        out.reserveCapacity(seriesCountLocked)
        forEachSeriesLocked { out.append($0.ref) }
        return out
    }

    /// Creates a series (its label strings shared with the index's) and indexes it.
    @discardableResult
    func createLocked(ref: UInt64, labels: Labels, hash: UInt64) -> MemSeries {
        let ids = index.lock.withWriteLock { index.addLocked(labels, ref: ref) }
        let s = MemSeries.make(ref: ref, labelIDs: ids)
        if Self.isDense(ref) {
            let i = Int(ref)
            if i >= slots.count {
                // Grow by half, to exactly that capacity (appending alone would double the capacity).
                let add = max(i + 1 - slots.count, slots.count / 2)
                slots.reserveCapacity(slots.count + add)
                slots.append(contentsOf: repeatElement(nil, count: add))
            }
            precondition(slots[i] == nil, "BUG: series \(ref) created twice")
            slots[i] = Unmanaged.passRetained(s)
            byHash.insert(hash, ref: ref)
        } else {
            precondition(far[ref] == nil, "BUG: series \(ref) created twice")
            far[ref] = s
            farByHash[hash, default: []].append(s)
        }
        seriesCountLocked += 1
        if ref >= nextRef { nextRef = ref + 1 }
        generation += 1
        return s
    }

    /// Whether every series' `rank` is its position in label order.
    var ranksValidLocked: Bool { rankedGeneration == generation }

    /// Sets every series' `rank` (sorting the label sets outside the lock); a no-op when they are
    /// current, and abandoned if series come or go meanwhile.
    func rankSeries() {
        let (gen, all): (Int, [(MemSeries, Labels)]) = lock.withLock {
            if rankedGeneration == generation { return (-1, []) }
            // Only once series stopped coming: while they arrive a ranking would be abandoned anyway,
            // after building every label set under the lock and sorting them (seconds at 1M series).
            if generation != lastRankAttempt {
                lastRankAttempt = generation
                return (-1, [])
            }
            var all: [(MemSeries, Labels)] = []
            all.reserveCapacity(seriesCountLocked)
            forEachSeriesLocked { all.append(($0, labelsLocked($0))) }
            return (generation, all)
        }
        guard gen >= 0 else { return }
        let sorted = all.sorted { $0.1 < $1.1 }
        lock.withLock {
            guard generation == gen else { return }
            for (i, s) in sorted.enumerated() { s.0.rank = Int32(truncatingIfNeeded: i) }
            rankedGeneration = gen
        }
    }

    func removeLocked(_ s: MemSeries) { removeLocked([s]) }

    /// Drops series from the map and the index (one pass over each affected posting list).
    func removeLocked(_ gone: [MemSeries]) {
        guard !gone.isEmpty else { return }
        var wasDirty = false
        var released: [Unmanaged<MemSeries>] = []
        for s in gone {
            let h = seriesHash(labelsLocked(s))
            if Self.isDense(s.ref) {
                guard s.ref < UInt64(slots.count), let u = slots[Int(s.ref)], u.takeUnretainedValue() === s else { continue }
                slots[Int(s.ref)] = nil
                byHash.remove(h, ref: s.ref)
                released.append(u)
            } else {
                guard far[s.ref] === s else { continue }
                far[s.ref] = nil
                if var c = farByHash[h] {
                    c.removeAll { $0 === s }
                    farByHash[h] = c.isEmpty ? nil : c
                }
            }
            seriesCountLocked -= 1
            headSampleCount -= s.headSampleCount
            if s.open.count > 0 { openChunkCount -= 1 }
            if s.isDirty {
                sealedChunkCount -= s.sealed.count
                s.isDirty = false
                wasDirty = true
            }
        }
        if wasDirty {
            let ids = Set(gone.map { ObjectIdentifier($0) })
            dirty.removeAll { ids.contains(ObjectIdentifier($0)) }
        }
        generation += 1
        let pairs = gone.map { ($0.ref, labelsLocked($0)) }
        index.lock.withWriteLock { index.removeLocked(pairs) }
        // `gone` still holds every series: dropping the table's references frees none of them here.
        for u in released { u.release() }
    }

    @inline(__always)
    func slotLocked(_ ref: UInt64) -> Unmanaged<MemSeries>? {
        if ref < UInt64(slots.count), let u = slots[Int(ref)] { return u }
        return far.isEmpty ? nil : far[ref].map { Unmanaged.passUnretained($0) }
    }

    var slotCountLocked: Int { slots.count }

    /// Series with refs in `range` past the dense ref table, ascending.
    func seriesLocked(refsIn range: Range<UInt64>) -> [MemSeries] {
        far.values.filter { range.contains($0.ref) }.sorted { $0.ref < $1.ref }
    }

    /// The series with `ref`, if any.
    @inline(__always)
    func seriesLocked(_ ref: UInt64) -> MemSeries? {
        slotLocked(ref)?.takeUnretainedValue()
    }

    /// Prefetches series `ref` (`deep`: also its open chunk's tail, which needs the series cached).
    @inline(__always)
    func prefetchLocked(_ ref: UInt64, deep: Bool) {
        guard ref < UInt64(slots.count), let u = slots[Int(ref)] else { return }
        if deep {
            u._withUnsafeGuaranteedRef { s in
                // Read from the series (prefetched earlier): storing them cost a 16-byte malloc size class.
                if let (h, t) = s.open.tailAddresses {
                    vigil_prefetch(h)
                    vigil_prefetch(t)
                }
            }
        } else {
            let p = UnsafeRawPointer(u.toOpaque())
            vigil_prefetch(p)
            vigil_prefetch(p + 64)
        }
    }

    // MARK: appending samples to a series

    /// Appends one sample known to be newer than `s.maxTime`, cutting the open chunk when full or at
    /// a chunk-range boundary.
    @inline(__always)
    func appendSampleLocked(_ s: MemSeries, _ t: Int64, _ v: Double) {
        if s.open.count > 0 && (s.open.count >= samplesPerChunk || t >= windowEnd(s.open.minTime)) {
            cutLocked(s)
        }
        if s.open.count == 0 {
            openChunkCount += 1
            if t < chunkMaxTimeBound { chunkMaxTimeBound = t }
        }
        s.open.append(t, v)
        headSampleCount &+= 1
        s.maxTime = t
        s.lastValueBits = v.bitPattern
    }

    /// First timestamp past the chunk-range window holding `t` (a sample at or after it cuts the open
    /// chunk that starts at `t`). Computed per append rather than stored in every series.
    @inline(__always)
    func windowEnd(_ t: Int64) -> Int64 {
        let w = floorDiv(t, chunkRange)
        return w >= Int64.max / chunkRange ? .max : (w + 1) * chunkRange
    }

    func cutLocked(_ s: MemSeries) {
        guard s.open.count > 0 else { return }
        s.sealed.append(s.open)
        s.open = ChunkBuilder()
        sealedChunkCount += 1
        openChunkCount -= 1
        if !s.isDirty {
            s.isDirty = true
            dirty.append(s)
        }
    }

    /// Cuts every open chunk (flush).
    func cutAllLocked() {
        forEachSeriesLocked { s in if s.open.count > 0 { cutLocked(s) } }
    }

    // MARK: selection

    /// Series matching every matcher: candidates from the postings index (nil: every series), and
    /// the matchers the index cannot answer, checked against each candidate's labels by `snapshot`.
    /// Takes only the index lock (briefly: regexes run outside it).
    func plan(_ matchers: [LabelMatcher]) -> SelectionPlan {
        var candidate: [UInt64]? = nil
        for m in matchers where !m.matchesEmpty {
            let list = index.postings(for: m)
            candidate = candidate.map { intersect($0, list) } ?? list
            if candidate?.isEmpty == true { return SelectionPlan(refs: [], filters: []) }
        }
        let filters = matchers.filter { $0.matchesEmpty || ($0.type != .equal && $0.literalAlternatives == nil) }
        return SelectionPlan(refs: candidate, filters: filters)
    }

    /// Refs of series matching every matcher, ascending (tests; queries use `plan` and `snapshot`).
    func selectRefs(_ matchers: [LabelMatcher]) -> [UInt64] {
        var out: [UInt64] = []
        visit(plan(matchers)) { s in out.append(s.ref) }
        return out
    }

    /// Calls `body` with each series of `plan` that still exists and passes its filters, ascending
    /// ref, holding `lock` for at most `batch` series at a time (appends go on in between; each
    /// series is seen whole). Returns whether the series' ranks were valid, and for one generation,
    /// over the whole walk.
    @discardableResult
    func visit(_ plan: SelectionPlan, batch: Int = 4096, _ body: (MemSeries) -> Void) -> Bool {
        let refs: [UInt64] = plan.refs ?? lock.withLock { allRefsLocked() }
        var rankedGen: Int? = nil
        var ranked = true
        var i = 0
        repeat {
            let end = min(refs.count, i + batch)
            lock.withLock {
                if ranksValidLocked {
                    if rankedGen == nil { rankedGen = generation } else if rankedGen != generation { ranked = false }
                } else {
                    ranked = false
                }
                for k in i..<end {
                    guard let s = seriesLocked(refs[k]) else { continue }
                    if !plan.filters.isEmpty && !plan.filters.allSatisfy({ $0.matches(labelsLocked(s)) }) { continue }
                    body(s)
                }
            }
            i = end
        } while i < refs.count
        return ranked
    }

    /// Copies the head chunks overlapping [mint, maxt] of the series in `plan`; also returns whether
    /// their `rank`s are label order.
    func snapshot(_ plan: SelectionPlan, mint: Int64, maxt: Int64) -> ([SeriesSnapshot], Bool) {
        var out: [SeriesSnapshot] = []
        out.reserveCapacity(plan.refs?.count ?? 0)
        let ranked = visit(plan) { s in
            let hasPersisted = s.persistedMin <= s.persistedMax && s.persistedMin <= maxt && s.persistedMax >= mint
            var chunks: [ChunkBuilder] = []
            for c in s.sealed where c.minTime <= maxt && c.maxTime >= mint { chunks.append(c) }
            if s.open.count > 0 && s.open.minTime <= maxt && s.open.maxTime >= mint { chunks.append(s.open) }
            if hasPersisted || !chunks.isEmpty {
                out.append(SeriesSnapshot(ref: s.ref, labels: labelsLocked(s), hasPersisted: hasPersisted, headChunks: chunks, rank: Int(s.rank)))
            }
        }
        return (out, ranked)
    }
}

/// What `Head.plan` resolved from the postings index.
struct SelectionPlan {
    /// Candidate refs, ascending; nil: every series.
    let refs: [UInt64]?
    /// Matchers to check against each candidate's labels.
    let filters: [LabelMatcher]
}

func intersect(_ a: [UInt64], _ b: [UInt64]) -> [UInt64] {
    var out: [UInt64] = []
    var i = 0, j = 0
    while i < a.count && j < b.count {
        if a[i] == b[j] {
            out.append(a[i]); i += 1; j += 1
        } else if a[i] < b[j] { i += 1 } else { j += 1 }
    }
    return out
}

func unionAll(_ lists: [[UInt64]]) -> [UInt64] {
    if lists.count == 1 { return lists[0] }
    var all = lists.flatMap { $0 }
    all.sort()
    var out: [UInt64] = []
    out.reserveCapacity(all.count)
    for r in all where out.last != r { out.append(r) }
    return out
}

/// Open-addressing set of (series hash, ref) for refs below 2³², 8 bytes a slot: the hash's upper 32 bits
/// (the tag, which also picks the home slot) and the ref; 0 is an empty slot. Linear probing, at most 3/4
/// full, removal by backward shift (no tombstones). A lookup compares the label sets of the refs whose tag
/// matches (`Head.lookupLocked`), so label sets sharing a hash need nothing special.
struct SeriesHashTable {
    private var slots: [UInt64] = []
    private(set) var count = 0

    var byteCount: Int { slots.capacity * 8 }

    @inline(__always)
    private static func home(_ tag: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (tag &* 0x9E37_79B9_7F4A_7C15) >> 24) & mask
    }

    /// Calls `match` with the refs stored under `hash`'s tag, in probe order, until it returns true.
    @inline(__always)
    func first(_ hash: UInt64, _ match: (UInt64) -> Bool) {
        if slots.isEmpty { return }
        let tag = hash >> 32
        slots.withUnsafeBufferPointer { sp in
            let mask = sp.count - 1
            var i = Self.home(tag, mask)
            while true {
                let x = sp[i]
                if x == 0 { return }
                if x >> 32 == tag && match(x & 0xFFFF_FFFF) { return }
                i = (i + 1) & mask
            }
        }
    }

    /// Adds `ref` (1 ..< 2³²) under `hash`.
    mutating func insert(_ hash: UInt64, ref: UInt64) {
        precondition(ref > 0 && ref <= 0xFFFF_FFFF, "BUG: ref \(ref) outside the hash table's range")
        if (count + 1) * 4 > slots.count * 3 { grow() }
        Self.place((hash >> 32) << 32 | ref, in: &slots)
        count += 1
    }

    private static func place(_ x: UInt64, in slots: inout [UInt64]) {
        slots.withUnsafeMutableBufferPointer { sp in
            let mask = sp.count - 1
            var i = home(x >> 32, mask)
            while sp[i] != 0 { i = (i + 1) & mask }
            sp[i] = x
        }
    }

    private mutating func grow() {
        let old = slots
        slots = [UInt64](repeating: 0, count: max(1024, old.count * 2))
        for x in old where x != 0 { Self.place(x, in: &slots) }
    }

    /// Removes `ref` stored under `hash` (a no-op when absent).
    mutating func remove(_ hash: UInt64, ref: UInt64) {
        if slots.isEmpty { return }
        let x = (hash >> 32) << 32 | ref
        let removed: Bool = slots.withUnsafeMutableBufferPointer { sp in
            let mask = sp.count - 1
            var i = Self.home(x >> 32, mask)
            while sp[i] != x {
                if sp[i] == 0 { return false }
                i = (i + 1) & mask
            }
            // Backward shift: move later entries of the run into the hole when their home allows it.
            var hole = i
            var j = (i + 1) & mask
            while sp[j] != 0 {
                let k = Self.home(sp[j] >> 32, mask)
                if (j &- k) & mask >= (j &- hole) & mask {
                    sp[hole] = sp[j]
                    hole = j
                }
                j = (j + 1) & mask
            }
            sp[hole] = 0
            return true
        }
        if removed { count -= 1 }
    }
}
