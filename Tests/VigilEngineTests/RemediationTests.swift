import Foundation
import Testing
import VigilCore
@testable import VigilEngine
import VigilSim

struct RemediationTests {
    func policy() -> GroupPolicy {
        var p = GroupPolicy()
        p.strategy = .none
        p.startup = .seconds(60)
        p.restart.backoff = .seconds(30)
        p.restart.maxBackoff = .seconds(300)
        p.restart.restartsBeforeRelocate = 3
        p.restart.relocationsBeforePage = 1
        p.restart.webhook = "http://127.0.0.1:9/page"
        return p
    }

    /// web-0 crashes every time it comes up: restart ×3 (immediately, then after 30 s, then 60 s), relocate, restart
    /// ×3 again, then page, and nothing after the page.
    @Test func escalationLadderWithBackoff() async {
        let h = await Harness(policy(), replicas: 4)
        await h.run(from: 0, to: 3_600_000, load: { _ in 1 }) { t in
            if await h.sim.instances(of: "web").first(where: { $0.id == "web-0" })?.state == .running {
                await h.sim.crash(instance: "web-0")
            }
        }
        let mine = h.audit.records().filter { $0.instance == "web-0" && $0.result == .executed }
        #expect(mine.map(\.kind) == [.restart, .restart, .restart, .relocate, .restart, .restart, .restart, .page])
        let deferred = h.audit.records().filter { $0.instance == "web-0" && $0.result == .deferred }
        #expect(deferred.map { $0.numbers["backoff_s"] ?? -1 } == [30, 60, 30, 60])
        #expect(mine.last?.reason.contains("leaving it to a human") == true)
        #expect(await h.sim.counters.splitBrainRefused == 0)
        let relocated = mine.first { $0.kind == .relocate }
        #expect(relocated?.reason.contains("fenced") == true)
    }

    /// An unhealthy instance still runs, so it is not fenced: it is stopped before a copy starts elsewhere.
    @Test func fencesBeforeRelocating() async {
        var p = policy()
        p.restart.restartsBeforeRelocate = 0
        let h = await Harness(p, replicas: 4)
        await h.sim.makeUnhealthy(instance: "web-1")
        let before = await h.sim.instances(of: "web").first { $0.id == "web-1" }!.host
        await h.run(from: 0, to: 60_000, load: { _ in 1 })
        let mine = h.audit.records().filter { $0.instance == "web-1" && $0.result == .executed }
        #expect(mine.map(\.kind) == [.fence, .relocate])
        #expect(mine[0].t < mine[1].t)
        let after = await h.sim.instances(of: "web").first { $0.id == "web-1" }!
        #expect(after.host != before)
        #expect(await h.sim.counters.splitBrainRefused == 0)
    }

    /// Host unreachable: its instances may still run, so nothing is started elsewhere; once the host is confirmed
    /// down they are fenced and relocated.
    @Test func noSecondCopyUntilHostConfirmedDown() async {
        let h = await Harness(policy(), replicas: 4, hosts: 8)
        let victim = await h.sim.instances(of: "web")[0]
        await h.sim.setHost(victim.host, .unreachable)
        await h.run(from: 0, to: 300_000, load: { _ in 1 })
        let held = h.audit.records().filter { $0.instance == victim.id }
        #expect(held.count == 1)
        #expect(held.first?.gate == "fencing" && held.first?.result == .blocked)
        #expect(!h.audit.records().contains { $0.kind == .relocate && $0.result == .executed })
        #expect(await h.sim.instances(of: "web").first { $0.id == victim.id }?.host == victim.host)
        await h.sim.setHost(victim.host, .down)
        await h.run(from: 300_000, to: 330_000, load: { _ in 1 })
        let moved = h.audit.records().filter { $0.instance == victim.id && $0.kind == .relocate && $0.result == .executed }
        #expect(moved.count == 1)
        #expect(moved.first?.reason.contains("host \(victim.host) is down") == true)
        let now = await h.sim.instances(of: "web").first { $0.id == victim.id }!
        #expect(now.host != victim.host)
        #expect(await h.sim.counters.splitBrainRefused == 0)
    }

    /// A degraded host (a failure is expected): its running instances are live-migrated to healthy hosts, at most
    /// two per step, each decided once; none lands on a degraded host. In dry-run the moves are recorded once each
    /// and nothing moves.
    @Test func evacuatesADegradedHost() async {
        for dryRun in [false, true] {
            var p = policy()
            if dryRun { p.mode = .dryRun }
            let h = await Harness(p, replicas: 8, hosts: 3)
            await h.run(from: 0, to: 60_000, load: { _ in 1 })  // all running
            let victim = await h.sim.instances(of: "web")[0].host
            let on = await h.sim.instances(of: "web").filter { $0.host == victim }.map(\.id)
            #expect(on.count >= 2)
            await h.sim.setHost(victim, .degraded)
            await h.run(from: 60_000, to: 180_000, load: { _ in 1 })
            let ev = h.audit.records().filter { $0.kind == .evacuate }
            #expect(Set(ev.compactMap(\.instance)) == Set(on) && ev.count == on.count, "\(ev.map(\.reason))")
            let after = await h.sim.instances(of: "web")
            if dryRun {
                #expect(ev.allSatisfy { $0.result == .dryRun })
                #expect(after.filter { $0.host == victim }.count == on.count)
            } else {
                #expect(ev.allSatisfy { $0.result == .executed && $0.reason.contains("is degraded") })
                #expect(Dictionary(grouping: ev, by: \.t).values.allSatisfy { $0.count <= 2 }, "two per step at most")
                #expect(after.allSatisfy { $0.host != victim && $0.state == .running })
                #expect(await h.sim.counters.migrations == on.count)
                #expect(await h.sim.counters.splitBrainRefused == 0)
            }
        }
    }

    /// Half the fleet failing at once: the engine pages once and restarts nothing.
    @Test func massFailureBrakePages() async {
        let h = await Harness(policy(), replicas: 4)
        for i in 0..<3 { await h.sim.crash(instance: "web-\(i)") }
        await h.run(from: 0, to: 60_000, load: { _ in 1 })
        #expect(h.audit.records().filter { $0.kind == .page && $0.gate == "brake" }.count == 1)
        #expect(h.records(.restart, .executed).isEmpty)
    }

    /// A restart after the instance stayed up past `reset_after` starts a fresh streak: immediate, no back-off.
    @Test func streakResetsAfterStableRun() async {
        var p = policy()
        p.restart.resetAfter = .seconds(600)
        let h = await Harness(p, replicas: 2)
        await h.sim.crash(instance: "web-0")
        await h.run(from: 0, to: 30_000, load: { _ in 1 })
        // up again at 60 s; crash at 1005 s (ran 1005 s > 600 s)
        await h.run(from: 30_000, to: 1_200_000, load: { _ in 1 }) { t in
            if t == 1_005_000 { await h.sim.crash(instance: "web-0") }
        }
        let restarts = h.records(.restart, .executed).filter { $0.instance == "web-0" }
        #expect(restarts.count == 2)
        #expect(restarts.map { $0.numbers["failures"] ?? 0 } == [1, 1])
        #expect(h.records(.restart, .deferred).isEmpty)
    }
}
