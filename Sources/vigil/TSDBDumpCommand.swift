import ArgumentParser
import Foundation
import VigilCore
import VigilStore

struct TSDBDumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print the samples of the series matching a selector as CSV (labels,timestamp,value).",
        discussion: """
            The selector is a PromQL series selector: name{a="b",c=~"d.*",e!="f"}. Timestamps are
            milliseconds; values print as the shortest decimal that reads back to the same double
            (NaN, +Inf, -Inf spelled as in Prometheus).

            Example: vigil tsdb dump --data ./data --match '{job="node"}' --mint 1700000000000
            """
    )

    @Option(name: .long, help: "Data directory.")
    var data: String

    @Option(name: .long, help: "Series selector, e.g. '{job=\"x\"}' or 'up{instance=~\"a|b\"}'.")
    var match: String

    @Option(name: .long, help: "Start of the time range (ms, inclusive).")
    var mint: Int64 = .min

    @Option(name: .long, help: "End of the time range (ms, inclusive).")
    var maxt: Int64 = .max

    func run() throws {
        let matchers: [LabelMatcher]
        do { matchers = try SelectorParser.parse(match) } catch { throw ValidationError(error.description) }
        let db = try TSDBOpen.existing(data)
        defer { try? db.close() }
        if let c = db.walCorruption { FileHandle.standardError.write(Data("warning: \(c)\n".utf8)) }
        var out = "labels,timestamp,value\n"
        for s in try db.select(matchers, mint: mint, maxt: maxt) {
            let l = "\"" + s.labels.description.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            for i in s.timestamps.indices {
                out += "\(l),\(s.timestamps[i]),\(formatValue(s.values[i]))\n"
                if out.utf8.count > 1 << 20 {
                    FileHandle.standardOutput.write(Data(out.utf8))
                    out = ""
                }
            }
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}

func formatValue(_ v: Double) -> String {
    if v.isNaN { return v.isStaleNaN ? "NaN(stale)" : "NaN" }
    if v == .infinity { return "+Inf" }
    if v == -.infinity { return "-Inf" }
    return "\(v)"
}
