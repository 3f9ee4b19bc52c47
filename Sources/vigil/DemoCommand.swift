import ArgumentParser
import Foundation
import VigilCore
import VigilDaemon
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `vigil demo` (what `make demo` runs): the whole loop on one machine. Starts `vigil serve --with-daemon` on a
/// fresh data directory, on an accelerated clock, with the sim driver replaying a real demand trace with scheduled
/// faults; opens `vigil top` on it (or, headless, runs a bounded number of simulated hours); then prints the run's
/// summary and stops the server.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the whole loop (observe, predict, heal) on a simulated cluster and watch it in vigil top.",
        discussion: """
            Starts `vigil serve --with-daemon --clock-speed SPEED` on DATA (created fresh; a directory an earlier \
            demo made is replaced), with the config --config (scripts/demo-vigil.yml: two service groups replaying \
            a week of NASA web traffic, a memory leak, a crash loop, a host that degrades and fails, a demand \
            surge). Interactive: opens `vigil top`; quitting it prints the run's summary and stops the server. \
            --headless: runs HOURS simulated hours, shows progress, prints the summary (--json: as JSON).

            Examples:
              vigil demo                                  # one simulated hour per real minute, in vigil top
              vigil demo --headless --hours 48            # two simulated days in about two minutes
              vigil demo --headless --hours 6 --speed 720 --seed 2 --json
            """)

    @Flag(help: "No terminal UI: run --hours simulated hours, then print the summary.")
    var headless = false

    @Option(help: "Simulated hours to run with --headless.")
    var hours = 48.0

    @Option(help: "Clock speed: simulated seconds per real second (default 60 interactive, 1440 headless).")
    var speed: Double?

    @Option(help: "Seed of the simulated cluster (demand noise, crash draws, fault targets).")
    var seed: UInt64 = 1

    @Option(help: "Data directory (created fresh; removed first only if an earlier `vigil demo` made it).")
    var data = "./demo-data"

    @Option(help: "Port of the server on 127.0.0.1.")
    var port = 9470

    @Option(help: "The demo's config (policies, sim driver, faults, online models).")
    var config = "scripts/demo-vigil.yml"

    @Option(help: "Per-VM trace for the placement run beside the live one (energy vs static placement; empty: skip).")
    var clusterTrace = "Datasets/cluster_bitbrains_dev.csv"

    @Flag(help: "Print the summary as JSON (with --headless).")
    var json = false

    static let marker = ".vigil-demo"

    func run() async throws {
        let speed = self.speed ?? (headless ? 1440 : 60)
        guard speed > 0, speed.isFinite else { throw ValidationError("--speed must be > 0") }
        guard hours > 0 else { throw ValidationError("--hours must be > 0") }
        let interactive = !headless && isatty(0) == 1 && isatty(1) == 1
        if !headless && !interactive {
            FileHandle.standardError.write(Data("vigil demo: no terminal on stdin/stdout: running headless (--headless)\n".utf8))
        }
        let fm = FileManager.default
        let dataURL = URL(fileURLWithPath: data).standardizedFileURL
        let dir = dataURL.path
        if fm.fileExists(atPath: dir) {
            let entries = (try? fm.contentsOfDirectory(atPath: dir)) ?? []
            guard entries.isEmpty || entries.contains(Self.marker) else {
                throw ValidationError("\(data) exists and was not made by `vigil demo`; choose another --data")
            }
            try fm.removeItem(atPath: dir)
        }
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        fm.createFile(atPath: dir + "/" + Self.marker, contents: Data("made by vigil demo; removed by the next run\n".utf8))

        // The config, with this run's seed and the trace made absolute (the copy lives in the data directory).
        guard let template = try? String(contentsOfFile: config, encoding: .utf8) else {
            throw ValidationError("cannot read --config \(config) (run from the repository's top directory, or pass --config)")
        }
        let configDir = URL(fileURLWithPath: config).deletingLastPathComponent().standardizedFileURL.path
        let cfgText = Self.instantiate(template, seed: seed, configDir: configDir)
        let cfgPath = dir + "/vigil.yml"
        try cfgText.write(toFile: cfgPath, atomically: true, encoding: .utf8)
        let daemonConfig = try DaemonConfig.load(file: cfgPath)

        let url = "http://127.0.0.1:\(port)"
        let me = URL(fileURLWithPath: CommandLine.arguments[0]).path
        let exe = fm.isExecutableFile(atPath: me) ? me : (Bundle.main.executablePath ?? me)
        if let u = URL(string: url + "/-/healthy"), (try? await URLSession.shared.data(from: u)) != nil {
            throw ValidationError("something already answers on \(url): stop it or choose another --port")
        }
        let log = dir + "/serve.log"
        fm.createFile(atPath: log, contents: nil)
        let serve = Process()
        serve.executableURL = URL(fileURLWithPath: exe)
        serve.arguments = ["serve", "--data", dir, "--listen", "127.0.0.1:\(port)", "--config", cfgPath, "--with-daemon",
                           "--clock-speed", String(speed), "--log-level", "notice", "--stop-with-parent", String(getpid())]
        let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        serve.standardOutput = logHandle
        serve.standardError = logHandle
        serve.standardInput = FileHandle.nullDevice
        let say = { (s: String) in FileHandle.standardOutput.write(Data((s + "\n").utf8)) }
        say("==> vigil serve --with-daemon on \(url): clock \(Self.fmt(speed))× real time (\(Self.fmt(speed / 60)) simulated minutes per real second), seed \(seed)")
        say("    data \(dir), config \(cfgPath), log \(log)")
        try serve.run()
        let stopServe = {
            if serve.isRunning {
                serve.terminate()
                serve.waitUntilExit()
            }
        }
        // Ctrl-C: stop the server too (it gets the terminal's SIGINT as well; this covers a SIGTERM to us alone).
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let sigs = [SIGINT, SIGTERM].map { s -> DispatchSourceSignal in
            let src = DispatchSource.makeSignalSource(signal: s, queue: .global())
            src.setEventHandler {
                if serve.isRunning { serve.terminate() }
                FileHandle.standardOutput.write(Data("\n==> interrupted; server stopped. Data in \(dir)\n".utf8))
                Foundation.exit(130)
            }
            src.resume()
            return src
        }
        defer { sigs.forEach { $0.cancel() } }

        guard await Self.waitReady(url: url, process: serve) else {
            stopServe()
            let tail = (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n").suffix(15).joined(separator: "\n") ?? ""
            throw ValidationError("vigil serve did not become ready on \(url) (port taken? see \(log)):\n\(tail)")
        }
        let client = RunReport.Client(base: url)
        let start = try await client.serverNow()
        say("==> ready. Faults (simulated time from now): \(Self.describeFaults(cfgText))")

        say("""
            ==> while it runs, in another terminal (each returns data at any moment; the server's clock is the simulated one):
                vigil query --url \(url) 'vigil_group_desired_replicas'                        # replicas the engine wants, per group
                vigil query --url \(url) 'sum by (group) (vigil_sim_group_demand)'             # demand now, instances' worth
                vigil query --url \(url) 'last_over_time(vigil_forecast{metric="vigil_sim_group_demand", quantile="0.95"}[30m])'   # forecasts
                vigil query --url \(url) 'vigil_sim_host_cpu_utilization'                       # host CPU (a failed host drops out)
                vigil query --url \(url) 'topk(3, last_over_time(vigil_anomaly_score[30m]))'   # most anomalous series
                curl -s '\(url)/api/v1/actions?limit=5'                                        # the audit log: every decision with its reason
            """)
        if interactive {
            say("==> opening vigil top (Tab: views, a/x: approve/reject, q: quit and print the summary)")
            try? await Task.sleep(nanoseconds: 2_500_000_000)
            // in this process (a child would run in its own process group, where it cannot read the terminal)
            signal(SIGINT, SIG_IGN)  // top reads Ctrl-C as a key; the server keeps running until top quits
            var saved = termios()
            let haveTermios = tcgetattr(0, &saved) == 0
            let top = try TopCommand.parse(["--url", url, "--refresh", "1s", "--approve"])
            try await top.run()
            if haveTermios { tcsetattr(0, TCSANOW, &saved) }  // the terminal exactly as it was before top
        } else {
            let end = start + Int64(hours * 3_600_000)
            var lastLine = ""
            while true {
                guard serve.isRunning else { throw ValidationError("vigil serve exited during the run; see \(log)") }
                let now = (try? await client.serverNow()) ?? start
                let acts = (try? await client.scalar("sum(vigil_sim_actions_total)", at: now)) ?? 0
                let crashes = (try? await client.scalar("sum(vigil_sim_crashes_total)", at: now)) ?? 0
                let replicas = (try? await client.scalar("sum(vigil_sim_group_ready)", at: now)) ?? 0
                let line = String(format: "    simulated %5.1f / %.0f h · %3.0f instances ready · %4.0f actions · %3.0f crashes",
                                  Double(now - start) / 3_600_000, hours, replicas, acts, crashes)
                if line != lastLine {
                    FileHandle.standardError.write(Data(("\r" + line).utf8))
                    lastLine = line
                }
                if now >= end { break }
                try await Task.sleep(nanoseconds: 1_000_000_000)
            }
            FileHandle.standardError.write(Data("\n".utf8))
        }

        say("==> computing the run's summary (and replaying HPA on the same demand)")
        let report: RunReport
        do {
            report = try await RunReport.compute(url: url, config: daemonConfig,
                                                 clusterTrace: clusterTrace.isEmpty ? nil : (clusterTrace, clusterTrace))
        } catch {
            stopServe()
            throw error
        }
        stopServe()
        if json && !interactive {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            say(String(decoding: try enc.encode(report), as: UTF8.self))
        } else {
            say("\n" + report.text)
        }
        say("""

            ==> stopped. Data: \(dir) (store), audit log: \(dir)/audit.db (also GET /api/v1/actions while running), \
            server log: \(log). Look again with:
                vigil serve --data \(dir) --clock-speed \(Self.fmt(speed)) &   then   vigil top
            """)
    }

    /// The template with `seed:` set and relative `trace:` paths made absolute.
    static func instantiate(_ template: String, seed: UInt64, configDir: String) -> String {
        template.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            let s = String(line)
            let trimmed = s.trimmingCharacters(in: .whitespaces)
            let indent = String(s.prefix { $0 == " " })
            if trimmed.hasPrefix("seed:") { return indent + "seed: \(seed)" }
            if trimmed.hasPrefix("trace:") {
                var v = trimmed.dropFirst("trace:".count).trimmingCharacters(in: .whitespaces)
                if let hash = v.range(of: " #") { v = String(v[..<hash.lowerBound]).trimmingCharacters(in: .whitespaces) }
                if !v.hasPrefix("/") { v = URL(fileURLWithPath: configDir).appendingPathComponent(v).standardizedFileURL.path }
                return indent + "trace: \(v)"
            }
            return s
        }.joined(separator: "\n")
    }

    static func describeFaults(_ cfg: String) -> String {
        for line in cfg.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("faults:") {
                return t.dropFirst("faults:".count).trimmingCharacters(in: CharacterSet(charactersIn: " '\""))
            }
        }
        return "none"
    }

    static func fmt(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : String(format: "%.2f", x) }

    static func waitReady(url: String, process: Process) async -> Bool {
        for _ in 0..<600 {
            guard process.isRunning else { return false }
            if let u = URL(string: url + "/-/ready"), let (_, r) = try? await URLSession.shared.data(from: u),
               (r as? HTTPURLResponse)?.statusCode == 200 {
                return true
            }
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        return false
    }
}
