import Foundation
import Testing
import VigilConfig
import VigilCore
import VigilDaemon
import VigilEngine
import VigilSim

/// The daemon's `placement:` section: strict decoding with located errors, applied on SIGHUP like the policies,
/// and `--dry-run` forcing placement into dry-run too.
@Suite struct PlacementDaemonTests {
    static let t0: Int64 = 1_764_806_400_000

    static func config(_ placement: String) -> String {
        """
        policies:
          svc:
            strategy: hpa
            objective: {utilization: 0.5}
        \(placement)
        driver:
          kind: sim
          sim: {trace: demand.csv}
        """
    }

    @Test func placementSectionIsStrictWithLocatedErrors() throws {
        func err(_ yaml: String) -> String {
            do { _ = try DaemonConfig(try VigilConfig.parse(yaml: yaml, file: "vigil.yml", sections: daemonConfigSections)); return "" } catch {
                return "\(error)"
            }
        }
        let ok = try DaemonConfig(try VigilConfig.parse(yaml: Self.config("placement: {mode: auto, max_migrations: 3}"), file: "vigil.yml",
                                                         sections: daemonConfigSections))
        #expect(ok.placement?.mode == .auto && ok.placement?.maxMigrations == 3)
        let none = try DaemonConfig(try VigilConfig.parse(yaml: Self.config(""), file: "vigil.yml", sections: daemonConfigSections))
        #expect(none.placement == nil)
        let bad = err(Self.config("placement:\n  mode: sometimes"))
        #expect(bad.hasPrefix("vigil.yml:6:") && bad.contains("placement.mode") && bad.contains("off, dry-run, approve, auto"), "\(bad)")
        let typo = err(Self.config("placement:\n  max_migration: 3"))
        #expect(typo.contains("vigil.yml:6:") && typo.contains("max_migration"), "\(typo)")
        let range = err(Self.config("placement:\n  ceiling: 1.5"))
        #expect(range.contains("placement.ceiling") && range.contains("1.5"), "\(range)")
    }

    /// SIGHUP (the reload service) applies a new `placement:` section; a bad one keeps the running section; a
    /// runner with `--dry-run` runs placement in dry-run whatever the file says.
    @Test func reloadAppliesPlacementAndDryRunIsForced() async throws {
        let dir = try tempDir("placement-reload")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("vigil.yml").path
        let cluster = SimCluster(startMillis: Self.t0, startupMs: 30_000, hosts: 4, seed: 1)
        await cluster.addGroup("svc", replicas: 1)
        for forced in [false, true] {
            let audit = try SQLiteAudit(path: dir.appendingPathComponent("audit-\(forced).db").path)
            defer { audit.close() }
            let runner = try EngineRunner(policies: ["svc": hpaPolicy()], driver: cluster, clock: SimulatedClock(startMillis: Self.t0),
                                          audit: audit, forceDryRun: forced, logger: quietLogger)
            #expect(await runner.placement == nil)
            let service = PolicyReloadService(file: file, runner: runner, logger: quietLogger)
            try Self.config("placement: {mode: auto, ceiling: 0.8}").write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await service.reload() == nil)
            let applied = await runner.placement
            #expect(applied?.mode == (forced ? .dryRun : .auto) && applied?.ceiling == 0.8)
            try Self.config("placement: {mode: sometimes}").write(toFile: file, atomically: true, encoding: .utf8)
            let e = await service.reload()
            #expect(e?.contains("placement.mode") == true, "\(e ?? "")")
            #expect(await runner.placement?.ceiling == 0.8)
            try Self.config("").write(toFile: file, atomically: true, encoding: .utf8)
            #expect(await service.reload() == nil)
            #expect(await runner.placement == nil)
            await runner.step(at: Self.t0)
        }
    }
}
