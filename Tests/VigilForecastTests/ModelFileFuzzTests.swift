import Foundation
import Testing
@testable import VigilForecast

/// Inputs the `model-file` fuzz target (Fuzz/, docs/fuzzing.md) found trapping `ModelFile.decode`; each must now
/// be a `FormatError` naming what is wrong.
@Suite struct ModelFileFuzzRegressionTests {
    /// A `.vgm` container: magic, version 1, the JSON header, no tensor data.
    func vgm(_ header: String) -> [UInt8] {
        let j = Array(header.utf8)
        var out = Array("VIGILVGM".utf8)
        for v in [UInt32(1), UInt32(j.count)] { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        return out + j
    }

    func message(_ bytes: [UInt8]) -> String? {
        do { _ = try ModelFile.decode(bytes, name: "fuzz.vgm"); return nil } catch { return "\(error)" }
    }

    @Test func negativeDimensionIsABadHeader() {
        // Trapped in [Double](repeating:count: -1).
        let m = message(vgm(#"{"tensors":[{"name":"w","shape":[-1]}]}"#))
        #expect(m?.contains("tensor w: shape [-1]") == true, "\(m ?? "accepted")")
    }

    @Test func fractionalDimensionIsABadHeader() {
        // 2.5 was truncated to 2 silently.
        let m = message(vgm(#"{"tensors":[{"name":"w","shape":[2.5]}]}"#))
        #expect(m?.contains("tensor w: shape [2.5]") == true, "\(m ?? "accepted")")
    }

    @Test func hugeDimensionIsTruncatedNotATrap() {
        // 1e300 trapped in Int(Double).
        let m = message(vgm(#"{"tensors":[{"name":"w","shape":[1e300]}]}"#))
        #expect(m == "fuzz.vgm: truncated model file", "\(m ?? "accepted")")
    }

    @Test func overflowingShapeIsTruncatedNotATrap() {
        // 2^32 × 2^32 overflowed Int in shape.reduce(1, *).
        let m = message(vgm(#"{"tensors":[{"name":"w","shape":[4294967296,4294967296]}]}"#))
        #expect(m == "fuzz.vgm: truncated model file", "\(m ?? "accepted")")
    }

    @Test func aShapeTheFileHoldsStillDecodes() throws {
        var b = vgm(#"{"tensors":[{"name":"w","shape":[2,0]},{"name":"v","shape":[1]}]}"#)
        while b.count % 8 != 0 { b.append(0) }
        withUnsafeBytes(of: (2.5).bitPattern.littleEndian) { b.append(contentsOf: $0) }
        let m = try ModelFile.decode(b)
        #expect(m.tensors.map(\.shape) == [[2, 0], [1]])
        #expect(try m.tensor("v") == [2.5])
    }
}
