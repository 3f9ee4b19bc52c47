import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import VigilCore
import VigilEngine
import VigilQuery

/// A query failed: the message names the query and the source.
public struct MetricSourceError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Where the engine's group load and SLO values come from when a policy names a query (`load_query:`,
/// `objective.slo.series`): PromQL evaluated at the step's time, either against the local store or a remote
/// Prometheus-compatible server. A query must give one number: a scalar or a one-element vector (wrap a
/// multi-series selector in `sum(...)`); an empty vector is "no value".
public protocol MetricSource: Sendable {
    /// A short description for logs and errors ("local store", the URL).
    var name: String { get }
    func value(of query: String, at t: Int64) async throws -> Double?
    /// The query's one series over [from, to] every `stepMs` (a range query), to give the engine's forecasters the
    /// history the store already holds when the daemon starts. Sources without ranges return [].
    func history(of query: String, from: Int64, to: Int64, stepMs: Int64) async throws -> [(Int64, Double)]
}

extension MetricSource {
    public func history(of query: String, from: Int64, to: Int64, stepMs: Int64) async throws -> [(Int64, Double)] { [] }
}

extension MetricSource {
    /// The one number of a query result.
    static func single(_ r: QueryResult, query: String, source: String) throws -> Double? {
        switch r {
        case .scalar(_, let v): return v
        case .vector(let s):
            if s.isEmpty { return nil }
            guard s.count == 1 else {
                throw MetricSourceError("\(source): query \(query) returned \(s.count) series; it must return one (wrap it in sum(...))")
            }
            return s[0].v
        case .string, .matrix:
            throw MetricSourceError("\(source): query \(query) returned a \(r.resultType); it must return a scalar or one series")
        }
    }
}

/// PromQL over this process's store (`vigil serve --with-daemon`), evaluated on the `ReadExecutor`, never on the
/// concurrency pool.
public struct LocalMetricSource: MetricSource {
    public let reader: any SeriesReader
    public let executor: ReadExecutor
    public var name: String { "local store" }

    public init(reader: any SeriesReader, executor: ReadExecutor = .shared) {
        self.reader = reader
        self.executor = executor
    }

    public func value(of query: String, at t: Int64) async throws -> Double? {
        let engine = VigilQuery.Engine(reader: reader)
        let r = try await executor.run { () throws -> QueryResult in
            do { return try engine.instantQuery(query, at: t) } catch { throw MetricSourceError("local store: query \(query): \(error)") }
        }
        return try Self.single(r, query: query, source: name)
    }

    public func history(of query: String, from: Int64, to: Int64, stepMs: Int64) async throws -> [(Int64, Double)] {
        guard to >= from, stepMs > 0 else { return [] }
        let engine = VigilQuery.Engine(reader: reader)
        var out: [(Int64, Double)] = []
        var start = from
        while start <= to {  // in pieces under the API's 11,000 points per series
            let end = min(to, start + 10_000 * stepMs)
            let (s, e) = (start, end)
            let r = try await executor.run { () throws -> QueryResult in
                do { return try engine.rangeQuery(query, start: s, end: e, step: stepMs) } catch {
                    throw MetricSourceError("local store: range query \(query): \(error)")
                }
            }
            if case .matrix(let m) = r, m.count == 1 { out += zip(m[0].timestamps, m[0].values) }
            start = end + stepMs
        }
        return out
    }
}

/// PromQL against a Prometheus-compatible server: `GET <url>/api/v1/query?query=Q&time=T`, with a bearer token
/// when given. Works with Prometheus, VictoriaMetrics, Thanos, Mimir and another `vigil serve`.
public struct RemoteMetricSource: MetricSource {
    public let baseURL: String
    public let bearerToken: String?
    public let timeoutSeconds: Double
    public var name: String { baseURL }

    public init(url: String, bearerToken: String? = nil, timeoutSeconds: Double = 10) throws {
        guard let u = URL(string: url), let scheme = u.scheme, scheme == "http" || scheme == "https", u.host != nil else {
            throw MetricSourceError("--query-url: expected http(s)://HOST[:PORT][/PATH], got \"\(url)\"")
        }
        var b = url
        while b.hasSuffix("/") { b.removeLast() }
        baseURL = b
        self.bearerToken = bearerToken
        self.timeoutSeconds = timeoutSeconds
    }

