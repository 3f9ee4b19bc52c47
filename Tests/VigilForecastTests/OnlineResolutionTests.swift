import Foundation
import Testing
import VigilCore
@testable import VigilForecast

/// Wraps the test store and sums what every append reported, so a point written twice shows up.
final class CountingAppender: SampleAppender, @unchecked Sendable {
    let store: MemoryStore
    private let lock = NSLock()
    private var total = AppendResult()
    init(_ store: MemoryStore) { self.store = store }
    func append(_ batch: [SeriesSamples]) async throws -> AppendResult {
        let r = try store.appendSync(batch)
        lock.withLock {
            total.accepted += r.accepted
            total.duplicate += r.duplicate
            total.outOfOrder += r.outOfOrder
        }
        return r
    }
    var result: AppendResult { lock.withLock { total } }
}

@Suite struct OnlineResolutionTests {
    static func shippedModel() throws -> LinearForecaster {
        let path = repoRoot.appendingPathComponent("Models/vm-cpu-5m.vgm").path
        let data = try #require(FileManager.default.contents(atPath: path))
        return try LinearForecaster(modelFile: ModelFile.decode([UInt8](data), name: path))
    }

    static let labels = Labels([("__name__", "vm_cpu_usage_percent"), ("vm", "a")])

    /// Three days of a daily CPU % pattern with noise, one sample every `stepMs`, ending just before `end`.
    static func cpu(end: Int64, stepMs: Int64) -> SeriesSamples {
        var rng = TestRNG(7)
        var s = SeriesSamples(labels: labels)
        let n = Int(3 * 86_400_000 / stepMs)
        for i in 0..<n {
            let t = end - Int64(n - i) * stepMs + 1_000  // off the bucket edges, as real scrapes are
            s.append(t, 50 + 20 * sin(Double(t) / 86_400_000 * 2 * .pi) + 3 * rng.normal())
        }
        return s
    }

    /// The mean per 5-minute step written out independently of `OnlineForecaster.resample`: bucket [k·S, (k+1)·S),
    /// stamped at its end.
    static func means(_ s: SeriesSamples, stepMs: Int64) -> SeriesSamples {
        var sums: [Int64: (Double, Int)] = [:]
        for (t, v) in zip(s.timestamps, s.values) { sums[t / stepMs, default: (0, 0)].0 += v; sums[t / stepMs, default: (0, 0)].1 += 1 }
        var out = SeriesSamples(labels: s.labels)
        for k in sums.keys.sorted() { out.append((k + 1) * stepMs, sums[k]!.0 / Double(sums[k]!.1)) }
        return out
    }

    /// 15 s scrapes with the shipped 5-minute model: forecast by that model after resampling (no refit, no fallback),
    /// and the forecast is the one made from the series resampled beforehand.
    @Test func fifteenSecondDataUsesTheFiveMinuteModel() async throws {
        let model = try Self.shippedModel()
        #expect(model.stepMs == 300_000)
        let now: Int64 = 1_764_000_000_000 - 1_764_000_000_000 % 300_000
        let raw = Self.cpu(end: now, stepMs: 15_000)
        let worker = BLASWorker(name: "online-resolution")
        defer { worker.stop() }

        let a = MemoryStore()
        _ = try a.appendSync([raw])
        let onA = OnlineForecaster(reader: a, appender: a, config: .init(selectors: [[.equal("__name__", "vm_cpu_usage_percent")]], model: model), worker: worker)
        let ra = try await onA.tick(now: now)
        #expect(ra.seriesRead == 1 && ra.seriesResampled == 1)
        #expect(ra.refits == 0 && ra.fallbacks == 0 && ra.seriesForecast == 1)

        let b = MemoryStore()
        _ = try b.appendSync([Self.means(raw, stepMs: 300_000)])
        let onB = OnlineForecaster(reader: b, appender: b, config: .init(selectors: [[.equal("__name__", "vm_cpu_usage_percent")]], model: model), worker: worker)
        let rb = try await onB.tick(now: now)
        #expect(rb.seriesResampled == 0 && rb.refits == 0 && rb.fallbacks == 0 && rb.seriesForecast == 1)

        let fa = a.all("vigil_forecast"), fb = b.all("vigil_forecast")
        #expect(fa.count == 2 && fa.map(\.labels) == fb.map(\.labels))
        #expect(fa.allSatisfy { $0.labels["horizon"] == DurationParser.format(Int64(model.horizon) * 300_000) && $0.timestamps == [now] })
        for (x, y) in zip(fa, fb) {
            #expect(x.timestamps == y.timestamps && x.values == y.values, "\(x.labels): \(x.values) vs \(y.values)")
        }
    }

    /// Data coarser than the model's step cannot be resampled to it: the model is refitted, and that is counted.
    @Test func refitIsCounted() async throws {
        let now: Int64 = 1_764_000_000_000 - 1_764_000_000_000 % 300_000
        let store = MemoryStore()
        _ = try store.appendSync([Self.cpu(end: now, stepMs: 600_000)])
        let worker = BLASWorker(name: "online-refit")
        defer { worker.stop() }
        let on = OnlineForecaster(reader: store, appender: store, config: .init(selectors: [[.equal("vm", "a")]], model: try Self.shippedModel()), worker: worker)
        let r = try await on.tick(now: now)
        #expect(r.refits == 1 && r.seriesResampled == 0 && r.refitSeries == [Self.labels.description])
    }

    @Test func resampleMeansPerStep() {
        let r = OnlineForecaster.resample(timestamps: [0, 100, 250, 300, 310, 590, 600, 650], values: [1, 3, .nan, 10, 20, 30, 7, 9],
                                          stepMs: 300, now: 650)
        // [0,300) → mean(1, 3) at 300 (NaN skipped); [300,600) → 20 at 600; [600,900) has not ended at 650: left out.
        #expect(r.timestamps == [300, 600] && r.values == [2, 20])
    }

    /// Ticks that overlap (a loop tick and a manual one, out of order) never lose or repeat detector state: every
    /// point is scored exactly once and no anomaly score is written twice.
    @Test func concurrentTicksKeepDetectorState() async throws {
        let step: Int64 = 60_000
        let t0: Int64 = 1_700_000_000_000
        let store = MemoryStore()
        var s = SeriesSamples(labels: Labels([("__name__", "load"), ("host", "h")]))
        var rng = TestRNG(3)
        for i in 0..<900 { s.append(t0 + Int64(i) * step, 5 + sin(Double(i) / 30) + 0.1 * rng.normal()) }
        _ = try store.appendSync([s])
        let counting = CountingAppender(store)
        let worker = BLASWorker(name: "online-concurrent")
        defer { worker.stop() }
        var cfg = OnlineForecaster.Configuration(selectors: [[.equal("__name__", "load")]])
        cfg.horizon = 3
        let on = OnlineForecaster(reader: store, appender: counting, config: cfg, worker: worker)
        try await on.tick(now: t0 + 500 * step)
        // Six overlapping ticks, later ones first.
        let nows = [880, 700, 860, 620, 899, 540].map { t0 + Int64($0) * step }
        try await withThrowingTaskGroup(of: OnlineForecaster.TickReport.self) { g in
            for n in nows { g.addTask { try await on.tick(now: n) } }
            try await g.waitForAll()
        }
        let seen = await on.detectorObservations[s.labels]
        #expect(seen == 900)
        let scores = store.all("vigil_anomaly_score")
        #expect(scores.count == 1 && scores.first?.count == 900)
        #expect(counting.result.duplicate == 0 && counting.result.outOfOrder == 0)
    }
}
