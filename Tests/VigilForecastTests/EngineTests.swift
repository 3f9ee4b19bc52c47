import Foundation
import Testing
@testable import VigilForecast

@Suite struct LinearAlgebraTests {
    @Test func choleskySolveRecoversKnownSolution() throws {
        var rng = TestRNG(1)
        let d = 7, r = 3
        let a = (0..<(d * d)).map { _ in rng.normal() }
        var s = [Double](repeating: 0, count: d * d)
        for i in 0..<d { for j in 0..<d { for k in 0..<d { s[i * d + j] += a[k * d + i] * a[k * d + j] } }; s[i * d + i] += 1 }
        let w = (0..<(d * r)).map { _ in rng.normal() }
        var b = [Double](repeating: 0, count: d * r)
        for i in 0..<d { for j in 0..<r { for k in 0..<d { b[i * r + j] += s[i * d + k] * w[k * r + j] } } }
        var sCopy = s
        let got = try BLAS.choleskySolve(&sCopy, b, d: d, r: r)
        for i in got.indices { #expect(abs(got[i] - w[i]) < 1e-8) }
    }

    @Test func choleskyRejectsIndefiniteMatrix() {
        var s: [Double] = [1, 2, 2, 1]
        #expect(throws: LinearAlgebraError.self) { try BLAS.choleskySolve(&s, [1, 1], d: 2, r: 1) }
    }

    @Test func blasWorkerRunsJobsOnItsOwnThread() async throws {
        let w = BLASWorker(name: "test-blas")
        let onWorker = try await w.run { w.isCurrent && !Thread.isMainThread }
        #expect(onWorker)
        #expect(!w.isCurrent)
        let sum = try await w.run { () -> Double in
            let a: [Double] = [1, 2, 3, 4], b: [Double] = [5, 6, 7, 8]
            var c = [Double](repeating: 0, count: 4)
            BLAS.gemm(a, b, &c, m: 2, n: 2, k: 2)
            return c.reduce(0, +)
        }
        #expect(sum == 19 + 22 + 43 + 50)
        w.stop()
    }
}

@Suite struct ForecasterTests {
    func pooled(_ count: Int, n: Int, seed: UInt64) -> [[Double]] {
        var rng = TestRNG(seed)
        return (0..<count).map { i in ar2Series(n, rng: &rng, level: Double(i) * 100, scale: pow(10, Double(i % 4) - 1)) }
    }

    @Test func ridgeFitBeatsNaiveOnPooledAR2AndIntervalsCover() throws {
        let data = pooled(20, n: 600, seed: 7)
        var o = ForecasterTrainingOptions(inputLength: 24, horizon: 4, stepMs: 60_000)
        o.seasonalPeriod = 1
        let (m, rep) = try ForecasterTrainer.fit(data.map { TrainingSeries(values: $0, calibrationStart: 450) }, options: o)
        #expect(rep.chosen == "linear")
        #expect(rep.calibrationMAE < 0.8 * rep.seasonalNaiveCalibrationMAE)
        // Fresh series: one-step error must beat last value, and the 90 % interval must cover roughly 90 %.
        let test = pooled(20, n: 400, seed: 99)
        var model = ForecastErrors(), naive = ForecastErrors()
        for s in test {
            for e in stride(from: 30, to: s.count - 4, by: 7) {
                let (f, lo, hi) = m.predict(Array(s[(e - 24)..<e]), rows: 1)
                for h in 0..<4 {
                    model.add(actual: s[e + h], forecast: f[h], scale: 1, lo: lo[h], hi: hi[h])
                    naive.add(actual: s[e + h], forecast: s[e - 1], scale: 1)
                }
            }
        }
        #expect(model.absError < 0.85 * naive.absError)
        #expect(model.coverage > 0.8 && model.coverage < 0.97, "coverage \(model.coverage)")
    }

