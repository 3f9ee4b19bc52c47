import Foundation
import Testing
import VigilConfig
import VigilCore
import VigilDaemon
import VigilEngine

/// `driver: {kind: libvirt}` from a config file to a running engine step, on libvirt's test driver.
@Suite struct LibvirtDaemonTests {
    static let node = """
        <node>
          <cpu><mhz>2000</mhz><model>x86</model><active>4</active><total>4</total><nodes>1</nodes><sockets>1</sockets>
            <cores>4</cores><threads>1</threads></cpu>
          <memory>4194304</memory>
          <domain type='test'><name>web-0</name><memory unit='MiB'>512</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>
        </node>
        """

    @Test func libvirtSectionDecodesAndTheRunnerStepsOnIt() async throws {
        let dir = try tempDir("libvirt")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.node.write(to: dir.appendingPathComponent("h1.xml"), atomically: true, encoding: .utf8)
        try "<domain type='test'><name>${NAME}</name><memory unit='MiB'>256</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>"
            .write(to: dir.appendingPathComponent("web.xml"), atomically: true, encoding: .utf8)
        let yaml = """
            policies:
              web: {objective: {utilization: 0.5}, strategy: none, min_replicas: 1, max_replicas: 3}
            daemon:
              driver_timeout: 10m   # the test is about wiring: a loaded machine must not turn into an observe timeout
            driver:
              kind: libvirt
              libvirt:
                hosts:
                  h1: "test://\(dir.path)/h1.xml"
                  h2: {uri: "test://\(dir.path)/h1.xml", power_off: [/bin/true]}
                groups:
                  web: {template: web.xml}
                restart: destroy_start
                shutdown_timeout: 2s
                call_timeout: 5s
                dry_run: false
            """
        let c = try VigilConfig.parse(yaml: yaml, file: "vigil.yml", sections: daemonConfigSections)
        let dc = try DaemonConfig(c)
        #expect(dc.driver.kind == .libvirt)
        let lc = try #require(dc.driver.libvirt)
        #expect(lc.hosts.count == 2 && lc.groups["web"]?.template == "web.xml" && lc.restart == .destroyStart)
        #expect(lc.hosts["h2"]?.powerOff == ["/bin/true"])

        let s = DaemonSetup.Settings(config: dc, baseDir: dir.path, auditPath: dir.appendingPathComponent("audit.db").path)
        let runner = try await DaemonSetup.makeRunner(s, clock: WallClock(), logger: quietLogger)
        let report = await runner.step()
        #expect(report.observeError == nil && report.failed == 0, "\(report)")
        let series = await runner.lastStateSeries
        #expect(series.contains { $0.labels["group"] == "web" }, "\(series.map(\.labels))")
        await runner.shutdown()

        // a template that cannot be read is an error naming the key and the file
        var bad = dc
        bad.driver.libvirt?.groups["web"]?.template = "missing.xml"
        let sb = DaemonSetup.Settings(config: bad, baseDir: dir.path, auditPath: dir.appendingPathComponent("audit2.db").path)
        await #expect(throws: (any Error).self) { _ = try await DaemonSetup.makeRunner(sb, clock: WallClock(), logger: quietLogger) }
        do { _ = try await DaemonSetup.makeRunner(sb, clock: WallClock(), logger: quietLogger) } catch {
            #expect("\(error)".contains("driver.libvirt.groups.web.template: cannot read domain template \(dir.path)/missing.xml"), "\(error)")
        }
    }
}
