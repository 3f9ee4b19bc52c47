import VigilCore

// Contract between the codec (this module) and the store.
//
// A chunk blob is self-describing: byte 0 is the `ChunkEncoding`, then a uvarint sample count,
// then the encoding's payload. The store treats blobs as opaque and calls `ChunkCodec.decode`.
// The head keeps one `ChunkBuilder` per series (the open chunk, encoded as samples arrive);
// when it is cut, the store calls `ChunkCodec.encodeBest` on the decoded samples to seal it.

/// Encodings a sealed chunk may use. Values are persisted: never renumber.
public enum ChunkEncoding: UInt8, Sendable, CaseIterable {
    /// Uncompressed: 8-byte little-endian timestamps then 8-byte values. Always valid, never smallest.
    case raw = 0
    /// Gorilla: delta-of-delta timestamps, XOR values.
    case xor = 1
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
/// Placeholder implementation keeps raw columns; the codec step replaces the storage with a bit
/// stream (delta-of-delta + XOR) encoded as samples arrive, without changing this API.
public struct ChunkBuilder: Sendable {
    private var ts: [Int64] = []
    private var vs: [Double] = []

    public init() {}

    public var count: Int { ts.count }
    public var minTime: Int64 { ts.first ?? Int64.max }
    public var maxTime: Int64 { ts.last ?? Int64.min }
    public var lastValue: Double? { vs.last }

    /// Bytes of memory the open chunk holds (for head-memory accounting).
    public var byteCount: Int { ts.capacity * 8 + vs.capacity * 8 }

    public mutating func append(_ t: Int64, _ v: Double) {
        precondition(ts.isEmpty || t > ts[ts.count - 1], "BUG: ChunkBuilder.append out of order")
        ts.append(t)
        vs.append(v)
    }

    /// Decodes the open chunk's samples with mint <= t <= maxt into the columns.
    public func read(mint: Int64 = .min, maxt: Int64 = .max, into timestamps: inout [Int64], _ values: inout [Double]) {
        for i in ts.indices where ts[i] >= mint && ts[i] <= maxt {
            timestamps.append(ts[i])
            values.append(vs[i])
        }
    }

    /// The open chunk as a self-describing blob (as `ChunkCodec.decode` reads it).
    public func encoded() -> [UInt8] { ChunkCodec.encode(.raw, timestamps: ts[...], values: vs[...]) }
}

public enum ChunkCodec {
    /// Encodes with every encoding and keeps the smallest (lossless; ties go to the lower raw value).
    public static func encodeBest(timestamps: ArraySlice<Int64>, values: ArraySlice<Double>) -> [UInt8] {
        var best: [UInt8]? = nil
        for e in ChunkEncoding.allCases {
            let b = encode(e, timestamps: timestamps, values: values)
            if best == nil || b.count < best!.count { best = b }
        }
        return best!
    }

    public static func encode(_ encoding: ChunkEncoding, timestamps: ArraySlice<Int64>, values: ArraySlice<Double>) -> [UInt8] {
        precondition(timestamps.count == values.count, "BUG: column lengths differ")
        var out: [UInt8] = [encoding.rawValue]
        putUvarint(&out, UInt64(timestamps.count))
        switch encoding {
        case .raw, .xor: // .xor lands with the codec step; until then it writes raw payloads under .raw
            out[0] = ChunkEncoding.raw.rawValue
            out.reserveCapacity(out.count + timestamps.count * 16)
            for t in timestamps { putLE(&out, UInt64(bitPattern: t)) }
            for v in values { putLE(&out, v.bitPattern) }
        }
        return out
    }

    /// Number of samples in a blob without decoding it.
    public static func sampleCount(_ blob: [UInt8]) throws(ChunkError) -> Int {
        guard blob.count >= 2 else { throw .truncated }
        var pos = 1
        return Int(try getUvarint(blob, &pos))
    }

    /// Appends the blob's samples to the columns (all of them; the caller trims to its range).
    public static func decode(_ blob: [UInt8], into timestamps: inout [Int64], _ values: inout [Double]) throws(ChunkError) {
        guard let first = blob.first else { throw .truncated }
        guard let enc = ChunkEncoding(rawValue: first) else { throw .unknownEncoding(first) }
        var pos = 1
        let n = Int(try getUvarint(blob, &pos))
        switch enc {
        case .raw, .xor:
            guard blob.count - pos >= n * 16 else { throw .truncated }
            timestamps.reserveCapacity(timestamps.count + n)
            values.reserveCapacity(values.count + n)
            for i in 0..<n { timestamps.append(Int64(bitPattern: getLE(blob, pos + 8 * i))) }
            for i in 0..<n { values.append(Double(bitPattern: getLE(blob, pos + 8 * (n + i)))) }
        }
    }

    // MARK: - helpers

    static func putUvarint(_ out: inout [UInt8], _ v: UInt64) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func getUvarint(_ b: [UInt8], _ pos: inout Int) throws(ChunkError) -> UInt64 {
        var x: UInt64 = 0
        var shift: UInt64 = 0
        while pos < b.count {
            let c = b[pos]
            pos += 1
            if shift >= 64 { throw .corrupt("varint overflow") }
            x |= UInt64(c & 0x7f) << shift
            if c < 0x80 { return x }
            shift += 7
        }
        throw .truncated
    }

    static func putLE(_ out: inout [UInt8], _ v: UInt64) {
        for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    static func getLE(_ b: [UInt8], _ pos: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(b[pos + i]) << (8 * UInt64(i)) }
        return v
    }
}
