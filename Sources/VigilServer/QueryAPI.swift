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
        /// Headers that go with an error status (`Retry-After` on 503), from `HTTPFailure`.
        package var headers: HTTPFields = [:]

        package init(status: Int, body: String) {
            self.status = status
            self.body = body
        }

        /// The Prometheus API error answer for `failure`: its status, `errorType`, message and headers.
        package init(_ failure: HTTPFailure, retryAfter: Int = 1) {
            status = Int(failure.status.code)
            body = PromJSON.error(failure.prometheusErrorType, failure.description)
            headers = failure.headers(retryAfter: retryAfter)
        }
    }

    static let minTime = RequestParameters.minTimeMs
    static let maxTime = RequestParameters.maxTimeMs

    /// Answers one API call. `endpoint` is the path after `/api/v1/` (e.g. `query_range`, `label/job/values`).
    public func handle(endpoint: String, params: [String: [String]], now: Date = Date()) -> Reply {
        do {
            let data = try route(endpoint, params, now)
            return Reply(status: 200, body: PromJSON.success(data))
        } catch {
            // The status and errorType come from the one mapping, HTTPFailure.
            return Reply(HTTPFailure.query(error))
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
            let e = try Engine.parse(one("query") ?? "", options: engine.options, deadline: engine.deadline())
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

    /// A `match[]` selector, read by the one selector parser (VigilCore's `SelectorParser`).
    static func selectorMatchers(_ s: String) throws -> [LabelMatcher] {
        do { return try SelectorParser.parse(s) } catch {
            throw QueryError.badData("invalid parameter \"match[]\": \(error)")
        }
    }

    // MARK: parameters

    /// Prometheus' parseTime (fractional Unix seconds or RFC 3339), checked: see `RequestParameters.time`.
    public static func parseTime(_ s: String, _ name: String) throws(QueryError) -> Int64 {
        do { return try RequestParameters.time(s, name) } catch { throw .badData(error.description) }
    }

    /// Prometheus' parseDuration (float seconds or a PromQL duration), checked. Returns ms.
    public static func parseDuration(_ s: String, _ name: String) throws(QueryError) -> Int64 {
        do { return try RequestParameters.duration(s, name) } catch { throw .badData(error.description) }
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

/// Admission for PromQL evaluations (`--query-max-concurrency`, Prometheus' `--query.max-concurrency`): at most
/// `limit` at once; the next ones wait in FIFO order up to `maxWait`, then get 503. Waiting is timed by the
/// injected `VigilClock`.
final class QueryGate: @unchecked Sendable {
    private let lock = NSLock()
    private let limit: Int
    private let maxWaitMs: Int64
    private let clock: any VigilClock
    private var active = 0
    private var nextID = 0
    private var waiters: [(id: Int, c: CheckedContinuation<Bool, Never>)] = []

    init(limit: Int, maxWait: Double, clock: any VigilClock) {
        self.limit = max(1, limit)
        self.maxWaitMs = Int64(max(0, min(maxWait, 86_400)) * 1000)
        self.clock = clock
    }

    /// true: a slot is held (call `release`); false: waited `maxWait` in vain.
    func acquire() async -> Bool {
        if tryTake() { return true }
        let waitMs = maxWaitMs
        let clock = self.clock
        return await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            guard let id = takeOrEnqueue(c) else {
                c.resume(returning: true)
                return
            }
            Task {
                try? await clock.sleep(millis: waitMs)
                self.expire(id)
            }
        }
    }

    private func tryTake() -> Bool {
        lock.withLock {
            guard active < limit && waiters.isEmpty else { return false }
            active += 1
            return true
        }
    }

    /// nil: a slot was free and is now held; otherwise the waiter's id.
    private func takeOrEnqueue(_ c: CheckedContinuation<Bool, Never>) -> Int? {
        lock.withLock {
            if active < limit && waiters.isEmpty {
                active += 1
                return nil
            }
            let id = nextID
            nextID += 1
            waiters.append((id, c))
            return id
        }
    }

    /// Queries waiting for a slot (tests, self-metrics).
    var waiting: Int { lock.withLock { waiters.count } }

    private func expire(_ id: Int) {
        lock.lock()
        guard let k = waiters.firstIndex(where: { $0.id == id }) else { lock.unlock(); return }
        let w = waiters.remove(at: k)
        lock.unlock()
        w.c.resume(returning: false)
    }

    func release() {
        lock.lock()
        if waiters.isEmpty {
            active -= 1
            lock.unlock()
            return
        }
        let w = waiters.removeFirst() // the slot passes to the oldest waiter
        lock.unlock()
        w.c.resume(returning: true)
    }
}

/// Mounts the Prometheus query API under `/api/v1/` (GET, and form POST where Prometheus accepts it).
///
/// Every call runs on `ReadExecutor.shared` (dedicated threads), never on the Swift concurrency pool: parsing,
/// evaluation and store reads block. `query` and `query_range` also pass the `QueryGate`.
public func addQueryRoutes<Context: RequestContext>(to router: Router<Context>, reader: any SeriesReader,
                                                    options: QueryOptions = QueryOptions(), version: String = "0.1.0",
                                                    executor: ReadExecutor = .shared,
                                                    clock: any VigilClock = WallClock()) {
    let api = QueryAPI(reader: reader, options: options, version: version)
    let gate = QueryGate(limit: options.maxConcurrency, maxWait: options.maxQueueWait, clock: clock)
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
            let gated = ep == "query" || ep == "query_range"
            let reply: QueryAPI.Reply
            if gated, !(await gate.acquire()) {
                reply = QueryAPI.Reply(.unavailable(
                    "too many concurrent queries (--query-max-concurrency \(options.maxConcurrency)); retry later"))
            } else {
                let now = Date(timeIntervalSince1970: Double(clock.nowMillis()) / 1000)  // the server's clock (--clock-speed)
                reply = await executor.run { api.handle(endpoint: e, params: ps, now: now) }
                if gated { gate.release() }
            }
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            for f in reply.headers { headers.append(f) }
            return Response(status: .init(code: reply.status), headers: headers,
                            body: ResponseBody(byteBuffer: ByteBuffer(string: reply.body)))
        }
        router.get(RouterPath("/api/v1/" + ep), use: handler)
        router.post(RouterPath("/api/v1/" + ep), use: handler)
    }
}
