import Foundation
import Testing
@testable import VigilEngine

struct PolicyDecodingTests {
    func decode(_ json: String) throws -> GroupPolicy {
        try JSONDecoder().decode(GroupPolicy.self, from: Data(json.utf8))
    }

    @Test func decodesEveryFieldWithDurations() throws {
        let p = try decode("""
            {"objective": {"utilization": 0.6}, "strategy": "hpa", "min_replicas": 2, "max_replicas": 9, "startup": "90s",
             "interval": 30, "tolerance": 0.05, "stabilization": "10m", "scale_out_cooldown": "1m", "scale_in_cooldown": "5m",
             "max_actions": {"count": 4, "window": "1h"}, "quantile": 0.9, "peak_utilization": 0.85, "mode": "dry-run",
             "maintenance": [{"start": "23:30", "duration": "1h", "days": ["sat"]}],
             "restart": {"backoff": "5s", "max_backoff": "2m", "restarts_before_relocate": 2, "webhook": "http://pager/x"}}
            """)
        #expect(p.objective == .utilization(0.6))
        #expect(p.strategy == .hpa)
        #expect(p.minReplicas == 2)
        #expect(p.maxReplicas == 9)
        #expect(p.startup.millis == 90_000)
        #expect(p.interval.millis == 30_000)
        #expect(p.stabilization.millis == 600_000)
        #expect(p.maxActions == ActionBudget(count: 4, window: .seconds(3600)))
        #expect(p.mode == .dryRun)
        #expect(p.peakUtilization == 0.85)
        #expect(p.restart.backoff.millis == 5000)
        #expect(p.restart.maxBackoff.millis == 120_000)
        #expect(p.restart.restartsBeforeRelocate == 2)
        #expect(p.restart.relocationsBeforePage == 1)  // default kept
        // Saturday 1970-01-03 23:45 UTC is inside; the Sunday 00:15 continuation too; Friday 23:45 is not
        let sat: Int64 = 258_300_000  // (2 × 86400 + 23 × 3600 + 45 × 60) s
        #expect(p.maintenance[0].contains(sat))
        #expect(p.maintenance[0].contains(sat + 30 * 60_000))
        #expect(!p.maintenance[0].contains(sat - 86_400_000))
    }

    @Test func sloObjective() throws {
        let p = try decode(#"{"objective": {"slo": {"series": "http_p99_seconds", "max": 0.25}}}"#)
        #expect(p.objective == .slo(series: "http_p99_seconds", max: 0.25))
    }

    @Test(arguments: [
        (#"{"min_replicas": 5, "max_replicas": 2}"#, "max_replicas"),
        (#"{"objective": {"utilization": 1.5}}"#, "utilization"),
        (#"{"startup": "2 minutes"}"#, "invalid duration"),
        (#"{"mode": "yolo"}"#, "mode"),
        (#"{"quantile": 0.3}"#, "quantile"),
        (#"{"maintenance": [{"start": "25:00", "duration": "1h"}]}"#, "HH:MM"),
    ])
    func rejectsBadFieldsNamingThem(_ json: String, _ mention: String) {
        do {
            _ = try decode(json)
            Issue.record("accepted \(json)")
        } catch {
            #expect("\(error)".contains(mention), "\(error)")
        }
    }
}
