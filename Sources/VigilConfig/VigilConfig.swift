import Foundation
import VigilCore
import Yams

/// The `vigil serve --config` file, decoded once into typed values by the strict decoder (`StrictYAMLDecoder`):
/// unknown keys are refused and every error names `file:line:column: key.path`. docs/configuration.md lists every
/// key; `vigil config check FILE` validates a file.
///
/// Sections owned by other modules (`policies:`, `drivers:` of the remediation engine) plug in as `ConfigSection`s:
/// any `Decodable` type, decoded by the same decoder with the same strictness, read back with `section(_:as:)`.
public struct VigilConfig: Sendable {
    /// The file it was read from (`config` for text parsed in code).
    public var file = "config"
    /// `server:` (flags given on the command line win over it).
    public var server = ServerSection()
    /// `global.scrape_interval`: the default interval of every scrape job and collector.
    public var scrapeInterval: Duration = .seconds(15)
    /// `global.scrape_timeout`.
    public var scrapeTimeout: Duration = .seconds(10)
    /// `host_collector`.
    public var hostCollector = false
    /// `host_collector_interval` (nil: `global.scrape_interval`).
    public var hostCollectorInterval: Duration?
    /// `scrape_configs`.
    public var scrapeConfigs: [ScrapeConfig] = []
    /// The `libvirt:` section (nil: no libvirt collector).
    public var libvirt: LibvirtConfig?
    /// The `graphite:` section (nil: no Graphite listener).
    public var graphite: GraphiteConfig?
    /// The `statsd:` section (nil: no StatsD listener).
    public var statsd: StatsDConfig?
    /// The `forecast:` section (nil: no online models).
    public var forecast: ForecastConfig?
    /// Sections decoded by `ConfigSection`s, by key.
    public var sections: [String: any Sendable] = [:]

    public init() {}

    /// The value of a plugged-in section, if the file had it.
    public func section<T: Sendable>(_ key: String, as type: T.Type) -> T? { sections[key] as? T }

