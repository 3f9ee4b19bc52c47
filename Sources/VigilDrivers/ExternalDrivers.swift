import Foundation
import Logging
import VigilConfig
import VigilCore
import VigilEngine

// MARK: - the action document (docs/drivers.md "Action document")

/// What the webhook and exec drivers hand over for each action: `"version": 1`, keys snake_case, nulls omitted.
public struct ActionDocument: Codable, Sendable, Equatable {
    public var version = 1
    /// The engine's action id: a receiver that sees an id twice must treat the repeat as done.
    public var id: String
    /// `scale`, `restart`, `stop`, `start`, `migrate`, `power`.
    public var kind: String
    public var group: String?
    public var instance: String?
    /// scale: replicas before and after; power: 1 on, 0 off.
    public var from: Int?
    public var to: Int?
    /// start: where (relocation); migrate: the target host; power: the host.
    public var host: String?
    public var live: Bool?
    public var reason: String
    public var numbers: [String: Double]
    /// RFC 3339, UTC, milliseconds.
    public var time: String
    public var timeMs: Int64
    public var dryRun: Bool

    enum CodingKeys: String, CodingKey {
        case version, id, kind, group, instance, from, to, host, live, reason, numbers, time
        case timeMs = "time_ms", dryRun = "dry_run"
    }

    func json() -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? e.encode(self)) ?? Data()
    }
}

// MARK: - inventory document (static list or inventory_command's stdout)

/// The inventory the webhook and exec drivers report: written in the config (`inventory:`) or printed as JSON by
/// `inventory_command` on every observe.
public struct InventoryDocument: Codable, Sendable, Equatable {
    public struct Host: Codable, Sendable, Equatable {
        public var id: String
        public var vcpus: Int = 0
        public var memoryMib: Int = 0
        public var state: HostInfo.State = .up
        enum CodingKeys: String, CodingKey { case id, vcpus, state, memoryMib = "memory_mib" }
        public init(from d: any Decoder) throws {
            let c = try d.container(keyedBy: CodingKeys.self)
            id = try c.decode(String.self, forKey: .id)
            vcpus = try c.decodeIfPresent(Int.self, forKey: .vcpus) ?? 0
            memoryMib = try c.decodeIfPresent(Int.self, forKey: .memoryMib) ?? 0
            state = try c.decodeIfPresent(HostInfo.State.self, forKey: .state) ?? .up
        }
    }
    public struct Instance: Codable, Sendable, Equatable {
        public var id: String
        public var group: String
        public var host: String = ""
        public var state: InstanceInfo.State = .running
        public var startedAtMs: Int64 = 0
        public var vcpus: Int = 1
        enum CodingKeys: String, CodingKey { case id, group, host, state, vcpus, startedAtMs = "started_at_ms" }
        public init(from d: any Decoder) throws {
            let c = try d.container(keyedBy: CodingKeys.self)
            id = try c.decode(String.self, forKey: .id)
            group = try c.decode(String.self, forKey: .group)
            host = try c.decodeIfPresent(String.self, forKey: .host) ?? ""
            state = try c.decodeIfPresent(InstanceInfo.State.self, forKey: .state) ?? .running
            startedAtMs = try c.decodeIfPresent(Int64.self, forKey: .startedAtMs) ?? 0
            vcpus = try c.decodeIfPresent(Int.self, forKey: .vcpus) ?? 1
        }
    }
    public struct Group: Codable, Sendable, Equatable {
        public var id: String
        public var desiredReplicas: Int
        /// Demand in instances' worth (the engine's `load`); 0 when absent.
        public var load: Double = 0
        enum CodingKeys: String, CodingKey { case id, load, desiredReplicas = "desired_replicas" }
        public init(from d: any Decoder) throws {
            let c = try d.container(keyedBy: CodingKeys.self)
            id = try c.decode(String.self, forKey: .id)
            desiredReplicas = try c.decode(Int.self, forKey: .desiredReplicas)
            load = try c.decodeIfPresent(Double.self, forKey: .load) ?? 0
        }
    }
    public var hosts: [Host] = []
    public var instances: [Instance] = []
    public var groups: [Group] = []

    public init() {}

    public init(from d: any Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        hosts = try c.decodeIfPresent([Host].self, forKey: .hosts) ?? []
        instances = try c.decodeIfPresent([Instance].self, forKey: .instances) ?? []
        groups = try c.decodeIfPresent([Group].self, forKey: .groups) ?? []
    }
    enum CodingKeys: String, CodingKey { case hosts, instances, groups }

