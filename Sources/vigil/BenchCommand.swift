import ArgumentParser

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run Vigil's benchmarks (results go in BENCHMARKS.md).",
        discussion: "Example: vigil bench store",
        subcommands: [BenchForecastCommand.self]
    )
}
