import CLibvirt
import Foundation
import VigilCore
import VigilEngine

/// One libvirt host: its connection URI, one long-lived connection, and the dedicated thread every libvirt call on
/// that connection runs on (libvirt's calls block; a remote daemon may take seconds, or hang). One thread per host,
/// so a slow host delays only its own calls.
///
/// The connection is opened on first use and kept: libvirt's `test:///file.xml` driver keeps its state per
/// connection, and a real daemon's connection is worth keeping anyway. A call that fails on a connection that is no
/// longer alive closes it; the next call reopens it. A call that passes `callTimeout` returns a `timeout` error at
/// once; until that call has in fact returned, further calls to the host fail fast (`unavailable`) instead of
/// queueing behind it.
final class LibvirtHost: @unchecked Sendable {
    let id: String
    let uri: String
    private let thread: DedicatedThread
    private let lock = NSLock()
    /// Touched only on `thread` (the lock keeps it honest for `isOpen`/`drop`).
    private var ptr: OpaquePointer?
    /// A call that timed out is still running on the thread.
    private var stuckSince: Int64?
    /// The lifecycle-event registration on the open connection (-1: none).
    private var eventCallback: Int32 = -1
    /// Signalled on every domain lifecycle event of this host (started, stopped, crashed, …).
    private let changes: ChangeSignal?

    /// libvirt's one-time global setup, silencing of its stderr error printer (errors are returned as typed
    /// `DriverError`s carrying libvirt's message), and libvirt's default event loop on a thread of its own (domain
    /// lifecycle events, and keepalive on remote connections, need it; it must exist before a connection opens).
    private static let initialized: Bool = {
        vigil_libvirt_silence_errors()
        guard virInitialize() == 0 else { return false }
        if virEventRegisterDefaultImpl() == 0 {
            let t = Thread {
                Thread.current.name = "vigil-libvirt-events"
                while true {
                    if virEventRunDefaultImpl() < 0 { usleep(100_000) }
                }
            }
            t.start()
        }
        return true
    }()

    init(id: String, uri: String, changes: ChangeSignal? = nil) {
        self.id = id
        self.uri = uri
        self.changes = changes
        thread = DedicatedThread(name: "vigil-libvirt-\(id)")
    }

