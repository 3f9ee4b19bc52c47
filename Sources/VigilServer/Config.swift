import Foundation
import VigilCore
import Yams

/// The `--config` YAML file: Prometheus-like `scrape_configs` plus Vigil's own collectors.
///
/// ```yaml
/// global:
///   scrape_interval: 15s
///   scrape_timeout: 10s
/// host_collector: true          # /proc → node_exporter names, every global scrape_interval
/// libvirt:                      # per-domain stats through libvirt's C API (LibvirtCollector.swift)
///   uri: qemu:///system
///   interval: 15s
/// scrape_configs:
///   - job_name: node
///     scrape_interval: 5s
///     metrics_path: /metrics
///     static_configs:
///       - targets: ["127.0.0.1:9100"]
///         labels: {env: lab}
/// ```
public struct VigilConfig: Sendable, Equatable {
    public var scrapeInterval: Duration = .seconds(15)
    public var scrapeTimeout: Duration = .seconds(10)
    public var hostCollector = false
    public var hostCollectorInterval: Duration?
    public var scrapeConfigs: [ScrapeConfig] = []
    /// The `libvirt:` section (nil: no libvirt collector).
    public var libvirt: LibvirtConfig?

    public init() {}

    public struct ConfigError: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { message }
    }

    /// Parses the YAML text; unknown keys are an error (as in Prometheus), so typos do not pass silently.
    /// The `forecast:` section is read by `ForecastConfig.parse` (OnlineModels.swift).
    public static func parse(yaml: String) throws(ConfigError) -> VigilConfig {
        let raw: RawConfig
        do {
            raw = try YAMLDecoder().decode(RawConfig.self, from: yaml.isEmpty ? "{}" : yaml)
        } catch {
            throw ConfigError(message: "cannot parse config: \(Self.describe(error))")
        }
        var c = VigilConfig()
        func dur(_ s: String?, _ what: String) throws(ConfigError) -> Duration? {
            guard let s else { return nil }
            do {
                let ms = try DurationParser.milliseconds(s)
                guard ms > 0 else { throw ConfigError(message: "\(what): duration must be positive") }
                return .milliseconds(ms)
            } catch let e as ConfigError { throw e } catch { throw ConfigError(message: "\(what): \(error)") }
        }
        if let g = raw.global {
            c.scrapeInterval = try dur(g.scrape_interval, "global.scrape_interval") ?? c.scrapeInterval
            c.scrapeTimeout = try dur(g.scrape_timeout, "global.scrape_timeout") ?? min(c.scrapeTimeout, c.scrapeInterval)
        }
        c.hostCollector = raw.host_collector ?? false
        c.hostCollectorInterval = try dur(raw.host_collector_interval, "host_collector_interval")
        if let lv = raw.libvirt {
            let uri = lv.uri.trimmingCharacters(in: .whitespaces)
            guard !uri.isEmpty, uri.contains(":") else {
                throw ConfigError(message: "libvirt.uri: expected a libvirt connection URI such as qemu:///system or test:///default, got \"\(lv.uri)\"")
            }
            var l = LibvirtConfig(uri: uri)
            l.interval = try dur(lv.interval, "libvirt.interval") ?? c.scrapeInterval
            for (name, value) in (lv.labels ?? [:]).sorted(by: { $0.key < $1.key }) {
                guard Labels.isValidLabelName(name), !name.hasPrefix("__") else {
                    throw ConfigError(message: "libvirt.labels: invalid label name \"\(name)\"")
                }
                guard !LibvirtConfig.reservedLabels.contains(name) else {
                    throw ConfigError(message: "libvirt.labels: \"\(name)\" is set by the collector itself")
                }
                l.labels[name] = value
            }
            c.libvirt = l
        }
        var jobs = Set<String>()
        for (i, sc) in (raw.scrape_configs ?? []).enumerated() {
            let w = "scrape_configs[\(i)]"
            guard !sc.job_name.isEmpty else { throw ConfigError(message: "\(w): job_name is empty") }
            guard jobs.insert(sc.job_name).inserted else {
                throw ConfigError(message: "\(w): duplicate job_name \"\(sc.job_name)\"")
            }
            var s = ScrapeConfig(jobName: sc.job_name)
            s.interval = try dur(sc.scrape_interval, "\(w).scrape_interval") ?? c.scrapeInterval
            s.timeout = try dur(sc.scrape_timeout, "\(w).scrape_timeout") ?? min(c.scrapeTimeout, s.interval)
            if s.timeout > s.interval {
                throw ConfigError(message: "\(w): scrape_timeout greater than scrape_interval")
            }
            s.metricsPath = sc.metrics_path ?? "/metrics"
            if !s.metricsPath.hasPrefix("/") { throw ConfigError(message: "\(w): metrics_path must start with /") }
            s.scheme = sc.scheme ?? "http"
            if s.scheme != "http" && s.scheme != "https" {
                throw ConfigError(message: "\(w): scheme must be http or https")
            }
            s.honorLabels = sc.honor_labels ?? false
            for (j, st) in (sc.static_configs ?? []).enumerated() {
                for t in st.targets ?? [] {
                    if t.isEmpty || t.contains("/") {
                        throw ConfigError(message: "\(w).static_configs[\(j)]: invalid target \"\(t)\" (expected host:port)")
                    }
                    var labels = st.labels ?? [:]
                    for name in labels.keys where !Labels.isValidLabelName(name) {
                        throw ConfigError(message: "\(w).static_configs[\(j)]: invalid label name \"\(name)\"")
                    }
                    labels["job"] = labels["job"] ?? sc.job_name
                    labels["instance"] = labels["instance"] ?? t
                    s.targets.append(ScrapeTarget(address: t, labels: Labels(labels)))
                }
            }
            c.scrapeConfigs.append(s)
        }
        return c
    }

    public static func load(file: String) throws(ConfigError) -> VigilConfig {
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw ConfigError(message: "cannot read config \(file): \(error.localizedDescription)")
        }
        return try parse(yaml: text)
    }

    private static func describe(_ error: any Error) -> String {
        if let e = error as? DecodingError {
            switch e {
            case .keyNotFound(let k, let ctx):
                return "missing key \"\(k.stringValue)\" at \(path(ctx.codingPath))"
            case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx), .dataCorrupted(let ctx):
                return "\(ctx.debugDescription) at \(path(ctx.codingPath))"
            @unknown default: return "\(e)"
            }
        }
        return "\(error)"
    }

    private static func path(_ p: [any CodingKey]) -> String {
        if p.isEmpty { return "top level" }
        var out = ""
        for k in p {
            if let i = k.intValue { out += "[\(i)]" } else { out += (out.isEmpty ? "" : ".") + k.stringValue }
        }
        return out
    }
}

