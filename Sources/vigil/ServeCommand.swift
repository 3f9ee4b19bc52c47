import ArgumentParser
import Foundation
import Logging
import VigilCore
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

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func run() async throws {
        HeapPolicy.keepFreedHeap()
        var logger = Logger(label: "vigil")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        var opts = ServerOptions()
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
            let mem = MemoryStore(outOfBoundsMs: retentionMs, maxFutureMs: maxFutureMs)
            store = OpenedStore(appender: mem, reader: mem)
            logger.notice("--data :memory:: samples are kept in memory only and lost when the process exits")
        } else {
            store = try StoreWiring.open(dataDir: dataDir, retentionMs: retentionMs, fsync: fsync, logger: logger,
                                        maxFutureMs: maxFutureMs)
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
        server.addRoutes { router, reader in addQueryRoutes(to: router, reader: reader, options: qo) }
        let scrapes = ScrapeManager(server: server, configs: scrapeConfigs)
        server.addLoop("scrape targets") { await scrapes.run() }
        var forecastLoop: OnlineModelLoop?
        if let forecast = opts.config.forecast {
            forecastLoop = try server.enableOnlineForecaster(forecast, appender: store.appender)
        }
        if let config {
            let reloader = ConfigReloader(file: config, sections: ServeCommand.configSections, current: fileConfig,
                                          scrapes: scrapes, forecast: forecastLoop, logger: logger)
            server.addLoop("config reload on SIGHUP") { await reloader.run() }
        }
        try await server.runService()
        try await store.close()
    }

    /// `--data :memory:`
    static let memoryData = ":memory:"

    /// Top-level config sections owned by other modules (the remediation engine's `policies:`, `drivers:`), decoded
    /// by their own types through the same strict decoder.
    /// Sections other modules own: the remediation engine's `policies:` (validated now, acted on by the daemon).
    static let configSections: [ConfigSection] = policySections
}