    @Test func batchedPredictionMatchesTheNormalisedFormulaWithAndWithoutThreads() throws {
        let data = pooled(6, n: 300, seed: 3)
        let (m, _) = try ForecasterTrainer.fit(data.map { TrainingSeries(values: $0, calibrationStart: 240) },
                                              options: ForecasterTrainingOptions(inputLength: 16, horizon: 3, stepMs: 0))
        let n = 3000
        var rng = TestRNG(5)
        let x = (0..<(n * 16)).map { _ in rng.normal() * 10 + 50 }
        let one = m.predict(x, rows: n, threads: 1)
        let two = m.predict(x, rows: n, threads: 2)
        #expect(one.forecast == two.forecast && one.hi == two.hi)
        for r in [0, 1234, n - 1] {
            let w = Array(x[(r * 16)..<((r + 1) * 16)])
            let last = w[15]
            let mean = w.map { $0 - last }.reduce(0, +) / 16
            let s = (w.map { ($0 - last - mean) * ($0 - last - mean) }.reduce(0, +) / 16).squareRoot()
            for h in 0..<3 {
                var y = m.bias[h]
                for i in 0..<16 { y += (w[i] - last) / s * m.weights[i * 3 + h] }
                #expect(abs(last + s * y - one.forecast[r * 3 + h]) < 1e-9 * max(1, abs(last)))
                #expect(abs(one.hi[r * 3 + h] - (last + s * y + s * m.qHi[h])) < 1e-9 * max(1, abs(last)))
            }
        }
    }

    @Test func floatPathAgreesWithDoublePath() throws {
        let data = pooled(6, n: 300, seed: 13)
        let (m, _) = try ForecasterTrainer.fit(data.map { TrainingSeries(values: $0, calibrationStart: 240) },
                                              options: ForecasterTrainingOptions(inputLength: 24, horizon: 4, stepMs: 0))
        let n = 2500
        var rng = TestRNG(6)
        let x = (0..<(n * 24)).map { _ in rng.normal() * 5 + 40 }
        let d = m.predict(x, rows: n, threads: 2).forecast
        let xf = x.map { Float($0) }
        var f = [Float](repeating: 0, count: n * 4)
        xf.withUnsafeBufferPointer { xp in f.withUnsafeMutableBufferPointer { fp in m.predictFloat(xp.baseAddress!, rows: n, forecast: fp.baseAddress!, threads: 2) } }
        var worst = 0.0
        for i in d.indices { worst = max(worst, abs(Double(f[i]) - d[i]) / max(1, abs(d[i]))) }
        #expect(worst < 1e-4, "max relative difference \(worst)")
        #expect(worst > 0)  // it really is a different (single-precision) computation
    }

    @Test func seasonalNaiveMatrixRepeatsTheLastSeason() {
        let m = LinearForecaster.seasonalNaive(inputLength: 8, horizon: 6, period: 4, stepMs: 0)
        let x: [Double] = [0, 0, 0, 0, 1, 5, 2, 7]
        let f = m.predict(x, rows: 1).forecast
        #expect(f == [1, 5, 2, 7, 1, 5])
    }

    @Test func modelFileRoundTripsAndRejectsGarbage() throws {
        let data = pooled(4, n: 200, seed: 11)
        let (m, _) = try ForecasterTrainer.fit(data.map { TrainingSeries(values: $0, calibrationStart: 160) },
                                              options: ForecasterTrainingOptions(inputLength: 12, horizon: 2, stepMs: 300_000))
        let path = tempPath("m.vgm")
        try m.modelFile().write(path: path)
        let back = try LinearForecaster(modelFile: ModelFile.read(path: path))
        #expect(back.weights == m.weights && back.bias == m.bias && back.qLo == m.qLo && back.qHi == m.qHi)
        #expect(back.inputLength == 12 && back.horizon == 2 && back.stepMs == 300_000 && back.method == m.method)
        #expect(back.trainingHash == m.trainingHash && abs(back.lambda - m.lambda) <= 1e-12 * m.lambda)
        #expect(back.predict(Array(data[0].suffix(12)), rows: 1).forecast == m.predict(Array(data[0].suffix(12)), rows: 1).forecast)
        let bytes = try m.modelFile().encode()
        #expect(Array(bytes[0..<8]) == Array("VIGILVGM".utf8))
        #expect(bytes.count % 8 == 0)
        #expect(throws: ModelFile.FormatError.self) { try ModelFile.decode(Array(bytes.dropLast(8))) }
        var bad = bytes
        bad[0] = 0x58
        #expect(throws: ModelFile.FormatError.self) { try ModelFile.decode(bad) }
    }
}
