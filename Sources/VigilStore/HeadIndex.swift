import VigilCore

// The head's postings index: label name → value → refs of the series carrying that pair.
//
// It has its own readers-writer lock so that a query resolves its matchers without holding the
// head lock that appends take. Lock order: `Head.lock` before `PostingsIndex.lock` (series are
// created and removed holding both); a reader holds the index lock alone, and only for lookups:
// a regex is matched against a copy of the name's value list taken under the lock, outside it.

/// Ascending refs of one label pair. A class so that appending a new series' ref grows the one
/// array in place (amortised O(1)); a reader that copied `refs` makes the next append copy it once.
final class PostingList {
    var refs: [UInt64]
    init(_ ref: UInt64) { refs = [ref] }
}

/// The values of one label name.
final class ValueIndex {
    var lists: [String: PostingList] = [:]
    /// Every value added, in insertion order; removed values stay (counted in `stale`) until a
    /// compaction, so that adding a value is an append and a reader can take the array as it is.
    var values: [String] = []
    var stale = 0
}

final class PostingsIndex: @unchecked Sendable {
    let lock = RWLock()
    /// Guarded by `lock`.
    private var names: [String: ValueIndex] = [:]

    /// Adds `ref` under each of its pairs and returns the label set with names and values shared with
    /// the index's own strings (a value used by many series is stored once). Requires the write lock.
    func addLocked(_ labels: Labels, ref: UInt64) -> Labels {
        var interned: [Label] = []
        interned.reserveCapacity(labels.count)
        for l in labels {
            let vi: ValueIndex
            var name = l.name
            if let i = names.index(forKey: l.name) {
                name = names[i].key
                vi = names[i].value
            } else {
                vi = ValueIndex()
                names[l.name] = vi
            }
            var value = l.value
            if let i = vi.lists.index(forKey: l.value) {
                value = vi.lists[i].key
                let list = vi.lists[i].value
                // refs are mostly created in ascending order; keep the list sorted regardless
                if let last = list.refs.last, last > ref {
                    let at = lowerBound(list.refs, ref)
                    if at == list.refs.count || list.refs[at] != ref { list.refs.insert(ref, at: at) }
                } else if list.refs.last != ref {
                    list.refs.append(ref)
                }
            } else {
                vi.lists[l.value] = PostingList(ref)
                vi.values.append(l.value)
            }
            interned.append(Label(name, value))
        }
        return Labels(sorted: interned)
    }

    /// Removes many series at once: one pass per affected list. Requires the write lock.
    func removeLocked(_ series: [(ref: UInt64, labels: Labels)]) {
        var byPair: [Label: [UInt64]] = [:]
        for (ref, labels) in series { for l in labels { byPair[l, default: []].append(ref) } }
        for (pair, refs) in byPair {
            guard let vi = names[pair.name], let list = vi.lists[pair.value] else { continue }
            if refs.count <= 4 {
                for r in refs {
                    let at = lowerBound(list.refs, r)
                    if at < list.refs.count && list.refs[at] == r { list.refs.remove(at: at) }
                }
            } else {
                let gone = Set(refs)
                list.refs.removeAll { gone.contains($0) }
            }
            if list.refs.isEmpty {
                vi.lists[pair.value] = nil
                vi.stale += 1
                if vi.lists.isEmpty {
                    names[pair.name] = nil
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
func lowerBound(_ a: [UInt64], _ x: UInt64) -> Int {
    var lo = 0, hi = a.count
    while lo < hi {
        let mid = (lo + hi) >> 1
        if a[mid] < x { lo = mid + 1 } else { hi = mid }
    }
    return lo
}
