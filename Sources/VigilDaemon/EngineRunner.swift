import Foundation
import Logging
import VigilCore
import VigilEngine

/// Carries the engine across the actor boundary for its step; `EngineRunner`'s lock makes that safe.
final class EngineBox: @unchecked Sendable {
    let engine: VigilEngine.Engine
    init(engine: VigilEngine.Engine) { self.engine = engine }
}

/// What became of an approve or reject request.
public enum ApprovalOutcome: Sendable, Equatable {
    case approved, rejected
    /// No action with this id was ever decided.
    case notFound
    /// The action exists but is no longer waiting for approval (executed, rejected, superseded).
    case conflict
}

/// The daemon's engine loop: an actor that owns the `Engine` (single-owner: every engine call happens here, one at
/// a time). It steps on the injected clock every smallest policy interval, and at once when a
/// `ChangeNotifyingDriver` signals a change; between steps it answers approve/reject/pending and the kill switch,
/// and applies policy reloads. After every step it builds the state series (`EngineState`), keeps them for
/// `/metrics` and appends them (and the step hook's samples) to the store when given an appender.
///
/// Stopping (task cancellation, graceful shutdown) lets an in-flight step finish, then audits every action still
/// waiting for approval as abandoned (`deferred`, gate `shutdown`); a restarted daemon decides afresh.
public actor EngineRunner {
    nonisolated(unsafe) private let engine: VigilEngine.Engine
    public nonisolated let clock: any VigilClock
    public nonisolated let audit: SQLiteAudit
    private let driver: any Driver
    private let sourceDriver: MetricSourceDriver?
    private let hook: (any StepHook)?
    private let appender: (any SampleAppender)?
    private let logger: Logger
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var stateSeries: [SeriesSamples] = []
    public private(set) var steps = 0
    public private(set) var lastReport: StepReport?
    private var lastStepSeconds = 0.0
    private var appendErrors = 0
    /// Dry-run forced on every group (`--dry-run`), whatever the policies say (kept across reloads).
    public nonisolated let forceDryRun: Bool
    private var stepWaiters: [(Int, CheckedContinuation<Void, Never>)] = []
    private var primed = false

    /// `driver` is the backend; with `source`, the policies' queries give the groups' load and SLO values.
    /// `executed` ids come from the audit (`audit.executedActionIDs()`), so a restarted daemon never repeats one.
    public init(policies: [String: GroupPolicy], driver: any Driver, source: (any MetricSource)? = nil,
                clock: any VigilClock, audit: SQLiteAudit, options: EngineOptions = EngineOptions(),
                hook: (any StepHook)? = nil, appender: (any SampleAppender)? = nil, forceDryRun: Bool = false,
                killSwitch: Bool = false, logger: Logger = Logger(label: "vigil.daemon")) throws {
        let pol = Self.effective(policies, dryRun: forceDryRun)
        var d: any Driver = driver
        var sd: MetricSourceDriver?
        if let source {
            let w = MetricSourceDriver(inner: driver, source: source, policies: pol, clock: clock)
            sd = w
            d = w
        }
        var opts = options
        opts.placement = Self.effective(options.placement, dryRun: forceDryRun)
        let e = VigilEngine.Engine(policies: pol, driver: d, clock: clock, audit: audit, options: opts)
        e.markDone(try audit.executedActionIDs())
        e.killSwitch = killSwitch
        engine = e
        self.driver = d
        sourceDriver = sd
        self.clock = clock
        self.audit = audit
        self.hook = hook
        self.appender = appender
        self.forceDryRun = forceDryRun
        self.logger = logger
    }

    static func effective(_ p: [String: GroupPolicy], dryRun: Bool) -> [String: GroupPolicy] {
        guard dryRun else { return p }
        return p.mapValues { var q = $0; q.mode = .dryRun; return q }
    }

    /// `--dry-run` turns placement `auto`/`approve` into `dry-run` too (`off` stays off).
    static func effective(_ p: PlacementConfig?, dryRun: Bool) -> PlacementConfig? {
        guard dryRun, var q = p, q.mode != .off else { return p }
        q.mode = .dryRun
        return q
    }

    // MARK: one engine call at a time

    private func acquire() async {
        while busy { await withCheckedContinuation { waiters.append($0) } }
        busy = true
    }

    private func release() {
        busy = false
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }

    // MARK: stepping

    /// The interval the loop steps at: the smallest policy interval.
    public var interval: Int64 { engine.policies.values.map(\.interval.millis).min() ?? 15_000 }

    /// One step at the clock's now (or `t`): the hook, the engine, the state series.
    @discardableResult
    public func step(at t: Int64? = nil) async -> StepReport {
        await acquire()
        defer { release() }
        let now = t ?? clock.nowMillis()
        if let hook {
            // the hook's samples go in first, so this step's queries see them
            let extra = await hook.beforeStep(at: now)
            if let appender, !extra.isEmpty {
                do { _ = try await appender.append(extra) } catch {
                    appendErrors += 1
                    logger.warning("appending the driver's samples failed", metadata: ["error": "\(error)"])
                }
            }
        }
        if !primed {
            primed = true
            await primeForecasters(at: now)
        }
        let started = ContinuousClock.now
        let e = engine
        let report = await Self.step(EngineBox(engine: e), at: now)
        let took = ContinuousClock.now - started
        lastStepSeconds = Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18
        steps += 1
        lastReport = report
        if let err = report.observeError {
            logger.warning("engine step: driver observe failed", metadata: ["error": "\(err)"])
        }
        for m in sourceDriver?.takeErrors() ?? [] { logger.warning("policy query failed; using the driver's value", metadata: ["error": "\(m)"]) }
        stateSeries = EngineState.series(t: now, observation: e.lastObservation, policies: e.policies, status: e.status,
                                         actionCounts: audit.counts, steps: steps, lastStepSeconds: lastStepSeconds,
                                         queryErrors: sourceDriver?.queryErrors ?? 0)
        if let appender {
            do { _ = try await appender.append(stateSeries) } catch {
                appendErrors += 1
                logger.warning("appending the engine's state series failed", metadata: ["error": "\(error)"])
            }
        }
        let done = steps
        stepWaiters.removeAll { w in
            if w.0 <= done { w.1.resume(); return true }
            return false
        }
        return report
    }

    /// Before the first step: every predictive group with a `load_query` gets the last `primeSpanMs` of that query's
    /// history from the metric source, one point a minute (the store a restarted daemon writes into, or a remote
    /// Prometheus), so its forecaster does not start from nothing.
    private func primeForecasters(at now: Int64) async {
        guard let source = sourceDriver?.source else { return }
        for (g, p) in engine.policies.sorted(by: { $0.key < $1.key }) where p.strategy == .predictive {
            guard let q = p.loadQuery else { continue }
            let to = (now / 60_000) * 60_000 - 1
            do {
                let h = try await source.history(of: q, from: to - Self.primeSpanMs, to: to, stepMs: 60_000)
                let n = await Self.prime(EngineBox(engine: engine), group: g, history: h)
                if n > 0 { logger.notice("forecaster primed from history", metadata: ["group": "\(g)", "minutes": "\(n)", "source": "\(source.name)"]) }
            } catch {
                logger.warning("reading the load history to prime the forecaster failed", metadata: ["group": "\(g)", "error": "\(error)"])
            }
        }
    }

    /// How far back `primeForecasters` reads: 8 days, enough for the forecaster's weekly term.
    public static let primeSpanMs: Int64 = 8 * 86_400_000

    private nonisolated static func prime(_ box: EngineBox, group: String, history: [(Int64, Double)]) async -> Int {
        await withTaskExecutorPreference(EngineThread.shared) {
            await box.engine.prime(group: group, history: history)
        }
    }

    /// The engine's step runs outside the actor (it is `nonisolated async`); the actor's lock (`acquire`) keeps every
    /// other engine call out while it runs.
    /// It runs on `EngineThread` (the audit's fsync'd writes and BLAS fits stay off the concurrency pool).
    private nonisolated static func step(_ box: EngineBox, at t: Int64) async -> StepReport {
        await withTaskExecutorPreference(EngineThread.shared) {
            await box.engine.step(at: t)
        }
    }

    /// Suspends until at least `n` steps have run (tests, readiness).
    public func waitForSteps(_ n: Int) async {
        if steps >= n { return }
        await withCheckedContinuation { stepWaiters.append((n, $0)) }
    }

    /// Steps every `interval` of the clock (aligned to multiples of it), and at once when the driver signals a
    /// change, until the task is cancelled. An in-flight step always finishes; then waiting actions are audited as
    /// abandoned.
    public func run() async throws {
        let notifier = driver as? any ChangeNotifyingDriver ?? (sourceDriver?.inner as? any ChangeNotifyingDriver)
        logger.info("remediation engine started", metadata: ["groups": "\(engine.policies.keys.sorted().joined(separator: ","))",
                                                             "interval_ms": "\(interval)", "driver": "\(driver.name)"])
        while !Task.isCancelled {
            // an unstructured task: cancelling the loop does not cut a step short
            let now = clock.nowMillis()
            _ = await Task { await self.step(at: now) }.value
            let iv = interval
            let next = (now / iv + 1) * iv
            let clock = self.clock
            let woke: Bool = await withTaskGroup(of: Bool.self) { g in
                g.addTask {
                    do { try await clock.sleep(untilMillis: next); return true } catch { return false }
                }
                if let notifier {
                    g.addTask {
                        await notifier.nextChange()
                        return !Task.isCancelled
                    }
                }
                let first = await g.next() ?? false
                g.cancelAll()
                return first
            }
            if !woke && Task.isCancelled { break }
        }
        await shutdown()
        await hook?.stop()
    }

    /// Audits every action still waiting for approval as abandoned (`deferred`, gate `shutdown`).
    public func shutdown() async {
        await acquire()
        defer { release() }
        let t = clock.nowMillis()
        for a in engine.pendingApprovals {
            audit.record(AuditRecord(t: t, action: a.id, kind: a.kind, group: a.group, instance: a.instance, result: .deferred,
                                     gate: "shutdown", from: a.from, to: a.to,
                                     reason: "abandoned: the daemon stopped before \(a.id) was approved; it will be decided afresh",
                                     numbers: a.numbers, error: nil))
        }
        logger.info("remediation engine stopped", metadata: ["steps": "\(steps)", "abandoned": "\(engine.pendingApprovals.count)"])
    }

    // MARK: control

    /// Actions waiting for approval, oldest first.
    public func pending() async -> [Action] {
        await acquire()
        defer { release() }
        return engine.pendingApprovals
    }

    /// Approves a waiting action (it executes at the next step).
    public func approve(_ id: String) async -> ApprovalOutcome {
        await decide(id, approve: true)
    }

    /// Rejects a waiting action (recorded `rejected`, never executed).
    public func reject(_ id: String) async -> ApprovalOutcome {
        await decide(id, approve: false)
    }

    private func decide(_ id: String, approve: Bool) async -> ApprovalOutcome {
        await acquire()
        defer { release() }
        let waiting = engine.pendingApprovals.first { $0.id == id }
        if let a = waiting {
            if approve {
                guard engine.approve(id) else { return .conflict }  // approved already, executes at the next step
                audit.record(AuditRecord(t: clock.nowMillis(), action: a.id, kind: a.kind, group: a.group, instance: a.instance,
                                         result: .approved, gate: nil, from: a.from, to: a.to, reason: "approved: " + a.reason,
                                         numbers: a.numbers, error: nil))
                return .approved
            }
            return engine.reject(id) ? .rejected : .conflict
        }
        return ((try? audit.knows(action: id)) ?? false) ? .conflict : .notFound
    }

    public var killSwitch: Bool { engine.killSwitch }

    public func setKillSwitch(_ on: Bool) async {
        await acquire()
        defer { release() }
        engine.killSwitch = on
        logger.notice("kill switch \(on ? "on: every action is blocked" : "off")")
    }

    /// The current policies (as applied, i.e. with `--dry-run` forced).
    public var policies: [String: GroupPolicy] { engine.policies }

    /// Applies new policies (SIGHUP): unchanged groups keep their state; actions queued for removed groups are
    /// audited as `superseded`. The queries are checked first: a bad one keeps the running policies. With
    /// `placement`, the `placement:` section is replaced too (nil: placement off); placement actions waiting for
    /// approval are superseded unless the new mode is still `approve`.
    public func reload(policies next: [String: GroupPolicy], placement: PlacementConfig?? = .none) async throws {
        try validatePolicyQueries(next)
        await acquire()
        defer { release() }
        let eff = Self.effective(next, dryRun: forceDryRun)
        sourceDriver?.setPolicies(eff)
        let dropped = engine.updatePolicies(eff)
        let t = clock.nowMillis()
        for a in dropped {
            audit.record(AuditRecord(t: t, action: a.id, kind: a.kind, group: a.group, instance: a.instance, result: .superseded,
                                     gate: nil, from: a.from, to: a.to, reason: "superseded: group \(a.group) left the policies on reload",
                                     numbers: [:], error: nil))
        }
        if case .some(let pc) = placement {
            let pe = Self.effective(pc, dryRun: forceDryRun)
            for a in engine.updatePlacement(pe) {
                audit.record(AuditRecord(t: t, action: a.id, kind: a.kind, group: a.group, instance: a.instance, result: .superseded,
                                         gate: nil, from: a.from, to: a.to,
                                         reason: "superseded: placement mode is \(pe?.mode.rawValue ?? "off") after the reload",
                                         numbers: [:], error: nil))
            }
            logger.notice("placement reloaded", metadata: ["mode": "\(pe?.mode.rawValue ?? "off")"])
        }
        logger.notice("policies reloaded", metadata: ["groups": "\(eff.keys.sorted().joined(separator: ","))"])
    }

    /// The `placement:` section in force (as applied, i.e. with `--dry-run` forced).
    public var placement: PlacementConfig? { engine.placement }

    /// The state series of the last step, as Prometheus text (the daemon's `/metrics`).
    public func metricsText() -> String {
        var text = EngineState.exposition(stateSeries)
        text += "# HELP vigil_daemon_audit_write_errors_total Audit records that could not be written.\n# TYPE vigil_daemon_audit_write_errors_total counter\n"
        text += "vigil_daemon_audit_write_errors_total \(audit.writeErrors)\n"
        text += "# HELP vigil_daemon_kill_switch 1 while the kill switch blocks every action.\n# TYPE vigil_daemon_kill_switch gauge\n"
        text += "vigil_daemon_kill_switch \(engine.killSwitch ? 1 : 0)\n"
        text += "# HELP vigil_daemon_append_errors_total State series appends that failed.\n# TYPE vigil_daemon_append_errors_total counter\n"
        text += "vigil_daemon_append_errors_total \(appendErrors)\n"
        return text
    }

    /// The last step's state series (tests).
    public var lastStateSeries: [SeriesSamples] { stateSeries }
}
