import ArgumentParser

struct TSDBCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tsdb",
        abstract: "Inspect and maintain a Vigil data directory offline.",
        discussion: "Example: vigil tsdb stats --data ./data",
        subcommands: []
    )
}
