import Foundation
import Testing
import VigilCore
import VigilChunk
@testable import VigilStore

/// The head's structures at scale: the postings index (its own lock, lists grown in place, regexes
/// matched outside the lock), many series across a restart, and the counters /metrics reads.
@Suite struct HeadScaleTests {
    /// A small deterministic generator (tests must repeat).
    struct Rng {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    static func randomLabels(_ i: Int, _ r: inout Rng) -> Labels {
        var d: [String: String] = ["__name__": ["cpu", "mem", "disk_io", "net_rx"][r.below(4)], "id": "s\(i)"]
        for name in ["a", "b", "c"] where r.below(3) != 0 {   // labels missing on a third of the series
            d[name] = ["x", "y", "v1", "v2", "v10", "v21", "long-value-\(r.below(5))", ""][r.below(8)]
        }
        d = d.filter { !$0.value.isEmpty }
        return Labels(d)
    }

    @Test func regexSelectionEqualsABruteForceFilter() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let db = try TSDB(directory: dir.path, options: testOptions())
        var r = Rng(state: 42)
        let all = (0..<3000).map { Self.randomLabels($0, &r) }
        for chunk in stride(from: 0, to: all.count, by: 500) {
            _ = try db.appendSync(all[chunk..<min(all.count, chunk + 500)].map {
                SeriesSamples(labels: $0, timestamps: [1000], values: [1])
            })
        }
        // Retention-style removal of some series, so the index also shows removals.
        let gone: [MemSeries] = db.head.lock.withLock {
            (0..<3000).compactMap { (i: Int) -> MemSeries? in i % 7 == 0 ? db.head.seriesLocked(UInt64(i + 1)) : nil }
        }
        db.head.lock.withLock { db.head.removeLocked(gone) }
        let goneRefs = Set(gone.map { $0.ref })
        let live = all.enumerated().filter { !goneRefs.contains(UInt64($0.offset + 1)) }.map(\.element)

        let patterns = ["v1.*", "v[12]", "x|y", "", ".*", ".+", "long-.*", "v1", "cpu|mem", "(v|x).*", "nomatch"]
        var checked = 0
        for _ in 0..<300 {
            var ms: [LabelMatcher] = []
            for _ in 0...r.below(3) {
                let name = ["a", "b", "c", "__name__", "missing"][r.below(5)]
                let type: LabelMatcher.MatchType = [.equal, .notEqual, .regexMatch, .regexNoMatch][r.below(4)]
                let value = type == .equal || type == .notEqual
                    ? ["x", "v1", "", "cpu", "long-value-3"][r.below(5)] : patterns[r.below(patterns.count)]
                ms.append(try LabelMatcher(type, name, value))
            }
            let want = live.filter { l in ms.allSatisfy { $0.matches(l) } }.sorted()
            let got = try db.series(ms, mint: .min, maxt: .max)
            #expect(got == want, "matchers \(ms)")
            checked += want.count
        }
        #expect(checked > 0)
        // The index holds exactly the live series' pairs.
        var pairs: [Label: [UInt64]] = [:]
        db.head.lock.withLock {
            db.head.forEachSeriesLocked { s in for l in db.head.labelsLocked(s) { pairs[l, default: []].append(s.ref) } }
        }
        #expect(db.head.index.allPostings() == pairs.mapValues { $0.sorted() })
        try db.close()
    }

