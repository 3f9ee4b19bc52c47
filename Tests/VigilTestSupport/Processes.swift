import Foundation

/// Blocking work (waiting for a child process, reading a pipe to its end) run on a GCD thread, never on the Swift
/// concurrency pool: a test body that blocks a pool thread for a minute starves every other test in the same run
/// (the pool has one thread per core; CI machines have two), so their own bounded waits time out.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        Thread.detachNewThread { c.resume(with: Result { try body() }) }
    }
}

/// Waits for `process` to exit without blocking the concurrency pool.
public func waitForExit(_ process: Process) async {
    let p = UncheckedBox(process)
    _ = try? await offPool { p.value.waitUntilExit() }
}

/// What a child process printed and how it ended.
public struct ProcessResult: Sendable {
    public let status: Int32
    public let reason: Process.TerminationReason
    public let stdout: Data
    public let stderr: Data
    /// True when the child was terminated for running past its time limit.
    public let timedOut: Bool
    public var out: String { String(decoding: stdout, as: UTF8.self) }
    public var err: String { String(decoding: stderr, as: UTF8.self) }
}

/// Runs `executable` with `arguments` to its end, off the concurrency pool, capturing stdout and stderr; a child still
/// running after `timeout` seconds gets SIGTERM (then SIGKILL 5 s later), so a test never waits unboundedly.
public func runProcess(_ executable: String, _ arguments: [String], cwd: URL? = nil, environment: [String: String]? = nil,
                       mergeStderr: Bool = false, timeout: Double = 300) async throws -> ProcessResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if let cwd { p.currentDirectoryURL = cwd }
    if let environment { p.environment = environment }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = mergeStderr ? out : err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let box = UncheckedBox(p)
    let timedOut = TimedOutFlag()
    let killer = DispatchWorkItem {
        guard box.value.isRunning else { return }
        timedOut.set()
        box.value.terminate()
        DispatchQueue.global().asyncAfter(deadline: .now() + 5) { if box.value.isRunning { kill(box.value.processIdentifier, SIGKILL) } }
    }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
    defer { killer.cancel() }
    async let o = offPool { out.fileHandleForReading.readDataToEndOfFile() }
    async let e = offPool { mergeStderr ? Data() : err.fileHandleForReading.readDataToEndOfFile() }
    let (stdout, stderr) = try await (o, e)
    await waitForExit(p)
    return ProcessResult(status: p.terminationStatus, reason: p.terminationReason, stdout: stdout, stderr: stderr,
                         timedOut: timedOut.value)
}

/// Carries a non-Sendable reference into a closure run on another thread (the caller guarantees exclusive use).
public struct UncheckedBox<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}

private final class TimedOutFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    func set() { lock.withLock { flag = true } }
    var value: Bool { lock.withLock { flag } }
}
