// Encoding 1 (`.xor`): Gorilla. Timestamps as delta-of-delta in prefix-coded buckets, values as
// the XOR with the previous value (leading/trailing zero windows). See docs/chunk-format.md.
//
// All timestamp arithmetic wraps (mod 2^64), so any Int64 sequence round-trips, in order or not.

/// Streaming Gorilla encoder state: appends samples to a bit stream. Used by the head's open chunk
/// (`ChunkBuilder`) and by `ChunkCodec.encode(.xor, ...)`, which therefore produce identical bits.
/// 30 bytes: the head keeps one per series (the first timestamp is not kept: it is the stream's first 64 bits,
/// `ChunkBuilder.minTime` reads it there).
struct XOREncoderState: Sendable {
    var lastT: Int64 = 0
    var lastDelta: Int64 = 0
    var lastBits: UInt64 = 0
    private var n: UInt32 = 0
    /// Current window; leading == 0xFF means no window yet.
    var leading: UInt8 = 0xFF
    var trailing: UInt8 = 0

    /// Samples appended (a chunk holds far fewer than 2³²; `append` traps past that).
    var count: Int {
        @inline(__always) get { Int(n) }
        @inline(__always) set { n = UInt32(newValue) }
    }

    @inline(__always)
    mutating func append<W: BitSink>(_ t: Int64, _ v: Double, to w: inout W) {
        let bits = v.bitPattern
        if count == 0 {
            w.write(UInt64(bitPattern: t), 64)
            w.write(bits, 64)
        } else {
            let delta = t &- lastT
            let dod = delta &- lastDelta
            XOREncoderState.writeDod(dod, &w)
            lastDelta = delta
            writeValue(bits, &w)
        }
        lastT = t
        lastBits = bits
        count += 1
    }

    @inline(__always)
    static func writeDod<W: BitSink>(_ dod: Int64, _ w: inout W) {
        if dod == 0 {
            w.write(0, 1)  // '0'
        } else if dod >= -8192 && dod <= 8191 {
            w.write(0b01, 2)  // '10'
            w.write(UInt64(bitPattern: dod), 14)
        } else if dod >= -65536 && dod <= 65535 {
            w.write(0b011, 3)  // '110'
            w.write(UInt64(bitPattern: dod), 17)
        } else if dod >= -524288 && dod <= 524287 {
            w.write(0b0111, 4)  // '1110'
            w.write(UInt64(bitPattern: dod), 20)
        } else {
            w.write(0b1111, 4)  // '1111'
            w.write(UInt64(bitPattern: dod), 64)
        }
    }

    @inline(__always)
    mutating func writeValue<W: BitSink>(_ bits: UInt64, _ w: inout W) {
        let x = bits ^ lastBits
        if x == 0 {
            w.write(0, 1)  // '0'
            return
        }
        var lead = UInt8(x.leadingZeroBitCount)
        let trail = UInt8(x.trailingZeroBitCount)
        if lead > 31 { lead = 31 }
        if leading != 0xFF && lead >= leading && trail >= trailing {
            w.write(0b01, 2)  // '10': reuse the window
            let sig = 64 - Int(leading) - Int(trailing)
            w.write(x >> UInt64(trailing), sig)
        } else {
            let sig = 64 - Int(lead) - Int(trail)
            w.write(0b11, 2)  // '11': new window
            w.write(UInt64(lead), 5)
            w.write(UInt64(sig & 63), 6)  // 64 is stored as 0
            w.write(x >> UInt64(trail), sig)
            leading = lead
            trailing = trail
        }
    }
}

enum XORCodec {
    static func encodePayload(_ timestamps: ArraySlice<Int64>, _ values: ArraySlice<Double>, into out: inout [UInt8]) {
        var w = BitWriter(appendingTo: out)
        w.bytes.reserveCapacity(out.count + 16 + timestamps.count * 4)
        var st = XOREncoderState()
        var ti = timestamps.startIndex
        for v in values {
            st.append(timestamps[ti], v, to: &w)
            ti += 1
        }
        out = w.bytes
    }

