import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hummingbird
import Logging
import Testing
import VigilCore
import VigilDaemon
import VigilEngine
import VigilSim

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

func tempDir(_ tag: String) throws -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-daemon-\(tag)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}

let quietLogger: Logger = {
    var l = Logger(label: "vigil-daemon-test")
    l.logLevel = .critical
    return l
}()

/// A policy that scales `svc` on utilisation 0.5 with HPA's rule, deciding every 15 s.
func hpaPolicy(mode: PolicyMode = .auto, max: Int = 10) -> GroupPolicy {
    var p = GroupPolicy.hpaDefaults(target: 0.5, min: 1, max: max)
    p.mode = mode
    p.interval = .seconds(15)
    return p
}

/// An HTTP request over 127.0.0.1: status and body.
func request(_ method: String, _ url: String) async throws -> (Int, String) {
    var req = URLRequest(url: URL(string: url)!)
    req.httpMethod = method
    req.timeoutInterval = 30
    let (d, r) = try await URLSession.shared.data(for: req)
    return ((r as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: d, as: UTF8.self))
}

func jsonObject(_ s: String) throws -> [String: Any] {
    guard let o = try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any] else { throw TestFailure("not a JSON object: \(s)") }
    return o
}


/// The daemon's HTTP listener for `runner` on an ephemeral 127.0.0.1 port (no engine loop: tests step by hand).
final class TestListener: Sendable {
    let task: Task<Void, any Error>
    let base: String

    init(task: Task<Void, any Error>, base: String) {
        self.task = task
        self.base = base
    }

    static func start(router: Router<BasicRequestContext>) async throws -> TestListener {
        let (stream, cont) = AsyncStream<Int>.makeStream()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { ch in cont.yield(ch.localAddress?.port ?? 0) }, logger: quietLogger)
        let task = Task { try await app.run() }
        var port = 0
        for await p in stream { port = p; break }
        return TestListener(task: task, base: "http://127.0.0.1:\(port)")
    }

    func stop() async {
        task.cancel()
        _ = await task.result
    }
}
