import Foundation
import Testing
import VigilCore
import Synchronization
import VigilForecast
@testable import VigilServer
@testable import VigilIngestPath
@testable import VigilOnline

@Suite struct OnlineModelsTests {
    @Test func parsesForecastSection() throws {
        let yaml = """
            scrape_configs: []
            forecast:
              interval: 10s
              watch: ['vm_cpu{job="demo"}', 'node_load1']
              horizon: 6
            """
        let c = try #require(try VigilConfig.parse(yaml: yaml).checked().forecast)
        #expect(c.interval == .seconds(10))
        #expect(c.selectors.count == 2)
        #expect(c.selectors[0].contains(LabelMatcher.equal("job", "demo")))
        #expect(c.horizon == 6)
        #expect(try VigilConfig.parse(yaml: "scrape_configs: []\n").forecast == nil)
    }

    @Test(arguments: [
        ("forecast:\n  watch: ['up']\n  interval: soon\n", "3:13: forecast.interval"),
        ("forecast:\n  interval: 5s\n", "2:3: forecast: missing key \"watch\""),
        ("forecast:\n  watch: ['up{']\n", "2:11: forecast.watch[0]"),
        ("forecast:\n  watch: ['up']\n  colour: red\n", "3:3: forecast.colour"),
        ("forecast:\n  watch: ['up']\n  horizon: -1\n", "3:12: forecast.horizon"),
    ])
    func rejectsBadForecastSection(yaml: String, field: String) {
        do {
            _ = try VigilConfig.parse(yaml: yaml, file: "vigil.yml").checked()
            Issue.record("accepted \(yaml)")
        } catch {
            #expect("\(error)".contains("vigil.yml:\(field)"), "\(error)")
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
        // One batch, so no tick can see one host without the other.
        _ = try await ts.store.append(["a", "b"].map {
            SeriesSamples(labels: Labels(["__name__": "demo_load", "host": $0]), timestamps: times, values: values)
        })
        var forecasts: [SeriesSamples] = []
        var scores: [SeriesSamples] = []
        for _ in 0..<600 {  // at most ~2 min (the whole suite shares two cores; alone this takes under a second)
            forecasts = try ts.store.select([LabelMatcher.equal("__name__", "vigil_forecast")], mint: .min, maxt: .max)
            scores = try ts.store.select([LabelMatcher.equal("__name__", "vigil_anomaly_score")], mint: .min, maxt: .max)
            if Set(forecasts.compactMap { $0.labels["host"] }).count == 2 && scores.count == 2 { break }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        #expect(Set(forecasts.compactMap { $0.labels["host"] }) == ["a", "b"])
        #expect(forecasts.allSatisfy { $0.labels["metric"] == "demo_load" })
        #expect(Set(forecasts.compactMap { $0.labels["quantile"] }).contains("0.5"))
        let median = forecasts.filter { $0.labels["quantile"] == "0.5" }.flatMap(\.values)
        #expect(!median.isEmpty && median.allSatisfy { $0 > 20 && $0 < 80 }, "forecasts \(median)")
        #expect(scores.count == 2)
        #expect(scores.flatMap(\.values).allSatisfy { $0 >= 0 && $0 <= 1 })
        // The loop registered its metrics in the server's one registry: /metrics shows them with their type (set
        // when the tick that wrote the forecasts returns, so polled, bounded).
        let exposition = try await eventually(30, "forecaster metrics on /metrics") { () async throws -> String? in
            let t = try await http("GET", ts.base + "/metrics").text
            return t.contains("vigil_forecaster_tick_seconds ") ? t : nil
        }
        #expect(exposition.contains("# TYPE vigil_forecaster_series_forecast gauge\nvigil_forecaster_series_forecast "))
        #expect(exposition.contains("# TYPE vigil_forecaster_refits_total counter\n"))
        await ts.stop()
    }
}

/// `forecast.saturation_model` in the server: config parsing, model refusal, and probabilities in the real TSDB.
@Suite struct OnlineSaturationServerTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var saturationPath: String { repoRoot.appendingPathComponent("Models/saturation-vm-5m.vgm").path }
    static var incidentPath: String { repoRoot.appendingPathComponent("Models/failure-smd.vgm").path }
    static var forecasterPath: String { repoRoot.appendingPathComponent("Models/vm-cpu-5m.vgm").path }

    @Test func parsesSaturationModel() throws {
        let c = try #require(try VigilConfig.parse(yaml: "forecast:\n  watch: ['vm_cpu_usage_percent']\n  saturation_model: Models/saturation-vm-5m.vgm\n").forecast)
        #expect(c.saturationModelPath == "Models/saturation-vm-5m.vgm" && c.failureModelPath == nil)
    }

    @Test(arguments: [
        ("forecast:\n  watch: ['up']\n  saturation_model: /nonexistent/m.vgm\n", "3:21: forecast.saturation_model: /nonexistent/m.vgm: cannot read the file"),
        ("forecast:\n  watch: ['up']\n  saturation_model: ''\n", "3:21: forecast.saturation_model: expected a path"),
        ("forecast:\n  watch: ['up']\n  saturation-model: m.vgm\n", "3:3: forecast.saturation-model: unknown key"),
        ("forecast:\n  watch: ['up']\n  failure_model: [a]\n", "3:18: forecast.failure_model: expected a string, got a list"),
    ])
    func rejectsBadSaturationConfig(yaml: String, message: String) {
        #expect { _ = try VigilConfig.parse(yaml: yaml, file: "vigil.yml").checked() } throws: { "\($0)".contains("vigil.yml:\(message)") }
    }

    /// Each model key refuses the other kinds with an error naming the key and the file.
    @Test func refusesModelsOfTheWrongKind() async throws {
        func attempt(_ configure: (inout ForecastConfig) -> Void) async throws -> String {
            var cfg = ForecastConfig()
            cfg.selectors = [[LabelMatcher.equal("__name__", "vm_cpu_usage_percent")]]
            configure(&cfg)
            let fixed = cfg
            let message = Mutex<String>("")
            let ts = try await TestServer.start(configure: { s in
                do { try s.enableOnlineForecaster(fixed, appender: s.ingestor.appender) } catch { message.withLock { $0 = "\(error)" } }
            })
            await ts.stop()
            return message.withLock { $0 }
        }
        let a = try await attempt { $0.failureModelPath = Self.saturationPath }
        #expect(a.contains("forecast.failure_model: \(Self.saturationPath)") && a.contains("use forecast.saturation_model"), "\(a)")
        let b = try await attempt { $0.saturationModelPath = Self.incidentPath }
        #expect(b.contains("forecast.saturation_model") && b.contains(Self.incidentPath) && b.contains("not the saturation features"), "\(b)")
        let c = try await attempt { $0.saturationModelPath = Self.forecasterPath }
        #expect(c.contains("kind is forecaster, expected failure"), "\(c)")
        let d = try await attempt { $0.saturationModelPath = "/nonexistent/sat.vgm" }
        #expect(d.contains("forecast.saturation_model: /nonexistent/sat.vgm: cannot read the file"), "\(d)")
        let e = try await attempt { $0.saturationModelPath = Self.saturationPath; $0.failureModelPath = Self.incidentPath }
        #expect(e.isEmpty, "\(e)")
    }

    /// The server's loop reads VM CPU % from the real TSDB, and writes `vigil_failure_probability{<series labels>,
    /// metric, kind="saturation", horizon="1h"}` with the probability the shipped model gives on that history.
    @Test func serverWritesSaturationProbabilities() async throws {
        var cfg = ForecastConfig()
        cfg.interval = .milliseconds(200)
        cfg.selectors = [[LabelMatcher.equal("__name__", "vm_cpu_usage_percent")]]
        cfg.saturationModelPath = Self.saturationPath
        cfg.horizon = 6
        let fixed = cfg
        let ts = try await TestServer.start(configure: { s in
            try! s.enableOnlineForecaster(fixed, appender: s.ingestor.appender)
        })
        // Two days of CPU % at 5-minute steps ending now: vm1 quiet, vm2 with a daily saturating job, vm3 ramping up.
        let step: Int64 = 300_000
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let n = 576
        let times = (0..<n).map { now - Int64(n - 1 - $0) * step }
        var cpu: [String: [Double]] = [:]
        cpu["vm1"] = (0..<n).map { (i: Int) -> Double in 10 + 3 * sin(Double(i) / 7) }
        cpu["vm2"] = (0..<n).map { (i: Int) -> Double in (i % 288) >= 200 && (i % 288) < 210 ? 97 : 15 + 2 * sin(Double(i) / 5) }
        cpu["vm3"] = (0..<n).map { (i: Int) -> Double in i < n - 12 ? 20 : 20 + 5.5 * Double(i - (n - 12)) }
        for (vm, v) in cpu {
            _ = try await ts.store.append([SeriesSamples(labels: Labels(["__name__": "vm_cpu_usage_percent", "vm": vm, "job": "demo"]),
                                                         timestamps: times, values: v)])
        }
        var probs: [SeriesSamples] = []
        for _ in 0..<600 {  // at most ~2 min, as above
            probs = try ts.store.select([LabelMatcher.equal("__name__", "vigil_failure_probability")], mint: .min, maxt: .max)
            // A tick that began before the append (its `now` earlier than the last sample) may write a point for
            // the history it saw; wait for the tick that saw all of it.
            if probs.count == 3 && probs.allSatisfy({ $0.timestamps.last == times[n - 1] }) { break }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        let model = try SaturationModel(modelFile: ModelFile.read(path: Self.saturationPath))
        // a missing VM fails here with the series found, never as a crash on a force unwrap below
        try #require(probs.count == 3, "\(probs.map(\.labels))")
        for p in probs {
            let vm = try #require(p.labels["vm"])
            #expect(p.labels == Labels(["__name__": "vigil_failure_probability", "vm": vm, "job": "demo", "metric": "vm_cpu_usage_percent",
                                        "kind": "saturation", "horizon": "1h"]))
            #expect(p.timestamps.last == times[n - 1])
            let history = try #require(cpu[vm])
            let f = try #require(model.latestFeatures(timestamps: times, values: history))
            #expect(p.values.last == model.predictor.probability(f))
        }
        // the VM that saturated yesterday is riskier than the quiet one
        let byVM = Dictionary(probs.map { ($0.labels["vm"] ?? "", $0.values.last ?? .nan) }, uniquingKeysWith: { a, _ in a })
        let vm1 = try #require(byVM["vm1"]), vm2 = try #require(byVM["vm2"])
        #expect(vm2 > vm1)
        await ts.stop()
    }
}
