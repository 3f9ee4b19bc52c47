import Foundation
import Testing
import VigilCore
import VigilIngest

/// The messages quoted in docs/ingestion-formats.md, checked word for word.
@Suite struct DocumentedErrorsTests {
    static func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch let e as IngestError { return e.message } catch { return "not an IngestError: \(error)" }
    }

    @Test func messagesMatchTheDocs() throws {
        let good = RemoteWriteV1Tests.good
        let msgs: [String] = [
            Self.message { _ = try Snappy.decompress([UInt8](), maxDecodedSize: 10) },
            Self.message { _ = try Snappy.decompress([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], maxDecodedSize: 10) },
            Self.message { _ = try Snappy.decompress(Array(Snappy.compress(Array("hello hello hello hello hello".utf8)).dropLast(3)), maxDecodedSize: 100) },
            Self.message { _ = try RemoteWriteV1.decode([0x10] + [UInt8](repeating: 0xFF, count: 3)) },
            Self.message { _ = try RemoteWriteV1.decode([0x0A, 0x7F, 0x0A]) },
            Self.message { _ = try RemoteWriteV1.decode([0x0F, 0x00]) },
            Self.message { _ = try RemoteWriteV1.decode(RemoteWriteV1Tests.body([("__name__", Array("up".utf8))]) { $0.message(2) { $0.varintField(1, 1) } }) },
            Self.message { _ = try RemoteWriteV1.decode(good + good + RemoteWriteV1Tests.body([("__name__", Array("up".utf8)), ("job", [0xC3])])) },
            Self.message { _ = try RemoteWriteV1.decode(RemoteWriteV1Tests.body([("__name__", Array("up".utf8)), ("a", Array("1".utf8)), ("a", Array("2".utf8))])) },
            Self.message { _ = try RemoteWriteV1.decode(RemoteWriteV1Tests.body([("job", Array("a".utf8))])) },
            Self.message { _ = try RemoteWriteV2.decode(RemoteWriteV2Tests.req(symbols: RemoteWriteV2Tests.syms, refs: [1, 2, 3, 9])) },
            Self.message { _ = try RemoteWriteV2.decode(RemoteWriteV2Tests.req(symbols: RemoteWriteV2Tests.syms, refs: [1, 2, 3])) },
            Self.message { _ = try RemoteWriteV2.decode(RemoteWriteV2Tests.req(symbols: Array(RemoteWriteV2Tests.syms.dropFirst()), refs: [0, 1])) },
            Self.message { _ = try TextExposition.parse(Array("m{case=\"bad\" 1\n".utf8), defaultTimestamp: 0) },
            Self.message { _ = try TextExposition.parse(Array("ok 1\nm{a=\"b\"} abc 5\n".utf8), defaultTimestamp: 0) },
            Self.message { _ = try TextExposition.parse(Array("m{a=\"1\",a=\"2\"} 1\n".utf8), defaultTimestamp: 0) },
            Self.message { _ = try TextExposition.parse(Array("m{a=\"x\\q\"} 1\n".utf8), defaultTimestamp: 0) },
            Self.message { _ = try TextExposition.parse(Array("# TYPE m gauge\n# TYPE m gauge\n".utf8), defaultTimestamp: 0) },
            Self.message { _ = try TextExposition.parse(Array("# TYPE h histogram\nh_bucket{x=\"1\"} 3\n".utf8), defaultTimestamp: 0) },
            Self.message { _ = try TextExposition.parse(Array("m 1\n# EOF\nm 2\n".utf8), flavor: .openMetrics, defaultTimestamp: 0) },
            Self.message { _ = try TextExposition.parse(Array("m 1\n".utf8), flavor: .openMetrics, defaultTimestamp: 0) },
            Self.message { _ = try InfluxLine.parse(Array("cpu v=1.2.3\n".utf8), defaultTimestamp: 0) },
            Self.message { _ = try InfluxLine.parse(Array("cpu,host= v=1\n".utf8), defaultTimestamp: 0) },
            Self.message { _ = try OTLPMetrics.decodeJSON(Array(#"{"a" 1}"#.utf8), defaultTimestamp: 0) },
            Self.message { _ = try OTLPMetrics.decodeJSON(Array(#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"a"},{"name":"g","gauge":{"dataPoints":[{"asDouble":true}]}}]}]}]}"#.utf8), defaultTimestamp: 0) },
            Self.message { _ = try OTLPMetrics.decodeJSON(Array(#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"h","histogram":{"aggregationTemporality":2,"dataPoints":[{"count":"1","bucketCounts":["1","2","3"],"explicitBounds":[1]}]}}]}]}]}"#.utf8), defaultTimestamp: 0) },
        ]
        let expected: [String] = [
            "cannot decompress snappy block: body is empty",
            "cannot decompress snappy block: invalid length header",
            "cannot decompress snappy block: corrupt or truncated data (8 bytes, header says 29 decoded)",
            "cannot decode WriteRequest: truncated varint at byte 1",
            "cannot decode WriteRequest: length 127 runs past the end of the message (1 bytes left) at byte 1",
            "cannot decode WriteRequest: invalid wire type 7 for field 1 at byte 0",
            "timeseries #0: cannot decode Sample: field 1 (value) has wire type varint, expected fixed64 at byte 34",
            "timeseries #2: cannot decode Label: label value is not valid UTF-8 at byte 109",
            "timeseries #0 up{a=\"1\", a=\"2\"}: duplicate label name \"a\"",
            "timeseries #0 {job=\"a\"}: series has no metric name (__name__)",
            "timeseries #0: label reference 9 is out of range (5 symbols) at byte 27",
            "timeseries #0: labels_refs has an odd number of references",
            "cannot decode Request: symbols[0] must be the empty string, got \"__name__\"",
            "line 1 column 14: expected \",\" or \"}\" after the value of label \"case\"",
            "line 2 column 10: invalid value \"abc\"",
            "line 1 column 9: duplicate label name \"a\"",
            "line 1 column 7: invalid escape sequence in the value of label \"a\"",
            "line 2 column 8: second # TYPE line for m",
            "line 2 column 1: h_bucket sample has no \"le\" label",
            "line 3 column 1: content after # EOF",
            "line 2 column 1: OpenMetrics input does not end with # EOF",
            "line 1 column 7: invalid float value \"1.2.3\" for field \"v\"",
            "line 1 column 10: empty value for tag \"host\"",
            "cannot parse JSON: expected \":\" after key \"a\" at byte 5",
            "resourceMetrics[0].scopeMetrics[0].metrics[1].gauge.dataPoints[0].asDouble: expected number, got boolean",
            "resource #0 metric \"h\" point #0: 3 bucket counts for 1 bounds (want bounds + 1)",
        ]
        #expect(msgs.count == expected.count)
        for (got, want) in zip(msgs, expected) { #expect(got == want) }
        // Every message quoted here appears verbatim in the docs.
        let docURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/ingestion-formats.md")
        let doc = try String(contentsOf: docURL, encoding: .utf8)
        for m in expected { #expect(doc.contains(m), "not in docs/ingestion-formats.md: \(m)") }
    }
}
