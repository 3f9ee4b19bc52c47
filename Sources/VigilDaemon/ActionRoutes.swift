import Foundation
import Hummingbird
import NIOCore
import VigilCore
import VigilEngine

/// The actions API (CONTRACTS.md §1, docs/daemon.md), mounted by `vigil daemon`'s listener and by
/// `vigil serve` (which passes `runner: nil` unless `--with-daemon`, so every route answers 404 naming what to run):
///
/// - `GET /api/v1/actions?limit=N&since=T&since_seq=S&group=G&result=R`: audit records, newest first;
/// - `GET /api/v1/actions/pending`: actions waiting for approval, oldest first;
/// - `POST /api/v1/actions/{id}/approve`, `POST /api/v1/actions/{id}/reject`.
public func addActionRoutes<Context: RequestContext>(to router: Router<Context>, runner: EngineRunner?) {
    router.get("/api/v1/actions") { request, _ -> Response in
        guard let runner else { return ActionAPI.noEngine() }
        var q = AuditQuery()
        let p = request.uri.queryParameters
        do {
            if let s = p["limit"].map(String.init) { q.limit = try RequestParameters.integer(s, "limit", in: 1...10_000) }
            if let s = p["since"].map(String.init) { q.sinceMillis = try RequestParameters.time(s, "since") }
            if let s = p["since_seq"].map(String.init) {
                q.sinceSeq = Int64(try RequestParameters.integer(s, "since_seq", in: 0...Int.max))
            }
            if let s = p["group"].map(String.init), !s.isEmpty { q.group = s }
            if let s = p["result"].map(String.init), !s.isEmpty {
                guard let r = DecisionResult(rawValue: s) else {
                    return ActionAPI.error(.badRequest, "bad_data", "invalid parameter \"result\": \"\(s)\" is not one of \(ActionAPI.results)")
                }
                q.result = r
            }
        } catch {
            return ActionAPI.error(.badRequest, "bad_data", "\(error)")
        }
        let audit = runner.audit
        let query = q
        do {
            let body = try await ActionAPI.io.run { () throws -> String in
                let recs = try audit.query(query)
                return "[" + recs.map { audit.json($0) }.joined(separator: ",") + "]"
            }
            return ActionAPI.success(body)
        } catch {
            return ActionAPI.error(.internalServerError, "internal", "reading the audit: \(error)")
        }
    }
    router.get("/api/v1/actions/pending") { _, _ -> Response in
        guard let runner else { return ActionAPI.noEngine() }
        let list = await runner.pending()
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let items = list.compactMap { try? enc.encode($0) }.map { String(decoding: $0, as: UTF8.self) }
        return ActionAPI.success("[" + items.joined(separator: ",") + "]")
    }
    for verb in ["approve", "reject"] {
        router.post("/api/v1/actions/:id/\(verb)") { _, context -> Response in
            guard let runner else { return ActionAPI.noEngine() }
            let raw = context.parameters.get("id") ?? ""
            let id = raw.removingPercentEncoding ?? raw
            let outcome = verb == "approve" ? await runner.approve(id) : await runner.reject(id)
            switch outcome {
            case .approved, .rejected:
                let state = outcome == .approved ? "approved" : "rejected"
                return ActionAPI.success("{\"id\":\(JSONText.quote(id)),\"state\":\"\(state)\"}")
            case .notFound:
                return ActionAPI.error(.notFound, "not_found", "no action with id \(id)")
            case .conflict:
                return ActionAPI.error(.conflict, "conflict", "action \(id) is no longer pending")
            }
        }
    }
}

enum ActionAPI {
    static let results = ["executed", "dry_run", "queued", "blocked", "deferred", "failed", "superseded", "duplicate",
                          "approved", "rejected"].joined(separator: ", ")

    /// Audit reads run here (SQLite blocks), not on the concurrency pool.
    static let io = ReadExecutor(name: "vigil.audit-read", threads: 1, stackSize: 1 << 20)

    static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    static func success(_ data: String) -> Response { json(.ok, "{\"status\":\"success\",\"data\":\(data)}") }

    static func error(_ status: HTTPResponse.Status, _ type: String, _ message: String) -> Response {
        json(status, "{\"status\":\"error\",\"errorType\":\(JSONText.quote(type)),\"error\":\(JSONText.quote(message))}")
    }

    static func noEngine() -> Response {
        error(.notFound, "not_found", "no remediation engine runs in this process (start `vigil daemon` or `vigil serve --with-daemon`)")
    }
}
