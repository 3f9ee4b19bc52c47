import CVigilSpawn
import Foundation
import Synchronization

/// Waits for this driver's children on one dedicated OS thread (never on the Swift concurrency pool): a `poll` over
/// one pidfd per child plus a wake-up pipe. When a child's pidfd turns readable the reaper kills what is left of
/// its process group, reaps exactly that pid (`waitpid(pid)`, never `waitpid(-1)`, so children that other code in
/// the process started are left alone) and calls `onExit(pid, status)` on its thread.
///
/// A child that exits before it is registered is still seen: its pidfd is readable from the start.
final class ChildReaper: Sendable {
    struct Exit: Sendable, Equatable {
        var pid: Int32
        /// The raw wait status.
        var status: Int32
        /// Exit code when it exited, nil when a signal ended it.
        var code: Int32? { (status & 0x7f) == 0 ? (status >> 8) & 0xff : nil }
        /// The signal that ended it, if any.
        var signal: Int32? { (status & 0x7f) != 0 && (status & 0x7f) != 0x7f ? status & 0x7f : nil }
        var summary: String {
            if let s = signal { return "killed by signal \(s)" }
            return "exited with code \(code ?? -1)"
        }
    }

    private struct State {
        var fds: [Int32: Int32] = [:]  // pid → pidfd
        var stopped = false
    }
    private let state = Mutex(State())
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let onExit: @Sendable (Exit) -> Void

    init(name: String, onExit: @escaping @Sendable (Exit) -> Void) {
        var p: [Int32] = [0, 0]
        _ = vigil_pipe_nonblocking(&p)
        wakeRead = p[0]
        wakeWrite = p[1]
        self.onExit = onExit
        let t = Thread { [self] in
            Thread.current.name = name
            loop()
        }
        t.start()
    }

    /// Watches `pid` (a child of this process). Throws the errno text when pidfd_open fails.
    func watch(pid: Int32) -> Int32? {
        let fd = vigil_pidfd_open(pid)
        guard fd >= 0 else { return -fd }
        state.withLock { $0.fds[pid] = fd }
        wake()
        return nil
    }

    /// Ends the thread (children still running stay un-reaped; the driver kills them first).
    func stop() {
        state.withLock { $0.stopped = true }
        wake()
    }

    private func wake() {
        var b: UInt8 = 1
        _ = Glibc.write(wakeWrite, &b, 1)
    }

    private func loop() {
        var buf = [UInt8](repeating: 0, count: 64)
        while true {
            let (watched, stopped) = state.withLock { s in (s.fds.map { ($0.key, $0.value) }, s.stopped) }
            if stopped { break }
            var pfds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            for (_, fd) in watched { pfds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            let n = poll(&pfds, nfds_t(pfds.count), -1)
            if n < 0 { continue }  // EINTR
            if pfds[0].revents != 0 { while read(wakeRead, &buf, buf.count) > 0 {} }
            for (k, (pid, fd)) in watched.enumerated() where pfds[k + 1].revents != 0 {
                // The leader is a zombie now: its pid (= the group id) cannot be reused until it is reaped, so the
                // group kill cannot hit a stranger. It ends whatever the replica forked and left behind.
                _ = kill(-pid, SIGKILL)
                var status: Int32 = 0
                let r = waitpid(pid, &status, WNOHANG)
                if r == pid || (r < 0 && errno == ECHILD) {
                    state.withLock { _ = $0.fds.removeValue(forKey: pid) }
                    close(fd)
                    onExit(Exit(pid: pid, status: r == pid ? status : 0))
                }
            }
        }
        close(wakeRead)
        close(wakeWrite)
        for (_, fd) in state.withLock({ $0.fds }) { close(fd) }
    }
}
