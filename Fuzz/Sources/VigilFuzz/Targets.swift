import Foundation
import Logging
import VigilChunk
import VigilCore
import VigilForecast
import VigilIngest
import VigilQuery
import VigilServer
import VigilStore
import Yams

/// One fuzz target: a name (`VIGIL_FUZZ_TARGET`, `Fuzz/corpus/<name>/`), a one-time set-up and the per-input body.
/// Bodies call the same entry points the server calls and ignore thrown errors (rejecting bad input with an
/// error is the wanted behaviour); where a decoder has a cheap invariant (a round trip) the body checks it and
/// traps when it fails, so libFuzzer records the input.
struct FuzzTarget: Sendable {
    let name: String
    var setUp: @Sendable () -> Void = {}
    let run: @Sendable ([UInt8]) -> Void

    static let all: [FuzzTarget] = [
        FuzzTarget(name: "remote-write-v1", run: remoteWriteV1),
        FuzzTarget(name: "remote-write-v2", run: remoteWriteV2),
        FuzzTarget(name: "snappy", run: snappy),
        FuzzTarget(name: "text-exposition", run: textExposition),
        FuzzTarget(name: "influx", run: influx),
        FuzzTarget(name: "otlp-json", run: { _ = try? OTLPMetrics.decodeJSON($0, defaultTimestamp: 1_700_000_000_000) }),
        FuzzTarget(name: "otlp-protobuf", run: { _ = try? OTLPMetrics.decodeProtobuf($0, defaultTimestamp: 1_700_000_000_000) }),
        FuzzTarget(name: "graphite", run: { _ = try? Graphite.parse($0, defaultTimestamp: 1_700_000_000_000) }),
        FuzzTarget(name: "statsd", run: { _ = try? StatsD.parse($0) }),
        FuzzTarget(name: "promql", run: promql),
        FuzzTarget(name: "http-params", run: httpParams),
        FuzzTarget(name: "config", run: config),
        FuzzTarget(name: "model-file", run: modelFile),
        FuzzTarget(name: "wal", setUp: WALTarget.setUp, run: WALTarget.run),
        FuzzTarget(name: "chunk", run: chunk),
    ]
}

/// Fails the run with a message (libFuzzer saves the input as crash-*).
func finding(_ message: String) -> Never {
    fatalError("fuzz finding: \(message)")
}

// MARK: - Wire formats (VigilIngest)

/// remote_write 1.0: the checked decoder and the columns decoder on the raw protobuf, then the same message
/// through snappy (so the fuzzer reaches the protobuf decoder behind the compression the server sees).
func remoteWriteV1(_ b: [UInt8]) {
    _ = try? RemoteWriteV1.decode(b)
    if let cols = try? RemoteWriteColumns(message: b) { _ = try? cols.allSeries() }
    let framed = Snappy.compress(b)
    _ = try? RemoteWrite.decode(framed, contentType: "application/x-protobuf", contentEncoding: "snappy")
    _ = try? framed.withUnsafeBytes { p in try RemoteWriteColumns(snappy: p) }
}

/// remote_write 2.0 (io.prometheus.write.v2.Request), raw and through snappy.
func remoteWriteV2(_ b: [UInt8]) {
    _ = try? RemoteWriteV2.decode(b)
    _ = try? RemoteWrite.decode(Snappy.compress(b),
                                contentType: "application/x-protobuf;proto=io.prometheus.write.v2.Request",
                                contentEncoding: "snappy")
}

/// The snappy block decompressor on arbitrary bytes (bounded output), and compress → decompress identity.
func snappy(_ b: [UInt8]) {
    _ = try? Snappy.decompress(b, maxDecodedSize: 1 << 20)
    let c = Snappy.compress(b)
    guard let d = try? Snappy.decompress(c, maxDecodedSize: max(b.count, 1)), d == b else {
        finding("snappy round trip of \(b.count) bytes failed")
    }
}

