import Foundation
import VigilCore

/// What an action does.
public enum ActionKind: String, Sendable, Equatable, Codable {
    case scaleOut = "scale_out"
    case scaleIn = "scale_in"
    case restart
    /// Stop an instance so a copy may start elsewhere (fencing before relocation).
    case fence
    /// Start a fenced instance on another host.
    case relocate
    /// Hand over to a human (webhook).
    case page
    /// Live-migrate an instance to another host (placement: balance or consolidation; `instance`, target in the
    /// reason and `Action.host`).
    case migrate
    /// Live-migrate an instance off a host forecast to fail.
    case evacuate
    /// Power a host on or off (placement: consolidation, growth; the host's id in `instance`).
    case powerOn = "power_on"
    case powerOff = "power_off"
    /// A predictive group's daily auto-tuning: the forecast quantile and peak utilisation adopted after replaying
    /// the group's own past (AutoTune.swift); recorded, never sent to a driver.
    case tune
}

/// One action the engine wants the driver to take. The id is deterministic (group or instance, kind, decision
/// time), so a retried or re-approved action is recognised and never executed twice.
public struct Action: Sendable, Equatable, Codable {
    public var id: String
    public var kind: ActionKind
    public var group: String
    public var instance: String?
    /// Scale actions: replicas before and after.
    public var from: Int?
    public var to: Int?
    /// Relocation target host.
    public var host: String?
    /// Page webhook.
    public var webhook: String?
    /// Decision time (ms).
    public var decidedAtMillis: Int64
    public var reason: String
    public var numbers: [String: Double]
}

/// What became of a decision.
public enum DecisionResult: String, Sendable, Equatable, Codable {
    /// The driver executed it.
    case executed
    /// Dry-run mode: recorded, not executed.
    case dryRun = "dry_run"
    /// Approve mode: waiting for `Engine.approve(_:)`.
    case queued
    /// A gate held it back (`gate` says which).
    case blocked
    /// Waiting (back-off, fencing in progress); will be retried.
    case deferred
    /// The driver failed it (`error` says how).
    case failed
    /// A queued action replaced by a newer decision for the same group.
    case superseded
    /// Executing an action id already done: nothing happened.
    case duplicate
    /// Approve mode: a human approved the queued action (it executes at the next step).
    case approved
    /// Approve mode: a human rejected the queued action (it is dropped).
    case rejected
}

/// One line of the audit log: a decision, taken or held back, with its reason in words and numbers.
public struct AuditRecord: Sendable, Equatable, Codable {
    /// Decision time, ms since the epoch.
    public var t: Int64
    public var action: String?
    public var kind: ActionKind
    public var group: String
    public var instance: String?
    public var result: DecisionResult
    /// The gate that blocked or deferred it: `bounds`, `cooldown`, `rate_limit`, `stabilization`, `maintenance`,
    /// `fencing`, `backoff`, `brake`, `kill_switch`, `circuit_breaker`.
    public var gate: String?
    public var from: Int?
    public var to: Int?
    public var reason: String
    /// forecast, quantile, current (load), target, desired, … (keys sorted in the JSON).
    public var numbers: [String: Double]
    public var error: String?

    public init(t: Int64, action: String?, kind: ActionKind, group: String, instance: String?, result: DecisionResult,
                gate: String?, from: Int?, to: Int?, reason: String, numbers: [String: Double], error: String?) {
        self.t = t
        self.action = action
        self.kind = kind
        self.group = group
        self.instance = instance
        self.result = result
        self.gate = gate
        self.from = from
        self.to = to
        self.reason = reason
        self.numbers = numbers
        self.error = error
    }
}

/// Where audit records go. The engine calls `record` in decision order from its one task.
public protocol AuditSink: AnyObject {
    func record(_ r: AuditRecord)
}

/// JSON lines (one object per record, keys sorted): byte-identical for identical decisions, so a seeded simulation
/// produces the same bytes every run.
public final class JSONLinesAudit: AuditSink {
    public private(set) var data = Data()
    public private(set) var count = 0
    /// Per (kind, result) counts, e.g. for `vigil_actions_total{kind,result}`.
    public private(set) var counts: [String: Int] = [:]
    private let encoder: JSONEncoder
    private let handle: FileHandle?
    private let keepInMemory: Bool

    /// Keeps the lines in `data`; when `handle` is given, also appends each line to it.
    public init(handle: FileHandle? = nil, keepInMemory: Bool = true) {
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        self.handle = handle
        self.keepInMemory = keepInMemory
    }

    public func record(_ r: AuditRecord) {
        count += 1
        counts["\(r.kind.rawValue)/\(r.result.rawValue)", default: 0] += 1
        guard var line = try? encoder.encode(r) else { return }
        line.append(0x0A)
        if keepInMemory { data.append(line) }
        handle?.write(line)
    }

    /// The records decoded back (tests, `vigil sim --audit`).
    public func records() -> [AuditRecord] {
        let dec = JSONDecoder()
        return data.split(separator: 0x0A).compactMap { try? dec.decode(AuditRecord.self, from: Data($0)) }
    }
}
