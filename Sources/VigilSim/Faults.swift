import VigilCore

/// The faults `vigil sim --faults SPEC` injects: a seeded random crash process and scheduled faults.
///
/// Grammar (docs/engine.md):
/// ```
/// SPEC   := FAULT (';' FAULT)*
/// FAULT  := KIND ['@' OFFSET] [':' PARAM (',' PARAM)*]
/// KIND   := crash | crashloop | leak | host-degrade | surge
/// OFFSET := a duration from the start of the run (90s, 30m, 6h, 1d, 1d12h)
/// PARAM  := KEY '=' VALUE
/// ```
/// - `crash:rate=R` (no offset): every running instance crashes at random, R per instance-day (`1/day`, `3/d`,
///   `0.5/h`, `2/min`; a bare number is per day).
/// - `crash@T[:instance=ID]`: one crash at T (no instance: a seeded pick among the running ones).
/// - `crashloop@T[:instance=ID][,count=N][,after=DUR]`: the instance crashes at T and then again `after` (30s) after
///   each time it becomes ready, N crashes in all (5).
/// - `leak@T[:instance=ID],rate=R[,limit=SIZE]`: from T the instance's memory grows at R (`10%/h` of its limit, or
///   `200MiB/h`, `1GiB/d`) from 25 % of `limit` (2GiB) until it is OOM-killed (exits); every incarnation leaks again.
/// - `host-degrade@T[:host=ID][,fail_after=DUR][,down_after=DUR][,repair_after=DUR]`: the host is degraded at T
///   (its instances keep running), unreachable `fail_after` (30m) later (its instances are `unknown`, not fenced),
///   confirmed down `down_after` (5m) after that (fenced), and up again `repair_after` after going down (never by
///   default). No host: a seeded pick among the hosts running the group's instances.
/// - `surge@T[:factor=F][,duration=DUR]`: demand × F (2) for DUR (1h).
public struct FaultPlan: Sendable, Equatable {
    /// Random crashes per running instance per day.
    public var crashesPerInstanceDay = 0.0
    public var events: [FaultEvent] = []

    public init(crashesPerInstanceDay: Double = 0, events: [FaultEvent] = []) {
        self.crashesPerInstanceDay = crashesPerInstanceDay
        self.events = events
    }

    public var isEmpty: Bool { crashesPerInstanceDay == 0 && events.isEmpty }

    /// Demand multiplier at `offsetMs` from the run's start (surges multiply).
    public func demandFactor(atOffset offsetMs: Int64) -> Double {
        var f = 1.0
        for e in events {
            if case .surge(let factor, let d) = e.kind, offsetMs >= e.atMs, offsetMs < e.atMs + d { f *= factor }
        }
        return f
    }
}

/// One scheduled fault; `atMs` is the offset from the run's start.
public struct FaultEvent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case crash(instance: String?)
        case crashLoop(instance: String?, count: Int, afterMs: Int64)
        /// `perMs`: fraction of the memory limit gained per ms.
        case leak(instance: String?, perMs: Double)
        case hostDegrade(host: String?, failAfterMs: Int64, downAfterMs: Int64, repairAfterMs: Int64?)
        case surge(factor: Double, durationMs: Int64)
    }
    public var atMs: Int64
    public var kind: Kind
}

/// A `--faults` error; the message names the token at fault.
public struct FaultSpecError: Error, Sendable, CustomStringConvertible, Equatable {
    public let token: String
    public let message: String
    public var description: String { "--faults: \"\(token)\": \(message)" }
}

extension FaultPlan {
    static let kinds = ["crash", "crashloop", "leak", "host-degrade", "surge"]
    static let allowed: [String: Set<String>] = [
        "crash": ["instance", "rate"], "crashloop": ["instance", "count", "after"], "leak": ["instance", "rate", "limit"],
        "host-degrade": ["host", "fail_after", "down_after", "repair_after"], "surge": ["factor", "duration"],
    ]

