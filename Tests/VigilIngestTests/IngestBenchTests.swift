import Foundation
import Testing
import VigilIngest


@Test func benchRunsEveryParserOnTheSameSamples() {
    let results = IngestBench.run(hosts: 2, samplesPerSeries: 3, iterations: 1)
    #expect(results.count == 7)
    // 2 hosts × 33 series × 3 samples; every parser must report all of them (no timing is checked).
    for r in results {
        #expect(r.samples == 2 * 33 * 3, "\(r.format)")
        #expect(r.payloadBytes > 0 && r.bestSeconds > 0 && r.bestCPUSeconds > 0)
    }
}

/// Prints parse throughput; opt-in because it is a measurement, not a check:
/// `VIGIL_INGEST_BENCH=1 swift test -c release --filter printIngestBench`
@Test(.enabled(if: ProcessInfo.processInfo.environment["VIGIL_INGEST_BENCH"] != nil))
func printIngestBench() {
    let hosts = Int(ProcessInfo.processInfo.environment["VIGIL_INGEST_BENCH_HOSTS"] ?? "") ?? 300
    for r in IngestBench.run(hosts: hosts, samplesPerSeries: 10, iterations: 7) { print("ingest-bench: \(r)") }
}
