import Synchronization

/// A series' label key (the raw label bytes a sender encoded it as) reduced to a 128-bit fingerprint.
public struct SeriesKey: Hashable, Sendable {
    public let a: UInt64
    public let b: UInt64
    public init(_ a: UInt64, _ b: UInt64) {
        // (0, 0) in `a` and the upper half of `b` marks an empty slot in `KeyTable`.
        self.a = a | (b >> 32 == 0 ? 1 : 0)
        self.b = b
    }
}

/// Raw label bytes of a series as a sender encodes them → the store's series reference.
///
/// The ingest fast path (as Prometheus' scrape cache and VictoriaMetrics' series cache): a series seen before is
/// recognised by hashing the bytes it arrived as, without building `Labels`; its samples then go to the store by
/// reference. Keys are exact bytes, so two encodings of one label set are two entries for one ref.
///
/// The cache keeps a 96-bit fingerprint of the bytes (`SeriesKey.a` and the upper half of `SeriesKey.b`, 16 bytes an
/// entry with a 32-bit ref), not the bytes (~200 bytes for a node_exporter series): at 1M series the label strings
/// were ~115 B per series of the server's memory. Two label keys with one fingerprint would send the second series'
/// samples to the first's ref; with independently keyed hashes the chance among the at most 2 × `maxPerGeneration`
/// keys held is below n²/2⁹⁷ (about 2⁻⁵⁷ at 2²⁰ keys), far below that of an undetected memory or disk error.
/// Refs from 2³² on are not cached (their series take the label path). The hash is
/// seeded per process (random secrets), so keys cannot be chosen offline to collide; and a client that could
/// make them collide can only misfile samples it could as well have sent under the other series' labels.
/// Every key enters the cache from the slow path (labels decoded, validated and resolved by the store).
///
/// Bounded: two generations of at most `maxPerGeneration` entries each. Lookups look in the current generation,
/// then in the previous one (moving a hit forward); when the current one is full it becomes the previous one and
/// the old previous one is dropped. Series that keep arriving stay; series that stopped age out.
public final class SeriesRefCache: Sendable {
    public let maxPerGeneration: Int
    private let state: Mutex<State>

    /// Both generations; lookups and updates happen on it while locked (`withLock`).
    struct State {
        var current = KeyTable()
        var previous = KeyTable()
        var rotations = 0
        let maxPerGeneration: Int

        /// The ref for `key`, or 0.
        mutating func lookup(_ key: SeriesKey) -> UInt64 {
            let r = current.find(key)
            if r != 0 { return r }
            let p = previous.find(key)
            if p != 0 { insert(key, ref: p) }
            return p
        }

        mutating func insert(_ key: SeriesKey, ref: UInt64) {
            guard ref <= UInt64(UInt32.max) else { return }
            if current.count >= maxPerGeneration && !current.contains(key) {
                previous = current
                current = KeyTable()
                rotations += 1
            }
            current.set(key, ref: ref, addIfMissing: true)
        }

        mutating func remove(_ key: SeriesKey) {
            current.set(key, ref: 0, addIfMissing: false)
            previous.set(key, ref: 0, addIfMissing: false)
        }
    }

    public init(maxPerGeneration: Int = 1 << 18) {
        self.maxPerGeneration = max(1, maxPerGeneration)
        state = Mutex(State(maxPerGeneration: max(1, maxPerGeneration)))
    }

    /// Entries in both generations (a key in both counts once per generation).
    public var count: Int { state.withLock { $0.current.count + $0.previous.count } }
    /// How often the current generation was full and became the previous one.
    public var rotations: Int { state.withLock { $0.rotations } }
    /// Bytes the two generations' tables hold.
    public var byteCount: Int { state.withLock { $0.current.byteCount + $0.previous.byteCount } }

    /// Runs `body` with the cache locked: a whole request's lookups (or inserts) under one lock.
    func withLock<R>(_ body: (inout State) -> R) -> R {
        state.withLock { body(&$0) }
    }

    /// Per-process random secrets of `hash` (odd, so that no multiplier is zero).
    private static let secrets: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = {
        var g = SystemRandomNumberGenerator()
        func odd() -> UInt64 { g.next() | 1 }
        return (odd(), odd(), odd(), odd(), odd(), odd())
    }()

    @inline(__always)
    private static func mum(_ x: UInt64, _ y: UInt64) -> UInt64 {
        let r = x.multipliedFullWidth(by: y)
        return r.high ^ r.low
    }

