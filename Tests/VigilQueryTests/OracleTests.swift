import Foundation
import VigilTestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import VigilCore
@testable import VigilQuery
import VigilStore

/// Differential test: Prometheus 2.42 (the Debian package) and Vigil get the same data; every query of
/// corpus/queries.promql runs against both as instant queries and as range queries; answers must agree.
@Suite(.serialized) struct OracleTests {


    /// Every query above the corpus' errors section parses; the ones in it fail to parse or to evaluate.
    @Test func corpusHasEnoughQueriesAndTheyParse() throws {
        let q = try OracleTests.loadCorpus()
        #expect(q.count >= 300)
        let (valid, errors) = try OracleTests.loadCorpusSections()
        #expect(valid.count + errors.count == q.count)
        #expect(errors.count >= 10)
        for query in valid {
            #expect(throws: Never.self, "\(query)") { _ = try Parser.parse(query) }
        }
        let engine = Engine(reader: InMemorySeriesReader(OracleData.series()))
        for query in errors {
            var failed = false
            for t in OracleData.instantTimes {
                do { _ = try engine.instantQuery(query, at: t) } catch { failed = true }
            }
            do {
                _ = try engine.rangeQuery(query, start: OracleData.start, end: OracleData.start + OracleData.span, step: 60_000)
            } catch { failed = true }
            #expect(failed, "corpus errors section: \(query) succeeded")
        }
    }

    @Test(.enabled(if: prometheusAvailable,
                   "needs \(prometheusPath) (Debian's prometheus 2.42 package; `make test` installs it)"))
    func oracleAgainstPrometheus() async throws {
        let queries = try OracleTests.loadCorpus()
        let data = OracleData.series()
        let prom = try await PrometheusTestServer.start()
        defer { prom.stop() }
        try await prom.remoteWrite(data)
        // Let the head become queryable for all series.
        try await prom.waitForSeries(count: data.count)

        // Vigil reads through the real store: sealed chunks flushed to SQLite, the rest in the head.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-oracle-tsdb-\(UUID().uuidString)")
        var o = TSDBOptions()
        o.maintenanceInterval = nil
        o.retention = 0
        let db = try TSDB(directory: dir.path, options: o)
        defer {
            try? db.close()
            try? FileManager.default.removeItem(at: dir)
        }
        let appended = try db.appendSync(data)
        #expect(appended.accepted == data.reduce(0) { $0 + $1.count })
        try db.flush()
        let engine = Engine(reader: db)
        var total = 0
        var matched = 0
        var mismatches: [String] = []
        let rangeSpecs: [(Int64, Int64, Int64)] = [
            (OracleData.start, OracleData.start + OracleData.span + 300_000, 60_000),
            (OracleData.start + 7_000, OracleData.start + OracleData.span, 37_000),
        ]
        for q in queries {
            for t in OracleData.instantTimes {
                total += 1
                let p = try await prom.get("/api/v1/query", ["query": q, "time": GoFormat.timestamp(t)])
                let v = OracleTests.vigilJSON { try engine.instantQuery(q, at: t) }
                if let why = OracleTests.compare(p, v, ordered: q.hasPrefix("sort")) {
                    mismatches.append("instant @\(GoFormat.timestamp(t)) \(q): \(why)")
                } else { matched += 1 }
            }
            for (s, e, st) in rangeSpecs {
                total += 1
                let p = try await prom.get("/api/v1/query_range", ["query": q, "start": GoFormat.timestamp(s),
                                                                   "end": GoFormat.timestamp(e), "step": GoFormat.formatF(Double(st) / 1000)])
                let v = OracleTests.vigilJSON { try engine.rangeQuery(q, start: s, end: e, step: st) }
                if let why = OracleTests.compare(p, v, ordered: false) {
                    mismatches.append("range \(GoFormat.timestamp(s))..\(GoFormat.timestamp(e)) step \(st / 1000)s \(q): \(why)")
                } else { matched += 1 }
            }
        }
        let rate = Double(matched) / Double(max(total, 1))
        var report = "oracle: \(queries.count) queries, \(matched)/\(total) evaluations match Prometheus 2.42 (\(String(format: "%.2f", rate * 100))%)\n"
        for m in mismatches { report += "MISMATCH " + m + "\n" }
        print(report)
        let reportPath = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-oracle-report.txt")
        try? report.write(to: reportPath, atomically: true, encoding: .utf8)
        #expect(mismatches.isEmpty, "\(mismatches.count) mismatches; first: \(mismatches.prefix(5).joined(separator: "\n"))")
    }

    // MARK: corpus

    static func loadCorpus() throws -> [String] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("corpus/queries.promql")
        let text = try String(contentsOf: url, encoding: .utf8)
        return text.split(separator: "\n").map { String($0).trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    /// The corpus split at its `# ---- errors` header: (queries before and after it, until the next header).
    static func loadCorpusSections() throws -> (valid: [String], errors: [String]) {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("corpus/queries.promql")
        var valid: [String] = [], errors: [String] = []
        var inErrors = false
        for raw in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("# ----") { inErrors = line.hasPrefix("# ---- errors") }
            if line.isEmpty || line.hasPrefix("#") { continue }
            if inErrors { errors.append(line) } else { valid.append(line) }
        }
        return (valid, errors)
    }

