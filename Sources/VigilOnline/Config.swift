import Foundation
import Logging
import Synchronization
import VigilConfig
import VigilCore
import VigilForecast

// The configuration's types and its strict decoder live in the VigilConfig module (docs/configuration.md); this file
// adds the checks that need more than the YAML: selectors (VigilCore's `SelectorParser`) and model files (VigilForecast).

extension VigilConfig {
    /// Reads, decodes and checks a config file: what `vigil serve` starts with, what `vigil config check` reports.
    public static func loadChecked(file: String, sections: [ConfigSection] = []) throws(ConfigError) -> VigilConfig {
        try load(file: file, sections: sections).checked()
    }

    /// Parses the `forecast.watch` selectors and loads the model files, so a bad selector or a model of the wrong
    /// kind is refused with its file:line:column before anything runs.
    public func checked() throws(ConfigError) -> VigilConfig {
        var c = self
        if var f = c.forecast {
            try f.parseSelectors()
            _ = try f.onlineConfiguration()
            c.forecast = f
        }
        return c
    }
}

extension ForecastConfig {
    /// Fills `selectors` from `selectorTexts`; an error names the `watch[i]` entry.
    public mutating func parseSelectors() throws(VigilConfig.ConfigError) {
        var out: [[LabelMatcher]] = []
        for (i, s) in selectorTexts.enumerated() {
            do { out.append(try SelectorParser.parse(s)) } catch {
                throw self.error("watch[\(i)]", "\(s): \(error)")
            }
        }
        selectors = out
    }

    /// Reads a model file named by `forecast.<key>`; errors name the key, its place in the file and the path.
    func readModel(_ key: String, _ path: String) throws(VigilConfig.ConfigError) -> ModelFile {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw error(key, "\(path): cannot read the file")
        }
        do { return try ModelFile.decode([UInt8](d), name: path) } catch {
            throw self.error(key, "\(error)")
        }
    }

    /// The online models this section describes, with every model file loaded and checked.
    public func onlineConfiguration() throws(VigilConfig.ConfigError) -> OnlineForecaster.Configuration {
        var sel = selectors
        if sel.isEmpty && !selectorTexts.isEmpty {
            var me = self
            try me.parseSelectors()
            sel = me.selectors
        }
        var fc = OnlineForecaster.Configuration(selectors: sel)
        if let p = modelPath {
            let file = try readModel("model", p)
            do { fc.model = try LinearForecaster(modelFile: file) } catch { throw self.error("model", "\(p): \(error)") }
        }
        if let p = failureModelPath {
            let file = try readModel("failure_model", p)
            let fm: FailurePredictor
            do { fm = try FailurePredictor(modelFile: file) } catch { throw self.error("failure_model", "\(p): \(error)") }
            // forecast.failure_model computes the incident features (FailureFeatures) per instance
            guard fm.featureNames == FailureFeatures.names else {
                let hint = fm.featureNames == SaturationFeatures.names ? " (this is a saturation model: use forecast.saturation_model)" : ""
                throw self.error("failure_model", "\(p): model expects features [\(fm.featureNames.joined(separator: ","))]; "
                    + "forecast.failure_model computes the incident features [\(FailureFeatures.names.joined(separator: ","))]\(hint)")
            }
            fc.failureModel = fm
        }
        if let p = saturationModelPath {
            let file = try readModel("saturation_model", p)
            do { fc.saturationModel = try SaturationModel(modelFile: file, name: p) } catch {
                throw self.error("saturation_model", "\(error)")
            }
        }
        fc.horizon = horizon
        if let st = step {
            if fc.model != nil { throw self.error("step", "forecast.model sets the step (its own); leave step out") }
            fc.stepMs = st.components.seconds * 1000 + st.components.attoseconds / 1_000_000_000_000_000
        }
        fc.instanceLabel = instanceLabel
        fc.anomalyAlarmThreshold = anomalyAlarmThreshold
        fc.exhaustionHorizonSeconds = Double(exhaustionHorizon.components.seconds)
            + Double(exhaustionHorizon.components.attoseconds) / 1e18
        if let limits = exhaustionLimits {
            // an empty list turns time-to-exhaustion off; nil keeps the defaults
            fc.exhaustionPairings = limits.compactMap { l in
                if let n = l.limit { return .init(metric: l.metric, partner: .limit(n)) }
                if let n = l.size { return .init(metric: l.metric, partner: .size(n)) }
                return nil
            }
        }
        return fc
    }
}