    var observation: (Inventory, [String: GroupObservation]) {
        (Inventory(hosts: hosts.map { HostInfo(id: $0.id, vcpus: $0.vcpus, memoryMiB: $0.memoryMib, state: $0.state) },
                   instances: instances.map { InstanceInfo(id: $0.id, group: $0.group, host: $0.host, state: $0.state,
                                                           startedAtMillis: $0.startedAtMs, vcpus: $0.vcpus) },
                   groups: groups.map { GroupInfo(id: $0.id, desiredReplicas: $0.desiredReplicas) }),
         Dictionary(groups.map { ($0.id, GroupObservation(load: $0.load)) }, uniquingKeysWith: { a, _ in a }))
    }
}

// MARK: - configs

/// `driver.webhook`: every action POSTed as an `ActionDocument`.
public struct WebhookDriverConfig: Decodable, Sendable, Equatable {
    public var url: String
    /// A file holding the HMAC key (trailing newline stripped); without it no signature header is sent.
    public var secretFile: String?
    public var timeout = ConfigDuration(milliseconds: 10_000)
    /// Extra attempts after a 5xx, a timeout or a transport error (a 4xx is not retried).
    public var retries = 3
    /// Wait before the first retry; doubles each retry.
    public var backoff = ConfigDuration(milliseconds: 500)
    public var inventory: InventoryDocument?
    public var inventoryCommand: [String]?
    public var dryRun = false

    enum CodingKeys: String, CodingKey {
        case url, timeout, retries, backoff, inventory
        case secretFile = "secret_file", inventoryCommand = "inventory_command", dryRun = "dry_run"
    }

    public init(url: String, secretFile: String? = nil, timeout: ConfigDuration = ConfigDuration(milliseconds: 10_000),
                retries: Int = 3, backoff: ConfigDuration = ConfigDuration(milliseconds: 500), inventory: InventoryDocument? = nil,
                inventoryCommand: [String]? = nil, dryRun: Bool = false) {
        self.url = url; self.secretFile = secretFile; self.timeout = timeout; self.retries = retries; self.backoff = backoff
        self.inventory = inventory; self.inventoryCommand = inventoryCommand; self.dryRun = dryRun
    }

    public init(from d: any Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        url = try c.decode(String.self, forKey: .url)
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw DecodingError.dataCorruptedError(forKey: .url, in: c, debugDescription: "url must be http(s), got \"\(url)\"")
        }
        secretFile = try c.decodeIfPresent(String.self, forKey: .secretFile)
        timeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .timeout) ?? timeout
        retries = try c.decodeIfPresent(Int.self, forKey: .retries) ?? 3
        guard retries >= 0 else { throw DecodingError.dataCorruptedError(forKey: .retries, in: c, debugDescription: "retries must be ≥ 0") }
        backoff = try c.decodeIfPresent(ConfigDuration.self, forKey: .backoff) ?? backoff
        inventory = try c.decodeIfPresent(InventoryDocument.self, forKey: .inventory)
        inventoryCommand = try c.decodeIfPresent([String].self, forKey: .inventoryCommand)
        dryRun = try c.decodeIfPresent(Bool.self, forKey: .dryRun) ?? false
    }
}

/// `driver.exec`: every action passed as an `ActionDocument` on a command's stdin.
public struct ExecDriverConfig: Decodable, Sendable, Equatable {
    public var command: [String]
    /// The command is killed (SIGKILL) after this.
    public var timeout = ConfigDuration(milliseconds: 60_000)
    /// Extra attempts after a non-zero exit or a timeout.
    public var retries = 0
    public var backoff = ConfigDuration(milliseconds: 1_000)
    public var inventory: InventoryDocument?
    public var inventoryCommand: [String]?
    public var dryRun = false

    enum CodingKeys: String, CodingKey {
        case command, timeout, retries, backoff, inventory
        case inventoryCommand = "inventory_command", dryRun = "dry_run"
    }

    public init(command: [String], timeout: ConfigDuration = ConfigDuration(milliseconds: 60_000), retries: Int = 0,
                backoff: ConfigDuration = ConfigDuration(milliseconds: 1_000), inventory: InventoryDocument? = nil,
                inventoryCommand: [String]? = nil, dryRun: Bool = false) {
        self.command = command; self.timeout = timeout; self.retries = retries; self.backoff = backoff
        self.inventory = inventory; self.inventoryCommand = inventoryCommand; self.dryRun = dryRun
    }

