import Foundation
import Testing
import VigilCore
import VigilIngest

/// SplitMix64: small, seeded, the same on every platform (the seed is printed in failure messages).
struct SeededRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Applies 1–4 random edits (flip, overwrite with an interesting byte, insert, delete, truncate, duplicate a slice).
func mutate(_ input: [UInt8], rng: inout SeededRNG) -> [UInt8] {
    var b = input
    let interesting: [UInt8] = [0x00, 0xFF, 0x80, 0x7F, 0x0A, 0x22, 0x5C, 0x7B, 0x7D, 0x2C, 0x3D, 0x20, 0xC3, 0xE2, 0x08, 0x12]
    for _ in 0..<Int.random(in: 1...4, using: &rng) {
        let op = Int.random(in: 0..<6, using: &rng)
        if b.isEmpty { b.append(UInt8.random(in: 0...255, using: &rng)); continue }
        let i = Int.random(in: 0..<b.count, using: &rng)
        switch op {
        case 0: b[i] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
        case 1: b[i] = interesting.randomElement(using: &rng)!
        case 2: b.insert(interesting.randomElement(using: &rng)!, at: i)
        case 3: b.remove(at: i)
        case 4: b.removeLast(Int.random(in: 0...min(b.count, 8), using: &rng))
        default:
            let j = min(b.count, i + Int.random(in: 1...16, using: &rng))
            b.insert(contentsOf: Array(b[i..<j]), at: Int.random(in: 0...b.count, using: &rng))
        }
    }
    return b
}

/// Series shaped like `shared/bench/rw_load.py`'s node/libvirt workload.
func benchLikeSeries(hosts: Int, samples: Int, start: Int64 = 1_700_000_000_000) -> [SeriesSamples] {
    var out: [SeriesSamples] = []
    for h in 0..<hosts {
        let host = String(format: "host-%04d", h)
        let dc = "dc-\(h % 4 + 1)"
        for cpu in 0..<4 {
            for mode in ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"] {
                var s = SeriesSamples(labels: Labels(["__name__": "node_cpu_seconds_total", "host": host, "dc": dc,
                                                      "job": "node", "cpu": "\(cpu)", "mode": mode]))
                for k in 0..<samples { s.append(start + Int64(k) * 15_000, Double(h * 1000 + cpu * 10 + k) + 0.25) }
                out.append(s)
            }
        }
        var load = SeriesSamples(labels: Labels(["__name__": "node_load1", "host": host, "dc": dc, "job": "node"]))
        for k in 0..<samples { load.append(start + Int64(k) * 15_000, Double(k % 7) / 3) }
        out.append(load)
    }
    return out
}

/// Every series a parser returns must satisfy the store's rules; this is what the mutation loops check.
func expectValid(_ r: ParseResult, seed: UInt64, iteration: Int) {
    for s in r.series {
        #expect(throws: Never.self, "seed \(seed) iteration \(iteration)") { try s.labels.validate() }
        #expect(s.timestamps.count == s.values.count)
    }
}

extension Array where Element == UInt8 {
    init(_ s: String) { self = Array(s.utf8) }
}
