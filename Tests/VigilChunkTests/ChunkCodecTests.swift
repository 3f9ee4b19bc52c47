import Testing
import VigilCore
@testable import VigilChunk

private func decodeAll(_ blob: [UInt8]) throws -> ([Int64], [Double]) {
    var t: [Int64] = [], v: [Double] = []
    try ChunkCodec.decode(blob, into: &t, &v)
    return (t, v)
}

private let sizes = [0, 1, 2, 3, 7, 64, 119, 120, 121, 250]

@Test("every encoding round-trips every shape, bit for bit", arguments: ChunkEncoding.allCases)
func roundTripAllShapes(encoding: ChunkEncoding) throws {
    var r = SeededRNG(seed: 0xC0DEC + UInt64(encoding.rawValue))
    var iterations = 0
    for round in 0..<6 {
        for ts in TimestampShape.allCases {
            for vs in ValueShape.allCases {
                let n = round < sizes.count ? sizes[(round * 3 + vs.hashValue & 0xff) % sizes.count] : r.int(0...300)
                let t = ts.make(n, &r)
                let v = vs.make(n, &r)
                let blob = ChunkCodec.encode(encoding, timestamps: t[...], values: v[...])
                let (t2, v2) = try decodeAll(blob)
                #expect(t2 == t, "\(encoding) \(ts) \(vs) n=\(n) round \(round)")
                #expect(bitsEqual(v2, v), "\(encoding) \(ts) \(vs) n=\(n) round \(round)")
                #expect(try ChunkCodec.sampleCount(blob) == n)
                iterations += 1
            }
        }
    }
    #expect(iterations == 6 * TimestampShape.allCases.count * ValueShape.allCases.count)
}

@Test("random sizes and mixtures round-trip through encode, encodeBest and the raw-pointer decode")
func roundTripRandomMixtures() throws {
    var r = SeededRNG(seed: 20261130)
    for i in 0..<2000 {
        let n = r.chance(0.1) ? r.int(0...3) : r.int(0...240)
        let ts = TimestampShape.allCases[r.int(0...TimestampShape.allCases.count - 1)].make(n, &r)
        // Mix value shapes within one chunk: runs of different kinds.
        var vs: [Double] = []
        while vs.count < n {
            let shape = ValueShape.allCases[r.int(0...ValueShape.allCases.count - 1)]
            vs += shape.make(min(n - vs.count, r.int(1...60)), &r)
        }
        let best = ChunkCodec.encodeBest(timestamps: ts[...], values: vs[...])
        // encodeBest computes sizes without encoding: it must match the smallest actual encoding.
        let smallest = ChunkEncoding.allCases.map { ChunkCodec.encode($0, timestamps: ts[...], values: vs[...]).count }.min()!
        #expect(best.count == smallest, "iteration \(i): encodeBest \(best.count) bytes (encoding \(best[0])), smallest \(smallest)")
        var t2: [Int64] = [7], v2: [Double] = [7]  // decode appends
        try best.withUnsafeBytes { b in try ChunkCodec.decode(b, into: &t2, &v2) }
        #expect(t2 == [7] + ts, "iteration \(i) encoding \(best[0])")
        #expect(bitsEqual(v2, [7] + vs), "iteration \(i) encoding \(best[0])")
    }
}

@Test("stale NaN, NaN payloads, ±Inf and -0.0 keep every bit")
func specialValuesExact() throws {
    let vs: [Double] = [.staleNaN, Double(bitPattern: 0x7ff8_0000_0000_0001), -.nan, .infinity, -.infinity, -0.0, 0.0,
                        .staleNaN, .staleNaN, 1.5, Double(bitPattern: 0xfff0_0000_0000_0001)]
    let ts: [Int64] = (0..<vs.count).map { Int64($0) * 15_000 + 1_764_457_200_000 }
    for e in ChunkEncoding.allCases {
        let (t2, v2) = try decodeAll(ChunkCodec.encode(e, timestamps: ts[...], values: vs[...]))
        #expect(t2 == ts)
        #expect(v2.map(\.bitPattern) == vs.map(\.bitPattern), "\(e)")
        #expect(v2[0].isStaleNaN)
    }
}

