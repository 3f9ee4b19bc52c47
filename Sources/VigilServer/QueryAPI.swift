import Dispatch
import Foundation
import Hummingbird
import VigilCore
import VigilQuery

/// The Prometheus HTTP API (query side), answered exactly in Prometheus' JSON shapes.
///
/// `QueryAPI.handle` is transport-free (endpoint + form parameters in, status + JSON out);
/// `addQueryRoutes` mounts it on a Hummingbird router.
public struct QueryAPI: Sendable {
    public let engine: Engine
    public let version: String
    public let startTime: Date

    public init(reader: any SeriesReader, options: QueryOptions = QueryOptions(), version: String = "0.1.0") {
        self.engine = Engine(reader: reader, options: options)
        self.version = version
        self.startTime = Date()
    }

    public struct Reply: Sendable {
        public var status: Int
        public var body: String
    }

    static let minTime: Int64 = -9_223_372_036_854_775 // ms, as Prometheus' MinTime
    static let maxTime: Int64 = 9_223_372_036_854_775

    /// Answers one API call. `endpoint` is the path after `/api/v1/` (e.g. `query_range`, `label/job/values`).
    public func handle(endpoint: String, params: [String: [String]], now: Date = Date()) -> Reply {
        do {
            let data = try route(endpoint, params, now)
            return Reply(status: 200, body: PromJSON.success(data))
        } catch let e as QueryError {
            return Reply(status: e.httpStatus, body: PromJSON.error(e.errorType, e.description))
        } catch {
            return Reply(status: 422, body: PromJSON.error("execution", "\(error)"))
        }
    }

    private func route(_ endpoint: String, _ p: [String: [String]], _ now: Date) throws -> String {
        func one(_ k: String) -> String? { p[k]?.first }
        let nowMs = Int64((now.timeIntervalSince1970 * 1000).rounded(.down))
        switch endpoint {
        case "query":
            let t = try one("time").map { try QueryAPI.parseTime($0, "time") } ?? nowMs
            let engine = try engineWithTimeout(one("timeout"))
            return PromJSON.data(try engine.instantQuery(one("query") ?? "", at: t))
        case "query_range":
            let start = try QueryAPI.parseTime(one("start") ?? "", "start")
            let end = try QueryAPI.parseTime(one("end") ?? "", "end")
            if end < start { throw QueryError.badData("invalid parameter \"end\": end timestamp must not be before start time") }
            let step = try QueryAPI.parseDuration(one("step") ?? "", "step")
            if step <= 0 {
                throw QueryError.badData("invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer")
            }
            let engine = try engineWithTimeout(one("timeout"))
            return PromJSON.data(try engine.rangeQuery(one("query") ?? "", start: start, end: end, step: step))
        case "format_query":
            let e = try Engine.parse(one("query") ?? "")
            return PromJSON.string(e.description)
        case "series":
            guard let matches = p["match[]"], !matches.isEmpty else { throw QueryError.badData("no match[] parameter provided") }
            let (s, e) = try timeRange(p)
            var seen = Set<Labels>()
            for m in matches {
                for l in try engine.reader.series(try QueryAPI.selectorMatchers(m), mint: s, maxt: e) { seen.insert(l) }
            }
            return "[" + seen.sorted().map(PromJSON.labels).joined(separator: ",") + "]"
        case "labels":
            let (s, e) = try timeRange(p)
            var names = Set<String>()
            if let matches = p["match[]"], !matches.isEmpty {
                for m in matches { names.formUnion(try engine.reader.labelNames(try QueryAPI.selectorMatchers(m), mint: s, maxt: e)) }
            } else {
                names.formUnion(try engine.reader.labelNames([], mint: s, maxt: e))
            }
            return "[" + names.sorted().map(PromJSON.string).joined(separator: ",") + "]"
        case "metadata":
            return "{}"
        case "query_exemplars":
            return "[]"
        case "status/buildinfo":
            return "{\"version\":" + PromJSON.string(version) + ",\"revision\":\"\",\"branch\":\"\",\"buildUser\":\"\","
                + "\"buildDate\":\"\",\"goVersion\":\"\",\"features\":{}}"
        case "status/runtimeinfo":
            let iso = ISO8601DateFormatter()
            iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return "{\"startTime\":" + PromJSON.string(iso.string(from: startTime))
                + ",\"CWD\":" + PromJSON.string(FileManager.default.currentDirectoryPath)
                + ",\"reloadConfigSuccess\":true,\"lastConfigTime\":" + PromJSON.string(iso.string(from: startTime))
                + ",\"corruptionCount\":0,\"goroutineCount\":0,\"GOMAXPROCS\":\(ProcessInfo.processInfo.activeProcessorCount)"
                + ",\"GOGC\":\"\",\"GODEBUG\":\"\",\"storageRetention\":\"\"}"
        default:
            if endpoint.hasPrefix("label/"), endpoint.hasSuffix("/values") {
                let name = String(endpoint.dropFirst("label/".count).dropLast("/values".count))
                guard Labels.isValidLabelName(name) else { throw QueryError.badData("invalid label name: \"\(name)\"") }
                let (s, e) = try timeRange(p)
                var values = Set<String>()
                if let matches = p["match[]"], !matches.isEmpty {
                    for m in matches {
                        values.formUnion(try engine.reader.labelValues(name, matchers: try QueryAPI.selectorMatchers(m), mint: s, maxt: e))
                    }
                } else {
                    values.formUnion(try engine.reader.labelValues(name, matchers: [], mint: s, maxt: e))
                }
                return "[" + values.sorted().map(PromJSON.string).joined(separator: ",") + "]"
            }
            throw QueryError.badData("unknown endpoint \"\(endpoint)\"")
        }
    }

