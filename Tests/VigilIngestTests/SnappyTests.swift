import Foundation
import Testing
import VigilCore
import VigilIngest

@Suite struct SnappyTests {
    @Test(arguments: [0, 1, 17, 4096, 200_000])
    func roundTrip(size: Int) throws {
        var rng = SeededRNG(seed: UInt64(size) + 1)
        // Half repetitive, half random, so both copy and literal elements occur.
        var input: [UInt8] = []
        for i in 0..<size {
            input.append(i % 2 == 0 ? UInt8((i / 64) & 0xFF) : UInt8.random(in: 0...3, using: &rng))
        }
        let c = Snappy.compress(input)
        #expect(try Snappy.decompress(c, maxDecodedSize: size) == input)
    }

    @Test func decodesLiteralOnlyStreamFromRwLoadFallback() throws {
        // rw_load.py's fallback encoder (no cramjam): uncompressed literal elements.
        let body = Array(Data(base64Encoded: RwLoadFixture.snappyBase64)!)
        let raw = Array(Data(base64Encoded: RwLoadFixture.rawBase64)!)
        #expect(try Snappy.decompress(body, maxDecodedSize: 1 << 20) == raw)
    }

    @Test func refusesBombBeforeAllocating() throws {
        // Header claims 2 GiB (varint 0x80 0x80 0x80 0x80 0x08), followed by nothing.
        let bomb: [UInt8] = [0x80, 0x80, 0x80, 0x80, 0x08, 0x00]
        let e = try #require(throws: IngestError.self) { try Snappy.decompress(bomb, maxDecodedSize: 64 << 20) }
        #expect(e.code == .tooLarge)
        #expect(e.message.contains("2147483648"))
        let big = Snappy.compress([UInt8](repeating: 7, count: 100_000))
        #expect(throws: IngestError.self) { try Snappy.decompress(big, maxDecodedSize: 99_999) }
        #expect(try Snappy.decompress(big, maxDecodedSize: 100_000).count == 100_000)
    }

    @Test(arguments: [
        ("empty", [UInt8]()),
        ("bad header varint", [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]),
        ("truncated", Array(Snappy.compress(Array("hello hello hello hello hello".utf8)).dropLast(3))),
        ("copy before start", [0x08, 0x01, 0x00]),
    ])
    func rejectsMalformed(name: String, body: [UInt8]) throws {
        let e = try #require(throws: IngestError.self, "\(name)") { try Snappy.decompress(body, maxDecodedSize: 1 << 20) }
        #expect(e.code == .snappy, "\(name): \(e)")
    }

    @Test func mutatedStreamsNeverCrash() {
        let seed: UInt64 = 0x5AA9
        var rng = SeededRNG(seed: seed)
        let valid = Snappy.compress(Array(String(repeating: "node_cpu_seconds_total{cpu=\"0\"} 1\n", count: 40).utf8))
        var failures = 0
        for _ in 0..<3000 {
            let m = mutate(valid, rng: &rng)
            do { _ = try Snappy.decompress(m, maxDecodedSize: 1 << 16) } catch { failures += 1; #expect(error.code == .snappy || error.code == .tooLarge) }
        }
        #expect(failures > 0, "seed \(seed): mutations should break some streams")
    }
}
