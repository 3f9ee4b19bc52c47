import Foundation
import Testing
@testable import VigilForecast

/// Checks on the shared real traces (skipped with a message when ../shared/datasets is absent).
@Suite struct RealDataTests {
    static let cluster = sharedDatasets.appendingPathComponent("cluster_utilization").path

    @Test(.enabled(if: FileManager.default.fileExists(atPath: cluster), "../shared/datasets/cluster_utilization not present"))
    func clusterCPUForecastBeatsSeasonalNaiveOnHeldOutDays() throws {
        let raw = try DatasetLoader.loadForecastSeries(Self.cluster)
        #expect(raw.count == 3)
        let (series, step) = Evaluation.prepare(raw, trainFraction: 0.7)
        #expect(step == 300_000)
        let (m, rep) = try Evaluation.train(series, inputLength: 288, horizon: 12, step: step)
        #expect(rep.chosen == "linear")
        let rows = Evaluation.rollingOriginDetailed(series, model: m, step: step, originStride: 12)
        for p in rows.perSeries {
            let vigil = p.rows[0].errors, snaive = p.rows[1].errors
            #expect(vigil.mase < snaive.mase, "\(p.id): MASE \(vigil.mase) vs seasonal naive \(snaive.mase)")
            #expect(vigil.wape < snaive.wape, "\(p.id)")
        }
        let pooled = rows.pooled[0].errors
        #expect(pooled.coverage > 0.75 && pooled.coverage < 0.99, "coverage \(pooled.coverage)")
    }
}
