import VigilCore

// The head's postings index: label name → value → refs of the series carrying that pair.
//
// It has its own readers-writer lock so that a query resolves its matchers without holding the
// head lock that appends take. Lock order: `Head.lock` before `PostingsIndex.lock` (series are
// created and removed holding both); a reader holds the index lock alone, and only for lookups:
// a regex is matched against a copy of the name's value list taken under the lock, outside it.

/// Ascending refs of one label pair. A class so that appending a new series' ref grows the one
/// array in place (amortised O(1)). Refs are kept as `UInt32` (4 bytes a series and pair instead of 8;
/// refs count up from 1), those from 2³² on in a second list; readers get a `[UInt64]` copy.
final class PostingList {
    /// Refs below 2³², ascending.
    private var small: [UInt32] = []
    /// Refs from 2³² on, ascending (empty unless refs pass 2³²).
    private var big: [UInt64] = []
    /// The value's symbol id.
    let symbol: UInt32
    init(_ ref: UInt64, symbol: UInt32) {
        self.symbol = symbol
        add(ref)
    }

    var isEmpty: Bool { small.isEmpty && big.isEmpty }
    var count: Int { small.count + big.count }

    /// The refs, ascending.
    var refs: [UInt64] {
        let n = small.count
        if n == 0 { return big }
        return [UInt64](unsafeUninitializedCapacity: n + big.count) { buf, count in
            small.withUnsafeBufferPointer { sp in
                for i in 0..<n { buf[i] = UInt64(sp[i]) }
            }
            for (k, r) in big.enumerated() { buf[n + k] = r }
            count = n + big.count
        }
    }

    /// Adds `ref` (refs mostly come in ascending order; the list stays sorted regardless).
    func add(_ ref: UInt64) {
        if ref <= UInt64(UInt32.max) {
            Self.insert(UInt32(ref), into: &small)
        } else {
            Self.insert(ref, into: &big)
        }
    }

    private static func insert<T: BinaryInteger>(_ r: T, into a: inout [T]) {
        if let last = a.last, last > r {
            let at = lowerBound(a, r)
            if at == a.count || a[at] != r { grow(&a); a.insert(r, at: at) }
        } else if a.last != r {
            grow(&a)
            a.append(r)
        }
    }

    /// Makes room for one more ref, growing by a quarter instead of the array's doubling: a long list (a pair
    /// most series carry, `job="node"`) then holds ~12% unused capacity on average instead of ~40%; the extra
    /// copying is a few memcpys of the list per doubling of its length.
    @inline(__always)
    private static func grow<T>(_ a: inout [T]) {
        if a.count == a.capacity { a.reserveCapacity(a.count + a.count / 4 + 1) }
    }

    /// Removes `refs` (one pass when there are many).
    func remove(_ refs: [UInt64]) {
        if refs.count <= 4 {
            for r in refs {
                if r <= UInt64(UInt32.max) {
                    let x = UInt32(r), at = lowerBound(small, x)
                    if at < small.count && small[at] == x { small.remove(at: at) }
                } else {
                    let at = lowerBound(big, r)
                    if at < big.count && big[at] == r { big.remove(at: at) }
                }
            }
        } else {
            let gone = Set(refs)
            small.removeAll { gone.contains(UInt64($0)) }
            if !big.isEmpty { big.removeAll { gone.contains($0) } }
        }
    }
}

/// The values of one label name.
final class ValueIndex {
    /// The name's symbol id.
    let symbol: UInt32
    init(symbol: UInt32) { self.symbol = symbol }
    var lists: [String: PostingList] = [:]
    /// Every value added, in insertion order; removed values stay (counted in `stale`) until a
    /// compaction, so that adding a value is an append and a reader can take the array as it is.
    var values: [String] = []
    var stale = 0
}

/// Label strings by symbol id: a series keeps its label set as ids (after the `MemSeries` fields, 4 bytes per
/// name or value instead of a 16-byte `String` each plus an array of `Label`s). The ids of a pair are
/// the index's: a name's id lives in its `ValueIndex`, a value's in its `PostingList`; an id is freed
/// when its list (or name) has no series left, and reused.
///
/// Written while the head lock and the index's write lock are held (series are created and removed
/// under both); read under the head lock (every path that turns a series' ids into `Labels` holds it).
final class HeadSymbols {
    private(set) var strings: [String] = []
    private var free: [UInt32] = []

    func add(_ s: String) -> UInt32 {
        if let id = free.popLast() {
            strings[Int(id)] = s
            return id
        }
        strings.append(s)
        return UInt32(strings.count - 1)
    }

    func release(_ id: UInt32) {
        strings[Int(id)] = ""
        free.append(id)
    }

    @inline(__always) subscript(id: UInt32) -> String { strings[Int(id)] }

    /// The label set of alternating name and value ids.
    func labels(_ ids: UnsafeBufferPointer<UInt32>) -> Labels {
        var out: [Label] = []
        out.reserveCapacity(ids.count / 2)
        var i = 0
        while i + 1 < ids.count {
            out.append(Label(strings[Int(ids[i])], strings[Int(ids[i + 1])]))
            i += 2
        }
        return Labels(sorted: out)
    }

