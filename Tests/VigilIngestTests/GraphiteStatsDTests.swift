import Foundation
import Testing
import VigilCore
import VigilIngest

@Suite struct GraphiteTests {
    @Test func parsesPlainAndTagged() throws {
        let text = """
        servers.web-1.cpu.load 0.42 1700000000
        servers.web-1.cpu.load\t0.5\t1700000060
        disk.used;host=web-1;mount=/var 1.5e9 1700000000.250
        no.timestamp 7
        now.marker 8 -1

        """
        let r = try Graphite.parse(Array(text.utf8), defaultTimestamp: 99)
        #expect(r.series.count == 4)
        #expect(r.series[0].labels == Labels(["__name__": "servers_web_1_cpu_load"]))
        #expect(r.series[0].samples == [Sample(1_700_000_000_000, 0.42), Sample(1_700_000_060_000, 0.5)])
        #expect(r.series[1].labels == Labels(["__name__": "disk_used", "host": "web-1", "mount": "/var"]))
        #expect(r.series[1].samples == [Sample(1_700_000_000_250, 1.5e9)])
        #expect(r.series[2].timestamps == [99] && r.series[3].timestamps == [99])
        #expect(r.stats.samples == 5)
    }

    @Test(arguments: [
        ("missing value", "a.b\n", IngestError.Code.syntax, 1, 4),
        ("bad value", "a.b x 1\n", .badValue, 1, 5),
        ("bad timestamp", "ok 1 1\na.b 1 yesterday\n", .badValue, 2, 7),
        ("extra field", "a.b 1 2 3\n", .syntax, 1, 9),
        ("bad tag", "a.b;host 1 2\n", .syntax, 1, 1),
        ("duplicate tag", "a.b;h=1;h=2 1 2\n", .duplicateLabel, 1, 1),
        ("only tags", ";h=1 1 2\n", .syntax, 1, 1),
        ("100 tags", "a" + (0..<100).map { ";t\($0)=v" }.joined() + " 1 2\n", .limit, 1, 0),
    ] as [(String, String, IngestError.Code, Int, Int)])
    func rejectsMalformed(name: String, text: String, code: IngestError.Code, line: Int, column: Int) throws {
        let e = try #require(throws: IngestError.self, "\(name)") { try Graphite.parse(Array(text.utf8), defaultTimestamp: 0) }
        #expect(e.code == code && e.line == line, "\(name): \(e)")
        if code != .limit { #expect(e.column == column, "\(name): \(e)") }
    }

    @Test func rejectsBadUTF8() throws {
        let e = try #require(throws: IngestError.self) { try Graphite.parse([0x61, 0xFF, 0x20, 0x31, 0x0A], defaultTimestamp: 0) }
        #expect(e.code == .invalidUTF8 && e.line == 1)
    }

    @Test func mutatedLinesNeverCrash() {
        let seed: UInt64 = 0x6A
        var rng = SeededRNG(seed: seed)
        let valid = Array("a.b.c 1 1700000000\nd.e;x=y;z=w 2.5 1700000000.5\nf 3\n".utf8)
        var errors = 0
        for i in 0..<3000 {
            do { expectValid(try Graphite.parse(mutate(valid, rng: &rng), defaultTimestamp: 0), seed: seed, iteration: i) } catch { errors += 1 }
        }
        #expect(errors > 0)
    }
}

@Suite struct StatsDTests {
    @Test func parsesEveryType() throws {
        let text = """
        api.requests:1|c
        api.requests:3|c|@0.1|#env:prod,region:eu
        queue.depth:42|g
        queue.depth:-5|g
        queue.depth:+2|g
        db.query:12.5|ms|#table:users
        payload:512|h
        latency:0.3|d
        visitors:alice|s
        ns:metric:1|c

        """
        let ev = try StatsD.parse(Array(text.utf8))
        #expect(ev.count == 10)
        #expect(ev[0] == StatsDEvent(name: "api_requests", kind: .counter, value: 1))
        #expect(ev[1] == StatsDEvent(name: "api_requests", kind: .counter, value: 3, sampleRate: 0.1,
                                     tags: [Label("env", "prod"), Label("region", "eu")]))
        #expect(ev[2].kind == .gauge && ev[2].value == 42)
        #expect(ev[3].kind == .gaugeDelta && ev[3].value == -5)
        #expect(ev[4].kind == .gaugeDelta && ev[4].value == 2)
        #expect(ev[5] == StatsDEvent(name: "db_query", kind: .timer, value: 12.5, tags: [Label("table", "users")]))
        #expect(ev[6].kind == .histogram && ev[7].kind == .distribution)
        #expect(ev[8] == StatsDEvent(name: "visitors", kind: .set, value: 0, setMember: "alice"))
        #expect(ev[9].name == "ns:metric" && ev[9].value == 1)
    }

    @Test(arguments: [
        ("no colon", "abc\n", IngestError.Code.syntax, 1),
        ("no type", "a:1\n", .syntax, 1),
        ("unknown type", "ok:1|c\na:1|x\n", .syntax, 2),
        ("bad value", "a:abc|c\n", .badValue, 1),
        ("infinite value", "a:Inf|g\n", .badValue, 1),
        ("bad rate", "a:1|c|@2\n", .badValue, 1),
        ("zero rate", "a:1|c|@0\n", .badValue, 1),
        ("unknown section", "a:1|c|zzz\n", .syntax, 1),
        ("duplicate tag", "a:1|c|#x:1,x:2\n", .duplicateLabel, 1),
        ("empty name", ":1|c\n", .syntax, 1),
        ("100 tags", "a:1|c|#" + (0..<100).map { "t\($0):v" }.joined(separator: ",") + "\n", .limit, 1),
    ] as [(String, String, IngestError.Code, Int)])
    func rejectsMalformed(name: String, text: String, code: IngestError.Code, line: Int) throws {
        let e = try #require(throws: IngestError.self, "\(name)") { try StatsD.parse(Array(text.utf8)) }
        #expect(e.code == code && e.line == line, "\(name): \(e)")
        #expect(e.message.hasPrefix("line \(line) column "), "\(name): \(e)")
    }

    @Test func mutatedPacketsNeverCrash() {
        let seed: UInt64 = 0x5D
        var rng = SeededRNG(seed: seed)
        let valid = Array("a.b:1|c|@0.5|#x:y\nq:2|g\nt:3.5|ms\ns:u|s\n".utf8)
        var errors = 0
        for _ in 0..<3000 {
            do {
                for e in try StatsD.parse(mutate(valid, rng: &rng)) {
                    #expect(Labels.isValidMetricName(e.name), "seed \(seed): \(e.name)")
                    #expect(e.tags.allSatisfy { Labels.isValidLabelName($0.name) }, "seed \(seed): \(e.tags)")
                    #expect(e.sampleRate > 0 && e.sampleRate <= 1)
                }
            } catch { errors += 1 }
        }
        #expect(errors > 0, "seed \(seed)")
    }
}
