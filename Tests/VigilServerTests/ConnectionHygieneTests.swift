import Foundation
import Testing
import VigilTestSupport
import VigilCore
import VigilIngest
@testable import VigilServer
@testable import VigilIngestPath
#if canImport(Glibc)
import Glibc
#endif


/// A real `vigil serve` on a free loopback port with a temp data dir; `finish()` checks it is still alive
/// (a crash fails the test), stops it and removes the directory.
final class ServeProcess: Sendable {
    let child: Child
    let port: Int
    let dir: URL
    var base: String { "http://127.0.0.1:\(port)" }

    /// - Parameter openFileLimit: run under `ulimit -n` (soft and hard) of this many descriptors.
    init(_ flags: [String], openFileLimit: Int? = nil) async throws {
        let exe = try #require(vigilExecutable(), "vigil executable not found next to \(CommandLine.arguments[0]); run swift build first")
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-hygiene-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        port = freePort()
        let args = ["serve", "--data", dir.appendingPathComponent("data").path, "--listen", "127.0.0.1:\(port)"] + flags
        if let openFileLimit {
            child = try Child("/bin/sh", ["-c", "ulimit -n \(openFileLimit) && exec \"$0\" \"$@\"", exe] + args,
                              log: dir.appendingPathComponent("serve.log"))
        } else {
            child = try Child(exe, args, log: dir.appendingPathComponent("serve.log"))
        }
        let base = "http://127.0.0.1:\(port)"
        let c = child
        _ = try await eventually(30, "vigil serve to answer /-/healthy") { () async throws -> Bool? in
            guard c.process.isRunning else { throw DecodeFailure("vigil serve exited: \(c.output)") }
            return (try? await http("GET", base + "/-/healthy"))?.status == 200 ? true : nil
        }
    }

    /// One self-metric's value (summed over label sets matching `labels`), from GET /metrics.
    func metric(_ name: String, _ labels: String = "") async throws -> Double {
        let text = try await http("GET", base + "/metrics").text
        var sum = 0.0
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            guard parts.count == 2 else { continue }
            let key = String(parts[0])
            guard key == name || key.hasPrefix(name + "{") else { continue }
            if !labels.isEmpty && !key.contains(labels) { continue }
            sum += Double(parts[1]) ?? 0
        }
        return sum
    }

    /// Series stored under `match`, via the export API. (Sent over a raw socket: `URL(string:)` in the `http`
    /// helper encodes an already percent-encoded query a second time.)
    func stored(_ match: String) async throws -> Int {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "_:.-")
        let q = match.addingPercentEncoding(withAllowedCharacters: allowed) ?? match
        let port = self.port
        let (raw, _) = try await offPool { () throws -> ([UInt8], Bool) in
            let c = try RawSocket(port: port)
            c.send("GET /api/v1/export?match[]=\(q) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return c.readToClose()
        }
        let text = String(decoding: raw, as: UTF8.self)
        #expect(statusLine(raw) == "HTTP/1.1 200 OK", "export of \(match): \(text)")
        guard let split = text.range(of: "\r\n\r\n") else { return 0 }
        return text[split.upperBound...].split(separator: "\n").filter { $0.hasPrefix("{\"metric\"") }.count
    }

    func finish() {
        let alive = child.process.isRunning
        #expect(alive, "vigil serve died during the test; its log: \(child.output.suffix(3000))")
        child.stop()
        try? FileManager.default.removeItem(at: dir)
    }
}

/// A blocking loopback TCP socket; every call runs on its own thread (`offPool`), never on the concurrency pool.
final class RawSocket: @unchecked Sendable {
    let fd: Int32

