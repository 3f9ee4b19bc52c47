import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import VigilConfig
import VigilCore
import VigilDrivers
import VigilEngine
import VigilForecast

/// Builds an `EngineRunner` from a checked config: the driver (`driver:`), the metric source (remote URL, or the
/// local store when given a reader), the audit database, the engine options and the sim's step hook.
public enum DaemonSetup {
    public struct Settings: Sendable {
        public var config: DaemonConfig
        /// The config file's directory (relative `driver.sim.trace`).
        public var baseDir: String?
        /// The audit database path (flag, `daemon.audit`, or a default the caller chose).
        public var auditPath: String
        /// `--query-url` / `daemon.query_url`; wins over `localReader`.
        public var queryURL: String?
        public var bearerToken: String?
        public var dryRun = false
        public init(config: DaemonConfig, baseDir: String?, auditPath: String) {
            self.config = config
            self.baseDir = baseDir
            self.auditPath = auditPath
        }
    }

    /// Opens the audit and the driver and returns the runner (not yet running).
    public static func makeRunner(_ s: Settings, clock: any VigilClock, localReader: (any SeriesReader)? = nil,
                                  appender: (any SampleAppender)? = nil, logger: Logger) async throws -> EngineRunner {
        let audit = try SQLiteAudit(path: s.auditPath)
        let driver: any Driver
        var hook: (any StepHook)?
        switch s.config.driver.kind {
        case .sim:
            guard let sc = s.config.driver.sim else { throw MetricSourceError("driver.sim: missing") }
            let sim = try await LiveSim(config: sc, groups: Array(s.config.policies.keys), startMillis: clock.nowMillis(),
                                        baseDir: s.baseDir)
            driver = sim.cluster
            hook = sim
        case .process:
            guard let pc = s.config.driver.process else { throw MetricSourceError("driver.process: missing") }
            let pd = ProcessDriver(config: pc, clock: clock, logger: logger)
            driver = pd
            hook = ProcessDriverHook(driver: pd)
        case .webhook:
            guard let wc = s.config.driver.webhook else { throw MetricSourceError("driver.webhook: missing") }
            do { driver = try WebhookDriver(config: wc, clock: clock, logger: logger) } catch {
                throw MetricSourceError("driver.webhook: \(error)")
            }
        case .exec:
            guard let ec = s.config.driver.exec else { throw MetricSourceError("driver.exec: missing") }
            driver = ExecDriver(config: ec, clock: clock, logger: logger)
        case .libvirt:
            guard let lc = s.config.driver.libvirt else { throw MetricSourceError("driver.libvirt: missing") }
            do {
                let ld = try LibvirtDriver(config: lc, baseDir: s.baseDir, clock: clock, logger: logger)
                driver = ld
                hook = LibvirtDriverHook(driver: ld)
            } catch {
                throw MetricSourceError("\(error)")
            }
        }
        let needsQueries = s.config.policies.values.contains { p in
            if p.loadQuery != nil { return true }
            if case .slo = p.objective { return true }
            return false
        }
        var source: (any MetricSource)?
        if let url = s.queryURL {
            source = try RemoteMetricSource(url: url, bearerToken: s.bearerToken)
        } else if let localReader, needsQueries {
            source = LocalMetricSource(reader: localReader)
        } else if needsQueries, s.config.driver.kind != .sim {
            logger.warning("policies name queries but no query source is set (--query-url); the driver's own observations are used")
        }
        if source == nil, needsQueries, s.config.driver.kind == .sim {
            logger.notice("no query source (--query-url): the sim driver's own load and latency are used")
        }
        var opts = s.config.daemon.engineOptions()
        opts.placement = s.config.placement
        // The engine's forecaster fits on the process's one BLAS thread, like the online models: OpenBLAS's threaded
        // routines called from two threads at once can spin on each other (seen as a livelock in dpotrf).
        opts.blasWorker = .shared
        return try EngineRunner(policies: s.config.policies, driver: driver, source: source, clock: clock, audit: audit,
                                options: opts, hook: hook, appender: appender,
                                forceDryRun: s.dryRun || s.config.daemon.dryRun, killSwitch: s.config.daemon.killSwitch,
                                logger: logger)
    }
}

/// The runner's loop as a ServiceLifecycle service: it ends (after the in-flight step) on graceful shutdown.
public struct EngineRunnerService: Service {
    public let runner: EngineRunner
    public init(runner: EngineRunner) { self.runner = runner }
    public func run() async throws {
        try await cancelWhenGracefulShutdown { try await runner.run() }
    }
}

/// Reloads the policies and the `placement:` section from the config file on every SIGHUP; a file that does not
/// load keeps the running ones (the error is logged with its file:line:column).
public struct PolicyReloadService: Service {
    public let file: String
    public let runner: EngineRunner
    public let logger: Logger

