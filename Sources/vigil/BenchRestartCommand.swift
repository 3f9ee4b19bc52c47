import ArgumentParser
import Foundation
import Logging
import VigilConfig
import VigilCore
import VigilDrivers
import VigilEngine

struct BenchRestartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restart",
        abstract: "Crash-to-restart latency of the process driver + engine, beside a plain shell restart loop.",
        discussion: """
            Starts --replicas replicas of --command under the process driver with an engine stepping whenever the
            driver reports a change (the daemon's runner: `nextChange()` or the interval, whichever comes first),
            then SIGKILLs one replica every --every milliseconds, round robin, --kills times, and times each kill
            until a new process of the command runs in its place (a new pid whose /proc/PID/comm is the command's).
            The restart policy resets after 1 s up, so every kill is a first failure (restarted at once, as
            Kubernetes restarts a container's first crash); the back-off of repeated crashes is the policy's, not
            measured here. In the same run, the same kills against `sh -c 'while true; do CMD; done'` (the floor: a
            shell forking again). Reports median, p99 and max of both, and their ratio.

            Example:
              swift build -c release --product vigil && .build/release/vigil bench restart --kills 200
            """
    )

    @Option(help: "Command (argv, split on spaces) each replica runs; must not exit by itself.") var command = "sleep 100000"
    @Option(help: "Kills per side.") var kills = 200
    @Option(help: "Replicas (kills rotate over them so each one has been up ≥ 1 s).") var replicas = 10
    @Option(help: "Milliseconds between kills.") var every = 150

    func run() async throws {
        let argv = command.split(separator: " ").map(String.init)
        guard !argv.isEmpty, kills > 0, replicas > 0 else { throw ValidationError("need a command, kills > 0, replicas > 0") }
        let comm = String((argv[0].split(separator: "/").last ?? "").prefix(15))
        stderr("vigil bench restart: \(kills) kills each side, \(replicas) replicas of `\(command)`, one kill every \(every) ms")

        // 1. vigil: process driver + engine
        var log = Logger(label: "bench")
        log.logLevel = .error
        let driver = ProcessDriver(config: ProcessDriverConfig(
            groups: ["bench": .init(command: argv, replicas: replicas, output: "discard")],
            gracePeriod: ConfigDuration(milliseconds: 2000)), logger: log)
        try await driver.launch()
        var policy = GroupPolicy()
        policy.strategy = .none
        policy.minReplicas = 0
        policy.restart.resetAfter = PolicyDuration(millis: 1000)
        let runner = Task { [driver, policy] () -> Int in
            let clock = WallClock()
            let audit = JSONLinesAudit(keepInMemory: false)
            let engine = Engine(policies: ["bench": policy], driver: driver, clock: clock, audit: audit)
            var steps = 0
            while !Task.isCancelled {
                await engine.step(at: clock.nowMillis())
                steps += 1
                await withTaskGroup(of: Void.self) { g in
                    g.addTask { await driver.nextChange() }
                    g.addTask { try? await clock.sleep(millis: 15_000) }
                    await g.next()
                    g.cancelAll()
                }
            }
            return audit.counts["restart/executed"] ?? 0
        }
        try await Task.sleep(nanoseconds: 1_200_000_000)
        var vigil: [Double] = []
        for i in 0..<kills {
            let id = "bench-\(i % replicas)"
            guard let old = driver.status().first(where: { $0.instance == id })?.pid else {
                throw ValidationError("\(id) is not running: \(driver.status())")
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            kill(old, SIGKILL)
            while true {
                if let r = driver.status().first(where: { $0.instance == id }), let p = r.pid, p != old, r.state == .running,
                   Self.comm(p) == comm { break }
                if DispatchTime.now().uptimeNanoseconds - t0 > 30_000_000_000 { throw ValidationError("\(id) not restarted in 30 s") }
                try await Task.sleep(nanoseconds: 50_000)
            }
            vigil.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            try await Task.sleep(nanoseconds: UInt64(every) * 1_000_000)
        }
        runner.cancel()
        let restarts = await runner.value
        await driver.shutdown()

        // 2. the floor: a shell restart loop
        let quoted = argv.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let sh = Process()
        sh.executableURL = URL(fileURLWithPath: "/bin/sh")
        sh.arguments = ["-c", "while true; do \(quoted); done"]
        try sh.run()
        defer { sh.terminate(); kill(-sh.processIdentifier, SIGKILL) }
        let shPID = sh.processIdentifier
        func child() -> Int32? {
            guard let s = try? String(contentsOfFile: "/proc/\(shPID)/task/\(shPID)/children", encoding: .utf8) else { return nil }
            return s.split(separator: " ").compactMap { Int32($0) }.first
        }
        var floor: [Double] = []
        var waited = 0
        while child().map({ Self.comm($0) == comm }) != true && waited < 5000 { try await Task.sleep(nanoseconds: 1_000_000); waited += 1 }
        for _ in 0..<kills {
            guard let old = child() else { throw ValidationError("the shell loop has no child") }
            let t0 = DispatchTime.now().uptimeNanoseconds
            kill(old, SIGKILL)
            while true {
                if let p = child(), p != old, Self.comm(p) == comm { break }
                if DispatchTime.now().uptimeNanoseconds - t0 > 30_000_000_000 { throw ValidationError("shell loop did not restart in 30 s") }
                try await Task.sleep(nanoseconds: 50_000)
            }
            floor.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            try await Task.sleep(nanoseconds: UInt64(every) * 1_000_000)
        }
        kill(shPID, SIGKILL)
        if let c = child() { kill(c, SIGKILL) }

        func q(_ xs: [Double], _ p: Double) -> Double {
            let s = xs.sorted()
            return s[min(s.count - 1, Int((p * Double(s.count - 1)).rounded()))]
        }
        func row(_ name: String, _ xs: [Double]) -> String {
            String(format: "| %@ | %d | %.2f | %.2f | %.2f |", name, xs.count, q(xs, 0.5), q(xs, 0.99), xs.max() ?? 0)
        }
        print("| restarter | kills | median ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|---:|")
        print(row("vigil process driver + engine (nextChange)", vigil))
        print(row("shell loop `while true; do CMD; done`", floor))
        print(String(format: "vigil / shell: median %.1f×, p99 %.1f×; engine audited %d executed restarts for %d kills",
                     q(vigil, 0.5) / q(floor, 0.5), q(vigil, 0.99) / q(floor, 0.99), restarts, kills))
    }

    static func comm(_ pid: Int32) -> String? {
        (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
