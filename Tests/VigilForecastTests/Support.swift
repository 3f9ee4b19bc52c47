import Foundation

/// Deterministic pseudo-random numbers for tests (SplitMix64 + Box–Muller).
struct TestRNG {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func normal() -> Double {
        let u1 = max(uniform(), 1e-300), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}

/// AR(2) series with a level and a scale, so pooled training must normalise.
func ar2Series(_ n: Int, rng: inout TestRNG, level: Double, scale: Double) -> [Double] {
    var x = [0.0, 0.0]
    for _ in 2..<n { x.append(1.5 * x[x.count - 1] - 0.7 * x[x.count - 2] + rng.normal()) }
    return x.map { level + scale * $0 }
}

/// The repository root (two levels above this file's directory).
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let sharedDatasets = repoRoot.deletingLastPathComponent().appendingPathComponent("shared/datasets")

func tempPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-forecast-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}
