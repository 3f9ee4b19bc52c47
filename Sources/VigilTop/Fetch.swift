import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import VigilCore

/// What the UI asks the fetcher for (read before each refresh).
package struct FetchRequest: Equatable, Sendable {
    package var view: View = .overview
    /// The user's PromQL selector for the Series view (nil: the default set).
    package var selector: String?

    package init(view: View = .overview, selector: String? = nil) { self.view = view; self.selector = selector }
}

/// The server could not be reached (connection refused, timeout, bad token): the whole refresh failed.
package struct Unreachable: Error, Equatable {
    package let message: String
}

/// A client of the public HTTP API (`/api/v1/query`, `/api/v1/query_range`, the actions API): one refresh is a few
/// batched requests (one query per panel), never one per series. Times each request.
package final class TopFetcher: Sendable {
    package let baseURL: String
    let token: String?
    let session: URLSession
    let clock: any VigilClock
    /// The Series view's window and resolution.
    package let rangeMillis: Int64
    package let seriesLimit: Int

    package init(url: String, token: String?, clock: any VigilClock, rangeMillis: Int64 = 30 * 60_000,
                 seriesLimit: Int = 300, timeoutSeconds: Double = 5) {
        baseURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.token = token
        self.clock = clock
        self.rangeMillis = rangeMillis
        self.seriesLimit = seriesLimit
        let cfg = URLSessionConfiguration.ephemeral
        cfg.timeoutIntervalForRequest = timeoutSeconds
        cfg.timeoutIntervalForResource = timeoutSeconds * 2
        cfg.httpMaximumConnectionsPerHost = 2
        session = URLSession(configuration: cfg)
    }

    // MARK: HTTP

    struct Reply {
        let status: Int
        let json: [String: Any]?
        let millis: Double
    }

    final class Timing: @unchecked Sendable {
        var requests = 0
        var millis = 0.0
    }

    func call(_ method: String, _ path: String, _ params: [(String, String)], _ timing: Timing) async throws -> Reply {
        guard var comps = URLComponents(string: baseURL + path) else { throw Unreachable(message: "invalid URL \(baseURL)") }
        if !params.isEmpty {
            comps.queryItems = params.map { URLQueryItem(name: $0.0, value: $0.1) }
            comps.percentEncodedQuery = comps.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        }
        guard let url = comps.url else { throw Unreachable(message: "invalid URL \(baseURL)") }
        var req = URLRequest(url: url)
        req.httpMethod = method
        if let token { req.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let data: Data, resp: URLResponse
        do {
            (data, resp) = try await session.data(for: req)
        } catch let e as URLError {
            throw Unreachable(message: Self.describe(e) + " (\(baseURL))")
        } catch {
            throw Unreachable(message: "\(error) (\(baseURL))")
        }
        let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        timing.requests += 1
        timing.millis += ms
        let status = (resp as? HTTPURLResponse)?.statusCode ?? 0
        if status == 401 || status == 403 {
            throw Unreachable(message: "HTTP \(status) \(String(decoding: data.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) (check --token-file)")
        }
        return Reply(status: status, json: (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], millis: ms)
    }

    static func describe(_ e: URLError) -> String {
        switch e.code {
        case .cannotConnectToHost: "connection refused"
        case .timedOut: "timed out"
        case .cannotFindHost, .dnsLookupFailed: "unknown host"
        case .networkConnectionLost: "connection lost"
        case .notConnectedToInternet: "network unreachable"
        default: "network error \(e.code.rawValue)"
        }
    }

    static func errorText(_ r: Reply) -> String {
        (r.json?["error"] as? String) ?? "HTTP \(r.status)"
    }

    /// One PromQL query (instant when `range` is nil); the result's series, or a panel error.
    func query(_ expr: String, range: (Int64, Int64, Int64)? = nil, at: Int64?, _ timing: Timing,
               _ errors: inout [String], panel: String) async throws -> [[String: Any]] {
        let r: Reply
        if let (start, end, step) = range {
            r = try await call("GET", "/api/v1/query_range", [("query", expr), ("start", Self.secs(start)),
                                                              ("end", Self.secs(end)), ("step", Self.secs(step))], timing)
        } else {
            r = try await call("GET", "/api/v1/query", [("query", expr)] + (at.map { [("time", Self.secs($0))] } ?? []), timing)
        }
        guard r.status == 200, let data = r.json?["data"] as? [String: Any], let result = data["result"] as? [[String: Any]] else {
            errors.append("\(panel): \(Self.errorText(r))")
            return []
        }
        return result
    }

    static func secs(_ ms: Int64) -> String { String(format: "%.3f", Double(ms) / 1000) }

    // MARK: refresh

    /// One refresh asks only for what the current view shows: Overview: hosts, groups, last actions (3 requests);
    /// Series: the server's time and the series (up to 5); Actions: the server's time, the feed, pending approvals
    /// (3); Anomalies: the server's time and the ranking (2). Keeps `previous`' other parts (switching views wakes a
    /// refresh at once). Throws `Unreachable` when the server cannot be reached.
    package func refresh(_ req: FetchRequest, previous: TopModel) async throws -> TopModel {
        var m = previous
        let timing = Timing()
        var errors: [String] = []
        // The first query runs at the server's own "now" and carries it back (`vector(time())`), so every other panel
        // and the charts' "now" are the server's time: a server on an accelerated clock (`--clock-speed`, the demo)
        // or with a skewed clock is read where its data is. An older server without it: our clock.
        let overview = req.view == .overview
        let first = overview ? Self.hostsQuery + " or " + Self.serverNowQuery : Self.serverNowQuery
        let hostRows = try await query(first, at: nil, timing, &errors, panel: overview ? "hosts" : "time")
        let now = Self.serverNow(hostRows) ?? clock.nowMillis()
        m.nowMillis = now

        if overview {
            m.hosts = Self.hosts(hostRows.filter { ($0["metric"] as? [String: String])?["top_field"] != "now" })
            m.groups = Self.groups(try await query(Self.groupsQuery, at: now, timing, &errors, panel: "groups"))
        }
        if overview || req.view == .actions {
            let limit = req.view == .actions ? 500 : 50
            let acts = try await call("GET", "/api/v1/actions", [("limit", String(limit))], timing)
            if acts.status == 404 {
                m.actionsAPI = .noEngine(Self.errorText(acts))
                m.actions = []; m.pending = []
            } else if acts.status == 200, let data = acts.json?["data"] as? [[String: Any]] {
                m.actionsAPI = .available
                m.actions = data.map(Self.actionRow)
                if req.view == .actions {
                    let p = try await call("GET", "/api/v1/actions/pending", [], timing)
                    if p.status == 200, let data = p.json?["data"] as? [[String: Any]] { m.pending = data.map(Self.pendingRow) }
                    else { errors.append("pending: \(Self.errorText(p))") }
                }
            } else {
                errors.append("actions: \(Self.errorText(acts))")
            }
        }

        switch req.view {
        case .series:
            try await fetchSeries(req, now: now, into: &m, timing, &errors)
        case .anomalies:
            let r = try await query("topk(\(seriesLimit), last_over_time(vigil_anomaly_score[15m]))", at: now, timing,
                                    &errors, panel: "anomalies")
            m.anomalies = Self.anomalies(r)
        default: break
        }
        m.panelErrors = errors
        m.status = .ok(atMillis: now, requests: timing.requests, millis: timing.millis)
        return m
    }

    /// Approves or rejects a pending action; the server's answer as a notice.
    package func decide(_ id: String, approve: Bool) async throws -> String {
        let timing = Timing()
        let path = "/api/v1/actions/\(id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? id)/\(approve ? "approve" : "reject")"
        let r = try await call("POST", path, [], timing)
        if r.status == 200 { return "\(id): \(approve ? "approved" : "rejected")" }
        return "\(id): \(Self.errorText(r))"
    }

    // MARK: queries

    /// Every host figure in one instant query: each part tagged with `top_field` so `or` keeps them apart.
    package static let hostsQuery = [
        ("cpu", #"1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))"#),
        ("mem", #"1 - sum by (instance) (node_memory_MemAvailable_bytes) / sum by (instance) (node_memory_MemTotal_bytes)"#),
        ("memtotal", #"sum by (instance) (node_memory_MemTotal_bytes)"#),
        ("domains", #"count by (instance) (libvirt_domain_info_state)"#),
        ("risk", #"max by (instance, kind) (vigil_failure_probability)"#),
        ("up", #"label_replace(vigil_host_up, "instance", "$1", "host", "(.*)")"#),
        ("instances", #"label_replace(vigil_host_instances, "instance", "$1", "host", "(.*)")"#),
        ("state", #"label_replace(vigil_host_state == 1, "instance", "$1", "host", "(.*)")"#),
        // the sim driver's hosts (`vigil serve --with-daemon` on `driver: {kind: sim}`, `vigil demo`)
        ("cpu", #"label_replace(vigil_sim_host_cpu_utilization, "instance", "$1", "host", "(.*)")"#),
        ("mem", #"label_replace(vigil_sim_host_memory_utilization, "instance", "$1", "host", "(.*)")"#),
    ].map { #"label_replace(\#($0.1), "top_field", "\#($0.0)", "", "")"# }.joined(separator: " or ")

    /// The server's evaluation time, tagged like the host fields.
    package static let serverNowQuery = #"label_replace(vector(time()), "top_field", "now", "", "")"#

    /// The time of the `serverNowQuery` row, in ms.
    static func serverNow(_ rows: [[String: Any]]) -> Int64? {
        for r in rows where (r["metric"] as? [String: String])?["top_field"] == "now" {
            if let v = r["value"] as? [Any], v.count == 2, let s = v[1] as? String, let secs = Double(s), secs.isFinite {
                return Int64((secs * 1000).rounded())
            }
        }
        return nil
    }

    package static let groupsQuery =
        #"{__name__=~"vigil_group_(replicas|ready_replicas|desired_replicas|min_replicas|max_replicas|load|forecast_upper)"}"#

    /// The Series view's default set: per-host CPU and memory use, load, per-VM CPU, group load.
    package static let defaultSeries: [(String, String)] = [
        ("host_cpu_busy_ratio", #"1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m]))"#),
        ("host_memory_used_ratio", #"1 - sum by (instance) (node_memory_MemAvailable_bytes) / sum by (instance) (node_memory_MemTotal_bytes)"#),
        ("vm_cpu_seconds_rate", #"sum by (instance, domain) (rate(libvirt_domain_info_cpu_time_seconds_total[1m]))"#),
    ]
    package static var defaultSeriesQuery: String {
        (defaultSeries.map { #"label_replace(label_replace(\#($0.1), "__name__", "\#($0.0)", "", ""), "top_field", "\#($0.0)", "", "")"# }
            + ["node_load1", "vigil_group_load"]).joined(separator: " or ")
    }
    package static let defaultSeriesDescription = "default set: host_cpu_busy_ratio, host_memory_used_ratio, node_load1, vm_cpu_seconds_rate, vigil_group_load + series with forecasts"

    func fetchSeries(_ req: FetchRequest, now: Int64, into m: inout TopModel, _ timing: Timing,
                     _ errors: inout [String]) async throws {
        let step = max(15_000, rangeMillis / 120)
        let end = now - now % step
        let start = end - rangeMillis
        var expr: String
        if let sel = req.selector {
            expr = sel
            m.seriesQuery = sel
        } else {
            expr = Self.defaultSeriesQuery
            // Series the models forecast join the default set (their names, one cheap aggregate).
            let names = try await query("count by (metric) (vigil_forecast)", at: now, timing, &errors, panel: "forecast names")
                .compactMap { ($0["metric"] as? [String: Any])?["metric"] as? String }
                .filter { Labels.isValidMetricName($0) }.sorted().prefix(20)
            if !names.isEmpty { expr += #" or {__name__=~"\#(names.joined(separator: "|"))"}"# }
            m.seriesQuery = Self.defaultSeriesDescription
        }
        let raw = try await query(expr, range: (start, end, step), at: now, timing, &errors, panel: "series")
        var rows = Array(Self.seriesRows(raw, start: start, end: end, step: step).prefix(seriesLimit))
        let names = Set(rows.map(\.name)).filter { Labels.isValidMetricName($0) }.sorted()
        if !names.isEmpty {
            let re = names.joined(separator: "|")
            let f = try await query(#"vigil_forecast{metric=~"\#(re)"}"#, at: now, timing, &errors, panel: "forecasts")
            let a = try await query(#"vigil_anomaly_score{metric=~"\#(re)"}"#, range: (start, end, step), at: now,
                                    timing, &errors, panel: "anomaly scores")
            Self.attach(forecasts: f, anomalies: a, start: start, end: end, step: step, to: &rows)
        }
        m.series = rows
    }

    // MARK: parsing (pure; tested)

    static func labels(_ s: [String: Any]) -> [String: String] {
        (s["metric"] as? [String: Any])?.compactMapValues { $0 as? String } ?? [:]
    }

    static func value(_ s: [String: Any]) -> Double? {
        guard let v = s["value"] as? [Any], v.count == 2, let str = v[1] as? String else { return nil }
        return Double(str)
    }

    /// `web-1:9100` → `web-1`: node_exporter's instance is host:port, the engine's host is a name.
    package static func hostName(_ instance: String) -> String {
        if let i = instance.lastIndex(of: ":"), !instance[instance.index(after: i)...].isEmpty,
           instance[instance.index(after: i)...].allSatisfy(\.isNumber), !instance[..<i].contains(":") {
            return String(instance[..<i])
        }
        return instance
    }

    package static func hosts(_ result: [[String: Any]]) -> [HostRow] {
        var by: [String: HostRow] = [:]
        for s in result {
            let l = labels(s)
            guard let field = l["top_field"], let inst = l["instance"], let v = value(s) else { continue }
            let name = hostName(inst)
            var h = by[name] ?? HostRow(name: name)
            switch field {
            case "cpu": h.cpu = v
            case "mem": h.memory = v
            case "memtotal": h.memoryTotalBytes = v
            case "domains": if h.instances == nil { h.instances = Int(v) }
            case "instances": h.instances = Int(v)
            case "risk": if v > (h.risk ?? -1) { h.risk = v; h.riskKind = l["kind"] }
            case "up": h.up = v >= 1
            case "state": h.state = l["state"]
            default: break
            }
            by[name] = h
        }
        return by.values.sorted { $0.name < $1.name }
    }

    package static func groups(_ result: [[String: Any]]) -> [GroupRow] {
        var by: [String: GroupRow] = [:]
        for s in result {
            let l = labels(s)
            guard let name = l["__name__"], let group = l["group"], let v = value(s) else { continue }
            var g = by[group] ?? GroupRow(name: group)
            switch name {
            case "vigil_group_replicas": g.replicas = v
            case "vigil_group_ready_replicas": g.ready = v
            case "vigil_group_desired_replicas": g.desired = v
            case "vigil_group_min_replicas": g.min = v
            case "vigil_group_max_replicas": g.max = v
            case "vigil_group_load": g.load = v
            case "vigil_group_forecast_upper": g.forecastUpper = v
            default: break
            }
            by[group] = g
        }
        return by.values.sorted { $0.name < $1.name }
    }

    static func int64(_ v: Any?) -> Int64? {
        if let n = v as? NSNumber { return n.int64Value }
        if let s = v as? String { return Int64(s) }
        return nil
    }

    static func actionRow(_ r: [String: Any]) -> ActionRow {
        let target = [r["group"] as? String, r["instance"] as? String].compactMap { $0 }.filter { !$0.isEmpty }
            .joined(separator: "/")
        var reason = r["reason"] as? String ?? ""
        if let e = r["error"] as? String, !e.isEmpty { reason += (reason.isEmpty ? "" : ": ") + e }
        return ActionRow(seq: Int(int64(r["seq"]) ?? 0), tMillis: int64(r["t"]) ?? 0, id: r["action"] as? String ?? "",
                         kind: r["kind"] as? String ?? "", target: target, result: r["result"] as? String ?? "",
                         reason: reason)
    }

    static func pendingRow(_ r: [String: Any]) -> PendingRow {
        let target = [r["group"] as? String, r["instance"] as? String, r["host"] as? String].compactMap { $0 }
            .filter { !$0.isEmpty }.joined(separator: "/")
        var change = ""
        if let f = r["from"], let t = r["to"] { change = "\(f) -> \(t)" } else if let t = r["to"] { change = "-> \(t)" }
        return PendingRow(id: r["id"] as? String ?? "", kind: r["kind"] as? String ?? "", target: target, change: change,
                          reason: r["reason"] as? String ?? "", decidedAtMillis: int64(r["decidedAtMillis"]) ?? 0)
    }

    /// A row id: the label set in PromQL form, without the query's bookkeeping label.
    static func rowLabels(_ l: [String: String]) -> Labels {
        var d = l
        d["top_field"] = nil
        return Labels(d)
    }

    package static func seriesRows(_ result: [[String: Any]], start: Int64, end: Int64, step: Int64) -> [SeriesRow] {
        let n = Int((end - start) / step) + 1
        return result.map { s in
            let l = rowLabels(labels(s))
            var points = [Double?](repeating: nil, count: n)
            for v in s["values"] as? [[Any]] ?? [] {
                guard v.count == 2, let str = v[1] as? String, let val = Double(str) else { continue }
                let t = Int64(((v[0] as? NSNumber)?.doubleValue ?? 0) * 1000)
                let i = Int((t - start + step / 2) / step)
                if i >= 0 && i < n { points[i] = val }
            }
            return SeriesRow(id: l.description, name: l.metricName ?? "", points: points, startMillis: start, stepMillis: step)
        }.sorted { $0.id < $1.id }
    }

    /// The source series' id of a model output: its labels without `metric`, `quantile`, `horizon`, named `metric`.
    static func sourceID(_ l: [String: String]) -> String? {
        guard let metric = l["metric"] else { return nil }
        var d = l
        for k in ["__name__", "metric", "quantile", "horizon", "kind"] { d[k] = nil }
        d["__name__"] = metric
        return Labels(d).description
    }

    package static func attach(forecasts: [[String: Any]], anomalies: [[String: Any]], start: Int64, end: Int64,
                               step: Int64, to rows: inout [SeriesRow]) {
        var median: [String: (Int64, Double)] = [:], upper: [String: Double] = [:]
        for s in forecasts {
            let l = labels(s)
            guard let id = sourceID(l), let v = value(s), v.isFinite else { continue }
            let h = l["horizon"].flatMap { try? RequestParameters.duration($0, "horizon") } ?? 3_600_000
            if l["quantile"] == "0.5" { median[id] = (h, v) } else if let q = l["quantile"], Double(q) ?? 0 > 0.5 { upper[id] = v }
        }
        var scores: [String: [Double?]] = [:]
        for s in anomalies {
            guard let id = sourceID(labels(s)) else { continue }
            scores[id] = seriesRows([["metric": ["__name__": "x"], "values": s["values"] ?? []]], start: start, end: end,
                                    step: step).first?.points
        }
        for i in rows.indices {
            let id = rows[i].id
            if let (h, med) = median[id] {
                rows[i].forecast = ForecastBand(horizonMillis: h, median: med, upper: upper[id] ?? med)
            }
            if let sc = scores[id] { rows[i].anomaly = sc }
        }
    }

    /// Anomaly rows per target (labels without `metric`): its highest score, the metric giving it.
    package static func anomalies(_ result: [[String: Any]]) -> [AnomalyRow] {
        var by: [String: AnomalyRow] = [:]
        for s in result {
            var l = labels(s)
            guard let v = value(s), v.isFinite else { continue }
            let metric = l["metric"] ?? l["__name__"] ?? "?"
            l["metric"] = nil; l["__name__"] = nil
            let target = Labels(l).description
            var row = by[target] ?? AnomalyRow(target: target, score: -1, topMetric: metric, anomalous: 0, metrics: 0)
            row.metrics += 1
            if v >= 0.5 { row.anomalous += 1 }
            if v > row.score { row.score = v; row.topMetric = metric }
            by[target] = row
        }
        return by.values.sorted { ($0.score, $1.target) > ($1.score, $0.target) }
    }
}
