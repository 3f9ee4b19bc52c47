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

/// A `vigil serve` process on `data`, ready to answer.
private func startServe(_ exe: String, data: String, log: URL, extra: [String] = []) async throws -> (Child, String) {
    let port = freePort()
    let c = try Child(exe, ["serve", "--data", data, "--listen", "127.0.0.1:\(port)", "--log-level", "warning"] + extra, log: log)
    let base = "http://127.0.0.1:\(port)"
    _ = try await eventually(30, "vigil serve on \(base) to be ready (log: \(c.output))") { () -> Bool? in
        guard c.process.isRunning else { throw DecodeFailure("vigil serve exited: \(c.output)") }
        return (try? await http("GET", base + "/-/ready"))?.status == 200 ? true : nil
    }
    return (c, base)
}

private func waitExit(_ c: Child, _ seconds: Double) async throws {
    _ = try await eventually(seconds, "process to exit") { c.process.isRunning ? nil : true }
}

/// Issue 16 rows 1 and 5 against the real binary over real HTTP.
@Suite("store safety (real vigil serve)", .serialized,
       .enabled(if: vigilExecutable() != nil, "the vigil executable is not built next to the tests (swift build)"))
struct StoreSafetyProcessTests {
    static let text = ["Content-Type": "text/plain"]
    static let rw = ["Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
                     "X-Prometheus-Remote-Write-Version": "0.1.0"]

    func countOverTime(_ base: String, _ name: String) async throws -> Int? {
        let q = "count_over_time(\(name)[6h])".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        // Evaluated a little ahead of now, so that the samples written at now + a few seconds count.
        let at = Date().timeIntervalSince1970 + 10
        let a = try await http("GET", base + "/api/v1/query?query=" + q + "&time=\(at)")
        guard a.status == 200, let j = try JSONSerialization.jsonObject(with: a.body) as? [String: Any],
              let d = j["data"] as? [String: Any], let r = d["result"] as? [[String: Any]], let first = r.first,
              let v = first["value"] as? [Any], let s = v.last as? String else { return nil }
        return Int(Double(s) ?? -1)
    }

    @Test(.timeLimit(.minutes(3)))
    func farFutureSamplesAreRefusedAndNeitherExpireDataNorBlockLaterWrites() async throws {
        let exe = try #require(vigilExecutable())
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-future-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        var (srv, base) = try await startServe(exe, data: data, log: dir.appendingPathComponent("serve1.log"))
        defer { srv.stop() }
        let now = Int64(Date().timeIntervalSince1970 * 1000)

        // Two hours of existing data, then the attack in every careless form.
        let old = "ok_metric 1 \(now - 2 * 3_600_000)\nok_metric 2 \(now - 60_000)\n"
        #expect(try await http("POST", base + "/api/v1/import/prometheus", headers: Self.text, body: Data(old.utf8)).status == 204)
        let future = now + 20 * 86_400_000
        let t = try await http("POST", base + "/api/v1/import/prometheus", headers: Self.text,
                               body: Data("atk 1 \(future)\nok_metric 3 \(now)\n".utf8))
        #expect(t.status == 400)
        #expect(t.message.contains("atk") && t.message.contains("\(future)") && t.message.contains("ahead"), "\(t.message)")

        let rwBody = Data(RemoteWriteV1.encodeSnappy([
            SeriesSamples(labels: Labels(["__name__": "ok_metric"]), timestamps: [now], values: [3]),
            SeriesSamples(labels: Labels(["__name__": "rw_atk", "job": "x"]), timestamps: [future], values: [1]),
        ]))
        let r = try await http("POST", base + "/api/v1/write", headers: Self.rw, body: rwBody)
        #expect(r.status == 400)
        #expect(r.message.contains("rw_atk") && r.message.contains("\(future)"), "\(r.message)")

        // Influx nanoseconds sent as milliseconds.
        let i = try await http("POST", base + "/write?precision=ms", headers: Self.text,
                               body: Data("influx_atk value=1 \(now * 1_000_000)\n".utf8))
        #expect(i.status == 400)
        #expect(i.message.contains("influx_atk"), "\(i.message)")

        // Nothing of the refused batches went in; later writes succeed; the old data is all there.
        #expect(try await countOverTime(base, "ok_metric") == 2)
        let later = try await http("POST", base + "/api/v1/import/prometheus", headers: Self.text,
                                   body: Data("ok_metric 4 \(now + 1000)\n".utf8))
        #expect(later.status == 204, "\(later.text)")
        #expect(try await countOverTime(base, "ok_metric") == 3)
        let labels = try await http("GET", base + "/api/v1/label/__name__/values").text
        #expect(!labels.contains("atk"), "\(labels)")

        // And after a restart.
        srv.stop()
        (srv, base) = try await startServe(exe, data: data, log: dir.appendingPathComponent("serve2.log"))
        let again = try await http("POST", base + "/api/v1/write", headers: Self.rw, body: Data(RemoteWriteV1.encodeSnappy([
            SeriesSamples(labels: Labels(["__name__": "ok_metric"]), timestamps: [now + 2000], values: [5]),
        ])))
        #expect(again.status == 204, "\(again.text)")
        #expect(try await countOverTime(base, "ok_metric") == 4)
    }

    @Test(.timeLimit(.minutes(3)))
    func aSecondServerOnTheSameDirectoryFailsNamingTheHolderUntilItIsKilled() async throws {
        let exe = try #require(vigilExecutable())
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-lock-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data").path
        let (first, base) = try await startServe(exe, data: data, log: dir.appendingPathComponent("first.log"))
        defer { first.stop() }
        let pid = first.process.processIdentifier
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(try await http("POST", base + "/api/v1/import/prometheus", headers: Self.text,
                               body: Data("acked 7 \(now)\n".utf8)).status == 204)

        let second = try Child(exe, ["serve", "--data", data, "--listen", "127.0.0.1:\(freePort())"],
                               log: dir.appendingPathComponent("second.log"))
        defer { second.stop() }
        try await waitExit(second, 30)
        #expect(second.process.terminationStatus != 0)
        #expect(second.output.contains(data) && second.output.contains("PID \(pid)"), "\(second.output)")

        let repair = try Child(exe, ["tsdb", "repair", "--data", data], log: dir.appendingPathComponent("repair.log"))
        try await waitExit(repair, 30)
        #expect(repair.process.terminationStatus != 0)
        #expect(repair.output.contains("PID \(pid)"), "\(repair.output)")

        // kill -9: the kernel drops the lock; the next server opens and has the acknowledged sample.
        kill(pid, SIGKILL)
        await waitForExit(first.process)
        let (third, base3) = try await startServe(exe, data: data, log: dir.appendingPathComponent("third.log"))
        defer { third.stop() }
        #expect(try await countOverTime(base3, "acked") == 1)
    }
}
