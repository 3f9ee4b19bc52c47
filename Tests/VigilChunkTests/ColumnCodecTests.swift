import Testing
import VigilCore
@testable import VigilChunk

private func roundTrip(_ blob: [UInt8], _ ts: [Int64], _ vs: [Double]) throws {
    var t: [Int64] = [], v: [Double] = []
    try ChunkCodec.decode(blob, into: &t, &v)
    #expect(t == ts)
    #expect(bitsEqual(v, vs))
}

@Test("regular timestamps and a constant value cost no bits per sample")
func constantRunsAreFree() throws {
    let ts = (0..<120).map { 1_795_993_200_000 + Int64($0) * 15_000 }
    let vs = [Double](repeating: 42.5, count: 120)
    let blob = ChunkCodec.encodeBest(timestamps: ts[...], values: vs[...])
    #expect(blob[0] == ChunkEncoding.decimal.rawValue)
    #expect(blob.count <= 24, "\(blob.count) bytes")
    try roundTrip(blob, ts, vs)
}

@Test("counters of USER_HZ ticks, page multiples and nanosecond counters become integer columns")
func decimalShapesPickDecimal() throws {
    var r = SeededRNG(seed: 5)
    let ts = (0..<120).map { 1_795_993_200_000 + Int64($0) * 15_000 }
    for shape in [ValueShape.decimalCounter, .pageMultiples, .nanosecondCounter, .counter, .negativeDecimals] {
        let vs = shape.make(120, &r)
        let blob = ChunkCodec.encodeBest(timestamps: ts[...], values: vs[...])
        #expect(blob[0] == ChunkEncoding.decimal.rawValue, "\(shape)")
        let xor = ChunkCodec.encode(.xor, timestamps: ts[...], values: vs[...])
        #expect(blob.count < xor.count, "\(shape): decimal \(blob.count) vs xor \(xor.count)")
        try roundTrip(blob, ts, vs)
    }
}

@Test("values that are not short decimals fall back losslessly")
func decimalFallback() throws {
    let ts: [Int64] = [0, 15_000, 30_000, 45_000]
    for vs: [Double] in [[1.2345678901234567e-5, 1, 2, 3], [1, -0.0, 2, 3], [1, .nan, 2, 3], [1, .infinity, 2, 3], [.staleNaN, 1, 2, 3],
                         [1e300, 1, 2, 3], [9.3e18, 0, 0, 0], [5e-324, 0, 0, 0]] {
        let blob = ChunkCodec.encode(.decimal, timestamps: ts[...], values: vs[...])
        #expect(blob[0] == ChunkEncoding.columnsXor.rawValue, "\(vs)")
        try roundTrip(blob, ts, vs)
    }
    // 0.30000000000000004 is a decimal with 17 digits: exact, though not short.
    let vs = [0.30000000000000004, 0.1, 0.2, 0.7]
    try roundTrip(ChunkCodec.encode(.decimal, timestamps: ts[...], values: vs[...]), ts, vs)
}

@Test("integer columns round-trip every order, centring and escape on adversarial integers")
func intColumnsAdversarial() throws {
    var r = SeededRNG(seed: 77)
    for i in 0..<400 {
        let n = r.int(1...200)
        var xs: [Int64] = []
        switch i % 5 {
        case 0: xs = (0..<n).map { _ in Int64(bitPattern: r.next()) }
        case 1: xs = (0..<n).map { _ in r.chance(0.05) ? Int64(bitPattern: r.next()) : Int64(r.int(-3...3)) }
        case 2: xs = (0..<n).map { j in Int64(j) * 4096 * Int64(r.int(0...2)) }
        case 3: xs = (0..<n).map { _ in [Int64.min, .max, 0][r.int(0...2)] }
        default: xs = (0..<n).map { j in Int64(j * j) &* 1_000_003 }
        }
        let ts = (0..<n).map { Int64($0) * 1000 }
        let vs = xs.map { Double($0) }
        try roundTrip(ChunkCodec.encodeBest(timestamps: ts[...], values: vs[...]), ts, vs)
        // The same integers as timestamps exercise the timestamp column.
        try roundTrip(ChunkCodec.encode(.decimal, timestamps: xs[...], values: vs[...]), xs, vs)
        try roundTrip(ChunkCodec.encode(.columnsXor, timestamps: xs[...], values: vs[...]), xs, vs)
    }
}
