/// First index whose element is ≥ `x` in an ascending array (`a.count` when none is): the one binary search the
/// store's postings, the query engine's sample windows and the models' sorted residuals share. Inlinable, so each
/// caller gets a specialised loop, as a local copy would.
@inlinable @inline(__always)
public func lowerBound<T: Comparable>(_ a: [T], _ x: T) -> Int {
    var lo = 0, hi = a.count
    while lo < hi {
        let mid = (lo + hi) >> 1
        if a[mid] < x { lo = mid + 1 } else { hi = mid }
    }
    return lo
}