    public init(from d: any Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self)
        command = try c.decode([String].self, forKey: .command)
        guard !command.isEmpty else { throw DecodingError.dataCorruptedError(forKey: .command, in: c, debugDescription: "command must name a program") }
        timeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .timeout) ?? timeout
        retries = try c.decodeIfPresent(Int.self, forKey: .retries) ?? 0
        guard retries >= 0 else { throw DecodingError.dataCorruptedError(forKey: .retries, in: c, debugDescription: "retries must be ≥ 0") }
        backoff = try c.decodeIfPresent(ConfigDuration.self, forKey: .backoff) ?? backoff
        inventory = try c.decodeIfPresent(InventoryDocument.self, forKey: .inventory)
        inventoryCommand = try c.decodeIfPresent([String].self, forKey: .inventoryCommand)
        dryRun = try c.decodeIfPresent(Bool.self, forKey: .dryRun) ?? false
    }
}

// MARK: - running a command

enum CommandRunner {
    struct Outcome: Sendable {
        var status: Int32
        var stdout: Data
        var stderr: String
    }

    /// Runs argv with `input` on stdin; kills it (SIGKILL) after `timeoutMs` of `clock`. Output goes to temporary
    /// files (no pipe to fill up and block the child).
    static func run(_ argv: [String], input: Data, timeoutMs: Int64, clock: any VigilClock) async throws(DriverError) -> Outcome {
        let tmp = FileManager.default.temporaryDirectory
        let tag = UUID().uuidString
        let outURL = tmp.appendingPathComponent("vigil-exec-\(tag).out"), errURL = tmp.appendingPathComponent("vigil-exec-\(tag).err")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outURL); try? FileManager.default.removeItem(at: errURL) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = argv
        let stdin = Pipe()
        p.standardInput = stdin
        guard let out = FileHandle(forWritingAtPath: outURL.path), let err = FileHandle(forWritingAtPath: errURL.path) else {
            throw .unavailable("cannot create temporary files for \(argv[0])")
        }
        p.standardOutput = out
        p.standardError = err
        let done = Locked<CheckedContinuation<Int32, Never>?>(nil)
        let exited = Locked<Int32?>(nil)
        p.terminationHandler = { proc in
            let s = proc.terminationStatus
            let c: CheckedContinuation<Int32, Never>? = done.withLock { c in defer { c = nil }; return c }
            exited.withLock { $0 = s }
            c?.resume(returning: s)
        }
        do { try p.run() } catch { throw .rejected("cannot run \(argv[0]): \(error.localizedDescription)") }
        try? out.close()
        try? err.close()
        // A command that exits without reading its stdin closes the pipe: the write fails with EPIPE (SIGPIPE is
        // ignored, so the process is not killed), which is not an error here: the exit status decides.
        signal(SIGPIPE, SIG_IGN)
        try? stdin.fileHandleForWriting.write(contentsOf: input)
        try? stdin.fileHandleForWriting.close()
        let pid = p.processIdentifier
        let status: Int32? = await withTaskGroup(of: Int32?.self) { g in
            g.addTask {
                await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
                    if let s = exited.withLock({ $0 }) { c.resume(returning: s); return }
                    done.withLock { $0 = c }
                    if let s = exited.withLock({ $0 }), let c2 = done.withLock({ c in defer { c = nil }; return c }) { c2.resume(returning: s) }
                }
            }
            g.addTask {
                do { try await clock.sleep(millis: timeoutMs) } catch {}
                return nil
            }
            let first = await g.next() ?? nil
            if first == nil {
                kill(pid, SIGKILL)
                _ = await g.next()  // the termination handler resumes it
            } else {
                g.cancelAll()
            }
            return first
        }
        let stderrText = String(decoding: (try? Data(contentsOf: errURL)) ?? Data(), as: UTF8.self)
        guard let status else {
            throw .timeout(operation: "\(argv[0]) (killed)", millis: timeoutMs)
        }
        return Outcome(status: status, stdout: (try? Data(contentsOf: outURL)) ?? Data(),
                       stderr: String(stderrText.trimmingCharacters(in: .whitespacesAndNewlines).suffix(2000)))
    }
}

// MARK: - the drivers

/// How an action document leaves the process: over HTTP or into a command.
enum HandOff: Sendable {
    case webhook(WebhookDriverConfig, secret: [UInt8]?)
    case exec(ExecDriverConfig)
}

/// The webhook and exec drivers: one implementation, two hand-offs.
public final class HandOffDriver: Driver {
    public let name: String
    let handOff: HandOff
    let clock: any VigilClock
    let logger: Logger
    let inventoryCommand: [String]?
    let dryRun: Bool
    private let state: Locked<(doc: InventoryDocument?, done: ActionLedger)>

