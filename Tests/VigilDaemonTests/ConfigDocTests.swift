import Foundation
import Testing
import VigilConfig
import VigilDaemon
import VigilEngine

/// The daemon's config sections: documented key by key, strict, and clear about drivers this build lacks.
@Suite struct ConfigDocTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func block(_ marker: String, in file: String) throws -> String {
        let doc = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
        guard let a = doc.range(of: "<!-- \(marker) -->\n```yaml\n"), let b = doc.range(of: "```", range: a.upperBound..<doc.endIndex) else {
            throw TestFailure("\(file) has no \(marker) block")
        }
        return String(doc[a.upperBound..<b.lowerBound])
    }

    /// docs/configuration.md's daemon example decodes with every daemon section, and every key path the decoder
    /// asked about has a row in the doc's tables.
    @Test func everyDaemonKeyIsDocumented() throws {
        let doc = try String(contentsOf: Self.root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        let example = try Self.block("daemon-example", in: "docs/configuration.md")
        let c = try VigilConfig.parse(yaml: example, file: "docs/configuration.md", sections: daemonConfigSections)
        _ = try DaemonConfig(c)
        let keys = try VigilConfig.knownKeys(yaml: example, sections: daemonConfigSections)
        for k in ["daemon.query_url", "driver.sim.trace", "driver.kind"] { #expect(keys.contains(k), "\(keys.sorted())") }
        for k in ["placement.mode", "placement.max_migrations"] { #expect(keys.contains(k), "\(keys.sorted())") }
        #expect(try DaemonConfig(c).placement?.mode == .dryRun)
        for k in keys.sorted() where k.hasPrefix("daemon") || k.hasPrefix("driver") || k.hasPrefix("policies") || k.hasPrefix("placement") {
            #expect(doc.contains("| `\(k)` |"), "docs/configuration.md has no row for `\(k)`")
        }
        // contrib/vigil.yml is a working daemon config too
        let contrib = try VigilConfig.load(file: Self.root.appendingPathComponent("contrib/vigil.yml").path, sections: daemonConfigSections)
        _ = try DaemonConfig(contrib)
    }

    /// `make demo`'s config (scripts/demo-vigil.yml, what `vigil demo` runs) is a valid daemon config: two groups,
    /// the sim driver with its faults and backfill.
    @Test func demoConfigIsAValidDaemonConfig() throws {
        let path = Self.root.appendingPathComponent("scripts/demo-vigil.yml").path
        let c = try DaemonConfig(try VigilConfig.load(file: path, sections: daemonConfigSections))
        #expect(c.policies.keys.sorted() == ["api", "web"])
        let sim = try #require(c.driver.sim)
        #expect(sim.faults.events.count == 5 && sim.faults.crashesPerInstanceDay == 1, "\(sim.faults)")
        #expect(sim.backfill.milliseconds == 2 * 86_400_000)
        #expect(c.placement?.mode == .auto && c.placement?.spareHosts == 1)
        // a bad fault names its token
        let bad = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "surge@4h:factor=2.5", with: "surge@4h:factor=lots")
        do {
            _ = try DaemonConfig(try VigilConfig.parse(yaml: bad, file: "demo.yml", sections: daemonConfigSections))
            Issue.record("accepted a bad fault")
        } catch {
            #expect("\(error)".contains("driver.sim.faults") && "\(error)".contains("factor=lots"), "\(error)")
        }
    }

    @Test func driverKindsThisBuildLacksAreClearErrors() throws {
        func err(_ yaml: String) -> String {
            do { _ = try VigilConfig.parse(yaml: yaml, file: "vigil.yml", sections: daemonConfigSections); return "" } catch { return "\(error)" }
        }
        let e = err("driver:\n  kind: libvirt\n")
        #expect(e.hasPrefix("vigil.yml:2:9: driver.kind:") && e.contains("`kind: libvirt` needs a `libvirt:` section"), "\(e)")
        #expect(err("driver:\n  kind: process\n  libvirt: {hosts: {h1: 'test:///default'}}\n").contains("`libvirt:` settings with `kind: process`"))
        #expect(err("driver:\n  kind: kubernetes\n").contains("unknown driver kind \"kubernetes\""))
        #expect(err("driver:\n  kind: sim\n").contains("needs a `sim:` section"))
        #expect(err("driver:\n  kind: sim\n  sim: {trace: t.csv, sped: 2}\n").contains("unknown key \"sped\""))
        #expect(err("daemon:\n  query_url: localhost:9090\n").contains("daemon.query_url"))
        let bad = "policies:\n  svc: {load_query: 'sum(rate(x[5m])'}\ndriver: {kind: sim, sim: {trace: t.csv}}\n"
        let c = try VigilConfig.parse(yaml: bad, file: "vigil.yml", sections: daemonConfigSections)
        #expect(throws: (any Error).self) { try DaemonConfig(c) }
        do { _ = try DaemonConfig(c) } catch { #expect("\(error)".contains("policies.svc.load_query")) }
    }
}
