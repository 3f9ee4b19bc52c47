import Foundation
import Testing
import VigilCore
import VigilIngest

/// A node_exporter-like scrape (shape and escapes as node_exporter 1.x prints them).
let nodeExporterText = #"""
# HELP go_gc_duration_seconds A summary of the pause duration of garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 2.3011e-05
go_gc_duration_seconds{quantile="0.5"} 3.9502e-05
go_gc_duration_seconds{quantile="1"} 0.000157812
go_gc_duration_seconds_sum 0.012473916
go_gc_duration_seconds_count 281
# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 1.01345678e+06
node_cpu_seconds_total{cpu="0",mode="user"} 43210.12
node_cpu_seconds_total{cpu="1",mode="idle"} 1013000.5
# HELP node_filesystem_avail_bytes Filesystem space available to non-root users in bytes.
# TYPE node_filesystem_avail_bytes gauge
node_filesystem_avail_bytes{device="/dev/vda1",fstype="ext4",mountpoint="/"} 1.2345e+10
node_filesystem_avail_bytes{device="tmpfs",fstype="tmpfs",mountpoint="/run/user/1000"} 4.12e+08
# HELP node_load1 1m load average.
# TYPE node_load1 gauge
node_load1 0.42
# HELP node_network_info Non-numeric data from /sys/class/net/<iface>, value is always 1.
# TYPE node_network_info gauge
node_network_info{address="52:54:00:12:34:56",device="eth0",ifalias="uplink \"A\"\\B\nC",operstate="up"} 1
# HELP http_request_duration_seconds A histogram.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
# a free comment
node_scrape_collector_success{collector="arp"} 1 1700000000123
node_weird{a="x",} NaN
node_temp_celsius{chip="k10temp"}	-Inf
node_up +Inf

