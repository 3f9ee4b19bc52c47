import ArgumentParser
import Foundation
import VigilForecast

struct BenchForecastCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forecast",
        abstract: "Forecast throughput: N series × L inputs → H steps in one pass, against OpenBLAS' dgemm peak.",
        discussion: """
            Builds an N×L matrix of synthetic series (not timed), then times the full inference (per-row normalisation
            + one dgemm (N×L)·(L×H) + denormalisation + interval bounds), best of --reps, split across --threads
            dedicated threads. In the same run it measures OpenBLAS' own dgemm peak (2048³, 2 threads) so the
            GFLOP/s can be compared. Build with -c release.

            Example:
              swift build -c release && .build/release/vigil bench forecast --series 1000000 --input-length 288 --horizon 12
            """
    )

    @Option(help: "Number of series.") var series = 1_000_000
    @Option(name: .customLong("input-length"), help: "L, inputs per series.") var inputLength = 288
    @Option(help: "H, steps forecast per series.") var horizon = 12
    @Option(help: "Repetitions (best is reported).") var reps = 5
    @Option(help: "Dedicated threads for the inference.") var threads = 2
    @Option(help: "Optional .vgm forecaster (must match L and H); otherwise one is fitted on synthetic data.") var model: String?
    @Flag(help: "Also time the single-precision path (sgemm, no intervals).") var float = false

    func run() async throws {
        let n = series, L = inputLength, H = horizon, reps = reps, threads = threads, modelPath = model, withFloat = float
        let result = try await BLASWorker.shared.run { () throws -> String in
            var out = ""
            func say(_ s: String) { stderr(s); out += s + "\n" }
            // 1. dgemm peak
            BLAS.setThreads(2)
            let s = 2048
            let a = [Double](repeating: 1.0001, count: s * s), b = a
            var c = [Double](repeating: 0, count: s * s)
            var peak = 0.0
            for _ in 0..<4 {
                let t = Date()
                BLAS.gemm(a, b, &c, m: s, n: s, k: s)
                peak = max(peak, 2 * Double(s * s * s) / Date().timeIntervalSince(t) / 1e9)
            }
            say("OpenBLAS \(BLAS.coreName): dgemm 2048³ peak (2 threads) \(String(format: "%.1f", peak)) GFLOP/s")
            // 2. model
            let m: LinearForecaster
            if let modelPath {
                m = try LinearForecaster(modelFile: ModelFile.read(path: modelPath))
                guard m.inputLength == L, m.horizon == H else { throw ValidationError("model has L=\(m.inputLength), H=\(m.horizon)") }
            } else {
                var rng = SplitMix(seed: 1)
                let train = (0..<64).map { _ in TrainingSeries(values: synthetic(L * 6, &rng), calibrationStart: L * 5) }
                m = try ForecasterTrainer.fit(train, options: ForecasterTrainingOptions(inputLength: L, horizon: H, stepMs: 300_000)).0
            }
            // 3. data (not timed)
            say("filling \(n)×\(L) matrix (\(String(format: "%.2f", Double(n * L * 8) / 1e9)) GB)…")
            var x = [Double](repeating: 0, count: n * L)
            x.withUnsafeMutableBufferPointer { xp in
                let base = xp.baseAddress!
                let box = UnsafeSendable(base)
                runOnThreads(2) { p in
                    var rng = SplitMix(seed: UInt64(p + 7))
                    for r in (n * p / 2)..<(n * (p + 1) / 2) {
                        let level = rng.uniform() * 100, amp = rng.uniform() * 20, phase = rng.uniform() * 6.28
                        for i in 0..<L {
                            box.p[r * L + i] = level + amp * sin(Double(i) * 6.2832 / Double(L) + phase) + rng.uniform()
                        }
                    }
                }
            }
            var f = [Double](repeating: 0, count: n * H), lo = f, hi = f, g = f
            var best = Double.infinity, bestGemm = Double.infinity
            for _ in 0..<reps {
                let t = Date()
                x.withUnsafeBufferPointer { xp in
                    f.withUnsafeMutableBufferPointer { fp in
                        lo.withUnsafeMutableBufferPointer { lp in
                            hi.withUnsafeMutableBufferPointer { hp in
                                m.predict(xp.baseAddress!, rows: n, forecast: fp.baseAddress!, lo: lp.baseAddress, hi: hp.baseAddress,
                                          threads: threads)
                            }
                        }
                    }
                }
                best = min(best, Date().timeIntervalSince(t))
                // dgemm alone on the same shapes (OpenBLAS threads=2), for reference
                let t2 = Date()
                x.withUnsafeBufferPointer { xp in
                    m.weights.withUnsafeBufferPointer { wp in
                        g.withUnsafeMutableBufferPointer { gp in BLAS.gemm(xp.baseAddress!, wp.baseAddress!, gp.baseAddress!, m: n, n: H, k: L) }
                    }
                }
                bestGemm = min(bestGemm, Date().timeIntervalSince(t2))
            }
            let flops = 2 * Double(n) * Double(L) * Double(H)
            say(String(format: "forecast %d series (L=%d, H=%d, %d threads): %.3f s best of %d → %.1f M series/s, %.1f GFLOP/s = %.0f%% of measured dgemm peak",
                       n, L, H, threads, best, reps, Double(n) / best / 1e6, flops / best / 1e9, 100 * flops / best / 1e9 / peak))
            say(String(format: "  dgemm alone (%d×%d·%d×%d, OpenBLAS 2 threads): %.3f s → %.1f GFLOP/s", n, L, L, H, bestGemm, flops / bestGemm / 1e9))
            let checksum = f.reduce(0, +)
            say("  checksum \(checksum.isFinite ? "finite" : "NOT FINITE")")
            if withFloat {
                let xf = x.map { Float($0) }
                x = []
                var ff = [Float](repeating: 0, count: n * H)
                var bestF = Double.infinity
                for _ in 0..<reps {
                    let t = Date()
                    xf.withUnsafeBufferPointer { xp in
                        ff.withUnsafeMutableBufferPointer { fp in m.predictFloat(xp.baseAddress!, rows: n, forecast: fp.baseAddress!, threads: threads) }
                    }
                    bestF = min(bestF, Date().timeIntervalSince(t))
                }
                var maxRel = 0.0
                for i in stride(from: 0, to: n * H, by: 997) { maxRel = max(maxRel, abs(Double(ff[i]) - f[i]) / max(1, abs(f[i]))) }
                say(String(format: "float32 path (sgemm, no intervals): %.3f s best of %d → %.1f M series/s, %.1f GFLOP/s; max relative difference to float64 %.1e",
                           bestF, reps, Double(n) / bestF / 1e6, flops / bestF / 1e9, maxRel))
            }
            return out
        }
        _ = result
    }
}

struct UnsafeSendable<T>: @unchecked Sendable {
    let p: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { self.p = p }
}

struct SplitMix {
    var s: UInt64
    init(seed: UInt64) { s = seed }
    mutating func next() -> UInt64 {
        s &+= 0x9E3779B97F4A7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

func synthetic(_ n: Int, _ rng: inout SplitMix) -> [Double] {
    let level = rng.uniform() * 100, amp = rng.uniform() * 20, phase = rng.uniform() * 6.28
    var ar = 0.0
    return (0..<n).map { i in
        ar = 0.8 * ar + (rng.uniform() - 0.5)
        return level + amp * sin(Double(i) * 6.2832 / 288 + phase) + 3 * ar
    }
}