    /// Decodes `n` samples from the bit stream starting at byte `start` of `buf` (which must end
    /// exactly where the stream ends) into the two output buffers.
    static func decode(
        _ buf: UnsafeRawBufferPointer, start: Int, n: Int,
        _ ts: UnsafeMutablePointer<Int64>, _ vs: UnsafeMutablePointer<Double>
    ) throws(ChunkError) {
        if n == 0 {
            guard start == buf.count else { throw .corrupt("\(buf.count - start) bytes after an empty xor chunk") }
            return
        }
        var r = BitReader(buf, startByte: start)
        var t = Int64(bitPattern: r.readWide(64))
        var bits = r.readWide(64)
        ts[0] = t
        vs[0] = Double(bitPattern: bits)
        var delta: Int64 = 0
        var leading = 0
        var trailing = 0
        var haveWindow = false
        var i = 1
        while i < n {
            // timestamp: '0' | '10'+14 | '110'+17 | '1110'+20 | '1111'+64
            let ones = r.readUnary(max: 4)
            var dod: Int64
            switch ones {
            case 0: dod = 0
            case 1: dod = signExtend(r.read(14), 14)
            case 2: dod = signExtend(r.read(17), 17)
            case 3: dod = signExtend(r.read(20), 20)
            default: dod = Int64(bitPattern: r.readWide(64))
            }
            delta &+= dod
            t &+= delta
            ts[i] = t
            // value: '0' | '10' + window bits | '11' + 5 lead + 6 sig + bits
            if r.readBit() {
                if r.readBit() {
                    leading = Int(r.read(5))
                    var sig = Int(r.read(6))
                    if sig == 0 { sig = 64 }
                    trailing = 64 - leading - sig
                    if trailing < 0 { throw .corrupt("xor window leading \(leading) + bits \(sig) > 64 at sample \(i)") }
                    haveWindow = true
                } else if !haveWindow {
                    throw .corrupt("xor value reuses a window before one was set at sample \(i)")
                }
                let sig = 64 - leading - trailing
                bits ^= r.readWide(sig) << UInt64(trailing)
            }
            vs[i] = Double(bitPattern: bits)
            if r.overran { throw .truncated }
            i += 1
        }
        if r.overran { throw .truncated }
        if (r.bitPos + 7) >> 3 != buf.count { throw .corrupt("\(buf.count - ((r.bitPos + 7) >> 3)) unused bytes after the xor stream") }
    }

    @inline(__always)
    static func signExtend(_ v: UInt64, _ n: Int) -> Int64 {
        let s = UInt64(64 - n)
        return Int64(bitPattern: v << s) >> Int64(s)
    }
}

// MARK: - pieces reused by the column encodings and by encodeBest's size estimates

extension XORCodec {
    /// Exact bit count of the xor encoding's timestamp codes (the 64-bit t0 included).
    static func timestampBits(_ ts: UnsafeBufferPointer<Int64>) -> Int {
        if ts.isEmpty { return 0 }
        var bits = 64
        var lastDelta: Int64 = 0
        for i in 1..<ts.count {
            let delta = ts[i] &- ts[i - 1]
            let dod = delta &- lastDelta
            lastDelta = delta
            if dod == 0 { bits += 1 }
            else if dod >= -8192 && dod <= 8191 { bits += 16 }
            else if dod >= -65536 && dod <= 65535 { bits += 20 }
            else if dod >= -524288 && dod <= 524287 { bits += 24 }
            else { bits += 68 }
        }
        return bits
    }

    /// Exact bit count of the Gorilla value codes (the 64-bit v0 included).
    static func valueBits(_ vs: UnsafeBufferPointer<Double>) -> Int {
        if vs.isEmpty { return 0 }
        var bits = 64
        var last = vs[0].bitPattern
        var leading = 0xFF
        var trailing = 0
        for i in 1..<vs.count {
            let b = vs[i].bitPattern
            let x = b ^ last
            last = b
            if x == 0 {
                bits += 1
                continue
            }
            let lead = min(x.leadingZeroBitCount, 31)
            let trail = x.trailingZeroBitCount
            if leading != 0xFF && lead >= leading && trail >= trailing {
                bits += 2 + 64 - leading - trailing
            } else {
                bits += 13 + 64 - lead - trail
                leading = lead
                trailing = trail
            }
        }
        return bits
    }

    /// Writes the Gorilla value codes (v0 raw, then XOR codes) of a values column.
    static func writeValues(_ vs: UnsafeBufferPointer<Double>, _ w: inout BitWriter) {
        if vs.isEmpty { return }
        var st = XOREncoderState()
        w.write(vs[0].bitPattern, 64)
        st.lastBits = vs[0].bitPattern
        for i in 1..<vs.count {
            let b = vs[i].bitPattern
            st.writeValue(b, &w)
            st.lastBits = b
        }
    }

    /// Reads a values column written by `writeValues`.
    static func readValues(n: Int, _ r: inout BitReader, _ vs: UnsafeMutablePointer<Double>) throws(ChunkError) {
        if n == 0 { return }
        var bits = r.readWide(64)
        vs[0] = Double(bitPattern: bits)
        var leading = 0
        var trailing = 0
        var haveWindow = false
        var i = 1
        while i < n {
            let w = r.peek()
            if w & 1 != 0 {
                if w & 2 != 0 {
                    leading = Int((w >> 2) & 31)
                    var sig = Int((w >> 7) & 63)
                    if sig == 0 { sig = 64 }
                    trailing = 64 - leading - sig
                    if trailing < 0 { throw .corrupt("xor window leading \(leading) + bits \(sig) > 64 at sample \(i)") }
                    haveWindow = true
                    r.bitPos &+= 13
                } else {
                    if !haveWindow { throw .corrupt("xor value reuses a window before one was set at sample \(i)") }
                    r.bitPos &+= 2
                }
                let sig = 64 &- leading &- trailing
                bits ^= r.readWide(sig) << UInt64(trailing)
            } else {
                r.bitPos &+= 1
            }
            vs[i] = Double(bitPattern: bits)
            i &+= 1
        }
        if r.overran { throw .truncated }
    }
}
