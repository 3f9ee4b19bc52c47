import Foundation
import Logging
import Testing
import VigilCore
@testable import VigilStore

/// A fresh temporary directory, removed when the value is dropped... by the test's `defer`.
struct TempDir {
    let path: String

    init(_ name: String = #function) {
        let clean = name.filter { $0.isLetter || $0.isNumber }
        path = NSTemporaryDirectory() + "vigil-store-\(clean)-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// A copy of a live directory: what a crash at this instant would leave on disk
    /// (everything acknowledged has been fsync'd to the files being copied).
    func crashCopy() throws -> TempDir {
        let copy = TempDir("crashcopy")
        try FileManager.default.removeItem(atPath: copy.path)
        try FileManager.default.copyItem(atPath: path, toPath: copy.path)
        return copy
    }
}

func testOptions(samplesPerChunk: Int = 120, retention: Int64 = 0) -> TSDBOptions {
    var o = TSDBOptions()
    o.maintenanceInterval = nil
    o.retention = retention
    o.samplesPerChunk = samplesPerChunk
    var l = Logger(label: "test")
    l.logLevel = .critical
    o.logger = l
    return o
}

func seriesLabels(_ i: Int, job: String = "node") -> Labels {
    Labels(["__name__": i % 2 == 0 ? "cpu_seconds" : "mem_bytes", "job": job, "instance": "host-\(i)"])
}

/// Deterministic samples for series i at step k, with awkward values mixed in.
func sampleValue(_ i: Int, _ k: Int) -> Double {
    switch (i + k) % 11 {
    case 0: return .nan
    case 1: return -0.0
    case 2: return .infinity
    case 3: return .staleNaN
    default: return Double(i) * 3.25 + Double(k) * 0.1 + sin(Double(k))
    }
}

/// `steps` batches, each one sample per series: how an ingest appends.
func batches(series: Int, steps: Range<Int>, stepMs: Int64 = 15_000, job: String = "node") -> [[SeriesSamples]] {
    steps.map { k in
        (0..<series).map { i in
            SeriesSamples(labels: seriesLabels(i, job: job), timestamps: [Int64(k) * stepMs], values: [sampleValue(i, k)])
        }
    }
}

/// What `batches` wrote, per series, sorted by labels (as `select` returns it).
func expected(series: Int, steps: Range<Int>, stepMs: Int64 = 15_000, job: String = "node") -> [SeriesSamples] {
    (0..<series).map { i in
        SeriesSamples(labels: seriesLabels(i, job: job), timestamps: steps.map { Int64($0) * stepMs },
                      values: steps.map { sampleValue(i, $0) })
    }.sorted { $0.labels < $1.labels }
}

let everything = [try! LabelMatcher(.regexMatch, "__name__", ".+")]

func walSegments(_ dir: String) throws -> [String] {
    // Segments only (8-digit names), not a `checkpoint.tmp` being written.
    try FileManager.default.contentsOfDirectory(atPath: dir + "/wal").filter { $0.count == 8 && Int($0) != nil }
        .sorted().map { dir + "/wal/" + $0 }
}

func fileSize(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? -1
}
