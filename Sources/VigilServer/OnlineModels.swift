import Foundation
import Logging
import VigilCore
import VigilForecast
import VigilStore
import Yams

/// The `forecast:` section of the serve config: which series the online forecaster watches, how often it runs,
/// and which model files it uses.
///
/// ```yaml
/// forecast:
///   interval: 30s                                   # forecast_interval (default 30s)
///   watch: ['vm_cpu_usage_percent{job="demo"}']     # series selectors, unioned
///   model: Models/vm-cpu-5m.vgm                     # optional; fitted per tick on the pulled history when absent
///   saturation_model: Models/saturation-vm-5m.vgm   # optional; vigil_failure_probability{…, kind="saturation"} per
///                                                   # watched gauge, which must be CPU utilisation in % (0–100)
///   failure_model: Models/failure-smd.vgm           # optional; vigil_failure_probability{instance, kind="incident"}
///   horizon: 12                                     # steps, when no model is given
///   instance_label: instance
/// ```
public struct ForecastConfig: Sendable {
    public var interval: Duration = .seconds(30)
    public var selectors: [[LabelMatcher]] = []
    public var selectorTexts: [String] = []
    public var modelPath: String?
    public var failureModelPath: String?
    public var saturationModelPath: String?
    public var horizon = 12
    public var instanceLabel = "instance"

    public init() {}

    public struct ConfigError: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { message }
    }

    /// Reads a model file named by `forecast.<key>`; errors name the key and the path.
    static func readModel(_ key: String, _ path: String) throws -> ModelFile {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw ConfigError(message: "forecast.\(key) \(path): cannot read the file")
        }
        do { return try ModelFile.decode([UInt8](d), name: path) } catch {
            throw ConfigError(message: "forecast.\(key): \(error)")
        }
    }

    /// Reads the `forecast:` section of a YAML config; nil when the section is absent.
    public static func parse(yaml: String, file: String = "config") throws -> ForecastConfig? {
        let root: Any?
        do { root = try Yams.load(yaml: yaml) } catch { throw ConfigError(message: "\(file): invalid YAML: \(error)") }
        guard let doc = root as? [String: Any], let sec = doc["forecast"] else { return nil }
        guard let f = sec as? [String: Any] else { throw ConfigError(message: "\(file): forecast: must be a mapping") }
        var c = ForecastConfig()
        let known: Set<String> = ["interval", "watch", "model", "failure_model", "saturation_model", "horizon", "instance_label"]
        for k in f.keys where !known.contains(k) {
            throw ConfigError(message: "\(file): forecast.\(k): unknown field (known: \(known.sorted().joined(separator: ", ")))")
        }
        if let i = f["interval"] {
            guard let s = i as? String, let ms = try? DurationParser.milliseconds(s), ms > 0 else {
                throw ConfigError(message: "\(file): forecast.interval: expected a duration such as 30s, got \(i)")
            }
            c.interval = .milliseconds(ms)
        }
        let watch: [String]
        if let w = f["watch"] as? [String] { watch = w } else if let w = f["watch"] as? String { watch = [w] } else {
            throw ConfigError(message: "\(file): forecast.watch: expected a list of series selectors")
        }
        for (i, s) in watch.enumerated() {
            do { c.selectors.append(try SelectorParser.parse(s)) } catch {
                throw ConfigError(message: "\(file): forecast.watch[\(i)] \(s): \(error)")
            }
        }
        c.selectorTexts = watch
        if let m = f["model"] { guard let s = m as? String else { throw ConfigError(message: "\(file): forecast.model: expected a path") }; c.modelPath = s }
        if let m = f["failure_model"] {
            guard let s = m as? String else { throw ConfigError(message: "\(file): forecast.failure_model: expected a path") }
            c.failureModelPath = s
        }
        if let m = f["saturation_model"] {
            guard let s = m as? String, !s.isEmpty else { throw ConfigError(message: "\(file): forecast.saturation_model: expected a path") }
            c.saturationModelPath = s
        }
        if let h = f["horizon"] {
            guard let n = h as? Int, n > 0, n <= 10_000 else { throw ConfigError(message: "\(file): forecast.horizon: expected a positive number of steps") }
            c.horizon = n
        }
        if let l = f["instance_label"] {
            guard let s = l as? String, Labels.isValidLabelName(s) else { throw ConfigError(message: "\(file): forecast.instance_label: expected a label name") }
            c.instanceLabel = s
        }
        return c
    }
}

