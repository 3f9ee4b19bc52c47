import Foundation
import Hummingbird
import Synchronization
import VigilCore

/// A one-line plain-text answer (`reason` + newline), the shape every Vigil error body has.
func textResponse(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) -> Response {
    var h = headers
    h[.contentType] = "text/plain; charset=utf-8"
    let oneLine = message.replacingOccurrences(of: "\n", with: " ")
    return Response(status: status, headers: h, body: ResponseBody(byteBuffer: ByteBuffer(string: oneLine + "\n")))
}

/// Bearer-token check (constant-time) on every route except the health probes.
/// Also accepts `Authorization: Token <t>`, which the Influx clients send.
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]
    static var open: Set<String> { ["/-/healthy", "/-/ready"] }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.open.contains(request.uri.path) { return try await next(request, context) }
        guard let h = request.headers[.authorization] else {
            return ErrorStyle.text.response(.unauthorized("missing bearer token (Authorization: Bearer <token>)"))
        }
        var given: Substring = ""
        for scheme in ["Bearer ", "Token "] where h.count > scheme.count && h.prefix(scheme.count).lowercased() == scheme.lowercased() {
            given = h.dropFirst(scheme.count)
        }
        guard constantTimeEqual(Array(given.utf8), token) else {
            return ErrorStyle.text.response(.unauthorized("invalid bearer token"))
        }
        return try await next(request, context)
    }
}

/// Compares without an early exit; the running time depends only on the lengths.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var diff = UInt8(a.count == b.count ? 0 : 1)
    let n = max(a.count, b.count)
    for i in 0..<n {
        let x = i < a.count ? a[i] : 0
        let y = i < b.count ? b[i] : 0xff
        diff |= x ^ y
    }
    return diff == 0 && !b.isEmpty
}

/// Request counts and durations by handler (the route's path; unknown paths count as `other`).
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: SelfMetrics
    let knownPaths: Set<String>

    /// A bounded set of handler names: known paths, the query API's endpoints, `other`.
    static func handlerLabel(_ path: String, _ known: Set<String>) -> String {
        if known.contains(path) { return path }
        if path.hasPrefix("/metrics/job/") { return "/metrics/job" }
        if path.hasPrefix("/api/v1/label/") { return "/api/v1/label/:name/values" }
        let apiEndpoints: Set<String> = ["query", "query_range", "series", "labels", "metadata", "status/buildinfo",
                                         "status/runtimeinfo", "format_query", "query_exemplars", "admin/tsdb/flush"]
        if path.hasPrefix("/api/v1/"), apiEndpoints.contains(String(path.dropFirst(8))) { return path }
        return "other"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let path = request.uri.path
        let handler = Self.handlerLabel(path, knownPaths)
        var code = 500
        defer {
            metrics.add("vigil_http_requests_total", [Label("handler", handler), Label("code", String(code))])
            metrics.observe("vigil_http_request_duration_seconds", [Label("handler", handler)],
                            (ContinuousClock.now - start).seconds)
        }
        do {
            let r = try await next(request, context)
            code = r.status.code
            return r
        } catch let e as HTTPError {
            code = e.status.code
            throw e
        }
    }
}

/// Bounds the requests and body bytes held at once; over either bound the caller answers 503.
public final class InflightLimiter: Sendable {
    private let state = Mutex((requests: 0, bytes: 0))
    let maxRequests: Int
    let maxBytes: Int
    let metrics: SelfMetrics

    init(maxRequests: Int, maxBytes: Int, metrics: SelfMetrics) {
        self.maxRequests = maxRequests
        self.maxBytes = maxBytes
        self.metrics = metrics
    }

    /// Takes a request slot and `bytes`; false (nothing taken) when over a bound.
    func acquire(bytes: Int) -> Bool {
        let r: (Bool, Int, Int) = state.withLock { s in
            if s.requests + 1 > maxRequests || (s.bytes > 0 && s.bytes + bytes > maxBytes) { return (false, s.requests, s.bytes) }
            s.requests += 1
            s.bytes += bytes
            return (true, s.requests, s.bytes)
        }
        if r.0 { publish(r.1, r.2) }
        return r.0
    }

    /// Adds bytes to an already acquired request that holds `own` bytes (a chunked body, counted as it arrives);
    /// false when over the bound. As in `acquire`, a request alone may pass the bound (`--max-body-bytes` caps it).
    func grow(by bytes: Int, holding own: Int) -> Bool {
        let r: (Bool, Int, Int) = state.withLock { s in
            if s.bytes - own > 0 && s.bytes + bytes > maxBytes { return (false, s.requests, s.bytes) }
            s.bytes += bytes
            return (true, s.requests, s.bytes)
        }
        if r.0 { publish(r.1, r.2) }
        return r.0
    }

    func release(bytes: Int) {
        let (q, b) = state.withLock { s in
            s.requests -= 1
            s.bytes -= bytes
            return (s.requests, s.bytes)
        }
        publish(q, b)
    }

    private func publish(_ q: Int, _ b: Int) {
        metrics.set("vigil_inflight_requests", [], Double(q))
        metrics.set("vigil_inflight_bytes", [], Double(b))
    }
}
