import Foundation
import Testing
import VigilCore
@testable import VigilStore

/// The WAL checkpoint runs beside appends (Checkpoint.swift). Stopped at any step, as a crash there
/// would stop it, the directory still replays every acknowledged sample; appends go on meanwhile.
@Suite struct CheckpointTests {
    struct Stop: Error {}

    static let steps: [CheckpointStep] = [.cut, .wroteBatches(1), .wroteBatches(3), .written, .installed, .deleted(1)]

    @Test(arguments: steps)
    func checkpointStoppedAtAStepLosesNothing(_ step: CheckpointStep) throws {
        let dir = TempDir("ckpt")
        defer { dir.remove() }
        var o = testOptions(samplesPerChunk: 8)
        o.walSegmentSize = 16 << 10   // several old segments to delete
        let series = 200
        let db = try TSDB(directory: dir.path, options: o)
        db.checkpointBatch = 16
        for b in batches(series: series, steps: 0..<12) { _ = try db.appendSync(b) }
        try db.persist()                       // some chunks in SQLite, some sealed, every series an open chunk
        for b in batches(series: series, steps: 12..<20) { _ = try db.appendSync(b) }
        // New series too: in the head only, never persisted.
        for b in batches(series: 20, steps: 0..<3, job: "fresh") { _ = try db.appendSync(b) }
        #expect(try walSegments(dir.path).count > 3)

        var atStop: TempDir? = nil
        db.checkpointFailpoint = { s in
            guard s == step else { return }
            atStop = try dir.crashCopy()        // what a kill -9 at this instant leaves
            throw Stop()
        }
        #expect(throws: Stop.self) { try db.checkpoint() }
        db.checkpointFailpoint = nil
        let stopped = try #require(atStop)
        defer { stopped.remove() }

        // A crash at the step: everything acknowledged so far comes back, nothing doubled.
        let want = expected(series: series, steps: 0..<20) + expected(series: 20, steps: 0..<3, job: "fresh")
        let sorted = want.sorted { $0.labels < $1.labels }
        do {
            let re = try TSDB(directory: stopped.path, options: testOptions(samplesPerChunk: 8))
            #expect(re.walCorruption == nil)
            #expect(try re.select(everything, mint: .min, maxt: .max) == sorted)
            #expect(!FileManager.default.fileExists(atPath: stopped.path + "/wal/" + CheckpointFile.tmpName))
            try re.close()
        }

        // Without a crash the store goes on: appends after the failed checkpoint, a later checkpoint
        // completes, and a crash after it (or a restart) keeps everything.
        for b in batches(series: series, steps: 20..<25) { _ = try db.appendSync(b) }
        let afterAppends = try dir.crashCopy()
        defer { afterAppends.remove() }
        try db.checkpoint()
        let afterCheckpoint = try dir.crashCopy()
        defer { afterCheckpoint.remove() }
        try db.close()
        let all = (expected(series: series, steps: 0..<25) + expected(series: 20, steps: 0..<3, job: "fresh"))
            .sorted { $0.labels < $1.labels }
        for copy in [afterAppends, afterCheckpoint, dir] {
            let re = try TSDB(directory: copy.path, options: testOptions(samplesPerChunk: 8))
            #expect(re.walCorruption == nil)
            #expect(try re.select(everything, mint: .min, maxt: .max) == all)
            try re.close()
        }
    }

