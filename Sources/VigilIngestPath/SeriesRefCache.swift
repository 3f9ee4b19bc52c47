import Synchronization

/// Raw label bytes of a series as a sender encodes them → the store's series reference.
///
/// The ingest fast path (as Prometheus' scrape cache and VictoriaMetrics' series cache): a series seen before is
/// recognised by hashing and comparing the bytes it arrived as, without building `Labels`; its samples then go to
/// the store by reference. Keys are exact bytes, so two encodings of one label set are two entries for one ref.
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

        /// The ref for `key` (hash `h`), or 0.
        mutating func lookup(_ key: UnsafeRawBufferPointer, hash h: UInt64) -> UInt64 {
            let r = current.find(key, hash: h)
            if r != 0 { return r }
            let p = previous.find(key, hash: h)
            if p != 0 { insert(key, hash: h, ref: p) }
            return p
        }

        mutating func insert(_ key: UnsafeRawBufferPointer, hash h: UInt64, ref: UInt64) {
            if current.count >= maxPerGeneration && current.find(key, hash: h) == 0 {
                previous = current
                current = KeyTable()
                rotations += 1
            }
            current.set(key, hash: h, ref: ref, addIfMissing: true)
        }

        mutating func remove(_ key: UnsafeRawBufferPointer, hash h: UInt64) {
            current.set(key, hash: h, ref: 0, addIfMissing: false)
            previous.set(key, hash: h, ref: 0, addIfMissing: false)
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

    /// Runs `body` with the cache locked: a whole request's lookups (or inserts) under one lock.
    func withLock<R>(_ body: (inout State) -> R) -> R {
        state.withLock { body(&$0) }
    }

    /// 64-bit hash of a byte string, 16 bytes per step in two independent lanes (collisions are resolved by
    /// comparing bytes).
    @inline(__always)
    static func hash(_ b: UnsafeRawBufferPointer) -> UInt64 {
        let n = b.count
        var h1: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ (UInt64(n) &* 0xFF51_AFD7_ED55_8CCD)
        var h2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
        var i = 0
        while i + 16 <= n {
            let w1 = b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let w2 = b.loadUnaligned(fromByteOffset: i + 8, as: UInt64.self)
            h1 = (h1 ^ w1) &* 0xBF58_476D_1CE4_E5B9
            h2 = (h2 ^ w2) &* 0x94D0_49BB_1331_11EB
            h1 ^= h1 >> 29
            h2 ^= h2 >> 31
            i += 16
        }
        if i + 8 <= n {
            h1 = (h1 ^ b.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
            h1 ^= h1 >> 29
            i += 8
        }
        if i < n {
            var w: UInt64 = 0
            var shift: UInt64 = 0
            while i < n {
                w |= UInt64(b[i]) << shift
                shift += 8
                i += 1
            }
            h2 = (h2 ^ w) &* 0x94D0_49BB_1331_11EB
        }
        var h = h1 ^ (h2 &* 0xD6E8_FEB8_6659_FD93)
        h ^= h >> 32
        h = h &* 0xD6E8_FEB8_6659_FD93
        h ^= h >> 32
        return h
    }
}

/// Open-addressing table from byte keys (kept in one arena) to refs; a ref of 0 marks a removed entry.
/// A slot holds the entry index and the hash's upper 32 bits, so a probe touches the entry (and its key bytes)
/// only when those match.
struct KeyTable {
    private var slots: [UInt64] = []           // (upper 32 hash bits << 32) | (entry index + 1); 0 = empty
    private var refs: [UInt64] = []
    private var offsets: [Int] = []
    private var lengths: [Int32] = []
    private var hashes: [UInt64] = []
    private var arena: [UInt8] = []

    var count: Int { refs.count }

    func find(_ key: UnsafeRawBufferPointer, hash h: UInt64) -> UInt64 {
        guard let e = index(of: key, hash: h) else { return 0 }
        return refs[e]
    }

    private func index(of key: UnsafeRawBufferPointer, hash h: UInt64) -> Int? {
        if slots.isEmpty { return nil }
        let mask = slots.count - 1
        let tag = h >> 32
        var i = Int(truncatingIfNeeded: h) & mask
        return slots.withUnsafeBufferPointer { sp in
            arena.withUnsafeBytes { a in
                while true {
                    let slot = sp[i]
                    if slot == 0 { return nil }
                    if slot >> 32 == tag {
                        let e = Int(truncatingIfNeeded: slot & 0xFFFF_FFFF) - 1
                        if Int(lengths[e]) == key.count
                            && (key.count == 0 || memcmp(a.baseAddress! + offsets[e], key.baseAddress!, key.count) == 0) {
                            return e
                        }
                    }
                    i = (i + 1) & mask
                }
            }
        }
    }

    mutating func set(_ key: UnsafeRawBufferPointer, hash h: UInt64, ref: UInt64, addIfMissing: Bool) {
        if let e = index(of: key, hash: h) {
            refs[e] = ref
            return
        }
        guard addIfMissing else { return }
        if (count + 1) * 2 > slots.count { grow() }
        let e = count
        hashes.append(h)
        refs.append(ref)
        offsets.append(arena.count)
        lengths.append(Int32(key.count))
        arena.append(contentsOf: key)
        place(e)
    }

    private mutating func place(_ e: Int) {
        let mask = slots.count - 1
        let h = hashes[e]
        var i = Int(truncatingIfNeeded: h) & mask
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = (h >> 32) << 32 | UInt64(e + 1)
    }

    private mutating func grow() {
        slots = [UInt64](repeating: 0, count: max(1024, slots.count * 2))
        for e in 0..<count { place(e) }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
