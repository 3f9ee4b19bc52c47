import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import VigilCore

/// Debian's Prometheus (the oracle and peer the tests run against; `make test` installs it).
public let prometheusPath = "/usr/bin/prometheus"
public var prometheusAvailable: Bool { FileManager.default.isExecutableFile(atPath: prometheusPath) }

public struct SupportFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// A real Prometheus on a free 127.0.0.1 port with a temporary TSDB and the remote-write receiver on; `stop()` ends
/// it (and removes the directory it made).
public final class PrometheusTestServer: @unchecked Sendable {
    public let process = Process()
    public let base: String
    private let dir: URL
    private let ownsDir: Bool

    private init(base: String, dir: URL, ownsDir: Bool) {
        self.base = base
        self.dir = dir
        self.ownsDir = ownsDir
    }

    /// Starts Prometheus with its data under `dir` (a new temporary directory when nil) and waits (bounded) until
    /// it is ready.
    public static func start(dir: URL? = nil) async throws -> PrometheusTestServer {
        let d = dir ?? FileManager.default.temporaryDirectory.appendingPathComponent("vigil-prometheus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        let config = d.appendingPathComponent("prometheus.yml")
        try "global:\n  scrape_interval: 1h\n".write(to: config, atomically: true, encoding: .utf8)
        let port = freePort()
        let s = PrometheusTestServer(base: "http://127.0.0.1:\(port)", dir: d, ownsDir: dir == nil)
        s.process.executableURL = URL(fileURLWithPath: prometheusPath)
        s.process.arguments = ["--config.file=\(config.path)", "--storage.tsdb.path=\(d.appendingPathComponent("prom").path)",
                               "--web.listen-address=127.0.0.1:\(port)", "--web.enable-remote-write-receiver", "--log.level=error"]
        s.process.standardOutput = FileHandle.nullDevice
        s.process.standardError = FileHandle.nullDevice
        try s.process.run()
        for _ in 0..<150 {
            var req = URLRequest(url: URL(string: s.base + "/-/ready")!)
            req.timeoutInterval = 5
            if let (_, r) = try? await URLSession.shared.data(for: req), (r as? HTTPURLResponse)?.statusCode == 200 { return s }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        s.stop()
        throw SupportFailure("prometheus did not become ready on \(s.base)")
    }

    public func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        if ownsDir { try? FileManager.default.removeItem(at: dir) }
    }

    /// GET `path` with query parameters ('+' encoded, as Prometheus needs).
    public func get(_ path: String, _ params: [String: String]) async throws -> Data {
        var c = URLComponents(string: base + path)!
        c.queryItems = params.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        c.percentEncodedQuery = c.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        var req = URLRequest(url: c.url!)
        req.timeoutInterval = 30
        let (d, _) = try await URLSession.shared.data(for: req)
        return d
    }

    /// One remote_write 1.0 request with `series`.
    public func remoteWrite(_ series: [SeriesSamples]) async throws {
        var req = URLRequest(url: URL(string: base + "/api/v1/write")!)
        req.httpMethod = "POST"
        req.setValue("snappy", forHTTPHeaderField: "Content-Encoding")
        req.setValue("application/x-protobuf", forHTTPHeaderField: "Content-Type")
        req.setValue("0.1.0", forHTTPHeaderField: "X-Prometheus-Remote-Write-Version")
        req.httpBody = RemoteWriteEncoder.snappyLiteral(RemoteWriteEncoder.writeRequest(series))
        req.timeoutInterval = 60
        let (d, r) = try await URLSession.shared.data(for: req)
        let code = (r as? HTTPURLResponse)?.statusCode ?? 0
        if code / 100 != 2 { throw SupportFailure("remote_write: HTTP \(code): \(String(decoding: d, as: UTF8.self))") }
    }

    /// Waits (bounded) until Prometheus lists at least `count` series.
    public func waitForSeries(count: Int) async throws {
        for _ in 0..<50 {
            let d = try await get("/api/v1/series", ["match[]": "{__name__=~\".+\"}", "start": "0", "end": "2000000000"])
            if let o = try? JSONSerialization.jsonObject(with: d) as? [String: Any], let a = o["data"] as? [Any], a.count >= count {
                return
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        throw SupportFailure("prometheus does not show the written series")
    }
}

/// remote_write 1.0 bodies: protobuf WriteRequest, snappy block format (literal-only, valid for any decoder).
public enum RemoteWriteEncoder {
    static func varint(_ v: UInt64, _ out: inout [UInt8]) {
        var x = v
        while x >= 0x80 {
            out.append(UInt8(x & 0x7F) | 0x80)
            x >>= 7
        }
        out.append(UInt8(x))
    }

    static func lengthDelimited(_ field: UInt64, _ payload: [UInt8], _ out: inout [UInt8]) {
        varint(field << 3 | 2, &out)
        varint(UInt64(payload.count), &out)
        out += payload
    }

    public static func writeRequest(_ series: [SeriesSamples]) -> [UInt8] {
        var out: [UInt8] = []
        for s in series {
            var ts: [UInt8] = []
            for l in s.labels {
                var lb: [UInt8] = []
                lengthDelimited(1, Array(l.name.utf8), &lb)
                lengthDelimited(2, Array(l.value.utf8), &lb)
                lengthDelimited(1, lb, &ts)
            }
            for i in 0..<s.count {
                var sb: [UInt8] = []
                varint(1 << 3 | 1, &sb)
                withUnsafeBytes(of: s.values[i].bitPattern.littleEndian) { sb += $0 }
                varint(2 << 3 | 0, &sb)
                varint(UInt64(bitPattern: s.timestamps[i]), &sb)
                lengthDelimited(2, sb, &ts)
            }
            lengthDelimited(1, ts, &out)
        }
        return out
    }

    public static func snappyLiteral(_ data: [UInt8]) -> Data {
        var out: [UInt8] = []
        varint(UInt64(data.count), &out)
        var i = 0
        while i < data.count {
            let n = min(65536, data.count - i)
            let l = n - 1
            if l < 60 {
                out.append(UInt8(l << 2))
            } else if l < 256 {
                out.append(60 << 2)
                out.append(UInt8(l))
            } else {
                out.append(61 << 2)
                out.append(UInt8(l & 0xFF))
                out.append(UInt8(l >> 8))
            }
            out += data[i..<(i + n)]
            i += n
        }
        return Data(out)
    }
}
