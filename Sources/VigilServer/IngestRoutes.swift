import Foundation
import HTTPTypes
import Hummingbird
import VigilCore
import VigilIngestPath
import VigilIngest

/// A parsed `Content-Type`: lowercased media type and parameters.
struct MediaTypeHeader {
    var type: String
    var params: [String: String]

    init?(_ header: String?) {
        guard let header, !header.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        let parts = header.split(separator: ";")
        type = parts[0].trimmingCharacters(in: .whitespaces).lowercased()
        params = [:]
        for p in parts.dropFirst() {
            let kv = p.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { continue }
            var v = kv[1].trimmingCharacters(in: .whitespaces)
            if v.hasPrefix("\"") && v.hasSuffix("\"") && v.count >= 2 { v = String(v.dropFirst().dropLast()) }
            params[kv[0].trimmingCharacters(in: .whitespaces).lowercased()] = v
        }
    }
}

/// How an endpoint words its error bodies: plain one-line text, Influx's JSON `{"code","message"}`, or the
/// Prometheus API's `{"status":"error","errorType","error"}`.
package enum ErrorStyle: Sendable {
    case text
    case influx
    case prometheus

    /// The answer to `failure` in this style (status, headers, Influx `code` / Prometheus `errorType` and body all
    /// come from `HTTPFailure`).
    package func response(_ failure: HTTPFailure, retryAfter: Int = 1) -> Response {
        let status = failure.status, message = failure.description, headers = failure.headers(retryAfter: retryAfter)
        switch self {
        case .text:
            return textResponse(status, message, headers: headers)
        case .influx:
            let code = failure.influxCode
            var h = headers
            h[.contentType] = "application/json; charset=utf-8"
            let json = "{\"code\":\"\(code)\",\"message\":\(jsonString(message))}"
            return Response(status: status, headers: h, body: ResponseBody(byteBuffer: ByteBuffer(string: json)))
        case .prometheus:
            let type = failure.prometheusErrorType
            var h = headers
            h[.contentType] = "application/json"
            let json = "{\"status\":\"error\",\"errorType\":\"\(type)\",\"error\":\(jsonString(message))}"
            return Response(status: status, headers: h, body: ResponseBody(byteBuffer: ByteBuffer(string: json)))
        }
    }
}

extension VigilServer {
    static let ingestPaths = ["/api/v1/write", "/api/v1/import/prometheus", "/api/v2/write", "/write", "/v1/metrics"]

    func addIngestRoutes(to router: Router<BasicRequestContext>) {
        router.post("/api/v1/write") { req, _ in await self.handleRemoteWrite(req) }
        router.post("/api/v1/import/prometheus") { req, _ in await self.handleTextImport(req) }
        router.post("/api/v2/write") { req, _ in await self.handleInflux(req, v2: true) }
        router.post("/write") { req, _ in await self.handleInflux(req, v2: false) }
        router.post("/v1/metrics") { req, _ in await self.handleOTLP(req) }
        // Pushgateway-compatible push (what prometheus_client's push_to_gateway sends).
        router.put("/metrics/job/**") { req, _ in await self.handlePushgateway(req) }
        router.post("/metrics/job/**") { req, _ in await self.handlePushgateway(req) }
    }

    // MARK: common plumbing

    /// Reads the body under the size and in-flight bounds, runs `work` with it, and releases the bounds.
    func withBody(_ request: Request, style: ErrorStyle = .text, _ work: ([UInt8]) async -> Response) async -> Response {
        await withBodyBuffer(request, style: style) { buffer in
            await work(buffer.getBytes(at: buffer.readerIndex, length: buffer.readableBytes) ?? [])
        }
    }

