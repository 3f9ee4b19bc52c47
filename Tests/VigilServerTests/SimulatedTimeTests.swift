import Foundation
import Logging
import Testing
import VigilCore
import VigilForecast
@testable import VigilServer
@testable import VigilIngestPath
@testable import VigilCollectors
@testable import VigilOnline

/// Services that wait take a `VigilClock`: on a `SimulatedClock` they run hours of their life in a fraction of that
/// in real time, with the same schedule every run.
@Suite struct SimulatedTimeTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Advances `clock` to `t` once every sleeper has gone back to sleep past the current time (the service finished
    /// its round). Bounded: fails the test if the service never sleeps again.
    static func step(_ clock: SimulatedClock, to t: Int64, sleepers: Int = 1) async throws {
        for _ in 0..<200_000 {
            if clock.sleeperCount >= sleepers, let d = clock.nextDeadline, d > clock.nowMillis() { break }
            try await Task.sleep(nanoseconds: 50_000)
        }
        #expect(clock.sleeperCount >= sleepers, "the service did not go back to sleep")
        clock.advance(to: t)
    }

    /// Six simulated hours of the online model loop (5-minute interval, the shipped 5-minute model) over 15 s data:
    /// one forecast per 5-minute step, stamped at each step's end, never a refit.
    @Test func onlineModelLoopOverSimulatedHours() async throws {
        let start: Int64 = 1_764_000_000_000 - 1_764_000_000_000 % 300_000
        let store = MemoryStore()
        let labels = Labels([("__name__", "vm_cpu_usage_percent"), ("vm", "a")])
        // Two days before the start and the six simulated hours after it (the loop reads only up to its `now`).
        var s = SeriesSamples(labels: labels)
        var t = start - 2 * 86_400_000 + 7_000
        while t < start + 6 * 3_600_000 {
            s.append(t, 50 + 20 * sin(Double(t) / 86_400_000 * 2 * .pi))
            t += 15_000
        }
        var limit = SeriesSamples(labels: labels.setting("__name__", "vm_cpu_usage_percent_limit"))
        for ts in s.timestamps { limit.append(ts, 100) }
        _ = try await store.append([s, limit])
        var cfg = ForecastConfig()
        cfg.selectors = [[.equal("__name__", "vm_cpu_usage_percent")]]
        cfg.modelPath = Self.repoRoot.appendingPathComponent("Models/vm-cpu-5m.vgm").path
        cfg.interval = .seconds(300)
        // Time-to-exhaustion on (the default pairings): `X_limit` is X's limit. This used to hang the first tick on
        // MemoryStore + SimulatedClock (issue 15); no longer reproduced (8 runs in a row, and in the full suite).
        let forecaster = OnlineForecaster(reader: store, appender: store, config: try cfg.onlineConfiguration())
        let clock = SimulatedClock(startMillis: start)
        let metrics = SelfMetrics()
        let loop = OnlineModelLoop(forecaster: forecaster, interval: cfg.interval, clock: clock, metrics: metrics, logger: Logger(label: "t"))
        let task = Task { await loop.run() }
        let ticks = 6 * 12
        for k in 1...ticks { try await Self.step(clock, to: start + Int64(k) * 300_000) }
        try await Self.step(clock, to: start + Int64(ticks) * 300_000 + 1)
        task.cancel()
        await task.value

        let median = try store.select([.equal("__name__", "vigil_forecast"), .equal("quantile", "0.5")], mint: .min, maxt: .max)
        #expect(median.count == 1)
        #expect(median.first?.timestamps == (0...ticks).map { start + Int64($0) * 300_000 })
        #expect(median.first?.labels["horizon"] == "1h")
        #expect(metrics.counter("vigil_forecaster_refits_total") == 0)
        #expect(metrics.counter("vigil_forecaster_resampled_series_total") == Double(ticks + 1))
        let scores = try store.select([.equal("__name__", "vigil_anomaly_score")], mint: .min, maxt: .max)
        #expect(scores.first?.timestamps.last == start + Int64(ticks) * 300_000)
        // the exhaustion pass ran every tick on the samples up to its now (the limit series itself is not paired)
        let exhaustion = try store.select([.equal("__name__", "vigil_failure_probability"), .equal("kind", "exhaustion")], mint: .min, maxt: .max)
        #expect(exhaustion.map { $0.labels["metric"] } == ["vm_cpu_usage_percent"])
        #expect(exhaustion.first?.count == ticks + 1 && exhaustion.first?.values.allSatisfy { $0 >= 0 && $0 <= 1 } == true,
                "\(exhaustion.first.map { Array($0.timestamps.prefix(3)) } ?? [])")
    }

    /// The host collector on a simulated clock: one reading per interval, stamped on the clock's grid.
    @Test func hostCollectorOnSimulatedClock() async throws {
        let start: Int64 = 1_764_000_000_000
        let store = MemoryStore()
        let clock = SimulatedClock(startMillis: start)
        let ing = Ingestor(appender: store, limits: SeriesLimits(), metrics: SelfMetrics())
        let host = HostCollector(ingestor: ing, logger: Logger(label: "t"), instance: "h1", clock: clock)
        let task = Task { await host.run(every: .seconds(15)) }
        let rounds = 4 * 60  // a simulated hour
        for k in 1...rounds { try await Self.step(clock, to: start + Int64(k) * 15_000) }
        try await Self.step(clock, to: start + Int64(rounds) * 15_000 + 1)
        task.cancel()
        await task.value
        let load = try store.select([.equal("__name__", "node_load1"), .equal("instance", "h1")], mint: .min, maxt: .max)
        #expect(load.first?.timestamps == (0...rounds).map { start + Int64($0) * 15_000 })
    }
}

/// `--data :memory:` keeps the TSDB's time bounds: too old and too far ahead are judged against the clock.
@Suite struct MemoryStoreTimeBoundsTests {
    @Test func boundsFollowTheClockNotTheNewestSample() async throws {
        let clock = SimulatedClock(startMillis: 10 * 86_400_000)
        let store = MemoryStore(outOfBoundsMs: 86_400_000, maxFutureMs: 600_000, clock: clock)
        let now = clock.nowMillis()
        let labels = Labels(["__name__": "m"])
        // A far-future sample refuses its batch and writes nothing.
        await #expect(throws: InvalidSeriesError.self) {
            _ = try await store.append([SeriesSamples(labels: labels, timestamps: [now - 1_000, now + 20 * 86_400_000], values: [1, 2])])
        }
        #expect(store.sampleCount == 0)
        // Older than now − retention is too old, even in an empty store; within it is accepted.
        let r = try await store.append([SeriesSamples(labels: labels, timestamps: [now - 2 * 86_400_000, now - 1_000], values: [1, 2])])
        #expect(r.tooOld == 1 && r.accepted == 1)
        clock.advance(by: 2 * 86_400_000)
        let r2 = try await store.append([SeriesSamples(labels: labels, timestamps: [now], values: [3])])
        #expect(r2.tooOld == 1)
    }
}