    private func engineWithTimeout(_ s: String?) throws -> Engine {
        guard let s else { return engine }
        let ms = try QueryAPI.parseDuration(s, "timeout")
        var o = engine.options
        o.timeout = min(o.timeout, Double(ms) / 1000)
        return Engine(reader: engine.reader, options: o)
    }

    private func timeRange(_ p: [String: [String]]) throws -> (Int64, Int64) {
        let s = try p["start"]?.first.map { try QueryAPI.parseTime($0, "start") } ?? QueryAPI.minTime
        let e = try p["end"]?.first.map { try QueryAPI.parseTime($0, "end") } ?? QueryAPI.maxTime
        return (s, e)
    }

    static func selectorMatchers(_ s: String) throws -> [LabelMatcher] {
        let e: Expr
        do { e = try Parser.parse(s) } catch { throw QueryError.badData("invalid parameter \"match[]\": \(error)") }
        guard case .vectorSelector(let vs) = e else {
            throw QueryError.badData("invalid parameter \"match[]\": 1:1: parse error: expected vector selector")
        }
        return vs.matchers
    }

    // MARK: parameters

    /// Prometheus' parseTime: fractional Unix seconds (rounded to the millisecond) or RFC 3339.
    public static func parseTime(_ s: String, _ name: String) throws(QueryError) -> Int64 {
        if let d = Double(s), !s.isEmpty, s.first != "+" || s.count > 1 {
            if d.isFinite {
                let whole = d.rounded(.towardZero)
                let frac = ((d - whole) * 1000).rounded(.toNearestOrAwayFromZero)
                if abs(whole) < 9.2e15 { return Int64(whole) * 1000 + Int64(frac) }
            }
        }
        if let ms = parseRFC3339(s) { return ms }
        switch s {
        case "-292273086-05-16T16:47:06Z": return minTime
        case "292277025-08-18T07:12:54.999999999Z": return maxTime
        default: break
        }
        throw .badData("invalid parameter \"\(name)\": cannot parse \"\(s)\" to a valid timestamp")
    }

    /// Prometheus' parseDuration: float seconds or a PromQL duration. Returns ms.
    public static func parseDuration(_ s: String, _ name: String) throws(QueryError) -> Int64 {
        if let d = Double(s), d.isFinite {
            let ns = d * 1e9
            if ns > 9.2e18 || ns < -9.2e18 {
                throw .badData("invalid parameter \"\(name)\": cannot parse \"\(s)\" to a valid duration. It overflows int64")
            }
            return Int64(ns) / 1_000_000
        }
        if let ms = try? DurationParser.milliseconds(s) { return ms }
        throw .badData("invalid parameter \"\(name)\": cannot parse \"\(s)\" to a valid duration")
    }