    /// Every key path the types know (`forecast.interval`, `scrape_configs[].job_name`), from decoding `yaml`, which
    /// should have every section (the docs' full example): checked against docs/configuration.md by a test.
    public static func knownKeys(yaml: String, sections: [ConfigSection] = []) throws -> Set<String> {
        let specs = Dictionary(sections.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        return try StrictYAMLDecoder.knownKeys(Root.self, yaml: yaml, userInfo: [Root.sectionsKey: specs])
    }

    /// Parses YAML text; `file` names it in errors. `sections` adds top-level sections owned by other modules.
    public static func parse(yaml: String, file: String = "config", sections: [ConfigSection] = []) throws(ConfigError) -> VigilConfig {
        let specs = Dictionary(sections.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        var c = try StrictYAMLDecoder.decode(Root.self, yaml: yaml, file: file, userInfo: [Root.sectionsKey: specs]).config
        c.file = file
        return c
    }

    /// Reads and parses a file.
    public static func load(file: String, sections: [ConfigSection] = []) throws(ConfigError) -> VigilConfig {
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw ConfigError(message: "cannot read config \(file): \(error.localizedDescription)")
        }
        return try parse(yaml: text, file: file, sections: sections)
    }

    /// The top-level keys and which of them a SIGHUP reload applies (the others need a restart).
    public static let reloadableSections: Set<String> = ["scrape_configs", "forecast"]

    /// The top level as written. Field names are the YAML keys.
    struct Root: Decodable {
        static let sectionsKey = CodingUserInfoKey(rawValue: "vigil.sections")!
        var config = VigilConfig()

        struct Global: Decodable {
            var scrape_interval: ConfigDuration?
            var scrape_timeout: ConfigDuration?
        }

        enum Keys: String, CodingKey {
            case server, global, host_collector, host_collector_interval, scrape_configs, libvirt, graphite, statsd, forecast
        }

        init(from decoder: any Decoder) throws {
            var c = VigilConfig()
            let k = try decoder.container(keyedBy: Keys.self)
            c.server = try k.decodeIfPresent(ServerSection.self, forKey: .server) ?? ServerSection()
            if let g = try k.decodeIfPresent(Global.self, forKey: .global) {
                if let i = g.scrape_interval { c.scrapeInterval = i.duration }
                if let t = g.scrape_timeout { c.scrapeTimeout = t.duration } else { c.scrapeTimeout = min(c.scrapeTimeout, c.scrapeInterval) }
                if c.scrapeTimeout > c.scrapeInterval {
                    throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [Keys.global],
                        debugDescription: "scrape_timeout (\(c.scrapeTimeout)) is longer than scrape_interval (\(c.scrapeInterval))"))
                }
            }
            c.hostCollector = try k.decodeIfPresent(Bool.self, forKey: .host_collector) ?? false
            c.hostCollectorInterval = try k.decodeIfPresent(ConfigDuration.self, forKey: .host_collector_interval)?.duration
            let defaults = ScrapeDefaults(interval: c.scrapeInterval, timeout: c.scrapeTimeout)
            if let lv = try k.decodeIfPresent(LibvirtConfig.Raw.self, forKey: .libvirt) {
                c.libvirt = LibvirtConfig(uri: lv.uri, interval: lv.interval?.duration ?? c.scrapeInterval, labels: lv.labels ?? [:])
            }
            c.graphite = try k.decodeIfPresent(GraphiteConfig.self, forKey: .graphite)
            c.statsd = try k.decodeIfPresent(StatsDConfig.self, forKey: .statsd)
            c.forecast = try k.decodeIfPresent(ForecastConfig.self, forKey: .forecast)
            if k.contains(.scrape_configs) {
                let list = try k.nestedUnkeyedContainer(forKey: .scrape_configs)
                c.scrapeConfigs = try ScrapeConfig.decodeList(list, defaults: defaults)
            }
            // Sections of other modules: each decoded by its own type, through this decoder.
            let specs = decoder.userInfo[Self.sectionsKey] as? [String: ConfigSection] ?? [:]
            if !specs.isEmpty {
                let any = try decoder.container(keyedBy: AnyKey.self)
                for (key, spec) in specs.sorted(by: { $0.key < $1.key }) {
                    let ak = AnyKey(stringValue: key)
                    guard any.contains(ak), try !any.decodeNil(forKey: ak) else { continue }
                    c.sections[key] = try spec.decode(try any.superDecoder(forKey: ak))
                }
            }
            config = c
        }
    }
}

/// A top-level section decoded by another module's type (e.g. the remediation engine's `policies:`).
public struct ConfigSection: Sendable {
    public let key: String
    let decode: @Sendable (any Decoder) throws -> any Sendable

    /// `key:` in the file decodes as `T` (its `init(from:)`; unknown keys refused as everywhere).
    public init<T: Decodable & Sendable>(_ key: String, _ type: T.Type) {
        self.key = key
        self.decode = { try T(from: $0) }
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

struct ScrapeDefaults {
    var interval: Duration
    var timeout: Duration
}

/// The `server:` section: the same settings as `vigil serve`'s flags; a flag given on the command line wins.
public struct ServerSection: Decodable, Sendable, Equatable {
    /// HTTP address (`--listen`).
    public var listen: ListenAddress?
    /// Store directory, or `:memory:` for a store that keeps nothing on disk (`--data`).
    public var data: String?
    /// How long samples are kept (`--retention`).
    public var retention: ConfigDuration?
    /// `always` or a group-commit interval (`--wal-fsync`).
    public var walFsync: WALFsyncSetting?
    /// File holding the bearer token (`--auth-token-file`).
    public var authTokenFile: String?
    /// Largest request body (`--max-body-bytes`).
    public var maxBodyBytes: ByteSize?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case listen, data, retention, wal_fsync, auth_token_file, max_body_bytes
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        listen = try c.decodeIfPresent(ListenAddress.self, forKey: .listen)
        data = try c.decodeIfPresent(String.self, forKey: .data)
        if data?.isEmpty == true {
            throw DecodingError.dataCorruptedError(forKey: .data, in: c, debugDescription: "expected a directory or :memory:")
        }
        retention = try c.decodeIfPresent(ConfigDuration.self, forKey: .retention)
        walFsync = try c.decodeIfPresent(WALFsyncSetting.self, forKey: .wal_fsync)
        authTokenFile = try c.decodeIfPresent(String.self, forKey: .auth_token_file)
        maxBodyBytes = try c.decodeIfPresent(ByteSize.self, forKey: .max_body_bytes)
    }
}

/// `always` (answer after the WAL fsync) or a group-commit interval such as `1s`.
public enum WALFsyncSetting: Decodable, Sendable, Equatable {
    case always
    case interval(ConfigDuration)

