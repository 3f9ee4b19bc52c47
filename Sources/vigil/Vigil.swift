import ArgumentParser
import VigilCore

@main
struct Vigil: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil",
        abstract: "Observe, predict and act: a self-healing metrics store for virtualized infrastructure.",
        discussion: """
            Examples:
              vigil serve --data ./data                 # ingestion + query API on 127.0.0.1:9470
              vigil tsdb stats --data ./data            # what is in a data directory
              vigil bench store                         # store benchmark (see BENCHMARKS.md)
              vigil top                                 # live terminal view of a running server
            """,
        version: VigilVersion.string,
        subcommands: [
            ServeCommand.self,
            DaemonCommand.self,
            ConfigCommand.self,
            TSDBCommand.self,
            QueryCommand.self,
            BenchCommand.self,
            ForecastCommand.self,
            DetectCommand.self,
            TrainCommand.self,
            EvalCommand.self,
            ReplayCommand.self,
            SimCommand.self,
            DemoCommand.self,
            TopCommand.self,
        ]
    )
}

enum VigilVersion {
    static let string = "0.1.0"
}
