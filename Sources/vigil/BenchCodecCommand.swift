import ArgumentParser
import Foundation
import VigilChunk
import VigilCore

/// `vigil bench codec`: chunk compression and codec speed on the benchmark workload.
struct BenchCodecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codec",
        abstract: "Measure chunk compression (bytes/sample per encoding and per metric family) and encode/decode speed.",
        discussion: """
            Cuts every series of the workload into sealed chunks of --chunk samples, encodes each with every encoding and with encodeBest (the store's choice), checks that every chunk decodes back bit for bit, and times head appends, encodeBest and decode in thread CPU time (wall time beside). Build with -c release for meaningful speeds. Create the workload first (once) with: python3 Benchmarks/workload.py

            Example:
              swift build -c release && .build/release/vigil bench codec --workload .build-bench/workload.vwl
            """
    )

    @Option(help: "Workload file written by Benchmarks/workload.py.")
    var workload: String = BenchWorkload.defaultPath

    @Option(help: "Samples per sealed chunk.")
    var chunk: Int = 120

    @Option(help: "Timed decode passes over all chunks (the best pass is reported).")
    var rounds: Int = 5

    @Option(help: "Use only the first N series (0: all).")
    var series: Int = 0

    func validate() throws {
        guard chunk >= 1 else { throw ValidationError("--chunk must be >= 1") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be >= 1") }
        guard series >= 0 else { throw ValidationError("--series must be >= 0") }
    }

    struct Tally {
        var samples = 0
        var chunks = 0
        var best = 0
        var perEncoding = [Int](repeating: 0, count: 256)
        var chosen = [Int](repeating: 0, count: 256)
    }

    func run() throws {
        let t0 = Date()
        var all = try BenchWorkload.load(path: workload)
        if series > 0 && all.count > series { all.removeLast(all.count - series) }
        let nSamples = all.reduce(0) { $0 + $1.count }
        log("loaded \(all.count) series, \(nSamples) samples from \(workload) in \(fmt(Date().timeIntervalSince(t0), 1)) s")

        // Sizes: every encoding and encodeBest, per family; verify round trips.
        var families: [String: Tally] = [:]
        var total = Tally()
        var blobs: [[UInt8]] = []
        blobs.reserveCapacity(nSamples / chunk + all.count)
        var tsBack: [Int64] = [], vsBack: [Double] = []
        for (si, s) in all.enumerated() {
            let fam = s.labels.metricName ?? "?"
            var tally = families[fam] ?? Tally()
            var lo = 0
            while lo < s.count {
                let hi = min(lo + chunk, s.count)
                let ts = s.timestamps[lo..<hi], vs = s.values[lo..<hi]
                let best = ChunkCodec.encodeBest(timestamps: ts, values: vs)
                tsBack.removeAll(keepingCapacity: true)
                vsBack.removeAll(keepingCapacity: true)
                try ChunkCodec.decode(best, into: &tsBack, &vsBack)
                guard tsBack.elementsEqual(ts), vsBack.elementsEqual(vs, by: { $0.bitPattern == $1.bitPattern }) else {
                    throw ValidationError("round trip failed: series \(si) \(s.labels) samples \(lo)..<\(hi), encoding \(best[0])")
                }
                tally.samples += hi - lo
                tally.chunks += 1
                tally.best += best.count
                tally.chosen[Int(best[0])] += 1
                for e in ChunkEncoding.allCases {
                    let b = ChunkCodec.encode(e, timestamps: ts, values: vs)
                    tally.perEncoding[Int(e.rawValue)] += b.count
                }
                blobs.append(best)
                lo = hi
            }
            families[fam] = tally
            if (si + 1) % max(1, all.count / 10) == 0 { log("  encoded \(si + 1)/\(all.count) series") }
        }
        for t in families.values {
            total.samples += t.samples
            total.chunks += t.chunks
            total.best += t.best
            for i in 0..<256 {
                total.perEncoding[i] += t.perEncoding[i]
                total.chosen[i] += t.chosen[i]
            }
        }

        // Speeds are measured in this thread's CPU time (the machine may be shared), wall time beside.
        // Head appends: ChunkBuilder.append over every chunk.
        var appendS = Double.infinity, appendWall = Double.infinity
        var fullChunks = 0, fullBytes = 0, fullMax = 0
        for _ in 0..<max(1, rounds / 2) {
            fullChunks = 0
            fullBytes = 0
            let c0 = cpuNanos(), w0 = DispatchTime.now().uptimeNanoseconds
            var sink = 0
            for s in all {
                var lo = 0
                while lo < s.count {
                    let hi = min(lo + chunk, s.count)
                    var b = ChunkBuilder()
                    for i in lo..<hi { b.append(s.timestamps[i], s.values[i]) }
                    sink &+= b.byteCount
                    if hi - lo == chunk {
                        fullChunks += 1
                        fullBytes += b.byteCount
                        fullMax = max(fullMax, b.byteCount)
                    }
                    lo = hi
                }
            }
            appendS = min(appendS, Double(cpuNanos() - c0) / 1e9)
            appendWall = min(appendWall, Double(DispatchTime.now().uptimeNanoseconds - w0) / 1e9)
            if sink == 0 { log("(empty)") }
        }

        // Sealing: encodeBest over every chunk.
        var encodeBestS = Double.infinity, encodeWall = Double.infinity
        for _ in 0..<max(1, rounds / 2) {
            let c0 = cpuNanos(), w0 = DispatchTime.now().uptimeNanoseconds
            var sink = 0
            for s in all {
                var lo = 0
                while lo < s.count {
                    let hi = min(lo + chunk, s.count)
                    sink &+= ChunkCodec.encodeBest(timestamps: s.timestamps[lo..<hi], values: s.values[lo..<hi]).count
                    lo = hi
                }
            }
            encodeBestS = min(encodeBestS, Double(cpuNanos() - c0) / 1e9)
            encodeWall = min(encodeWall, Double(DispatchTime.now().uptimeNanoseconds - w0) / 1e9)
            if sink == 0 { log("(empty)") }
        }

        // Decode speed: every chunk, one series' worth of columns reused (as a reader would).
        let chunksPerSeries = max(1, ((all.first?.count ?? 0) + chunk - 1) / chunk)
        var decodeS = Double.infinity, decodeWall = Double.infinity
        var ts: [Int64] = [], vs: [Double] = []
        ts.reserveCapacity(chunksPerSeries * chunk)
        vs.reserveCapacity(chunksPerSeries * chunk)
        for _ in 0..<rounds {
            let c0 = cpuNanos(), w0 = DispatchTime.now().uptimeNanoseconds
            var decoded = 0
            ts.removeAll(keepingCapacity: true)
            vs.removeAll(keepingCapacity: true)
            for (i, b) in blobs.enumerated() {
                if i % chunksPerSeries == 0 {
                    decoded += ts.count
                    ts.removeAll(keepingCapacity: true)
                    vs.removeAll(keepingCapacity: true)
                }
                try ChunkCodec.decode(b, into: &ts, &vs)
            }
            decoded += ts.count
            decodeS = min(decodeS, Double(cpuNanos() - c0) / 1e9)
            decodeWall = min(decodeWall, Double(DispatchTime.now().uptimeNanoseconds - w0) / 1e9)
            guard decoded == nSamples else { throw ValidationError("decoded \(decoded) samples, expected \(nSamples)") }
        }

        // Report.
        let encs = ChunkEncoding.allCases
        var header = "| family | series | samples | encodeBest B/sample |"
        var rule = "|---|---:|---:|---:|"
        for e in encs {
            header += " \(e) |"
            rule += "---:|"
        }
        header += " chunks by encoding |"
        rule += "---|"
        print(header)
        print(rule)
        func row(_ name: String, _ t: Tally, _ nSeries: Int) {
            var line = "| \(name) | \(nSeries) | \(t.samples) | **\(fmt(Double(t.best) / Double(t.samples), 3))** |"
            for e in encs { line += " \(fmt(Double(t.perEncoding[Int(e.rawValue)]) / Double(t.samples), 3)) |" }
            let mix = encs.filter { t.chosen[Int($0.rawValue)] > 0 }.map { "\($0): \(t.chosen[Int($0.rawValue)])" }
            line += " \(mix.joined(separator: ", ")) |"
            print(line)
        }
        var seriesPerFamily: [String: Int] = [:]
        for s in all { seriesPerFamily[s.labels.metricName ?? "?", default: 0] += 1 }
        for name in families.keys.sorted() { row(name, families[name]!, seriesPerFamily[name] ?? 0) }
        row("**all**", total, all.count)
        print("")
        print("chunks: \(total.chunks) of up to \(chunk) samples; encodeBest bytes: \(total.best) for \(total.samples) samples = \(fmt(Double(total.best) / Double(total.samples), 3)) bytes/sample (headers included)")
        if fullChunks > 0 {
            print("head: an open chunk of \(chunk) samples holds \(fmt(Double(fullBytes) / Double(fullChunks), 0)) bytes on average, \(fullMax) at most (ChunkBuilder.byteCount: stream capacity + struct + array header)")
        }
        print("")
        print("speeds on one core, in thread CPU time (wall time in brackets), best of the passes:")
        print("  head append (ChunkBuilder.append): \(fmt(Double(nSamples) / appendS / 1e6, 1)) M samples/s  (\(fmt(Double(nSamples) / appendWall / 1e6, 1)) wall)")
        print("  seal (encodeBest):                 \(fmt(Double(nSamples) / encodeBestS / 1e6, 1)) M samples/s  (\(fmt(Double(nSamples) / encodeWall / 1e6, 1)) wall)")
        print("  decode (ChunkCodec.decode):        \(fmt(Double(nSamples) / decodeS / 1e6, 1)) M samples/s  (\(fmt(Double(nSamples) / decodeWall / 1e6, 1)) wall): \(fmt(decodeS * 1000, 1)) ms for all \(nSamples) samples (\(fmt(decodeWall * 1000, 1)) wall), best of \(rounds)")
    }

    func cpuNanos() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    func log(_ s: String) { FileHandle.standardError.write((s + "\n").data(using: .utf8)!) }

    func fmt(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }
}