public struct ScrapeConfig: Sendable, Equatable {
    public var jobName: String
    public var interval: Duration = .seconds(15)
    public var timeout: Duration = .seconds(10)
    public var metricsPath = "/metrics"
    public var scheme = "http"
    public var honorLabels = false
    public var targets: [ScrapeTarget] = []

    public init(jobName: String) { self.jobName = jobName }
}

/// The `libvirt:` section: one libvirt connection read every `interval`.
public struct LibvirtConfig: Sendable, Equatable {
    /// Connection URI: `qemu:///system` (opened read-only), `test:///default` (libvirt's in-process test driver).
    public var uri: String
    public var interval: Duration = .seconds(15)
    /// Extra labels on every series; `job` (default `libvirt`) and `instance` (default: the host name) may be set.
    public var labels: [String: String] = [:]

    /// Labels the collector sets per series; the config may not override them.
    public static let reservedLabels: Set<String> = ["domain", "uuid", "target_device", "vcpu"]

    public init(uri: String, interval: Duration = .seconds(15), labels: [String: String] = [:]) {
        self.uri = uri
        self.interval = interval
        self.labels = labels
    }
}

public struct ScrapeTarget: Sendable, Equatable {
    /// `host:port`
    public var address: String
    /// Target labels added to every scraped series: `job`, `instance` and static labels.
    public var labels: Labels
}

// Raw YAML shapes (snake_case as in Prometheus' config).
private struct RawConfig: Decodable {
    var global: RawGlobal?
    var host_collector: Bool?
    var host_collector_interval: String?
    var scrape_configs: [RawScrape]?
    var libvirt: RawLibvirt?

