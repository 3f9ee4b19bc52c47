import Foundation
import Testing
import VigilCore
import VigilStore

/// With group commit (`--wal-fsync 1s`), flush/checkpoint/close must return and keep every sample.
/// (The writer once spun holding its lock while paused, deadlocking the end of an exclusive section.)
@Test func flushAndCloseWithIntervalFsync() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-ivl-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    var o = TSDBOptions()
    o.walFsync = .interval(milliseconds: 1000)
    o.maintenanceInterval = nil
    o.retention = 0 // the samples are from 1970
    let series = (0..<3).map { i in
        SeriesSamples(labels: Labels(["__name__": "m", "i": "\(i)"]),
                      timestamps: (0..<500).map { Int64($0) * 15_000 }, values: (0..<500).map { Double($0 * i) })
    }
    do {
        let db = try TSDB(directory: dir.path, options: o)
        _ = try db.appendSync(series)
        try db.flush()
        try db.checkpoint()
        _ = try db.appendSync([SeriesSamples(labels: series[0].labels, timestamps: [500 * 15_000], values: [7])])
        try db.close()
    }
    let db = try TSDB(directory: dir.path, options: o)
    let back = try db.select([LabelMatcher.equal("__name__", "m")], mint: .min, maxt: .max)
    #expect(back.map(\.count) == [501, 500, 500])
    #expect(back[0].values.last == 7)
    try db.close()
}
