import VigilCore

/// What can go wrong in a driver call. Every driver error is typed so the engine can tell a transient failure
/// (retry later, count towards the circuit breaker) from a refusal.
public enum DriverError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The call did not finish within the engine's timeout.
    case timeout(operation: String, millis: Int64)
    /// The backend is unreachable or failed; retry later.
    case unavailable(String)
    /// The named group, instance or host does not exist.
    case notFound(String)
    /// The backend refused the request (no capacity, bad state).
    case rejected(String)
    /// The driver does not implement this operation (e.g. live migration on a process driver).
    case unsupported(String)

    public var description: String {
        switch self {
        case .timeout(let op, let ms): return "\(op) timed out after \(ms) ms"
        case .unavailable(let s): return "unavailable: \(s)"
        case .notFound(let s): return "not found: \(s)"
        case .rejected(let s): return "rejected: \(s)"
        case .unsupported(let s): return "unsupported: \(s)"
        }
    }
}

/// The engine's only way to see and change the world. The simulator (`VigilSim`) is the embedded default; libvirt,
/// Kubernetes and process drivers implement the same protocol.
///
/// Every mutating call carries the engine's action id: a driver that has already executed an action id must treat
/// a repeat as a no-op (the engine may retry after a timeout whose call in fact succeeded).
public protocol Driver: Sendable {
    /// A short name for audit records and errors ("sim", "libvirt").
    var name: String { get }
    /// Hosts, instances and groups.
    func inventory() async throws(DriverError) -> Inventory
    /// Inventory plus each group's metrics, now.
    func observe() async throws(DriverError) -> Observation
    /// Sets a group's replica count (the driver starts or stops instances).
    func scale(group: String, to replicas: Int, actionID: String) async throws(DriverError)
    /// Restarts an instance in place (same host: no second copy).
    func restart(instance: String, actionID: String) async throws(DriverError)
    /// Stops (fences) an instance.
    func stop(instance: String, actionID: String) async throws(DriverError)
    /// Starts a stopped or exited instance, on `host` when given (relocation).
    func start(instance: String, on host: String?, actionID: String) async throws(DriverError)
    /// Moves an instance to another host (step 7: placement). Default: unsupported.
    func migrate(instance: String, to host: String, live: Bool, actionID: String) async throws(DriverError)
    /// Powers a host on or off (step 7: consolidation, fencing). Default: unsupported.
    func power(host: String, on: Bool, actionID: String) async throws(DriverError)
}

extension Driver {
    public func migrate(instance: String, to host: String, live: Bool, actionID: String) async throws(DriverError) {
        throw .unsupported("\(name) driver: migrate")
    }

    public func power(host: String, on: Bool, actionID: String) async throws(DriverError) {
        throw .unsupported("\(name) driver: power")
    }
}

/// Runs `body` with a deadline on `clock`; the slower of the two is cancelled. A driver that hangs costs the engine
/// `millis` of its clock's time and a `DriverError.timeout`, nothing else.
func withDriverTimeout<T: Sendable>(_ operation: String, millis: Int64, clock: any VigilClock,
                                    _ body: @escaping @Sendable () async throws(DriverError) -> T) async throws(DriverError) -> T {
    let result: Result<T, DriverError> = await withTaskGroup(of: Result<T, DriverError>?.self) { group in
        group.addTask {
            do throws(DriverError) { return .success(try await body()) } catch { return .failure(error) }
        }
        group.addTask {
            do { try await clock.sleep(millis: millis) } catch { return nil }  // cancelled: the call won
            return .failure(.timeout(operation: operation, millis: millis))
        }
        var out: Result<T, DriverError> = .failure(.timeout(operation: operation, millis: millis))
        for await r in group {
            if let r {
                out = r
                break
            }
        }
        group.cancelAll()
        return out
    }
    return try result.get()
}

/// A driver that learns of changes by itself (a child process exited, a domain stopped, a host stopped answering)
/// and wants the engine to step at once instead of at its next interval: the engine runner awaits `nextChange()`
/// alongside its interval sleep, so a crash is seen (and restarted) in milliseconds, not seconds.
public protocol ChangeNotifyingDriver: Driver {
    /// Returns once something changed since the previous call returned (at once if it already has). Cancellable:
    /// returns when the calling task is cancelled.
    func nextChange() async
}
