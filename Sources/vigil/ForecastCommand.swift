import ArgumentParser
import Foundation
import VigilForecast

struct ForecastCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forecast",
        abstract: "Forecast every series of a long CSV H steps ahead, with prediction intervals.",
        discussion: """
            Input columns series_id,timestamp,value (header optional), rows grouped by series in time order.
            Timestamps: YYYY-MM-DD HH:MM:SS, ISO-8601 (T, optional Z or offset) or Unix seconds; each series'
            step is inferred and gaps are interpolated. Output columns series_id,timestamp,forecast,lo,hi: exactly
            H rows per series for the H steps after its last timestamp, in the input's timestamp format; lo/hi
            is a split-conformal interval (default 90 %: 5 % and 95 % quantiles).
            Without --model a global linear model is fitted on the input itself (last fifth of each series held
            out); series too short for it get seasonal naive or last value, reported on stderr.

            Example:
              vigil forecast --input cpu.csv --horizon 12 --output cpu_forecast.csv
              vigil forecast --input cpu.csv --horizon 12 --model Models/vm-cpu-5m.vgm --output out.csv
            """
    )

    @Option(help: "Long CSV: series_id,timestamp,value.") var input: String
    @Option(help: "Number of steps to forecast per series.") var horizon: Int
    @Option(help: "A forecaster .vgm file (from `vigil train`); fitted on the input when omitted.") var model: String?
    @Option(help: "Output CSV path.") var output: String
    @Option(help: "Central interval coverage for lo/hi.") var coverage: Double = 0.9
    @Flag(help: "Print no progress to stderr.") var quiet = false
    @Flag(inversion: .prefixedNo, help: "Per-series backtest selection (default: as the model file says; off for a model fitted on the input).") var select: Bool? = nil

    func validate() throws {
        guard horizon >= 1 else { throw ValidationError("--horizon must be at least 1") }
        guard coverage > 0 && coverage < 1 else { throw ValidationError("--coverage must be in (0, 1)") }
    }

    func run() async throws {
        let t0 = Date()
        let (series, format) = try CSVReader.readLong(path: input)
        let log: @Sendable (String) -> Void = { msg in if !quiet { stderr("vigil forecast: \(msg)") } }
        log("read \(series.count) series, \(series.reduce(0) { $0 + $1.values.count }) rows from \(input)")
        let m = try model.map { try LinearForecaster(modelFile: ModelFile.read(path: $0)) }
        let h = horizon, cov = coverage
        var mm = m
        if select == false { mm?.selection = nil }
        let sel: BacktestSelection? = select == true ? (m?.selection ?? BacktestSelection()) : nil
        let model = mm
        let (fc, report) = try await BLASWorker.shared.run {
            try ForecastPipeline.run(series, horizon: h, model: model, coverage: cov, selection: sel, threads: 2, log: log)
        }
        for n in report.notes { log(n) }
        let sink = try TextSink(path: output)
        sink.write("series_id,timestamp,forecast,lo,hi\n")
        for s in fc {
            let id = csvField(s.id)
            for k in 0..<horizon {
                let t = s.lastTimestamp + Int64(k + 1) * s.stepMs
                sink.write("\(id),\(format.format(t)),\(num(s.forecast[k])),\(num(s.lo[k])),\(num(s.hi[k]))\n")
            }
        }
        sink.close()
        let counts = ForecastMethod.allCases.compactMap { m in report.counts[m].map { "\(m.rawValue) \($0)" } }.joined(separator: ", ")
        log("wrote \(fc.count * horizon) rows to \(output) in \(String(format: "%.2f", Date().timeIntervalSince(t0))) s (\(counts))")
    }
}

func csvField(_ s: String) -> String {
    s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
}

func num(_ v: Double) -> String {
    if v.isNaN { return "NaN" }
    if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
    return String(v)
}

func stderr(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}
