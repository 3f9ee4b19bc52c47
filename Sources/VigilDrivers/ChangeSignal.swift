import Synchronization

/// The wake-up behind `ChangeNotifyingDriver.nextChange()`: `signal()` from any thread (the reaper, the health
/// loop) resumes every waiter, or, when nobody waits, is remembered so the next `wait()` returns at once.
final class ChangeSignal: Sendable {
    private struct State {
        var pending = false
        var nextID: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var cancelledEarly: Set<UInt64> = []
    }
    private let state = Mutex(State())

    func signal() {
        let ws: [CheckedContinuation<Void, Never>] = state.withLock { s in
            if s.waiters.isEmpty {
                s.pending = true
                return []
            }
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for w in ws { w.resume() }
    }

    func wait() async {
        let id: UInt64? = state.withLock { s in
            if s.pending { s.pending = false; return nil }
            s.nextID &+= 1
            return s.nextID
        }
        guard let id else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { s -> Bool in
                    if s.cancelledEarly.remove(id) != nil { return true }
                    s.waiters[id] = c
                    return false
                }
                if resumeNow { c.resume() }
            }
        } onCancel: {
            let c: CheckedContinuation<Void, Never>? = state.withLock { s in
                if let c = s.waiters.removeValue(forKey: id) { return c }
                s.cancelledEarly.insert(id)
                return nil
            }
            c?.resume()
        }
    }
}

/// A `Mutex` in a class, so closures that outlive the initialiser can share it.
final class Locked<T: Sendable>: Sendable {
    private let mutex: Mutex<T>
    init(_ value: sending T) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout sending T) throws -> sending R) rethrows -> R { try mutex.withLock(body) }
}