    /// Registers for the connection's domain lifecycle events (best effort: without them changes are seen at the
    /// next listing).
    private func registerEvents(_ conn: OpaquePointer) {
        guard let changes else { return }
        let cb: @convention(c) (OpaquePointer?, OpaquePointer?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32 = { _, _, _, _, opaque in
            if let opaque { Unmanaged<ChangeSignal>.fromOpaque(opaque).takeUnretainedValue().signal() }
            return 0
        }
        let release: @convention(c) (UnsafeMutableRawPointer?) -> Void = { opaque in
            if let opaque { Unmanaged<ChangeSignal>.fromOpaque(opaque).release() }
        }
        let opaque = Unmanaged.passRetained(changes).toOpaque()
        let id = virConnectDomainEventRegisterAny(conn, nil, Int32(VIR_DOMAIN_EVENT_ID_LIFECYCLE.rawValue),
                                                  unsafeBitCast(cb, to: virConnectDomainEventGenericCallback.self), opaque, release)
        if id < 0 { Unmanaged<ChangeSignal>.fromOpaque(opaque).release() }
        lock.withLock { eventCallback = id }
    }

    /// Closes `conn` (its event registration first).
    private func closeConnection(_ conn: OpaquePointer) {
        let cb: Int32 = lock.withLock { defer { eventCallback = -1 }; return eventCallback }
        if cb >= 0 { _ = virConnectDomainEventDeregisterAny(conn, cb) }
        virConnectClose(conn)
    }

    var isOpen: Bool { lock.withLock { ptr != nil } }

    /// Runs `body` with the open connection on the host's thread, bounded by `timeoutMs` of `clock`.
    func call<T: Sendable>(_ what: String, timeoutMs: Int64, clock: any VigilClock,
                           _ body: @escaping @Sendable (OpaquePointer) -> Result<T, DriverError>) async throws(DriverError) -> T {
        if let since = lock.withLock({ stuckSince }) {
            throw .unavailable("host \(id) (\(uri)): a libvirt call has not returned for \(clock.nowMillis() - since) ms; \(what) not attempted")
        }
        let slot = Locked<CheckedContinuation<Result<T, DriverError>, Never>?>(nil)
        let finished = Locked(false)
        let start = clock.nowMillis()
        let result: Result<T, DriverError> = await withCheckedContinuation { c in
            slot.withLock { $0 = c }
            let sleeper = Task {
                do { try await clock.sleep(millis: timeoutMs) } catch { return }
                guard let c = slot.withLock({ s in defer { s = nil }; return s }) else { return }
                self.lock.withLock { if !finished.withLock({ $0 }) { self.stuckSince = start } }
                c.resume(returning: .failure(.timeout(operation: "\(what) on host \(self.id)", millis: timeoutMs)))
            }
            Task {
                let r: Result<T, DriverError> = await self.thread.run { self.withConnection(what, body) }
                self.lock.withLock {
                    finished.withLock { $0 = true }
                    self.stuckSince = nil
                }
                sleeper.cancel()
                slot.withLock { s in defer { s = nil }; return s }?.resume(returning: r)
            }
        }
        return try result.get()
    }

    /// On the host's thread: opens the connection when needed, runs `body`, closes a connection found dead.
    private func withConnection<T>(_ what: String, _ body: (OpaquePointer) -> Result<T, DriverError>) -> Result<T, DriverError> {
        _ = Self.initialized
        // Opened outside the lock: a daemon that never answers blocks virConnectOpen, and the timeout path needs the lock.
        var conn: OpaquePointer? = lock.withLock { ptr }
        if conn == nil {
            conn = virConnectOpen(uri)
            lock.withLock { ptr = conn }
            if let conn { registerEvents(conn) }
        }
        guard let conn else {
            return .failure(.unavailable("host \(id) (\(uri)): cannot connect: \(libvirtMessage())"))
        }
        let r = body(conn)
        if case .failure(let e) = r, virConnectIsAlive(conn) != 1 {
            lock.withLock {
                if ptr == conn { ptr = nil }
            }
            closeConnection(conn)
            changes?.signal()
            return .failure(.unavailable("host \(id) (\(uri)): connection lost during \(what) (\(e)); reconnecting on the next call"))
        }
        return r
    }

    /// The open connection of this host, for a call running on another host's thread that needs both ends (live
    /// migration: libvirt connections may be used from several threads). Opens it on this host's thread if needed.
    func connection(timeoutMs: Int64, clock: any VigilClock) async throws(DriverError) -> SendableConnection {
        try await call("connect", timeoutMs: timeoutMs, clock: clock) { c in .success(SendableConnection(ptr: c)) }
    }

    /// Closes the connection (on the host's thread, after queued calls).
    func close() async {
        await thread.run { [self] in
            let p: OpaquePointer? = lock.withLock { defer { ptr = nil }; return ptr }
            if let p { closeConnection(p) }
        }
    }

    /// Closes the connection and ends the thread.
    func shutdown() async {
        await close()
        thread.stop()
    }
}

/// A connection pointer handed across threads (libvirt's connections are thread-safe).
struct SendableConnection: @unchecked Sendable {
    let ptr: OpaquePointer
}

/// libvirt's last error message on this thread (libvirt keeps errors per thread).
func libvirtMessage() -> String {
    guard let m = virGetLastErrorMessage() else { return "unknown libvirt error" }
    return String(cString: m)
}

/// libvirt's last error on this thread as a typed driver error: a missing domain is `notFound`, an operation the
/// hypervisor driver lacks is `unsupported`, a transport failure is `unavailable`, anything else `rejected`.
func libvirtError(_ what: String) -> DriverError {
    let code = UInt32(bitPattern: virGetLastErrorCode())
    let text = "\(what): \(libvirtMessage())"
    switch code {
    case VIR_ERR_NO_DOMAIN.rawValue: return .notFound(text)
    case VIR_ERR_NO_SUPPORT.rawValue, VIR_ERR_ARGUMENT_UNSUPPORTED.rawValue: return .unsupported(text)
    case VIR_ERR_SYSTEM_ERROR.rawValue, VIR_ERR_RPC.rawValue, VIR_ERR_NO_CONNECT.rawValue, VIR_ERR_AUTH_FAILED.rawValue,
         VIR_ERR_OPERATION_TIMEOUT.rawValue, VIR_ERR_AGENT_UNRESPONSIVE.rawValue:
        return .unavailable(text)
    default: return .rejected(text)
    }
}
