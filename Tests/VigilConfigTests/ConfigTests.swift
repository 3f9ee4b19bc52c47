import Foundation
import Testing
import VigilConfig
import VigilCore

@Suite("Typed configuration") struct ConfigTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func error(_ yaml: String, sections: [ConfigSection] = []) -> String {
        do {
            _ = try VigilConfig.parse(yaml: yaml, file: "vigil.yml", sections: sections)
            return "accepted"
        } catch {
            return error.description
        }
    }

    @Test func decodesEverySection() throws {
        let c = try VigilConfig.parse(yaml: """
            server:
              listen: 0.0.0.0:9471
              data: ":memory:"
              retention: 30d
              wal_fsync: 1s
              max_body_bytes: 16MiB
            global:
              scrape_interval: 30s
            host_collector: true
            graphite:
              listen: 127.0.0.1:2003
            statsd:
              listen: 127.0.0.1:8125
              flush_interval: 5s
            libvirt:
              uri: test:///default
            scrape_configs:
              - job_name: node
                static_configs:
                  - targets: ["127.0.0.1:9100"]
                    labels: {env: lab}
            forecast:
              interval: 10s
              watch: up
              horizon: 6
            """, file: "vigil.yml")
        #expect(c.server.listen == ListenAddress(host: "0.0.0.0", port: 9471))
        #expect(c.server.data == ":memory:")
        #expect(c.server.retention == ConfigDuration(milliseconds: 2_592_000_000))
        #expect(c.server.walFsync == .interval(ConfigDuration(milliseconds: 1000)))
        #expect(c.server.maxBodyBytes?.bytes == 16 << 20)
        #expect(c.scrapeInterval == .seconds(30) && c.scrapeTimeout == .seconds(10))
        #expect(c.hostCollector)
        #expect(c.graphite?.listen.port == 2003)
        #expect(c.statsd == StatsDConfig(listen: ListenAddress(host: "127.0.0.1", port: 8125), flushInterval: .seconds(5)))
        #expect(c.libvirt == LibvirtConfig(uri: "test:///default", interval: .seconds(30)))
        #expect(c.scrapeConfigs.first?.targets.first?.labels == Labels(["job": "node", "instance": "127.0.0.1:9100", "env": "lab"]))
        #expect(c.scrapeConfigs.first?.interval == .seconds(30))
        #expect(c.forecast?.selectorTexts == ["up"] && c.forecast?.interval == .seconds(10) && c.forecast?.horizon == 6)
        #expect(c.forecast?.locations["watch[0]"] == ConfigLocation(file: "vigil.yml", line: 24, column: 10, path: "forecast.watch"))
    }

    /// Errors name file:line:column (of the value at fault, or of the unknown key) and the key path.
    @Test(arguments: [
        ("forecast:\n  watch: [up]\n  interval: soon\n", #"vigil.yml:3:13: forecast.interval: expected a duration like 30s, 5m or 1h30m, got "soon""#),
        ("forecast:\n  watch: [up]\n  intervl: 5s\n", #"vigil.yml:3:3: forecast.intervl: unknown key "intervl" (known here: "#),
        ("forecast:\n  interval: 5s\n", #"vigil.yml:2:3: forecast: missing key "watch""#),
        ("forecast:\n  watch: [up]\n  horizon: -1\n", "vigil.yml:3:12: forecast.horizon: expected a number of steps in 1...10000, got -1"),
        ("forecast:\n  watch: [up]\n  horizon: lots\n", #"vigil.yml:3:12: forecast.horizon: expected an integer, got "lots""#),
        ("forecast:\n  watch: [up]\n  step: 500ms\n", "vigil.yml:3:9: forecast.step: expected a duration of at least 1s"),
        ("forecast:\n  watch: [up]\n  model: ''\n", "vigil.yml:3:10: forecast.model: expected a path to a .vgm model file"),
        ("forecast:\n  watch: [up]\n  anomaly_alarm_threshold: 2\n", "vigil.yml:3:28: forecast.anomaly_alarm_threshold: expected a score in (0.5, 1), got 2.0"),
        ("forecast:\n  watch: [up]\n  instance_label: a-b\n", #"vigil.yml:3:19: forecast.instance_label: expected a label name such as instance, got "a-b""#),
        ("host_collector: maybe\n", #"vigil.yml:1:17: host_collector: expected true or false, got "maybe""#),
        ("scrape_configs:\n  - job_name: a\n    scrape_intervall: 5s\n", #"vigil.yml:3:5: scrape_configs[0].scrape_intervall: unknown key "scrape_intervall""#),
        ("scrape_configs:\n  - job_name: a\n  - job_name: a\n", #"vigil.yml:3:15: scrape_configs[1].job_name: duplicate job_name "a""#),
        ("scrape_configs:\n  - job_name: a\n    scrape_interval: 1s\n    scrape_timeout: 2s\n", "vigil.yml:4:21: scrape_configs[0].scrape_timeout: scrape_timeout greater than scrape_interval"),
        ("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [\"x:1\", \"http://x:1/m\"]\n",
         #"vigil.yml:4:26: scrape_configs[0].static_configs[0].targets[1]: invalid target "http://x:1/m""#),
        ("scrape_configs:\n  - scrape_interval: 1s\n", #"vigil.yml:2:5: scrape_configs[0]: missing key "job_name""#),
        ("libvirt:\n  uri: default\n", "vigil.yml:2:8: libvirt.uri: expected a libvirt connection URI"),
        ("libvirt:\n  uri: test:///default\n  labels: {domain: x}\n", #"vigil.yml:3:11: libvirt.labels: "domain" is set by the collector itself"#),
        ("libvirt:\n  uri: test:///default\n  interval: 0s\n", #"vigil.yml:3:13: libvirt.interval: expected a positive duration, got "0s""#),
        ("libvirt: qemu:///system\n", #"vigil.yml:1:10: libvirt: expected a mapping, got "qemu:///system""#),
        ("server:\n  listen: nowhere\n", #"vigil.yml:2:11: server.listen: expected HOST:PORT such as 127.0.0.1:9470, got "nowhere""#),
        ("server:\n  max_body_bytes: 12XB\n", #"vigil.yml:2:19: server.max_body_bytes: expected a size like 4096, 64MiB or 1GB, got "12XB""#),
        ("server:\n  wal_fsync: sometimes\n", #"vigil.yml:2:14: server.wal_fsync: expected always or an interval such as 1s, got "sometimes""#),
        ("statsd:\n  flush_interval: 1s\n", #"vigil.yml:2:3: statsd: missing key "listen""#),
        ("global:\n  scrape_interval: 5s\n  scrape_interval: 6s\n", #"vigil.yml:3:3: global.scrape_interval: duplicate key "scrape_interval""#),
        ("policies:\n  - restart\n", #"vigil.yml:1:1: policies: unknown key "policies""#),
        ("forecast: [\n", "vigil.yml:2:1: invalid YAML:"),
    ])
    func locatedErrors(yaml: String, expected: String) {
        let e = error(yaml)
        #expect(e.hasPrefix(expected), "\(e)")
    }

    /// The first unknown key in file order is the one reported, whatever section it is in.
    @Test func firstUnknownKeyInFileOrder() {
        let e = error("global:\n  scrape_intervl: 5s\nforecast:\n  watch: [up]\n  colour: red\n")
        #expect(e.hasPrefix(#"vigil.yml:2:3: global.scrape_intervl: unknown key "scrape_intervl" (known here: scrape_interval, scrape_timeout)"#), "\(e)")
    }

    /// A quoted "null" is a string; an empty section is an empty mapping.
    @Test func nullsAndEmptySections() throws {
        #expect(try VigilConfig.parse(yaml: "server:\n  data: 'null'\n").server.data == "null")
        #expect(try VigilConfig.parse(yaml: "server:\n").server == ServerSection())
        #expect(try VigilConfig.parse(yaml: "").scrapeConfigs.isEmpty)
    }

    struct Policy: Decodable, Sendable, Equatable {
        var name: String
        var action: String
        var cooldown: ConfigDuration?
    }

    /// Another module's section type (synthesized `Decodable`, nothing config-specific in it) gets the same
    /// strictness and the same located errors.
    @Test func pluggedInSectionIsStrict() throws {
        let sections = [ConfigSection("policies", [Policy].self)]
        let c = try VigilConfig.parse(yaml: "policies:\n  - name: hot\n    action: migrate\n    cooldown: 10m\n", sections: sections)
        #expect(c.section("policies", as: [Policy].self) == [Policy(name: "hot", action: "migrate", cooldown: ConfigDuration(milliseconds: 600_000))])
        #expect(error("policies:\n  - name: hot\n    action: migrate\n    actoin: x\n", sections: sections)
            .hasPrefix(#"vigil.yml:4:5: policies[0].actoin: unknown key "actoin" (known here: action, cooldown, name)"#))
        #expect(error("policies:\n  - name: hot\n    action: migrate\n    cooldown: later\n", sections: sections)
            .hasPrefix(#"vigil.yml:4:15: policies[0].cooldown: expected a duration like 30s"#))
        #expect(error("policies:\n  - name: hot\n", sections: sections).hasPrefix(#"vigil.yml:2:5: policies[0]: missing key "action""#))
    }

    /// docs/configuration.md documents every key the decoder knows: its full example decodes, and every key path the
    /// types asked about while decoding it appears in the doc's key tables.
    @Test func everyKeyIsDocumented() throws {
        let doc = try String(contentsOf: Self.repoRoot.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        guard let a = doc.range(of: "<!-- full-example -->\n```yaml\n"),
              let b = doc.range(of: "```", range: a.upperBound..<doc.endIndex) else {
            Issue.record("docs/configuration.md has no full example block")
            return
        }
        let example = String(doc[a.upperBound..<b.lowerBound])
        _ = try VigilConfig.parse(yaml: example, file: "docs/configuration.md")
        let keys = try VigilConfig.knownKeys(yaml: example)
        #expect(keys.count > 30, "\(keys.sorted())")
        for k in ["server.listen", "forecast.saturation_model", "scrape_configs[].static_configs[].targets", "libvirt.labels", "statsd.flush_interval"] {
            #expect(keys.contains(k), "\(k) not asked about while decoding the example")
        }
        for k in keys.sorted() {
            #expect(doc.contains("| `\(k)` |"), "docs/configuration.md has no row for `\(k)`")
        }
    }

    /// `make demo`'s config (scripts/demo-vigil.yml) also holds the daemon's sections: it is checked with them in
    /// VigilDaemonTests' ConfigDocTests and by `vigil config check` in ConfigCheckTests. Without them it is refused,
    /// naming the first section this reader does not know.
    @Test func demoConfigNeedsTheDaemonSections() throws {
        #expect(throws: (any Error).self) {
            try VigilConfig.load(file: Self.repoRoot.appendingPathComponent("scripts/demo-vigil.yml").path)
        }
    }

    @Test func valueParsers() {
        #expect((try? ConfigDuration.parse("1h30m").get())?.milliseconds == 5_400_000)
        #expect((try? ByteSize.parse("1GB").get())?.bytes == 1_000_000_000)
        #expect((try? ByteSize.parse("0").get()) == nil)
        #expect((try? ListenAddress(parsing: "[::1]:9470")) == ListenAddress(host: "::1", port: 9470))
        #expect((try? ListenAddress(parsing: ":9470")) == ListenAddress(host: "0.0.0.0", port: 9470))
    }
}
