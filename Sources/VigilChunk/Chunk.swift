import VigilCore

// Contract between the codec (this module) and the store.
//
// A chunk blob is self-describing: byte 0 is the `ChunkEncoding`, then a uvarint sample count,
// then the encoding's payload (docs/chunk-format.md has the byte layouts). The store treats blobs
// as opaque and calls `ChunkCodec.decode`. The head keeps one `ChunkBuilder` per series (the open
// chunk, a Gorilla bit stream written as samples arrive); when it is cut, the store calls
// `ChunkCodec.encodeBest` on the decoded samples to seal it.

/// Encodings a sealed chunk may use. Values are persisted: never renumber.
public enum ChunkEncoding: UInt8, Sendable, CaseIterable {
    /// Uncompressed: 8-byte little-endian timestamps then 8-byte values. Always valid, never smallest.
    case raw = 0
    /// Gorilla: delta-of-delta timestamps, XOR values. Any input; the head's open chunk format.
    case xor = 1
    /// Columns: timestamps and values as Rice-coded integer columns (order 0/1/2 differences, base,
    /// common divisor); values must be integers or short decimals (v == Double(m) / 10^e exactly).
    /// Falls back to `.columnsXor` for other values.
    case decimal = 2
    /// Columns: timestamps as an integer column, values as Gorilla XOR codes. Any input.
    case columnsXor = 3
}

public enum ChunkError: Error, Sendable, Equatable, CustomStringConvertible {
    case truncated
    case unknownEncoding(UInt8)
    case corrupt(String)

    public var description: String {
        switch self {
        case .truncated: return "chunk is truncated"
        case .unknownEncoding(let e): return "unknown chunk encoding \(e)"
        case .corrupt(let why): return "corrupt chunk: \(why)"
        }
    }
}

/// The head's open chunk: append-only, samples in strictly increasing time order (the caller checks).
///
/// Storage is the `.xor` bit stream itself, written bit by bit as samples arrive (typically
/// 1-2 bytes per sample for regular timestamps), plus a few words of encoder state.
public struct ChunkBuilder: Sendable {
    private var w = BitWriter()
    private var st = XOREncoderState()

    public init() {}

    public var count: Int { st.count }
    public var minTime: Int64 { st.count == 0 ? Int64.max : t0 }

    /// The first sample's timestamp: the stream's first 64 bits (little-endian), written by the first append.
    @inline(__always)
    private var t0: Int64 {
        w.bytes.withUnsafeBytes { Int64(bitPattern: UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
    }
    public var maxTime: Int64 { st.count == 0 ? Int64.min : st.lastT }
    public var lastValue: Double? { st.count == 0 ? nil : Double(bitPattern: st.lastBits) }

    /// Bytes of memory the open chunk holds (for head-memory accounting): this struct, the bit
    /// stream's capacity and its heap header.
    public var byteCount: Int {
        MemoryLayout<ChunkBuilder>.size + (w.bytes.capacity > 0 ? w.bytes.capacity + 32 : 0)
    }

    public mutating func append(_ t: Int64, _ v: Double) {
        precondition(st.count == 0 || t > st.lastT, "BUG: ChunkBuilder.append out of order")
        // 32 bytes (40 after malloc's rounding) hold the first two samples (16 bytes, then at most 13);
        // a longer chunk grows the array by doubling.
        if st.count == 0 { w.bytes.reserveCapacity(32) }
        // Gather the sample's fields in registers, then touch the byte array once or twice.
        var b = LocalBits()
        st.append(t, v, to: &b)
        w.write(b)
    }

    /// `append`, returning where the next one will write: the bit stream's storage (its heap header
    /// holds the count) and its last byte, for a caller that prefetches them before the next append.
    /// The addresses are hints only and go stale when the stream grows.
    @inline(__always)
    public mutating func appendReturningTail(_ t: Int64, _ v: Double) -> (UnsafeRawPointer, UnsafeRawPointer) {
        append(t, v)
        let base = w.bytes.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress!) }
        return (base - 16, base + max(0, (w.bitCount - 1) >> 3))
    }