    public static func parse(_ s: String) -> Result<WALFsyncSetting, ParseFailure> {
        if s == "always" { return .success(.always) }
        switch ConfigDuration.parse(s) {
        case .success(let d): return .success(.interval(d))
        case .failure: return .failure(ParseFailure(message: "expected always or an interval such as 1s, got \"\(s)\""))
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        switch Self.parse(s) {
        case .success(let v): self = v
        case .failure(let f): throw DecodingError.dataCorruptedError(in: c, debugDescription: f.message)
        }
    }
}

/// The `graphite:` section: the Graphite plaintext TCP listener.
public struct GraphiteConfig: Decodable, Sendable, Equatable {
    /// A bare `:PORT` means 127.0.0.1 (the listener is unauthenticated).
    public var listen: ListenAddress
    public init(listen: ListenAddress) { self.listen = listen }

    enum CodingKeys: String, CodingKey { case listen }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        listen = try c.decode(LoopbackListenAddress.self, forKey: .listen).address
    }
}

/// `HOST:PORT` where a bare `:PORT` means loopback.
struct LoopbackListenAddress: Decodable {
    let address: ListenAddress
    init(from decoder: any Decoder) throws { address = try ListenAddress.decodeLoopbackDefault(from: decoder) }
}

/// The `statsd:` section: the StatsD UDP listener.
public struct StatsDConfig: Decodable, Sendable, Equatable {
    /// A bare `:PORT` means 127.0.0.1 (the listener is unauthenticated).
    public var listen: ListenAddress
    /// How often aggregated counters/timers are written (default 10s).
    public var flushInterval: Duration = .seconds(10)

    public init(listen: ListenAddress, flushInterval: Duration = .seconds(10)) {
        self.listen = listen
        self.flushInterval = flushInterval
    }

    enum CodingKeys: String, CodingKey { case listen, flush_interval }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        listen = try c.decode(LoopbackListenAddress.self, forKey: .listen).address
        flushInterval = try c.decodeIfPresent(ConfigDuration.self, forKey: .flush_interval)?.duration ?? .seconds(10)
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

    struct Raw: Decodable {
        var job_name: String
        var scrape_interval: ConfigDuration?
        var scrape_timeout: ConfigDuration?
        var metrics_path: String?
        var scheme: String?
        var honor_labels: Bool?
        var static_configs: [StaticConfig]?
    }

    struct StaticConfig: Decodable {
        var targets: [String]?
        var labels: [String: String]?
    }