    /// `withBody` handing over the collected `ByteBuffer` itself (no copy into an array).
    ///
    /// Every body, `Content-Length` or chunked, is read part by part: each part is counted against
    /// `--max-body-bytes` (413 as soon as it is passed) and against `--max-inflight-bytes` as it arrives (503 +
    /// Retry-After as soon as the budget is spent), so a chunked upload holds no more than a declared one.
    func withBodyBuffer(_ request: Request, style: ErrorStyle = .text, _ work: (ByteBuffer) async -> Response) async -> Response {
        let max = options.maxBodyBytes
        let declared = request.headers[.contentLength].flatMap { Int($0) }
        if let declared, declared > max {
            return refuse(.bodyTooLarge(declared: declared, limit: max), style)
        }
        guard limiter.acquire(bytes: declared ?? 0) else {
            return refuse(.overloaded, style)
        }
        var held = declared ?? 0
        defer { limiter.release(bytes: held) }
        // The first part is the accumulator (a body that arrives in one part is never copied), sized for the
        // declared length when there is one.
        var buffer: ByteBuffer?
        do {
            for try await var part in request.body {
                let have = buffer?.readableBytes ?? 0
                let n = part.readableBytes
                if have + n > max {
                    return refuse(.bodyTooLarge(declared: nil, limit: max), style)
                }
                if have + n > held {
                    let more = have + n - held
                    guard limiter.grow(by: more, holding: held) else { return refuse(.overloaded, style) }
                    held += more
                }
                if buffer == nil {
                    if let declared, declared > n { part.reserveCapacity(minimumWritableBytes: declared - n) }
                    buffer = part
                } else {
                    buffer!.writeBuffer(&part)
                }
            }
        } catch {
            return refuse(.unreadableBody("\(error)"), style)
        }
        return await work(buffer ?? ByteBuffer())
    }

    /// Answers `failure` in `style` and counts it under `vigil_rejected_requests_total{reason}`.
    func refuse(_ failure: HTTPFailure, _ style: ErrorStyle = .text) -> Response {
        if let reason = failure.rejectReason {
            metrics.add("vigil_rejected_requests_total", [Label("reason", reason)])
        }
        return style.response(failure, retryAfter: options.retryAfterSeconds)
    }

    /// Runs a decoder; its error becomes the `HTTPFailure` for it (400 with the decoder's message, 413 for a
    /// decoder size limit, 415 for an unsupported feature).
    func decode<T>(_ what: String, _ f: () throws -> T) throws(HTTPFailure) -> T {
        do { return try f() } catch { throw HTTPFailure(error, decoding: what) }
    }

    /// Writes and answers: 204 when everything was stored, 400 with the summary when some samples were refused,
    /// 400 for an invalid series (nothing written), 500 on a store failure.
    func write(_ batch: [SeriesSamples], source: String, histograms: Int = 0, style: ErrorStyle = .text,
               headers: (IngestOutcome) -> HTTPFields = { _ in [:] },
               success: (IngestOutcome) -> Response = { _ in Response(status: .noContent) },
               partial: ((IngestOutcome) -> Response)? = nil) async -> Response {
        do {
            let out = try await ingestor.ingest(batch, source: source, histograms: histograms,
                                                validated: decoders.validatesLabels)
            var r: Response
            if out.rejected == 0 {
                r = success(out)
            } else if let partial {
                r = partial(out)
            } else {
                r = style.response(.partlyRejected(out.summary))
            }
            for f in headers(out) { r.headers.append(f) }
            return r
        } catch {
            return refuse(error, style, headers: headers(IngestOutcome()))
        }
    }

    /// `write` for a remote_write request resolved against the series cache.
    func write(_ resolved: ResolvedWrite, headers: (IngestOutcome) -> HTTPFields) async -> Response {
        do {
            let out = try await ingestor.ingest(resolved, source: "remote_write",
                                                histograms: resolved.columns.stats.histograms)
            var r = out.rejected == 0 ? Response(status: .noContent) : ErrorStyle.text.response(.partlyRejected(out.summary))
            for f in headers(out) { r.headers.append(f) }
            return r
        } catch {
            return refuse(error, .text, headers: headers(IngestOutcome()))
        }
    }

    /// A write the store refused: 400 for an invalid series (nothing written), 500 (logged) for a store failure.
    func refuse(_ error: WriteRefusal, _ style: ErrorStyle, headers: HTTPFields) -> Response {
        if case .storage(let m) = error { logger.error("append failed", metadata: ["error": "\(m)"]) }
        var r = refuse(HTTPFailure(error), style)
        for f in headers { r.headers.append(f) }
        return r
    }

