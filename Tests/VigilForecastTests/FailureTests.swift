import Foundation
import Testing
@testable import VigilForecast

@Suite struct FailureTests {
    @Test func rocAUCOnAHandExample() {
        // positives at scores 0.9, 0.4; negatives 0.8, 0.3, 0.1 → pairs won: (0.9>all 3) + (0.4>0.3,0.1) = 5 of 6
        #expect(abs(rocAUC([0.9, 0.8, 0.4, 0.3, 0.1], [true, false, true, false, false]) - 5.0 / 6) < 1e-12)
        #expect(rocAUC([1, 1], [true, false]) == 0.5)
    }

    @Test func logisticRegressionLearnsAndCalibratesASyntheticProblem() throws {
        var rng = TestRNG(31)
        func sample(_ n: Int) -> ([[Double]], [Bool]) {
            var xs: [[Double]] = [], ys: [Bool] = []
            for _ in 0..<n {
                let x = [rng.normal(), rng.normal() * 3 + 10, rng.normal()]
                let p = 1 / (1 + exp(-(2 * x[0] - 0.5 * (x[1] - 10) - 2)))
                xs.append(x)
                ys.append(rng.uniform() < p)
            }
            return (xs, ys)
        }
        let (x, y) = sample(4000)
        var m = try FailurePredictor.fit(x: x.flatMap { $0 }, y: y, rows: x.count, cols: 3, l2: 0.1, horizonMinutes: 30,
                                         featureNames: ["a", "b", "c"])
        let (xc, yc) = sample(2000)
        m.calibrate(x: xc, y: yc)
        // true coefficients in standardised units: a: 2, b: −0.5·3 = −1.5, c: 0
        #expect(abs(m.weights[0] - 2) < 0.3 && abs(m.weights[1] + 1.5) < 0.3 && abs(m.weights[2]) < 0.2)
        let (xt, yt) = sample(4000)
        let p = xt.map { m.probability($0) }
        #expect(rocAUC(p, yt) > 0.8)
        let meanP = p.reduce(0, +) / Double(p.count), rate = Double(yt.filter { $0 }.count) / Double(yt.count)
        #expect(abs(meanP - rate) < 0.03)
        // model file round trip
        let back = try FailurePredictor(modelFile: ModelFile.decode(m.modelFile().encode()))
        #expect(back.weights == m.weights && back.probability(xt[0]) == m.probability(xt[0]))
    }

    @Test func featuresReactToAlarmsTrendsAndSaturation() {
        let flat = [Double](repeating: 5, count: 200)
        var ramp: [Double] = []
        for i in 0..<200 {
            let t = Double(i)
            ramp.append(i < 140 ? 10 + sin(t) : 10 + (t - 140) * 0.5)
        }
        let quiet = FailureFeatures.compute(series: [flat], scores: [[Double](repeating: 0, count: 60)])
        let alarms: [Double] = [Double](repeating: 0, count: 55) + [0.9, 0.8, 0.7, 0.6, 0.95]
        let zeros = [Double](repeating: 0, count: 60)
        let busy = FailureFeatures.compute(series: [flat, ramp], scores: [zeros, alarms])
        #expect(quiet.count == FailureFeatures.count && quiet.allSatisfy { $0 == 0 })
        #expect(busy[0] == 0.95 && busy[2] == 0.5)
        #expect(busy[3] > 1 && busy[5] > 1 && busy[4] == 1)
    }
}
