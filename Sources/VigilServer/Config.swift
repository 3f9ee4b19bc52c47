@_exported import VigilConfig
import Foundation
import VigilCore
import VigilForecast
import VigilStore

// The configuration's types and its strict decoder live in the VigilConfig module (docs/configuration.md); this file
// adds the checks that need the server's own parts: selectors (VigilStore's parser) and model files (VigilForecast).

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
        fc.instanceLabel = instanceLabel
        return fc
    }
}
