import Testing
import VigilCore
@testable import VigilChunk

@Test("the open chunk reads back what was appended, bit for bit, for every increasing shape")
func builderRoundTrip() throws {
    var r = SeededRNG(seed: 7)
    for _ in 0..<20 {
        for ts in TimestampShape.allCases where ts.increasing {
            for vs in ValueShape.allCases {
                let n = r.int(0...240)
                let t = ts.make(n, &r)
                let v = vs.make(n, &r)
                var b = ChunkBuilder()
                for i in 0..<n {
                    b.append(t[i], v[i])
                    #expect(b.count == i + 1)
                    #expect(b.maxTime == t[i])
                    #expect(b.lastValue?.bitPattern == v[i].bitPattern)
                }
                #expect(b.minTime == (t.first ?? .max))
                var t2: [Int64] = [], v2: [Double] = []
                b.read(into: &t2, &v2)
                #expect(t2 == t, "\(ts) \(vs) n=\(n)")
                #expect(bitsEqual(v2, v), "\(ts) \(vs) n=\(n)")
                // encoded() is a valid .xor blob, identical to encoding the samples in one go.
                let blob = b.encoded()
                #expect(blob == ChunkCodec.encode(.xor, timestamps: t[...], values: v[...]))
                var t3: [Int64] = [], v3: [Double] = []
                try ChunkCodec.decode(blob, into: &t3, &v3)
                #expect(t3 == t && bitsEqual(v3, v))
                // Range reads trim to [mint, maxt].
                if n > 2 {
                    let lo = t[r.int(0...n - 1)], hi = t[r.int(0...n - 1)]
                    var t4: [Int64] = [], v4: [Double] = []
                    b.read(mint: lo, maxt: hi, into: &t4, &v4)
                    let want = t.indices.filter { t[$0] >= lo && t[$0] <= hi }
                    #expect(t4 == want.map { t[$0] })
                    #expect(bitsEqual(v4, want.map { v[$0] }))
                }
            }
        }
    }
}

@Test("an empty builder reads nothing and encodes an empty chunk")
func builderEmpty() throws {
    let b = ChunkBuilder()
    #expect(b.count == 0 && b.lastValue == nil && b.minTime == .max && b.maxTime == .min)
    var t: [Int64] = [], v: [Double] = []
    b.read(into: &t, &v)
    #expect(t.isEmpty && v.isEmpty)
    try ChunkCodec.decode(b.encoded(), into: &t, &v)
    #expect(t.isEmpty && v.isEmpty)
}

@Test("the open chunk of 120 typical samples stays within 1 KiB of stream and 4 KiB in all")
func builderMemory() {
    var r = SeededRNG(seed: 11)
    for shape in [ValueShape.counter, .decimalCounter, .gauge2dp, .pageMultiples, .nanosecondCounter, .constant] {
        var b = ChunkBuilder()
        let ts = TimestampShape.regular.make(120, &r)
        let vs = shape.make(120, &r)
        for i in 0..<120 { b.append(ts[i], vs[i]) }
        #expect(b.encoded().count <= 1100, "\(shape): \(b.encoded().count) bytes")
        #expect(b.byteCount <= 4096, "\(shape): \(b.byteCount) bytes")
        #expect(b.byteCount >= b.encoded().count - 4)
    }
    // Even incompressible values stay within the head budget.
    var b = ChunkBuilder()
    for i in 0..<120 { b.append(Int64(i) * 15_000, Double(bitPattern: r.next())) }
    #expect(b.byteCount <= 4096)
}
