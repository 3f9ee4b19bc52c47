import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import Synchronization
import VigilConfig
import VigilCore
import VigilIngestPath

/// Pulls one target's text exposition on its interval, like a Prometheus scrape loop:
/// target labels `job`/`instance` (+ static labels) on every series (a clashing scraped label becomes
/// `exported_<name>` unless `honor_labels`), the synthetic series `up`, `scrape_duration_seconds`,
/// `scrape_samples_scraped`, and stale markers for series that vanish or when a scrape fails.
public final class ScrapeLoop: Sendable {
    public let config: ScrapeConfig
    public let target: ScrapeTarget
    let ingestor: Ingestor
    let decoders: IngestDecoders
    let logger: Logger
    let session: URLSession
    let clock: any VigilClock

    public init(config: ScrapeConfig, target: ScrapeTarget, ingestor: Ingestor, decoders: IngestDecoders, logger: Logger,
                clock: any VigilClock = WallClock()) {
        self.clock = clock
        self.config = config
        self.target = target
        self.ingestor = ingestor
        self.decoders = decoders
        self.logger = logger
        let c = URLSessionConfiguration.ephemeral
        c.timeoutIntervalForRequest = config.timeout.seconds
        c.timeoutIntervalForResource = config.timeout.seconds
        c.httpMaximumConnectionsPerHost = 1
        session = URLSession(configuration: c)
    }

    public var url: URL { URL(string: "\(config.scheme)://\(target.address)\(config.metricsPath)")! }

    /// Scrapes until cancelled. Returns after writing stale markers for everything it last saw.
    public func run() async {
        var previous = Set<Labels>()
        // Spread targets over the interval, deterministically per target (as Prometheus does).
        let intervalMs = Int64(config.interval.seconds * 1000)
        let offset = Int64(target.labels.stableHash % UInt64(max(intervalMs, 1)))
        let nowMs = clock.nowMillis()
        var next = (nowMs / intervalMs) * intervalMs + offset
        if next < nowMs { next += intervalMs }
        // First scrape right away: a target should not wait a whole interval to show up.
        next = nowMs
        while !Task.isCancelled {
            do { try await clock.sleep(untilMillis: next) } catch { break }
            previous = await scrapeOnce(previous: previous, at: next)
            next += intervalMs
            let now = clock.nowMillis()
            if next < now { next = now + intervalMs - (now - next) % intervalMs }
        }
        // Shutdown: the target is no longer scraped, so its series end here.
        if !previous.isEmpty {
            let t = clock.nowMillis()
            let stale = previous.map { SeriesSamples(labels: $0, timestamps: [t], values: [.staleNaN]) }
            _ = try? await ingestor.ingest(stale.sorted { $0.labels < $1.labels }, source: "scrape")
        }
    }

    /// One scrape at `ts` (ms); returns the series seen (those without explicit timestamps) for the next round.
    @discardableResult
    public func scrapeOnce(previous: Set<Labels>, at ts: Int64) async -> Set<Labels> {
        let start = clock.nowMillis()
        var batch: [SeriesSamples] = []
        var current = Set<Labels>()
        var ok = false
        var scraped = 0
        var failure = ""
        do {
            var req = URLRequest(url: url)
            req.timeoutInterval = config.timeout.seconds
            req.setValue("text/plain;version=0.0.4;q=1,*/*;q=0.1", forHTTPHeaderField: "Accept")
            req.setValue("vigil/\(vigilServerVersion)", forHTTPHeaderField: "User-Agent")
            req.setValue(String(config.timeout.seconds), forHTTPHeaderField: "X-Prometheus-Scrape-Timeout-Seconds")
            // Not cancelled with the loop: cancelling a URLSession task mid-flight crashes FoundationNetworking on
            // Linux (TaskRegistry "behaviour for a task that is not in the registry"); the request ends within the
            // scrape timeout anyway.
            let session = self.session
            let (data, resp) = try await Task { [req] in try await session.data(for: req) }.value
            guard let http = resp as? HTTPURLResponse else { throw DecodeFailure("not an HTTP response") }
            guard http.statusCode == 200 else { throw DecodeFailure("server returned HTTP status \(http.statusCode)") }
            let ct = http.value(forHTTPHeaderField: "Content-Type")?.lowercased() ?? ""
            let series = try decoders.text(Array(data), ts, ct.hasPrefix("application/openmetrics-text"))
            for s in series {
                let labels = applyTargetLabels(s.labels)
                scraped += s.count
                batch.append(SeriesSamples(labels: labels, timestamps: s.timestamps, values: s.values))
                if s.timestamps.allSatisfy({ $0 == ts }) { current.insert(labels) }
            }
            ok = true
        } catch {
            failure = "\(error)"
            batch = []
        }
        let duration = Double(clock.nowMillis() - start) / 1000
        for s in previous where !current.contains(s) {
            batch.append(SeriesSamples(labels: s, timestamps: [ts], values: [.staleNaN]))
        }
        func synthetic(_ name: String, _ v: Double) -> SeriesSamples {
            SeriesSamples(labels: target.labels.setting("__name__", name), timestamps: [ts], values: [v])
        }
        batch.append(synthetic("up", ok ? 1 : 0))
        batch.append(synthetic("scrape_duration_seconds", duration))
        batch.append(synthetic("scrape_samples_scraped", Double(scraped)))
        ingestor.metrics.add("vigil_scrapes_total", [Label("job", config.jobName), Label("result", ok ? "success" : "failure")])
        if !ok {
            logger.debug("scrape failed", metadata: ["target": "\(url)", "error": "\(failure)"])
        }
        do {
            let out = try await ingestor.ingest(batch, source: "scrape", validated: decoders.validatesLabels)
            if out.rejected > 0 {
                logger.debug("scrape partly rejected", metadata: ["target": "\(url)", "result": "\(out.summary)"])
            }
        } catch {
            logger.warning("scrape write failed", metadata: ["target": "\(url)", "error": "\(error)"])
        }
        return current
    }

