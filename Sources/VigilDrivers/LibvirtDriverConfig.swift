import VigilConfig

/// `driver.libvirt` (docs/drivers.md): libvirt hosts by name, groups of domains defined from a template.
public struct LibvirtDriverConfig: Decodable, Sendable, Equatable {
    /// Hosts by name: a connection URI (`qemu+ssh://h1/system`, `test:///abs/path/h1.xml`), or a mapping with the
    /// URI and the power hooks.
    public var hosts: [String: Host]
    /// Groups by name. A group's instances are the domains named `<group>-<n>` (n ≥ 0) on any host.
    public var groups: [String: Group]
    /// How `restart` restarts a domain: `reboot` (guest reboot; a domain that is not running is started) or
    /// `destroy_start` (power off hard, then start: a new incarnation whatever the guest does).
    public var restart: RestartMode = .reboot
    /// Graceful shutdown (ACPI) before a hard `destroy` when a domain is stopped or scaled in.
    public var shutdownTimeout = ConfigDuration(milliseconds: 10_000)
    /// Deadline of one libvirt call (on the host's own thread); a call past it is a `timeout` error.
    public var callTimeout = ConfigDuration(milliseconds: 30_000)
    /// Deadline of one power hook command.
    public var hookTimeout = ConfigDuration(milliseconds: 120_000)
    /// Log what would be done and change nothing.
    public var dryRun = false

    public enum RestartMode: String, Decodable, Sendable, Equatable, CaseIterable {
        case reboot
        case destroyStart = "destroy_start"
    }

    public struct Host: Decodable, Sendable, Equatable {
        public var uri: String
        /// argv run by `power(host:on: true)` before reconnecting (`$HOST`, `$URI` substituted), e.g. `ipmitool … on`.
        public var powerOn: [String]?
        /// argv run by `power(host:on: false)` once the host's domains have been moved away.
        public var powerOff: [String]?

        public init(uri: String, powerOn: [String]? = nil, powerOff: [String]? = nil) {
            self.uri = uri
            self.powerOn = powerOn
            self.powerOff = powerOff
        }

        enum CodingKeys: String, CodingKey { case uri, powerOn = "power_on", powerOff = "power_off" }

        public init(from decoder: any Decoder) throws {
            var on: [String]?, off: [String]?
            let u: String
            if let s = try? decoder.singleValueContainer().decode(String.self) {
                u = s
            } else {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                u = try c.decode(String.self, forKey: .uri)
                on = try c.decodeIfPresent([String].self, forKey: .powerOn)
                off = try c.decodeIfPresent([String].self, forKey: .powerOff)
                for (k, v) in [(CodingKeys.powerOn, on), (.powerOff, off)] where v != nil && (v!.first ?? "").isEmpty {
                    throw DecodingError.dataCorruptedError(forKey: k, in: c, debugDescription: "\(k.rawValue) must name a program")
                }
            }
            guard u.contains(":") else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription:
                    "expected a libvirt connection URI (qemu:///system, qemu+ssh://host/system, test:///path.xml), got \"\(u)\""))
            }
            uri = u
            powerOn = on
            powerOff = off
        }
    }

    public struct Group: Decodable, Sendable, Equatable {
        /// Domain XML file new instances are defined from: `${NAME}` (required), `${GROUP}` and `${INDEX}` are
        /// substituted; any `<uuid>` is dropped so libvirt gives each domain a fresh one. Relative to the config file.
        public var template: String
        /// Pin the group's new instances to this host (default: the up host with the most free memory).
        public var host: String?

        public init(template: String, host: String? = nil) {
            self.template = template
            self.host = host
        }

        enum CodingKeys: String, CodingKey { case template, host }
    }

    public init(hosts: [String: Host], groups: [String: Group], restart: RestartMode = .reboot,
                shutdownTimeout: ConfigDuration = ConfigDuration(milliseconds: 10_000),
                callTimeout: ConfigDuration = ConfigDuration(milliseconds: 30_000), dryRun: Bool = false) {
        self.hosts = hosts
        self.groups = groups
        self.restart = restart
        self.shutdownTimeout = shutdownTimeout
        self.callTimeout = callTimeout
        self.dryRun = dryRun
    }

    enum CodingKeys: String, CodingKey {
        case hosts, groups, restart, shutdownTimeout = "shutdown_timeout", callTimeout = "call_timeout"
        case hookTimeout = "hook_timeout", dryRun = "dry_run"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hosts = try c.decode([String: Host].self, forKey: .hosts)
        groups = try c.decodeIfPresent([String: Group].self, forKey: .groups) ?? [:]
        if let raw = try c.decodeIfPresent(String.self, forKey: .restart) {
            guard let m = RestartMode(rawValue: raw) else {
                throw DecodingError.dataCorruptedError(forKey: .restart, in: c, debugDescription:
                    "unknown restart mode \"\(raw)\" (one of: \(RestartMode.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            restart = m
        }
        shutdownTimeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .shutdownTimeout) ?? shutdownTimeout
        callTimeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .callTimeout) ?? callTimeout
        hookTimeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .hookTimeout) ?? hookTimeout
        dryRun = try c.decodeIfPresent(Bool.self, forKey: .dryRun) ?? false
        guard !hosts.isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: .hosts, in: c, debugDescription: "at least one host is needed")
        }
        for (g, gc) in groups {
            if let h = gc.host, hosts[h] == nil {
                throw DecodingError.dataCorruptedError(forKey: .groups, in: c, debugDescription:
                    "groups.\(g).host: \"\(h)\" is not one of hosts (\(hosts.keys.sorted().joined(separator: ", ")))")
            }
        }
        guard callTimeout.milliseconds > 0 else {
            throw DecodingError.dataCorruptedError(forKey: .callTimeout, in: c, debugDescription: "must be > 0")
        }
    }
}
