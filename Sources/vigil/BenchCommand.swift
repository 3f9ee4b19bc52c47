import ArgumentParser

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run Vigil's benchmarks (results go in BENCHMARKS.md).",
        discussion: "Examples: vigil bench store; vigil bench codec",
        subcommands: [BenchCodecCommand.self]
    )
}