    @Test func concurrentAppendsSelectsAndMaintenanceOnDisk() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var o = testOptions(samplesPerChunk: 8)
        o.compactRange = 4 * 3_600_000
        let db = try TSDB(directory: dir.path, options: o)
        let writers = 3, seriesPerWriter = 400, steps = 40
        let failures = Failures()
        let done = AtomicFlag()
        let group = DispatchGroup()
        for w in 0..<writers {
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    for k in 0..<steps {
                        // New series keep arriving: each step adds 10 per writer.
                        let n = min(seriesPerWriter, 10 * (k + 1))
                        let batch = (0..<n).map { i in
                            SeriesSamples(labels: Self.writerLabels(w, i), timestamps: [Int64(k) * 60_000], values: [Double(w * 1000 + i + k)])
                        }
                        _ = try db.appendSync(batch)
                    }
                } catch { failures.add("writer \(w): \(error)") }
            }.start()
        }
        let readers = DispatchGroup()
        for q in 0..<2 {
            readers.enter()
            Thread {
                defer { readers.leave() }
                do {
                    while !done.isSet {
                        let m = q == 0 ? try LabelMatcher(.regexMatch, "writer", "w[02]") : try LabelMatcher(.regexMatch, "i", "1.*")
                        for s in try db.select([m], mint: .min, maxt: .max) {
                            // Each series' samples come back whole and in time order.
                            if zip(s.timestamps, s.timestamps.dropFirst()).contains(where: { $0 >= $1 }) {
                                failures.add("unordered samples for \(s.labels)")
                            }
                        }
                        _ = try db.labelValues("writer", matchers: [], mint: .min, maxt: .max)
                    }
                } catch { failures.add("reader \(q): \(error)") }
            }.start()
        }
        readers.enter()
        Thread {
            defer { readers.leave() }
            do {
                while !done.isSet {
                    try db.persist()
                    try db.compact()
                    try db.checkpoint()
                    _ = db.counters()
                }
            } catch { failures.add("maintenance: \(error)") }
        }.start()
        group.wait()
        done.set()
        readers.wait()
        #expect(failures.all.isEmpty, "\(failures.all.prefix(5))")

        // Everything every writer appended is there, before and after a restart.
        var want: [SeriesSamples] = []
        for w in 0..<writers {
            for i in 0..<seriesPerWriter {
                let first = i / 10   // series i first appears at step i/10
                let ks = first..<steps
                want.append(SeriesSamples(labels: Self.writerLabels(w, i), timestamps: ks.map { Int64($0) * 60_000 },
                                          values: ks.map { Double(w * 1000 + i + $0) }))
            }
        }
        want.sort { $0.labels < $1.labels }
        let m = [try LabelMatcher(.equal, "__name__", "load")]
        #expect(try db.select(m, mint: .min, maxt: .max) == want)
        try db.close()
        let re = try TSDB(directory: dir.path, options: o)
        #expect(try re.select(m, mint: .min, maxt: .max) == want)
        try re.close()
    }

    static func writerLabels(_ w: Int, _ i: Int) -> Labels {
        Labels(["__name__": "load", "writer": "w\(w)", "i": "\(i)", "job": "node"])
    }

    @Test func restartWith100kSeriesRecoversAllOfThem() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let n = 100_000
        func labels(_ i: Int) -> Labels {
            Labels(["__name__": "node_network_receive_bytes_total", "job": "node", "host": "host-\(i / 100)",
                    "device": "eth\(i % 100)"])
        }
        var db = try TSDB(directory: dir.path, options: testOptions())
        for start in stride(from: 0, to: n, by: 10_000) {
            _ = try db.appendSync((start..<start + 10_000).map {
                SeriesSamples(labels: labels($0), timestamps: [0, 15_000], values: [Double($0), Double($0) + 1])
            })
        }
        // A crash copy (WAL only) and a clean close (series rows in SQLite, open chunks in the WAL).
        let crashed = try dir.crashCopy()
        defer { crashed.remove() }
        try db.close()
        for path in [dir.path, crashed.path] {
            db = try TSDB(directory: path, options: testOptions())
            let c = db.counters()
            #expect(c.series == n && c.samples == 2 * n, "\(path)")
            #expect(try db.series([try LabelMatcher(.equal, "job", "node")], mint: .min, maxt: .max).count == n)
            #expect(try db.series([try LabelMatcher(.equal, "host", "host-517")], mint: .min, maxt: .max)
                    == (51_700..<51_800).map(labels).sorted())
            let one = try db.select([try LabelMatcher(.equal, "host", "host-999"), try LabelMatcher(.equal, "device", "eth99")],
                                    mint: .min, maxt: .max)
            #expect(one == [SeriesSamples(labels: labels(n - 1), timestamps: [0, 15_000], values: [Double(n - 1), Double(n)])])
            // Appending goes on with the same refs: no new series.
            let r = try db.appendSync([SeriesSamples(labels: labels(7), timestamps: [30_000], values: [1])])
            #expect(r.newSeries == 0 && r.accepted == 1)
            try db.close()
        }
    }

    @Test func countersEqualARealCountThroughAppendsFlushCompactionAndRetention() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var o = testOptions(samplesPerChunk: 20, retention: 90 * 60_000)
        o.compactRange = 4 * 3_600_000
        // Retention counts back from the store's clock: it follows the data's time here.
        let clock = SimulatedClock(startMillis: 0)
        o.clock = clock
        let db = try TSDB(directory: dir.path, options: o)
        func check(_ when: String) throws {
            let c = db.counters()
            let st = try db.stats()
            let real = try db.readers.with { conn in
                (try conn.scalarInt("SELECT count(*) FROM chunks") ?? 0,
                 try conn.scalarInt("SELECT coalesce(sum(num_samples), 0) FROM chunks") ?? 0)
            }
            let series = db.head.lock.withLock { db.head.seriesCountLocked }
            #expect(c.series == series, "\(when): series")
            #expect(c.headSamples == st.headSamples && c.headChunks == st.headChunks, "\(when): head \(c) vs \(st)")
            #expect(c.persistedChunks == Int(real.0) && c.persistedSamples == Int(real.1), "\(when): sqlite \(c) vs \(real)")
            #expect(c.samples == st.samples, "\(when): samples")
            #expect(c.sqliteBytes > 0, "\(when): bytes")
        }
        // 50 series for 6 h at 1 min, then a second job only for the last hour.
        for k in 0..<360 {
            clock.advance(to: Int64(k) * 60_000)
            var b = (0..<50).map { SeriesSamples(labels: seriesLabels($0), timestamps: [Int64(k) * 60_000], values: [Double(k)]) }
            if k >= 300 {
                b += (0..<20).map { SeriesSamples(labels: seriesLabels($0, job: "late"), timestamps: [Int64(k) * 60_000], values: [1]) }
            }
            _ = try db.appendSync(b)
            if k == 60 { try check("after appends") }
            if k == 90 { try db.persist(); try check("after persist") }
        }
        try check("before flush")
        try db.flush()
        try check("after flush (compacted)")
        // The compacted window [0, 4 h) ends before 6 h - 90 min: it goes. Then the first job stops and ages out.
        let r = try db.applyRetention()
        #expect(r.deletedChunks > 0)
        try check("after retention")
        for k in 360..<600 {
            clock.advance(to: Int64(k) * 60_000)
            _ = try db.appendSync((0..<20).map { SeriesSamples(labels: seriesLabels($0, job: "late"), timestamps: [Int64(k) * 60_000], values: [2]) })
        }
        try db.flush()
        let r2 = try db.applyRetention()
        #expect(r2.deletedSeries == 50)
        try check("after retention removed series")
        try db.close()
        let re = try TSDB(directory: dir.path, options: o)
        let c = re.counters()
        let st = try re.stats()
        #expect(c.series == 20 && c.samples == st.samples && c.persistedChunks == st.persistedChunks)
        try re.close()
    }

    @Test func formatTwoDirectoryIsUpgradedAndAnUnknownFormatIsRefusedByName() throws {
        let dir = TempDir()
        defer { dir.remove() }
        var db = try TSDB(directory: dir.path, options: testOptions())
        for b in batches(series: 5, steps: 0..<10) { _ = try db.appendSync(b) }
        try db.flush()
        try db.close()
        // Make it what format 2 left: the label_index table and version 2.
        do {
            let conn = try SQLiteConnection(path: dir.path + "/vigil.db")
            try conn.exec("CREATE TABLE label_index(name TEXT NOT NULL, value TEXT NOT NULL, series_ids BLOB NOT NULL, PRIMARY KEY(name, value)) WITHOUT ROWID")
            try conn.exec("INSERT INTO label_index VALUES('job', 'node', x'00')")
            try conn.exec("UPDATE meta SET value=2 WHERE key='format_version'")
        }
        db = try TSDB(directory: dir.path, options: testOptions())
        #expect(try db.select(everything, mint: .min, maxt: .max) == expected(series: 5, steps: 0..<10))
        try db.close()
        do {
            let conn = try SQLiteConnection(path: dir.path + "/vigil.db")
            #expect(try conn.scalarInt("SELECT value FROM meta WHERE key='format_version'") == 3)
            #expect(try conn.scalarInt("SELECT count(*) FROM sqlite_master WHERE name='label_index'") == 0)
            try conn.exec("UPDATE meta SET value=4 WHERE key='format_version'")
        }
        do {
            _ = try TSDB(directory: dir.path, options: testOptions())
            Issue.record("a format 4 directory opened")
        } catch {
            #expect("\(error)".contains("unsupported format_version 4"), "\(error)")
        }
    }

    /// A series is one allocation: 101 bytes of fields (`SeriesState`) after the 16-byte object header, then its
    /// label ids; a 6-label series (12 ids) takes 168 bytes, a 176-byte malloc block. Fails when a field grows it.
    @Test func seriesFieldsStayPacked() {
        #expect(MemoryLayout<ChunkBuilder>.size == 46)
        #expect(MemoryLayout<SeriesState>.size == 101)
        let s = MemSeries.make(ref: 7, labelIDs: Array(0..<12))
        #expect(s.withLabelIDs { Array($0) } == Array(0..<12) && s.ref == 7)
        s.inSQLite = true
        s.lastValueBits = 42
        #expect(s.inSQLite && !s.isDirty && s.lastValueBits == 42)
        s.isDirty = true
        s.lastValueBits = nil
        #expect(s.inSQLite && s.isDirty && s.lastValueBits == nil)
    }

    /// A label set larger than a series can hold is refused before anything is written.
    @Test func tooManyLabelsAreRefused() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let db = try TSDB(directory: dir.path, options: testOptions())
        var d = ["__name__": "wide"]
        for i in 0..<MemSeries.maxLabels { d["l\(i)"] = "v" }
        let wide = Labels(d)
        #expect(wide.count == MemSeries.maxLabels + 1)
        #expect(throws: InvalidSeriesError.self) {
            _ = try db.appendSync([SeriesSamples(labels: wide, timestamps: [1], values: [1])])
        }
        #expect(db.head.lock.withLock { db.head.seriesCountLocked } == 0)
        try db.close()
    }

    /// The head's series hash table (open addressing, removal by backward shift) against a dictionary, with
    /// hashes drawn from a few tags so that runs are long, tags collide and runs wrap around the table's end.
    @Test func seriesHashTableMatchesADictionary() {
        var t = SeriesHashTable()
        var want: [UInt64: UInt64] = [:]   // ref → hash
        var r = HeadScaleTests.Rng(state: 7)
        var next: UInt64 = 1
        for step in 0..<20_000 {
            if want.isEmpty || r.below(3) != 0 {
                let h = (UInt64(r.below(step % 2 == 0 ? 40 : 5_000)) << 32) | UInt64(r.below(1 << 20))
                t.insert(h, ref: next)
                want[next] = h
                next += 1
            } else {
                let ref = Array(want.keys)[r.below(want.count)]
                t.remove(want[ref]!, ref: ref)
                want[ref] = nil
                t.remove(0x7777 << 32, ref: 999_999)   // absent: a no-op
            }
            if step % 500 == 0 || step == 19_999 {
                #expect(t.count == want.count)
                for (ref, h) in want {
                    var seen: [UInt64] = []
                    t.first(h) { seen.append($0); return false }
                    #expect(seen.contains(ref), "ref \(ref) lost at step \(step)")
                    // Every ref reported under a tag carries that tag.
                    #expect(seen.allSatisfy { want[$0].map { $0 >> 32 } == h >> 32 })
                }
            }
        }
    }
}

final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func add(_ s: String) { lock.withLock { list.append(s) } }
    var all: [String] { lock.withLock { list } }
}

final class AtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }

}