@Test("Int64 extremes and wrapping deltas round-trip")
func timestampExtremes() throws {
    let cases: [[Int64]] = [
        [.min, .max], [.max, .min], [.min, .min + 1, .max], [0, .max, .min, 0],
        [.min], [.max], [-1, 0, 1], [1_764_457_200_000, 1_764_457_215_000, -5, 1_764_457_230_000],
    ]
    for ts in cases {
        let vs = ts.map { Double($0) }
        for e in ChunkEncoding.allCases {
            let (t2, v2) = try decodeAll(ChunkCodec.encode(e, timestamps: ts[...], values: vs[...]))
            #expect(t2 == ts, "\(e) \(ts)")
            #expect(bitsEqual(v2, vs))
        }
    }
}

@Test("every truncation of every encoding's blob throws ChunkError")
func truncationsThrow() throws {
    var r = SeededRNG(seed: 99)
    for e in ChunkEncoding.allCases {
        for shape in ValueShape.allCases {
            for n in [1, 2, 5, 120] {
                let ts = TimestampShape.jittered.make(n, &r)
                let vs = shape.make(n, &r)
                let blob = ChunkCodec.encode(e, timestamps: ts[...], values: vs[...])
                for cut in 0..<blob.count {
                    var t: [Int64] = [], v: [Double] = []
                    #expect(throws: ChunkError.self, "\(e) \(shape) n=\(n) cut at \(cut) of \(blob.count)") {
                        try ChunkCodec.decode(Array(blob[0..<cut]), into: &t, &v)
                    }
                    #expect(t.isEmpty && v.isEmpty, "columns must be untouched on error")
                }
                // Trailing garbage is rejected too.
                var t: [Int64] = [], v: [Double] = []
                #expect(throws: ChunkError.self) { try ChunkCodec.decode(blob + [0], into: &t, &v) }
            }
        }
    }
}

@Test("random corruption never crashes: decode throws ChunkError or returns the claimed count")
func corruptionNeverCrashes() {
    var r = SeededRNG(seed: 4242)
    var threw = 0
    for i in 0..<8000 {
        var blob: [UInt8]
        if i % 4 == 0 {
            blob = (0..<r.int(0...64)).map { _ in UInt8.random(in: 0...255, using: &r) }
            if !blob.isEmpty { blob[0] = UInt8(r.int(0...Int(ChunkEncoding.allCases.map(\.rawValue).max()! + 1))) }
        } else {
            let n = r.int(1...130)
            let ts = TimestampShape.allCases[r.int(0...TimestampShape.allCases.count - 1)].make(n, &r)
            let vs = ValueShape.allCases[r.int(0...ValueShape.allCases.count - 1)].make(n, &r)
            let e = ChunkEncoding.allCases[r.int(0...ChunkEncoding.allCases.count - 1)]
            blob = ChunkCodec.encode(e, timestamps: ts[...], values: vs[...])
            for _ in 0..<r.int(1...4) {
                let at = r.int(0...blob.count - 1)
                blob[at] ^= UInt8(1 << r.int(0...7))
            }
        }
        var t: [Int64] = [1], v: [Double] = [1]
        do {
            try ChunkCodec.decode(blob, into: &t, &v)
            #expect(t.count == v.count)
            #expect(t.count - 1 == (try? ChunkCodec.sampleCount(blob)), "iteration \(i)")
        } catch {
            threw += 1
            #expect(t == [1] && v.count == 1, "iteration \(i): columns changed on error")
        }
    }
    #expect(threw > 400)
}

@Test("unknown encodings and absurd sample counts are rejected")
func headerErrors() {
    var t: [Int64] = [], v: [Double] = []
    #expect(throws: ChunkError.truncated) { try ChunkCodec.decode([], into: &t, &v) }
    #expect(throws: ChunkError.unknownEncoding(200)) { try ChunkCodec.decode([200, 0], into: &t, &v) }
    #expect(throws: ChunkError.self) { try ChunkCodec.decode([1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], into: &t, &v) }
    #expect(throws: ChunkError.self) { try ChunkCodec.sampleCount([1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]) }
    #expect(throws: ChunkError.self) { try ChunkCodec.decode([1, 0x80], into: &t, &v) }
}
