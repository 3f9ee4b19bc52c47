import VigilCore

// Little helpers for the on-disk byte layouts (WAL records, labels blobs, postings blobs).
// Encoders append to a caller's buffer; `ByteReader` never traps on short or bad input.

@inline(__always) func putUvarint(_ out: inout [UInt8], _ v: UInt64) {
    var v = v
    while v >= 0x80 {
        out.append(UInt8(truncatingIfNeeded: v) | 0x80)
        v >>= 7
    }
    out.append(UInt8(v))
}

@inline(__always) func putVarint(_ out: inout [UInt8], _ v: Int64) {
    putUvarint(&out, UInt64(bitPattern: (v << 1) ^ (v >> 63)))
}

@inline(__always) func putU32LE(_ out: inout [UInt8], _ v: UInt32) {
    out.append(UInt8(truncatingIfNeeded: v))
    out.append(UInt8(truncatingIfNeeded: v >> 8))
    out.append(UInt8(truncatingIfNeeded: v >> 16))
    out.append(UInt8(truncatingIfNeeded: v >> 24))
}

@inline(__always) func putU64LE(_ out: inout [UInt8], _ v: UInt64) {
    withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
}

func putString(_ out: inout [UInt8], _ s: String) {
    var s = s
    s.withUTF8 { u in
        putUvarint(&out, UInt64(u.count))
        out.append(contentsOf: u)
    }
}

/// Labels as bytes: uvarint count, then per label uvarint-length-prefixed name and value (UTF-8).
func encodeLabels(_ labels: Labels, into out: inout [UInt8]) {
    putUvarint(&out, UInt64(labels.count))
    for l in labels {
        putString(&out, l.name)
        putString(&out, l.value)
    }
}

func encodeLabels(_ labels: Labels) -> [UInt8] {
    var out: [UInt8] = []
    encodeLabels(labels, into: &out)
    return out
}

struct DecodeError: Error, CustomStringConvertible {
    let reason: String
    let offset: Int
    var description: String { "\(reason) at byte \(offset)" }
}

/// Bounds-checked reader over a byte buffer.
struct ByteReader {
    let buf: UnsafeRawBufferPointer
    var pos: Int

    init(_ buf: UnsafeRawBufferPointer, pos: Int = 0) {
        self.buf = buf
        self.pos = pos
    }

    var remaining: Int { buf.count - pos }
    var isAtEnd: Bool { pos >= buf.count }

    mutating func uvarint() throws(DecodeError) -> UInt64 {
        var x: UInt64 = 0
        var shift: UInt64 = 0
        let start = pos
        while pos < buf.count {
            let c = buf[pos]
            pos += 1
            if shift > 63 || (shift == 63 && c > 1) { throw DecodeError(reason: "varint overflow", offset: start) }
            x |= UInt64(c & 0x7F) << shift
            if c < 0x80 { return x }
            shift += 7
        }
        throw DecodeError(reason: "truncated varint", offset: start)
    }

    mutating func varint() throws(DecodeError) -> Int64 {
        let u = try uvarint()
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }

    /// A uvarint that must fit a non-negative Int no larger than `limit`.
    mutating func count(limit: Int) throws(DecodeError) -> Int {
        let start = pos
        let u = try uvarint()
        guard u <= UInt64(limit) else { throw DecodeError(reason: "count \(u) exceeds \(limit)", offset: start) }
        return Int(u)
    }

    mutating func u64() throws(DecodeError) -> UInt64 {
        guard remaining >= 8 else { throw DecodeError(reason: "truncated u64", offset: pos) }
        let v = UInt64(littleEndian: buf.loadUnaligned(fromByteOffset: pos, as: UInt64.self))
        pos += 8
        return v
    }

    mutating func string() throws(DecodeError) -> String {
        let start = pos
        let n = try count(limit: Int.max)
        // Checked after the length's own varint was read (a limit of `remaining` taken before it let a length
        // point past the end and trap in the slice: found by the `wal` fuzz target).
        guard n <= remaining else { throw DecodeError(reason: "string of \(n) bytes, \(remaining) left", offset: start) }
        let s = String(validating: UnsafeRawBufferPointer(rebasing: buf[pos..<pos + n]), as: UTF8.self)
        guard let s else { throw DecodeError(reason: "invalid UTF-8 in string", offset: start) }
        pos += n
        return s
    }

    mutating func labels() throws(DecodeError) -> Labels {
        let start = pos
        let n = try count(limit: remaining / 2)
        var ls: [Label] = []
        ls.reserveCapacity(n)
        for _ in 0..<n {
            let name = try string()
            let value = try string()
            ls.append(Label(name, value))
        }
        let labels = Labels(ls)
        do { try labels.validate() } catch {
            throw DecodeError(reason: "invalid labels: \(error)", offset: start)
        }
        return labels
    }
}

func decodeLabels(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> Labels {
    var r = ByteReader(bytes)
    let l = try r.labels()
    guard r.isAtEnd else { throw DecodeError(reason: "trailing bytes after labels", offset: r.pos) }
    return l
}

/// Floor division (chunk-range boundaries for negative timestamps too).
@inline(__always) func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

/// In-memory hash of a label set for the head's series map (not persisted, so it may change
/// between versions). Reads the UTF-8 bytes eight at a time; Labels.stableHash goes byte by byte and
/// was the biggest single cost of an append.
@inline(__always)
func seriesHash(_ labels: Labels) -> UInt64 {
    var h: UInt64 = 0x243F_6A88_85A3_08D3
    labels.labels.withUnsafeBufferPointer { ls in
        for i in 0..<ls.count {
            h = hashString(ls[i].name.utf8, h)
            h = hashString(ls[i].value.utf8, h)
        }
    }
    return h
}

@inline(__always)
private func mix(_ h: UInt64, _ w: UInt64) -> UInt64 {
    var h = (h ^ w) &* 0x9E37_79B9_7F4A_7C15
    h ^= h >> 29
    return h
}

@inline(__always)
private func hashString(_ s: String.UTF8View, _ seed: UInt64) -> UInt64 {
    // Both paths mix the same words: full little-endian 8-byte words, then the tail with the length.
    if let r = s.withContiguousStorageIfAvailable({ b -> UInt64 in
        let raw = UnsafeRawBufferPointer(b)
        var h = seed
        var k = 0
        while raw.count - k >= 8 {
            h = mix(h, UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: k, as: UInt64.self)))
            k += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while k < raw.count {
            tail |= UInt64(raw[k]) << shift
            shift += 8
            k += 1
        }
        return mix(h, tail ^ (UInt64(raw.count) << 56) ^ 0xFF)
    }) {
        return r
    }
    var h = seed
    var tail: UInt64 = 0
    var n: UInt64 = 0
    for b in s {
        tail |= UInt64(b) << ((n % 8) * 8)
        n += 1
        if n % 8 == 0 {
            h = mix(h, tail)
            tail = 0
        }
    }
    return mix(h, tail ^ (n << 56) ^ 0xFF)
}
