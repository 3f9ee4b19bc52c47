import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Binds a TCP socket on 127.0.0.1 to `port` (0: any); returns the descriptor and the bound port, or nil.
private func bindLoopback(_ port: Int) -> (fd: Int32, port: Int)? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp in bind(fd, sp, len) == 0 && getsockname(fd, sp, &len) == 0 }
    }
    guard ok else { close(fd); return nil }
    return (fd, Int(UInt16(bigEndian: addr.sin_port)))
}

/// A free TCP port on 127.0.0.1 (bound and released; the kernel does not hand it out again at once).
public func freePort() -> Int {
    for _ in 0..<100 {
        if let b = bindLoopback(0) { close(b.fd); return b.port }
    }
    return freePortRange(count: 1)
}

/// A base port such that `count` consecutive ports on 127.0.0.1 are free right now: all are bound at once, then
/// released. Bases come from below the Linux ephemeral range (32768+), so outgoing connections of other tests
/// running in parallel cannot take them between this check and the server binding them.
public func freePortRange(count: Int) -> Int {
    for _ in 0..<500 {
        let base = Int.random(in: 20_000...(32_000 - count))
        var fds: [Int32] = []
        defer { fds.forEach { close($0) } }
        var ok = true
        for port in base..<(base + count) {
            guard let b = bindLoopback(port) else { ok = false; break }
            fds.append(b.fd)
        }
        if ok { return base }
    }
    return Int.random(in: 20_000...(32_000 - count))
}