    /// 128-bit fingerprint of a byte string: two wyhash-style chains (a 64×64→128-bit multiply folded to 64 bits
    /// per 16 bytes) with independent per-process secrets, 16 bytes per step.
    @inline(__always)
    public static func hash(_ b: UnsafeRawBufferPointer) -> SeriesKey {
        let k = secrets
        let n = b.count
        var s1 = k.0 ^ UInt64(n)
        var s2 = k.1 ^ (UInt64(n) &* 0x9E37_79B9_7F4A_7C15)
        var i = 0
        while i + 16 <= n {
            let w1 = b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let w2 = b.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)
            s1 = mum(w1 ^ k.2, w2 ^ s1)
            s2 = mum(w1 ^ k.3, w2 ^ s2)
            i += 16
        }
        // The last 0–15 bytes, zero-padded into two words (the length above tells paddings apart).
        var w1: UInt64 = 0, w2: UInt64 = 0
        if i + 8 <= n {
            w1 = b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
            var shift: UInt64 = 0
            while i < n { w2 |= UInt64(b[i]) << shift; shift += 8; i += 1 }
        } else {
            var shift: UInt64 = 0
            while i < n { w1 |= UInt64(b[i]) << shift; shift += 8; i += 1 }
        }
        s1 = mum(w1 ^ k.2, w2 ^ s1)
        s2 = mum(w1 ^ k.3, w2 ^ s2)
        return SeriesKey(mum(s1 ^ k.4, s1 ^ 0xE703_7ED1_A0B4_28DB), mum(s2 ^ k.5, s2 ^ 0x8EBC_6AF0_9C88_C6E3))
    }
}

/// Open-addressing table (linear probing, at most half full) from fingerprints to refs; a ref of 0 marks a
/// removed entry. 16 bytes a slot: `a`, the upper half of `b` (which also picks the home slot) and a ref
/// below 2³² (`State.insert` does not cache larger ones).
struct KeyTable {
    private struct Entry {
        var a: UInt64
        var b: UInt32
        var ref: UInt32
    }

    private var entries: [Entry] = []
    /// Entries held (a removed one counts until the table is dropped).
    private(set) var count = 0

    var byteCount: Int { entries.capacity * MemoryLayout<Entry>.stride }

    /// Slot of `key`, or of the empty slot where it would go (nil when the table has no slots).
    @inline(__always)
    private func slot(of key: SeriesKey) -> (Int, Bool)? {
        if entries.isEmpty { return nil }
        return entries.withUnsafeBufferPointer { e in
            let mask = e.count - 1
            var i = Int(truncatingIfNeeded: key.b >> 32) & mask
            while true {
                let x = e[i]
                if x.a == key.a && x.b == UInt32(truncatingIfNeeded: key.b >> 32) { return (i, true) }
                if x.a == 0 && x.b == 0 { return (i, false) }
                i = (i + 1) & mask
            }
        }
    }

    func find(_ key: SeriesKey) -> UInt64 {
        guard let (i, found) = slot(of: key), found else { return 0 }
        return UInt64(entries[i].ref)
    }

    func contains(_ key: SeriesKey) -> Bool { slot(of: key)?.1 == true }

    mutating func set(_ key: SeriesKey, ref: UInt64, addIfMissing: Bool) {
        precondition(ref <= UInt64(UInt32.max), "BUG: ref \(ref) past the cache's 32-bit refs")
        if let (i, found) = slot(of: key), found {
            entries[i].ref = UInt32(ref)
            return
        }
        guard addIfMissing else { return }
        if (count + 1) * 2 > entries.count { grow() }
        let (i, _) = slot(of: key)!
        entries[i] = Entry(a: key.a, b: UInt32(truncatingIfNeeded: key.b >> 32), ref: UInt32(ref))
        count += 1
    }

    private mutating func grow() {
        let old = entries
        entries = [Entry](repeating: Entry(a: 0, b: 0, ref: 0), count: max(1024, old.count * 2))
        let mask = entries.count - 1
        entries.withUnsafeMutableBufferPointer { e in
            for x in old where !(x.a == 0 && x.b == 0) {
                var i = Int(truncatingIfNeeded: x.b) & mask
                while !(e[i].a == 0 && e[i].b == 0) { i = (i + 1) & mask }
                e[i] = x
            }
        }
    }
}