/// Re-reads the config file on SIGHUP and applies the sections that reload (`scrape_configs`, `forecast`); a file that
/// does not decode or check keeps the running configuration, and the error is logged with its file:line:column.
/// The scrape targets are changed through `scrapes` (in `vigil serve`, VigilCollectors' `ScrapeManager.apply`), so
/// this module does not depend on the collectors.
public final class ConfigReloader: Sendable {
    /// Makes the running scrape loops match the configs; returns how many loops were started and stopped.
    public typealias ApplyScrapeConfigs = @Sendable ([ScrapeConfig]) -> (started: Int, stopped: Int)

    public let file: String
    let sections: [ConfigSection]
    let scrapes: ApplyScrapeConfigs?
    let forecast: OnlineModelLoop?
    let logger: Logger
    private let current: Mutex<VigilConfig>

    public init(file: String, sections: [ConfigSection], current: VigilConfig, scrapes: ApplyScrapeConfigs?,
                forecast: OnlineModelLoop?, logger: Logger) {
        self.file = file
        self.sections = sections
        self.current = Mutex(current)
        self.scrapes = scrapes
        self.forecast = forecast
        self.logger = logger
    }

    public enum Outcome: Sendable, Equatable {
        /// Applied; the sections that changed but need a restart are listed.
        case applied(restartNeeded: [String])
        case rejected(String)
    }

    /// Reloads now (what SIGHUP does).
    @discardableResult
    public func reload() async -> Outcome {
        let next: VigilConfig
        do { next = try VigilConfig.loadChecked(file: file, sections: sections) } catch {
            logger.error("config reload failed; keeping the running configuration", metadata: ["error": "\(error)"])
            return .rejected("\(error)")
        }
        let old = current.withLock { $0 }
        var restart: [String] = []
        if old.server != next.server { restart.append("server") }
        if old.scrapeInterval != next.scrapeInterval || old.scrapeTimeout != next.scrapeTimeout { restart.append("global") }
        if old.hostCollector != next.hostCollector || old.hostCollectorInterval != next.hostCollectorInterval { restart.append("host_collector") }
        if old.libvirt != next.libvirt { restart.append("libvirt") }
        if old.graphite != next.graphite { restart.append("graphite") }
        if old.statsd != next.statsd { restart.append("statsd") }
        var applied = next
        let (started, stopped) = scrapes?(next.scrapeConfigs) ?? (0, 0)
        if scrapes == nil && !next.scrapeConfigs.isEmpty { restart.append("scrape_configs") }
        if let forecast, let f = next.forecast {
            do { try await forecast.reload(f) } catch {
                logger.error("config reload: forecast section not applied", metadata: ["error": "\(error)"])
                applied.forecast = old.forecast
            }
        } else if (old.forecast == nil) != (next.forecast == nil) {
            restart.append("forecast")
        }
        current.withLock { $0 = applied }
        logger.notice("config reloaded", metadata: [
            "file": "\(file)", "scrape_loops_started": "\(started)", "scrape_loops_stopped": "\(stopped)",
            "restart_needed_for": "\(restart.isEmpty ? "nothing" : restart.joined(separator: ", "))",
        ])
        return .applied(restartNeeded: restart)
    }

    /// Reloads on every SIGHUP until cancelled.
    public func run() async {
        signal(SIGHUP, SIG_IGN)
        let (hups, cont) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler { cont.yield() }
        source.resume()
        for await _ in hups { await reload() }
        source.cancel()
        cont.finish()
    }
}
