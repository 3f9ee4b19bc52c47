import Testing
import VigilServer

/// Inputs the `config` fuzz target (Fuzz/, docs/fuzzing.md) found trapping the config loader.
@Suite struct ConfigFuzzRegressionTests {
    /// `ForecastConfig.parse` reads the document with `Yams.load(yaml:)`, which force-unwraps every mapping key
    /// as a String (Yams Constructor.swift:426) and traps on a key that is a sequence or a mapping, so
    /// `vigil serve --config` dies on such a file instead of naming the line. Not fixed in the fuzz branch: the
    /// config loader is moving to the VigilConfig module, which must reject these keys; enable the test then.
    @Test(.disabled("fuzz finding, fixed by the VigilConfig loader: Yams.load traps on non-scalar mapping keys"))
    func nonScalarMappingKeyIsAnErrorNotATrap() {
        for yaml in ["{[a]: 1}", "forecast: {[a]: 1}", "? [a]\n: 1\n", "forecast:\n  ? {x: 1}\n  : 2\n"] {
            #expect(throws: (any Error).self, "\(yaml)") { try VigilConfig.parse(yaml: yaml); _ = try ForecastConfig.parse(yaml: yaml) }
        }
    }
}
