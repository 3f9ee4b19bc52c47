import ArgumentParser
import Foundation
import VigilConfig
import VigilOnline
import VigilServer

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Work with vigil serve's YAML configuration (docs/configuration.md).",
        subcommands: [Check.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Validate a config file and print what it sets up.",
            discussion: """
                Decodes the file with the same strict decoder as `vigil serve --config` (unknown keys refused), \
                parses the forecast.watch selectors and loads the model files. Prints a summary and exits 0, or \
                prints the first error as FILE:LINE:COLUMN: KEY.PATH: MESSAGE and exits 1.

                Examples:
                  vigil config check vigil.yml
                  vigil config check scripts/demo-vigil.yml && vigil serve --config scripts/demo-vigil.yml
                """
        )

        @Argument(help: "The YAML file.")
        var file: String

        func run() throws {
            do {
                let c = try VigilConfig.loadChecked(file: file, sections: ServeCommand.configSections)
                print(c.summary())
            } catch {
                FileHandle.standardError.write(Data("\(error)\n".utf8))
                throw ExitCode(1)
            }
        }
    }
}
