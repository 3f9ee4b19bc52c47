// Encodings 2 (`.decimal`) and 3 (`.columnsXor`): columnar chunks. Timestamps are an integer
// column (regular timestamps cost nothing per sample); values are either integers / short
// decimals turned into an integer column (`.decimal`) or Gorilla XOR codes (`.columnsXor`).
// See docs/chunk-format.md.

/// Exact powers of ten as doubles (10^0 ... 10^22 are exactly representable).
let powersOfTen: [Double] = (0...22).map { e in
    var p = 1.0
    for _ in 0..<e { p *= 10 }
    return p
}

enum ColumnCodecs {
    /// Largest decimal exponent tried: v = m / 10^e.
    static let maxExponent = 18

    /// Finds the smallest e such that every value is exactly Double(m) / 10^e for an Int64 m, and
    /// writes the m's. nil when there is none (NaN, ±Inf, -0.0, too many digits...).
    static func decimalExponent(_ vs: UnsafeBufferPointer<Double>, into m: UnsafeMutablePointer<Int64>) -> Int? {
        if vs.isEmpty { return 0 }
        var e = 0
        outer: while e <= maxExponent {
            let p = powersOfTen[e]
            for i in 0..<vs.count {
                let v = vs[i]
                let s = (v * p).rounded()
                guard s.magnitude < 9.2e18 else { return nil }  // also rejects NaN and ±Inf
                let mi = Int64(s)
                let back = e == 0 ? Double(mi) : Double(mi) / p
                if back.bitPattern != v.bitPattern {
                    // -0.0 and values with more digits than e: try more digits, unless hopeless.
                    if v == 0 || e == maxExponent { return nil }
                    e += 1
                    continue outer
                }
                m[i] = mi
            }
            return e
        }
        return nil
    }

    struct DecimalPlan {
        var exponent: Int
        var ts: IntColumnPlan
        var vs: IntColumnPlan
        var size: Int
    }

    static func headerSize(_ n: Int) -> Int { 1 + Bytes.uvarintSize(UInt64(n)) }

    static func planDecimal(
        _ ts: UnsafeBufferPointer<Int64>, tsPlan: IntColumnPlan, _ vs: UnsafeBufferPointer<Double>,
        m: UnsafeMutableBufferPointer<Int64>, scratch: UnsafeMutableBufferPointer<Int64>
    ) -> DecimalPlan? {
        guard let e = decimalExponent(vs, into: m.baseAddress!) else { return nil }
        let vp = IntColumn.plan(UnsafeBufferPointer(m), scratch: scratch)
        let size = headerSize(ts.count) + tsPlan.headerBytes + 1 + vp.headerBytes + (tsPlan.bits + vp.bits + 7) / 8
        return DecimalPlan(exponent: e, ts: tsPlan, vs: vp, size: size)
    }

    static func writeDecimal(_ ts: UnsafeBufferPointer<Int64>, m: UnsafeBufferPointer<Int64>, _ p: DecimalPlan, into out: inout [UInt8]) {
        if ts.isEmpty { return }
        out.reserveCapacity(p.size)
        IntColumn.writeHeader(p.ts, &out)
        out.append(UInt8(p.exponent))
        IntColumn.writeHeader(p.vs, &out)
        var w = BitWriter(appendingTo: out)
        IntColumn.writeBits(ts, p.ts, &w)
        IntColumn.writeBits(m, p.vs, &w)
        out = w.bytes
    }

    static func columnsXorSize(_ n: Int, tsPlan: IntColumnPlan, valueBits: Int) -> Int {
        headerSize(n) + (n == 0 ? 0 : tsPlan.headerBytes + (tsPlan.bits + valueBits + 7) / 8)
    }

    static func writeColumnsXor(_ ts: UnsafeBufferPointer<Int64>, _ vs: UnsafeBufferPointer<Double>, tsPlan: IntColumnPlan, into out: inout [UInt8]) {
        if ts.isEmpty { return }
        IntColumn.writeHeader(tsPlan, &out)
        var w = BitWriter(appendingTo: out)
        IntColumn.writeBits(ts, tsPlan, &w)
        XORCodec.writeValues(vs, &w)
        out = w.bytes
    }

    // MARK: decoding

    static func decodeDecimal(_ b: UnsafeRawBufferPointer, start: Int, n: Int,
                              _ tp: UnsafeMutablePointer<Int64>, _ vp: UnsafeMutablePointer<Double>) throws(ChunkError) {
        if n == 0 {
            guard start == b.count else { throw .corrupt("\(b.count - start) bytes after an empty chunk") }
            return
        }
        var pos = start
        let tplan = try IntColumn.readHeader(b, &pos)
        let e = Int(try Bytes.getByte(b, &pos))
        guard e <= maxExponent else { throw .corrupt("decimal exponent \(e) > \(maxExponent)") }
        let vplan = try IntColumn.readHeader(b, &pos)
        var r = BitReader(b, startByte: pos)
        try IntColumn.readValues(tplan, n: n, &r, tp)
        // Decode the integers in place in the value column's memory, then scale.
        let r2: Result<Void, ChunkError> = vp.withMemoryRebound(to: Int64.self, capacity: n) { mp in
            Result { () throws(ChunkError) in try IntColumn.readValues(vplan, n: n, &r, mp) }
        }
        try r2.get()
        try finish(r, b.count)
        let raw = UnsafeMutableRawPointer(vp)
        if e == 0 {
            for i in 0..<n { vp[i] = Double(raw.load(fromByteOffset: 8 * i, as: Int64.self)) }
        } else {
            let p = powersOfTen[e]
            for i in 0..<n { vp[i] = Double(raw.load(fromByteOffset: 8 * i, as: Int64.self)) / p }
        }
    }

    static func decodeColumnsXor(_ b: UnsafeRawBufferPointer, start: Int, n: Int,
                                 _ tp: UnsafeMutablePointer<Int64>, _ vp: UnsafeMutablePointer<Double>) throws(ChunkError) {
        if n == 0 {
            guard start == b.count else { throw .corrupt("\(b.count - start) bytes after an empty chunk") }
            return
        }
        var pos = start
        let tplan = try IntColumn.readHeader(b, &pos)
        var r = BitReader(b, startByte: pos)
        try IntColumn.readValues(tplan, n: n, &r, tp)
        if r.overran { throw .truncated }
        try XORCodec.readValues(n: n, &r, vp)
        try finish(r, b.count)
    }

    @inline(__always)
    static func finish(_ r: BitReader, _ count: Int) throws(ChunkError) {
        if r.overran { throw .truncated }
        let used = (r.bitPos + 7) >> 3
        if used != count { throw .corrupt("\(count - used) unused bytes after the bit stream") }
    }
}
