import ArgumentParser
import Foundation
import Logging
import VigilChunk
import VigilCore
import VigilStore
#if canImport(Glibc)
import Glibc
#endif

struct BenchStoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Benchmark the store: append rate, head memory, bytes per sample after flush, read-back time, losslessness.",
        discussion: """
            Loads the workload (default: the neutral generator's 10,000 series x 720 samples written by
            `python3 Benchmarks/workload.py`), appends it in time order the way an ingest would (every
            batch holds --per-batch samples of each series of one writer; series i goes to writer
            i mod --writers), persists and flushes, then reopens the store and reads every series back,
            checking every bit. Runs in a fresh temporary directory unless --data is given.

            Examples:
              python3 Benchmarks/workload.py && vigil bench store
              vigil bench store --synthetic 1000x720 --writers 1 --fsync 1s
            """
    )

    @Option(name: .long, help: "Workload file (Benchmarks/workload.py output).")
    var workload: String = BenchWorkload.defaultPath

    @Option(name: .long, help: "Use generated data instead of a workload file: SERIESxSAMPLES, e.g. 10000x720.")
    var synthetic: String?

    @Option(name: .long, help: "Data directory (must not exist; default: a temporary directory, removed afterwards).")
    var data: String?

    @Option(name: .long, help: "Concurrent appenders (threads), like remote_write connections.")
    var writers: Int = 4

    @Option(name: .long, help: "Samples of each series per append batch.")
    var perBatch: Int = 1

    @Option(name: .long, help: "WAL fsync policy: always, or an interval such as 1s.")
    var fsync: String = "always"

    @Option(name: .long, help: "Read-back repetitions (the best and all runs are printed).")
    var reads: Int = 3

    @Option(name: .long, help: "Append API: refs (each writer's first batch by labels, the rest by the series refs it returned, as an ingest path with a series cache does) or labels (every batch by label sets).")
    var api: String = "refs"

    func run() throws {
        let policy: WALFsyncPolicy
        if fsync == "always" {
            policy = .always
        } else {
            do { policy = .interval(milliseconds: try DurationParser.milliseconds(fsync)) } catch {
                throw ValidationError("--fsync: \(error)")
            }
        }
        guard api == "refs" || api == "labels" else { throw ValidationError("--api must be refs or labels") }
        let byRef = api == "refs"
        guard writers >= 1, perBatch >= 1, reads >= 1 else { throw ValidationError("--writers, --per-batch and --reads must be >= 1") }

        // 1. Workload.
        let t0 = now()
        let series: [SeriesSamples]
        if let synthetic {
            let parts = synthetic.split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts[0] > 0, parts[1] > 0 else { throw ValidationError("--synthetic wants SERIESxSAMPLES, e.g. 1000x720") }
            series = Self.synthetic(series: parts[0], samples: parts[1])
            log("workload: synthetic \(parts[0]) series x \(parts[1]) samples")
        } else {
            series = try BenchWorkload.load(path: workload)
            log("workload: \(workload): \(series.count) series")
        }
        let total = series.reduce(0) { $0 + $1.count }
        let maxLen = series.map(\.count).max() ?? 0
        // Batches per writer, built before the clock starts.
        var perWriter = [[[SeriesSamples]]](repeating: [], count: writers)
        // For --api refs: per writer and batch (after the first), the writer-local series index of
        // every sample and the samples, flattened.
        var refBatches = [[(idx: [Int], batch: RefSamples)]](repeating: [], count: writers)
        for w in 0..<writers {
            let mine = stride(from: w, to: series.count, by: writers).map { series[$0] }
            for k in stride(from: 0, to: maxLen, by: perBatch) {
                if byRef && k > 0 {
                    var idx: [Int] = []
                    var rb = RefSamples()
                    for (j, s) in mine.enumerated() {
                        for q in k..<min(k + perBatch, s.count) {
                            idx.append(j)
                            rb.append(ref: 0, s.timestamps[q], s.values[q])
                        }
                    }
                    if !idx.isEmpty { refBatches[w].append((idx, rb)) }
                    continue
                }
                let batch = mine.compactMap { s -> SeriesSamples? in
                    let hi = min(k + perBatch, s.count)
                    guard k < hi else { return nil }
                    return SeriesSamples(labels: s.labels, timestamps: Array(s.timestamps[k..<hi]), values: Array(s.values[k..<hi]))
                }
                if !batch.isEmpty { perWriter[w].append(batch) }
            }
        }
        log(String(format: "prepared %d samples in %d batches (%d by labels, %d by ref; %.1f s)", total,
                   perWriter.map(\.count).reduce(0, +) + refBatches.map(\.count).reduce(0, +),
                   perWriter.map(\.count).reduce(0, +), refBatches.map(\.count).reduce(0, +), now() - t0))

        let dir = data ?? (NSTemporaryDirectory() + "vigil-bench-store-\(getpid())")
        if FileManager.default.fileExists(atPath: dir) { throw ValidationError("\(dir) already exists; pass a new --data directory") }
        defer { if data == nil { try? FileManager.default.removeItem(atPath: dir) } }
        var opts = TSDBOptions()
        opts.maintenanceInterval = nil
        opts.retention = 0
        opts.walFsync = policy
        var logger = Logger(label: "vigil.store")
        logger.logLevel = .warning
        opts.logger = logger

        // 2. Append.
        let heap0 = heapInUse()
        var db = try TSDB(directory: dir, options: opts)
        let cpu0 = cpuSeconds()
        let a0 = now()
        let results = ResultBox(writers)
        let done = DispatchGroup()
        let progress = ProgressBox(total: total)
        for w in 0..<writers {
            done.enter()
            let batches = perWriter[w]
            let prepared = refBatches[w]
            let t = Thread { [db] in
                defer { done.leave() }
                var byRefBatches = prepared
                do {
                    var seriesRefs: [UInt64] = []
                    for b in batches {
                        let r = try db.appendSync(b, refs: RefSamples())
                        if seriesRefs.isEmpty { seriesRefs = r.seriesRefs }
                        results.add(w, r.result)
                        progress.add(r.result.accepted)
                    }
                    for k in byRefBatches.indices {
                        // The gather an ingest cache does: local series → store ref.
                        for (e, j) in byRefBatches[k].idx.enumerated() { byRefBatches[k].batch.refs[e] = seriesRefs[j] }
                        let r = try db.appendSync([], refs: byRefBatches[k].batch)
                        guard r.unknownRefs.isEmpty else { throw ValidationError("unknown refs after the first batch") }
                        results.add(w, r.result)
                        progress.add(r.result.accepted)
                    }
                } catch {
                    results.fail(error)
                }
            }
            t.start()
        }
        done.wait()
        let appendWall = now() - a0
        let appendCPU = cpuSeconds() - cpu0
        if let e = results.error { throw e }
        let r = results.total
        guard r.accepted == total else { throw ValidationError("only \(r.accepted) of \(total) samples accepted: \(r)") }
        log(String(format: "append: %d samples in %.3f s wall = %.0f samples/s; %.3f CPU-s = %.0f samples per CPU-second (%d writers, %d per batch, fsync %@, api %@)",
                   total, appendWall, Double(total) / appendWall, appendCPU, Double(total) / appendCPU, writers, perBatch, policy.description, api))

        // 3. Persist sealed chunks (re-encoded with the best codec), then head memory.
        let p0 = now()
        let persisted = try db.persist()
        let persistWall = now() - p0
        let heap1 = heapInUse()
        let st1 = try db.stats()
        let headBytes = heap1 - heap0
        log(String(format: "persist: %d sealed chunks into SQLite in %.3f s", persisted, persistWall))
        log(String(format: "head memory: %d bytes for %d series = %.0f bytes/series (%d samples still in open chunks; malloc in-use delta, includes index and SQLite caches)",
                   headBytes, st1.series, Double(headBytes) / Double(max(1, st1.series)), st1.headSamples))

        // 4. Flush and measure the file.
        let f0 = now()
        try db.flush()
        let flushWall = now() - f0
        let st2 = try db.stats()
        let enc = try db.chunkEncodingStats()
        try db.close()
        let dbBytes = fileSize(dir + "/vigil.db")
        let dirBytes = directorySize(dir)
        log(String(format: "flush: %.3f s; vigil.db %d bytes = %.3f bytes/sample (whole directory %d bytes = %.3f)",
                   flushWall, dbBytes, Double(dbBytes) / Double(total), dirBytes, Double(dirBytes) / Double(total)))
        let payload = enc.reduce(0) { $0 + $1.bytes }
        for e in enc {
            let name = ChunkEncoding(rawValue: e.encoding).map { "\($0)" } ?? "#\(e.encoding)"
            log(String(format: "  encoding %@: %d chunks, %d samples, %.3f payload bytes/sample", name, e.chunks, e.samples,
                       Double(e.bytes) / Double(max(1, e.samples))))
        }
        log(String(format: "  chunk payload %.3f bytes/sample; SQLite rows, index and series the rest", Double(payload) / Double(total)))
        _ = st2

        // 5. Reopen and read everything back.
        let o0 = now()
        db = try TSDB(directory: dir, options: opts)
        let openWall = now() - o0
        let all = [try LabelMatcher(.regexMatch, "__name__", ".+")]
        var readTimes: [Double] = []
        var got: [SeriesSamples] = []
        for _ in 0..<reads {
            let s0 = now()
            got = try db.select(all, mint: .min, maxt: .max)
            readTimes.append(now() - s0)
        }
        try db.close()
        let readSamples = got.reduce(0) { $0 + $1.count }
        log(String(format: "reopen: %.3f s; read all %d series / %d samples: best %.1f ms (runs: %@)", openWall, got.count, readSamples,
                   (readTimes.min() ?? 0) * 1000, readTimes.map { String(format: "%.1f", $0 * 1000) }.joined(separator: ", ")))

        // 6. Lossless?
        let want = series.sorted { $0.labels < $1.labels }
        var mismatches = 0
        if want.count != got.count { mismatches += abs(want.count - got.count) }
        for (a, b) in zip(want, got) where a != b {
            if mismatches < 3 { log("MISMATCH: \(a.labels) vs \(b.labels) (\(a.count) vs \(b.count) samples)") }
            mismatches += 1
        }
        log(mismatches == 0 ? "lossless: every timestamp and every value bit of \(readSamples) samples came back"
                            : "NOT LOSSLESS: \(mismatches) series differ")
        if mismatches > 0 { throw ExitCode(1) }
    }

    static func synthetic(series n: Int, samples m: Int) -> [SeriesSamples] {
        let start: Int64 = 1_795_993_200_000
        return (0..<n).map { i in
            let labels = Labels(["__name__": "synthetic_metric_\(i % 20)", "job": "node", "host": "host-\(i / 100)",
                                 "dc": "dc\(i % 3)", "cpu": "\(i % 8)"])
            var v = Double(i)
            var ts: [Int64] = []
            var vs: [Double] = []
            for k in 0..<m {
                ts.append(start + Int64(k) * 15_000)
                v += Double((i * 31 + k * 17) % 100) / 100
                vs.append(v)
            }
            return SeriesSamples(labels: labels, timestamps: ts, values: vs)
        }
    }
}

