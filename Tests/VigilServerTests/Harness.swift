import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import Testing
import VigilCore
import VigilStore
@testable import VigilServer
@testable import VigilIngestPath
@testable import VigilOnline
import VigilCollectors

/// A VigilServer on 127.0.0.1 with an ephemeral port, stopped by `stop()`.
final class TestServer: Sendable {
    let server: VigilServer
    let store: any SampleAppender & SeriesReader
    let port: Int
    let task: Task<Void, any Error>
    let dir: URL

    var base: String { "http://127.0.0.1:\(port)" }

    static func start(options: ServerOptions = ServerOptions(), decoders: IngestDecoders? = nil,
                      configure: @Sendable (VigilServer) -> Void = { _ in }) async throws -> TestServer {
        var opts = options
        opts.listen = ListenAddress(host: "127.0.0.1", port: 0)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-server-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let store = try TestStore.open(dir: dir)
        var logger = Logger(label: "vigil-test")
        logger.logLevel = .critical
        let server = VigilServer(options: opts, appender: store, reader: store,
                                 decoders: decoders ?? StoreWiring.decoders(limits: opts.limits), logger: logger)
        // The collectors the options ask for, each a loop of the server, as `vigil serve` wires them (ServeCommand).
        for c in Collectors.loops(config: opts.config, graphite: opts.graphiteListen, statsd: opts.statsdListen,
                                  statsdFlushInterval: opts.statsdFlushInterval, ingestor: server.ingestor,
                                  decoders: server.decoders, logger: logger, clock: opts.clock) {
            server.addLoop(c.name, c.run)
        }
        configure(server)
        let (stream, cont) = AsyncStream<Int>.makeStream()
        let task = Task { try await server.run { port in cont.yield(port) } }
        var port = 0
        for await p in stream { port = p; break }
        return TestServer(server: server, store: store, port: port, task: task, dir: dir)
    }

    init(server: VigilServer, store: any SampleAppender & SeriesReader, port: Int, task: Task<Void, any Error>, dir: URL) {
        self.server = server
        self.store = store
        self.port = port
        self.task = task
        self.dir = dir
    }

    func stop() async {
        task.cancel()
        _ = await task.result
        try? (store as? TSDB)?.close()
        try? FileManager.default.removeItem(at: dir)
    }

    /// Every sample in the store (all series, all time).
    func everything() throws -> [SeriesSamples] {
        try store.select([try LabelMatcher(.regexMatch, "__name__", ".+")], mint: .min, maxt: .max)
    }

    func sampleCount() throws -> Int { try everything().reduce(0) { $0 + $1.count } }
}

extension VigilServer {
    /// The online model loop for `config`, run as one of this server's loops: what `vigil serve` wires for a
    /// `forecast:` section (ServeCommand), for tests that start a server in-process.
    @discardableResult
    func enableOnlineForecaster(_ config: ForecastConfig, appender: any SampleAppender) throws -> OnlineModelLoop {
        let loop = try OnlineModelLoop.make(config, reader: reader, appender: appender, clock: options.clock,
                                            metrics: metrics, logger: logger)
        addLoop("online forecaster") { await loop.run() }
        return loop
    }
}

/// The store tests run against: the real SQLite store in a temp dir, fsync per append.
enum TestStore {
    static func open(dir: URL) throws -> any SampleAppender & SeriesReader {
        var o = TSDBOptions()
        o.retention = 0
        o.maintenanceInterval = nil
        return try TSDB(directory: dir.path, options: o)
    }
}

struct HTTPAnswer: Sendable {
    let status: Int
    let headers: [String: String]
    let body: Data
    var text: String { String(decoding: body, as: UTF8.self) }
    /// The error message: the text body, or `message` of an Influx-style JSON body.
    var message: String {
        if header("Content-Type")?.hasPrefix("application/json") == true,
           let j = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let m = j["message"] as? String {
            return m
        }
        return text
    }
    func header(_ name: String) -> String? {
        headers.first { $0.key.lowercased() == name.lowercased() }?.value
    }
}

/// A plain HTTP/1.1 request over a loopback socket, sending exactly the given headers (URLSession would add a
/// Content-Type of its own). Blocking I/O runs on its own thread, off the concurrency pool the server uses.
func http(_ method: String, _ url: String, headers: [String: String] = [:], body: Data? = nil) async throws -> HTTPAnswer {
    let u = URL(string: url)!
    let port = u.port ?? 80
    var target = u.path.isEmpty ? "/" : u.path
    if let q = u.query { target += "?" + q }
    var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
    for (k, v) in headers { head += "\(k): \(v)\r\n" }
    if let body { head += "Content-Length: \(body.count)\r\n" } else if method == "POST" || method == "PUT" { head += "Content-Length: 0\r\n" }
    head += "\r\n"
    var request = Data(head.utf8)
    if let body { request += body }
    let raw: Data = try await withCheckedThrowingContinuation { (c: CheckedContinuation<Data, any Error>) in
        let req = request
        Thread {
            do { c.resume(returning: try rawExchange(port: port, request: req)) } catch { c.resume(throwing: error) }
        }.start()
    }
    guard let split = raw.range(of: Data("\r\n\r\n".utf8)) else { throw DecodeFailure("no HTTP header in answer") }
    let headText = String(decoding: raw[..<split.lowerBound], as: UTF8.self)
    var lines = headText.components(separatedBy: "\r\n")
    let status = Int(lines.removeFirst().split(separator: " ")[1])!
    var hs: [String: String] = [:]
    for l in lines {
        if let c = l.firstIndex(of: ":") { hs[String(l[..<c])] = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces) }
    }
    var bodyData = Data(raw[split.upperBound...])
    if hs.first(where: { $0.key.lowercased() == "transfer-encoding" })?.value.lowercased() == "chunked" {
        bodyData = dechunk(bodyData)
    }
    return HTTPAnswer(status: status, headers: hs, body: bodyData)
}

private func dechunk(_ d: Data) -> Data {
    var out = Data()
    var rest = d[...]
    while let nl = rest.range(of: Data("\r\n".utf8)) {
        let size = Int(String(decoding: rest[..<nl.lowerBound], as: UTF8.self).split(separator: ";")[0], radix: 16) ?? 0
        if size == 0 { break }
        let start = nl.upperBound
        out += rest[start..<(start + size)]
        rest = rest[(start + size + 2)...]
    }
    return out
}

private func rawExchange(port: Int, request: Data) throws -> Data {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw DecodeFailure("socket failed") }
    defer { close(fd) }
    var tv = timeval(tv_sec: 30, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    let rc = withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard rc == 0 else { throw DecodeFailure("connect to 127.0.0.1:\(port) failed") }
    try request.withUnsafeBytes { (p: UnsafeRawBufferPointer) in
        var off = 0
        while off < p.count {
            let n = send(fd, p.baseAddress! + off, p.count - off, Int32(MSG_NOSIGNAL))
            if n <= 0 { break }  // the server may answer (413) and close before reading everything
            off += n
        }
    }
    var out = Data()
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buf, buf.count, 0)
        if n <= 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return out
}

func tempFile(_ contents: String) throws -> String {
    let p = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-test-\(UUID().uuidString)").path
    try contents.write(toFile: p, atomically: true, encoding: .utf8)
    return p
}
