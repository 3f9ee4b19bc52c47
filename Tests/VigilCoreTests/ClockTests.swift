import Foundation
import Testing
import VigilCore

@Suite struct ClockTests {
    @Test func simulatedClockResumesSleepersInDeadlineOrder() async throws {
        let clock = SimulatedClock(startMillis: 1_000)
        let order = OrderLog()
        let a = Task { try await clock.sleep(untilMillis: 5_000); await order.add("a@\(clock.nowMillis())") }
        let b = Task { try await clock.sleep(untilMillis: 3_000); await order.add("b@\(clock.nowMillis())") }
        while clock.sleeperCount < 2 { await Task.yield() }
        #expect(clock.nextDeadline == 3_000)
        clock.advance(to: 3_000)
        try await b.value
        #expect(await order.items == ["b@3000"])
        #expect(clock.sleeperCount == 1)
        clock.advance(by: 10_000)
        try await a.value
        #expect(await order.items == ["b@3000", "a@13000"])
        #expect(clock.nowMillis() == 13_000)
    }

    @Test func simulatedClockNeverGoesBackAndPastDeadlinesReturnAtOnce() async throws {
        let clock = SimulatedClock(startMillis: 10_000)
        clock.advance(to: 5_000)
        #expect(clock.nowMillis() == 10_000)
        try await clock.sleep(untilMillis: 9_000)  // already past: returns without anyone advancing
        try await clock.sleep(millis: 0)
    }

    @Test func cancelledSleeperThrowsAndIsRemoved() async throws {
        let clock = SimulatedClock(startMillis: 0)
        let t = Task { try await clock.sleep(untilMillis: 1_000_000) }
        while clock.sleeperCount < 1 { await Task.yield() }
        t.cancel()
        await #expect(throws: CancellationError.self) { try await t.value }
        #expect(clock.sleeperCount == 0)
    }

    /// Tasks cancelled at any point around going to sleep all end (a cancellation that lands before the sleeper is
    /// registered must not leave it asleep forever). A hang would fail through the 60 s guard, not hang the suite.
    @Test func cancellationRacingRegistrationNeverLeavesASleeper() async throws {
        let clock = SimulatedClock(startMillis: 0)
        let finished = try await withThrowingTaskGroup(of: Int?.self) { group in
            group.addTask {
                var n = 0
                for _ in 0..<500 {
                    let t = Task { try await clock.sleep(untilMillis: 1_000_000) }
                    t.cancel()
                    _ = try? await t.value
                    n += 1
                }
                return n
            }
            group.addTask { try await WallClock().sleep(millis: 60_000); return nil }
            let first = try await group.next()!
            group.cancelAll()
            return first
        }
        #expect(finished == 500)
        #expect(clock.sleeperCount == 0)
    }

    @Test func wallClockIsNearSystemTime() async throws {
        let c = WallClock()
        let sys = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(abs(c.nowMillis() - sys) < 5_000)
        let before = c.nowMillis()
        try await c.sleep(millis: 20)
        #expect(c.nowMillis() >= before + 20)
    }

    @Test func acceleratedClockStartsWhereToldAndRunsFaster() async throws {
        let start: Int64 = 1_600_000_000_000
        let c = AcceleratedClock(speed: 1000, startMillis: start)
        #expect(c.nowMillis() >= start)
        let wall = WallClock()
        let w0 = wall.nowMillis()
        // 60 s of clock time at 1000× is 60 ms of wall time; it must not return early on the clock
        try await c.sleep(millis: 60_000)
        #expect(c.nowMillis() >= start + 60_000)
        // and it took at least the compressed wall time (never a timing upper bound here)
        #expect(wall.nowMillis() - w0 >= 59)
    }

    @Test func acceleratedClockSleepIsCancellable() async throws {
        let c = AcceleratedClock(speed: 2)
        let t = Task { try await c.sleep(millis: 3_600_000) }
        t.cancel()
        await #expect(throws: CancellationError.self) { try await t.value }
    }
}

private actor OrderLog {
    var items: [String] = []
    func add(_ s: String) { items.append(s) }
}