    init(name: String, handOff: HandOff, inventory: InventoryDocument?, inventoryCommand: [String]?, dryRun: Bool,
         clock: any VigilClock, logger: Logger) {
        self.name = name
        self.handOff = handOff
        self.clock = clock
        self.logger = logger
        self.inventoryCommand = inventoryCommand
        self.dryRun = dryRun
        state = Locked((inventory, ActionLedger()))
    }

    public func inventory() async throws(DriverError) -> Inventory { try await observe().inventory }

    public func observe() async throws(DriverError) -> Observation {
        let doc = try await currentDocument()
        let (inv, groups) = doc.observation
        return Observation(timeMillis: clock.nowMillis(), inventory: inv, groups: groups)
    }

    private func currentDocument() async throws(DriverError) -> InventoryDocument {
        guard let cmd = inventoryCommand else {
            return state.withLock { $0.doc } ?? InventoryDocument()
        }
        let out = try await CommandRunner.run(cmd, input: Data(), timeoutMs: 30_000, clock: clock)
        guard out.status == 0 else { throw .unavailable("inventory_command \(cmd[0]) exited \(out.status): \(out.stderr)") }
        do {
            let doc = try JSONDecoder().decode(InventoryDocument.self, from: out.stdout)
            state.withLock { $0.doc = doc }
            return doc
        } catch {
            throw .unavailable("inventory_command \(cmd[0]) printed invalid JSON: \(error)")
        }
    }

    public func scale(group: String, to replicas: Int, actionID: String) async throws(DriverError) {
        let from = state.withLock { $0.doc?.groups.first { $0.id == group }?.desiredReplicas }
        try await send(kind: "scale", id: actionID, group: group, instance: nil, from: from, to: replicas, host: nil,
                       reason: "scale \(group) \(from.map(String.init) ?? "?")→\(replicas)") { doc in
            if let k = doc.groups.firstIndex(where: { $0.id == group }) { doc.groups[k].desiredReplicas = replicas }
        }
    }

    public func restart(instance: String, actionID: String) async throws(DriverError) {
        let now = clock.nowMillis()
        try await send(kind: "restart", id: actionID, group: group(of: instance), instance: instance, from: nil, to: nil, host: nil,
                       reason: "restart \(instance)") { doc in
            if let k = doc.instances.firstIndex(where: { $0.id == instance }) {
                doc.instances[k].state = .running
                doc.instances[k].startedAtMs = now
            }
        }
    }

    public func stop(instance: String, actionID: String) async throws(DriverError) {
        try await send(kind: "stop", id: actionID, group: group(of: instance), instance: instance, from: nil, to: nil, host: nil,
                       reason: "stop \(instance)") { doc in
            if let k = doc.instances.firstIndex(where: { $0.id == instance }) { doc.instances[k].state = .stopped }
        }
    }

    public func start(instance: String, on host: String?, actionID: String) async throws(DriverError) {
        let now = clock.nowMillis()
        try await send(kind: "start", id: actionID, group: group(of: instance), instance: instance, from: nil, to: nil, host: host,
                       reason: "start \(instance)" + (host.map { " on \($0)" } ?? "")) { doc in
            if let k = doc.instances.firstIndex(where: { $0.id == instance }) {
                doc.instances[k].state = .running
                doc.instances[k].startedAtMs = now
                if let host { doc.instances[k].host = host }
            }
        }
    }

    public func migrate(instance: String, to host: String, live: Bool, actionID: String) async throws(DriverError) {
        try await send(kind: "migrate", id: actionID, group: group(of: instance), instance: instance, from: nil, to: nil, host: host,
                       live: live, reason: "migrate \(instance) to \(host)\(live ? " (live)" : "")") { doc in
            if let k = doc.instances.firstIndex(where: { $0.id == instance }) { doc.instances[k].host = host }
        }
    }

    public func power(host: String, on: Bool, actionID: String) async throws(DriverError) {
        try await send(kind: "power", id: actionID, group: nil, instance: nil, from: nil, to: on ? 1 : 0, host: host,
                       reason: "power \(on ? "on" : "off") \(host)") { doc in
            if let k = doc.hosts.firstIndex(where: { $0.id == host }) { doc.hosts[k].state = on ? .up : .maintenance }
        }
    }

    private func group(of instance: String) -> String? {
        state.withLock { $0.doc?.instances.first { $0.id == instance }?.group }
    }

