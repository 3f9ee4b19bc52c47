import Foundation
import Synchronization
import Hummingbird
import Logging
import NIOCore
import HummingbirdCore
import ServiceLifecycle
import VigilCore
import VigilIngestPath

/// `vigil serve`'s HTTP layer as a reusable type: ingestion endpoints, self-metrics, health probes, and whatever
/// other engineers add (query routes through `addRoutes`; background loops such as VigilCollectors' collectors and
/// VigilOnline's model loop through `addLoop`/`addService`, run as services of the application's one ServiceGroup).
///
/// Tests build one on port 0 and read the bound port from `run(onRunning:)`:
/// ```swift
/// let server = VigilServer(options: opts, appender: store, reader: store, decoders: .standard)
/// let task = Task { try await server.run { port in ready.yield(port) } }
/// ```
public final class VigilServer: Sendable {
    public let options: ServerOptions
    public let ingestor: Ingestor
    public let reader: any SeriesReader
    public let metrics: SelfMetrics
    public let decoders: IngestDecoders
    public let logger: Logger
    let limiter: InflightLimiter
    private let routeInstallers: LockedList<@Sendable (Router<BasicRequestContext>, any SeriesReader) -> Void>
    private let services: LockedList<any Service>
    /// Set once the HTTP listener is bound.
    public let ready = ReadyFlag()

    public init(options: ServerOptions, appender: any SampleAppender, reader: any SeriesReader,
                decoders: IngestDecoders, metrics: SelfMetrics = SelfMetrics(), logger: Logger = Logger(label: "vigil"),
                existingSeries: Int = 0) {
        self.options = options
        self.metrics = metrics
        self.ingestor = Ingestor(appender: appender, limits: options.limits, metrics: metrics, existingSeries: existingSeries)
        self.reader = reader
        self.decoders = decoders
        self.logger = logger
        self.limiter = InflightLimiter(maxRequests: options.maxInflightRequests, maxBytes: options.maxInflightBytes,
                                       metrics: metrics)
        self.routeInstallers = LockedList()
        self.services = LockedList()
        metrics.set("vigil_build_info", [Label("version", vigilServerVersion)], 1)
        metrics.describe("vigil_rejected_requests_total", "counter",
                         "Requests refused whole, by reason (malformed, too_large, unsupported, overloaded, unauthorized, aborted).")
    }

    /// Adds routes (e.g. the Prometheus query API) before `run`. They get the same auth and request metrics.
    public func addRoutes(_ install: @escaping @Sendable (Router<BasicRequestContext>, any SeriesReader) -> Void) {
        routeInstallers.append(install)
    }

    /// Adds a background loop (collector, online model) that runs as long as the server and stops with it.
    public func addService(_ service: any Service) {
        services.append(service)
    }

    /// Adds a background loop given as a closure; it should return when its task is cancelled. A loop that throws
    /// is restarted after a back-off (1 s doubling to 60 s, on the server's clock), counted in
    /// `vigil_service_restarts_total{service}` and logged each time.
    public func addLoop(_ name: String, _ body: @escaping @Sendable () async throws -> Void) {
        services.append(LoopService(name: name, body: body, logger: logger, clock: options.clock, metrics: metrics))
    }

