import ArgumentParser
import Foundation
import VigilCore
import VigilTop

/// `vigil top`: the live terminal view of a running `vigil serve` (or daemon), over its public HTTP API.
struct TopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "Live terminal view: hosts, groups, series with forecasts, actions and anomalies.",
        discussion: """
            Examples:
              vigil top                                          # the server on 127.0.0.1:9470, refresh every 1s
              vigil top --url http://vigil.example:9470 --token-file ~/.vigil-token --refresh 5s
              vigil top --ascii                                  # plain ASCII (also with TERM=dumb)
              vigil top --approve                                # allow a/x to approve/reject pending actions
              vigil top --once --view series --width 120 --height 40   # print one frame and exit (scripts)
            Keys: Tab views, arrows or j/k move, / filter (text, or a {...} selector for the Series view),
            Enter chart, < > sort, p pause, ? help, q quit. See docs/top.md.
            """
    )

    @Option(help: "Base URL of the server.")
    var url = "http://127.0.0.1:9470"

    @Option(help: "File holding the bearer token the server requires (vigil serve --auth-token).")
    var tokenFile: String?

    @Option(help: "Refresh interval: seconds or a duration like 500ms, 2s.")
    var refresh = "1s"

    @Flag(help: "Plain ASCII characters (bars, sparklines, charts).")
    var ascii = false

    @Flag(help: "Allow approving (a) and rejecting (x) pending actions.")
    var approve = false

    @Flag(help: "Fetch once, print one frame as plain text and exit (exit status 1 when the server is unreachable).")
    var once = false

    @Option(help: "The view to start in: overview, series, actions, anomalies.")
    var view = "overview"

    @Option(help: "Frame width for --once or without a terminal (default: $COLUMNS, else 120).")
    var width: Int?

    @Option(help: "Frame height for --once or without a terminal (default: $LINES, else 40).")
    var height: Int?

    func run() async throws {
        let refreshMillis: Int64
        do { refreshMillis = try RequestParameters.duration(refresh, "refresh") } catch {
            throw ValidationError("--refresh: \(error)")
        }
        guard refreshMillis >= 100 else { throw ValidationError("--refresh: at least 100ms (got \(refresh))") }
        guard let v = ["overview": View.overview, "series": .series, "actions": .actions, "anomalies": .anomalies][view.lowercased()] else {
            throw ValidationError("--view: one of overview, series, actions, anomalies (got \(view))")
        }
        if let w = width, w < 1 { throw ValidationError("--width: must be positive") }
        if let h = height, h < 1 { throw ValidationError("--height: must be positive") }
        var token: String?
        if let tokenFile {
            do {
                token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw ValidationError("--token-file \(tokenFile): cannot read it (\(error.localizedDescription))")
            }
            if token?.isEmpty ?? true { throw ValidationError("--token-file \(tokenFile): the file is empty") }
        }
        let cfg = TopConfig(url: url, token: token, refreshMillis: refreshMillis, ascii: ascii, approve: approve,
                            once: once, view: v, width: width, height: height)
        let status = await TopApp.run(cfg, clock: WallClock())
        if status != 0 { throw ExitCode(status) }
    }
}
