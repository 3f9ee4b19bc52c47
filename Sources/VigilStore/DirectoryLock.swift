import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The data directory is in use by another process (or another open `TSDB` in this one).
public struct StoreLockedError: Error, Sendable, CustomStringConvertible {
    public let directory: String
    /// The holder's PID as written in the lock file (nil if it could not be read).
    public let holderPID: Int32?

    public var description: String {
        let who: String
        if let holderPID {
            who = holderPID == getpid() ? "this process (PID \(holderPID)) already has it open"
                : "held by PID \(holderPID)"
        } else {
            who = "held by another process"
        }
        return "data directory \(directory) is in use: \(who) (lock \(directory)/\(DirectoryLock.fileName)); "
            + "stop that process or use another --data"
    }
}

/// An exclusive `flock` on `<data>/LOCK`, which holds the owner's PID. The kernel drops it when the
/// process dies (even by SIGKILL), so a stale file never blocks a restart; the file itself is left in place.
/// `flock` locks belong to the open file description, so a second open in the same process conflicts too.
final class DirectoryLock: @unchecked Sendable {
    static let fileName = "LOCK"
    let path: String
    private var fd: Int32

    init(directory: String) throws {
        path = directory + "/" + Self.fileName
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw WALError(message: "cannot open lock file \(path): \(String(cString: strerror(errno)))")
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            let pid = Self.readPID(fd)
            Glibc.close(fd)
            fd = -1
            if e == EWOULDBLOCK { throw StoreLockedError(directory: directory, holderPID: pid) }
            throw WALError(message: "cannot lock \(path): \(String(cString: strerror(e)))")
        }
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    /// The PID in a lock file (what another process wrote).
    static func readPID(_ fd: Int32) -> Int32? {
        var buf = [UInt8](repeating: 0, count: 32)
        let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 32, 0) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buf[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Releases the lock (idempotent).
    func release() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    deinit { release() }
}
