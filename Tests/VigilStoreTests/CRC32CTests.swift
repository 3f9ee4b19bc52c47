import Testing
@testable import VigilStore

@Test func crc32cCheckValue() {
    #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    #expect(CRC32C.reference(Array("123456789".utf8)) == 0xE306_9283)
    #expect(CRC32C.checksum([UInt8]()) == 0)
    // RFC 3720 B.4: 32 bytes of zeros, of 0xFF.
    #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
}

@Test func crc32cSliceBy8MatchesBitwise() {
    var rng = SystemRandomNumberGenerator()
    for len in [1, 7, 8, 9, 15, 16, 17, 63, 64, 100, 1000, 4099] {
        let bytes = (0..<len).map { _ in UInt8.random(in: 0...255, using: &rng) }
        #expect(CRC32C.checksum(bytes) == CRC32C.reference(bytes), "length \(len)")
        // Unaligned start and incremental update agree with one pass.
        let tail = Array(bytes.dropFirst())
        #expect(CRC32C.checksum(tail) == CRC32C.reference(tail))
        let split = len / 3
        let a = bytes[..<split].withUnsafeBytes { CRC32C.update(0, $0) }
        let ab = bytes[split...].withUnsafeBytes { CRC32C.update(a, $0) }
        #expect(ab == CRC32C.checksum(bytes))
    }
}
