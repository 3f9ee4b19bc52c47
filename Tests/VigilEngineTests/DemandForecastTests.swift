import Foundation
import Testing
import VigilCore
@testable import VigilEngine

/// The predictive policy's forecaster on its own: causal with its seasonal features on, and it uses them.
struct DemandForecastTests {
    /// A daily pattern: 4 instances' worth at night, a step to 12 at 09:00 held until 17:00, with a little
    /// deterministic wiggle. Minute resolution, observed every 15 s.
    static func load(_ t: Int64) -> Double {
        let minuteOfDay = Int((t / 60_000) % 1440)
        let base = (540..<1020).contains(minuteOfDay) ? 12.0 : 4.0
        return base + 0.2 * sin(Double(t / 60_000) * 0.7)
    }

    func feed(_ f: DemandForecaster, until end: Int64, _ load: (Int64) -> Double, record: ((Int64, Double) -> Void)? = nil) async {
        var t: Int64 = 0
        while t < end {
            await f.observe(t: t, load: load(t), worker: nil)
            if let record, let u = f.upper() { record(t, u.upper) }
            t += 15_000
        }
    }

    /// Change the load after t0 and every upper bound before t0 is the same (daily features included).
    @Test func causalWithSeasonalFeatures() async {
        let day: Int64 = 86_400_000
        let t0 = 2 * day + 10 * 3_600_000
        let a = DemandForecaster(leadMs: 135_000, quantile: 0.9), b = DemandForecaster(leadMs: 135_000, quantile: 0.9)
        var ua: [Int64: Double] = [:], ub: [Int64: Double] = [:]
        await feed(a, until: t0 + 3_600_000, Self.load, record: { ua[$0] = $1 })
        await feed(b, until: t0 + 3_600_000, { $0 < t0 ? Self.load($0) : 3 * Self.load($0) }, record: { ub[$0] = $1 })
        #expect(a.method == "ridge+daily")
        let before = ua.keys.filter { $0 < t0 }
        #expect(before.count > 10_000)
        #expect(before.allSatisfy { ua[$0] == ub[$0] })
        #expect(ua.keys.filter { $0 >= t0 + 120_000 }.contains { ua[$0] != ub[$0] })
    }

    /// On the third day the forecaster sees the 09:00 step coming from yesterday's: a minute before it, while the load
    /// is still at night level, the upper bound already covers more than half of the step (4 → 12; 9.4 measured).
    @Test func dailySeasonalityAnticipatesTheMorningStep() async {
        let day: Int64 = 86_400_000
        let f = DemandForecaster(leadMs: 135_000, quantile: 0.9)
        var upperAt: [Int64: Double] = [:]
        await feed(f, until: 2 * day + 9 * 3_600_000, Self.load, record: { upperAt[$0] = $1 })
        let justBefore = upperAt[2 * day + 9 * 3_600_000 - 45_000] ?? 0
        #expect(Self.load(2 * day + 9 * 3_600_000 - 45_000) < 5)
        #expect(justBefore > 8, "upper bound \(justBefore) a minute before the step (method \(f.method))")
        // a day earlier (no daily features yet: under 2 days of history) it did not
        let dayBefore = upperAt[day + 9 * 3_600_000 - 45_000] ?? 0
        #expect(dayBefore < 8, "\(dayBefore)")
    }
}
