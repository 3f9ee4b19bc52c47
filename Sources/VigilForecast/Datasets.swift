import Foundation

/// Loaders for the evaluation datasets (the shared benchmark folders and plain long CSVs, optionally gzipped).
public enum DatasetLoader {
    public struct LoadError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// Reads a text file, decompressing `.gz` with the system `gzip`.
    public static func readText(_ path: String) throws -> String {
        if path.hasSuffix(".gz") {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", "exec gzip -dc \"$0\"", path]
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw LoadError(message: "\(path): gzip -dc failed") }
            return String(decoding: data, as: UTF8.self)
        }
        guard let d = FileManager.default.contents(atPath: path) else { throw LoadError(message: "\(path): cannot read") }
        return String(decoding: d, as: UTF8.self)
    }

    /// Splits CSV text into header fields and rows of fields (no quotes needed for the benchmark files).
    static func table(_ text: String) -> (header: [String], rows: [[Substring]]) {
        var lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" })
        guard !lines.isEmpty else { return ([], []) }
        let header = lines.removeFirst().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        return (header, lines.map { $0.split(separator: ",", omittingEmptySubsequences: false) })
    }

    /// Loads series for forecasting evaluation/training.
    /// - a directory with `vm_metrics*.csv.gz` (Bitbrains): one series per VM of `metric` (default cpu_usage_pct);
    /// - a directory with the cluster_utilization CSVs: one series per file, its CPU column (or `metric`);
    /// - a file: long CSV `series_id,timestamp,value` (optionally .gz).
    public static func loadForecastSeries(_ path: String, metric: String? = nil, maxSeries: Int = Int.max) throws -> [RawSeries] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw LoadError(message: "\(path): no such file or directory") }
        if !isDir.boolValue {
            if path.hasSuffix(".gz") {
                let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-\(getpid())-\(UUID().uuidString).csv").path
                try readText(path).write(toFile: tmp, atomically: false, encoding: .utf8)
                defer { try? FileManager.default.removeItem(atPath: tmp) }
                return Array(try CSVReader.readLong(path: tmp).series.prefix(maxSeries))
            }
            return Array(try CSVReader.readLong(path: path).series.prefix(maxSeries))
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        if let bb = files.first(where: { $0.hasPrefix("vm_metrics") }) {
            let (h, rows) = table(try readText(path + "/" + bb))
            let col = metric ?? "cpu_usage_pct"
            guard let vi = h.firstIndex(of: col), let ti = h.firstIndex(of: "timestamp"), let ii = h.firstIndex(of: "vm_id") else {
                throw LoadError(message: "\(bb): no column \(col)")
            }
            var out: [RawSeries] = []
            var idx: [Substring: Int] = [:]
            for r in rows where r.count > max(vi, ti, ii) {
                let id = r[ii]
                var k = idx[id] ?? -1
                if k < 0 {
                    if out.count >= maxSeries { continue }
                    k = out.count; idx[id] = k; out.append(RawSeries(id: "vm" + id))
                }
                out[k].timestamps.append(Int64(Double(r[ti]) ?? 0) * 1000)
                out[k].values.append(Double(r[vi]) ?? .nan)
            }
            for i in out.indices { CSVReader.sortIfNeeded(&out[i]) }
            return out
        }
        let cluster: [(String, String)] = [("google2019_cluster_5min.csv", "avg_cpu"), ("azure2019_vms_5min.csv", "cpu_usage"),
                                           ("alibaba2018_cluster_5min_days3-8.csv", "cpu_util_percent")]
        var out: [RawSeries] = []
        for (f, defaultCol) in cluster where files.contains(f) {
            let (h, rows) = table(try readText(path + "/" + f))
            guard let vi = h.firstIndex(of: metric ?? defaultCol) else { continue }
            var s = RawSeries(id: String(f.split(separator: "_").first!) + ":" + (metric ?? defaultCol))
            for r in rows where r.count > vi {
                let t: Int64
                if let ti = h.firstIndex(of: "t_offset_s") { t = Int64(Double(r[ti]) ?? 0) }
                else if let di = h.firstIndex(of: "day"), let si = h.firstIndex(of: "slot") {
                    t = (Int64(r[di])! - 1) * 86400 + Int64(r[si])! * 300
                } else { continue }
                s.timestamps.append(t * 1000)
                s.values.append(Double(r[vi]) ?? .nan)
            }
            out.append(s)
        }
        if out.isEmpty { throw LoadError(message: "\(path): no known dataset files (Bitbrains vm_metrics*.csv.gz or cluster_utilization CSVs)") }
        return out
    }

    /// One SMD/ASD machine: train and test matrices (rows × dims) and test labels.
    public struct LabelledMachine: Sendable {
        public var name: String
        public var dims: Int
        public var train: [Double]
        public var trainRows: Int
        public var test: [Double]
        public var testRows: Int
        public var labels: [Bool]
    }

    /// Loads `<name>_train.csv.gz` / `<name>_test.csv.gz` pairs (last test column `label`).
    public static func loadLabelled(_ dir: String, maxMachines: Int = Int.max) throws -> [LabelledMachine] {
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix("_test.csv.gz") }.sorted()
        var out: [LabelledMachine] = []
        for f in files.prefix(maxMachines) {
            let name = String(f.dropLast("_test.csv.gz".count))
            let (th, trows) = table(try readText(dir + "/" + name + "_train.csv.gz"))
            let (eh, erows) = table(try readText(dir + "/" + f))
            guard let li = eh.firstIndex(of: "label") else { throw LoadError(message: "\(f): no label column") }
            let dims = th.filter { $0 != "label" && $0 != "timestamp" }.count
            let tcols = th.indices.filter { th[$0] != "label" && th[$0] != "timestamp" }
            let ecols = eh.indices.filter { eh[$0] != "label" && eh[$0] != "timestamp" }
            guard ecols.count == dims else { throw LoadError(message: "\(name): train/test dims differ") }
            var train: [Double] = [], test: [Double] = [], labels: [Bool] = []
            train.reserveCapacity(trows.count * dims)
            for r in trows { for c in tcols { train.append(c < r.count ? Double(r[c]) ?? .nan : .nan) } }
            for r in erows {
                for c in ecols { test.append(c < r.count ? Double(r[c]) ?? .nan : .nan) }
                labels.append(li < r.count && (Double(r[li]) ?? 0) > 0)
            }
            out.append(LabelledMachine(name: name, dims: dims, train: train, trainRows: trows.count, test: test, testRows: erows.count,
                                       labels: labels))
        }
        return out
    }
}
