import CSQLite3
import Foundation

/// An SQLite failure, with the statement or file it concerns.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let message: String
    public let context: String
    public var description: String { "sqlite: \(context): \(message) (code \(code))" }
}

/// One SQLite connection. Not thread-safe by itself: every user holds the owning lock
/// (`TSDB`'s writer lock or a reader taken from `ConnectionPool`).
final class SQLiteConnection: @unchecked Sendable {
    let handle: OpaquePointer
    let path: String
    private var cache: [String: Statement] = [:]

    init(path: String, readOnly: Bool = false) throws(SQLiteError) {
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let msg = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: msg, context: "open \(path)")
        }
        handle = db
        self.path = path
        sqlite3_busy_timeout(db, 10_000)
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    var errorMessage: String { String(cString: sqlite3_errmsg(handle)) }

    func exec(_ sql: String) throws(SQLiteError) {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? errorMessage
            sqlite3_free(err)
            throw SQLiteError(code: rc, message: msg, context: "\(path): \(sql.prefix(80))")
        }
    }

    /// A cached prepared statement (reset and unbound before it is returned).
    func prepare(_ sql: String) throws(SQLiteError) -> Statement {
        if let s = cache[sql] {
            s.reset()
            return s
        }
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else {
            throw SQLiteError(code: rc, message: errorMessage, context: "\(path): prepare \(sql.prefix(80))")
        }
        let s = Statement(stmt, conn: self, sql: sql)
        cache[sql] = s
        return s
    }

    func transaction<T>(_ body: () throws -> T) throws -> T {
        try exec("BEGIN IMMEDIATE")
        do {
            let r = try body()
            try exec("COMMIT")
            return r
        } catch {
            try? exec("ROLLBACK")
            throw error
        }
    }

    func scalarInt(_ sql: String) throws(SQLiteError) -> Int64? {
        let s = try prepare(sql)
        defer { s.reset() }
        guard try s.step() else { return nil }
        return s.isNull(0) ? nil : s.int64(0)
    }
}

/// A prepared statement. Columns and parameters are 0-based / 1-based as in SQLite.
final class Statement {
    let stmt: OpaquePointer
    unowned let conn: SQLiteConnection
    let sql: String

    init(_ stmt: OpaquePointer, conn: SQLiteConnection, sql: String) {
        self.stmt = stmt
        self.conn = conn
        self.sql = sql
    }

    deinit { sqlite3_finalize(stmt) }

    func reset() {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
    }

    func bind(_ i: Int32, _ v: Int64) { sqlite3_bind_int64(stmt, i, v) }

    func bind(_ i: Int32, _ s: String) {
        sqlite3_bind_text(stmt, i, s, -1, vigil_sqlite_transient())
    }

    func bind(_ i: Int32, _ b: [UInt8]) {
        b.withUnsafeBytes { p in
            _ = sqlite3_bind_blob(stmt, i, p.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(p.count),
                                  vigil_sqlite_transient())
        }
    }

    /// Steps once: true if a row is available, false when done.
    @discardableResult
    func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(stmt)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw SQLiteError(code: rc, message: conn.errorMessage, context: "\(conn.path): \(sql.prefix(80))")
    }

    func run() throws(SQLiteError) {
        try step()
        sqlite3_reset(stmt)
    }

    func int64(_ c: Int32) -> Int64 { sqlite3_column_int64(stmt, c) }
    func isNull(_ c: Int32) -> Bool { sqlite3_column_type(stmt, c) == SQLITE_NULL }

    func text(_ c: Int32) -> String {
        guard let p = sqlite3_column_text(stmt, c) else { return "" }
        return String(cString: p)
    }

    /// The blob column as a borrowed buffer, valid until the next step/reset.
    func blob(_ c: Int32) -> UnsafeRawBufferPointer {
        let n = Int(sqlite3_column_bytes(stmt, c))
        guard n > 0, let p = sqlite3_column_blob(stmt, c) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: p, count: n)
    }
}

/// Read connections handed out one per reader; at most `keep` idle ones are kept.
final class ConnectionPool: @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [SQLiteConnection] = []
    private let path: String
    private let keep: Int

    init(path: String, keep: Int = 4) {
        self.path = path
        self.keep = keep
    }

    func with<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        let c: SQLiteConnection
        if let reused = lock.withLock({ idle.popLast() }) {
            c = reused
        } else {
            c = try SQLiteConnection(path: path)
            try c.exec("PRAGMA query_only=ON")
        }
        defer {
            lock.withLock {
                if idle.count < keep { idle.append(c) }
            }
        }
        return try body(c)
    }

    func drain() { lock.withLock { idle.removeAll() } }
}

func sqlite3Changes(_ c: SQLiteConnection) -> Int64 { Int64(sqlite3_changes(c.handle)) }