    public func value(of query: String, at t: Int64) async throws -> Double? {
        var c = URLComponents(string: baseURL + "/api/v1/query")!
        c.queryItems = [URLQueryItem(name: "query", value: query),
                        URLQueryItem(name: "time", value: String(format: "%.3f", Double(t) / 1000))]
        c.percentEncodedQuery = c.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        var req = URLRequest(url: c.url!)
        req.timeoutInterval = timeoutSeconds
        if let bearerToken { req.setValue("Bearer \(bearerToken)", forHTTPHeaderField: "Authorization") }
        let data: Data, resp: URLResponse
        do { (data, resp) = try await URLSession.shared.data(for: req) } catch {
            throw MetricSourceError("\(baseURL): query \(query): \(error.localizedDescription)")
        }
        let status = (resp as? HTTPURLResponse)?.statusCode ?? 0
        guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw MetricSourceError("\(baseURL): query \(query): HTTP \(status), not JSON: \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
        guard status == 200, obj["status"] as? String == "success", let d = obj["data"] as? [String: Any],
              let type = d["resultType"] as? String else {
            throw MetricSourceError("\(baseURL): query \(query): HTTP \(status): \(obj["error"] as? String ?? "no data")")
        }
        func num(_ pair: Any?) throws -> Double {
            guard let p = pair as? [Any], p.count == 2, let s = p[1] as? String, let v = Double(s) ?? (s == "NaN" ? .nan : nil) else {
                throw MetricSourceError("\(baseURL): query \(query): malformed sample \(String(describing: pair))")
            }
            return v
        }
        switch type {
        case "scalar": return try num(d["result"])
        case "vector":
            let list = d["result"] as? [[String: Any]] ?? []
            if list.isEmpty { return nil }
            guard list.count == 1 else {
                throw MetricSourceError("\(baseURL): query \(query) returned \(list.count) series; it must return one (wrap it in sum(...))")
            }
            return try num(list[0]["value"])
        default:
            throw MetricSourceError("\(baseURL): query \(query) returned a \(type); it must return a scalar or one series")
        }
    }
}

/// Checks every policy query parses as PromQL, naming the policy key at fault.
public func validatePolicyQueries(_ policies: [String: GroupPolicy]) throws {
    for (g, p) in policies.sorted(by: { $0.key < $1.key }) {
        if let q = p.loadQuery {
            do { _ = try VigilQuery.Engine.parse(q, prefix: "") } catch {
                throw MetricSourceError("policies.\(g).load_query: \(error)")
            }
        }
        if case .slo(let series, _) = p.objective {
            do { _ = try VigilQuery.Engine.parse(series, prefix: "") } catch {
                throw MetricSourceError("policies.\(g).objective.slo.series: \(error)")
            }
        }
    }
}

/// Wraps a driver: its inventory as is, each group's load and SLO value from the policy's queries when it has
/// them (the driver's own observation otherwise). A query that fails or returns nothing keeps the driver's value
/// for that step and is counted in `queryErrors` (`vigil_daemon_query_errors_total`) and logged by the runner.
public final class MetricSourceDriver: Driver, @unchecked Sendable {
    public let inner: any Driver
    public let source: any MetricSource
    public let clock: any VigilClock
    private let lock = NSLock()
    private var _policies: [String: GroupPolicy]
    private var _errors: [String] = []
    private var _errorCount = 0

    public var name: String { inner.name }

    public init(inner: any Driver, source: any MetricSource, policies: [String: GroupPolicy], clock: any VigilClock) {
        self.inner = inner
        self.source = source
        self._policies = policies
        self.clock = clock
    }

    public func setPolicies(_ p: [String: GroupPolicy]) { lock.withLock { _policies = p } }

    /// Query errors since the last call (for the runner's log).
    public func takeErrors() -> [String] { lock.withLock { defer { _errors = [] }; return _errors } }
    public var queryErrors: Int { lock.withLock { _errorCount } }

    private func noteError(_ m: String) { lock.withLock { _errors.append(m); _errorCount += 1 } }

    public func inventory() async throws(DriverError) -> Inventory { try await inner.inventory() }

    public func observe() async throws(DriverError) -> Observation {
        var obs = try await inner.observe()
        let t = clock.nowMillis()
        let policies = lock.withLock { _policies }
        for (g, p) in policies.sorted(by: { $0.key < $1.key }) {
            var o = obs.groups[g] ?? GroupObservation(load: 0)
            if let q = p.loadQuery {
                do {
                    if let v = try await source.value(of: q, at: t), v.isFinite { o.load = v } else {
                        noteError("policies.\(g).load_query \(q): no value at \(t) from \(source.name)")
                    }
                } catch { noteError("policies.\(g).load_query: \(error)") }
            }
            if case .slo(let q, _) = p.objective {
                do {
                    if let v = try await source.value(of: q, at: t), v.isFinite { o.sloValue = v } else {
                        noteError("policies.\(g).objective.slo.series \(q): no value at \(t) from \(source.name)")
                    }
                } catch { noteError("policies.\(g).objective.slo.series: \(error)") }
            }
            obs.groups[g] = o
        }
        return obs
    }

    public func scale(group: String, to replicas: Int, actionID: String) async throws(DriverError) {
        try await inner.scale(group: group, to: replicas, actionID: actionID)
    }
    public func restart(instance: String, actionID: String) async throws(DriverError) {
        try await inner.restart(instance: instance, actionID: actionID)
    }
    public func stop(instance: String, actionID: String) async throws(DriverError) {
        try await inner.stop(instance: instance, actionID: actionID)
    }
    public func start(instance: String, on host: String?, actionID: String) async throws(DriverError) {
        try await inner.start(instance: instance, on: host, actionID: actionID)
    }
    public func migrate(instance: String, to host: String, live: Bool, actionID: String) async throws(DriverError) {
        try await inner.migrate(instance: instance, to: host, live: live, actionID: actionID)
    }
    public func power(host: String, on: Bool, actionID: String) async throws(DriverError) {
        try await inner.power(host: host, on: on, actionID: actionID)
    }
}
