import ArgumentParser
import Foundation
import VigilForecast

struct DetectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Score every point of one series for anomalies, online (row t uses only rows ≤ t).",
        discussion: """
            Input columns timestamp,value (header optional; timestamps as YYYY-MM-DD HH:MM:SS, ISO-8601 or Unix
            seconds). Output columns timestamp,value,anomaly_score with a score in [0, 1] for every input row:
            0.5 is the detector's adaptive threshold, scores fade within a few points after an isolated spike.
            Method: standardised one-step forecast residual of a ridge-fitted linear model (refitted on the past
            only) and a slow-level residual, calibrated against the recent residual distribution.

            Example:
              vigil detect --input cpu.csv --output cpu_scored.csv
            """
    )

    @Option(help: "CSV with timestamp,value.") var input: String
    @Option(help: "Output CSV path.") var output: String

    func run() async throws {
        let t0 = Date()
        let (s, _, text) = try CSVReader.readSingle(path: input)
        let values = s.values
        let scores = try await BLASWorker.shared.run { OnlineAnomalyDetector.scoreAll(values) }
        let sink = try TextSink(path: output)
        sink.write("timestamp,value,anomaly_score\n")
        for i in scores.indices { sink.write("\(text[i]),\(num(scores[i]))\n") }
        sink.close()
        let flagged = scores.filter { $0 >= 0.5 }.count
        stderr("vigil detect: scored \(scores.count) rows (\(flagged) at or above 0.5) in \(String(format: "%.2f", Date().timeIntervalSince(t0))) s → \(output)")
    }
}
