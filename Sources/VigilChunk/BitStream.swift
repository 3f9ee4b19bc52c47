// Bit streams shared by the chunk encodings.
//
// Bit order is LSB-first: the first bit written is bit 0 of byte 0, a value of `n` bits is written
// low bit first. A reader can therefore load 8 little-endian bytes and shift right, and a unary
// run of ones terminated by a zero is `trailingZeroBitCount` of the complement.

/// Append-only bit writer over a byte array. Every written bit is in `bytes` at once (no pending
/// accumulator), so the head's open chunk can be read or copied at any time.
/// Where the encoders write bits: a `BitWriter`, or `LocalBits` to gather one sample's bits in registers.
protocol BitSink {
    mutating func write(_ value: UInt64, _ n: Int)
}

/// Up to 192 bits gathered in three words (one sample of the xor encoding takes at most 145 after the
/// first, 128 for the first), flushed into a `BitWriter` with one to three writes instead of one per field.
struct LocalBits: BitSink {
    var w0: UInt64 = 0
    var w1: UInt64 = 0
    var w2: UInt64 = 0
    var count = 0

    @inline(__always)
    mutating func write(_ value: UInt64, _ n: Int) {
        if n == 0 { return }
        let v = n == 64 ? value : value & ((1 << UInt64(n)) &- 1)
        let off = count & 63
        switch count >> 6 {
        case 0:
            w0 |= v << UInt64(off)
            if off + n > 64 { w1 = v >> UInt64(64 - off) }
        case 1:
            w1 |= v << UInt64(off)
            if off + n > 64 { w2 = v >> UInt64(64 - off) }
        default:
            w2 |= v << UInt64(off)
        }
        count += n
    }
}

struct BitWriter: Sendable, BitSink {
    var bytes: [UInt8]
    /// Bits written so far.
    private(set) var bitCount: Int

    init(reservingBytes n: Int = 0) {
        bytes = []
        if n > 0 { bytes.reserveCapacity(n) }
        bitCount = 0
    }

    /// Continues writing after existing whole bytes (bit count = bytes.count * 8).
    init(appendingTo bytes: [UInt8]) {
        self.bytes = bytes
        self.bitCount = bytes.count * 8
    }

    /// Writes the low `n` bits of `value` (0 <= n <= 64).
    @inline(__always)
    mutating func write(_ value: UInt64, _ n: Int) {
        if n == 0 { return }
        var v = n == 64 ? value : value & ((1 << UInt64(n)) &- 1)
        var left = n
        let used = bitCount & 7
        if used != 0 {
            let room = 8 - used
            bytes[bytes.count - 1] |= UInt8(truncatingIfNeeded: v << UInt64(used))
            if left <= room {
                bitCount += left
                return
            }
            v >>= UInt64(room)
            left -= room
            bitCount += room
        }
        // The remaining bits start on a byte boundary: append their bytes in one go.
        let k = (left + 7) >> 3
        withUnsafeBytes(of: v.littleEndian) { raw in
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[0..<k]))
        }
        bitCount += left
    }

    /// Writes the bits gathered in `b` (as if each of its writes had been made here).
    @inline(__always)
    mutating func write(_ b: LocalBits) {
        let n = b.count
        write(b.w0, Swift.min(64, n))
        if n > 64 { write(b.w1, Swift.min(64, n - 64)) }
        if n > 128 { write(b.w2, n - 128) }
    }

    @inline(__always)
    mutating func writeBit(_ b: Bool) { write(b ? 1 : 0, 1) }

    /// `q` one bits followed by a zero bit.
    @inline(__always)
    mutating func writeUnary(_ q: Int) {
        var q = q
        while q >= 32 {
            write(0xFFFF_FFFF, 32)
            q -= 32
        }
        write((1 << UInt64(q)) &- 1, q + 1)
    }
}

