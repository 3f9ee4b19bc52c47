import Foundation
import Logging
import VigilCore
import VigilIngestPath
#if canImport(Glibc)
import Glibc
#endif

/// Reads /proc (and statvfs) into node_exporter's metric names, labelled `job="node"`, `instance=<hostname>`.
///
/// Covered: `node_cpu_seconds_total{cpu,mode}`, `node_memory_<Field>_bytes`, `node_load1/5/15`,
/// `node_disk_{reads,writes}_completed_total`, `node_disk_{read,written}_bytes_total`,
/// `node_disk_{read,write,io}_time_seconds_total`, `node_network_{receive,transmit}_{bytes,packets,errs,drop}_total`,
/// `node_filesystem_{avail,size,free}_bytes`, `node_boot_time_seconds`, `node_context_switches_total`.
public final class HostCollector: Sendable {
    let ingestor: Ingestor
    let logger: Logger
    let procRoot: String
    let base: Labels
    let clock: any VigilClock

    public init(ingestor: Ingestor, logger: Logger, procRoot: String = "/proc", instance: String? = nil,
                clock: any VigilClock = WallClock()) {
        self.clock = clock
        self.ingestor = ingestor
        self.logger = logger
        self.procRoot = procRoot
        let host = instance ?? ProcessInfo.processInfo.hostName
        base = Labels(["job": "node", "instance": host])
    }

    /// Collects every `interval` of the clock until cancelled (on a fixed grid from the first collection: a slow
    /// collection does not push the next ones later).
    public func run(every interval: Duration) async {
        let (s, atto) = interval.components
        let step = max(1, s * 1000 + atto / 1_000_000_000_000_000)
        var next = clock.nowMillis()
        while !Task.isCancelled {
            do { try await clock.sleep(untilMillis: next) } catch { break }
            do {
                try await ingestor.ingest(collect(at: next), source: "host")
            } catch {
                logger.warning("host collector write failed", metadata: ["error": "\(error)"])
            }
            next += step
            let now = clock.nowMillis()
            if next < now { next = now + step - (now - next) % step }
        }
    }

    /// One reading of every source; a missing or unreadable file skips its metrics.
    public func collect(at t: Int64) -> [SeriesSamples] {
        var out: [SeriesSamples] = []
        func add(_ name: String, _ extra: [(String, String)] = [], _ v: Double) {
            var l = base.setting("__name__", name)
            for (k, val) in extra { l.set(k, val) }
            out.append(SeriesSamples(labels: l, timestamps: [t], values: [v]))
        }
        let userHZ = 100.0
        if let stat = read("stat") {
            let modes = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
            for line in stat.split(separator: "\n") {
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                guard let key = f.first else { continue }
                if key.hasPrefix("cpu") && key != "cpu" {
                    let cpu = String(key.dropFirst(3))
                    for (i, m) in modes.enumerated() where i + 1 < f.count {
                        if let v = Double(f[i + 1]) { add("node_cpu_seconds_total", [("cpu", cpu), ("mode", m)], v / userHZ) }
                    }
                } else if key == "btime", f.count > 1, let v = Double(f[1]) {
                    add("node_boot_time_seconds", [], v)
                } else if key == "ctxt", f.count > 1, let v = Double(f[1]) {
                    add("node_context_switches_total", [], v)
                }
            }
        }
        if let mem = read("meminfo") {
            for line in mem.split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2 else { continue }
                let f = parts[1].split(separator: " ")
                guard let v = f.first.flatMap({ Double($0) }) else { continue }
                let name = parts[0].replacingOccurrences(of: "(", with: "_").replacingOccurrences(of: ")", with: "")
                guard Labels.isValidMetricName("node_memory_\(name)") else { continue }
                add(f.count > 1 ? "node_memory_\(name)_bytes" : "node_memory_\(name)", [], f.count > 1 ? v * 1024 : v)
            }
        }
        if let load = read("loadavg") {
            let f = load.split(separator: " ")
            for (i, n) in ["node_load1", "node_load5", "node_load15"].enumerated() where i < f.count {
                if let v = Double(f[i]) { add(n, [], v) }
            }
        }
        if let disks = read("diskstats") {
            for line in disks.split(separator: "\n") {
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                guard f.count >= 14 else { continue }
                let dev = String(f[2])
                if Self.ignoredDisk(dev) { continue }
                let n = f.map { Double($0) ?? 0 }
                add("node_disk_reads_completed_total", [("device", dev)], n[3])
                add("node_disk_read_bytes_total", [("device", dev)], n[5] * 512)
                add("node_disk_read_time_seconds_total", [("device", dev)], n[6] / 1000)
                add("node_disk_writes_completed_total", [("device", dev)], n[7])
                add("node_disk_written_bytes_total", [("device", dev)], n[9] * 512)
                add("node_disk_write_time_seconds_total", [("device", dev)], n[10] / 1000)
                add("node_disk_io_time_seconds_total", [("device", dev)], n[12] / 1000)
            }
        }
        if let net = read("net/dev") {
            let names = ["bytes", "packets", "errs", "drop"]
            for line in net.split(separator: "\n").dropFirst(2) {
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2 else { continue }
                let dev = parts[0].trimmingCharacters(in: .whitespaces)
                let f = parts[1].split(separator: " ", omittingEmptySubsequences: true).map { Double($0) ?? 0 }
                guard f.count >= 12 else { continue }
                for (i, n) in names.enumerated() {
                    add("node_network_receive_\(n)_total", [("device", dev)], f[i])
                    add("node_network_transmit_\(n)_total", [("device", dev)], f[8 + i])
                }
            }
        }
        if let mounts = read("mounts") {
            var seen = Set<String>()
            for line in mounts.split(separator: "\n") {
                let f = line.split(separator: " ")
                guard f.count >= 3 else { continue }
                let device = String(f[0]), mp = Self.unescapeMount(String(f[1])), fstype = String(f[2])
                if Self.ignoredFS.contains(fstype) || Self.ignoredMount(mp) || !seen.insert(mp).inserted { continue }
                var st = statvfs()
                guard statvfs(mp, &st) == 0 else { continue }
                let bs = Double(st.f_frsize)
                let l = [("device", device), ("fstype", fstype), ("mountpoint", mp)]
                add("node_filesystem_size_bytes", l, Double(st.f_blocks) * bs)
                add("node_filesystem_free_bytes", l, Double(st.f_bfree) * bs)
                add("node_filesystem_avail_bytes", l, Double(st.f_bavail) * bs)
                add("node_filesystem_files", l, Double(st.f_files))
                add("node_filesystem_files_free", l, Double(st.f_ffree))
            }
        }
        return out
    }

    private func read(_ name: String) -> String? {
        try? String(contentsOfFile: "\(procRoot)/\(name)", encoding: .utf8)
    }

    // node_exporter's defaults: whole disks only, real filesystems only.
    static func ignoredDisk(_ d: String) -> Bool {
        d.range(of: #"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"#, options: .regularExpression) != nil
    }

    static let ignoredFS: Set<String> = ["autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs",
        "devpts", "devtmpfs", "fusectl", "hugetlbfs", "iso9660", "mqueue", "nsfs", "overlay", "proc", "procfs",
        "pstore", "rpc_pipefs", "securityfs", "selinuxfs", "squashfs", "sysfs", "tracefs"]

    static func ignoredMount(_ m: String) -> Bool {
        m.range(of: #"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"#,
                options: .regularExpression) != nil
    }

    static func unescapeMount(_ s: String) -> String {
        s.replacingOccurrences(of: "\\040", with: " ").replacingOccurrences(of: "\\011", with: "\t")
    }
}