private func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

private func log(_ s: String) { FileHandle.standardOutput.write(Data((s + "\n").utf8)) }

private func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
}

/// Bytes malloc has handed out and not got back: glibc's mallinfo2().uordblks. Swift's Glibc module
/// does not import <malloc.h>, so the symbol is looked up at run time. mallinfo2 returns a 10-word
/// struct, which the x86-64 System V ABI returns through a caller-provided pointer (first argument).
private func heapInUse() -> Int {
    #if arch(x86_64) && os(Linux)
    typealias Fn = @convention(c) (UnsafeMutableRawPointer) -> UnsafeMutableRawPointer?
    guard let sym = dlsym(dlopen(nil, RTLD_NOW), "mallinfo2") else { return -1 }
    let f = unsafeBitCast(sym, to: Fn.self)
    var words = [Int](repeating: 0, count: 10)
    words.withUnsafeMutableBytes { _ = f($0.baseAddress!) }
    return words[7] + words[4] // uordblks (arena in use) + hblkhd (mmapped blocks)
    #else
    return -1
    #endif
}

private func fileSize(_ p: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: p))?[.size] as? Int) ?? 0 }

private func directorySize(_ dir: String) -> Int {
    guard let e = FileManager.default.enumerator(atPath: dir) else { return 0 }
    var n = 0
    while let f = e.nextObject() as? String { n += fileSize(dir + "/" + f) }
    return n
}

private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [AppendResult]
    private var firstError: Error?
    init(_ n: Int) { results = Array(repeating: AppendResult(), count: n) }
    func add(_ w: Int, _ r: AppendResult) { lock.withLock { results[w] += r } }
    func fail(_ e: Error) { lock.withLock { if firstError == nil { firstError = e } } }
    var error: Error? { lock.withLock { firstError } }
    var total: AppendResult { lock.withLock { results.reduce(into: AppendResult()) { $0 += $1 } } }
}

/// Prints a progress line every ~10% of the samples.
private final class ProgressBox: @unchecked Sendable {
    private let lock = NSLock()
    private let total: Int
    private var done = 0
    private var nextReport: Int
    init(total: Int) {
        self.total = total
        nextReport = max(1, total / 10)
    }
    func add(_ n: Int) {
        let report: Int? = lock.withLock {
            done += n
            guard done >= nextReport else { return nil }
            nextReport += max(1, total / 10)
            return done
        }
        if let report { FileHandle.standardError.write(Data("  appended \(report)/\(total) samples\n".utf8)) }
    }
}