"""#

@Suite struct TextExpositionTests {
    @Test func parsesNodeExporterScrape() throws {
        let r = try TextExposition.parse(Array(nodeExporterText.utf8), defaultTimestamp: 1_700_000_000_000)
        #expect(r.stats.samples == 21)
        #expect(r.series.count == 21)
        let byText = Dictionary(r.series.map { ($0.labels.description, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byText[#"go_gc_duration_seconds{quantile="0.5"}"#]?.values == [3.9502e-05])
        #expect(byText["go_gc_duration_seconds_count"]?.values == [281])
        #expect(byText[#"node_cpu_seconds_total{cpu="0", mode="idle"}"#]?.values == [1.01345678e+06])
        #expect(byText[#"node_scrape_collector_success{collector="arp"}"#]?.timestamps == [1_700_000_000_123])
        #expect(byText["node_load1"]?.timestamps == [1_700_000_000_000])
        #expect(byText[#"node_weird{a="x"}"#]?.values.first?.isNaN == true)
        #expect(byText[#"node_temp_celsius{chip="k10temp"}"#]?.values == [-.infinity])
        #expect(byText["node_up"]?.values == [.infinity])
        let info = try #require(r.series.first { $0.labels.metricName == "node_network_info" })
        #expect(info.labels["ifalias"] == "uplink \"A\"\\B\nC")
        let meta = Dictionary(r.metadata.map { ($0.family, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(meta["node_cpu_seconds_total"]?.type == .counter)
        #expect(meta["go_gc_duration_seconds"]?.type == .summary)
        #expect(meta["http_request_duration_seconds"]?.type == .histogram)
        #expect(meta["node_load1"]?.help == "1m load average.")
        #expect(r.series.allSatisfy { (try? $0.labels.validate()) != nil })
    }

    @Test func roundTripThroughEncoder() throws {
        var series = benchLikeSeries(hosts: 2, samples: 1)
        series[3].values[0] = .nan
        series[4].values[0] = -.infinity
        series[5].labels.set("weird", "a\"b\\c\nd ü")
        let meta = [MetricMetadata(family: "node_load1", type: .gauge, help: "load\\avg\nline2")]
        let text = TextExposition.encode(series, metadata: meta)
        let r = try TextExposition.parse(Array(text.utf8), defaultTimestamp: 0)
        #expect(r.series.count == series.count)
        for (a, b) in zip(r.series, series) {
            #expect(a.labels == b.labels)
            #expect(a.timestamps == b.timestamps)
            #expect(a.values.count == 1 && (a.values[0] == b.values[0] || (a.values[0].isNaN && b.values[0].isNaN)))
        }
        #expect(r.metadata == meta)
    }

    @Test func openMetrics() throws {
        let om = """
        # TYPE acme_http_requests counter
        # UNIT acme_http_requests requests
        # HELP acme_http_requests Requests \\"served\\".
        acme_http_requests_total{path="/"} 7 1700000000.5 # {trace_id="abc"} 1 1700000000.1
        acme_http_requests_created{path="/"} 1699990000
        # TYPE acme_build info
        acme_build_info{version="1.2"} 1
        # EOF

        """
        let r = try TextExposition.parse(Array(om.utf8), flavor: .openMetrics, defaultTimestamp: 5)
        #expect(r.series.map(\.labels.metricName) == ["acme_http_requests_total", "acme_http_requests_created", "acme_build_info"])
        #expect(r.series[0].timestamps == [1_700_000_000_500])
        #expect(r.series[1].timestamps == [5])
        #expect(r.stats.exemplars == 1)
        #expect(r.metadata.first == MetricMetadata(family: "acme_http_requests", type: .counter, help: "Requests \"served\".", unit: "requests"))
        #expect(TextExposition.flavor(contentType: "application/openmetrics-text; version=1.0.0") == .openMetrics)
        #expect(TextExposition.flavor(contentType: "text/plain; version=0.0.4") == .prometheus)
    }

    @Test func sameSeriesConsecutiveLinesMerge() throws {
        let r = try TextExposition.parse(Array("a 1 10\na 2 20\nb 3 30\n".utf8), defaultTimestamp: 0)
        #expect(r.series.map(\.count) == [2, 1])
        #expect(r.series[0].samples == [Sample(10, 1), Sample(20, 2)])
    }

    /// Malformed lines with their documented code and the 1-based line and column named in the message.
    @Test(arguments: [
        ("unterminated label set", "m{case=\"bad\" 1\n", IngestError.Code.syntax, 1, 14),
        ("non-numeric value", "ok 1\nm{a=\"b\"} abc 5\n", .badValue, 2, 10),
        ("bad timestamp", "m 1 12x\n", .badValue, 1, 5),
        ("missing value", "m{a=\"b\"}\n", .syntax, 1, 9),
        ("no metric name", "{a=\"b\"} 1\n", .syntax, 1, 1),
        ("duplicate label", "m{a=\"1\",a=\"2\"} 1\n", .duplicateLabel, 1, 9),
        ("bad escape", "m{a=\"x\\q\"} 1\n", .syntax, 1, 7),
        ("missing =", "m{a \"x\"} 1\n", .syntax, 1, 5),
        ("unquoted value", "m{a=x} 1\n", .syntax, 1, 5),
        ("trailing junk", "m 1 2 3\n", .syntax, 1, 7),
        ("unknown TYPE", "# TYPE m countre\nm 1\n", .syntax, 1, 10),
        ("second TYPE", "# TYPE m gauge\n# TYPE m gauge\n", .syntax, 2, 8),
        ("histogram bucket without le", "# TYPE h histogram\nh_bucket{x=\"1\"} 3\n", .syntax, 2, 1),
        ("summary quantile not a number", "# TYPE s summary\ns{quantile=\"p50\"} 3\n", .badValue, 2, 1),
        ("timestamp overflows int64", "m 1 99999999999999999999\n", .badValue, 1, 5),
        ("label name with colon", "m{a:b=\"1\"} 1\n", .syntax, 1, 4),
    ] as [(String, String, IngestError.Code, Int, Int)])
    func rejectsMalformed(name: String, text: String, code: IngestError.Code, line: Int, column: Int) throws {
        let e = try #require(throws: IngestError.self, "\(name)") { try TextExposition.parse(Array(text.utf8), defaultTimestamp: 0) }
        #expect(e.code == code, "\(name): \(e)")
        #expect(e.line == line && e.column == column, "\(name): \(e)")
        #expect(e.message.hasPrefix("line \(line) column \(column): "), "\(name): \(e)")
    }

    @Test func rejectsInvalidUTF8AndHugeLabelCounts() throws {
        let bad: [UInt8] = Array("m{case=\"".utf8) + [0xFF, 0xFE] + Array("\"} 1\n".utf8)
        let e = try #require(throws: IngestError.self) { try TextExposition.parse(bad, defaultTimestamp: 0) }
        #expect(e.code == .invalidUTF8 && e.line == 1)
        let many = "m{" + (0..<100).map { "l\($0)=\"v\"" }.joined(separator: ",") + "} 1\n"
        let e2 = try #require(throws: IngestError.self) { try TextExposition.parse(Array(many.utf8), defaultTimestamp: 0) }
        #expect(e2.code == .limit && e2.line == 1)
        let long = "m{a=\"" + String(repeating: "x", count: 5000) + "\"} 1\n"
        let e3 = try #require(throws: IngestError.self) { try TextExposition.parse(Array(long.utf8), defaultTimestamp: 0) }
        #expect(e3.code == .limit && e3.message.contains("line 1"))
    }

    @Test(arguments: [
        ("missing EOF", "m 1\n", 2),
        ("content after EOF", "m 1\n# EOF\nm 2\n", 3),
        ("0.0.4 untyped is not OpenMetrics", "# TYPE m untyped\nm 1\n# EOF\n", 1),
    ])
    func openMetricsRules(name: String, text: String, line: Int) throws {
        let e = try #require(throws: IngestError.self, "\(name)") {
            try TextExposition.parse(Array(text.utf8), flavor: .openMetrics, defaultTimestamp: 0)
        }
        #expect(e.code == .syntax && e.line == line, "\(name): \(e)")
    }

    @Test(arguments: ["1", "-1", "0.5", "1e3", "1E-3", "+Inf", "-Inf", "Inf", "inf", "NaN", "nan", "-0", "1.7976931348623157e308",
                      "123456789012345678901234", "0.1", "3.14159", "2.2250738585072014e-308", "0x1p-2", "4.9e-324", ".5", "5."])
    func floatsMatchStandardLibrary(text: String) throws {
        let got = try #require(Numbers.parseDouble(Array(text.utf8)))
        let lower = text.lowercased()
        let want: Double = lower.hasSuffix("inf") ? (text.hasPrefix("-") ? -.infinity : .infinity) : Double(text)!
        #expect(got.bitPattern == want.bitPattern || (got.isNaN && want.isNaN), "\(text)")
    }

    @Test(arguments: ["", "-", "+", "abc", "1x", "1e", "1e+", "--1", "Infx", "1_000", " 1", "0x", "."])
    func floatsRejected(text: String) {
        #expect(Numbers.parseDouble(Array(text.utf8)) == nil, "\(text)")
    }

    @Test func mutatedScrapesNeverCrash() {
        let seed: UInt64 = 0x7E47
        var rng = SeededRNG(seed: seed)
        let valid = Array(nodeExporterText.utf8)
        var errors = 0
        for i in 0..<5000 {
            let m = mutate(valid, rng: &rng)
            for flavor in [TextExposition.Flavor.prometheus, .openMetrics] {
                do { expectValid(try TextExposition.parse(m, flavor: flavor, defaultTimestamp: 1), seed: seed, iteration: i) }
                catch { errors += 1 }
            }
        }
        #expect(errors > 0)
    }
}
