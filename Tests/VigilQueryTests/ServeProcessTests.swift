import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import VigilTestSupport

/// The query path against a real `vigil serve` process on 127.0.0.1: inputs that used to crash it (SIGSEGV on
/// deep or long PromQL, SIGILL converting huge times) get a 4xx and the process keeps answering. A crash fails
/// the test (the process is checked alive after every request).
@Suite(.serialized) struct ServeProcessTests {

    final class Server: @unchecked Sendable {
        let process = Process()
        let dir: URL
        let base: String

        init(extraArgs: [String] = []) async throws {
            let exe = try #require(vigilExecutable(), "vigil executable not found; run swift build first")
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-serve-query-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let port = freePort()
            base = "http://127.0.0.1:\(port)"
            process.executableURL = URL(fileURLWithPath: exe)
            process.arguments = ["serve", "--listen", "127.0.0.1:\(port)", "--data", dir.path, "--log-level", "error"] + extraArgs
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            for _ in 0..<150 {
                if let (_, r) = try? await URLSession.shared.data(from: URL(string: base + "/-/ready")!),
                   (r as? HTTPURLResponse)?.statusCode == 200 { return }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
            stop()
            throw TestFailure("vigil serve did not become ready")
        }

        func stop() {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
            try? FileManager.default.removeItem(at: dir)
        }

        /// The process is running and answers /-/healthy.
        func alive() async -> Bool {
            guard process.isRunning else { return false }
            guard let (_, r) = try? await URLSession.shared.data(from: URL(string: base + "/-/healthy")!) else { return false }
            return (r as? HTTPURLResponse)?.statusCode == 200 && process.isRunning
        }

        func request(_ method: String, _ pathAndQuery: String, body: Data? = nil,
                     contentType: String? = nil) async throws -> (Int, String) {
            var req = URLRequest(url: URL(string: base + pathAndQuery)!)
            req.httpMethod = method
            req.httpBody = body
            req.timeoutInterval = 300
            if let contentType { req.setValue(contentType, forHTTPHeaderField: "Content-Type") }
            let (d, r) = try await URLSession.shared.data(for: req)
            return ((r as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: d.prefix(300), as: UTF8.self))
        }

        /// A form POST, as `curl --data-urlencode` sends it.
        func form(_ path: String, _ params: [(String, String)]) async throws -> (Int, String) {
            let body = params.map { "\(ServeProcessTests.enc($0.0))=\(ServeProcessTests.enc($0.1))" }.joined(separator: "&")
            return try await request("POST", path, body: Data(body.utf8), contentType: "application/x-www-form-urlencoded")
        }
    }

