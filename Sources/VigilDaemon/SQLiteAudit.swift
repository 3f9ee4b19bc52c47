import CSQLite3
import Foundation
import VigilCore
import VigilEngine

/// An SQLite failure of the audit store, naming the file and the statement.
public struct AuditStoreError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// One audit record as stored: the engine's record plus its row id.
public struct StoredAuditRecord: Sendable, Equatable {
    /// The audit table's row id: strictly increasing, never reused.
    public var seq: Int64
    public var record: AuditRecord
}

/// Which records `SQLiteAudit.query` returns (newest first).
public struct AuditQuery: Sendable, Equatable {
    /// Only records decided at or after this time (ms).
    public var sinceMillis: Int64? = nil
    /// Only records with a larger `seq` (polling for new records).
    public var sinceSeq: Int64? = nil
    public var group: String? = nil
    public var result: DecisionResult? = nil
    public var limit = 100
    public init() {}
}

/// The daemon's audit log: one row per decision in an SQLite table (its own file, WAL journal, `synchronous=FULL`,
/// so a record is on disk when `record` returns). It survives restarts: `executedActionIDs()` tells a new engine
/// which actions were already carried out, so none is executed twice; `counts` seeds `vigil_actions_total`.
///
/// Thread-safe (one connection behind a lock). `record` is synchronous because the engine's `AuditSink` is; a
/// decision is a few hundred bytes and there are at most a few per step.
public final class SQLiteAudit: AuditSink, @unchecked Sendable {
    public let path: String
    private let lock = NSLock()
    private var db: OpaquePointer?
    private var insert: OpaquePointer?
    private var counters: [String: Int] = [:]
    private var lastError: String?
    private let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    static let schema = """
        CREATE TABLE IF NOT EXISTS audit(
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          t INTEGER NOT NULL,
          action TEXT,
          kind TEXT NOT NULL,
          grp TEXT NOT NULL,
          instance TEXT,
          result TEXT NOT NULL,
          gate TEXT,
          from_replicas INTEGER,
          to_replicas INTEGER,
          reason TEXT NOT NULL,
          numbers TEXT NOT NULL,
          error TEXT
        );
        CREATE INDEX IF NOT EXISTS audit_t ON audit(t);
        CREATE INDEX IF NOT EXISTS audit_grp ON audit(grp, seq);
        CREATE INDEX IF NOT EXISTS audit_action ON audit(action) WHERE action IS NOT NULL;
        CREATE INDEX IF NOT EXISTS audit_result ON audit(result, action);
        """