    /// Adds target labels; a scraped label of the same name is kept as `exported_<name>` (or wins with honor_labels).
    func applyTargetLabels(_ scraped: Labels) -> Labels {
        var l = scraped
        for t in target.labels {
            if let existing = l[t.name] {
                if config.honorLabels { continue }
                l.set("exported_" + t.name, existing)
            }
            l.set(t.name, t.value)
        }
        return l
    }
}

/// Runs one `ScrapeLoop` per target and changes the set on a config reload: targets removed or changed stop (their
/// series get stale markers), new ones start, unchanged ones keep running undisturbed.
public final class ScrapeManager: Sendable {
    private struct Running {
        var config: ScrapeConfig
        var target: ScrapeTarget
        var task: Task<Void, Never>
    }
    private struct State {
        var wanted: [ScrapeConfig]
        var running: [String: Running] = [:]
        var started = false
        var stopped = false
    }
    private let state: Mutex<State>
    private let make: @Sendable (ScrapeConfig, ScrapeTarget) -> ScrapeLoop

    public init(ingestor: Ingestor, decoders: IngestDecoders, logger: Logger, clock: any VigilClock,
                configs: [ScrapeConfig]) {
        make = { ScrapeLoop(config: $0, target: $1, ingestor: ingestor, decoders: decoders, logger: logger, clock: clock) }
        state = Mutex(State(wanted: configs))
    }

    /// The targets running now, as `job/address`.
    public var runningTargets: [String] {
        state.withLock { $0.running.values.map { "\($0.config.jobName)/\($0.target.address)" }.sorted() }
    }

    /// Makes the running loops match `configs`; returns how many loops were started and stopped.
    @discardableResult
    public func apply(_ configs: [ScrapeConfig]) -> (started: Int, stopped: Int) {
        state.withLock { st in
            st.wanted = configs
            guard st.started, !st.stopped else { return (0, 0) }
            return Self.sync(&st, make)
        }
    }

    private static func sync(_ st: inout State, _ make: @Sendable (ScrapeConfig, ScrapeTarget) -> ScrapeLoop) -> (started: Int, stopped: Int) {
        var want: [String: (ScrapeConfig, ScrapeTarget)] = [:]
        for c in st.wanted {
            var bare = c
            bare.targets = []
            for t in c.targets { want["\(c.jobName)\u{0}\(t.address)"] = (bare, t) }
        }
        var stopped = 0, started = 0
        for (k, r) in st.running where want[k].map({ $0.0 != r.config || $0.1 != r.target }) ?? true {
            r.task.cancel()
            st.running[k] = nil
            stopped += 1
        }
        for (k, (c, t)) in want.sorted(by: { $0.key < $1.key }) where st.running[k] == nil {
            let loop = make(c, t)
            st.running[k] = Running(config: c, target: t, task: Task { await loop.run() })
            started += 1
        }
        return (started, stopped)
    }

    /// Starts the loops, runs until cancelled, then stops them all and waits for their stale markers.
    public func run() async {
        state.withLock { st in
            st.started = true
            _ = Self.sync(&st, make)
        }
        let (forever, keep) = AsyncStream<Void>.makeStream()
        for await _ in forever {}
        keep.finish()
        let tasks = state.withLock { st -> [Task<Void, Never>] in
            st.stopped = true
            defer { st.running = [:] }
            return st.running.values.map(\.task)
        }
        for t in tasks { t.cancel() }
        for t in tasks { await t.value }
    }
}