    /// Parses a `--faults` SPEC (see the type's grammar).
    public static func parse(_ spec: String) throws(FaultSpecError) -> FaultPlan {
        var plan = FaultPlan()
        let faults = spec.split(separator: ";", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        for f in faults {
            if f.isEmpty {
                if faults.count == 1 { throw FaultSpecError(token: spec, message: "empty fault list") }
                continue
            }
            var head = Substring(f)
            var paramText: Substring?
            if let c = f.firstIndex(of: ":") {
                head = f[..<c]
                paramText = f[f.index(after: c)...]
            }
            var kind = String(head)
            var at: Int64?
            if let a = head.firstIndex(of: "@") {
                kind = String(head[..<a])
                let off = String(head[head.index(after: a)...])
                do { at = try DurationParser.milliseconds(off) } catch {
                    throw FaultSpecError(token: off, message: "offset is not a duration (e.g. 90s, 30m, 6h, 1d)")
                }
            }
            guard let keys = allowed[kind] else {
                throw FaultSpecError(token: kind, message: "unknown fault (\(kinds.joined(separator: ", ")))")
            }
            var params: [String: String] = [:]
            if let pt = paramText {
                for p in pt.split(separator: ",", omittingEmptySubsequences: false) {
                    let kv = p.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    guard kv.count == 2, !kv[0].isEmpty, !kv[1].isEmpty else {
                        throw FaultSpecError(token: String(p), message: "expected KEY=VALUE")
                    }
                    guard keys.contains(kv[0]) else {
                        throw FaultSpecError(token: kv[0], message: "unknown parameter for \(kind) (\(keys.sorted().joined(separator: ", ")))")
                    }
                    guard params[kv[0]] == nil else { throw FaultSpecError(token: kv[0], message: "given twice") }
                    params[kv[0]] = kv[1]
                }
            }
            func duration(_ k: String, _ d: Int64) throws(FaultSpecError) -> Int64 {
                guard let s = params[k] else { return d }
                do { return try DurationParser.milliseconds(s) } catch {
                    throw FaultSpecError(token: "\(k)=\(s)", message: "not a duration (e.g. 30s, 5m, 1h)")
                }
            }
            func number(_ k: String, _ d: Double, _ ok: (Double) -> Bool, _ need: String) throws(FaultSpecError) -> Double {
                guard let s = params[k] else { return d }
                guard let v = Double(s), v.isFinite, ok(v) else { throw FaultSpecError(token: "\(k)=\(s)", message: "must be \(need)") }
                return v
            }
            if kind == "crash" && at == nil {
                guard let r = params["rate"] else {
                    throw FaultSpecError(token: f, message: "a random crash needs rate=R (e.g. crash:rate=1/day), a scheduled one @OFFSET")
                }
                guard params["instance"] == nil else {
                    throw FaultSpecError(token: "instance", message: "a random crash (rate=) picks its instances; schedule one with crash@OFFSET:instance=ID")
                }
                plan.crashesPerInstanceDay += try perDay(r)
                continue
            }
            guard let at else { throw FaultSpecError(token: f, message: "\(kind) needs @OFFSET (e.g. \(kind)@6h)") }
            if kind == "crash", params["rate"] != nil {
                throw FaultSpecError(token: "rate", message: "a scheduled crash (@OFFSET) has no rate; use crash:rate=R for random crashes")
            }
            let instance = params["instance"]
            let ev: FaultEvent.Kind
            switch kind {
            case "crash":
                ev = .crash(instance: instance)
            case "crashloop":
                let n = try number("count", 5, { $0 >= 1 && $0 == $0.rounded() && $0 <= 1_000_000 }, "a whole number ≥ 1")
                ev = .crashLoop(instance: instance, count: Int(n), afterMs: try duration("after", 30_000))
            case "leak":
                guard let r = params["rate"] else { throw FaultSpecError(token: f, message: "leak needs rate= (e.g. 10%/h or 200MiB/h)") }
                let limit = try size(params["limit"] ?? "2GiB", key: "limit")
                ev = .leak(instance: instance, perMs: try leakRate(r, limitBytes: limit))
            case "host-degrade":
                let repair: Int64? = params["repair_after"] == nil ? nil : try duration("repair_after", 0)
                ev = .hostDegrade(host: params["host"], failAfterMs: try duration("fail_after", 1_800_000),
                                  downAfterMs: try duration("down_after", 300_000), repairAfterMs: repair)
            default:  // surge
                let factor = try number("factor", 2, { $0 > 0 }, "a number > 0")
                let d = try duration("duration", 3_600_000)
                guard d > 0 else { throw FaultSpecError(token: "duration=\(params["duration"] ?? "")", message: "must be > 0") }
                ev = .surge(factor: factor, durationMs: d)
            }
            plan.events.append(FaultEvent(atMs: at, kind: ev))
        }
        plan.events.sort { $0.atMs < $1.atMs }  // stable: same-time faults keep their order
        return plan
    }

    static let perUnit: [String: Double] = ["s": 86_400, "sec": 86_400, "min": 1440, "m": 1440, "h": 24, "hour": 24,
                                            "d": 1, "day": 1, "w": 1.0 / 7, "week": 1.0 / 7]

    /// `R/UNIT` or `R` (per day) → per day.
    static func perDay(_ s: String) throws(FaultSpecError) -> Double {
        let parts = s.split(separator: "/", maxSplits: 1).map(String.init)
        guard let v = Double(parts[0]), v.isFinite, v >= 0 else {
            throw FaultSpecError(token: "rate=\(s)", message: "expected R/UNIT with R ≥ 0 (e.g. 1/day, 0.5/h)")
        }
        guard parts.count == 2 else { return v }
        guard let k = perUnit[parts[1]] else {
            throw FaultSpecError(token: parts[1], message: "unknown rate unit (s, min, h, day, week)")
        }
        return v * k
    }

    /// `2GiB`, `512MiB`, `1.5GB`, bytes.
    static func size(_ s: String, key: String) throws(FaultSpecError) -> Double {
        let units: [(String, Double)] = [("GiB", 1_073_741_824), ("MiB", 1_048_576), ("KiB", 1024), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3), ("B", 1)]
        for (u, m) in units where s.hasSuffix(u) {
            if let v = Double(s.dropLast(u.count)), v > 0, v.isFinite { return v * m }
            break
        }
        if let v = Double(s), v > 0, v.isFinite { return v }
        throw FaultSpecError(token: "\(key)=\(s)", message: "expected a size > 0 (e.g. 2GiB, 512MiB)")
    }

    /// `10%/h` (of the limit) or `SIZE/UNIT` → fraction of the limit per ms.
    static func leakRate(_ s: String, limitBytes: Double) throws(FaultSpecError) -> Double {
        let parts = s.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw FaultSpecError(token: "rate=\(s)", message: "expected AMOUNT/UNIT (e.g. 10%/h, 200MiB/h)") }
        guard let perDay = perUnit[parts[1]] else {
            throw FaultSpecError(token: parts[1], message: "unknown rate unit (s, min, h, day, week)")
        }
        let amount: Double
        if parts[0].hasSuffix("%") {
            guard let v = Double(parts[0].dropLast()), v > 0, v.isFinite else {
                throw FaultSpecError(token: "rate=\(s)", message: "percentage must be > 0")
            }
            amount = v / 100
        } else {
            amount = try size(parts[0], key: "rate") / limitBytes
        }
        return amount * perDay / 86_400_000
    }
}
