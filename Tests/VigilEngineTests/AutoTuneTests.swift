import Foundation
import Testing
import VigilCore
@testable import VigilEngine
import VigilSim

/// The predictive policy's online auto-tuning (AutoTune.swift): what it picks, that it is causal, that it is audited.
struct AutoTuneTests {
    static let day: Int64 = 86_400_000

    /// A day-periodic load (instances' worth of work) with minute-scale bursts from a fixed-seed generator.
    static func load(_ t: Int64, base: Double = 8, bursts: Double = 0.25, seed: UInt64 = 7) -> Double {
        let phase = Double(t % day) / Double(day)
        var x = UInt64(t / 60_000) &* 0x9E37_79B9_7F4A_7C15 &+ seed
        x ^= x >> 31
        x = x &* 0xBF58_476D_1CE4_E5B9
        x ^= x >> 29
        let u = Double(x % 10_000) / 10_000
        let burst = u > 0.97 ? bursts * (u - 0.97) / 0.03 : 0
        return base * (1 + 0.6 * sin(2 * .pi * phase)) * (1 + burst)
    }

    static func policy(quantile: Double = 0.9, peak: Double = 0.9) -> GroupPolicy {
        var p = GroupPolicy()
        p.strategy = .predictive
        p.objective = .utilization(0.8)
        p.quantile = quantile
        p.peakUtilization = peak
        p.maxReplicas = 1000
        return p
    }

    /// Feeds a forecaster and a tuner one day and an hour of `load` at 15 s steps, then tunes once.
    static func tuneOnce(_ p: GroupPolicy, options: AutoTuneOptions = AutoTuneOptions(),
                         load: (Int64) -> Double) async -> (AutoTuner, TuneDecision?) {
        let tu = AutoTuner(policy: p, options: options)
        let f = DemandForecaster(leadMs: p.startup.millis + p.interval.millis, quantile: p.quantile, shadowQuantiles: tu.quantiles)
        var t: Int64 = 0
        while t < day + 3_600_000 {
            await f.observe(t: t, load: load(t), worker: nil)
            tu.record(t: t, load: load(t), forecaster: f)
            t += 15_000
        }
        #expect(tu.due(t))
        let d = tu.tune(at: t, policy: p, forecaster: f)
        #expect(!tu.due(t))  // once per day
        return (tu, d)
    }

    @Test func picksTheCheapestSettingWithinBudget() async throws {
        // on bursty demand HPA violates, so the budget is half its minutes; the configured q 0.98 at 0.9 exceeds it here
        let p = Self.policy(quantile: 0.98, peak: 0.9)
        let (tu, d) = await Self.tuneOnce(p) { Self.load($0, bursts: 0.6) }
        let dec = try #require(d)
        let hpa = try #require(tu.lastHPA)
        #expect(hpa.violations > 0)
        #expect(dec.budgetMinutes == hpa.violations / 2)
        #expect(dec.withinBudget)
        #expect(dec.violationMinutes <= dec.budgetMinutes)
        #expect(tu.lastCandidates.count == 4 * 3 * 3)
        for c in tu.lastCandidates where c.violations <= dec.budgetMinutes {
            #expect(c.instanceHours >= dec.instanceHours)
        }
        // the budget excludes some settings (the configured one among them: it has more than half HPA's minutes)
        let configured = try #require(tu.lastCandidates.first { $0.quantile == 0.98 && $0.peak == 0.9 && $0.window == 300_000 })
        #expect(configured.violations > dec.budgetMinutes)
        // and the pick is exactly the cheapest of those it allows
        let allowed = tu.lastCandidates.filter { $0.violations <= dec.budgetMinutes }
        let cheapest = try #require(allowed.min { $0.instanceHours < $1.instanceHours })
        #expect(cheapest.quantile == dec.quantile && cheapest.peak == dec.peakUtilization && cheapest.window == dec.stabilizationMs)
        #expect(tu.quantile == dec.quantile && tu.peakUtilization == dec.peakUtilization)
    }

