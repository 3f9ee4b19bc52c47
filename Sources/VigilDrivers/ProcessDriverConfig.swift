import VigilConfig

/// `driver.process` (docs/drivers.md): groups of local processes started from an argv.
public struct ProcessDriverConfig: Decodable, Sendable, Equatable {
    /// Groups by name.
    public var groups: [String: Group]
    /// SIGTERM → SIGKILL grace period when a replica is stopped (scale in, restart, shutdown).
    public var gracePeriod: ConfigDuration = ConfigDuration(milliseconds: 10_000)
    /// The host name the replicas are reported on (default: this machine's host name).
    public var host: String?
    /// Log what would be done and change nothing.
    public var dryRun = false

    public struct Group: Decodable, Sendable, Equatable {
        /// argv; `$PORT` and `$REPLICA` are substituted in every argument (and in `env` values, `health.url`).
        public var command: [String]
        public var env: [String: String] = [:]
        public var workingDir: String?
        /// Replicas started when the driver starts (the engine's scale actions change it afterwards).
        public var replicas: Int = 1
        /// `$PORT` of replica k is `port_base + k` (replicas are numbered from 0).
        public var portBase: Int = 0
        /// CPU cores one replica is sized for: the group's load reported to the engine is the cores all its replicas
        /// use / `cpu_limit` (instances' worth of work).
        public var cpuLimit: Double = 1
        /// Where replicas' stdout/stderr go: `inherit` (vigil's own), `discard`, or a file path (appended; `$REPLICA`
        /// substituted).
        public var output: String = "inherit"
        public var health: HealthCheck?

        public init(command: [String], env: [String: String] = [:], workingDir: String? = nil, replicas: Int = 1,
                    portBase: Int = 0, cpuLimit: Double = 1, output: String = "inherit", health: HealthCheck? = nil) {
            self.command = command
            self.env = env
            self.workingDir = workingDir
            self.replicas = replicas
            self.portBase = portBase
            self.cpuLimit = cpuLimit
            self.output = output
            self.health = health
        }

        enum CodingKeys: String, CodingKey {
            case command, env, replicas, output, health
            case workingDir = "working_dir", portBase = "port_base", cpuLimit = "cpu_limit"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            command = try c.decode([String].self, forKey: .command)
            guard !command.isEmpty, !command[0].isEmpty else {
                throw DecodingError.dataCorruptedError(forKey: .command, in: c, debugDescription: "command must name a program")
            }
            env = try c.decodeIfPresent([String: String].self, forKey: .env) ?? [:]
            workingDir = try c.decodeIfPresent(String.self, forKey: .workingDir)
            replicas = try c.decodeIfPresent(Int.self, forKey: .replicas) ?? 1
            guard replicas >= 0 else {
                throw DecodingError.dataCorruptedError(forKey: .replicas, in: c, debugDescription: "replicas must be ≥ 0, got \(replicas)")
            }
            portBase = try c.decodeIfPresent(Int.self, forKey: .portBase) ?? 0
            guard (0...65535).contains(portBase) else {
                throw DecodingError.dataCorruptedError(forKey: .portBase, in: c, debugDescription: "port_base must be in 0...65535, got \(portBase)")
            }
            cpuLimit = try c.decodeIfPresent(Double.self, forKey: .cpuLimit) ?? 1
            guard cpuLimit > 0, cpuLimit.isFinite else {
                throw DecodingError.dataCorruptedError(forKey: .cpuLimit, in: c, debugDescription: "cpu_limit must be > 0, got \(cpuLimit)")
            }
            output = try c.decodeIfPresent(String.self, forKey: .output) ?? "inherit"
            health = try c.decodeIfPresent(HealthCheck.self, forKey: .health)
        }
    }

    /// An HTTP probe: a replica is `running` once a GET of `url` answers 2xx/3xx, `unhealthy` after
    /// `failure_threshold` failed probes in a row (the engine then restarts it).
    public struct HealthCheck: Decodable, Sendable, Equatable {
        public var url: String
        public var period: ConfigDuration = ConfigDuration(milliseconds: 10_000)
        public var timeout: ConfigDuration = ConfigDuration(milliseconds: 1_000)
        public var failureThreshold: Int = 3

        public init(url: String, period: ConfigDuration = ConfigDuration(milliseconds: 10_000),
                    timeout: ConfigDuration = ConfigDuration(milliseconds: 1_000), failureThreshold: Int = 3) {
            self.url = url
            self.period = period
            self.timeout = timeout
            self.failureThreshold = failureThreshold
        }

        enum CodingKeys: String, CodingKey { case url, period, timeout, failureThreshold = "failure_threshold" }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            url = try c.decode(String.self, forKey: .url)
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
                throw DecodingError.dataCorruptedError(forKey: .url, in: c, debugDescription: "health.url must be an http(s) URL, got \"\(url)\"")
            }
            period = try c.decodeIfPresent(ConfigDuration.self, forKey: .period) ?? period
            timeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .timeout) ?? timeout
            failureThreshold = try c.decodeIfPresent(Int.self, forKey: .failureThreshold) ?? 3
            guard failureThreshold >= 1 else {
                throw DecodingError.dataCorruptedError(forKey: .failureThreshold, in: c, debugDescription: "failure_threshold must be ≥ 1")
            }
        }
    }

    public init(groups: [String: Group], gracePeriod: ConfigDuration = ConfigDuration(milliseconds: 10_000),
                host: String? = nil, dryRun: Bool = false) {
        self.groups = groups
        self.gracePeriod = gracePeriod
        self.host = host
        self.dryRun = dryRun
    }

    enum CodingKeys: String, CodingKey { case groups, host, gracePeriod = "grace_period", dryRun = "dry_run" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        groups = try c.decode([String: Group].self, forKey: .groups)
        gracePeriod = try c.decodeIfPresent(ConfigDuration.self, forKey: .gracePeriod) ?? gracePeriod
        host = try c.decodeIfPresent(String.self, forKey: .host)
        dryRun = try c.decodeIfPresent(Bool.self, forKey: .dryRun) ?? false
    }
}