    /// Builds the document, hands it off with retries, and on success applies `effect` to a static inventory.
    private func send(kind: String, id: String, group: String?, instance: String?, from: Int?, to: Int?, host: String?,
                      live: Bool? = nil, reason: String, effect: (inout InventoryDocument) -> Void) async throws(DriverError) {
        if state.withLock({ $0.done.contains(id) }) { return }  // a repeated action id: done already
        let t = clock.nowMillis()
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let doc = ActionDocument(id: id, kind: kind, group: group, instance: instance, from: from, to: to, host: host, live: live,
                                 reason: reason, numbers: [:], time: f.string(from: Date(timeIntervalSince1970: Double(t) / 1000)),
                                 timeMs: t, dryRun: dryRun)
        let body = doc.json()
        if dryRun {
            logger.info("dry-run: would hand off", metadata: ["driver": "\(name)", "action": "\(id)", "document": "\(String(decoding: body, as: UTF8.self))"])
            return
        }
        let (retries, backoff) = switch handOff {
        case .webhook(let c, _): (c.retries, c.backoff.milliseconds)
        case .exec(let c): (c.retries, c.backoff.milliseconds)
        }
        var last: DriverError = .unavailable("not tried")
        for attempt in 0...retries {
            if attempt > 0 {
                let wait = backoff << min(20, attempt - 1)
                logger.warning("hand-off failed; retrying", metadata: ["driver": "\(name)", "action": "\(id)", "attempt": "\(attempt + 1)",
                                                                      "in_ms": "\(wait)", "error": "\(last)"])
                do { try await clock.sleep(millis: wait) } catch { throw .unavailable("\(name) \(kind) \(id): cancelled during back-off after: \(last)") }
            }
            do throws(DriverError) {
                try await deliver(body)
                state.withLock { s in
                    _ = s.done.claim(id)
                    if inventoryCommand == nil, var d = s.doc { effect(&d); s.doc = d }
                }
                return
            } catch {
                last = error
                if case .rejected = error { throw error }  // a refusal (4xx, a command's non-timeout failure is retried)
            }
        }
        throw last.withAttempts(retries + 1)
    }

    private func deliver(_ body: Data) async throws(DriverError) {
        switch handOff {
        case .webhook(let c, let secret):
            var headers = ["Content-Type": "application/json", "User-Agent": "vigil"]
            if let secret { headers["X-Vigil-Signature"] = "sha256=" + SHA256.hex(SHA256.hmac(key: secret, message: Array(body))) }
            let r = await HTTPExchange.send(method: "POST", url: c.url, headers: headers, body: body,
                                            timeoutMs: c.timeout.milliseconds, clock: clock)
            switch r {
            case .failure(.timeout(let ms)): throw .timeout(operation: "POST \(c.url)", millis: ms)
            case .failure(.transport(let s)): throw .unavailable("POST \(c.url): \(s)")
            case .success(let resp):
                if (200..<300).contains(resp.status) { return }
                let text = String(decoding: resp.body.prefix(500), as: UTF8.self)
                if (400..<500).contains(resp.status) { throw .rejected("POST \(c.url) answered \(resp.status): \(text)") }
                throw .unavailable("POST \(c.url) answered \(resp.status): \(text)")
            }
        case .exec(let c):
            let out = try await CommandRunner.run(c.command, input: body, timeoutMs: c.timeout.milliseconds, clock: clock)
            guard out.status == 0 else {
                throw .unavailable("\(c.command.joined(separator: " ")) exited \(out.status): \(out.stderr)")
            }
        }
    }
}

extension DriverError {
    func withAttempts(_ n: Int) -> DriverError {
        guard n > 1 else { return self }
        switch self {
        case .unavailable(let s): return .unavailable("\(s) (after \(n) attempts)")
        default: return self
        }
    }
}

/// Posts each action to a URL (docs/drivers.md).
public func WebhookDriver(config: WebhookDriverConfig, clock: any VigilClock = WallClock(),
                          logger: Logger = Logger(label: "vigil.driver.webhook")) throws(DriverError) -> HandOffDriver {
    var secret: [UInt8]?
    if let path = config.secretFile {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unavailable("cannot read secret_file \(path)") }
        var bytes = Array(data)
        while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }
        guard !bytes.isEmpty else { throw .rejected("secret_file \(path) is empty") }
        secret = bytes
    }
    return HandOffDriver(name: "webhook", handOff: .webhook(config, secret: secret), inventory: config.inventory,
                         inventoryCommand: config.inventoryCommand, dryRun: config.dryRun, clock: clock, logger: logger)
}

/// Passes each action to a command on stdin (docs/drivers.md).
public func ExecDriver(config: ExecDriverConfig, clock: any VigilClock = WallClock(),
                       logger: Logger = Logger(label: "vigil.driver.exec")) -> HandOffDriver {
    HandOffDriver(name: "exec", handOff: .exec(config), inventory: config.inventory, inventoryCommand: config.inventoryCommand,
                  dryRun: config.dryRun, clock: clock, logger: logger)
}
