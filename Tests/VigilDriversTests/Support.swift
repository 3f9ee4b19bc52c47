import Foundation
import Logging
import VigilCore
import VigilEngine
@testable import VigilDrivers

/// Polls `condition` every 10 ms until it holds or `seconds` pass (wall time; tests only).
func eventually(_ seconds: Double = 30, _ condition: () async -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if await condition() { return true }
        try? await Task.sleep(nanoseconds: 10_000_000)
    }
    return await condition()
}

/// A process is alive (exists and is not a zombie we failed to reap).
func alive(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = s.lastIndex(of: ")") else { return false }
    return !s[s.index(close, offsetBy: 2)...].hasPrefix("Z")
}


/// Log lines kept in memory (to check what dry-run says it would do).
final class CapturedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ s: String) { lock.withLock { lines.append(s) } }
    var all: [String] { lock.withLock { lines } }

    func logger(_ label: String = "test") -> Logger {
        Logger(label: label) { _ in CaptureHandler(sink: self) }
    }

    struct CaptureHandler: LogHandler {
        let sink: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String,
                 function: String, line: UInt) {
            let md = (metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            sink.append("\(message) \(md)")
        }
    }
}

/// The daemon's runner in miniature: steps the engine at every driver change and at least every `intervalMs`;
/// returns the audit when cancelled.
func runEngine(driver: any Driver, policies: [String: GroupPolicy], intervalMs: Int64, options: EngineOptions = EngineOptions(),
               steps: Locked<Int>? = nil) -> Task<[AuditRecord], Never> {
    Task {
        let clock = WallClock()
        let audit = JSONLinesAudit()
        let engine = Engine(policies: policies, driver: driver, clock: clock, audit: audit, options: options)
        while !Task.isCancelled {
            await engine.step(at: clock.nowMillis())
            steps?.withLock { $0 += 1 }
            await withTaskGroup(of: Void.self) { g in
                if let cd = driver as? any ChangeNotifyingDriver { g.addTask { await cd.nextChange() } }
                g.addTask { try? await clock.sleep(millis: intervalMs) }
                await g.next()
                g.cancelAll()
            }
        }
        return audit.records()
    }
}

func restartOnlyPolicy() -> GroupPolicy {
    var p = GroupPolicy()
    p.strategy = .none
    p.minReplicas = 0
    return p
}
