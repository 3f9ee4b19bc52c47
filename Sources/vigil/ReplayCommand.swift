import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import VigilCore
import VigilForecast
import VigilIngest

/// Replays a long CSV trace (`series_id,timestamp,value`) into a running Vigil (or any remote_write
/// receiver) as Prometheus remote_write 1.0, shifted in time so that the trace ends now.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a CSV trace into a remote_write endpoint, shifted so it ends now.",
        discussion: """
            Input columns: series_id,timestamp,value (as `vigil forecast` reads them). Each series becomes \
            METRIC{LABEL="<series_id>", job="JOB"}. Timestamps are shifted so the newest sample lands at \
            --end (default: now), then sent in time order in remote_write batches as fast as the receiver \
            acknowledges them. With --follow, the trace then keeps playing in real time, one step at a time, \
            looping from its start, until interrupted.

            Example:
              vigil replay --input Datasets/demo_vm_cpu_5m.csv --url http://127.0.0.1:9470/api/v1/write \\
                --metric vm_cpu_usage_percent --label vm --job demo
            """
    )

    @Option(help: "Long CSV with series_id,timestamp,value.")
    var input: String

    @Option(help: "remote_write endpoint.")
    var url = "http://127.0.0.1:9470/api/v1/write"

    @Option(help: "Metric name given to every series.")
    var metric = "vm_cpu_usage_percent"

    @Option(help: "Label that carries the series_id.")
    var label = "vm"

    @Option(help: "Value of the job label.")
    var job = "demo"

    @Option(help: "Unix seconds where the trace should end (default: now).")
    var end: Int64?

    @Option(help: "Samples per remote_write request.")
    var batch = 5000

    @Option(help: "File holding a bearer token to send.")
    var authTokenFile: String?

    @Flag(help: "After the backfill, keep sending the trace in real time (looping) until interrupted.")
    var follow = false

    func run() async throws {
        guard let endpoint = URL(string: url), endpoint.scheme == "http" || endpoint.scheme == "https" else {
            throw ValidationError("--url \(url) is not an http(s) URL")
        }
        guard batch > 0 else { throw ValidationError("--batch must be positive") }
        var token: String? = nil
        if let f = authTokenFile {
            token = try String(contentsOfFile: f, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let (raw, _) = try CSVReader.readLong(path: input)
        let rows = raw.filter { !$0.timestamps.isEmpty }
        guard let newest = rows.compactMap({ $0.timestamps.last }).max() else {
            throw ValidationError("\(input): no samples")
        }
        let targetEndMs = (end ?? Int64(Date().timeIntervalSince1970)) * 1000
        let shiftMs = targetEndMs - newest  // CSVReader gives milliseconds
        let series = rows.map { r in
            SeriesSamples(labels: Labels(["__name__": metric, label: r.id, "job": job]),
                          timestamps: r.timestamps.map { $0 + shiftMs }, values: r.values)
        }
        let total = series.reduce(0) { $0 + $1.count }
        let client = RemoteWriteClient(endpoint: endpoint, token: token)
        print("replaying \(series.count) series, \(total) samples from \(input) to \(url) (shifted \(shiftMs / 1000) s)")

        // Time-ordered merge: send samples in timestamp order across series, `batch` at a time.
        var cursor = [Int](repeating: 0, count: series.count)
        var sent = 0
        var lastReport = Date()
        while sent < total {
            var pending: [Int: SeriesSamples] = [:]
            var n = 0
            while n < batch && sent + n < total {
                // the series whose next sample is oldest
                var best = -1
                var bestT = Int64.max
                for i in series.indices where cursor[i] < series[i].count && series[i].timestamps[cursor[i]] < bestT {
                    best = i
                    bestT = series[i].timestamps[cursor[i]]
                }
                if best < 0 { break }
                pending[best, default: SeriesSamples(labels: series[best].labels)]
                    .append(bestT, series[best].values[cursor[best]])
                cursor[best] += 1
                n += 1
            }
            try await client.send(Array(pending.values))
            sent += n
            if Date().timeIntervalSince(lastReport) > 1 || sent == total {
                lastReport = Date()
                let pct = Int(Double(sent) / Double(total) * 100)
                print("  sent \(sent)/\(total) samples (\(pct)%)")
            }
        }
        print("backfill done: \(total) samples acknowledged")
        guard follow else { return }

        // Real-time follow: one step per series per step interval, looping over the trace's values.
        let stepMs = inferStepMs(series)
        print("following in real time: one sample per series every \(stepMs / 1000) s (Ctrl-C stops)")
        var k = 0
        while !Task.isCancelled {
            try await Task.sleep(nanoseconds: UInt64(stepMs) * 1_000_000)
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            let batch = series.map { s in
                SeriesSamples(labels: s.labels, timestamps: [now], values: [s.values[k % s.count]])
            }
            try await client.send(batch)
            k += 1
        }
    }

    private func inferStepMs(_ series: [SeriesSamples]) -> Int64 {
        var deltas: [Int64] = []
        for s in series.prefix(10) where s.count > 1 {
            for i in 1..<s.count { deltas.append(s.timestamps[i] - s.timestamps[i - 1]) }
        }
        deltas.sort()
        return deltas.isEmpty ? 60_000 : max(1000, deltas[deltas.count / 2])
    }
}

/// Minimal remote_write 1.0 sender (snappy + protobuf over HTTP POST), retrying 5xx as Prometheus does.
struct RemoteWriteClient: Sendable {
    let endpoint: URL
    let token: String?

    func send(_ series: [SeriesSamples]) async throws {
        let body = RemoteWriteV1.encodeSnappy(series)
        var req = URLRequest(url: endpoint)
        req.httpMethod = "POST"
        req.setValue("application/x-protobuf", forHTTPHeaderField: "Content-Type")
        req.setValue("snappy", forHTTPHeaderField: "Content-Encoding")
        req.setValue("0.1.0", forHTTPHeaderField: "X-Prometheus-Remote-Write-Version")
        if let token { req.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        req.httpBody = Data(body)
        var delay: UInt64 = 100_000_000
        for attempt in 1...8 {
            let (data, resp) = try await URLSession.shared.data(for: req)
            let code = (resp as? HTTPURLResponse)?.statusCode ?? 0
            if (200..<300).contains(code) { return }
            let msg = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if code < 500 || attempt == 8 {
                throw ValidationError("remote_write to \(endpoint) answered \(code): \(msg)")
            }
            try await Task.sleep(nanoseconds: delay)
            delay = min(delay * 2, 5_000_000_000)
        }
    }
}
