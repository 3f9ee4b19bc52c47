import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import VigilCore
import VigilQuery
import VigilServer
import VigilStore

/// `vigil query 'EXPR'`: asks a running Vigil (or any Prometheus-API server) and prints a table or the JSON.
struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Run a PromQL query against a running server's HTTP API.",
        discussion: """
            Examples:
              vigil query 'up'                                   # instant query, now
              vigil query 'rate(node_cpu_seconds_total[5m])' --start -1h --step 60
              vigil query 'sum by (host) (up)' --time 2026-01-01T00:00:00Z --json
            Times: RFC 3339, Unix seconds, or relative to now (-1h, -30m). A range query needs --start.
            """
    )

    @Argument(help: "The PromQL expression.")
    var expr: String

    @Option(help: "Base URL of the server.")
    var url = "http://127.0.0.1:9470"

    @Option(parsing: .unconditional, help: "Evaluation time of an instant query (default: now).")
    var time: String?

    @Option(parsing: .unconditional, help: "Start of a range query (makes it a range query).")
    var start: String?

    @Option(parsing: .unconditional, help: "End of a range query (default: now).")
    var end: String?

    @Option(help: "Step of a range query: seconds or a duration like 1m (default: 60).")
    var step = "60"

    @Flag(help: "Print the server's JSON answer unchanged.")
    var json = false

    func resolveTime(_ s: String) throws -> String {
        if s.hasPrefix("-"), let ms = try? DurationParser.milliseconds(String(s.dropFirst())) {
            return GoFormat.timestamp(Int64(Date().timeIntervalSince1970 * 1000) - ms)
        }
        return s
    }

    func run() async throws {
        var params: [(String, String)] = [("query", expr)]
        let path: String
        if let start {
            path = "/api/v1/query_range"
            params.append(("start", try resolveTime(start)))
            params.append(("end", try end.map(resolveTime) ?? GoFormat.timestamp(Int64(Date().timeIntervalSince1970 * 1000))))
            params.append(("step", step))
        } else {
            path = "/api/v1/query"
            if let time { params.append(("time", try resolveTime(time))) }
        }
        guard var comps = URLComponents(string: url.hasSuffix("/") ? String(url.dropLast()) + path : url + path) else {
            throw ValidationError("invalid --url \(url)")
        }
        comps.queryItems = params.map { URLQueryItem(name: $0.0, value: $0.1) }
        comps.percentEncodedQuery = comps.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        var req = URLRequest(url: comps.url!)
        req.timeoutInterval = 130
        let (data, resp) = try await URLSession.shared.data(for: req)
        let status = (resp as? HTTPURLResponse)?.statusCode ?? 0
        if json {
            print(String(decoding: data, as: UTF8.self))
            if status != 200 { throw ExitCode(1) }
            return
        }
        guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            FileHandle.standardError.write(Data("vigil query: HTTP \(status): \(String(decoding: data.prefix(500), as: UTF8.self))\n".utf8))
            throw ExitCode(1)
        }
        if obj["status"] as? String != "success" {
            FileHandle.standardError.write(Data("vigil query: \(obj["errorType"] ?? "error"): \(obj["error"] ?? "")\n".utf8))
            throw ExitCode(1)
        }
        print(QueryTable.render(obj["data"] as? [String: Any] ?? [:]), terminator: "")
    }
}

/// Readable tables for query results.
enum QueryTable {
    static func labelText(_ m: [String: String]) -> String {
        let name = m["__name__"] ?? ""
        let rest = m.keys.filter { $0 != "__name__" }.sorted().map { "\($0)=\"\(m[$0]!)\"" }
        if rest.isEmpty { return name.isEmpty ? "{}" : name }
        return name + "{" + rest.joined(separator: ", ") + "}"
    }

    static func timeText(_ v: Any) -> String {
        let secs = (v as? NSNumber)?.doubleValue ?? Double("\(v)") ?? 0
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: secs))
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }

    static func render(_ data: [String: Any]) -> String {
        let type = data["resultType"] as? String ?? ""
        var out = ""
        switch type {
        case "scalar", "string":
            let r = data["result"] as? [Any] ?? []
            if r.count == 2 { out += "\(type) \(r[1]) @ \(timeText(r[0]))\n" }
        case "vector":
            let r = data["result"] as? [[String: Any]] ?? []
            let rows = r.map { e -> (String, String) in
                let v = e["value"] as? [Any] ?? []
                return (labelText(e["metric"] as? [String: String] ?? [:]), v.count == 2 ? "\(v[1])" : "")
            }
            let w = min(100, max(6, rows.map { $0.0.count }.max() ?? 0))
            out += pad("SERIES", w) + "  VALUE\n"
            for (l, v) in rows { out += pad(l, w) + "  " + v + "\n" }
            out += "(\(rows.count) series)\n"
        case "matrix":
            let r = data["result"] as? [[String: Any]] ?? []
            for e in r {
                out += labelText(e["metric"] as? [String: String] ?? [:]) + "\n"
                for p in e["values"] as? [[Any]] ?? [] where p.count == 2 {
                    out += "  " + timeText(p[0]) + "  \(p[1])\n"
                }
            }
            out += "(\(r.count) series)\n"
        default:
            out += "\(data)\n"
        }
        return out
    }
}