    static func decodeList(_ list: any UnkeyedDecodingContainer, defaults: ScrapeDefaults) throws -> [ScrapeConfig] {
        var list = list
        var out: [ScrapeConfig] = []
        var jobs = Set<String>()
        while !list.isAtEnd {
            let d = try list.superDecoder()
            let sc = try Raw(from: d)
            func fail(_ key: String?, _ message: String) -> DecodingError {
                DecodingError.dataCorrupted(.init(codingPath: d.codingPath + (key.map { [AnyKey(stringValue: $0)] } ?? []),
                                                  debugDescription: message))
            }
            guard !sc.job_name.isEmpty else { throw fail("job_name", "job_name is empty") }
            guard jobs.insert(sc.job_name).inserted else { throw fail("job_name", "duplicate job_name \"\(sc.job_name)\"") }
            var s = ScrapeConfig(jobName: sc.job_name)
            s.interval = sc.scrape_interval?.duration ?? defaults.interval
            s.timeout = sc.scrape_timeout?.duration ?? min(defaults.timeout, s.interval)
            if s.timeout > s.interval {
                throw fail("scrape_timeout", "scrape_timeout greater than scrape_interval (\(s.timeout) > \(s.interval))")
            }
            s.metricsPath = sc.metrics_path ?? "/metrics"
            if !s.metricsPath.hasPrefix("/") { throw fail("metrics_path", "metrics_path must start with /") }
            s.scheme = sc.scheme ?? "http"
            if s.scheme != "http" && s.scheme != "https" { throw fail("scheme", "scheme must be http or https, got \"\(s.scheme)\"") }
            s.honorLabels = sc.honor_labels ?? false
            for (j, st) in (sc.static_configs ?? []).enumerated() {
                let here = "static_configs"
                for (ti, t) in (st.targets ?? []).enumerated() {
                    if t.isEmpty || t.contains("/") || !t.contains(":") {
                        throw DecodingError.dataCorrupted(.init(
                            codingPath: d.codingPath + [AnyKey(stringValue: here), PathKey(index: j), AnyKey(stringValue: "targets"), PathKey(index: ti)],
                            debugDescription: "invalid target \"\(t)\" (expected host:port)"))
                    }
                    var labels = st.labels ?? [:]
                    for name in labels.keys.sorted() where !Labels.isValidLabelName(name) {
                        throw DecodingError.dataCorrupted(.init(
                            codingPath: d.codingPath + [AnyKey(stringValue: here), PathKey(index: j), AnyKey(stringValue: "labels")],
                            debugDescription: "invalid label name \"\(name)\""))
                    }
                    labels["job"] = labels["job"] ?? sc.job_name
                    labels["instance"] = labels["instance"] ?? t
                    s.targets.append(ScrapeTarget(address: t, labels: Labels(labels)))
                }
            }
            out.append(s)
        }
        return out
    }
}

public struct ScrapeTarget: Sendable, Equatable {
    /// `host:port`
    public var address: String
    /// Target labels added to every scraped series: `job`, `instance` and static labels.
    public var labels: Labels

    public init(address: String, labels: Labels) {
        self.address = address
        self.labels = labels
    }
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

    struct Raw: Decodable {
        var uri: String
        var interval: ConfigDuration?
        var labels: [String: String]?

        enum CodingKeys: String, CodingKey { case uri, interval, labels }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            uri = try c.decode(String.self, forKey: .uri).trimmingCharacters(in: .whitespaces)
            guard !uri.isEmpty, uri.contains(":") else {
                throw DecodingError.dataCorruptedError(forKey: .uri, in: c, debugDescription:
                    "expected a libvirt connection URI such as qemu:///system or test:///default, got \"\(uri)\"")
            }
            interval = try c.decodeIfPresent(ConfigDuration.self, forKey: .interval)
            labels = try c.decodeIfPresent([String: String].self, forKey: .labels)
            for name in (labels ?? [:]).keys.sorted() {
                guard Labels.isValidLabelName(name), !name.hasPrefix("__") else {
                    throw DecodingError.dataCorruptedError(forKey: .labels, in: c, debugDescription: "invalid label name \"\(name)\"")
                }
                guard !LibvirtConfig.reservedLabels.contains(name) else {
                    throw DecodingError.dataCorruptedError(forKey: .labels, in: c, debugDescription: "\"\(name)\" is set by the collector itself")
                }
            }
        }
    }
}

/// The `forecast:` section: which series the online models watch, how often they run, and which model files they use.
public struct ForecastConfig: Decodable, Sendable {
    /// How often the models run (`interval`, default 30s).
    public var interval: Duration = .seconds(30)
    /// The `watch` selectors as written (each parsed by the server's selector parser).
    public var selectorTexts: [String] = []
    /// The parsed selectors (set by the server from `selectorTexts`, or directly in code).
    public var selectors: [[LabelMatcher]] = []
    public var modelPath: String?
    public var failureModelPath: String?
    public var saturationModelPath: String?
    /// Horizon in steps when no model is given.
    public var horizon = 12
    /// Without a model: the step series are forecast at (finer series are resampled to it, mean per step); nil =
    /// each series' own inferred step (median gap).
    public var step: Duration? = nil
    public var instanceLabel = "instance"
    /// `vigil_anomaly_score` alarm threshold: the points after an alarm are written at ≤ 0.5 (one alarm per incident).
    public var anomalyAlarmThreshold = 0.99
    /// Horizon of `vigil_failure_probability{kind="exhaustion"}`.
    public var exhaustionHorizon: Duration = .seconds(1800)
    /// Limit pairings for time to exhaustion; nil = the built-in ones (free memory and filesystem space against their
    /// size, any `X` against `X_limit`); an empty list turns it off.
    public var exhaustionLimits: [ExhaustionLimit]? = nil