    /// Opens (creating if needed) the audit database at `path`; its directory is created too.
    public init(path: String) throws {
        self.path = path
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if !dir.isEmpty { try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        var h: OpaquePointer?
        let rc = sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let h else {
            let msg = h.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let h { sqlite3_close_v2(h) }
            throw AuditStoreError(message: "audit \(path): \(msg)")
        }
        db = h
        sqlite3_busy_timeout(h, 10_000)
        do {
            try exec("PRAGMA journal_mode=WAL")
            try exec("PRAGMA synchronous=FULL")
            try exec(Self.schema)
            var st: OpaquePointer?
            guard sqlite3_prepare_v2(h, """
                INSERT INTO audit(t, action, kind, grp, instance, result, gate, from_replicas, to_replicas, reason, numbers, error)
                VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
                """, -1, &st, nil) == SQLITE_OK else { throw AuditStoreError(message: "audit \(path): \(errmsg)") }
            insert = st
            for row in try rows("SELECT kind, result, count(*) FROM audit GROUP BY kind, result", []) {
                counters["\(row[0] ?? "")/\(row[1] ?? "")"] = Int(row[2] ?? "0") ?? 0
            }
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    /// Closes the database (later calls fail quietly and are counted in `writeErrors`).
    public func close() {
        lock.lock(); defer { lock.unlock() }
        if let insert { sqlite3_finalize(insert) }
        insert = nil
        if let db { sqlite3_close_v2(db) }
        db = nil
    }

    private var errmsg: String { db.map { String(cString: sqlite3_errmsg($0)) } ?? "closed" }

    private func exec(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(db, sql, nil, nil, &err) == SQLITE_OK else {
            let m = err.map { String(cString: $0) } ?? errmsg
            sqlite3_free(err)
            throw AuditStoreError(message: "audit \(path): \(m) (in \(sql.prefix(60)))")
        }
    }

    /// Runs a query binding `args` (String, Int64 or nil) and returns every row's columns as text.
    private func rows(_ sql: String, _ args: [Any?]) throws -> [[String?]] {
        var st: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &st, nil) == SQLITE_OK, let st else {
            throw AuditStoreError(message: "audit \(path): \(errmsg) (in \(sql.prefix(60)))")
        }
        defer { sqlite3_finalize(st) }
        for (i, a) in args.enumerated() { bind(st, Int32(i + 1), a) }
        var out: [[String?]] = []
        let n = sqlite3_column_count(st)
        while true {
            let rc = sqlite3_step(st)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw AuditStoreError(message: "audit \(path): \(errmsg)") }
            out.append((0..<n).map { c in sqlite3_column_text(st, c).map { String(cString: $0) } })
        }
        return out
    }

    private func bind(_ st: OpaquePointer, _ i: Int32, _ v: Any?) {
        switch v {
        case let s as String: sqlite3_bind_text(st, i, s, -1, vigil_sqlite_transient())
        case let n as Int64: sqlite3_bind_int64(st, i, n)
        case let n as Int: sqlite3_bind_int64(st, i, Int64(n))
        default: sqlite3_bind_null(st, i)
        }
    }

    /// Writes failed since opening (disk full, closed): the record is lost, the engine goes on.
    public private(set) var writeErrors = 0

    public func record(_ r: AuditRecord) {
        lock.lock(); defer { lock.unlock() }
        let numbers = (try? encoder.encode(r.numbers)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        guard let st = insert else {
            writeErrors += 1
            return
        }
        sqlite3_reset(st)
        sqlite3_clear_bindings(st)
        let args: [Any?] = [r.t, r.action, r.kind.rawValue, r.group, r.instance, r.result.rawValue, r.gate,
                            r.from.map { Int64($0) }, r.to.map { Int64($0) }, r.reason, numbers, r.error]
        for (i, a) in args.enumerated() { bind(st, Int32(i + 1), a) }
        if sqlite3_step(st) != SQLITE_DONE {
            writeErrors += 1
            lastError = errmsg
            return
        }
        counters["\(r.kind.rawValue)/\(r.result.rawValue)", default: 0] += 1
    }

    /// Appends records `from..<to` made by `make` in one transaction (benchmarks only: builds a large table fast).
    package func bulkForBenchmark(from: Int, to: Int, _ make: (Int) -> AuditRecord) throws {
        try exec("BEGIN")
        for i in from..<to { record(make(i)) }
        try exec("COMMIT")
    }

    /// Per `kind/result` counts of every record ever written (for `vigil_actions_total{kind,result}`).
    public var counts: [String: Int] {
        lock.lock(); defer { lock.unlock() }
        return counters
    }

    /// The last write error's message, if any.
    public var lastWriteError: String? {
        lock.lock(); defer { lock.unlock() }
        return lastError
    }

    /// Every action id with an `executed` record: a restarted engine must not execute these again.
    public func executedActionIDs() throws -> Set<String> {
        lock.lock(); defer { lock.unlock() }
        return Set(try rows("SELECT DISTINCT action FROM audit WHERE result = 'executed' AND action IS NOT NULL", []).compactMap { $0[0] })
    }

    /// Whether any record names action `id` (to tell "no longer pending" from "never existed").
    public func knows(action id: String) throws -> Bool {
        lock.lock(); defer { lock.unlock() }
        return try !rows("SELECT 1 FROM audit WHERE action = ? LIMIT 1", [id]).isEmpty
    }

    /// Records matching `q`, newest first.
    public func query(_ q: AuditQuery) throws -> [StoredAuditRecord] {
        var conds: [String] = []
        var args: [Any?] = []
        if let s = q.sinceMillis { conds.append("t >= ?"); args.append(s) }
        if let s = q.sinceSeq { conds.append("seq > ?"); args.append(s) }
        if let g = q.group { conds.append("grp = ?"); args.append(g) }
        if let r = q.result { conds.append("result = ?"); args.append(r.rawValue) }
        let sql = "SELECT seq, t, action, kind, grp, instance, result, gate, from_replicas, to_replicas, reason, numbers, error FROM audit"
            + (conds.isEmpty ? "" : " WHERE " + conds.joined(separator: " AND ")) + " ORDER BY seq DESC LIMIT ?"
        args.append(Int64(max(0, q.limit)))
        lock.lock()
        let raw: [[String?]]
        do { raw = try rows(sql, args) } catch { lock.unlock(); throw error }
        lock.unlock()
        let dec = JSONDecoder()
        return try raw.map { c in
            guard let seq = c[0].flatMap({ Int64($0) }), let t = c[1].flatMap({ Int64($0) }),
                  let kind = c[3].flatMap(ActionKind.init(rawValue:)), let result = c[6].flatMap(DecisionResult.init(rawValue:)) else {
                throw AuditStoreError(message: "audit \(path): row \(c[0] ?? "?") does not decode (kind \(c[3] ?? "nil"), result \(c[6] ?? "nil"))")
            }
            let numbers = (try? dec.decode([String: Double].self, from: Data((c[11] ?? "{}").utf8))) ?? [:]
            return StoredAuditRecord(seq: seq, record: AuditRecord(
                t: t, action: c[2], kind: kind, group: c[4] ?? "", instance: c[5], result: result, gate: c[7],
                from: c[8].flatMap { Int($0) }, to: c[9].flatMap { Int($0) }, reason: c[10] ?? "", numbers: numbers, error: c[12]))
        }
    }

    /// A record as the actions API answers it: the engine's record JSON plus `"seq"`.
    public func json(_ r: StoredAuditRecord) -> String {
        lock.lock()
        let body = (try? encoder.encode(r.record)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        lock.unlock()
        return "{\"seq\":\(r.seq)," + body.dropFirst()
    }
}
