import ArgumentParser
import Foundation
import VigilCore
import VigilStore

/// Test helper (hidden): appends deterministic batches and prints `ack K` after batch K is
/// acknowledged (fsync'd). The crash-safety test kills it with SIGKILL mid-stream.
struct TSDBAppendStreamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append-stream",
        abstract: "Append deterministic batches, printing an ack line after each acknowledged append (for crash tests).",
        discussion: """
            Batch K gives series i (i < --series) the sample (t = K * --step, v = AppendStream.value(i, K)).
            Example: vigil tsdb append-stream --data /tmp/crash --series 20 --batches 1000
            """,
        shouldDisplay: false
    )

    @Option(name: .long, help: "Data directory (created if missing).")
    var data: String

    @Option(name: .long, help: "Number of series.")
    var series: Int = 20

    @Option(name: .long, help: "Number of batches (each one sample per series).")
    var batches: Int = 1000

    @Option(name: .long, help: "Milliseconds between batches' timestamps.")
    var step: Int64 = 1000

    @Option(name: .long, help: "Samples per chunk (small values exercise sealing and checkpoints).")
    var samplesPerChunk: Int = 120

    @Option(name: .long, help: "Checkpoint the WAL after every N batches (0: never).")
    var checkpointEvery: Int = 0

    func run() throws {
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        var o = TSDBOpen.offlineOptions()
        o.samplesPerChunk = samplesPerChunk
        let db = try TSDB(directory: data, options: o)
        let labels = (0..<series).map { AppendStream.labels($0) }
        for k in 0..<batches {
            let batch = labels.enumerated().map { i, l in
                SeriesSamples(labels: l, timestamps: [Int64(k) * step], values: [AppendStream.value(i, k)])
            }
            let r = try db.appendSync(batch)
            guard r.accepted == series else {
                throw ValidationError("batch \(k): only \(r.accepted) of \(series) samples accepted: \(r)")
            }
            FileHandle.standardOutput.write(Data("ack \(k)\n".utf8))
            if checkpointEvery > 0 && (k + 1) % checkpointEvery == 0 { try db.checkpoint() }
        }
        try db.close()
        FileHandle.standardOutput.write(Data("done\n".utf8))
    }
}

/// The deterministic data of `append-stream` (tests recompute it).
public enum AppendStream {
    public static func labels(_ i: Int) -> Labels {
        Labels(["__name__": "crash_test", "series": "s\(i)", "job": "crash"])
    }

    public static func value(_ i: Int, _ k: Int) -> Double {
        Double(i) * 1_000_003.25 + Double(k) * 0.1
    }
}