    /// One limit pairing: the watched metric and either the name of its limit series or of the total it is the free
    /// part of (same labels apart from the name). `metric` may be `*<suffix>` (any name with that suffix).
    public struct ExhaustionLimit: Decodable, Sendable, Equatable {
        public var metric: String
        public var limit: String?
        public var size: String?
        public init(metric: String, limit: String? = nil, size: String? = nil) { self.metric = metric; self.limit = limit; self.size = size }
        enum CodingKeys: String, CodingKey { case metric, limit, size }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            metric = try c.decode(String.self, forKey: .metric)
            limit = try c.decodeIfPresent(String.self, forKey: .limit)
            size = try c.decodeIfPresent(String.self, forKey: .size)
            guard !metric.isEmpty, (limit == nil) != (size == nil), !(limit ?? size ?? "").isEmpty else {
                throw DecodingError.dataCorrupted(.init(codingPath: c.codingPath, debugDescription: "expected metric and exactly one of limit or size"))
            }
        }
    }
    /// Where each key was written (`watch[0]`, `model`, …), for errors found after decoding.
    public var locations: [String: ConfigLocation] = [:]

    public init() {}

    enum CodingKeys: String, CodingKey {
        case interval, watch, model, failure_model, saturation_model, horizon, step, instance_label
        case anomaly_alarm_threshold, exhaustion_horizon, exhaustion_limits
    }

    /// `watch` takes one selector or a list.
    enum Watch: Decodable, Sendable {
        case one(Located<String>)
        case many([Located<String>])
        init(from decoder: any Decoder) throws {
            if let l = try? [Located<String>](from: decoder) { self = .many(l); return }
            self = .one(try Located<String>(from: decoder))
        }
        var items: [Located<String>] { switch self { case .one(let s): [s]; case .many(let l): l } }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        interval = try c.decodeIfPresent(ConfigDuration.self, forKey: .interval)?.duration ?? .seconds(30)
        guard c.contains(.watch) else {
            throw DecodingError.keyNotFound(CodingKeys.watch, .init(codingPath: c.codingPath, debugDescription: "missing key \"watch\""))
        }
        let watch = try c.decode(Watch.self, forKey: .watch).items
        guard !watch.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .watch, in: c, debugDescription: "expected a list of series selectors")
        }
        for (i, w) in watch.enumerated() {
            selectorTexts.append(w.value)
            locations["watch[\(i)]"] = w.location
        }
        func path(_ key: CodingKeys) throws -> String? {
            guard let p = try c.decodeIfPresent(Located<String>.self, forKey: key) else { return nil }
            guard !p.value.isEmpty else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "expected a path to a .vgm model file")
            }
            locations[key.rawValue] = p.location
            return p.value
        }
        modelPath = try path(.model)
        failureModelPath = try path(.failure_model)
        saturationModelPath = try path(.saturation_model)
        if let h = try c.decodeIfPresent(Int.self, forKey: .horizon) {
            guard h > 0, h <= 10_000 else {
                throw DecodingError.dataCorruptedError(forKey: .horizon, in: c, debugDescription: "expected a number of steps in 1...10000, got \(h)")
            }
            horizon = h
        }
        if let st = try c.decodeIfPresent(ConfigDuration.self, forKey: .step)?.duration {
            guard st >= .seconds(1) else {
                throw DecodingError.dataCorruptedError(forKey: .step, in: c, debugDescription: "expected a duration of at least 1s")
            }
            step = st
        }
        instanceLabel = try c.decodeIfPresent(LabelName.self, forKey: .instance_label)?.name ?? "instance"
        if let a = try c.decodeIfPresent(Double.self, forKey: .anomaly_alarm_threshold) {
            guard a > 0.5, a < 1 else {
                throw DecodingError.dataCorruptedError(forKey: .anomaly_alarm_threshold, in: c, debugDescription: "expected a score in (0.5, 1), got \(a)")
            }
            anomalyAlarmThreshold = a
        }
        if let h = try c.decodeIfPresent(ConfigDuration.self, forKey: .exhaustion_horizon)?.duration {
            guard h > .zero else {
                throw DecodingError.dataCorruptedError(forKey: .exhaustion_horizon, in: c, debugDescription: "expected a positive duration")
            }
            exhaustionHorizon = h
        }
        exhaustionLimits = try c.decodeIfPresent([ExhaustionLimit].self, forKey: .exhaustion_limits)
    }

    /// A located error at `key` of this section (or unlocated, for a section built in code).
    public func error(_ key: String, _ message: String) -> VigilConfig.ConfigError {
        if let l = locations[key] { return VigilConfig.ConfigError(at: l, message) }
        return VigilConfig.ConfigError(message: "forecast.\(key): \(message)")
    }
}