    public init(file: String, runner: EngineRunner, logger: Logger) {
        self.file = file
        self.runner = runner
        self.logger = logger
    }

    /// Reloads now; returns the error text when the file was rejected.
    @discardableResult
    public func reload() async -> String? {
        do {
            let c = try DaemonConfig.load(file: file)
            try await runner.reload(policies: c.policies, placement: c.placement)
            return nil
        } catch {
            logger.error("policy reload failed; keeping the running policies", metadata: ["error": "\(error)"])
            return "\(error)"
        }
    }

    public func run() async throws {
        signal(SIGHUP, SIG_IGN)
        let (hups, cont) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler { cont.yield() }
        source.resume()
        await withGracefulShutdownHandler {
            for await _ in hups { await reload() }
        } onGracefulShutdown: {
            cont.finish()
        }
        source.cancel()
    }
}

/// `vigil daemon`'s HTTP listener: `/-/healthy`, `/-/ready` (after the first step), `/metrics` (the engine's state
/// series), and the actions API.
public enum DaemonHTTP {
    public static func router(runner: EngineRunner) -> Router<BasicRequestContext> {
        let router = Router<BasicRequestContext>()
        router.get("/-/healthy") { _, _ in text(.ok, "Vigil daemon is Healthy.") }
        router.get("/-/ready") { _, _ in
            await runner.steps > 0 ? text(.ok, "Vigil daemon is Ready.") : text(.serviceUnavailable, "Vigil daemon is not ready (no engine step yet).")
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(string: await runner.metricsText())))
        }
        addActionRoutes(to: router, runner: runner)
        return router
    }

    static func text(_ s: HTTPResponse.Status, _ m: String) -> Response {
        Response(status: s, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: m + "\n")))
    }

    /// The application: the listener plus `services` (the runner's loop, the SIGHUP reloader). `runService()` on it
    /// shuts down gracefully on SIGTERM/SIGINT.
    public static func application(runner: EngineRunner, host: String, port: Int, services: [any Service], logger: Logger,
                                   onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(router: router(runner: runner),
                    configuration: .init(address: .hostname(host, port: port), serverName: "vigil-daemon"),
                    services: services,
                    onServerRunning: { ch in
                        logger.info("vigil daemon listening", metadata: ["address": "\(ch.localAddress.map { "\($0)" } ?? "?")"])
                        await onRunning(ch.localAddress?.port ?? 0)
                    },
                    logger: logger)
    }
}

/// `driver: {kind: process}`: starts the replicas before the first step, appends each replica's CPU and memory every
/// step (`vigil_process_cpu_cores{instance,group}`, `vigil_process_resident_memory_bytes{instance,group}`), and
/// stops every replica when the runner stops (none outlives the daemon).
struct ProcessDriverHook: StepHook {
    let driver: ProcessDriver

    func beforeStep(at t: Int64) async -> [SeriesSamples] {
        try? await driver.launch()
        var out: [SeriesSamples] = []
        for r in driver.status() {
            out.append(SeriesSamples(labels: Labels([("__name__", "vigil_process_cpu_cores"), ("group", r.group), ("instance", r.instance)]),
                                     timestamps: [t], values: [r.cpuCores]))
            out.append(SeriesSamples(labels: Labels([("__name__", "vigil_process_resident_memory_bytes"), ("group", r.group), ("instance", r.instance)]),
                                     timestamps: [t], values: [Double(r.rssBytes)]))
        }
        return out
    }

    func stop() async { await driver.shutdown() }
}

/// `driver: {kind: libvirt}`: appends each managed domain's CPU and memory every step
/// (`vigil_libvirt_domain_cpu_cores{instance,group,host}`, `vigil_libvirt_domain_memory_bytes{instance,group,host}`,
/// from the driver's last listing) and closes the connections when the runner stops (the domains keep running).
struct LibvirtDriverHook: StepHook {
    let driver: LibvirtDriver

    func beforeStep(at t: Int64) async -> [SeriesSamples] {
        var out: [SeriesSamples] = []
        for d in driver.status() {
            let l = [("group", d.group), ("host", d.host), ("instance", d.instance)]
            out.append(SeriesSamples(labels: Labels([("__name__", "vigil_libvirt_domain_cpu_cores")] + l), timestamps: [t], values: [d.cpuCores]))
            out.append(SeriesSamples(labels: Labels([("__name__", "vigil_libvirt_domain_memory_bytes")] + l), timestamps: [t],
                                     values: [Double(d.memoryBytes)]))
        }
        return out
    }

    func stop() async { await driver.shutdown() }
}