    public func buildRouter() -> Router<BasicRequestContext> {
        let router = Router<BasicRequestContext>()
        var known = Set(Self.ingestPaths + ["/metrics", "/-/healthy", "/-/ready", "/api/v1/export"])
        router.add(middleware: RequestMetricsMiddleware(metrics: metrics, knownPaths: known))
        if let token = options.authToken {
            router.add(middleware: AuthMiddleware(token: Array(token.utf8)))
        }
        addIngestRoutes(to: router)
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: self.metrics.render())))
        }
        router.get("/-/healthy") { _, _ in textResponse(.ok, "Vigil is Healthy.") }
        router.get("/-/ready") { _, _ in
            self.ready.isSet ? textResponse(.ok, "Vigil is Ready.") : textResponse(.serviceUnavailable, "Vigil is not ready.")
        }
        addExportRoute(to: router)
        for install in routeInstallers.all { install(router, reader) }
        known.removeAll()
        return router
    }

    /// Runs until the surrounding task is cancelled. `onRunning` gets the bound TCP port.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await makeApplication(onRunning: onRunning).run()
    }

    /// Runs until SIGTERM/SIGINT, then shuts down gracefully (what `vigil serve` calls).
    public func runService(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await makeApplication(onRunning: onRunning).runService()
    }

    func makeApplication(onRunning: @escaping @Sendable (Int) async -> Void) throws -> some ApplicationProtocol {
        if options.authToken != nil {
            for (name, a) in [("graphite", options.graphiteListen), ("statsd", options.statsdListen)] {
                guard let a, !a.isLoopback else { continue }
                logger.warning("\(name) listener takes writes without the bearer token and is reachable beyond this host; bind it to 127.0.0.1 or firewall it",
                               metadata: ["address": "\(a)"])
            }
        }
        let ready = self.ready
        let logger = self.logger
        let openFiles = raiseOpenFileLimit()
        var conn = options.connections
        if conn.maxConnections <= 0 { conn.maxConnections = ConnectionOptions.derivedMaxConnections(openFileLimit: openFiles) }
        let registry = ConnectionRegistry(cap: conn.maxConnections, metrics: metrics, logger: logger)
        let connections = conn
        logger.info("HTTP connection limits", metadata: [
            "max_connections": "\(conn.maxConnections)", "open_file_limit": "\(openFiles)",
            "header_timeout": "\(conn.headerTimeout)", "body_timeout": "\(conn.bodyTimeout)",
            "idle_timeout": "\(conn.idleTimeout)"])
        return Application(
            router: buildRouter(),
            server: HTTPServerBuilder { responder in
                GuardedHTTP1Channel(responder: responder, registry: registry, options: connections)
            },
            configuration: .init(address: .hostname(options.listen.host, port: options.listen.port), serverName: "vigil"),
            services: services.all,
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                ready.set()
                logger.info("vigil listening", metadata: ["address": "\(channel.localAddress.map { "\($0)" } ?? "?")"])
                await onRunning(port)
            },
            logger: logger
        )
    }
}

/// A flag set once (server bound) and read from request handlers.
public final class ReadyFlag: Sendable {
    private let v = LockedList<Bool>()
    public init() {}
    public func set() { v.append(true) }
    public var isSet: Bool { !v.all.isEmpty }
}

/// Append-only list behind a mutex.
final class LockedList<T: Sendable>: Sendable {
    private let items = Mutex<[T]>([])
    func append(_ x: T) { items.withLock { $0.append(x) } }
    var all: [T] { items.withLock { $0 } }
}

/// A closure run as a ServiceLifecycle service; cancellation (graceful shutdown) ends it quietly. When the closure
/// throws, the failure is logged and counted and the closure runs again after a back-off (`initialBackoffMs`,
/// doubling up to `maxBackoffMs`, reset after a run that lasted longer than the cap), so one failing collector or
/// listener never takes the others down and comes back by itself.
struct LoopService: Service {
    let name: String
    let body: @Sendable () async throws -> Void
    let logger: Logger
    var clock: any VigilClock = WallClock()
    var metrics: SelfMetrics?
    var initialBackoffMs: Int64 = 1_000
    var maxBackoffMs: Int64 = 60_000

    func run() async throws {
        var backoff = initialBackoffMs
        while !Task.isCancelled {
            let started = clock.nowMillis()
            do {
                try await cancelWhenGracefulShutdown { try await body() }
                return  // returned by itself: done
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                if clock.nowMillis() - started > maxBackoffMs { backoff = initialBackoffMs }
                metrics?.describe("vigil_service_restarts_total", "counter",
                                  "Background loops (collectors, listeners, online models) restarted after failing, by service.")
                metrics?.add("vigil_service_restarts_total", [Label("service", name)])
                logger.error("\(name) failed; restarting", metadata: ["error": "\(error)", "backoff_ms": "\(backoff)"])
                do { try await clock.sleep(millis: backoff) } catch { return }
                backoff = min(maxBackoffMs, backoff * 2)
            }
        }
    }
}
