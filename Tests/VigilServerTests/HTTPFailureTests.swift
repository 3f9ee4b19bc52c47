import Foundation
import Testing
import VigilCore
import VigilIngestPath
import VigilQuery
@testable import VigilServer

/// `HTTPFailure` is the one place errors become statuses: the query API's errors, the ingest refusals and the
/// connection guard's raw answers must come out of it with Prometheus' statuses and error types.
@Suite struct HTTPFailureTests {
    @Test func queryErrorsGetPrometheusStatusesAndTypes() {
        let cases: [(QueryError, Int, String)] = [
            (.badData("b"), 400, "bad_data"), (.execution("e"), 422, "execution"),
            (.timeout("t"), 503, "timeout"), (.canceled("c"), 503, "canceled"),
        ]
        for (e, status, type) in cases {
            let f = HTTPFailure.query(e)
            #expect(Int(f.status.code) == status, "\(e)")
            #expect(f.prometheusErrorType == type, "\(e)")
            #expect(f.description == e.description)
            // 503s tell the client when to come back.
            #expect((f.headers(retryAfter: 1)[.retryAfter] != nil) == (status == 503), "\(e)")
        }
        struct StoreBroke: Error {}
        let other = HTTPFailure.query(StoreBroke())
        #expect(other.status == .unprocessableContent && other.prometheusErrorType == "execution")
    }

    @Test func queryAPIAnswersThroughTheMapping() {
        let api = QueryAPI(reader: MemoryStore())
        let bad = api.handle(endpoint: "query", params: ["query": ["sum("]])
        #expect(bad.status == 400)
        #expect(bad.body.contains("\"errorType\":\"bad_data\""))
        let unknown = api.handle(endpoint: "nope", params: [:])
        #expect(unknown.status == 400 && unknown.body.contains("unknown endpoint"))
        let ok = api.handle(endpoint: "query", params: ["query": ["1"], "time": ["10"]])
        #expect(ok.status == 200 && ok.headers.isEmpty)
        let busy = QueryAPI.Reply(.unavailable("too many concurrent queries"))
        #expect(busy.status == 503 && busy.body.contains("\"errorType\":\"unavailable\"") && busy.headers[.retryAfter] == "1")
    }

    @Test func writeRefusalsAndPartialWrites() {
        #expect(HTTPFailure(WriteRefusal.invalid("series #0 {}: bad")).status == .badRequest)
        #expect(HTTPFailure(WriteRefusal.storage("disk")).status == .internalServerError)
        let partial = HTTPFailure.partlyRejected("accepted 1 samples, rejected 1 (duplicate=1)")
        #expect(partial.status == .badRequest && partial.rejectReason == nil && partial.influxCode == "invalid")
        #expect(HTTPFailure.overloaded.influxCode == "unavailable" && HTTPFailure.overloaded.rejectReason == "overloaded")
    }

    @Test func rawAnswersForTheConnectionGuard() {
        let cap = HTTPFailure.unavailable("overloaded: too many open connections, retry later").rawHTTP1(retryAfter: 1)
        #expect(cap == "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n"
                + "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 51\r\n\r\n"
                + "overloaded: too many open connections, retry later\n")
        let late = HTTPFailure.requestTimeout("request head not received within --http-header-timeout").rawHTTP1(retryAfter: 1)
        #expect(late.hasPrefix("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n"))
        #expect(late.hasSuffix("\r\n\r\nrequest head not received within --http-header-timeout\n"))
    }
}