/// Bounds-safe bit reader over raw memory. Reads past the end yield zero bits instead of touching
/// memory; callers check `overran` (or `bitPos <= bitLimit`) once after decoding and throw.
struct BitReader {
    let base: UnsafeRawPointer?
    let byteCount: Int
    /// Absolute bit position from `base`.
    var bitPos: Int
    /// Number of valid bits.
    let bitLimit: Int

    init(_ buf: UnsafeRawBufferPointer, startByte: Int) {
        base = buf.baseAddress
        byteCount = buf.count
        bitPos = startByte * 8
        bitLimit = buf.count * 8
    }

    var overran: Bool { bitPos > bitLimit }

    /// At least 57 upcoming bits, LSB-first (bits past the end read as zero).
    @inline(__always)
    func peek() -> UInt64 {
        let byte = bitPos >> 3
        let shift = UInt64(bitPos & 7)
        if byte &+ 8 <= byteCount, let p = base {
            return UInt64(littleEndian: p.loadUnaligned(fromByteOffset: byte, as: UInt64.self)) >> shift
        }
        return slowPeek(byte: byte, shift: shift)
    }

    @inline(never)
    func slowPeek(byte: Int, shift: UInt64) -> UInt64 {
        guard let p = base else { return 0 }
        var w: UInt64 = 0
        var i = 0
        while i < 8 && byte + i < byteCount {
            if byte + i >= 0 { w |= UInt64(p.load(fromByteOffset: byte + i, as: UInt8.self)) << UInt64(8 * i) }
            i += 1
        }
        return w >> shift
    }

    /// Reads `n` bits, 0 <= n <= 56.
    @inline(__always)
    mutating func read(_ n: Int) -> UInt64 {
        let w = peek() & ((1 << UInt64(n)) &- 1)
        bitPos &+= n
        return w
    }

    /// Reads `n` bits, 0 <= n <= 64.
    @inline(__always)
    mutating func readWide(_ n: Int) -> UInt64 {
        if n <= 56 { return read(n) }
        let lo = read(32)
        let hi = read(n - 32)
        return lo | (hi << 32)
    }

    @inline(__always)
    mutating func readBit() -> Bool { read(1) != 0 }

    /// Counts one bits up to the first zero (consumed), at most `max` ones (then nothing more is
    /// consumed). `max` <= 56.
    @inline(__always)
    mutating func readUnary(max: Int) -> Int {
        let w = peek()
        let ones = (~w).trailingZeroBitCount
        if ones >= max {
            bitPos &+= max
            return max
        }
        bitPos &+= ones &+ 1
        return ones
    }
}

// MARK: - byte helpers

enum Bytes {
    static func putUvarint(_ out: inout [UInt8], _ v: UInt64) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func putVarint(_ out: inout [UInt8], _ v: Int64) { putUvarint(&out, zigzag(v)) }

    @inline(__always)
    static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }

    @inline(__always)
    static func unzigzag(_ u: UInt64) -> Int64 { Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1) }

    static func uvarintSize(_ v: UInt64) -> Int {
        var n = 1
        var v = v
        while v >= 0x80 {
            v >>= 7
            n += 1
        }
        return n
    }

    static func getUvarint(_ b: UnsafeRawBufferPointer, _ pos: inout Int) throws(ChunkError) -> UInt64 {
        var x: UInt64 = 0
        var shift: UInt64 = 0
        while pos < b.count {
            let c = b[pos]
            pos += 1
            if shift > 63 || (shift == 63 && c > 1) { throw .corrupt("varint overflows 64 bits") }
            x |= UInt64(c & 0x7f) << shift
            if c < 0x80 { return x }
            shift += 7
        }
        throw .truncated
    }

    static func getVarint(_ b: UnsafeRawBufferPointer, _ pos: inout Int) throws(ChunkError) -> Int64 {
        unzigzag(try getUvarint(b, &pos))
    }

    static func getByte(_ b: UnsafeRawBufferPointer, _ pos: inout Int) throws(ChunkError) -> UInt8 {
        guard pos < b.count else { throw .truncated }
        let c = b[pos]
        pos += 1
        return c
    }

    static func putLE(_ out: inout [UInt8], _ v: UInt64) {
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }
}
