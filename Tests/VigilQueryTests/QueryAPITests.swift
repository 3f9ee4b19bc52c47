import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import VigilCore
import VigilQuery
import VigilServer

/// The Prometheus HTTP API routes, in-process (no sockets).
struct QueryAPITests {
    static let reader = InMemorySeriesReader([
        SeriesSamples(labels: Labels(["__name__": "up", "job": "api", "instance": "a"]),
                      timestamps: [0, 15_000, 30_000, 45_000], values: [1, 1, 0, .nan]),
        SeriesSamples(labels: Labels(["__name__": "up", "job": "web", "instance": "b"]),
                      timestamps: [0, 15_000, 30_000], values: [1, .infinity, -.infinity]),
    ])

    func withApp(_ options: QueryOptions = QueryOptions(),
                 _ body: @Sendable @escaping (any TestClientProtocol) async throws -> Void) async throws {
        let router = Router()
        addQueryRoutes(to: router, reader: QueryAPITests.reader, options: options, version: "9.9.9")
        let app = Application(router: router)
        try await app.test(.router) { client in try await body(client) }
    }

    func json(_ b: ByteBuffer) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(String(buffer: b).utf8)) as? [String: Any]) ?? [:]
    }

    @Test func grafanaHealthCheckIsAScalar() async throws {
        try await withApp { client in
            try await client.execute(uri: "/api/v1/query?query=1%2B1&time=1.5", method: .get) { r in
                #expect(r.status == .ok)
                #expect(String(buffer: r.body) == #"{"status":"success","data":{"resultType":"scalar","result":[1.500,"2"]}}"#)
            }
        }
    }

    @Test func instantVectorKeepsNaNAndInfAsStrings() async throws {
        try await withApp { client in
            try await client.execute(uri: "/api/v1/query?query=up&time=45", method: .get) { r in
                #expect(r.status == .ok)
                let body = String(buffer: r.body)
                #expect(body.contains(#"{"metric":{"__name__":"up","instance":"a","job":"api"},"value":[45,"NaN"]}"#))
                #expect(body.contains(#""value":[45,"-Inf"]"#))
            }
        }
    }

    @Test func rangeQueryGetAndFormPost() async throws {
        try await withApp { client in
            let expected = #"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"instance":"b","job":"web"},"values":[[0,"2"],[15,"+Inf"],[30,"-Inf"]]}]}}"#
            try await client.execute(uri: "/api/v1/query_range?query=up%7Bjob%3D%22web%22%7D+*+2&start=0&end=30&step=15s", method: .get) { r in
                #expect(r.status == .ok)
                #expect(String(buffer: r.body) == expected)
            }
            var h = HTTPFields()
            h[.contentType] = "application/x-www-form-urlencoded"
            try await client.execute(uri: "/api/v1/query_range", method: .post, headers: h,
                                     body: ByteBuffer(string: "query=up%7Bjob%3D%22web%22%7D+*+2&start=1970-01-01T00:00:00Z&end=30&step=15")) { r in
                #expect(r.status == .ok)
                #expect(String(buffer: r.body) == expected)
            }
        }
    }

    @Test func errorsCarryPrometheusTypesAndStatus() async throws {
        try await withApp { client in
            try await client.execute(uri: "/api/v1/query?query=sum(&time=1", method: .get) { r in
                #expect(r.status == .badRequest)
                let j = json(r.body)
                #expect(j["errorType"] as? String == "bad_data")
                #expect((j["error"] as? String)?.hasPrefix("invalid parameter \"query\": 1:5: parse error:") == true)
            }
            try await client.execute(uri: "/api/v1/query_range?query=up&start=10&end=0&step=1", method: .get) { r in
                #expect(r.status == .badRequest)
                #expect(json(r.body)["error"] as? String == "invalid parameter \"end\": end timestamp must not be before start time")
            }
            try await client.execute(uri: "/api/v1/query_range?query=up&start=0&end=100000&step=1", method: .get) { r in
                #expect(r.status == .badRequest)
                #expect((json(r.body)["error"] as? String)?.hasPrefix("exceeded maximum resolution of 11,000 points") == true)
            }
            try await client.execute(uri: "/api/v1/query?query=up&time=yesterday", method: .get) { r in
                #expect(r.status == .badRequest)
                #expect(json(r.body)["error"] as? String == "invalid parameter \"time\": cannot parse \"yesterday\" to a valid timestamp")
            }
            // many-to-many matching is an execution error (422)
            try await client.execute(uri: "/api/v1/query?query=up+%2B+on()+up&time=10", method: .get) { r in
                #expect(r.status == .unprocessableContent)
                #expect(json(r.body)["errorType"] as? String == "execution")
            }
        }
    }

    @Test func maxSamplesLimitIsAnExecutionError() async throws {
        var o = QueryOptions()
        o.maxSamples = 3
        try await withApp(o) { client in
            try await client.execute(uri: "/api/v1/query_range?query=up&start=0&end=45&step=1", method: .get) { r in
                #expect(r.status == .unprocessableContent)
                let j = json(r.body)
                #expect(j["errorType"] as? String == "execution")
                #expect(j["error"] as? String == "query processing would load too many samples into memory in query execution")
            }
        }
    }

    @Test func timeoutIsATimeoutError() async throws {
        var o = QueryOptions()
        o.timeout = 0
        try await withApp(o) { client in
            try await client.execute(uri: "/api/v1/query?query=up&time=10", method: .get) { r in
                #expect(r.status == .serviceUnavailable)
                #expect(json(r.body)["errorType"] as? String == "timeout")
            }
        }
    }

    @Test func metadataEndpoints() async throws {
        try await withApp { client in
            try await client.execute(uri: "/api/v1/series?match%5B%5D=up%7Bjob%3D%22api%22%7D", method: .get) { r in
                #expect(String(buffer: r.body) == #"{"status":"success","data":[{"__name__":"up","instance":"a","job":"api"}]}"#)
            }
            try await client.execute(uri: "/api/v1/series", method: .get) { r in
                #expect(r.status == .badRequest)
                #expect(json(r.body)["error"] as? String == "no match[] parameter provided")
            }
            try await client.execute(uri: "/api/v1/labels", method: .get) { r in
                #expect(String(buffer: r.body) == #"{"status":"success","data":["__name__","instance","job"]}"#)
            }
            try await client.execute(uri: "/api/v1/label/job/values", method: .get) { r in
                #expect(String(buffer: r.body) == #"{"status":"success","data":["api","web"]}"#)
            }
            try await client.execute(uri: "/api/v1/metadata", method: .get) { r in
                #expect(String(buffer: r.body) == #"{"status":"success","data":{}}"#)
            }
            try await client.execute(uri: "/api/v1/status/buildinfo", method: .get) { r in
                let d = try #require(json(r.body)["data"] as? [String: Any])
                #expect(d["version"] as? String == "9.9.9")
                #expect((d["features"] as? [String: Any])?.isEmpty == true)
            }
            try await client.execute(uri: "/api/v1/status/runtimeinfo", method: .get) { r in
                let d = try #require(json(r.body)["data"] as? [String: Any])
                #expect(d["startTime"] is String)
            }
            try await client.execute(uri: "/api/v1/format_query?query=sum+by(job)(rate(up%5B5m%5D))", method: .get) { r in
                #expect(String(buffer: r.body) == #"{"status":"success","data":"sum by (job) (rate(up[5m]))"}"#)
            }
        }
    }

    @Test(arguments: [
        ("1.5", Int64(1500)), ("1700000000.1234", 1_700_000_000_123), ("0", 0), ("-1.5", -1500),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000), ("2023-11-14T22:13:20.5Z", 1_700_000_000_500),
        ("2023-11-15T00:13:20.123456+02:00", 1_700_000_000_123), ("1970-01-01T00:00:00Z", 0),
    ])
    func timeParameters(_ s: String, _ ms: Int64) throws {
        #expect(try QueryAPI.parseTime(s, "time") == ms)
    }

    @Test func badTimeAndDuration() {
        #expect(throws: QueryError.self) { try QueryAPI.parseTime("2023-13-01T00:00:00Z", "time") }
        #expect(throws: QueryError.self) { try QueryAPI.parseTime("", "start") }
        #expect(throws: QueryError.self) { try QueryAPI.parseDuration("5x", "step") }
        #expect((try? QueryAPI.parseDuration("1m30s", "step")) == 90_000)
        #expect((try? QueryAPI.parseDuration("0.5", "step")) == 500)
    }
}
