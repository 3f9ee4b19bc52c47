import Testing
import VigilChunk

@Test func rawRoundTrip() throws {
    let ts: [Int64] = [0, 15_000, 30_000, 45_001]
    let vs: [Double] = [1.5, .nan, -.infinity, -0.0]
    let blob = ChunkCodec.encode(.raw, timestamps: ts[...], values: vs[...])
    #expect(blob.count == 2 + 4 * 16)
    var t2: [Int64] = [], v2: [Double] = []
    try ChunkCodec.decode(blob, into: &t2, &v2)
    #expect(t2 == ts)
    #expect(v2.map(\.bitPattern) == vs.map(\.bitPattern))
    #expect(try ChunkCodec.sampleCount(blob) == 4)
    #expect(throws: ChunkError.truncated) { try ChunkCodec.decode(Array(blob.dropLast()), into: &t2, &v2) }
}