    static func enc(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    static func repeated(_ s: String, _ n: Int) -> String { String(repeating: s, count: n) }

    static let deepQueries: [String] = [
        repeated("(", 10_000) + "1" + repeated(")", 10_000),
        repeated("(", 10_000),
        repeated("abs(", 10_000) + "up" + repeated(")", 10_000),
        repeated("1^", 100_000) + "1",
        repeated("1+", 20_000) + "1",
    ]

    @Test func deepAndLongQueriesAreA400AndTheServerLives() async throws {
        let s = try await Server()
        defer { s.stop() }
        for q in ServeProcessTests.deepQueries {
            for ep in ["query", "format_query"] {
                let (status, body) = try await s.form("/api/v1/" + ep, [("query", q)])
                #expect(status == 400, "\(ep) \(q.prefix(20))…: \(status) \(body)")
                #expect(body.contains("query nesting depth exceeds 256"), "\(body)")
                #expect(await s.alive(), "vigil serve died on \(ep) \(q.prefix(20))…")
            }
            let (status, body) = try await s.form("/api/v1/query_range", [("query", q), ("start", "0"), ("end", "60"), ("step", "15")])
            #expect(status == 400, "query_range \(q.prefix(20))…: \(status) \(body)")
            #expect(await s.alive(), "vigil serve died on query_range \(q.prefix(20))…")
        }
        // Row 4: a 1 MB query (200k terms) is answered, and the server is still alive afterwards.
        let big = Array(repeating: "1", count: 200_000).joined(separator: " + ") + ServeProcessTests.repeated(" ", 200_100)
        #expect(big.utf8.count > 1_000_000)
        let (status, body) = try await s.form("/api/v1/query", [("query", big)])
        #expect((200..<500).contains(status), "\(status) \(body)")
        #expect(body.contains("--query-max-length"), "\(body)")
        // Just under the length limit: refused by the depth limit, quickly and without a crash.
        let under = Array(repeating: "1", count: 60_000).joined(separator: "+")
        let (status2, body2) = try await s.form("/api/v1/query", [("query", under)])
        #expect(status2 == 400 && body2.contains("nesting depth"), "\(status2) \(body2)")
        #expect(await s.alive())
        // Still evaluating normal queries.
        let (ok, okBody) = try await s.form("/api/v1/query", [("query", "1 + 1"), ("time", "10")])
        #expect(ok == 200 && okBody.contains("\"2\""), "\(okBody)")
    }

    @Test func hugeAndNegativeTimesAreA400AndTheServerLives() async throws {
        let s = try await Server()
        defer { s.stop() }
        for (path, param) in [("/api/v1/export?match[]=up&start=-1e18", "start"), ("/api/v1/export?match[]=up&end=1e300", "end"),
                              ("/api/v1/export?match[]=up&start=9.3e15", "start"), ("/api/v1/export?match[]=up&start=NaN", "start"),
                              ("/api/v1/query?query=up&time=-1e18", "time"), ("/api/v1/query?query=up&time=Inf", "time"),
                              ("/api/v1/query_range?query=up&start=0&end=1e300&step=15", "end"),
                              ("/api/v1/query_range?query=up&start=0&end=60&step=1e300", "step"),
                              ("/api/v1/query?query=up&timeout=NaN", "timeout"),
                              ("/api/v1/series?match[]=up&start=-1e18", "start"),
                              ("/api/v1/labels?end=1e300", "end"), ("/api/v1/label/job/values?start=9.3e15", "start")] {
            let (status, body) = try await s.request("GET", path)
            #expect(status == 400, "\(path): \(status) \(body)")
            #expect(body.contains("invalid parameter \\\"\(param)\\\"") || body.contains("invalid parameter \"\(param)\""),
                    "\(path): \(body)")
            #expect(await s.alive(), "vigil serve died on \(path)")
        }
        for ts in ["1e17", "-1e18", "NaN", "1e300"] {
            let (status, body) = try await s.request("POST", "/api/v1/import/prometheus?timestamp=\(ts)", body: Data("m 1\n".utf8),
                                                     contentType: "text/plain")
            #expect(status == 400, "timestamp=\(ts): \(status) \(body)")
            #expect(body.contains("invalid parameter \"timestamp\""), "\(body)")
            #expect(await s.alive(), "vigil serve died on import timestamp=\(ts)")
        }
        // A good import and export still work, through the same parsers (a recent time: older than the retention is
        // refused as too old, newer than --max-future as too far ahead).
        let ts = Int(Date().timeIntervalSince1970) - 60
        let (imp, impBody) = try await s.request("POST", "/api/v1/import/prometheus?timestamp=\(ts)", body: Data("m{a=\"b\"} 1\n".utf8),
                                                 contentType: "text/plain")
        #expect((200..<300).contains(imp), "\(impBody)")
        let startISO = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(ts - 3600)))
        let (exp, expBody) = try await s.request("GET", "/api/v1/export?match%5B%5D=" + ServeProcessTests.enc("m{a=~\"b|c\"}") + "&start=" + ServeProcessTests.enc(startISO))
        #expect(exp == 200 && expBody.contains("\(ts)000"), "\(expBody)")
    }

    @Test func queryMaxLengthFlag() async throws {
        let s = try await Server(extraArgs: ["--query-max-length", "100"])
        defer { s.stop() }
        let (status, body) = try await s.form("/api/v1/query", [("query", ServeProcessTests.repeated("1+", 60) + "1")])
        #expect(status == 400 && body.contains("limit of 100 bytes"), "\(status) \(body)")
        #expect(await s.alive())
    }
}