    /// Whether `ids` spell `labels`.
    func equal(_ ids: UnsafeBufferPointer<UInt32>, _ labels: Labels) -> Bool {
        guard ids.count == 2 * labels.count else { return false }
        var i = 0
        for l in labels {
            if strings[Int(ids[i])] != l.name || strings[Int(ids[i + 1])] != l.value { return false }
            i += 2
        }
        return true
    }

    var count: Int { strings.count - free.count }
}

final class PostingsIndex: @unchecked Sendable {
    let lock = RWLock()
    /// Guarded by `lock`.
    private var names: [String: ValueIndex] = [:]
    /// Label strings by id (see `HeadSymbols` for its locking).
    let symbols = HeadSymbols()

    /// Adds `ref` under each of its pairs and returns the label set as symbol ids (name, value, name,
    /// value, ...; a string used by many series is stored once). Requires the write lock.
    func addLocked(_ labels: Labels, ref: UInt64) -> [UInt32] {
        var interned: [UInt32] = []
        interned.reserveCapacity(2 * labels.count)
        for l in labels {
            let vi: ValueIndex
            if let i = names.index(forKey: l.name) {
                vi = names[i].value
            } else {
                vi = ValueIndex(symbol: symbols.add(l.name))
                names[l.name] = vi
            }
            let valueID: UInt32
            if let i = vi.lists.index(forKey: l.value) {
                let list = vi.lists[i].value
                valueID = list.symbol
                list.add(ref)
            } else {
                // The value's string as the index's key, so both hold one copy.
                let value = l.value
                valueID = symbols.add(value)
                vi.lists[value] = PostingList(ref, symbol: valueID)
                vi.values.append(value)
            }
            interned.append(vi.symbol)
            interned.append(valueID)
        }
        return interned
    }

    /// Removes many series at once: one pass per affected list. Requires the write lock.
    func removeLocked(_ series: [(ref: UInt64, labels: Labels)]) {
        var byPair: [Label: [UInt64]] = [:]
        for (ref, labels) in series { for l in labels { byPair[l, default: []].append(ref) } }
        for (pair, refs) in byPair {
            guard let vi = names[pair.name], let list = vi.lists[pair.value] else { continue }
            list.remove(refs)
            if list.isEmpty {
                vi.lists[pair.value] = nil
                symbols.release(list.symbol)
                vi.stale += 1
                if vi.lists.isEmpty {
                    names[pair.name] = nil
                    symbols.release(vi.symbol)
                } else if vi.stale > vi.values.count / 2 {
                    vi.values = vi.values.filter { vi.lists[$0] != nil }
                    vi.stale = 0
                }
            }
        }
    }

    /// Refs of the series with `name` = `value`, ascending.
    func refs(_ name: String, _ value: String) -> [UInt64] {
        lock.withReadLock { names[name]?.lists[value]?.refs ?? [] }
    }

    /// Refs of series carrying `name` with a value for which `accept` holds, ascending.
    /// `accept` runs without the lock, on the value list as it was when the call started.
    func refs(_ name: String, where accept: (String) -> Bool) -> [UInt64] {
        guard let values = lock.withReadLock({ names[name]?.values }) else { return [] }
        let wanted = values.filter(accept)
        if wanted.isEmpty { return [] }
        return refs(name, values: wanted)
    }

    /// Union of the refs of `name` = each of `values`, ascending.
    func refs<S: Sequence<String>>(_ name: String, values: S) -> [UInt64] {
        let lists: [[UInt64]] = lock.withReadLock {
            guard let vi = names[name] else { return [] }
            return values.compactMap { vi.lists[$0]?.refs }
        }
        return unionAll(lists)
    }

    /// Distinct values of `name` with at least one series (any order).
    func valueCount(_ name: String) -> Int {
        lock.withReadLock { names[name]?.lists.count ?? 0 }
    }

    /// Every (name, value, refs) — for tests that compare the index with the series.
    func allPostings() -> [Label: [UInt64]] {
        lock.withReadLock {
            var out: [Label: [UInt64]] = [:]
            for (n, vi) in names { for (v, l) in vi.lists { out[Label(n, v)] = l.refs } }
            return out
        }
    }

    /// Refs of series matching `m`, which does not match the empty string, ascending.
    func postings(for m: LabelMatcher) -> [UInt64] {
        switch m.type {
        case .equal:
            return refs(m.name, m.value)
        case .regexMatch:
            if let lits = m.literalAlternatives { return refs(m.name, values: lits) }
            return refs(m.name) { m.matches($0) }
        case .notEqual, .regexNoMatch:
            return refs(m.name) { m.matches($0) }
        }
    }
}

/// First index whose element is ≥ `x` in an ascending array.
@inline(__always)
func lowerBound<T: Comparable>(_ a: [T], _ x: T) -> Int {
    var lo = 0, hi = a.count
    while lo < hi {
        let mid = (lo + hi) >> 1
        if a[mid] < x { lo = mid + 1 } else { hi = mid }
    }
    return lo
}
