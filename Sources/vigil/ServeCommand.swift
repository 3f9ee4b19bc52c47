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
              vigil serve --listen 0.0.0.0:9470 --config vigil.yml --auth-token-file token.txt --retention 30d
              vigil serve --host-collector --statsd-listen 127.0.0.1:8125
              vigil serve --libvirt-uri qemu:///system
              vigil serve --http-idle-timeout 30 --http-body-timeout 20 --max-connections 4096
            """
    )

    @Option(help: "Address to listen on (HOST:PORT).")
    var listen = "127.0.0.1:9470"

    @Option(help: "Data directory of the embedded store.")
    var data = "./data"

    @Option(help: "YAML config with scrape_configs and collectors (see docs/serve.md).")
    var config: String?

    @Option(help: "File holding the bearer token every request must carry (except /-/healthy, /-/ready).")
    var authTokenFile: String?

    @Option(help: "How long samples are kept (e.g. 15d, 12h).")
    var retention = "15d"

    @Option(help: "Samples further ahead of this host's clock refuse their batch with 400 (e.g. 10m, 2d; 0 = no bound).")
    var maxFuture = "10m"

    @Option(help: "WAL fsync policy: 'always' (answer after fsync) or a group-commit interval such as '1s'.")
    var walFsync = "always"

    @Option(help: "Largest request body accepted, in bytes (413 above).")
    var maxBodyBytes = 64 << 20

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
        do {
            opts.listen = try ListenAddress(parsing: listen)
            if let g = graphiteListen { opts.graphiteListen = try ListenAddress(parsing: g, bareHost: "127.0.0.1") }
            if let s = statsdListen { opts.statsdListen = try ListenAddress(parsing: s, bareHost: "127.0.0.1") }
        } catch {
            throw ValidationError("\(error)")
        }
        guard maxBodyBytes > 0 else { throw ValidationError("--max-body-bytes must be positive") }
        opts.maxBodyBytes = maxBodyBytes
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
        if let file = authTokenFile {
            let raw: String
            do { raw = try String(contentsOfFile: file, encoding: .utf8) } catch {
                throw ValidationError("cannot read --auth-token-file \(file): \(error.localizedDescription)")
            }
            let token = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else { throw ValidationError("--auth-token-file \(file) is empty") }
            opts.authToken = token
        }
        var forecast: ForecastConfig?
        if let config {
            do {
                opts.config = try VigilConfig.load(file: config)
                forecast = try ForecastConfig.parse(yaml: try String(contentsOfFile: config, encoding: .utf8), file: config)
            } catch { throw ValidationError("\(error)") }
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
        do { retentionMs = try DurationParser.milliseconds(retention) } catch { throw ValidationError("--retention: \(error)") }
        let maxFutureMs: Int64
        if maxFuture == "0" { maxFutureMs = 0 } else {
            do { maxFutureMs = try DurationParser.milliseconds(maxFuture) } catch { throw ValidationError("--max-future: \(error)") }
        }
        let fsync: WALFsyncPolicy
        do { fsync = try StoreWiring.parseFsync(walFsync) } catch { throw ValidationError("\(error)") }

        let store = try StoreWiring.open(dataDir: data, retentionMs: retentionMs, fsync: fsync, logger: logger,
                                        maxFutureMs: maxFutureMs)
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
        if let forecast { try server.enableOnlineForecaster(forecast, appender: store.appender) }
        try await server.runService()
        try await store.close()
    }
}
