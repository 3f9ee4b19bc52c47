import ArgumentParser
import Foundation
import VigilForecast

struct DetectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Score every point of one series for anomalies, online (row t uses only rows ≤ t).",
        discussion: """
            Input columns timestamp,value (header optional; timestamps as YYYY-MM-DD HH:MM:SS, ISO-8601 or Unix
            seconds). Output columns timestamp,value,anomaly_score with a score in [0, 1] for every input row: the
            "anomaly likelihood", 1 − the tail probability of the recent mean prediction error against its own
            long-run distribution, so one threshold (0.99: about 1 % of points of a stream that behaves as it did)
            means the same on every stream. The first day of points (at least 96) scores 0 (learning). After an
            alarm (a score ≥ --alarm-threshold) the next four hours' worth of points report at most 0.5: one alarm per
            incident. A change that persists (a level shift, a new variance) becomes the new normal after an alarm.
            Errors: the standardised one-step residual of a ridge-fitted linear model (refitted on the past only), a
            slow-level residual and a time-of-day residual (against a per-5-minute daily profile).

            Multivariate mode (--train-rows N): the input is one machine's wide CSV (header; optional first column
            timestamp|ts|time|ds|date; columns named label are ignored; every other column a metric). The first N rows
            calibrate the multivariate detector (per-metric medians and extremes, threshold = the 99.5th percentile of
            their scores; no labels); every later row is scored online (row t uses the first N rows and rows ≤ t).
            Output columns timestamp,anomaly_score,top_metric for the rows after the first N (top_metric = the metric
            with the largest exceedance); 0.5 is the threshold, alarms are held 5 rows.

            Examples:
              vigil detect --input cpu.csv --output cpu_scored.csv
              vigil detect --input cpu.csv --alarm-threshold 0.999 --output cpu_scored.csv
              vigil detect --input machine.csv --train-rows 10000 --output machine_scored.csv
            """
    )

    @Option(help: "CSV with timestamp,value.") var input: String
    @Option(help: "Output CSV path.") var output: String
    @Option(name: .customLong("alarm-threshold"), help: "Univariate: the threshold you alert on; points after an alarm are held at ≤ 0.5.") var alarmThreshold = 0.99
    @Option(name: .customLong("train-rows"), help: "Multivariate mode: calibrate on the first N rows of a wide CSV, score the rest.") var trainRows: Int?

    func run() async throws {
        if let trainRows { return try runMultivariate(trainRows: trainRows) }
        let t0 = Date()
        let (s, _, text) = try CSVReader.readSingle(path: input)
        let values = s.values, times = s.timestamps.map { Double($0) / 1000 }
        guard alarmThreshold > 0.5, alarmThreshold < 1 else { throw ValidationError("--alarm-threshold must be in (0.5, 1)") }
        let step = SeriesPrep.inferStep(s.timestamps).map { Double($0) / 1000 } ?? 60
        var config = StreamingAnomalyScorer.Config.forStep(seconds: step)
        config.alarmThreshold = alarmThreshold
        let c = config
        let scores = try await BLASWorker.shared.run { StreamingAnomalyScorer.scoreAll(values, times: times, config: c) }
        let sink = try TextSink(path: output)
        sink.write("timestamp,value,anomaly_score\n")
        for i in scores.indices { sink.write("\(text[i]),\(num(scores[i]))\n") }
        sink.close()
        let flagged = scores.filter { $0 >= alarmThreshold }.count
        stderr("vigil detect: scored \(scores.count) rows (\(flagged) alarms at or above \(alarmThreshold)) in \(String(format: "%.2f", Date().timeIntervalSince(t0))) s → \(output)")
    }
}

extension DetectCommand {
    func runMultivariate(trainRows n: Int) throws {
        let t0 = Date()
        let (keys, names, x, rows) = try CSVReader.readWide(path: input)
        let d = names.count
        guard n >= 16, n < rows else {
            throw ValidationError("--train-rows must be ≥ 16 and less than the \(rows) data rows of \(input)")
        }
        var det: MultivariateDetector
        do { det = try MultivariateDetector(train: Array(x[0..<(n * d)]), rows: n, dims: d) } catch { throw ValidationError("\(input): \(error)") }
        let sink = try TextSink(path: output)
        sink.write("timestamp,anomaly_score,top_metric\n")
        var flagged = 0
        for r in n..<rows {
            let score = det.update(Array(x[(r * d)..<((r + 1) * d)]))
            if score >= 0.5 { flagged += 1 }
            sink.write("\(csvField(keys[r])),\(num(score)),\(csvField(names[det.lastTopMetric]))\n")
        }
        sink.close()
        stderr("vigil detect: calibrated on \(n) rows of \(d) metrics, scored \(rows - n) rows (\(flagged) at or above 0.5) in \(String(format: "%.2f", Date().timeIntervalSince(t0))) s → \(output)")
    }
}