    static func unsupportedMedia(_ m: String) -> HTTPFailure { .unsupportedMedia(m) }

    /// Only identity encoding (no header, or `identity`).
    static func requireIdentityEncoding(_ request: Request, _ endpoint: String) throws(HTTPFailure) {
        if let enc = request.headers[.contentEncoding]?.trimmingCharacters(in: .whitespaces).lowercased(),
           !enc.isEmpty, enc != "identity" {
            throw unsupportedMedia("unsupported Content-Encoding \"\(enc)\" for \(endpoint) (send the body uncompressed)")
        }
    }

    // MARK: remote_write 1.0 / 2.0

    func handleRemoteWrite(_ request: Request) async -> Response {
        let version: RemoteWriteVersion
        do throws(HTTPFailure) {
            version = try Self.negotiateRemoteWrite(request)
        } catch {
            return refuse(error)
        }
        let headers: (IngestOutcome) -> HTTPFields = { out in
            [HTTPField.Name("X-Prometheus-Remote-Write-Samples-Written")!: String(out.accepted),
             HTTPField.Name("X-Prometheus-Remote-Write-Histograms-Written")!: "0",
             HTTPField.Name("X-Prometheus-Remote-Write-Exemplars-Written")!: "0"]
        }
        if version == .v1, let columns = decoders.remoteWriteColumns, decoders.validatesLabels, ingestor.takesRefs {
            return await withBodyBuffer(request) { buffer in
                let resolved: ResolvedWrite
                do throws(HTTPFailure) {
                    resolved = try decode("remote_write 1.0 request") {
                        try ingestor.resolve(try buffer.withUnsafeReadableBytes { try columns($0) })
                    }
                } catch {
                    return refuse(error)
                }
                return await write(resolved, headers: headers)
            }
        }
        return await withBody(request) { body in
            let decoded: DecodedWrite
            do throws(HTTPFailure) {
                decoded = try decode("remote_write \(version == .v1 ? "1.0" : "2.0") request") {
                    try decoders.remoteWrite(body, version)
                }
            } catch {
                return refuse(error)
            }
            return await write(decoded.series, source: "remote_write", histograms: decoded.histograms,
                               headers: { out in
                                   [HTTPField.Name("X-Prometheus-Remote-Write-Samples-Written")!: String(out.accepted),
                                    HTTPField.Name("X-Prometheus-Remote-Write-Histograms-Written")!: "0",
                                    HTTPField.Name("X-Prometheus-Remote-Write-Exemplars-Written")!: "0"]
                               })
        }
    }

    /// Content-Type `application/x-protobuf` (or none) with `proto=` naming 1.0 or 2.0; Content-Encoding snappy (or none).
    static func negotiateRemoteWrite(_ request: Request) throws(HTTPFailure) -> RemoteWriteVersion {
        if let enc = request.headers[.contentEncoding]?.trimmingCharacters(in: .whitespaces).lowercased(),
           !enc.isEmpty, enc != "snappy" {
            throw unsupportedMedia("unsupported Content-Encoding \"\(enc)\" for remote_write (only snappy)")
        }
        guard let ct = MediaTypeHeader(request.headers[.contentType]) else { return .v1 }
        guard ct.type == "application/x-protobuf" else {
            throw unsupportedMedia("unsupported Content-Type \"\(ct.type)\" for remote_write (expected application/x-protobuf)")
        }
        guard let proto = ct.params["proto"] else { return .v1 }
        guard let v = RemoteWriteVersion(rawValue: proto) else {
            throw unsupportedMedia("unsupported remote_write message proto=\(proto) (supported: prometheus.WriteRequest, io.prometheus.write.v2.Request)")
        }
        return v
    }

    // MARK: text exposition import

