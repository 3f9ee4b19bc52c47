import Foundation
import Logging
import Testing
import VigilCore
@testable import VigilServer
@testable import VigilIngestPath

/// A background loop (collector, listener, online model) that fails is restarted with back-off on the server's
/// clock, counted and logged; a loop that returns or is cancelled is not restarted.
@Suite struct ServiceRestartTests {
    @Test func failingLoopRestartsWithDoublingBackoffThenRuns() async throws {
        let clock = SimulatedClock(startMillis: 0)
        let metrics = SelfMetrics()
        let runs = Counter()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let service = LoopService(name: "flaky collector", body: {
            let n = runs.next()
            if n <= 3 { throw CollectorFailure(attempt: n) }
            // The fourth run works and runs until cancelled.
            try await clock.sleep(untilMillis: .max / 2)
        }, logger: logger, clock: clock, metrics: metrics)
        let task = Task { try await service.run() }
        // Each failure waits its back-off on the clock: 1 s, 2 s, 4 s.
        var restartTimes: [Int64] = []
        for _ in 0..<3 {
            while clock.sleeperCount == 0 { await Task.yield() }
            let deadline = clock.nextDeadline!
            restartTimes.append(deadline - clock.nowMillis())
            clock.advance(to: deadline)
            while clock.sleeperCount > 0 && clock.nextDeadline == deadline { await Task.yield() }
        }
        #expect(restartTimes == [1_000, 2_000, 4_000])
        while runs.value < 4 { await Task.yield() }
        #expect(metrics.render().contains("vigil_service_restarts_total{service=\"flaky collector\"} 3"))
        #expect(metrics.render().contains("# TYPE vigil_service_restarts_total counter\n"))
        task.cancel()
        try await task.value
        #expect(runs.value == 4, "a cancelled loop is not restarted")
    }

    @Test func loopThatReturnsIsNotRestarted() async throws {
        let runs = Counter()
        let service = LoopService(name: "one-shot", body: { _ = runs.next() }, logger: Logger(label: "test"),
                                  clock: SimulatedClock(startMillis: 0), metrics: SelfMetrics())
        try await service.run()
        #expect(runs.value == 1)
    }
}

private struct CollectorFailure: Error { let attempt: Int }

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func next() -> Int { lock.withLock { n += 1; return n } }
    var value: Int { lock.withLock { n } }
}
