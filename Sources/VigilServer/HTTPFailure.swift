import Foundation
import Hummingbird
import VigilCore
import VigilIngestPath
import VigilIngest
import VigilQuery

/// Every way an HTTP request is refused, and the one place that maps a refusal (or any error a handler caught) to
/// an HTTP status, a `vigil_rejected_requests_total` reason, the Prometheus API `errorType`, the Influx `code`, the
/// headers that go with it and a one-line message. Ingest routes, the export route, the query API (including
/// `QueryError`s from VigilQuery), the store admin route and the connection guard's raw answers all answer through
/// it, so the same fault gets the same status on every endpoint.
///
/// | case | status | Prometheus `errorType` |
/// |---|---|---|
/// | `badRequest`, `malformed`, `invalidSeries`, `unreadableBody`, `partlyRejected` | 400 | `bad_data` |
/// | `unauthorized` (+ `WWW-Authenticate`) | 401 | `bad_data` |
/// | `requestTimeout` (the connection guard's header/body deadlines) | 408 | `bad_data` |
/// | `tooLarge` | 413 | `bad_data` |
/// | `unsupportedMedia` | 415 | `bad_data` |
/// | `unprocessable` (a query that cannot run) | 422 | `execution` |
/// | `storage` | 500 | `internal` |
/// | `overloaded`, `unavailable` (+ `Retry-After`) | 503 | `unavailable` |
/// | `timeout`, `canceled` (a query; + `Retry-After`) | 503 | `timeout`, `canceled` |
package enum HTTPFailure: Error, Sendable, CustomStringConvertible {
    /// A parameter or path is wrong (names what and why).
    case badRequest(String)
    /// The body does not decode: `what` is the format, `reason` the decoder's message (line/series/field).
    case malformed(what: String, reason: String)
    /// A series breaks a label rule or per-series limit; nothing of the request is written.
    case invalidSeries(String)
    /// The connection failed while the body was read.
    case unreadableBody(String)
    case unauthorized(String)
    /// A body (or a decoded request) over a size limit; the message names the limit.
    case tooLarge(String)
    case unsupportedMedia(String)
    case unprocessable(String)
    case storage(String)
    /// Too many requests or body bytes in flight, or too many connections.
    case overloaded
    /// Busy with a reason to give (query slots all taken, connection cap): 503 with `Retry-After`.
    case unavailable(String)
    /// A query ran out of time.
    case timeout(String)
    /// A query was cancelled.
    case canceled(String)
    /// A write that was well-formed but had some samples refused (out of order, duplicate, limits): the message
    /// is the outcome's summary; the accepted samples are stored.
    case partlyRejected(String)
    /// The request head or body did not arrive within its deadline (the connection is closed after the answer).
    case requestTimeout(String)

    package var status: HTTPResponse.Status {
        switch self {
        case .badRequest, .malformed, .invalidSeries, .unreadableBody, .partlyRejected: return .badRequest
        case .unauthorized: return .unauthorized
        case .requestTimeout: return .requestTimeout
        case .tooLarge: return .contentTooLarge
        case .unsupportedMedia: return .unsupportedMediaType
        case .unprocessable: return .unprocessableContent
        case .storage: return .internalServerError
        case .overloaded, .unavailable, .timeout, .canceled: return .serviceUnavailable
        }
    }

    /// The Prometheus HTTP API's `errorType` for this failure (`{"status":"error","errorType":…}`).
    package var prometheusErrorType: String {
        switch self {
        case .badRequest, .malformed, .invalidSeries, .unreadableBody, .partlyRejected, .unauthorized,
             .requestTimeout, .tooLarge, .unsupportedMedia:
            return "bad_data"
        case .unprocessable: return "execution"
        case .storage: return "internal"
        case .overloaded, .unavailable: return "unavailable"
        case .timeout: return "timeout"
        case .canceled: return "canceled"
        }
    }

    /// The Influx v2 API's error `code` for this failure (`{"code":…,"message":…}`).
    package var influxCode: String {
        switch self {
        case .badRequest, .malformed, .invalidSeries, .unreadableBody, .partlyRejected: return "invalid"
        case .tooLarge: return "request too large"
        case .unsupportedMedia: return "unsupported media type"
        case .unauthorized: return "unauthorized"
        case .overloaded, .unavailable, .timeout, .canceled: return "unavailable"
        case .requestTimeout, .unprocessable, .storage: return "internal error"
        }
    }

    /// The `reason` label of `vigil_rejected_requests_total`, nil for failures that are not the client's request
    /// being refused (a store error) or are counted elsewhere.
    package var rejectReason: String? {
        switch self {
        case .badRequest, .malformed, .invalidSeries: return "malformed"
        case .unreadableBody: return "aborted"
        case .tooLarge: return "too_large"
        case .unsupportedMedia: return "unsupported"
        case .overloaded: return "overloaded"
        case .timeout: return "timeout"
        case .unauthorized: return "unauthorized"
        case .unavailable: return "overloaded"
        case .unprocessable, .storage, .canceled, .partlyRejected, .requestTimeout: return nil
        }
    }

    package var description: String {
        switch self {
        case .badRequest(let m), .invalidSeries(let m), .unauthorized(let m), .unsupportedMedia(let m),
             .unprocessable(let m), .storage(let m), .timeout(let m), .tooLarge(let m), .unavailable(let m),
             .canceled(let m), .partlyRejected(let m), .requestTimeout(let m):
            return m
        case .malformed(let what, let reason): return "cannot decode \(what): \(reason)"
        case .unreadableBody(let m): return "cannot read request body: \(m)"
        case .overloaded: return "overloaded: too many requests or bytes in flight, retry later"
        }
    }

    /// Maps an error a handler caught. `what` names the input being decoded (e.g. "OTLP JSON request") for decoder
    /// errors. Decoder size limits become 413, unsupported features 415, store refusals of a series 400, other
    /// store failures 500, query errors their Prometheus status.
    package init(_ error: any Error, decoding what: String? = nil) {
        switch error {
        case let f as HTTPFailure:
            self = f
        case let e as IngestError where e.code == .tooLarge:
            self = .tooLarge(what.map { "cannot decode \($0): \(e)" } ?? "\(e)")
        case let e as IngestError where e.code == .unsupported:
            self = .unsupportedMedia(what.map { "cannot decode \($0): \(e)" } ?? "\(e)")
        case let e as WriteRefusal:
            switch e {
            case .invalid(let m): self = .invalidSeries(m)
            case .storage(let m): self = .storage(m)
            }
        case let e as QueryError:
            self = HTTPFailure(e)
        case let e as HTTPError:
            switch e.status {
            case .contentTooLarge: self = .tooLarge(e.body ?? "request body too large")
            case .unauthorized: self = .unauthorized(e.body ?? "unauthorized")
            case .unsupportedMediaType: self = .unsupportedMedia(e.body ?? "unsupported media type")
            case .serviceUnavailable: self = .overloaded
            default: self = .badRequest(e.body ?? "\(e.status)")
            }
        default:
            self = what.map { .malformed(what: $0, reason: "\(error)") } ?? .badRequest("\(error)")
        }
    }

    /// A PromQL / query API error, with Prometheus' status for it: `bad_data` 400, `execution` 422, `timeout` and
    /// `canceled` 503.
    package init(_ e: QueryError) {
        switch e {
        case .badData(let m): self = .badRequest(m)
        case .execution(let m): self = .unprocessable(m)
        case .timeout(let m): self = .timeout(m)
        case .canceled(let m): self = .canceled(m)
        }
    }

    /// What the query API answers for an error its handler caught: a `QueryError` (or `HTTPFailure`) as itself,
    /// anything else (a store read that failed) as 422 `execution`, as Prometheus does.
    package static func query(_ error: any Error) -> HTTPFailure {
        switch error {
        case let f as HTTPFailure: return f
        case let e as QueryError: return HTTPFailure(e)
        default: return .unprocessable("\(error)")
        }
    }

    /// A body over `--max-body-bytes`; `declared` is its `Content-Length` when refused before reading.
    package static func bodyTooLarge(declared: Int?, limit: Int) -> HTTPFailure {
        .tooLarge(declared.map { "request body of \($0) bytes exceeds --max-body-bytes \(limit)" }
                  ?? "request body exceeds --max-body-bytes \(limit)")
    }

    /// Headers that go with the status (`Retry-After` on overload, `WWW-Authenticate` on 401).
    package func headers(retryAfter: Int) -> HTTPFields {
        switch self {
        case .overloaded, .unavailable, .timeout, .canceled: return [.retryAfter: String(retryAfter)]
        case .unauthorized: return [.wwwAuthenticate: "Bearer"]
        default: return [:]
        }
    }

    /// The whole answer as raw HTTP/1.1 with `Connection: close`, text body: for the connection guard, which
    /// answers below the router (over the connection cap, a header or body deadline passed).
    package func rawHTTP1(retryAfter: Int) -> String {
        let text = description + "\n"
        var head = "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\nConnection: close\r\n"
        for f in headers(retryAfter: retryAfter) { head += "\(f.name.rawName): \(f.value)\r\n" }
        return head + "Content-Type: text/plain; charset=utf-8\r\nContent-Length: \(text.utf8.count)\r\n\r\n" + text
    }
}