/// `vigil bench query`: the reference range query over the benchmark workload, through the real store.
struct BenchQueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Time the reference PromQL range query on the 10k-series workload (see BENCHMARKS.md).",
        discussion: """
            Loads the workload (python3 Benchmarks/workload.py writes it) into a fresh store in a temporary
            directory, flushes sealed chunks to SQLite, then runs the query over the whole span at 60 s step.

            Example:
              python3 Benchmarks/workload.py && vigil bench query --repeat 9
            """
    )

    @Option(help: "Workload file.")
    var workload = BenchWorkload.defaultPath

    @Option(help: "The query.")
    var query = "sum by (host) (rate(node_cpu_seconds_total[5m]))"

    @Option(help: "Step in seconds.")
    var step = 60

    @Option(name: .customLong("repeat"), help: "Timed repetitions after the first (cold) run.")
    var repetitions = 9

    func log(_ s: String) {
        FileHandle.standardError.write(Data("vigil bench query: \(s)\n".utf8))
    }

    func run() throws {
        HeapPolicy.keepFreedHeap()  // as `vigil serve` does
        let series = try BenchWorkload.load(path: workload)
        log("read \(workload)")
        var mint = Int64.max, maxt = Int64.min
        for s in series where s.count > 0 {
            mint = min(mint, s.timestamps[0])
            maxt = max(maxt, s.timestamps[s.count - 1])
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-bench-query-\(UUID().uuidString)")
        var o = TSDBOptions()
        o.maintenanceInterval = nil
        o.retention = 0
        let db = try TSDB(directory: dir.path, options: o)
        defer {
            try? db.close()
            try? FileManager.default.removeItem(at: dir)
        }
        // Append in time order, 5 minutes of all series per batch (as a scraper would).
        var cursor = [Int](repeating: 0, count: series.count)
        var t = mint
        while t <= maxt {
            let until = t + 300_000
            var batch: [SeriesSamples] = []
            for (i, s) in series.enumerated() {
                var j = cursor[i]
                var chunk = SeriesSamples(labels: s.labels)
                while j < s.count && s.timestamps[j] < until {
                    chunk.append(s.timestamps[j], s.values[j])
                    j += 1
                }
                cursor[i] = j
                if chunk.count > 0 { batch.append(chunk) }
            }
            _ = try db.appendSync(batch)
            t = until
        }
        log("loaded \(series.count) series into the store")
        try db.flush()
        log("flushed")
        let engine = Engine(reader: db)
        let start = (mint + 59_999) / 60_000 * 60_000
        let stepMs = Int64(step) * 1000
        let end = start + (maxt - start) / stepMs * stepMs
        func threadCPUms() -> Double {
            var ts = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) * 1000 + Double(ts.tv_nsec) / 1e6
        }
        func processCPUms() -> Double {
            var ts = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) * 1000 + Double(ts.tv_nsec) / 1e6
        }
        var cpu: [Double] = []
        var processCPU: [Double] = []
        func once() throws -> (Double, Int, Int) {
            let cpu0 = threadCPUms(), pcpu0 = processCPUms()
            defer {
                cpu.append(threadCPUms() - cpu0)
                processCPU.append(processCPUms() - pcpu0)
            }
            let c = ContinuousClock()
            var out: QueryResult?
            var bytes = 0
            let d = try c.measure {
                let r = try engine.rangeQuery(query, start: start, end: end, step: stepMs)
                bytes = PromJSON.success(PromJSON.data(r)).utf8.count
                out = r
            }
            var nSeries = 0
            if case .matrix(let m)? = out { nSeries = m.count }
            return (Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15, nSeries, bytes)
        }
        let (cold, nSeries, bytes) = try once()
        var warm: [Double] = []
        for _ in 0..<repetitions { warm.append(try once().0) }
        warm.sort()
        let median = warm.isEmpty ? cold : warm[warm.count / 2]
        let warmCPU = cpu.dropFirst().sorted()
        let cpuMedian = warmCPU.isEmpty ? cpu[0] : warmCPU[warmCPU.count / 2]
        let warmProcessCPU = processCPU.dropFirst().sorted()
        let processCPUMedian = warmProcessCPU.isEmpty ? processCPU[0] : warmProcessCPU[warmProcessCPU.count / 2]
        // The store's part alone: the selection the query makes ([start - 5m, end] of the metric).
        var selectMs: [Double] = []
        var selectCPU: [Double] = []
        let matchers = [LabelMatcher.equal(Labels.metricNameLabel, "node_cpu_seconds_total")]
        for _ in 0..<max(1, repetitions) {
            let pcpu0 = processCPUms()
            let d = try ContinuousClock().measure { _ = try db.select(matchers, mint: start - 300_000, maxt: end) }
            selectCPU.append(processCPUms() - pcpu0)
            selectMs.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
        }
        selectMs.sort()
        selectCPU.sort()
        print("""
            {"query": \(PromJSON.string(query)), "series_in_store": \(series.count), "start": \(GoFormat.timestamp(start)), \
            "end": \(GoFormat.timestamp(end)), "step_s": \(step), "result_series": \(nSeries), "json_bytes": \(bytes), \
            "cold_ms": \(String(format: "%.1f", cold)), "warm_ms_median": \(String(format: "%.1f", median)), "warm_cpu_ms_median": \(String(format: "%.1f", cpuMedian)), \
            "warm_process_cpu_ms_median": \(String(format: "%.1f", processCPUMedian)), \
            "select_ms_median": \(String(format: "%.1f", selectMs[selectMs.count / 2])), \
            "select_process_cpu_ms_median": \(String(format: "%.1f", selectCPU[selectCPU.count / 2])), \
            "warm_ms_all": [\(warm.map { String(format: "%.1f", $0) }.joined(separator: ", "))]}
            """)
    }
}