    /// Where the next `append` will write: the bit stream's storage (its heap header holds the count)
    /// and its last byte, for a caller that prefetches them; nil before the first sample. Hints only.
    @inline(__always)
    public var tailAddresses: (UnsafeRawPointer, UnsafeRawPointer)? {
        if st.count == 0 { return nil }
        let base = w.bytes.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress!) }
        return (base - 16, base + max(0, (w.bitCount - 1) >> 3))
    }

    /// Decodes the open chunk's samples with mint <= t <= maxt into the columns.
    public func read(mint: Int64 = .min, maxt: Int64 = .max, into timestamps: inout [Int64], _ values: inout [Double]) {
        let n = st.count
        if n == 0 || mint > st.lastT || maxt < t0 { return }
        if mint <= t0 && maxt >= st.lastT {
            try? ChunkCodec.appendDecoded(n, &timestamps, &values) { (tp, vp) throws(ChunkError) in
                try withBytes(w.bytes) { (b) throws(ChunkError) in try XORCodec.decode(b, start: 0, n: n, tp, vp) }
            }
            return
        }
        var ts: [Int64] = []
        var vs: [Double] = []
        try? ChunkCodec.appendDecoded(n, &ts, &vs) { (tp, vp) throws(ChunkError) in
            try withBytes(w.bytes) { (b) throws(ChunkError) in try XORCodec.decode(b, start: 0, n: n, tp, vp) }
        }
        for i in ts.indices where ts[i] >= mint && ts[i] <= maxt {
            timestamps.append(ts[i])
            values.append(vs[i])
        }
    }

    /// The open chunk as a self-describing `.xor` blob (as `ChunkCodec.decode` reads it).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [ChunkEncoding.xor.rawValue]
        out.reserveCapacity(w.bytes.count + 4)
        Bytes.putUvarint(&out, UInt64(st.count))
        out.append(contentsOf: w.bytes)
        return out
    }
}

public enum ChunkCodec {
    /// Most samples a blob may claim (decode rejects more; chunks hold ~120).
    public static let maxSamples = 1 << 20

    /// Encodes with every encoding and keeps the smallest (lossless; ties go to the lower raw value).
    /// Sizes are computed exactly without encoding; only the winner is written.
    public static func encodeBest(timestamps: ArraySlice<Int64>, values: ArraySlice<Double>) -> [UInt8] {
        precondition(timestamps.count == values.count, "BUG: column lengths differ")
        let n = timestamps.count
        let head = 1 + Bytes.uvarintSize(UInt64(n))
        if n == 0 || n > maxSamples { return encode(n == 0 ? .raw : .xor, timestamps: timestamps, values: values) }
        return timestamps.withUnsafeBufferPointer { ts in
            values.withUnsafeBufferPointer { vs in
                withScratch(n) { m, scratch in
                    let tsPlan = IntColumn.plan(ts, scratch: scratch)
                    let vBits = XORCodec.valueBits(vs)
                    var bestEnc = ChunkEncoding.raw
                    var bestSize = head + 16 * n
                    func consider(_ e: ChunkEncoding, _ size: Int) {
                        if size < bestSize || (size == bestSize && e.rawValue < bestEnc.rawValue) {
                            bestSize = size
                            bestEnc = e
                        }
                    }
                    consider(.xor, head + (XORCodec.timestampBits(ts) + vBits + 7) / 8)
                    let dec = ColumnCodecs.planDecimal(ts, tsPlan: tsPlan, vs, m: m, scratch: scratch)
                    if let dec { consider(.decimal, dec.size) }
                    consider(.columnsXor, ColumnCodecs.columnsXorSize(n, tsPlan: tsPlan, valueBits: vBits))
                    var out: [UInt8] = [bestEnc.rawValue]
                    Bytes.putUvarint(&out, UInt64(n))
                    switch bestEnc {
                    case .raw: writeRaw(timestamps, values, &out)
                    case .xor: XORCodec.encodePayload(timestamps, values, into: &out)
                    case .decimal: ColumnCodecs.writeDecimal(ts, m: UnsafeBufferPointer(m), dec!, into: &out)
                    case .columnsXor: ColumnCodecs.writeColumnsXor(ts, vs, tsPlan: tsPlan, into: &out)
                    }
                    return out
                }
            }
        }
    }

