import VigilCore

/// SplitMix64: small, seedable, reproducible across platforms (the failing seed is in every message).
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
    mutating func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &self) }
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
}

/// Timestamp shapes, including ones the store never writes (the codec must still round-trip them).
enum TimestampShape: CaseIterable {
    case regular, jittered, gaps, huge, random64, extremes, decreasing, millisecondSteps

    func make(_ n: Int, _ r: inout SeededRNG) -> [Int64] {
        var out: [Int64] = []
        out.reserveCapacity(n)
        switch self {
        case .regular:
            let step = Int64(r.int(1...120_000))
            let t0 = Int64(r.int(-2_000_000_000_000...2_000_000_000_000))
            for i in 0..<n { out.append(t0 &+ Int64(i) &* step) }
        case .jittered:
            var t = Int64(r.int(0...1_800_000_000_000))
            for _ in 0..<n {
                out.append(t)
                t += 15_000 + Int64(r.int(-500...500))
            }
        case .gaps:
            var t = Int64(r.int(0...1_800_000_000_000))
            for _ in 0..<n {
                out.append(t)
                t += r.chance(0.1) ? Int64(r.int(1...100_000_000)) : 10_000
            }
        case .huge:
            var t = Int64.min / 2
            for _ in 0..<n {
                out.append(t)
                t &+= Int64(r.int(1...Int(Int64.max / Int64(max(n, 1) * 4))))
            }
        case .random64:
            for _ in 0..<n { out.append(Int64(bitPattern: r.next())) }
        case .extremes:
            let pool: [Int64] = [.min, .max, .min + 1, .max - 1, 0, -1, 1]
            for _ in 0..<n { out.append(pool[r.int(0...pool.count - 1)]) }
        case .decreasing:
            var t = Int64(r.int(0...1_800_000_000_000))
            for _ in 0..<n {
                out.append(t)
                t -= Int64(r.int(0...1_000_000))
            }
        case .millisecondSteps:
            var t: Int64 = 1
            for _ in 0..<n {
                out.append(t)
                t += Int64(r.int(1...3))
            }
        }
        return out
    }

    /// Strictly increasing shapes (what the head's open chunk accepts).
    var increasing: Bool {
        switch self {
        case .regular, .jittered, .gaps, .huge, .millisecondSteps: return true
        case .random64, .extremes, .decreasing: return false
        }
    }
}

/// Value shapes: workload-like (counters, decimals, page multiples) and adversarial bit patterns.
enum ValueShape: CaseIterable {
    case constant, counter, decimalCounter, gauge2dp, pageMultiples, nanosecondCounter, randomBits,
         specials, mixed, tinyAndHuge, integerExtremes, negativeDecimals, nanPayloads

    func make(_ n: Int, _ r: inout SeededRNG) -> [Double] {
        var out: [Double] = []
        out.reserveCapacity(n)
        switch self {
        case .constant:
            let v = r.chance(0.5) ? Double(r.int(-1000...1000)) : Double(bitPattern: r.next())
            for _ in 0..<n { out.append(v) }
        case .counter:
            var s = Double(r.int(0...1_000_000_000))
            for _ in 0..<n {
                out.append(s)
                s += Double(r.int(0...100_000))
            }
        case .decimalCounter:
            var s = r.int(0...1_000_000_000)
            for _ in 0..<n {
                out.append(Double(s) / 100)
                s += r.int(0...1500)
            }
        case .gauge2dp:
            for _ in 0..<n { out.append((Double(r.int(0...400)) + Double.random(in: -1...1, using: &r)).rounded() / 100 * 100 / 100) }
        case .pageMultiples:
            for _ in 0..<n { out.append(Double(r.int(1_000_000...16_000_000) * 4096)) }
        case .nanosecondCounter:
            var s = r.int(1_000_000_000_000...1_000_000_000_000_000)
            for _ in 0..<n {
                out.append(Double(s) / 1e9)
                s += r.int(0...15_000_000_000)
            }
        case .randomBits:
            for _ in 0..<n { out.append(Double(bitPattern: r.next())) }
        case .specials:
            let pool: [Double] = [.nan, -.nan, .staleNaN, .infinity, -.infinity, 0.0, -0.0,
                                  .leastNonzeroMagnitude, -.leastNormalMagnitude, .greatestFiniteMagnitude,
                                  -.greatestFiniteMagnitude, .ulpOfOne, 1, -1,
                                  Double(bitPattern: 0x7ff8_0000_0000_0001), Double(bitPattern: 0xfff4_dead_beef_0001)]
            for _ in 0..<n { out.append(pool[r.int(0...pool.count - 1)]) }
        case .mixed:
            var s = 0.0
            for _ in 0..<n {
                s += Double(r.int(0...10))
                out.append(r.chance(0.05) ? .staleNaN : (r.chance(0.05) ? -0.0 : s))
            }
        case .tinyAndHuge:
            for _ in 0..<n { out.append(r.chance(0.5) ? Double(r.int(-5...5)) * 1e-300 : Double(r.int(-5...5)) * 1e300) }
        case .integerExtremes:
            let pool: [Double] = [9_007_199_254_740_992, -9_007_199_254_740_992, 9_223_372_036_854_775_807,
                                  -9_223_372_036_854_775_808, 1.8446744073709552e19, 4.611686018427388e18, 0, 1]
            for _ in 0..<n { out.append(pool[r.int(0...pool.count - 1)]) }
        case .negativeDecimals:
            for _ in 0..<n { out.append(Double(r.int(-1_000_000...1_000_000)) / 1000) }
        case .nanPayloads:
            for _ in 0..<n {
                let payload = r.next() & 0x000F_FFFF_FFFF_FFFF
                out.append(Double(bitPattern: (r.chance(0.5) ? 0x7FF0_0000_0000_0000 : 0xFFF0_0000_0000_0000) | max(payload, 1)))
            }
        }
        return out
    }
}

func bitsEqual(_ a: [Double], _ b: [Double]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
}