    /// RFC 3339 with optional fraction: `2006-01-02T15:04:05.999999999Z07:00`. Returns ms (truncated).
    public static func parseRFC3339(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        func num(_ a: Int, _ n: Int) -> Int? {
            guard a + n <= b.count else { return nil }
            var v = 0
            for i in a..<(a + n) {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard b.count >= 20, let y = num(0, 4), b[4] == 45, let mo = num(5, 2), b[7] == 45, let d = num(8, 2),
              b[10] == 84 || b[10] == 116, let h = num(11, 2), b[13] == 58, let mi = num(14, 2), b[16] == 58,
              let sec = num(17, 2), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, sec < 60 else { return nil }
        var i = 19
        var fracMs = 0
        if i < b.count, b[i] == 46 {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 48 && b[i] <= 57 {
                if digits < 3 { fracMs = fracMs * 10 + Int(b[i] - 48) }
                digits += 1
                i += 1
            }
            if digits == 0 { return nil }
            if digits < 3 { for _ in digits..<3 { fracMs *= 10 } }
        }
        guard i < b.count else { return nil }
        var offsetSec = 0
        if b[i] == 90 || b[i] == 122 {
            i += 1
        } else if b[i] == 43 || b[i] == 45 {
            guard let oh = num(i + 1, 2), b.count > i + 3, b[i + 3] == 58, let om = num(i + 4, 2) else { return nil }
            offsetSec = (oh * 3600 + om * 60) * (b[i] == 45 ? -1 : 1)
            i += 6
        } else { return nil }
        guard i == b.count else { return nil }
        // days from civil (Howard Hinnant)
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let secs = Int64(days) * 86400 + Int64(h * 3600 + mi * 60 + sec) - Int64(offsetSec)
        return secs * 1000 + Int64(fracMs)
    }

    /// application/x-www-form-urlencoded (also URL query strings): `+` is a space, keys and values percent-decoded.
    public static func decodeForm(_ s: String, into out: inout [String: [String]]) {
        for pair in s.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func dec(_ x: Substring) -> String {
                let plus = x.replacingOccurrences(of: "+", with: " ")
                return plus.removingPercentEncoding ?? plus
            }
            let k = dec(kv[0])
            let v = kv.count > 1 ? dec(kv[1]) : ""
            out[k, default: []].append(v)
        }
    }
}

/// Queries are CPU work; they run here rather than on the Swift concurrency pool, which must stay free
/// for ingestion and the other handlers on a 2-core machine.
private let queryQueue = DispatchQueue(label: "vigil.query", qos: .userInitiated, attributes: .concurrent)

/// Mounts the Prometheus query API under `/api/v1/` (GET, and form POST where Prometheus accepts it).
public func addQueryRoutes<Context: RequestContext>(to router: Router<Context>, reader: any SeriesReader,
                                                    options: QueryOptions = QueryOptions(), version: String = "0.1.0") {
    let api = QueryAPI(reader: reader, options: options, version: version)
    let endpoints = ["query", "query_range", "series", "labels", "metadata", "status/buildinfo", "status/runtimeinfo",
                     "format_query", "query_exemplars", "label/{name}/values"]
    for ep in endpoints {
        let handler: @Sendable (Request, Context) async throws -> Response = { request, context in
            var params: [String: [String]] = [:]
            if let q = request.uri.query { QueryAPI.decodeForm(q, into: &params) }
            if request.method == .post {
                var req = request
                let body = try await req.collectBody(upTo: 16 << 20)
                QueryAPI.decodeForm(String(buffer: body), into: &params)
            }
            var endpoint = ep
            if ep == "label/{name}/values" {
                endpoint = "label/" + (context.parameters.get("name") ?? "") + "/values"
            }
            let e = endpoint
            let ps = params
            let reply = await withCheckedContinuation { (c: CheckedContinuation<QueryAPI.Reply, Never>) in
                queryQueue.async { c.resume(returning: api.handle(endpoint: e, params: ps)) }
            }
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .init(code: reply.status), headers: headers,
                            body: ResponseBody(byteBuffer: ByteBuffer(string: reply.body)))
        }
        router.get(RouterPath("/api/v1/" + ep), use: handler)
        router.post(RouterPath("/api/v1/" + ep), use: handler)
    }
}