extension VigilConfig {
    /// What `vigil config check` prints for a valid file: one line per section in effect.
    public func summary() -> String {
        var out: [String] = ["\(file): valid"]
        var srv: [String] = []
        if let l = server.listen { srv.append("listen \(l)") }
        if let d = server.data { srv.append("data \(d)") }
        if let r = server.retention { srv.append("retention \(r)") }
        if let w = server.walFsync {
            switch w {
            case .always: srv.append("wal_fsync always")
            case .interval(let d): srv.append("wal_fsync \(d)")
            }
        }
        if server.authTokenFile != nil { srv.append("auth token file") }
        if let b = server.maxBodyBytes { srv.append("max_body_bytes \(b.bytes)") }
        out.append("  server: " + (srv.isEmpty ? "flags and defaults" : srv.joined(separator: ", ")))
        out.append("  global: scrape_interval \(Self.fmt(scrapeInterval)), scrape_timeout \(Self.fmt(scrapeTimeout))")
        let targets = scrapeConfigs.map(\.targets.count).reduce(0, +)
        out.append("  scrape_configs: \(scrapeConfigs.count) job\(scrapeConfigs.count == 1 ? "" : "s"), \(targets) target\(targets == 1 ? "" : "s")"
                   + (scrapeConfigs.isEmpty ? "" : " (" + scrapeConfigs.map { "\($0.jobName): \($0.targets.count) every \(Self.fmt($0.interval))" }.joined(separator: "; ") + ")"))
        out.append("  host_collector: " + (hostCollector ? "on, every \(Self.fmt(hostCollectorInterval ?? scrapeInterval))" : "off"))
        out.append("  libvirt: " + (libvirt.map { "\($0.uri) every \(Self.fmt($0.interval))" } ?? "off"))
        out.append("  graphite: " + (graphite.map { "\($0.listen)" } ?? "off"))
        out.append("  statsd: " + (statsd.map { "\($0.listen), flush every \(Self.fmt($0.flushInterval))" } ?? "off"))
        if let f = forecast {
            var parts = ["every \(Self.fmt(f.interval))", "watch \(f.selectorTexts.joined(separator: " or "))"]
            parts.append("model \(f.modelPath ?? "fitted per tick")")
            if let s = f.saturationModelPath { parts.append("saturation_model \(s)") }
            if let m = f.failureModelPath { parts.append("failure_model \(m)") }
            out.append("  forecast: " + parts.joined(separator: ", "))
        } else {
            out.append("  forecast: off")
        }
        for k in sections.keys.sorted() { out.append("  \(k): present") }
        return out.joined(separator: "\n")
    }

    static func fmt(_ d: Duration) -> String {
        let (s, atto) = d.components
        return DurationParser.format(s * 1000 + atto / 1_000_000_000_000_000)
    }
}
