import Foundation
import Testing
import VigilCore
@testable import VigilForecast

@Suite struct OnlineExhaustionTests {
    /// A leaking memory series (free bytes falling toward 0), a filling `*_limit` pair and a flat one: the leaking and
    /// filling series get a time to exhaustion and a high probability, the flat one a low probability and no time.
    @Test func pairedSeriesGetTimeToExhaustionAndProbability() async throws {
        let store = MemoryStore()
        let step: Int64 = 60_000, t0: Int64 = 1_700_000_000_000, n: Int64 = 120
        var rng = TestRNG(21)
        let total = 8e9
        var avail = SeriesSamples(labels: Labels([("__name__", "node_memory_MemAvailable_bytes"), ("instance", "h1")]))
        var size = SeriesSamples(labels: Labels([("__name__", "node_memory_MemTotal_bytes"), ("instance", "h1")]))
        var fds = SeriesSamples(labels: Labels([("__name__", "app_open_fds"), ("instance", "h1")]))
        var fdLimit = SeriesSamples(labels: Labels([("__name__", "app_open_fds_limit"), ("instance", "h1")]))
        var flat = SeriesSamples(labels: Labels([("__name__", "app_open_fds"), ("instance", "h2")]))
        var flatLimit = SeriesSamples(labels: Labels([("__name__", "app_open_fds_limit"), ("instance", "h2")]))
        for i in 0..<n {
            let t = t0 + i * step
            // used memory grows 45 MB a minute: 6 GB free at t0 … 0.645 GB at the last sample, ~14.3 minutes left
            avail.append(t, 6e9 - 4.5e7 * Double(i) + 2e6 * rng.normal())
            size.append(t, total)
            // +4 fds a minute from 100: 576 of 1,024 at the last sample, the limit in 112 minutes
            fds.append(t, 100 + 4 * Double(i) + rng.normal())
            fdLimit.append(t, 1024)
            flat.append(t, 300 + 3 * rng.normal())
            flatLimit.append(t, 1024)
        }
        _ = try await store.append([avail, size, fds, fdLimit, flat, flatLimit])
        var o = OnlineForecaster.Configuration(selectors: [[LabelMatcher.equal("__name__", "node_memory_MemAvailable_bytes")],
                                                           [LabelMatcher.equal("__name__", "app_open_fds")]])
        o.horizon = 5
        let worker = BLASWorker(name: "exhaustion-test")
        let online = OnlineForecaster(reader: store, appender: store, config: o, worker: worker)
        let now = t0 + n * step
        let r = try await online.tick(now: now)
        #expect(r.exhaustionProbabilities == 3)
        let tte = store.all("vigil_time_to_exhaustion_seconds")
        let mem = tte.first { $0.labels["instance"] == "h1" && $0.labels["metric"] == "node_memory_MemAvailable_bytes" }
        #expect(mem.map { abs($0.values[0] - 14.3 * 60) < 3 * 60 } == true, "\(String(describing: mem))")
        #expect(mem?.timestamps == [t0 + (n - 1) * step])
        let fd = tte.first { $0.labels["instance"] == "h1" && $0.labels["metric"] == "app_open_fds" }
        #expect(fd.map { abs($0.values[0] - 112 * 60) < 10 * 60 } == true, "\(String(describing: fd))")
        let p = store.all("vigil_failure_probability").filter { $0.labels["kind"] == "exhaustion" && $0.labels["horizon"] == "30m" }
        func prob(_ inst: String) -> Double? { p.first { $0.labels["instance"] == inst && $0.labels["metric"] != "node_memory_MemAvailable_bytes" }?.values[0] }
        let pMem = p.first { $0.labels["metric"] == "node_memory_MemAvailable_bytes" }?.values[0]
        #expect(pMem.map { $0 > 0.9 } == true, "\(String(describing: pMem))")
        #expect(prob("h1").map { $0 < 0.05 } == true, "\(String(describing: prob("h1")))")  // two hours away
        #expect(prob("h2").map { $0 < 0.01 } == true, "\(String(describing: prob("h2")))")
        // flat: no finite time to exhaustion, or one far beyond a day
        #expect(tte.filter { $0.labels["instance"] == "h2" }.allSatisfy { $0.values[0] > 86_400 })
        // no new samples: nothing is recomputed
        let r2 = try await online.tick(now: now + 1000)
        #expect(r2.exhaustionProbabilities == 0)
        worker.stop()
    }
}
