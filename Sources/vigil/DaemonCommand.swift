import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import VigilConfig
import VigilCore
import VigilDaemon

struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Run the remediation engine: observe through a driver, decide per policy, act, audit.",
        discussion: """
            Reads `policies:`, `placement:` (optional: balance, consolidation, evacuation), `driver:` and `daemon:` from the config (docs/daemon.md, docs/engine.md). Every \
            decision is written to an SQLite audit (--audit) that survives restarts; an executed action is never \
            executed again. Serves /-/healthy, /-/ready, /metrics (the engine's state series) and the actions API \
            (GET /api/v1/actions, GET /api/v1/actions/pending, POST /api/v1/actions/{id}/approve|reject). \
            SIGHUP reloads the policies and `placement:`; SIGTERM/SIGINT finish the step in flight and exit 0.

            Examples:
              vigil daemon --config vigil.yml
              vigil daemon --config vigil.yml --query-url http://127.0.0.1:9090 --token-file prom-token.txt
              vigil daemon --config vigil.yml --dry-run --audit /var/lib/vigil/audit.db --log-format json
              curl -s 127.0.0.1:9471/api/v1/actions/pending
              curl -s -X POST 127.0.0.1:9471/api/v1/actions/svc:scale_out:1764870000000/approve
            """
    )

    @Option(help: "YAML config with `policies:`, `driver:` and optionally `daemon:` (docs/configuration.md).")
    var config: String

    @Option(help: "Address of the daemon's HTTP API (HOST:PORT; default daemon.listen or 127.0.0.1:9471).")
    var listen: String?

    @Option(help: "Prometheus-compatible server the policies' queries run against (GET URL/api/v1/query).")
    var queryUrl: String?

    @Option(help: "File holding the bearer token for --query-url.")
    var tokenFile: String?

    @Option(help: "Audit database (SQLite; default daemon.audit or audit.db beside the config).")
    var audit: String?

    @Option(help: "Log format: text or json (one JSON object per line).")
    var logFormat = "text"

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    @Flag(help: "Every group in dry-run mode: decisions are audited, nothing is executed.")
    var dryRun = false

    func run() async throws {
        guard logFormat == "text" || logFormat == "json" else {
            throw ValidationError("--log-format: expected text or json, got \"\(logFormat)\"")
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let json = logFormat == "json"
        LoggingSystem.bootstrap { label in
            var h: any LogHandler = json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            h.logLevel = level
            return h
        }
        let logger = Logger(label: "vigil.daemon")
        let dc: DaemonConfig
        do { dc = try DaemonConfig.load(file: config) } catch { throw ValidationError("\(error)") }
        let section = dc.daemon
        let address: ListenAddress
        do {
            address = try listen.map { try ListenAddress(parsing: $0, bareHost: "127.0.0.1") } ?? section.listen
                ?? ListenAddress(host: "127.0.0.1", port: 9471)
        } catch { throw ValidationError("--listen: \(error)") }
        let baseDir = URL(fileURLWithPath: config).deletingLastPathComponent().path
        var s = DaemonSetup.Settings(config: dc, baseDir: baseDir,
                                     auditPath: audit ?? section.audit.map { $0.hasPrefix("/") ? $0 : baseDir + "/" + $0 } ?? baseDir + "/audit.db")
        s.queryURL = queryUrl ?? section.queryURL
        if let tf = tokenFile ?? section.tokenFile {
            let raw: String
            do { raw = try String(contentsOfFile: tf, encoding: .utf8) } catch {
                throw ValidationError("cannot read --token-file \(tf): \(error.localizedDescription)")
            }
            let t = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !t.isEmpty else { throw ValidationError("--token-file \(tf) is empty") }
            guard s.queryURL != nil else { throw ValidationError("--token-file needs --query-url (the token is sent there)") }
            s.bearerToken = t
        }
        s.dryRun = dryRun
        let runner: EngineRunner
        do { runner = try await DaemonSetup.makeRunner(s, clock: WallClock(), logger: logger) } catch { throw ValidationError("\(error)") }
        logger.notice("vigil daemon starting", metadata: [
            "config": "\(config)", "audit": "\(s.auditPath)", "driver": "\(dc.driver.kind.rawValue)",
            "query_source": "\(s.queryURL ?? "driver")", "dry_run": "\(s.dryRun || section.dryRun)"])
        let app = DaemonHTTP.application(
            runner: runner, host: address.host, port: address.port,
            services: [EngineRunnerService(runner: runner), PolicyReloadService(file: config, runner: runner, logger: logger)],
            logger: logger)
        try await app.runService()
        runner.audit.close()
    }
}

/// One JSON object per log line on stderr: `ts` (RFC 3339), `level`, `label`, `msg` and the metadata.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("ts", ISO8601DateFormatter().string(from: WallClock().now())),
            ("level", event.level.rawValue), ("label", label), ("msg", "\(event.message)"),
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { _, b in b }
        for (k, v) in merged.sorted(by: { $0.key < $1.key }) { fields.append((k, "\(v)")) }
        let line = "{" + fields.map { JSONText.quote($0.0) + ":" + JSONText.quote($0.1) }.joined(separator: ",") + "}\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