    @Test func keepsASaferSettingWhenTheCheaperOnesExceedTheBudget() async throws {
        // smooth demand: HPA has no violation minute, so the budget is 0 and any setting that violates is out
        let p = Self.policy(quantile: 0.8, peak: 0.95)
        let (tu, d) = await Self.tuneOnce(p) { Self.load($0, bursts: 0.3) }
        let dec = try #require(d)
        #expect(tu.lastHPA?.violations == 0)
        #expect(dec.budgetMinutes == 0)
        let cheapest = try #require(tu.lastCandidates.min { $0.instanceHours < $1.instanceHours })
        #expect(cheapest.violations > 0)  // the cheap end violates
        if dec.withinBudget {
            #expect(dec.violationMinutes == 0)
        } else {
            #expect(dec.violationMinutes == tu.lastCandidates.map(\.violations).min())
        }
        #expect(dec.instanceHours > cheapest.instanceHours)
        #expect(!(dec.quantile == 0.8 && dec.peakUtilization == 0.95))  // moved off the configured cheap setting
    }

    @Test func autotuneOffTunesNothing() async {
        var p = Self.policy()
        p.autotune = false
        let h = await Harness(p, replicas: 8)
        await h.run(from: 0, to: Self.day + 120_000) { Self.load($0) }
        #expect(h.records(.tune).isEmpty)
    }

    /// Two runs whose loads agree before T and differ after: every decision before T, tunings included, is the same.
    @Test func tuningIsCausalAndAudited() async throws {
        let p = Self.policy(quantile: 0.98, peak: 0.9)
        let cut = Self.day + 6 * 3_600_000
        let a = await Harness(p, replicas: 8)
        await a.run(from: 0, to: 2 * Self.day + 60_000) { Self.load($0, bursts: 0.6) }
        let b = await Harness(p, replicas: 8)
        await b.run(from: 0, to: 2 * Self.day + 60_000) { t in t < cut ? Self.load(t, bursts: 0.6) : 3 * Self.load(t, bursts: 0.6, seed: 99) }
        let before = { (h: Harness) in h.records().filter { $0.t < cut } }
        #expect(before(a) == before(b))
        let ta = a.records(.tune), tb = b.records(.tune)
        #expect(ta.count == 2 && tb.count == 2)  // at day 1 and day 2
        #expect(ta.first == tb.first)
        #expect(ta.first?.t == Self.day)
        // the second tuning saw the changed demand
        #expect(ta.last != tb.last)

        // audited: kind tune, executed, the setting and both replays in words and numbers
        let r = try #require(ta.first)
        #expect(r.result == .executed)
        #expect(r.action == "web:tune:\(Self.day)")
        for k in ["quantile", "peak_utilization", "replay_instance_hours", "replay_violation_minutes",
                  "hpa_instance_hours", "hpa_violation_minutes", "budget_minutes"] {
            #expect(r.numbers[k] != nil, "missing \(k)")
        }
        #expect(r.reason.hasPrefix("tune web: q "))
        #expect(r.reason.contains("vs HPA at 0.70"))
        // later scaling decisions use the tuned setting
        let q = try #require(r.numbers["quantile"]), pk = try #require(r.numbers["peak_utilization"])
        let later = a.records().filter { $0.t > Self.day && $0.t < 2 * Self.day && $0.numbers["quantile"] != nil && $0.kind != .tune }
        #expect(!later.isEmpty)
        #expect(later.allSatisfy { $0.numbers["quantile"] == q && $0.numbers["peak_utilization"] == pk })
    }

    @Test func policyKeyDecodes() throws {
        let dec = JSONDecoder()
        #expect(try dec.decode(GroupPolicy.self, from: Data("{}".utf8)).autotune)
        #expect(try !dec.decode(GroupPolicy.self, from: Data(#"{"autotune": false}"#.utf8)).autotune)
        #expect(throws: DecodingError.self) { try dec.decode(GroupPolicy.self, from: Data(#"{"autotune": "maybe"}"#.utf8)) }
    }
}
