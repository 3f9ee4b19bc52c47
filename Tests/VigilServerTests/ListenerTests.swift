import Foundation
import Testing
import VigilCore
import VigilIngest
@testable import VigilServer
@testable import VigilIngestPath
@testable import VigilCollectors

@Suite("Graphite and StatsD listeners") struct ListenerTests {
    @Test(.timeLimit(.minutes(1))) func graphiteLinesOverTCP() async throws {
        let store = MemoryStore()
        let metrics = SelfMetrics()
        let ing = Ingestor(appender: store, limits: SeriesLimits(), metrics: metrics)
        let l = GraphiteListener(address: ListenAddress(host: "127.0.0.1", port: 0), ingestor: ing,
                                 decoders: fixtureDecoders, logger: .init(label: "t"))
        let (stream, cont) = AsyncStream<Int>.makeStream()
        let task = Task { try await l.run { cont.yield($0) } }
        var port = 0
        for await p in stream { port = p; break }
        // Two chunks: one good (split across writes), one malformed; the malformed one writes nothing.
        try await sendTCP(port: port, [Data("ok:g1:1000:1;g2:10".utf8), Data("00:2\n".utf8), Data("garbage\n".utf8)])
        _ = try await eventually(30, "graphite samples") { () -> Bool? in store.sampleCount == 2 ? true : nil }
        _ = try await eventually(30, "malformed counted") { () -> Bool? in
            metrics.counter("vigil_rejected_samples_total", [Label("reason", "malformed")]) == 1 ? true : nil
        }
        #expect(try store.select([.equal("__name__", "g2")], mint: 0, maxt: .max).first?.samples == [Sample(1000, 2)])
        task.cancel()
        _ = await task.result
    }

    @Test func statsdAggregatesAndFlushes() async throws {
        let store = MemoryStore()
        let ing = Ingestor(appender: store, limits: SeriesLimits(), metrics: SelfMetrics())
        let decoders = IngestDecoders(
            remoteWrite: fixtureDecoders.remoteWrite, text: fixtureDecoders.text, influx: fixtureDecoders.influx,
            otlpProtobuf: fixtureDecoders.otlpProtobuf, otlpJSON: fixtureDecoders.otlpJSON, graphite: fixtureDecoders.graphite,
            statsd: { p in
                switch String(decoding: p, as: UTF8.self) {
                case "c": return [StatsDEvent(name: "app.hits", kind: .counter, value: 2, tags: [Label("env", "x")])]
                case "g": return [StatsDEvent(name: "app.temp", kind: .gauge, value: 20),
                                  StatsDEvent(name: "app.temp", kind: .gaugeDelta, value: -1.5)]
                case "t": return [StatsDEvent(name: "app.lat", kind: .timer, value: 12)]
                case "s": return [StatsDEvent(name: "app.users", kind: .set, value: 0, setMember: "u1"),
                                  StatsDEvent(name: "app.users", kind: .set, value: 0, setMember: "u1")]
                default: throw DecodeFailure("bad statsd line")
                }
            })
        let l = StatsDListener(address: ListenAddress(host: "127.0.0.1", port: 0), ingestor: ing, decoders: decoders,
                               logger: .init(label: "t"), flushInterval: .seconds(3600))
        for p in ["c", "c", "g", "t", "t", "s", "junk"] { l.receive(Array(p.utf8)) }
        await l.flush()
        func last(_ n: String) throws -> Double? { try store.select([.equal("__name__", n)], mint: 0, maxt: .max).first?.values.last }
        #expect(try last("app_hits_total") == 4)
        #expect(try store.select([.equal("__name__", "app_hits_total")], mint: 0, maxt: .max).first?.labels["env"] == "x")
        #expect(try last("app_temp") == 18.5)
        #expect(try last("app_lat_sum") == 24)
        #expect(try last("app_lat_count") == 2)
        #expect(try last("app_users") == 1)
        #expect(StatsDListener.sanitize("a.b-c/9") == "a_b_c_9")
    }
}

func sendTCP(port: Int, _ chunks: [Data]) async throws {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
        Thread {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            let rc = withUnsafePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard rc == 0 else { c.resume(throwing: DecodeFailure("connect failed")); return }
            for d in chunks {
                _ = d.withUnsafeBytes { send(fd, $0.baseAddress!, d.count, Int32(MSG_NOSIGNAL)) }
                usleep(50_000)
            }
            c.resume()
        }.start()
    }
}
