import Foundation

/// What /proc says about one process: CPU time used so far (user + system) and resident memory.
struct ProcSample: Sendable, Equatable {
    /// utime + stime, seconds.
    var cpuSeconds: Double
    var rssBytes: Int64
}

enum ProcReader {
    static let ticksPerSecond = Double(max(1, sysconf(Int32(_SC_CLK_TCK))))
    static let pageSize = Int64(max(1, sysconf(Int32(_SC_PAGESIZE))))

    /// Reads /proc/PID/stat (fields 14 utime and 15 stime, in clock ticks; field 24 rss in pages). nil when the
    /// process is gone. The command name (field 2) may hold spaces and parentheses: fields are counted after the
    /// last ')'.
    static func sample(pid: Int32) -> ProcSample? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // after ")": field 3 (state) is index 0
        let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count > 21, let ut = Double(fields[11]), let st = Double(fields[12]), let rss = Int64(fields[21])
        else { return nil }
        return ProcSample(cpuSeconds: (ut + st) / ticksPerSecond, rssBytes: rss * pageSize)
    }
}