    init(port: Int, receiveTimeout seconds: Int = 30) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DecodeFailure("socket failed") }
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw DecodeFailure("connect to 127.0.0.1:\(port) failed")
        }
    }

    deinit { close(fd) }

    /// Sends everything; false when the peer closed or reset first.
    @discardableResult
    func send(_ data: [UInt8]) -> Bool {
        data.withUnsafeBytes { p in
            var off = 0
            while off < p.count {
                let n = Glibc.send(fd, p.baseAddress! + off, p.count - off, Int32(MSG_NOSIGNAL))
                if n <= 0 { return false }
                off += n
            }
            return true
        }
    }

    func send(_ s: String) -> Bool { send(Array(s.utf8)) }

    /// Reads until the peer closes (or the receive timeout passes): what arrived and whether it was a close.
    func readToClose() -> (bytes: [UInt8], closed: Bool) {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n == 0 { return (out, true) }
            if n < 0 { return (out, errno == ECONNRESET) }
            out += buf[0..<n]
        }
    }

    /// Reads one answer head (up to the blank line).
    func readHead() -> String {
        var out: [UInt8] = []
        var b: UInt8 = 0
        while recv(fd, &b, 1, 0) == 1 {
            out.append(b)
            if out.count >= 4 && out.suffix(4) == [13, 10, 13, 10] { break }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

func offPool<T: Sendable>(_ f: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        Thread {
            do { c.resume(returning: try f()) } catch { c.resume(throwing: error) }
        }.start()
    }
}

func statusLine(_ bytes: [UInt8]) -> String {
    String(decoding: bytes.prefix(while: { $0 != 13 }), as: UTF8.self)
}

func chunk(_ bytes: [UInt8]) -> [UInt8] {
    Array(String(bytes.count, radix: 16).utf8) + [13, 10] + bytes + [13, 10]
}

/// Regressions for the hostile-client probes of `vigil serve` (issue 16, rows 7–10), each against the real binary.
@Suite("Connection hygiene (real vigil serve)", .serialized)
struct ConnectionHygieneTests {
    /// Row 7: uploads that declare a body and stall held every ingestion slot. The body deadline cuts them
    /// (408, connection closed), their slots come back and other writes succeed.
    @Test(.timeLimit(.minutes(2)))
    func stalledUploadsAreCutByTheBodyTimeout() async throws {
        let s = try await ServeProcess(["--http-body-timeout", "1", "--max-inflight-requests", "4"])
        defer { s.finish() }
        let port = s.port
        let stalled = try await offPool {
            try (0..<4).map { _ -> RawSocket in
                let c = try RawSocket(port: port)
                c.send("POST /api/v1/import/prometheus HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nx")
                return c
            }
        }
        // Each stalled upload is answered 408 and closed by the server, within a generous bound.
        for c in stalled {
            let (bytes, closed) = try await offPool { c.readToClose() }
            #expect(closed, "a stalled upload's connection was not closed by the server")
            #expect(statusLine(bytes) == "HTTP/1.1 408 Request Timeout", "got \(statusLine(bytes))")
        }
        // Slots are free again: a write is acknowledged and stored.
        let ok = try await eventually(20, "a write to be accepted after the stalled uploads were cut") { () async throws -> Int? in
            let a = try await http("POST", s.base + "/api/v1/import/prometheus",
                                   headers: ["Content-Type": "text/plain"], body: Data("after_stall 1\n".utf8))
            return a.status == 204 ? a.status : nil
        }
        #expect(ok == 204)
        #expect(try await s.stored("after_stall") == 1)
        #expect(try await s.metric("vigil_http_connections_closed_total", "reason=\"body_timeout\"") >= 4)
        #expect(try await s.stored("{__name__=~\".+\",__name__!~\"after_stall\"}") == 0, "a cut upload wrote something")
    }

    /// Row 8: idle sockets were never closed. A keep-alive connection after its answer, a connection that never
    /// sends anything, and one that sends half a request head are all closed by the server.
    @Test(.timeLimit(.minutes(2)))
    func idleAndSlowHeaderConnectionsAreClosed() async throws {
        let s = try await ServeProcess(["--http-idle-timeout", "1", "--http-header-timeout", "1"])
        defer { s.finish() }
        let port = s.port
        let (head, idleClosed) = try await offPool { () throws -> (String, Bool) in
            let c = try RawSocket(port: port)
            c.send("GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
            let head = c.readHead()
            var body = [UInt8](repeating: 0, count: 64)
            _ = recv(c.fd, &body, body.count, 0)
            return (head, c.readToClose().closed)
        }
        #expect(head.hasPrefix("HTTP/1.1 200"), "got \(head)")
        #expect(idleClosed, "an idle keep-alive connection was not closed")
        let silentClosed = try await offPool { try RawSocket(port: port).readToClose().closed }
        #expect(silentClosed, "a connection that never sent a byte was not closed")
        let (partial, partialClosed) = try await offPool { () throws -> ([UInt8], Bool) in
            let c = try RawSocket(port: port)
            c.send("GET /-/healthy HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            return c.readToClose()
        }
        #expect(partialClosed)
        #expect(statusLine(partial) == "HTTP/1.1 408 Request Timeout", "got \(statusLine(partial))")
        #expect(try await s.metric("vigil_http_connections_closed_total", "reason=\"idle_timeout\"") >= 1)
        #expect(try await s.metric("vigil_http_connections_closed_total", "reason=\"header_timeout\"") >= 2)
        #expect(try await http("GET", s.base + "/-/healthy").status == 200)
    }

    /// Row 8: more open connections than the cap. Silent connections make room for new ones (the oldest is
    /// closed) so /-/healthy answers at once; when every connection is busy a new one gets 503, and the cap is
    /// logged.
    @Test(.timeLimit(.minutes(2)))
    func connectionCapKeepsHealthAnswering() async throws {
        let s = try await ServeProcess(["--max-connections", "16", "--http-header-timeout", "60"])
        defer { s.finish() }
        let port = s.port
        let idle = try await offPool { try (0..<40).map { _ in try RawSocket(port: port) } }
        let healthy = try await http("GET", s.base + "/-/healthy")
        #expect(healthy.status == 200)
        #expect(try await s.metric("vigil_http_connections_closed_total", "reason=\"evicted\"") >= 24)
        #expect(try await s.metric("vigil_http_connections") <= 16)
        _ = idle
        // Every slot busy with a request head in progress: a new connection is refused with 503.
        let busy = try await offPool { () throws -> [RawSocket] in
            try (0..<16).map { _ in
                let c = try RawSocket(port: port)
                c.send("GET /-/healthy HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                return c
            }
        }
        // A busy connection whose bytes the server had not read yet counted as silent and may have been evicted
        // for a later one (on a loaded machine): top the busy set up until a new connection is refused.
        var extra: [RawSocket] = []
        var refused: HTTPAnswer?
        for _ in 0..<40 where refused == nil {
            if let a = try? await http("GET", s.base + "/-/healthy"), a.status == 503 {
                refused = a
                break
            }
            extra.append(try await offPool {
                let c = try RawSocket(port: port)
                c.send("GET /-/healthy HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                return c
            })
            try await Task.sleep(for: .milliseconds(100))
        }
        let refusal = try #require(refused, "no connection over the cap was refused")
        for c in extra { shutdown(c.fd, Int32(SHUT_RDWR)) }
        #expect(refusal.text.contains("too many open connections"))
        #expect(refusal.header("Retry-After") != nil)
        for c in busy { shutdown(c.fd, Int32(SHUT_RDWR)) }
        let back = try await eventually(20, "/-/healthy after the busy connections closed") { () async throws -> Int? in
            let a = try? await http("GET", s.base + "/-/healthy")
            return a?.status == 200 ? 200 : nil
        }
        #expect(back == 200)
        #expect(s.child.output.contains("HTTP connection cap reached"))
        #expect(try await s.metric("vigil_http_connections_closed_total", "reason=\"over_cap\"") >= 1)
    }

    /// Row 8 as probed: more idle sockets than the process may open (`ulimit -n 512`, hard limit too, so it
    /// cannot be raised). The cap derived from the limit keeps descriptors free and /-/healthy answers.
    @Test(.timeLimit(.minutes(2)))
    func moreSocketsThanTheOpenFileLimit() async throws {
        let s = try await ServeProcess(["--http-header-timeout", "60"], openFileLimit: 512)
        defer { s.finish() }
        #expect(s.child.output.contains("open_file_limit=512"), "log: \(s.child.output.suffix(2000))")
        let port = s.port
        let sockets = try await offPool { try (0..<600).map { _ in try RawSocket(port: port) } }
        let healthy = try await eventually(20, "/-/healthy with 600 sockets open") { () async throws -> Int? in
            let a = try? await http("GET", s.base + "/-/healthy")
            return a?.status == 200 ? 200 : nil
        }
        #expect(healthy == 200)
        #expect(try await s.metric("vigil_http_connections_max") == 256)
        #expect(try await s.metric("vigil_http_connections") <= 256)
        #expect(try await s.metric("vigil_http_connections_closed_total", "reason=\"evicted\"") >= 300)
        let write = try await http("POST", s.base + "/api/v1/import/prometheus", headers: ["Content-Type": "text/plain"],
                                   body: Data("under_ulimit 1\n".utf8))
        #expect(write.status == 204)
        _ = sockets
    }

    /// Row 9: chunked bodies were not counted against --max-inflight-bytes while read, and one over
    /// --max-body-bytes got 400. Now: 503 + Retry-After over the in-flight budget, 413 over the body limit,
    /// nothing written; a chunked body within bounds is stored.
    @Test(.timeLimit(.minutes(2)))
    func chunkedBodiesObeyBothBudgets() async throws {
        let s = try await ServeProcess(["--max-inflight-bytes", "1048576", "--max-body-bytes", "4194304"])
        defer { s.finish() }
        let port = s.port
        let head = "POST /api/v1/import/prometheus HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        let part = chunk(Array(repeating: UInt8(ascii: "#"), count: 64 << 10))
        // A holds 1.5 MiB of an unfinished chunked body; B's chunked body then passes the 1 MiB budget.
        let holder = try await offPool { () throws -> RawSocket in
            let a = try RawSocket(port: port)
            a.send(head)
            for _ in 0..<24 { a.send(part) }
            return a
        }
        _ = try await eventually(20, "the first upload's bytes to be held") { () async throws -> Bool? in
            try await s.metric("vigil_inflight_bytes") >= Double(1 << 20) ? true : nil
        }
        let (overBudget, _) = try await offPool { () throws -> ([UInt8], Bool) in
            let b = try RawSocket(port: port)
            b.send(head)
            for _ in 0..<24 where b.send(part) {}
            return b.readToClose()
        }
        let budgetAnswer = String(decoding: overBudget, as: UTF8.self)
        #expect(statusLine(overBudget) == "HTTP/1.1 503 Service Unavailable", "got \(statusLine(overBudget))")
        #expect(budgetAnswer.contains("Retry-After: 1"))
        shutdown(holder.fd, Int32(SHUT_RDWR))
        // The holder's bytes are released once the server sees its connection end (not at once under load).
        _ = try await eventually(20, "the first upload's bytes to be released") { () async throws -> Bool? in
            try await s.metric("vigil_inflight_bytes") == 0 ? true : nil
        }
        // Over --max-body-bytes: 413, whatever the framing.
        let (tooLarge, _) = try await offPool { () throws -> ([UInt8], Bool) in
            let c = try RawSocket(port: port)
            c.send(head)
            for _ in 0..<80 where c.send(part) {}
            return c.readToClose()
        }
        #expect(statusLine(tooLarge) == "HTTP/1.1 413 Payload Too Large" || statusLine(tooLarge) == "HTTP/1.1 413 Content Too Large",
                "got \(statusLine(tooLarge))")
        #expect(try await s.metric("vigil_rejected_requests_total", "reason=\"too_large\"") >= 1)
        #expect(try await s.metric("vigil_rejected_requests_total", "reason=\"overloaded\"") >= 1)
        // The budget is free again and a chunked body within bounds is stored.
        let (okAnswer, _) = try await offPool { () throws -> ([UInt8], Bool) in
            let c = try RawSocket(port: port)
            c.send(head.replacingOccurrences(of: "Host: x\r\n", with: "Host: x\r\nConnection: close\r\n"))
            c.send(chunk(Array("chunked_ok{part=\"1\"} 1\n".utf8)))
            c.send(chunk(Array("chunked_ok{part=\"2\"} 2\n".utf8)))
            c.send("0\r\n\r\n")
            return c.readToClose()
        }
        #expect(statusLine(okAnswer) == "HTTP/1.1 204 No Content", "got \(statusLine(okAnswer))")
        #expect(try await s.stored("chunked_ok") == 2)
        #expect(try await s.stored("{__name__=~\".+\",__name__!=\"chunked_ok\"}") == 0)
        _ = try await eventually(20, "in-flight bytes back to 0") { () async throws -> Bool? in
            try await s.metric("vigil_inflight_bytes") == 0 ? true : nil
        }
    }

    /// Row 10: Pushgateway path labels bypassed the label limits. A 10,000-byte `job`, 64 grouping labels under
    /// a 64-label limit, and a body whose labels plus the path's pass the limit are all 400 and store nothing.
    @Test(.timeLimit(.minutes(2)))
    func pushgatewayPathLabelsObeyTheLabelLimits() async throws {
        let s = try await ServeProcess([])
        defer { s.finish() }
        let longJob = String(repeating: "j", count: 10_000)
        let a = try await http("PUT", s.base + "/metrics/job/\(longJob)", headers: ["Content-Type": "text/plain"],
                               body: Data("pg 1\n".utf8))
        #expect(a.status == 400)
        #expect(a.text.contains("grouping label \"job\"") && a.text.contains("10000 bytes"), "got \(a.text)")
        var path = "/metrics/job/j"
        for i in 0..<63 { path += "/l\(i)/v" }
        let b = try await http("PUT", s.base + path, headers: ["Content-Type": "text/plain"], body: Data("pg 1\n".utf8))
        #expect(b.status == 400, "64 grouping labels plus __name__ must pass the 64-label limit; got \(b.status) \(b.text)")
        var merged = "/metrics/job/j"
        for i in 0..<40 { merged += "/p\(i)/v" }
        let bodyLabels = (0..<30).map { "b\($0)=\"v\"" }.joined(separator: ",")
        let c = try await http("PUT", s.base + merged, headers: ["Content-Type": "text/plain"],
                               body: Data("pg{\(bodyLabels)} 1\n".utf8))
        #expect(c.status == 400, "labels of the body plus the path over the limit; got \(c.status) \(c.text)")
        #expect(c.text.contains("exceed the limit of 64"), "got \(c.text)")
        #expect(try await s.stored("pg") == 0)
        let ok = try await http("PUT", s.base + "/metrics/job/fine/instance/a", headers: ["Content-Type": "text/plain"],
                                body: Data("pg 1\n".utf8))
        #expect(ok.status == 200)
        #expect(try await s.stored("pg") == 1)
    }

    /// Row 10: StatsD datagrams were cut at 2,048 bytes and dropped without a word. A 56 KB datagram is now read
    /// whole (its last metric is stored after the flush) and counted; a malformed one is counted and logged.
    @Test(.timeLimit(.minutes(2)))
    func bigStatsDDatagramsAreReadWholeAndCounted() async throws {
        let udpPort = freePort()
        let s = try await ServeProcess(["--statsd-listen", ":\(udpPort)"])
        defer { s.finish() }
        #expect(s.child.output.contains("127.0.0.1:\(udpPort)"), "a bare :PORT for StatsD must bind loopback")
        var lines: [String] = []
        var size = 0
        var i = 0
        while size < 56_000 {
            let l = "big_statsd_\(i):\(i)|g"
            lines.append(l)
            size += l.utf8.count + 1
            i += 1
        }
        let last = "big_statsd_\(i - 1)"
        let datagram = Array(lines.joined(separator: "\n").utf8)
        let malformed = Array((lines.dropLast().joined(separator: "\n") + "\nnot a statsd line").utf8)
        try sendUDP(port: udpPort, datagram)
        try sendUDP(port: udpPort, malformed)
        _ = try await eventually(20, "both datagrams to be counted") { () async throws -> Bool? in
            let ok = try await s.metric("vigil_statsd_datagrams_total", "result=\"ok\"")
            let bad = try await s.metric("vigil_statsd_datagrams_total", "result=\"malformed\"")
            return ok >= 1 && bad >= 1 ? true : nil
        }
        #expect(try await s.metric("vigil_statsd_datagram_bytes_total") >= Double(datagram.count))
        #expect(s.child.output.contains("statsd datagram rejected"), "a malformed datagram must be logged")
        // The default flush interval is 10 s; the datagram's last metric is stored whole.
        let stored = try await eventually(40, "the datagram's last metric to be stored") { () async throws -> Int? in
            let n = try await s.stored(last)
            return n == 1 ? n : nil
        }
        #expect(stored == 1)
    }

    /// A request refused before its body was read (401 here) is answered, the rest of the body is not drained:
    /// the client reads the answer and the server closes the connection soon after.
    @Test(.timeLimit(.minutes(2)))
    func refusedUploadIsAnsweredAndClosed() async throws {
        let token = try tempFile("s3cret\n")
        defer { try? FileManager.default.removeItem(atPath: token) }
        let s = try await ServeProcess(["--auth-token-file", token])
        defer { s.finish() }
        let port = s.port
        let (answer, closed) = try await offPool { () throws -> ([UInt8], Bool) in
            let c = try RawSocket(port: port)
            c.send("POST /api/v1/import/prometheus HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 10485760\r\n\r\n")
            c.send(Array(repeating: UInt8(ascii: "#"), count: 1024))
            return c.readToClose()
        }
        #expect(statusLine(answer) == "HTTP/1.1 401 Unauthorized", "got \(statusLine(answer))")
        #expect(closed, "the connection of a refused upload was not closed")
        #expect(try await http("GET", s.base + "/-/healthy").status == 200)
    }

    /// Graphite and StatsD listeners: a bare `:PORT` is loopback; HTTP's `:PORT` stays all interfaces.
    @Test func plaintextListenersDefaultToLoopback() throws {
        #expect(try ListenAddress(parsing: ":2003", bareHost: "127.0.0.1") == ListenAddress(host: "127.0.0.1", port: 2003))
        #expect(try ListenAddress(parsing: ":9470") == ListenAddress(host: "0.0.0.0", port: 9470))
        #expect(try ListenAddress(parsing: ":2003", bareHost: "127.0.0.1").isLoopback)
        #expect(try ListenAddress(parsing: "[::1]:2003").isLoopback)
        #expect(!(try ListenAddress(parsing: "0.0.0.0:2003").isLoopback))
    }

    /// One mapping from errors to statuses for every endpoint.
    @Test func failuresMapToOneStatusEach() {
        #expect(HTTPFailure(IngestError(.tooLarge, "too many points"), decoding: "OTLP").status == .contentTooLarge)
        #expect(HTTPFailure(IngestError(.unsupported, "gzip"), decoding: "OTLP").status == .unsupportedMediaType)
        #expect(HTTPFailure(IngestError(.syntax, "bad"), decoding: "text").status == .badRequest)
        #expect(HTTPFailure(DecodeFailure("line 3: bad"), decoding: "text").description == "cannot decode text: line 3: bad")
        #expect(HTTPFailure(WriteRefusal.invalid("x")).status == .badRequest)
        #expect(HTTPFailure(WriteRefusal.storage("disk")).status == .internalServerError)
        #expect(HTTPFailure.overloaded.status == .serviceUnavailable)
        #expect(HTTPFailure.overloaded.headers(retryAfter: 3)[.retryAfter] == "3")
        #expect(HTTPFailure.bodyTooLarge(declared: 10, limit: 5).status == .contentTooLarge)
        #expect(HTTPFailure.bodyTooLarge(declared: nil, limit: 5).rejectReason == "too_large")
    }
}

func sendUDP(port: Int, _ bytes: [UInt8]) throws {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { throw DecodeFailure("socket failed") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    let n = bytes.withUnsafeBytes { p in
        withUnsafePointer(to: &addr) { a in
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, p.baseAddress, p.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }
    guard n == bytes.count else { throw DecodeFailure("sendto sent \(n) of \(bytes.count) bytes") }
}