    /// Writers append to new and existing series on several threads while readers query and the
    /// maintenance thread checkpoints in small batches; one checkpoint is "killed" midway (a copy of the
    /// directory at that instant). Every sample acknowledged before the copy is in it, every sample
    /// acknowledged at all is in the store and survives a crash copy taken at the end.
    @Test func concurrentAppendsQueriesAndCheckpointsLoseNoAcknowledgedSample() throws {
        let dir = TempDir("ckptconc")
        defer { dir.remove() }
        var o = testOptions(samplesPerChunk: 6)
        o.walSegmentSize = 64 << 10
        let db = try TSDB(directory: dir.path, options: o)
        db.checkpointBatch = 64
        let writers = 4, seriesPerWriter = 300, steps = 30
        let acked = AckedSteps(writers)
        let failures = Failures()
        let done = AtomicFlag()
        let midway = MidwayCopy()
        db.checkpointFailpoint = { s in
            // The third checkpoint, after its second batch: copy the directory as a crash would leave it.
            guard s == .wroteBatches(2) else { return }
            midway.checkpoints += 1
            guard midway.checkpoints == 3 else { return }
            let before = acked.snapshot()
            midway.copy = (try dir.crashCopy(), before)
        }
        let group = DispatchGroup()
        for w in 0..<writers {
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    for k in 0..<steps {
                        // Each step adds 10 new series per writer and appends to the ones it has.
                        let n = min(seriesPerWriter, 10 * (k + 1))
                        let batch = (0..<n).map { i in
                            SeriesSamples(labels: HeadScaleTests.writerLabels(w, i), timestamps: [Int64(k) * 60_000],
                                          values: [Double(w * 1000 + i + k)])
                        }
                        _ = try db.appendSync(batch)
                        acked.set(w, k)
                    }
                } catch { failures.add("writer \(w): \(error)") }
            }.start()
        }
        let others = DispatchGroup()
        others.enter()
        Thread {
            defer { others.leave() }
            do {
                while !done.isSet {
                    for s in try db.select([try LabelMatcher(.regexMatch, "writer", "w[13]")], mint: .min, maxt: .max)
                    where zip(s.timestamps, s.timestamps.dropFirst()).contains(where: { $0 >= $1 }) {
                        failures.add("unordered samples for \(s.labels)")
                    }
                }
            } catch { failures.add("reader: \(error)") }
        }.start()
        others.enter()
        Thread {
            defer { others.leave() }
            do {
                while !done.isSet {
                    try db.persist()
                    try db.checkpoint()
                }
            } catch { failures.add("maintenance: \(error)") }
        }.start()
        group.wait()
        done.set()
        others.wait()
        #expect(failures.all.isEmpty, "\(failures.all.prefix(5))")
        db.checkpointFailpoint = nil

        let m = [try LabelMatcher(.equal, "__name__", "load")]
        func check(_ path: String, ackedUpTo: [Int], exact: Bool) throws {
            let re = try TSDB(directory: path, options: o)
            defer { try? re.close() }
            let got = Dictionary(uniqueKeysWithValues: try re.select(m, mint: .min, maxt: .max).map { ($0.labels, $0) })
            for w in 0..<writers where ackedUpTo[w] >= 0 {
                for i in 0..<min(seriesPerWriter, 10 * (ackedUpTo[w] + 1)) {
                    let labels = HeadScaleTests.writerLabels(w, i)
                    let ks = (i / 10)...ackedUpTo[w]
                    guard let s = got[labels] else {
                        Issue.record("\(path): \(labels) missing (acknowledged up to step \(ackedUpTo[w]))")
                        return
                    }
                    let want = ks.map { Int64($0) * 60_000 }
                    let have = exact ? s.timestamps : Array(s.timestamps.prefix(want.count))
                    #expect(have == want, "\(labels)")
                    #expect(s.values.prefix(want.count).elementsEqual(ks.map { Double(w * 1000 + i + $0) }), "\(labels)")
                }
            }
        }
        let (copy, before) = try #require(midway.copy, "no checkpoint reached its second batch three times")
        defer { copy.remove() }
        try check(copy.path, ackedUpTo: before, exact: false)
        let end = try dir.crashCopy()
        defer { end.remove() }
        try check(end.path, ackedUpTo: Array(repeating: steps - 1, count: writers), exact: true)
        try db.close()
        try check(dir.path, ackedUpTo: Array(repeating: steps - 1, count: writers), exact: true)
    }
}

/// The last step each writer had acknowledged (-1: none).
final class AckedSteps: @unchecked Sendable {
    private let lock = NSLock()
    private var steps: [Int]
    init(_ n: Int) { steps = Array(repeating: -1, count: n) }
    func set(_ w: Int, _ k: Int) { lock.withLock { steps[w] = k } }
    func snapshot() -> [Int] { lock.withLock { steps } }
}

/// Written by the maintenance thread only (inside the failpoint), read after it ended.
final class MidwayCopy: @unchecked Sendable {
    var checkpoints = 0
    var copy: (TempDir, [Int])? = nil
}
