import Foundation
import Testing
import VigilCore
import VigilDaemon
import VigilEngine

/// Cost of the durable audit, measured against a peer with the same durability (JSON lines, fsync per record).
/// A benchmark, not a check: runs only with VIGIL_BENCH=1 and prints its figures (BENCHMARKS.md).
@Suite struct AuditBenchTests {
    static var enabled: Bool { ProcessInfo.processInfo.environment["VIGIL_BENCH"] == "1" }

    static func record(_ i: Int) -> AuditRecord {
        AuditRecord(t: 1_764_806_400_000 + Int64(i) * 15_000, action: "g\(i % 50):scale_out:\(i)", kind: .scaleOut, group: "g\(i % 50)",
                    instance: nil, result: i % 3 == 0 ? .executed : .blocked, gate: i % 3 == 0 ? nil : "cooldown", from: 3, to: 5,
                    reason: "scale g 3→5: utilisation 0.93 of 3 ready vs target 0.70 (tolerance 0.10)",
                    numbers: ["current": 2.8, "target": 0.7, "ready": 3, "desired": 5], error: nil)
    }

    func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

    @Test(.enabled(if: AuditBenchTests.enabled, "benchmark: set VIGIL_BENCH=1"))
    func auditWriteAndQueryCost() throws {
        let dir = try tempDir("bench")
        defer { try? FileManager.default.removeItem(at: dir) }
        let n = 2_000
        let clock = ContinuousClock()
        let audit = try SQLiteAudit(path: dir.appendingPathComponent("audit.db").path)
        let sqliteTime = clock.measure { for i in 0..<n { audit.record(Self.record(i)) } }
        let path = dir.appendingPathComponent("audit.jsonl").path
        FileManager.default.createFile(atPath: path, contents: nil)
        let fh = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let jsonTime = try clock.measure {
            for i in 0..<n {
                var line = try enc.encode(Self.record(i))
                line.append(0x0A)
                fh.write(line)
                try fh.synchronize()
            }
        }
        try fh.close()
        print(String(format: "audit write, %d records: sqlite WAL+FULL %.3f ms/record, json-lines+fsync %.3f ms/record, ratio %.2f",
                     n, seconds(sqliteTime) * 1000 / Double(n), seconds(jsonTime) * 1000 / Double(n), seconds(sqliteTime) / seconds(jsonTime)))
        // query cost as the table grows: newest 100 of one group, and since_seq polling
        var size = n
        for target in [20_000, 200_000] {
            try audit.bulkForBenchmark(from: size, to: target, Self.record)
            size = target
            var q = AuditQuery()
            q.group = "g7"
            let t1 = clock.measure { for _ in 0..<100 { _ = try? audit.query(q) } }
            var p = AuditQuery()
            p.sinceSeq = Int64(target - 10)
            let t2 = clock.measure { for _ in 0..<100 { _ = try? audit.query(p) } }
            let t3 = clock.measure { _ = try? audit.executedActionIDs() }
            print(String(format: "audit %d rows: group query (100 rows) %.3f ms, since_seq poll %.3f ms, executed ids at start %.1f ms",
                         target, seconds(t1) * 10, seconds(t2) * 10, seconds(t3) * 1000))
        }
        audit.close()
    }
}