extension VigilServer {
    /// Runs the online forecaster every `config.interval` while the server runs: the watched series are pulled
    /// from the store as one matrix, forecast and scored on the BLAS thread, and written back as
    /// `vigil_forecast`, `vigil_anomaly_score` (and `vigil_failure_probability`) series.
    public func enableOnlineForecaster(_ config: ForecastConfig, appender: any SampleAppender) throws {
        var fc = OnlineForecaster.Configuration(selectors: config.selectors)
        if let p = config.modelPath {
            do { fc.model = try LinearForecaster(modelFile: ForecastConfig.readModel("model", p)) } catch let e as ForecastConfig.ConfigError {
                throw e
            } catch {
                throw ForecastConfig.ConfigError(message: "forecast.model \(p): \(error)")
            }
        }
        if let p = config.failureModelPath {
            let fm: FailurePredictor
            do { fm = try FailurePredictor(modelFile: ForecastConfig.readModel("failure_model", p)) } catch let e as ForecastConfig.ConfigError {
                throw e
            } catch {
                throw ForecastConfig.ConfigError(message: "forecast.failure_model \(p): \(error)")
            }
            // forecast.failure_model computes the incident features (FailureFeatures) per instance
            guard fm.featureNames == FailureFeatures.names else {
                let hint = fm.featureNames == SaturationFeatures.names ? " (this is a saturation model: use forecast.saturation_model)" : ""
                throw ForecastConfig.ConfigError(message: "forecast.failure_model \(p): model expects features [\(fm.featureNames.joined(separator: ","))]; "
                    + "forecast.failure_model computes the incident features [\(FailureFeatures.names.joined(separator: ","))]\(hint)")
            }
            fc.failureModel = fm
        }
        if let p = config.saturationModelPath {
            do { fc.saturationModel = try SaturationModel(modelFile: ForecastConfig.readModel("saturation_model", p), name: p) } catch let e as ForecastConfig.ConfigError {
                throw e
            } catch {
                throw ForecastConfig.ConfigError(message: "forecast.saturation_model: \(error)")
            }
        }
        fc.horizon = config.horizon
        fc.instanceLabel = config.instanceLabel
        let forecaster = OnlineForecaster(reader: reader, appender: appender, config: fc)
        let metrics = self.metrics
        let logger = self.logger
        let interval = config.interval
        logger.info("online forecaster on", metadata: [
            "watch": "\(config.selectorTexts.joined(separator: " or "))", "interval": "\(interval)",
            "model": "\(config.modelPath ?? "fit per tick")",
            "saturation_model": "\(config.saturationModelPath ?? "none")", "failure_model": "\(config.failureModelPath ?? "none")",
        ])
        addLoop("online forecaster") {
            while !Task.isCancelled {
                let start = ContinuousClock.now
                do {
                    let now = Int64(Date().timeIntervalSince1970 * 1000)
                    let r = try await forecaster.tick(now: now)
                    metrics.set("vigil_forecaster_series_watched", [], Double(r.seriesRead))
                    metrics.set("vigil_forecaster_series_forecast", [], Double(r.seriesForecast))
                    metrics.set("vigil_forecaster_samples_written", [], Double(r.samplesWritten))
                    metrics.set("vigil_forecaster_fallbacks", [], Double(r.fallbacks))
                    metrics.set("vigil_forecaster_saturation_probabilities", [], Double(r.saturationProbabilities))
                    let took = ContinuousClock.now - start
                    metrics.set("vigil_forecaster_tick_seconds", [],
                                Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18)
                    logger.debug("forecast tick", metadata: ["series": "\(r.seriesRead)", "written": "\(r.samplesWritten)"])
                } catch is CancellationError {
                    return
                } catch {
                    logger.error("forecast tick failed", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(until: start + interval, clock: .continuous)
            }
        }
    }
}