    // MARK: comparison

    static func vigilJSON(_ f: () throws -> QueryResult) -> String {
        do {
            return PromJSON.success(PromJSON.data(try f()))
        } catch let e as QueryError {
            return PromJSON.error(e.errorType, e.description)
        } catch {
            return PromJSON.error("execution", "\(error)")
        }
    }

    static func num(_ s: Any?) -> Double? {
        if let s = s as? String {
            switch s {
            case "NaN": return .nan
            case "+Inf": return .infinity
            case "-Inf": return -.infinity
            default: return Double(s)
            }
        }
        if let n = s as? NSNumber { return n.doubleValue }
        return nil
    }

    static func close(_ a: Double, _ b: Double) -> Bool {
        if a.isNaN || b.isNaN { return a.isNaN && b.isNaN }
        if a == b { return true }
        let m = max(abs(a), abs(b))
        return abs(a - b) / m <= 1e-9
    }

    /// nil when equal; otherwise a short reason.
    static func compare(_ promBody: Data, _ vigilBody: String, ordered: Bool) -> String? {
        guard let p = try? JSONSerialization.jsonObject(with: promBody) as? [String: Any],
              let v = try? JSONSerialization.jsonObject(with: Data(vigilBody.utf8)) as? [String: Any] else {
            return "unparsable JSON: vigil=\(vigilBody.prefix(200))"
        }
        let ps = p["status"] as? String, vs = v["status"] as? String
        if ps != vs {
            return "status prometheus=\(ps ?? "?") (\(p["error"] ?? "")) vigil=\(vs ?? "?") (\(v["error"] ?? ""))"
        }
        if ps == "error" {
            if (p["errorType"] as? String) != (v["errorType"] as? String) {
                return "errorType prometheus=\(p["errorType"] ?? "") vigil=\(v["errorType"] ?? "") (\(p["error"] ?? "") / \(v["error"] ?? ""))"
            }
            return nil
        }
        guard let pd = p["data"] as? [String: Any], let vd = v["data"] as? [String: Any] else { return "no data" }
        let pt = pd["resultType"] as? String, vt = vd["resultType"] as? String
        if pt != vt { return "resultType prometheus=\(pt ?? "") vigil=\(vt ?? "")" }
        switch pt {
        case "scalar", "string":
            let pa = pd["result"] as? [Any] ?? [], va = vd["result"] as? [Any] ?? []
            guard pa.count == 2, va.count == 2 else { return "bad scalar" }
            if !close(num(pa[0]) ?? -1, num(va[0]) ?? -2) { return "scalar time differs" }
            if pt == "string" { return (pa[1] as? String) == (va[1] as? String) ? nil : "string differs" }
            return close(num(pa[1]) ?? 0, num(va[1]) ?? 1) ? nil : "scalar prometheus=\(pa[1]) vigil=\(va[1])"
        default:
            let pr = pd["result"] as? [[String: Any]] ?? [], vr = vd["result"] as? [[String: Any]] ?? []
            func key(_ e: [String: Any]) -> String {
                let m = e["metric"] as? [String: String] ?? [:]
                return m.keys.sorted().map { "\($0)=\(m[$0]!)" }.joined(separator: ",")
            }
            func points(_ e: [String: Any]) -> [(Double, Double)] {
                if let vals = e["values"] as? [[Any]] { return vals.map { (num($0[0]) ?? 0, num($0[1]) ?? 0) } }
                if let val = e["value"] as? [Any] { return [(num(val[0]) ?? 0, num(val[1]) ?? 0)] }
                return []
            }
            if pr.count != vr.count {
                return "series count prometheus=\(pr.count) vigil=\(vr.count): p=\(pr.map(key).sorted().prefix(4)) v=\(vr.map(key).sorted().prefix(4))"
            }
            if ordered {
                for (a, b) in zip(pr, vr) where key(a) != key(b) { return "order differs at \(key(a)) vs \(key(b))" }
            }
            var vmap: [String: [String: Any]] = [:]
            for e in vr { vmap[key(e)] = e }
            for e in pr {
                let k = key(e)
                guard let o = vmap[k] else { return "series {\(k)} missing in vigil; vigil has \(vr.map(key).sorted().prefix(4))" }
                let a = points(e), b = points(o)
                if a.count != b.count {
                    let at = Set(a.map(\.0)), bt = Set(b.map(\.0))
                    return "{\(k)} points prometheus=\(a.count) vigil=\(b.count); only-prom \(at.subtracting(bt).sorted().prefix(3)) only-vigil \(bt.subtracting(at).sorted().prefix(3))"
                }
                for (x, y) in zip(a, b) {
                    if !close(x.0, y.0) { return "{\(k)} timestamp \(x.0) vs \(y.0)" }
                    if !close(x.1, y.1) { return "{\(k)} @\(x.0) prometheus=\(x.1) vigil=\(y.1)" }
                }
            }
            return nil
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
