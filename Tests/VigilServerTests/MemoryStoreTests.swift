import Foundation
import Testing
import VigilCore
import VigilServer
import VigilStore

/// `--data :memory:` answers selections exactly as the real store does, whatever the matchers on `__name__` (the
/// in-memory store looks only at the series of the names those matchers accept).
@Suite struct MemoryStoreTests {
    @Test func selectionsEqualTheRealStore() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-memstore-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let disk = try TestStore.open(dir: dir)
        let mem = MemoryStore()
        var batch: [SeriesSamples] = []
        for name in ["up", "node_load1", "node_cpu_seconds_total", "vigil_forecast"] {
            for i in 0..<6 {
                var s = SeriesSamples(labels: Labels([("__name__", name), ("instance", "h\(i)"), ("job", i % 2 == 0 ? "node" : "vm")]))
                for k in 0..<5 { s.append(1_000 + Int64(k) * 15_000, Double(i * 10 + k)) }
                batch.append(s)
            }
        }
        _ = try await disk.append(batch)
        _ = try await mem.append(batch)
        let selectors: [[LabelMatcher]] = [
            [.equal("__name__", "up")],
            [try LabelMatcher(.regexMatch, "__name__", "node_.*|up")],
            [try LabelMatcher(.notEqual, "__name__", "up"), .equal("job", "node")],
            [try LabelMatcher(.regexNoMatch, "__name__", "node_.*"), try LabelMatcher(.regexMatch, "instance", "h[0-2]")],
            [.equal("job", "vm")],
            [try LabelMatcher(.regexMatch, "__name__", ".*"), .equal("instance", "h3")],
            [.equal("__name__", "absent")],
        ]
        for m in selectors {
            let a = try mem.select(m, mint: .min, maxt: .max)
            let b = try disk.select(m, mint: .min, maxt: .max)
            #expect(a == b, "\(m)")
            #expect(!b.isEmpty || m == [.equal("__name__", "absent")], "\(m) selects nothing in the real store")
        }
        #expect(mem.sampleCount == 4 * 6 * 5)
    }
}
