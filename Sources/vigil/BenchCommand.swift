import ArgumentParser

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run Vigil's benchmarks (results go in BENCHMARKS.md).",
        discussion: "Examples: vigil bench store; vigil bench codec; vigil bench query; vigil bench forecast",
        subcommands: [
            BenchStoreCommand.self,
            BenchCodecCommand.self,
            BenchQueryCommand.self,
            BenchForecastCommand.self,
            BenchRestartCommand.self,
        ]
    )
}