    /// Encodes with one encoding. Byte 0 of the result names the encoding actually used: an
    /// encoding that cannot represent the samples (`.decimal` for values that are not short
    /// decimals) falls back to `.columnsXor`, and chunks of more than `maxSamples` to `.xor`.
    public static func encode(_ encoding: ChunkEncoding, timestamps: ArraySlice<Int64>, values: ArraySlice<Double>) -> [UInt8] {
        precondition(timestamps.count == values.count, "BUG: column lengths differ")
        let n = timestamps.count
        var enc = encoding
        if n > maxSamples && enc != .raw { enc = .xor }
        var out: [UInt8] = [enc.rawValue]
        Bytes.putUvarint(&out, UInt64(n))
        switch enc {
        case .raw:
            writeRaw(timestamps, values, &out)
        case .xor:
            XORCodec.encodePayload(timestamps, values, into: &out)
        case .decimal, .columnsXor:
            if n == 0 { return out }
            timestamps.withUnsafeBufferPointer { ts in
                values.withUnsafeBufferPointer { vs in
                    withScratch(n) { m, scratch in
                        let tsPlan = IntColumn.plan(ts, scratch: scratch)
                        if enc == .decimal, let dec = ColumnCodecs.planDecimal(ts, tsPlan: tsPlan, vs, m: m, scratch: scratch) {
                            ColumnCodecs.writeDecimal(ts, m: UnsafeBufferPointer(m), dec, into: &out)
                        } else {
                            out[0] = ChunkEncoding.columnsXor.rawValue
                            ColumnCodecs.writeColumnsXor(ts, vs, tsPlan: tsPlan, into: &out)
                        }
                    }
                }
            }
        }
        return out
    }

    static func writeRaw(_ timestamps: ArraySlice<Int64>, _ values: ArraySlice<Double>, _ out: inout [UInt8]) {
        out.reserveCapacity(out.count + timestamps.count * 16)
        for t in timestamps { Bytes.putLE(&out, UInt64(bitPattern: t)) }
        for v in values { Bytes.putLE(&out, v.bitPattern) }
    }

    /// Two scratch buffers of n Int64s (on the stack for chunk-sized n).
    @inline(__always)
    static func withScratch<R>(_ n: Int, _ body: (UnsafeMutableBufferPointer<Int64>, UnsafeMutableBufferPointer<Int64>) -> R) -> R {
        withUnsafeTemporaryAllocation(of: Int64.self, capacity: 2 * max(n, 1)) { buf in
            buf.initialize(repeating: 0)
            let a = UnsafeMutableBufferPointer(rebasing: buf[0..<n])
            let b = UnsafeMutableBufferPointer(rebasing: buf[n..<2 * n])
            return body(a, b)
        }
    }

    /// Number of samples in a blob without decoding it.
    public static func sampleCount(_ blob: [UInt8]) throws(ChunkError) -> Int {
        try withBytes(blob) { (b) throws(ChunkError) in try sampleCount(b) }
    }

    /// Number of samples in a blob without decoding it.
    public static func sampleCount(_ blob: UnsafeRawBufferPointer) throws(ChunkError) -> Int {
        guard blob.count >= 2 else { throw .truncated }
        var pos = 1
        let n = try Bytes.getUvarint(blob, &pos)
        guard n <= UInt64(maxSamples) else { throw .corrupt("sample count \(n) exceeds \(maxSamples)") }
        return Int(n)
    }

    /// Appends the blob's samples to the columns (all of them; the caller trims to its range).
    /// On error the columns are left as they were.
    public static func decode(_ blob: [UInt8], into timestamps: inout [Int64], _ values: inout [Double]) throws(ChunkError) {
        try withBytes(blob) { (b) throws(ChunkError) in try decode(b, into: &timestamps, &values) }
    }

