import Foundation
import Testing
import VigilCore
@testable import VigilIngest

/// `RemoteWriteColumns` must decode exactly what `RemoteWriteV1.decode` does, with labels deferred.
@Suite struct RemoteWriteColumnsTests {
    @Test(arguments: [1, 3, 17])
    func sameSeriesAsTheFullDecoder(hosts: Int) throws {
        let series = benchLikeSeries(hosts: hosts, samples: 3)
        let body = RemoteWriteV1.encode(series, metadata: [MetricMetadata(family: "node_load1", type: .gauge, help: "h")])
        let cols = try RemoteWriteColumns(message: body)
        #expect(cols.seriesCount == series.count)
        #expect(try cols.allSeries() == RemoteWriteV1.decode(body).series)
        #expect(cols.stats.samples == series.count * 3)
        #expect(cols.timestamps.count == series.count * 3 && cols.sampleStart.count == series.count + 1)
        for i in 0..<series.count { #expect(cols.withLabelKey(i) { $0 != nil }) }
    }

    @Test func labelKeysAreTheRawLabelBytes() throws {
        let a = SeriesSamples(labels: Labels(["__name__": "m", "host": "a"]), timestamps: [1], values: [1])
        let b = SeriesSamples(labels: Labels(["__name__": "m", "host": "b"]), timestamps: [2], values: [2])
        let a2 = SeriesSamples(labels: a.labels, timestamps: [3], values: [3])
        let cols = try RemoteWriteColumns(message: RemoteWriteV1.encode([a, b, a2]))
        let keys = (0..<3).map { i in cols.withLabelKey(i) { Array($0!) } }
        #expect(keys[0] == keys[2] && keys[0] != keys[1])
        // The key is the Label fields as sent: field 1, length, then the Label message.
        var w = ProtoWriter()
        w.message(1) { $0.stringField(1, "__name__"); $0.stringField(2, "m") }
        w.message(1) { $0.stringField(1, "host"); $0.stringField(2, "a") }
        #expect(keys[0] == w.bytes)
    }

    @Test func labelsSplitBySamplesHaveNoKeyButDecode() throws {
        var w = ProtoWriter()
        w.message(1) { ts in
            ts.message(1) { $0.stringField(1, "__name__"); $0.stringField(2, "m") }
            ts.message(2) { $0.doubleField(1, 1); $0.int64Field(2, 5) }
            ts.message(1) { $0.stringField(1, "a"); $0.stringField(2, "x") }
        }
        let cols = try RemoteWriteColumns(message: w.bytes)
        #expect(cols.withLabelKey(0) { $0 == nil })
        #expect(try cols.series(0) == SeriesSamples(labels: Labels(["__name__": "m", "a": "x"]), timestamps: [5], values: [1]))
    }

    @Test func invalidLabelsFailOnlyWhenDecodedWithTheSameMessage() throws {
        let body = RemoteWriteV1.encode([
            SeriesSamples(labels: Labels(["__name__": "ok"]), timestamps: [1], values: [1]),
            SeriesSamples(labels: Labels(["__name__": "bad-name"]), timestamps: [1], values: [1]),
        ])
        let cols = try RemoteWriteColumns(message: body)
        #expect(try cols.labels(0) == Labels(["__name__": "ok"]))
        var full = ""
        do { _ = try RemoteWriteV1.decode(body) } catch { full = error.message }
        #expect(full.contains("timeseries #1"))
        do {
            _ = try cols.labels(1)
            Issue.record("bad-name accepted")
        } catch {
            #expect(error.message == full)
            #expect(error.series == 1)
        }
    }

    @Test func mutatedBodiesFailOrDecodeLikeTheFullDecoder() {
        let seed: UInt64 = 0xBADC0DE
        var rng = SeededRNG(seed: seed)
        let valid = RemoteWriteV1.encode(benchLikeSeries(hosts: 2, samples: 2),
                                         metadata: [MetricMetadata(family: "node_load1", type: .gauge, help: "h")])
        var errors = 0
        for i in 0..<5000 {
            let m = mutate(valid, rng: &rng)
            let full = Result { () throws(IngestError) in try RemoteWriteV1.decode(m).series }
            let cols = Result { () throws(IngestError) in try RemoteWriteColumns(message: m).allSeries() }
            switch (full, cols) {
            case (.success(let a), .success(let b)):
                #expect(a == b, "seed \(seed) iteration \(i)")
            case (.failure, .failure):
                errors += 1
            default:
                Issue.record("seed \(seed) iteration \(i): full decoder \(full), columns \(cols)")
            }
        }
        #expect(errors > 0)
    }
}
