import Foundation
import Testing
import VigilCore
import VigilIngest

/// What Telegraf's cpu/mem/disk inputs send (shape of real output), plus escapes and every field type.
let telegrafLines = #"""
# telegraf sample
cpu,cpu=cpu0,host=web-1 usage_idle=97.5,usage_user=1.25,usage_system=0.75 1700000000000000000
cpu,cpu=cpu-total,host=web-1 usage_idle=98,usage_iowait=0.1 1700000000000000000
mem,host=web-1 available=8123456789i,used_percent=12.5,total=17179869184u 1700000000000000000
disk,device=vda1,fstype=ext4,host=web-1,path=/ free=1.2e10,inodes_used=123456i 1700000000000000000
system,host=web-1 load1=0.42,uptime_format="3 days, 2:10",n_cpus=2i 1700000000000000000
my\ meas\,ure,tag\ key=a\,b\=c\ d field\=one=1,bool_t=t,bool_f=FALSE,neg=-1.5e-3 1700000000000000000
http.requests,service.name=api count=3i
temp,room=kitchen,sensor=\"x\" celsius=21.5 -1000000

"""#

@Suite struct InfluxLineTests {
    @Test func parsesTelegrafLikeBatch() throws {
        let r = try InfluxLine.parse(Array(telegrafLines.utf8), precision: .nanoseconds, defaultTimestamp: 42)
        let byText = Dictionary(r.series.map { ($0.labels.description, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byText[#"cpu_usage_idle{cpu="cpu0", host="web-1"}"#]?.samples == [Sample(1_700_000_000_000, 97.5)])
        #expect(byText[#"mem_available{host="web-1"}"#]?.values == [8_123_456_789])
        #expect(byText[#"mem_total{host="web-1"}"#]?.values == [17_179_869_184])
        #expect(byText[#"disk_free{device="vda1", fstype="ext4", host="web-1", path="/"}"#]?.values == [1.2e10])
        #expect(byText[#"system_n_cpus{host="web-1"}"#]?.values == [2])
        #expect(r.stats.skipped[.stringField] == 1)
        let weird = try #require(r.series.first { $0.labels.metricName == "my_meas_ure_field_one" })
        #expect(weird.labels["tag_key"] == "a,b=c d")
        #expect(r.series.first { $0.labels.metricName == "my_meas_ure_bool_f" }?.values == [0])
        #expect(r.series.first { $0.labels.metricName == "my_meas_ure_bool_t" }?.values == [1])
        #expect(r.series.first { $0.labels.metricName == "my_meas_ure_neg" }?.values == [-1.5e-3])
        let dotted = try #require(r.series.first { $0.labels.metricName == "http_requests_count" })
        #expect(dotted.labels["service_name"] == "api" && dotted.timestamps == [42])
        let temp = try #require(r.series.first { $0.labels.metricName == "temp_celsius" })
        #expect(temp.labels["sensor"] == #"\"x\""# && temp.timestamps == [-1])  // -1 ms: rounded down
        #expect(r.stats.samples == r.sampleCount)
        #expect(r.sampleCount == 18)
    }

    @Test(arguments: [
        (InfluxLine.Precision.nanoseconds, "1700000000123456789", Int64(1_700_000_000_123)),
        (.microseconds, "1700000000123456", 1_700_000_000_123),
        (.milliseconds, "1700000000123", 1_700_000_000_123),
        (.seconds, "1700000000", 1_700_000_000_000),
        (.minutes, "2", 120_000),
        (.hours, "1", 3_600_000),
    ])
    func precisions(p: InfluxLine.Precision, ts: String, ms: Int64) throws {
        let r = try InfluxLine.parse(Array("m v=1 \(ts)\n".utf8), precision: p, defaultTimestamp: 0)
        #expect(r.series.first?.timestamps == [ms])
        #expect(InfluxLine.Precision(parameter: p.rawValue) == p)
    }

    @Test func consecutivePointsOfOneSeriesMerge() throws {
        let r = try InfluxLine.parse(Array("m,a=1 v=1 1\nm,a=1 v=2 2\n".utf8), precision: .milliseconds, defaultTimestamp: 0)
        #expect(r.series.count == 1 && r.series[0].samples == [Sample(1, 1), Sample(2, 2)])
    }

    @Test(arguments: [
        ("no fields", "cpu,host=a 1700000000\n", IngestError.Code.syntax, 1, 22),
        ("field without value", "cpu v= 1\n", .syntax, 1, 7),
        ("bad float", "cpu v=1.2.3\n", .badValue, 1, 7),
        ("NaN is not an Influx float", "cpu v=NaN\n", .badValue, 1, 7),
        ("bad integer", "cpu v=12x3i\n", .badValue, 1, 7),
        ("integer overflow", "cpu v=99999999999999999999i\n", .badValue, 1, 7),
        ("negative unsigned", "cpu v=-1u\n", .badValue, 1, 7),
        ("bad timestamp", "ok v=1\ncpu v=1 12ab\n", .badValue, 2, 9),
        ("timestamp overflow in seconds", "cpu v=1 9223372036854775807\n", .badValue, 1, 9),
        ("unterminated string", "cpu s=\"abc\n", .syntax, 1, 7),
        ("empty tag value", "cpu,host= v=1\n", .syntax, 1, 10),
        ("tag without =", "cpu,host v=1\n", .syntax, 1, 9),
        ("duplicate tag", "cpu,a=1,a=2 v=1\n", .duplicateLabel, 1, 1),
        ("trailing text", "cpu v=1 1 extra\n", .syntax, 1, 11),
        ("missing measurement", ",a=1 v=1\n", .syntax, 1, 1),
    ] as [(String, String, IngestError.Code, Int, Int)])
    func rejectsMalformed(name: String, text: String, code: IngestError.Code, line: Int, column: Int) throws {
        let e = try #require(throws: IngestError.self, "\(name)") {
            try InfluxLine.parse(Array(text.utf8), precision: .seconds, defaultTimestamp: 0)
        }
        #expect(e.code == code, "\(name): \(e)")
        #expect(e.line == line, "\(name): \(e)")
        if code != .duplicateLabel { #expect(e.column == column, "\(name): \(e)") }
        #expect(e.message.hasPrefix("line \(line)"), "\(name): \(e)")
    }

    @Test func rejectsBadUTF8AndTooManyTags() throws {
        let bad: [UInt8] = Array("cpu,host=".utf8) + [0xC3, 0x28] + Array(" v=1\n".utf8)
        let e = try #require(throws: IngestError.self) { try InfluxLine.parse(bad, defaultTimestamp: 0) }
        #expect(e.code == .invalidUTF8 && e.line == 1 && e.column == 10)
        let many = "cpu" + (0..<80).map { ",t\($0)=v" }.joined() + " v=1\n"
        let e2 = try #require(throws: IngestError.self) { try InfluxLine.parse(Array(many.utf8), defaultTimestamp: 0) }
        #expect(e2.code == .limit)
    }

    @Test func mutatedBatchesNeverCrash() {
        let seed: UInt64 = 0x1F1F
        var rng = SeededRNG(seed: seed)
        let valid = Array(telegrafLines.utf8)
        var errors = 0
        for i in 0..<5000 {
            let m = mutate(valid, rng: &rng)
            do { expectValid(try InfluxLine.parse(m, precision: .nanoseconds, defaultTimestamp: 0), seed: seed, iteration: i) }
            catch { errors += 1 }
        }
        #expect(errors > 0)
    }
}
