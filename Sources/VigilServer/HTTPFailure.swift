import Foundation
import Hummingbird
import VigilCore
import VigilIngest
import VigilQuery

/// Every way an HTTP request is refused, and the one place that maps a refusal (or any error a handler caught) to
/// an HTTP status, a `vigil_rejected_requests_total` reason and a one-line message. Ingest routes, the export
/// route and the query API answer through it, so the same fault gets the same status on every endpoint.
///
/// | case | status |
/// |---|---|
/// | `badRequest`, `malformed`, `invalidSeries`, `unreadableBody` | 400 |
/// | `unauthorized` | 401 |
/// | `unsupportedMedia` | 415 |
/// | `unprocessable` (a query that cannot run) | 422 |
/// | `storage` | 500 |
/// | `tooLarge` | 413 |
/// | `overloaded` (+ `Retry-After`), `timeout` | 503 |
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
    case timeout(String)

    package var status: HTTPResponse.Status {
        switch self {
        case .badRequest, .malformed, .invalidSeries, .unreadableBody: return .badRequest
        case .unauthorized: return .unauthorized
        case .tooLarge: return .contentTooLarge
        case .unsupportedMedia: return .unsupportedMediaType
        case .unprocessable: return .unprocessableContent
        case .storage: return .internalServerError
        case .overloaded, .timeout: return .serviceUnavailable
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
        case .unprocessable, .storage: return nil
        }
    }

    package var description: String {
        switch self {
        case .badRequest(let m), .invalidSeries(let m), .unauthorized(let m), .unsupportedMedia(let m),
             .unprocessable(let m), .storage(let m), .timeout(let m), .tooLarge(let m):
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
            switch e.httpStatus {
            case 400: self = .badRequest(e.description)
            case 503: self = .timeout(e.description)
            case 500: self = .storage(e.description)
            default: self = .unprocessable(e.description)
            }
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

    /// A body over `--max-body-bytes`; `declared` is its `Content-Length` when refused before reading.
    package static func bodyTooLarge(declared: Int?, limit: Int) -> HTTPFailure {
        .tooLarge(declared.map { "request body of \($0) bytes exceeds --max-body-bytes \(limit)" }
                  ?? "request body exceeds --max-body-bytes \(limit)")
    }

    /// Headers that go with the status (`Retry-After` on overload, `WWW-Authenticate` on 401).
    package func headers(retryAfter: Int) -> HTTPFields {
        switch self {
        case .overloaded: return [.retryAfter: String(retryAfter)]
        case .unauthorized: return [.wwwAuthenticate: "Bearer"]
        default: return [:]
        }
    }
}