    func handleTextImport(_ request: Request) async -> Response {
        do throws(HTTPFailure) {
            try Self.requireIdentityEncoding(request, "/api/v1/import/prometheus")
            if let ct = MediaTypeHeader(request.headers[.contentType]),
               !["text/plain", "application/openmetrics-text"].contains(ct.type) {
                throw Self.unsupportedMedia("unsupported Content-Type \"\(ct.type)\" for text import (expected text/plain or application/openmetrics-text)")
            }
        } catch {
            return refuse(error)
        }
        let openMetrics = MediaTypeHeader(request.headers[.contentType])?.type == "application/openmetrics-text"
        var ts = Int64(Date().timeIntervalSince1970 * 1000)
        if let raw = request.uri.queryParameters["timestamp"].map(String.init) {
            do throws(ParameterError) { ts = try RequestParameters.time(raw, "timestamp") } catch { return ErrorStyle.text.response(.badRequest(error.description)) }
        }
        return await withBody(request) { body in
            let series: [SeriesSamples]
            do throws(HTTPFailure) {
                series = try decode("text exposition") { try decoders.text(body, ts, openMetrics) }
            } catch { return refuse(error) }
            return await write(series, source: "text")
        }
    }

    /// `PUT|POST /metrics/job/<job>{/<label>/<value>}`: text exposition with the grouping labels set on every
    /// series (overriding scraped ones), stored at the push time. Answers 200 like the Pushgateway.
    func handlePushgateway(_ request: Request) async -> Response {
        let parts = request.uri.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst(3).map {
            String($0).removingPercentEncoding ?? String($0)
        }
        var grouping: [(String, String)] = []
        var i = 0
        var names = ["job"]
        var values: [String] = []
        if let job = parts.first { values.append(job) }
        i = 1
        while i + 1 < parts.count {
            names.append(parts[i])
            values.append(parts[i + 1])
            i += 2
        }
        guard i == parts.count, names.count == values.count, !(values.first ?? "").isEmpty else {
            let shown = request.uri.path.count > 200 ? String(request.uri.path.prefix(200)) + "…" : request.uri.path
            return refuse(.badRequest("invalid Pushgateway path \"\(shown)\" (expected /metrics/job/<job>{/<label>/<value>})"))
        }
        // The path's labels obey the same limits as labels in a body (checked again per series after merging).
        let limits = ingestor.limits
        guard names.count < limits.maxLabelsPerSeries else {
            return refuse(.badRequest("\(names.count) grouping labels in the path leave no room for __name__ under the limit of \(limits.maxLabelsPerSeries) labels per series (--max-labels-per-series)"))
        }
        for (n, v) in zip(names, values) {
            guard n.utf8.count <= limits.maxLabelNameBytes else {
                return refuse(.badRequest("grouping label name in the path has \(n.utf8.count) bytes, over the limit of \(limits.maxLabelNameBytes) (--max-label-name-length)"))
            }
            guard Labels.isValidLabelName(n), n != "__name__" else {
                return refuse(.badRequest("invalid grouping label name \"\(n)\" in path"))
            }
            guard v.utf8.count <= limits.maxLabelValueBytes else {
                return refuse(.badRequest("value of grouping label \"\(n)\" in the path has \(v.utf8.count) bytes, over the limit of \(limits.maxLabelValueBytes) (--max-label-value-length)"))
            }
            grouping.append((n, v))
        }
        do throws(HTTPFailure) {
            try Self.requireIdentityEncoding(request, "/metrics/job")
            if let ct = MediaTypeHeader(request.headers[.contentType]),
               !["text/plain", "application/openmetrics-text"].contains(ct.type) {
                throw Self.unsupportedMedia("unsupported Content-Type \"\(ct.type)\" for a Pushgateway push (expected text/plain)")
            }
        } catch {
            return refuse(error)
        }
        let ts = Int64(Date().timeIntervalSince1970 * 1000)
        return await withBody(request) { body in
            var series: [SeriesSamples]
            let om = MediaTypeHeader(request.headers[.contentType])?.type == "application/openmetrics-text"
            do throws(HTTPFailure) {
                series = try decode("text exposition") { try decoders.text(body, ts, om) }
            } catch { return refuse(error) }
            for k in series.indices {
                for (n, v) in grouping { series[k].labels.set(n, v) }
            }
            // Merging added labels the decoder did not see: check every series again (count limit included).
            do throws(WriteRefusal) { try ingestor.validate(series) } catch {
                return refuse(error, .text, headers: [:])
            }
            return await write(series, source: "pushgateway", success: { _ in Response(status: .ok) })
        }
    }