    struct RawLibvirt: Decodable {
        var uri: String
        var interval: String?
        var labels: [String: String]?
        enum CodingKeys: String, CodingKey, CaseIterable { case uri, interval, labels }
        init(from d: any Decoder) throws {
            try checkKeys(d, Set(CodingKeys.allStrings))
            let c = try d.container(keyedBy: CodingKeys.self)
            uri = try c.decode(String.self, forKey: .uri)
            interval = try c.decodeIfPresent(String.self, forKey: .interval)
            labels = try c.decodeIfPresent([String: String].self, forKey: .labels)
        }
    }

    struct RawGlobal: Decodable {
        var scrape_interval: String?
        var scrape_timeout: String?
        enum CodingKeys: String, CodingKey, CaseIterable { case scrape_interval, scrape_timeout }
        init(from d: any Decoder) throws {
            try checkKeys(d, Set(CodingKeys.allStrings))
            let c = try d.container(keyedBy: CodingKeys.self)
            scrape_interval = try c.decodeIfPresent(String.self, forKey: .scrape_interval)
            scrape_timeout = try c.decodeIfPresent(String.self, forKey: .scrape_timeout)
        }
    }

    struct RawScrape: Decodable {
        var job_name: String
        var scrape_interval: String?
        var scrape_timeout: String?
        var metrics_path: String?
        var scheme: String?
        var honor_labels: Bool?
        var static_configs: [RawStatic]?
        enum CodingKeys: String, CodingKey, CaseIterable {
            case job_name, scrape_interval, scrape_timeout, metrics_path, scheme, honor_labels, static_configs
        }
        init(from d: any Decoder) throws {
            try checkKeys(d, Set(CodingKeys.allStrings))
            let c = try d.container(keyedBy: CodingKeys.self)
            job_name = try c.decode(String.self, forKey: .job_name)
            scrape_interval = try c.decodeIfPresent(String.self, forKey: .scrape_interval)
            scrape_timeout = try c.decodeIfPresent(String.self, forKey: .scrape_timeout)
            metrics_path = try c.decodeIfPresent(String.self, forKey: .metrics_path)
            scheme = try c.decodeIfPresent(String.self, forKey: .scheme)
            honor_labels = try c.decodeIfPresent(Bool.self, forKey: .honor_labels)
            static_configs = try c.decodeIfPresent([RawStatic].self, forKey: .static_configs)
        }
    }

    struct RawStatic: Decodable {
        var targets: [String]?
        var labels: [String: String]?
        enum CodingKeys: String, CodingKey, CaseIterable { case targets, labels }
        init(from d: any Decoder) throws {
            try checkKeys(d, Set(CodingKeys.allStrings))
            let c = try d.container(keyedBy: CodingKeys.self)
            targets = try c.decodeIfPresent([String].self, forKey: .targets)
            labels = try c.decodeIfPresent([String: String].self, forKey: .labels)
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case global, host_collector, host_collector_interval, scrape_configs, libvirt, forecast }

    init(from d: any Decoder) throws {
        try checkKeys(d, Set(CodingKeys.allStrings))
        let c = try d.container(keyedBy: CodingKeys.self)
        global = try c.decodeIfPresent(RawGlobal.self, forKey: .global)
        host_collector = try c.decodeIfPresent(Bool.self, forKey: .host_collector)
        host_collector_interval = try c.decodeIfPresent(String.self, forKey: .host_collector_interval)
        scrape_configs = try c.decodeIfPresent([RawScrape].self, forKey: .scrape_configs)
        libvirt = try c.decodeIfPresent(RawLibvirt.self, forKey: .libvirt)
    }
}

private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

private func checkKeys(_ d: any Decoder, _ allowed: Set<String>) throws {
    let c = try d.container(keyedBy: AnyKey.self)
    for k in c.allKeys where !allowed.contains(k.stringValue) {
        throw DecodingError.dataCorruptedError(forKey: k, in: c, debugDescription: "unknown key \"\(k.stringValue)\"")
    }
}

private extension CodingKey where Self: CaseIterable {
    static var allStrings: [String] { allCases.map(\.stringValue) }
}
