import ArgumentParser
import Foundation
import Logging
import VigilCollectors
import VigilCore
import VigilDaemon
import VigilOnline
import VigilQuery
import VigilServer
import VigilStore

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the metrics server: push endpoints, collectors and the embedded store.",
        discussion: """
            Accepts Prometheus remote_write 1.0/2.0 (POST /api/v1/write), text exposition \
            (POST /api/v1/import/prometheus), Influx line protocol (POST /api/v2/write, /write), \
            OTLP/HTTP metrics (POST /v1/metrics), and optionally Graphite (TCP) and StatsD (UDP). \
            A write is answered only once its samples are durable. Self-metrics at GET /metrics; \
            probes at GET /-/healthy and /-/ready. See docs/serve.md.

            Examples:
              vigil serve --data ./data
              vigil serve --data :memory:          # nothing written to disk (tests, demos)
              vigil serve --listen 0.0.0.0:9470 --config vigil.yml --auth-token-file token.txt --retention 30d
              vigil serve --host-collector --statsd-listen 127.0.0.1:8125
              vigil serve --libvirt-uri qemu:///system
              vigil serve --http-idle-timeout 30 --http-body-timeout 20 --max-connections 4096
            """
    )

    @Option(help: "Address to listen on (HOST:PORT; default 127.0.0.1:9470, or server.listen of --config).")
    var listen: String?

    @Option(help: "Data directory of the embedded store, or :memory: for a store that keeps nothing on disk (default ./data).")
    var data: String?

    @Option(help: "YAML config: server, collectors, scrape_configs, forecast (docs/configuration.md). SIGHUP reloads it.")
    var config: String?

    @Option(help: "File holding the bearer token every request must carry (except /-/healthy, /-/ready).")
    var authTokenFile: String?

    @Option(help: "How long samples are kept (e.g. 15d, 12h; default 15d).")
    var retention: String?

    @Option(help: "Samples further ahead of this host's clock refuse their batch with 400 (e.g. 10m, 2d; 0 = no bound).")
    var maxFuture = "10m"

    @Option(help: "WAL fsync policy: 'always' (answer after fsync; default) or a group-commit interval such as '1s'.")
    var walFsync: String?

    @Option(help: "Largest request body accepted, in bytes (413 above; default 67108864).")
    var maxBodyBytes: Int?

    @Option(help: "Graphite plaintext TCP listener HOST:PORT (off unless given; no auth; a bare :PORT means 127.0.0.1).")
    var graphiteListen: String?

    @Option(help: "StatsD UDP listener HOST:PORT (off unless given; no auth; a bare :PORT means 127.0.0.1).")
    var statsdListen: String?

    @Flag(help: "Collect this host's /proc metrics under node_exporter's names.")
    var hostCollector = false

    @Option(help: ArgumentHelp("Collect per-domain libvirt stats from this connection URI (e.g. qemu:///system, test:///default).",
                               discussion: "Same as a `libvirt: {uri: URI}` config section; overrides its uri."))
    var libvirtUri: String?

    @Option(help: "Labels per series, __name__ included (400 above).")
    var maxLabelsPerSeries = 64

    @Option(help: "Bytes of a label name (400 above).")
    var maxLabelNameLength = 256

    @Option(help: "Bytes of a label value (400 above).")
    var maxLabelValueLength = 4096

    @Option(help: "New series accepted per second; 0 = unlimited (extra series are dropped and reported).")
    var maxNewSeriesPerSecond = 0

    @Option(help: "Active series; 0 = unlimited (new series over it are dropped and reported).")
    var maxActiveSeries = 0

    @Option(help: "Ingestion requests handled at once before answering 503.")
    var maxInflightRequests = 64

    @Option(help: "Request body bytes held at once before answering 503.")
    var maxInflightBytes = 512 << 20

    @Option(help: "PromQL queries evaluated at once; more wait (up to 10 s) for a slot, then get 503 (Prometheus' --query.max-concurrency).")
    var queryMaxConcurrency = 20

    @Option(help: "Longest PromQL query accepted, in bytes (400 above).")
    var queryMaxLength = 256 << 10

    @Option(help: "Seconds a client has to send a request's headers, from connecting or from its first byte (408 and close after).")
    var httpHeaderTimeout = 10.0

    @Option(help: "Seconds a client has to send a whole request body (408 and close after).")
    var httpBodyTimeout = 60.0

    @Option(help: "Seconds an idle keep-alive connection is kept open.")
    var httpIdleTimeout = 60.0

    @Option(help: "Open HTTP connections at most; 0 = 3/4 of the open-file limit (raised to its hard limit at start).")
    var maxConnections = 0

    @Option(help: ArgumentHelp("Run the whole server on a clock this many times faster than real time (1 = real time).",
                               discussion: "Store bounds, retention, the query API's \"now\", the online models and the engine all read it: `make demo` runs one simulated hour per real minute with 60. Data written by real collectors would be stamped in the wrong time: use it with the sim driver only."))
    var clockSpeed = 1.0

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    @Flag(help: "Run the remediation engine in this process against the local store (needs --config with `policies:` and `driver:`; docs/daemon.md).")
    var withDaemon = false

    @Option(help: .hidden)  // `vigil demo`: stop (SIGTERM to ourselves) when this process is no longer our parent
    var stopWithParent: Int32?

    func run() async throws {
        if let parent = stopWithParent {
            // a thread of its own, so the watch works whatever the concurrency pool is doing
            Thread.detachNewThread {
                while getppid() == parent { usleep(250_000) }
                kill(getpid(), SIGTERM)
            }
        }
        HeapPolicy.keepFreedHeap()
        var logger = Logger(label: "vigil")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        var opts = ServerOptions()
        guard clockSpeed > 0, clockSpeed.isFinite else { throw ValidationError("--clock-speed must be a positive number, got \(clockSpeed)") }
        if clockSpeed != 1 {
            opts.clock = AcceleratedClock(speed: clockSpeed)
            logger.notice("--clock-speed \(clockSpeed): the server's clock runs \(clockSpeed)× real time")
        }
        // The config file first; a flag given on the command line wins over its `server:` section.
        if let config {
            do { opts.config = try VigilConfig.loadChecked(file: config, sections: ServeCommand.configSections) } catch {
                throw ValidationError("\(error)")
            }
        }
        let fileConfig = opts.config
        let section = opts.config.server
        do {
            opts.listen = try listen.map { try ListenAddress(parsing: $0) } ?? section.listen ?? opts.listen
            if let g = graphiteListen { opts.graphiteListen = try ListenAddress(parsing: g, bareHost: "127.0.0.1") } else { opts.graphiteListen = opts.config.graphite?.listen }
            if let s = statsdListen { opts.statsdListen = try ListenAddress(parsing: s, bareHost: "127.0.0.1") } else { opts.statsdListen = opts.config.statsd?.listen }
            if let f = opts.config.statsd?.flushInterval { opts.statsdFlushInterval = f }
        } catch {
            throw ValidationError("\(error)")
        }
        let bodyBytes = maxBodyBytes ?? section.maxBodyBytes?.bytes ?? opts.maxBodyBytes
        guard bodyBytes > 0 else { throw ValidationError("--max-body-bytes must be positive") }
        opts.maxBodyBytes = bodyBytes
        opts.maxInflightRequests = max(1, maxInflightRequests)
        opts.maxInflightBytes = max(1, maxInflightBytes)
        for (flag, v) in [("--http-header-timeout", httpHeaderTimeout), ("--http-body-timeout", httpBodyTimeout),
                          ("--http-idle-timeout", httpIdleTimeout)] where !(v > 0 && v.isFinite) {
            throw ValidationError("\(flag) must be a positive number of seconds, got \(v)")
        }
        opts.connections.headerTimeout = .milliseconds(Int64(httpHeaderTimeout * 1000))
        opts.connections.bodyTimeout = .milliseconds(Int64(httpBodyTimeout * 1000))
        opts.connections.idleTimeout = .milliseconds(Int64(httpIdleTimeout * 1000))
        guard maxConnections >= 0 else { throw ValidationError("--max-connections must be 0 (derived) or positive") }
        opts.connections.maxConnections = maxConnections
        opts.limits.maxLabelsPerSeries = maxLabelsPerSeries
        opts.limits.maxLabelNameBytes = maxLabelNameLength
        opts.limits.maxLabelValueBytes = maxLabelValueLength
        opts.limits.maxNewSeriesPerSecond = maxNewSeriesPerSecond
        opts.limits.maxActiveSeries = maxActiveSeries
        if let file = authTokenFile ?? section.authTokenFile {
            let raw: String
            do { raw = try String(contentsOfFile: file, encoding: .utf8) } catch {
                throw ValidationError("cannot read --auth-token-file \(file): \(error.localizedDescription)")
            }
            let token = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else { throw ValidationError("--auth-token-file \(file) is empty") }
            opts.authToken = token
        }
        if hostCollector { opts.config.hostCollector = true }
        if let uri = libvirtUri {
            guard uri.contains(":") else {
                throw ValidationError("--libvirt-uri: expected a libvirt connection URI such as qemu:///system, got \"\(uri)\"")
            }
            if opts.config.libvirt == nil {
                opts.config.libvirt = LibvirtConfig(uri: uri, interval: opts.config.scrapeInterval)
            } else {
                opts.config.libvirt?.uri = uri
            }
        }
        let retentionMs: Int64
        if let retention {
            do { retentionMs = try DurationParser.milliseconds(retention) } catch { throw ValidationError("--retention: \(error)") }
        } else {
            retentionMs = section.retention?.milliseconds ?? 15 * 86_400_000
        }
        let maxFutureMs: Int64
        if maxFuture == "0" { maxFutureMs = 0 } else {
            do { maxFutureMs = try DurationParser.milliseconds(maxFuture) } catch { throw ValidationError("--max-future: \(error)") }
        }
        let fsync: WALFsyncPolicy
        if let walFsync {
            do { fsync = try StoreWiring.parseFsync(walFsync) } catch { throw ValidationError("\(error)") }
        } else {
            switch section.walFsync ?? .always {
            case .always: fsync = .always
            case .interval(let d): fsync = .interval(milliseconds: d.milliseconds)
            }
        }

        let dataDir = data ?? section.data ?? "./data"
        let store: OpenedStore
        if dataDir == ServeCommand.memoryData {
            // `--data :memory:`: the in-memory store (same append semantics, nothing durable, no WAL, no SQLite).
            let mem = MemoryStore(outOfBoundsMs: retentionMs, maxFutureMs: maxFutureMs, clock: opts.clock)
            store = OpenedStore(appender: mem, reader: mem)
            logger.notice("--data :memory:: samples are kept in memory only and lost when the process exits")
        } else {
            store = try StoreWiring.open(dataDir: dataDir, retentionMs: retentionMs, fsync: fsync, logger: logger,
                                        maxFutureMs: maxFutureMs, clock: opts.clock)
        }
        // Scrape targets run under a ScrapeManager that a SIGHUP reload can change (not as fixed collector loops).
        let scrapeConfigs = opts.config.scrapeConfigs
        opts.config.scrapeConfigs = []
        let server = VigilServer(options: opts, appender: store.appender, reader: store.reader,
                                 decoders: StoreWiring.decoders(limits: opts.limits), logger: logger,
                                 existingSeries: (try? store.tsdb?.stats().series) ?? 0)
        store.attach(server)
        guard queryMaxConcurrency > 0 else { throw ValidationError("--query-max-concurrency must be positive") }
        guard queryMaxLength > 0 else { throw ValidationError("--query-max-length must be positive") }
        var queryOptions = QueryOptions()
        queryOptions.maxConcurrency = queryMaxConcurrency
        queryOptions.maxQueryLength = queryMaxLength
        let qo = queryOptions
        let clock = opts.clock
        server.addRoutes { router, reader in addQueryRoutes(to: router, reader: reader, options: qo, clock: clock) }
        // Every background loop is a service of the server's one ServiceGroup (`addLoop`: restarted with back-off
        // and counted in vigil_service_restarts_total when it throws).
        let scrapes = ScrapeManager(ingestor: server.ingestor, decoders: server.decoders, logger: logger,
                                    clock: opts.clock, configs: scrapeConfigs)
        server.addLoop("scrape targets") { await scrapes.run() }
        for c in Collectors.loops(config: opts.config, graphite: opts.graphiteListen, statsd: opts.statsdListen,
                                  statsdFlushInterval: opts.statsdFlushInterval, ingestor: server.ingestor,
                                  decoders: server.decoders, logger: logger, clock: opts.clock) {
            server.addLoop(c.name, c.run)
        }
        var forecastLoop: OnlineModelLoop?
        if let forecast = opts.config.forecast {
            let loop = try OnlineModelLoop.make(forecast, reader: store.reader, appender: store.appender,
                                                clock: opts.clock, metrics: server.metrics, logger: logger)
            server.addLoop("online forecaster") { await loop.run() }
            forecastLoop = loop
        }
        // The actions API is always mounted: without an engine every route answers 404 saying how to start one.
        let daemonRunner: EngineRunner? = try await withDaemon ? startDaemon(server: server, store: store, fileConfig: fileConfig,
                                                              dataDir: dataDir, clock: opts.clock, logger: logger) : nil
        server.addRoutes { router, _ in addActionRoutes(to: router, runner: daemonRunner) }
        if let config {
            let reloader = ConfigReloader(file: config, sections: ServeCommand.configSections, current: fileConfig,
                                          scrapes: { scrapes.apply($0) }, forecast: forecastLoop, logger: logger)
            server.addLoop("config reload on SIGHUP") { await reloader.run() }
        }
        try await server.runService()
        try await store.close()
    }

    /// `--with-daemon`: the engine runner in this process, reading the policies' queries from the local store and
    /// appending its state series (and the sim driver's metrics) to it.
    func startDaemon(server: VigilServer, store: OpenedStore, fileConfig: VigilConfig, dataDir: String, clock: any VigilClock,
                     logger: Logger) async throws -> EngineRunner {
        guard let config else { throw ValidationError("--with-daemon needs --config with `policies:` and `driver:` (docs/daemon.md)") }
        let dc: DaemonConfig
        do { dc = try DaemonConfig(fileConfig) } catch { throw ValidationError("\(error)") }
        let baseDir = URL(fileURLWithPath: config).deletingLastPathComponent().path
        let auditPath = dc.daemon.audit.map { $0.hasPrefix("/") ? $0 : baseDir + "/" + $0 }
            ?? (dataDir == Self.memoryData ? ":memory:" : dataDir + "/audit.db")
        var s = DaemonSetup.Settings(config: dc, baseDir: baseDir, auditPath: auditPath)
        s.queryURL = dc.daemon.queryURL
        if let tf = dc.daemon.tokenFile {
            let path = tf.hasPrefix("/") ? tf : baseDir + "/" + tf
            let t = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            guard !t.isEmpty else { throw ValidationError("daemon.token_file \(path): cannot read it, or it is empty") }
            s.bearerToken = t
        }
        let runner: EngineRunner
        do {
            runner = try await DaemonSetup.makeRunner(s, clock: clock, localReader: store.reader, appender: store.appender,
                                                      logger: logger)
        } catch { throw ValidationError("\(error)") }
        server.addLoop("remediation engine") { try await runner.run() }
        server.addService(PolicyReloadService(file: config, runner: runner, logger: logger))
        logger.notice("remediation engine runs in this process", metadata: ["audit": "\(auditPath)", "driver": "\(dc.driver.kind.rawValue)"])
        return runner
    }

    /// `--data :memory:`
    static let memoryData = ":memory:"

    /// Top-level config sections owned by other modules (the remediation engine's `policies:`, `drivers:`), decoded
    /// by their own types through the same strict decoder.
    /// Sections other modules own: the remediation engine's `policies:` (validated now, acted on by the daemon).
    static let configSections: [ConfigSection] = daemonConfigSections
}