    /// Appends the samples of a blob in raw memory (e.g. an SQLite blob column) to the columns.
    /// On error the columns are left as they were.
    public static func decode(_ blob: UnsafeRawBufferPointer, into timestamps: inout [Int64], _ values: inout [Double]) throws(ChunkError) {
        guard blob.count >= 1 else { throw .truncated }
        let first = blob[0]
        guard let enc = ChunkEncoding(rawValue: first) else { throw .unknownEncoding(first) }
        var pos = 1
        let n64 = try Bytes.getUvarint(blob, &pos)
        guard n64 <= UInt64(maxSamples) else { throw .corrupt("sample count \(n64) exceeds \(maxSamples)") }
        let n = Int(n64)
        let payload = blob.count - pos
        switch enc {
        case .raw:
            guard payload >= n * 16 else { throw .truncated }
            guard payload == n * 16 else { throw .corrupt("\(payload - n * 16) unused bytes after raw samples") }
            let start = pos
            try appendDecoded(n, &timestamps, &values) { (tp, vp) throws(ChunkError) in
                for i in 0..<n {
                    tp[i] = Int64(littleEndian: blob.loadUnaligned(fromByteOffset: start + 8 * i, as: Int64.self))
                    vp[i] = Double(bitPattern: UInt64(littleEndian: blob.loadUnaligned(fromByteOffset: start + 8 * (n + i), as: UInt64.self)))
                }
            }
        case .xor:
            // The first sample takes 128 bits, every further one at least 2.
            guard n <= 1 || payload >= 16 else { throw .truncated }
            guard n <= 1 || (n - 1) <= (payload - 16) * 4 else { throw .truncated }
            let start = pos
            try appendDecoded(n, &timestamps, &values) { (tp, vp) throws(ChunkError) in
                try XORCodec.decode(blob, start: start, n: n, tp, vp)
            }
        case .decimal:
            let start = pos
            try appendDecoded(n, &timestamps, &values) { (tp, vp) throws(ChunkError) in
                try ColumnCodecs.decodeDecimal(blob, start: start, n: n, tp, vp)
            }
        case .columnsXor:
            // Values take at least one bit per sample after the first 64.
            guard n <= 1 || (n - 1) <= payload * 8 else { throw .truncated }
            let start = pos
            try appendDecoded(n, &timestamps, &values) { (tp, vp) throws(ChunkError) in
                try ColumnCodecs.decodeColumnsXor(blob, start: start, n: n, tp, vp)
            }
        }
    }

    /// Grows both columns by `n`, lets `body` fill the new slots, and undoes the growth if it throws.
    @inline(__always)
    static func appendDecoded(
        _ n: Int, _ timestamps: inout [Int64], _ values: inout [Double],
        _ body: (UnsafeMutablePointer<Int64>, UnsafeMutablePointer<Double>) throws(ChunkError) -> Void
    ) throws(ChunkError) {
        if n == 0 {
            try body(UnsafeMutablePointer<Int64>(bitPattern: 8)!, UnsafeMutablePointer<Double>(bitPattern: 8)!)
            return
        }
        let t0 = timestamps.count
        let v0 = values.count
        timestamps.append(contentsOf: repeatElement(0, count: n))
        values.append(contentsOf: repeatElement(0, count: n))
        let r: Result<Void, ChunkError> = timestamps.withUnsafeMutableBufferPointer { tb in
            values.withUnsafeMutableBufferPointer { vb in
                Result { () throws(ChunkError) in try body(tb.baseAddress! + t0, vb.baseAddress! + v0) }
            }
        }
        if case .failure(let e) = r {
            timestamps.removeSubrange(t0...)
            values.removeSubrange(v0...)
            throw e
        }
    }
}

/// `Array.withUnsafeBytes` with a typed error.
@inline(__always)
func withBytes<R>(_ a: [UInt8], _ body: (UnsafeRawBufferPointer) throws(ChunkError) -> R) throws(ChunkError) -> R {
    let r: Result<R, ChunkError> = a.withUnsafeBytes { b in Result { () throws(ChunkError) in try body(b) } }
    return try r.get()
}
