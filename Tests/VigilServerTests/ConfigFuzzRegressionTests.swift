import Testing
import VigilServer

/// Inputs the `config` fuzz target (Fuzz/, docs/fuzzing.md) found trapping the old config loader.
@Suite struct ConfigFuzzRegressionTests {
    /// The old `ForecastConfig.parse` read the document with `Yams.load(yaml:)`, which force-unwraps every mapping
    /// key as a String and trapped on a key that is a sequence or a mapping, so `vigil serve --config` died on such a
    /// file. The VigilConfig loader walks Yams' node tree and must refuse these keys with an error.
    @Test func nonScalarMappingKeyIsAnErrorNotATrap() {
        for yaml in ["{[a]: 1}", "forecast: {[a]: 1}", "? [a]\n: 1\n", "forecast:\n  ? {x: 1}\n  : 2\n"] {
            #expect(throws: (any Error).self, "\(yaml)") { try VigilConfig.parse(yaml: yaml) }
        }
    }
}
