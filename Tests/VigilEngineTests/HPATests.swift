import Testing
@testable import VigilEngine

/// Kubernetes' replica calculator against hand-computed cases from the HPA documentation
/// (kubernetes/website `content/en/docs/tasks/run-application/horizontal-pod-autoscale.md` and the HPA walkthrough).
struct HPATests {
    struct Case: Sendable, CustomStringConvertible {
        var spec, ready, unready: Int
        var util, target: Double
        var want: Int
        var note: String
        var description: String { note }
    }

    static let cases: [Case] = [
        // "if the current metric value is 200m, and the desired value is 100m, the number of replicas will be doubled"
        Case(spec: 4, ready: 4, unready: 0, util: 0.2, target: 0.1, want: 8, note: "200m of 100m doubles"),
        // "If the current value is instead 50m, you'll halve the number of replicas"
        Case(spec: 4, ready: 4, unready: 0, util: 0.05, target: 0.1, want: 2, note: "50m of 100m halves"),
        // walkthrough: one replica at 305 % of a 50 % target → ceil(1 × 305/50) = ceil(6.1) = 7
        Case(spec: 1, ready: 1, unready: 0, util: 3.05, target: 0.5, want: 7, note: "walkthrough 305% → 7"),
        // within the 0.1 tolerance: no change
        Case(spec: 4, ready: 4, unready: 0, util: 0.108, target: 0.1, want: 4, note: "ratio 1.08 inside tolerance"),
        Case(spec: 4, ready: 4, unready: 0, util: 0.092, target: 0.1, want: 4, note: "ratio 0.92 inside tolerance"),
        // just outside: ceil(4 × 1.11) = 5; ceil(4 × 0.85) = 4 (the ceiling keeps 4)
        Case(spec: 4, ready: 4, unready: 0, util: 0.111, target: 0.1, want: 5, note: "ratio 1.11 → 5"),
        Case(spec: 4, ready: 4, unready: 0, util: 0.085, target: 0.1, want: 4, note: "ratio 0.85 → ceil 3.4 = 4"),
        Case(spec: 10, ready: 10, unready: 0, util: 0.35, target: 0.7, want: 5, note: "0.35 of 0.7 → 5"),
        // unready pods count as 0 % on scale-up: 2 ready at 100 % (target 50 %) + 2 unready → ratio 2/(4×0.5) = 1 → no change
        Case(spec: 4, ready: 2, unready: 2, util: 1.0, target: 0.5, want: 4, note: "unready at 0% cancels the scale-up"),
        // 2 ready at 150 % + 2 unready: 3/(4×0.5) = 1.5 → ceil(1.5 × 4) = 6
        Case(spec: 4, ready: 2, unready: 2, util: 1.5, target: 0.5, want: 6, note: "unready at 0% damps the scale-up"),
        // 2 ready at 20 % + 2 unready, scale-down: unready set aside → ceil(0.4 × 2) = 1
        Case(spec: 4, ready: 2, unready: 2, util: 0.2, target: 0.5, want: 1, note: "scale-down ignores unready"),
    ]

    @Test(arguments: cases)
    func replicaCalculator(_ c: Case) {
        #expect(HPA.desiredReplicas(specReplicas: c.spec, ready: c.ready, unready: c.unready, utilization: c.util,
                                    target: c.target, tolerance: 0.1) == c.want, "\(c.note)")
    }

    @Test func scaleUpLimitIsMaxOfDoubleAndFourPods() {
        #expect(HPA.scaleUpLimit(from: 1) == 5)
        #expect(HPA.scaleUpLimit(from: 4) == 8)
        #expect(HPA.scaleUpLimit(from: 10) == 20)
    }

    /// The default scale-down stabilisation takes the highest recommendation of the last 300 s, so a drop is acted
    /// on 300 s after the last high recommendation; a scale-up is immediate but limited to max(+100 %, +4) per 15 s.
    @Test func stabilizationAndRateLimitSequence() {
        let p = GroupPolicy.hpaDefaults(target: 0.5, min: 1, max: 100)
        var s = HPAState()
        var spec = 10
        // t = 0: recommendation 10 (steady)
        #expect(s.next(t: 0, spec: spec, raw: 10, policy: p).replicas == 10)
        // load drops: recommendation 3 from t = 15 s on; held at 10 while 10 is in the window (0, 300] s ...
        for t in stride(from: Int64(15_000), to: 300_000, by: 15_000) {
            let r = s.next(t: t, spec: spec, raw: 3, policy: p)
            #expect(r.replicas == 10, "t=\(t)")
            #expect(r.stabilizedFrom == 3)
        }
        // ... and at t = 300 s the recommendation of t = 0 has left the window
        let r = s.next(t: 300_000, spec: spec, raw: 3, policy: p)
        #expect(r.replicas == 3)
        s.applied(t: 300_000, from: spec, to: 3)
        spec = 3
        // a surge to 40: limited to max(2×3, 3+4) = 7 in this period
        let up = s.next(t: 315_000, spec: spec, raw: 40, policy: p)
        #expect(up.replicas == 7)
        s.applied(t: 315_000, from: 3, to: 7)
        // next period: from 7, max(14, 11) = 14
        #expect(s.next(t: 330_000, spec: 7, raw: 40, policy: p).replicas == 14)
    }

    @Test func restartBackoffDoublesAndCaps() {
        var r = RestartPolicy()
        r.backoff = .seconds(10)
        r.maxBackoff = .seconds(300)
        let delays = (1...9).map { r.delay(beforeRestart: $0) / 1000 }
        #expect(delays == [0, 10, 20, 40, 80, 160, 300, 300, 300])
        r.maxBackoff = .seconds(25)
        #expect((1...5).map { r.delay(beforeRestart: $0) / 1000 } == [0, 10, 20, 25, 25])
    }
}
