import Foundation
import Testing
import VigilCore
@testable import VigilServer

@Suite struct OnlineModelsTests {
    @Test func parsesForecastSection() throws {
        let yaml = """
            scrape_configs: []
            forecast:
              interval: 10s
              watch: ['vm_cpu{job="demo"}', 'node_load1']
              horizon: 6
            """
        let c = try #require(try ForecastConfig.parse(yaml: yaml))
        #expect(c.interval == .seconds(10))
        #expect(c.selectors.count == 2)
        #expect(c.selectors[0].contains(LabelMatcher.equal("job", "demo")))
        #expect(c.horizon == 6)
        #expect(try ForecastConfig.parse(yaml: "scrape_configs: []\n") == nil)
    }

    @Test(arguments: [
        ("forecast:\n  watch: ['up']\n  interval: soon\n", "forecast.interval"),
        ("forecast:\n  interval: 5s\n", "forecast.watch"),
        ("forecast:\n  watch: ['up{']\n", "forecast.watch[0]"),
        ("forecast:\n  watch: ['up']\n  colour: red\n", "forecast.colour"),
        ("forecast:\n  watch: ['up']\n  horizon: -1\n", "forecast.horizon"),
    ])
    func rejectsBadForecastSection(yaml: String, field: String) {
        do {
            _ = try ForecastConfig.parse(yaml: yaml, file: "vigil.yml")
            Issue.record("accepted \(yaml)")
        } catch {
            #expect("\(error)".contains("vigil.yml: \(field)"), "\(error)")
        }
    }

    /// The server's forecaster loop reads the watched series from the real store and writes forecasts and
    /// anomaly scores back as series.
    @Test func serverWritesForecastsAndScores() async throws {
        var cfg = ForecastConfig()
        cfg.interval = .milliseconds(200)
        cfg.selectors = [[LabelMatcher.equal("__name__", "demo_load")]]
        cfg.horizon = 6
        let fixed = cfg
        let ts = try await TestServer.start(configure: { s in
            try! s.enableOnlineForecaster(fixed, appender: s.ingestor.appender)
        })
        // Two days of a daily sine at 5-minute steps, ending now.
        let step: Int64 = 300_000
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let n = 576
        let times = (0..<n).map { now - Int64(n - 1 - $0) * step }
        let values = times.map { 50 + 20 * sin(Double($0) / 86_400_000 * 2 * .pi) }
        for host in ["a", "b"] {
            _ = try await ts.store.append([SeriesSamples(labels: Labels(["__name__": "demo_load", "host": host]),
                                                         timestamps: times, values: values)])
        }
        var forecasts: [SeriesSamples] = []
        var scores: [SeriesSamples] = []
        for _ in 0..<150 {  // at most ~30 s
            forecasts = try ts.store.select([LabelMatcher.equal("__name__", "vigil_forecast")], mint: .min, maxt: .max)
            scores = try ts.store.select([LabelMatcher.equal("__name__", "vigil_anomaly_score")], mint: .min, maxt: .max)
            if !forecasts.isEmpty && !scores.isEmpty { break }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        #expect(Set(forecasts.compactMap { $0.labels["host"] }) == ["a", "b"])
        #expect(forecasts.allSatisfy { $0.labels["metric"] == "demo_load" })
        #expect(Set(forecasts.compactMap { $0.labels["quantile"] }).contains("0.5"))
        let median = forecasts.filter { $0.labels["quantile"] == "0.5" }.flatMap(\.values)
        #expect(!median.isEmpty && median.allSatisfy { $0 > 20 && $0 < 80 }, "forecasts \(median)")
        #expect(scores.count == 2)
        #expect(scores.flatMap(\.values).allSatisfy { $0 >= 0 && $0 <= 1 })
        await ts.stop()
    }
}