/// Text exposition, Prometheus 0.0.4 and OpenMetrics flavours.
func textExposition(_ b: [UInt8]) {
    _ = try? TextExposition.parse(b, flavor: .prometheus, defaultTimestamp: 1_700_000_000_000)
    _ = try? TextExposition.parse(b, flavor: .openMetrics, defaultTimestamp: 1_700_000_000_000)
}

/// Influx line protocol; the first byte picks the precision (as the `precision=` parameter would).
func influx(_ b: [UInt8]) {
    guard let first = b.first else { return }
    let all = InfluxLine.Precision.allCases
    _ = try? InfluxLine.parse(Array(b.dropFirst()), precision: all[Int(first) % all.count],
                              defaultTimestamp: 1_700_000_000_000)
}

// MARK: - PromQL and HTTP parameters

/// PromQL: parse; whatever parses must print to text that parses again to the same printed form.
func promql(_ b: [UInt8]) {
    let q = String(decoding: b, as: UTF8.self)
    guard let e = try? Parser.parse(q) else { return }
    let printed = e.description
    let again: Expr
    do { again = try Parser.parse(printed) } catch {
        finding("printed form of \(q.debugDescription) does not parse: \(printed.debugDescription): \(error)")
    }
    if again.description != printed {
        finding("print → parse → print changed \(printed.debugDescription) into \(again.description.debugDescription)")
    }
}

/// The query API's `time`/`start`/`end`/`step`/`timeout` parsers (today `QueryAPI.parseTime`/`parseDuration`/
/// `parseRFC3339` in VigilServer and `DurationParser` in VigilCore); a parsed duration must format and
/// parse back to the same value.
func httpParams(_ b: [UInt8]) {
    let s = String(decoding: b, as: UTF8.self)
    _ = try? RequestParameters.time(s, "time")
    _ = try? RequestParameters.duration(s, "step")
    _ = try? RequestParameters.float(s, "value")
    _ = RequestParameters.rfc3339(s)
    if let ms = try? DurationParser.milliseconds(s) {
        let f = DurationParser.format(ms)
        guard let back = try? DurationParser.milliseconds(f), back == ms else {
            finding("duration \(s.debugDescription) = \(ms) ms formats as \(f.debugDescription), which does not parse back")
        }
    }
}

// MARK: - Files Vigil reads

/// The YAML config: the one strict loader (`VigilConfig.parse`, module VigilConfig) for every section.
func config(_ b: [UInt8]) {
    let s = String(decoding: b, as: UTF8.self)
    _ = try? VigilConfig.parse(yaml: s)
}

/// `.vgm` model files: the container, then each model kind that loads from one.
func modelFile(_ b: [UInt8]) {
    guard let m = try? ModelFile.decode(b) else { return }
    _ = try? LinearForecaster(modelFile: m)
    _ = try? FailurePredictor(modelFile: m)
    _ = try? SaturationModel(modelFile: m)
}

/// Chunk decoder; a chunk that decodes to strictly increasing timestamps must survive re-encoding bit for bit.
func chunk(_ b: [UInt8]) {
    _ = try? ChunkCodec.sampleCount(b)
    var ts: [Int64] = [], vs: [Double] = []
    guard (try? ChunkCodec.decode(b, into: &ts, &vs)) != nil else { return }
    guard ts.count == vs.count else { finding("decoded \(ts.count) timestamps but \(vs.count) values") }
    guard !ts.isEmpty, zip(ts, ts.dropFirst()).allSatisfy({ $0 < $1 }) else { return }
    let again = ChunkCodec.encodeBest(timestamps: ts[...], values: vs[...])
    var ts2: [Int64] = [], vs2: [Double] = []
    do { try ChunkCodec.decode(again, into: &ts2, &vs2) } catch {
        finding("re-encoded chunk of \(ts.count) samples does not decode: \(error)")
    }
    if ts2 != ts || vs2.map(\.bitPattern) != vs.map(\.bitPattern) {
        finding("re-encoded chunk of \(ts.count) samples decodes differently")
    }
}
