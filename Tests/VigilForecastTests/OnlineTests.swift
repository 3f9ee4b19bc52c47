import Foundation
import Testing
import VigilCore
@testable import VigilForecast

/// An in-memory store good enough for the online forecaster: select by matchers, append with out-of-order checks.
final class MemoryStore: SeriesReader, SampleAppender, @unchecked Sendable {
    private let lock = NSLock()
    private var data: [Labels: SeriesSamples] = [:]

    func select(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [SeriesSamples] {
        lock.lock(); defer { lock.unlock() }
        return data.values.filter { s in matchers.allSatisfy { $0.matches(s.labels) } }.sorted { $0.labels < $1.labels }.compactMap { s in
            var o = SeriesSamples(labels: s.labels)
            for i in s.timestamps.indices where s.timestamps[i] >= mint && s.timestamps[i] <= maxt { o.append(s.timestamps[i], s.values[i]) }
            return o.count > 0 ? o : nil
        }
    }
    func series(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [Labels] { try select(matchers, mint: mint, maxt: maxt).map(\.labels) }
    func labelNames(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [String] { [] }
    func labelValues(_ name: String, matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [String] { [] }

    func append(_ batch: [SeriesSamples]) async throws -> AppendResult { try appendSync(batch) }

    func appendSync(_ batch: [SeriesSamples]) throws -> AppendResult {
        lock.lock(); defer { lock.unlock() }
        var r = AppendResult()
        for (i, s) in batch.enumerated() {
            do { try s.labels.validate() } catch { throw InvalidSeriesError(index: i, labels: s.labels, reason: "\(error)") }
        }
        for s in batch {
            var cur = data[s.labels] ?? SeriesSamples(labels: s.labels)
            if cur.count == 0 { r.newSeries += 1 }
            for i in s.timestamps.indices {
                if let last = cur.timestamps.last, s.timestamps[i] <= last {
                    if s.timestamps[i] == last { r.duplicate += 1 } else { r.outOfOrder += 1 }
                    continue
                }
                cur.append(s.timestamps[i], s.values[i])
                r.accepted += 1
            }
            data[s.labels] = cur
        }
        return r
    }

    func all(_ name: String) -> [SeriesSamples] {
        lock.lock(); defer { lock.unlock() }
        return data.values.filter { $0.labels.metricName == name }.sorted { $0.labels < $1.labels }
    }
}

@Suite struct OnlineForecasterTests {
    @Test func tickForecastsScoresAndWritesBackSeries() async throws {
        let store = MemoryStore()
        let step: Int64 = 60_000
        // more than the anomaly scorer's learning period (one day of 1-minute points)
        let n: Int64 = 1600
        var rng = TestRNG(12)
        let t0: Int64 = 1_700_000_000_000
        var batch: [SeriesSamples] = []
        for inst in ["a", "b"] {
            var g = SeriesSamples(labels: Labels([("__name__", "cpu_usage"), ("instance", inst)]))
            var c = SeriesSamples(labels: Labels([("__name__", "requests_total"), ("instance", inst)]))
            var total = 0.0
            for i in 0..<Int(n) {
                g.append(t0 + Int64(i) * step, 50 + 10 * sin(Double(i) / 20) + rng.normal())
                total += 100 + 5 * rng.normal()
                c.append(t0 + Int64(i) * step, total)
            }
            batch += [g, c]
        }
        _ = try await store.append(batch)
        var o = OnlineForecaster.Configuration(selectors: [[LabelMatcher.equal("instance", "a")], [LabelMatcher.equal("instance", "b")]])
        o.horizon = 5
        // Alert only on very strong evidence: the odd 0.99 on the noisy sine does not suppress the spike's alarm below.
        o.anomalyAlarmThreshold = 0.999999
        // A trivial failure model so the probability path runs end to end.
        o.failureModel = FailurePredictor(mean: .init(repeating: 0, count: FailureFeatures.count), std: .init(repeating: 1, count: FailureFeatures.count),
                                          weights: .init(repeating: 0.1, count: FailureFeatures.count + 1), featureNames: FailureFeatures.names,
                                          horizonMinutes: 30)
        let worker = BLASWorker(name: "online-test")
        let online = OnlineForecaster(reader: store, appender: store, config: o, worker: worker)
        let now = t0 + n * step
        let r1 = try await online.tick(now: now)
        #expect(r1.seriesRead == 4 && r1.seriesForecast == 4)
        let fc = store.all("vigil_forecast")
        #expect(fc.count == 8)  // 4 series × 2 quantiles
        for s in fc {
            #expect(s.labels["horizon"] == "5m" && s.labels["metric"] != nil && s.timestamps == [t0 + (n - 1) * step])
        }
        // quantile 0.95 above the median, and the counter is forecast as a rate (≈ 100/60 per second)
        for inst in ["a", "b"] {
            let med = fc.first { $0.labels["instance"] == inst && $0.labels["metric"] == "requests_total" && $0.labels["quantile"] == "0.5" }!.values[0]
            let p95 = fc.first { $0.labels["instance"] == inst && $0.labels["metric"] == "requests_total" && $0.labels["quantile"] == "0.95" }!.values[0]
            #expect(p95 >= med)
            #expect(abs(med - 100.0 / 60) < 0.5)
        }
        let scores = store.all("vigil_anomaly_score")
        #expect(scores.count == 4 && scores.allSatisfy { $0.count >= Int(n) - 1 && $0.values.allSatisfy { $0 >= 0 && $0 <= 1 } })
        let fail = store.all("vigil_failure_probability")
        #expect(fail.map { $0.labels["instance"] } == ["a", "b"] && fail.allSatisfy { $0.values[0] > 0 && $0.values[0] < 1 })

        // No new data: nothing new is forecast or scored.
        let r2 = try await online.tick(now: now + 30_000)
        #expect(r2.seriesForecast == 0)
        // A spike arrives on a's gauge: its new point scores high.
        _ = try await store.append([SeriesSamples(labels: Labels([("__name__", "cpu_usage"), ("instance", "a")]), timestamps: [t0 + n * step], values: [400])])
        let r3 = try await online.tick(now: now + step)
        #expect(r3.seriesForecast == 1)
        let a = store.all("vigil_anomaly_score").first { $0.labels["instance"] == "a" && $0.labels["metric"] == "cpu_usage" }!
        #expect(a.timestamps.last == t0 + n * step && a.values.last! > 0.999999)
        worker.stop()
    }

    /// Without `forecast.model` the tick fits a model on the pulled history; it is reused for an hour of the clock
    /// (a day-of-lags fit costs seconds), then refitted. Forecasts keep coming on every tick in between.
    @Test func aModelFittedOnTheHistoryIsReusedForAnHourThenRefitted() async throws {
        let store = MemoryStore()
        let step: Int64 = 60_000, n: Int64 = 1600, t0: Int64 = 1_700_000_000_000
        var rng = TestRNG(5)
        let labels = Labels([("__name__", "cpu_usage"), ("instance", "a")])
        var g = SeriesSamples(labels: labels)
        func value(_ i: Int64) -> Double { 50 + 10 * sin(Double(i) / 20) + rng.normal() }
        for i in 0..<n { g.append(t0 + i * step, value(i)) }
        _ = try await store.append([g])
        var o = OnlineForecaster.Configuration(selectors: [[LabelMatcher.equal("instance", "a")]])
        o.horizon = 5
        let worker = BLASWorker(name: "online-refit-test")
        defer { worker.stop() }
        let online = OnlineForecaster(reader: store, appender: store, config: o, worker: worker)
        var now = t0 + n * step
        let r1 = try await online.tick(now: now)
        #expect(r1.fitsOnInput == 1 && r1.seriesForecast == 1 && r1.fallbacks == 0, "\(r1)")
        // 59 more minutes, a tick each: forecast every time, fitted never
        var fits = 0
        for i in n..<(n + 59) {
            _ = try await store.append([SeriesSamples(labels: labels, timestamps: [t0 + i * step], values: [value(i)])])
            now = t0 + (i + 1) * step
            let r = try await online.tick(now: now)
            #expect(r.seriesForecast == 1 && r.fallbacks == 0, "\(r)")
            fits += r.fitsOnInput
        }
        #expect(fits == 0, "reused within the hour")
        // an hour after the fit: fitted again on the newer history
        _ = try await store.append([SeriesSamples(labels: labels, timestamps: [t0 + (n + 59) * step], values: [value(n + 59)])])
        let r3 = try await online.tick(now: t0 + (n + 60) * step)
        #expect(r3.fitsOnInput == 1 && r3.seriesForecast == 1, "\(r3)")
        #expect(store.all("vigil_forecast").map(\.count) == [61, 61], "one forecast per tick in each quantile series")
    }

    /// `stepMs` (forecast.step): a series whose resolution changes (1-minute history, then 15 s samples) is forecast
    /// at the configured step, so its `horizon` label does not change with the median gap.
    @Test func aConfiguredStepKeepsTheHorizonLabelWhenTheResolutionChanges() async throws {
        func run(step: Int64?) async throws -> [String?] {
            let store = MemoryStore()
            let t0: Int64 = 1_700_000_000_000
            var g = SeriesSamples(labels: Labels([("__name__", "demand"), ("group", "web")]))
            var t = t0
            for i in 0..<1500 { g.append(t, 10 + sin(Double(i) / 30)); t += 60_000 }
            for i in 0..<2000 { g.append(t, 10 + sin(Double(1500 + i / 4) / 30)); t += 15_000 }
            _ = try await store.append([g])
            var o = OnlineForecaster.Configuration(selectors: [[LabelMatcher.equal("group", "web")]])
            o.horizon = 5
            o.stepMs = step
            let worker = BLASWorker(name: "online-step-test")
            defer { worker.stop() }
            let online = OnlineForecaster(reader: store, appender: store, config: o, worker: worker)
            let r = try await online.tick(now: t)
            #expect(r.seriesForecast == 1, "\(r)")
            return store.all("vigil_forecast").map { $0.labels["horizon"] }
        }
        // the median gap is 15 s now: 5 steps are 1m15s
        #expect(try await run(step: nil) == ["1m15s", "1m15s"])
        #expect(try await run(step: 60_000) == ["5m", "5m"])
    }
}