    // MARK: Influx line protocol

    func handleInflux(_ request: Request, v2: Bool) async -> Response {
        let style = ErrorStyle.influx
        if let enc = request.headers[.contentEncoding]?.trimmingCharacters(in: .whitespaces).lowercased(),
           !enc.isEmpty, enc != "identity" {
            return refuse(.unsupportedMedia("unsupported Content-Encoding \"\(enc)\" for Influx line protocol (send it uncompressed)"), style)
        }
        let p = queryItems(request.uri.query).first { $0.0 == "precision" }?.1 ?? "ns"
        guard let precision = InfluxLine.Precision(parameter: p) else {
            return refuse(.badRequest("invalid precision \"\(p)\" (ns, us, ms, s, m or h)"), style)
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        return await withBody(request, style: style) { body in
            let series: [SeriesSamples]
            do throws(HTTPFailure) {
                series = try decode("Influx line protocol") { try decoders.influx(body, precision, now) }
            } catch {
                return refuse(error, style)
            }
            return await write(series, source: "influx", style: style)
        }
    }

    // MARK: OTLP/HTTP

    func handleOTLP(_ request: Request) async -> Response {
        let json: Bool
        do throws(HTTPFailure) {
            try Self.requireIdentityEncoding(request, "/v1/metrics")
            guard let ct = MediaTypeHeader(request.headers[.contentType]) else {
                throw Self.unsupportedMedia("missing Content-Type for OTLP (application/x-protobuf or application/json)")
            }
            switch ct.type {
            case "application/x-protobuf", "application/protobuf": json = false
            case "application/json": json = true
            default:
                throw Self.unsupportedMedia("unsupported Content-Type \"\(ct.type)\" for OTLP (application/x-protobuf or application/json)")
            }
        } catch {
            return refuse(error)
        }
        return await withBody(request) { body in
            let series: [SeriesSamples]
            do throws(HTTPFailure) {
                series = try decode("OTLP \(json ? "JSON" : "protobuf") request") {
                    let now = Int64(Date().timeIntervalSince1970 * 1000)
                    return try json ? decoders.otlpJSON(body, now) : decoders.otlpProtobuf(body, now)
                }
            } catch {
                return refuse(error)
            }
            // ExportMetricsServiceResponse; a partial success names the rejected points.
            func answer(_ out: IngestOutcome) -> Response {
                if json {
                    var s = "{}"
                    if out.rejected > 0 {
                        s = "{\"partialSuccess\":{\"rejectedDataPoints\":\"\(out.rejected)\",\"errorMessage\":\(jsonString(out.summary))}}"
                    }
                    return Response(status: .ok, headers: [.contentType: "application/json"],
                                    body: ResponseBody(byteBuffer: ByteBuffer(string: s)))
                }
                var b: [UInt8] = []
                if out.rejected > 0 {
                    var inner: [UInt8] = [0x08]
                    inner += varint(UInt64(out.rejected))
                    let msg = Array(out.summary.utf8)
                    inner += [0x12] + varint(UInt64(msg.count)) + msg
                    b = [0x0a] + varint(UInt64(inner.count)) + inner
                }
                return Response(status: .ok, headers: [.contentType: "application/x-protobuf"],
                                body: ResponseBody(byteBuffer: ByteBuffer(bytes: b)))
            }
            return await write(series, source: "otlp", success: answer, partial: answer)
        }
    }
}

func varint(_ v: UInt64) -> [UInt8] {
    var v = v
    var out: [UInt8] = []
    while v >= 0x80 {
        out.append(UInt8(v & 0x7f) | 0x80)
        v >>= 7
    }
    out.append(UInt8(v))
    return out
}

func jsonString(_ s: String) -> String { JSONText.quote(s) }

