import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import VigilTestSupport

/// The real `vigil top` binary under tmux against a real `vigil serve` (in-memory store, a free 127.0.0.1 port)
/// holding node_exporter- and libvirt-shaped series: keys go in with `tmux send-keys`, the screen comes back with
/// `tmux capture-pane -p`. Every wait is bounded; the private tmux server and the server process are killed at the end.
let tmuxPath: String? = ["/usr/bin/tmux", "/usr/local/bin/tmux", "/bin/tmux"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

@Suite(.serialized, .enabled(if: tmuxPath != nil, "tmux is not installed (make test-deps installs it)"),
       .enabled(if: vigilExecutable() != nil, "the vigil binary is not built"))
struct TmuxEndToEndTests {
    static var tmux: String? { tmuxPath }

    /// Runs a command to completion (posix_spawn + waitpid; output through a file, since the tmux server that
    /// `new-session` forks would hold a pipe open) and returns its status and output.
    @discardableResult
    static func run(_ exe: String, _ args: [String]) throws -> (Int32, String) {
        let path = NSTemporaryDirectory() + "vigil-top-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).out"
        defer { unlink(path) }
        var fa = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fa)
        defer { posix_spawn_file_actions_destroy(&fa) }
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fa, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&fa, 1, 2)
        let argv = ([exe] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, exe, &fa, nil, argv, environ)
        guard rc == 0 else { throw TmuxError(message: "cannot run \(exe): errno \(rc)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let out = FileManager.default.contents(atPath: path) ?? Data()
        return ((status >> 8) & 0xff, String(decoding: out, as: UTF8.self))
    }


    static func http(_ method: String, _ url: String, body: String? = nil) async -> Int {
        var req = URLRequest(url: URL(string: url)!)
        req.httpMethod = method
        req.timeoutInterval = 5
        if let body { req.httpBody = Data(body.utf8); req.setValue("text/plain", forHTTPHeaderField: "Content-Type") }
        return ((try? await URLSession.shared.data(for: req))?.1 as? HTTPURLResponse)?.statusCode ?? 0
    }

    /// Ten minutes of node_exporter (3 hosts) and libvirt (2 VMs on web-1) series ending now, plus model outputs.
    static func exposition(nowMillis now: Int64) -> String {
        var out: [String] = []
        let hosts: [(String, Double, Double, Double)] = [("web-1:9100", 0.35, 16e9, 6e9), ("web-2:9100", 0.72, 16e9, 2e9),
                                                         ("db-1:9100", 0.93, 64e9, 8e9)]
        for k in 0..<40 {
            let t = now - Int64(39 - k) * 15_000
            for (i, (h, busy, total, avail)) in hosts.enumerated() {
                out.append(#"node_cpu_seconds_total{job="node",instance="\#(h)",cpu="0",mode="idle"} \#((1 - busy) * 15 * Double(k)) \#(t)"#)
                out.append(#"node_cpu_seconds_total{job="node",instance="\#(h)",cpu="0",mode="user"} \#(busy * 15 * Double(k)) \#(t)"#)
                out.append(#"node_memory_MemTotal_bytes{job="node",instance="\#(h)"} \#(total) \#(t)"#)
                out.append(#"node_memory_MemAvailable_bytes{job="node",instance="\#(h)"} \#(avail) \#(t)"#)
                out.append(#"node_load1{job="node",instance="\#(h)"} \#(1 + Double(i) + sin(Double(k) / 4)) \#(t)"#)
            }
            for (d, c) in [("vm-a", 0.5), ("vm-b", 1.5)] {
                out.append(#"libvirt_domain_info_state{job="libvirt",instance="web-1",domain="\#(d)"} 1 \#(t)"#)
                out.append(#"libvirt_domain_info_cpu_time_seconds_total{job="libvirt",instance="web-1",domain="\#(d)"} \#(c * 15 * Double(k)) \#(t)"#)
            }
            out.append(#"vigil_anomaly_score{job="node",instance="web-2:9100",metric="node_load1"} \#(k > 35 ? 0.9 : 0.1) \#(t)"#)
        }
        out.append(#"vigil_forecast{job="node",instance="web-1:9100",metric="node_load1",quantile="0.5",horizon="1h"} 2.5 \#(now)"#)
        out.append(#"vigil_forecast{job="node",instance="web-1:9100",metric="node_load1",quantile="0.95",horizon="1h"} 3.5 \#(now)"#)
        out.append(#"vigil_failure_probability{job="node",instance="db-1:9100",metric="cpu",kind="saturation",horizon="1h"} 0.64 \#(now)"#)
        return out.joined(separator: "\n") + "\n"
    }

    final class Server {
        let process = Process()
        let url: String
        init(_ exe: String) throws {
            url = "http://127.0.0.1:\(freePort())"
            process.executableURL = URL(fileURLWithPath: exe)
            process.arguments = ["serve", "--data", ":memory:", "--listen", String(url.dropFirst(7))]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
        }
        func ready() async -> Bool {
            for _ in 0..<100 {
                if await TmuxEndToEndTests.http("GET", url + "/-/ready") == 200 { return true }
                try? await Task.sleep(nanoseconds: 100_000_000)
            }
            return false
        }
        deinit { if process.isRunning { process.terminate(); process.waitUntilExit() } }
    }

    /// A private tmux server (its own socket name) with one 120x40 session running sh.
    final class Tmux {
        let socket = "vigil-top-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let exe: String
        init(_ exe: String) throws {
            self.exe = exe
            let (rc, out) = try TmuxEndToEndTests.run(exe, ["-L", socket, "-f", "/dev/null", "new-session", "-d", "-x", "120",
                                                            "-y", "40", "-s", "t", "env", "PS1=$ ", "TERM=tmux-256color", "sh"])
            if rc != 0 { throw TmuxError(message: "tmux new-session failed: \(out)") }
            serverPID = Int32((try? TmuxEndToEndTests.run(exe, ["-L", socket, "display-message", "-p", "#{pid}"]).1)?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        }
        var serverPID: Int32 = 0
        func keys(_ k: String...) throws { try TmuxEndToEndTests.run(exe, ["-L", socket, "send-keys", "-t", "t"] + k) }
        func literal(_ text: String) throws { try TmuxEndToEndTests.run(exe, ["-L", socket, "send-keys", "-t", "t", "-l", text]) }
        func screen() -> String { (try? TmuxEndToEndTests.run(exe, ["-L", socket, "capture-pane", "-p", "-t", "t"]).1) ?? "" }
        /// Waits (at most `seconds`) until the screen satisfies `ok`; returns the last screen.
        func wait(_ seconds: Double = 15, _ ok: (String) -> Bool) async -> (Bool, String) {
            let deadline = Date().addingTimeInterval(seconds)
            var s = screen()
            while !ok(s) && Date() < deadline {
                try? await Task.sleep(nanoseconds: 100_000_000)
                s = screen()
            }
            return (ok(s), s)
        }
        /// Kills this test's tmux server (and only it: by its own socket, then by its pid).
        func stop() {
            _ = try? TmuxEndToEndTests.run(exe, ["-L", socket, "kill-server"])
            if serverPID > 0 { kill(serverPID, SIGKILL); serverPID = 0 }
        }
        deinit { stop() }
    }

    struct TmuxError: Error { let message: String }

    @Test(.timeLimit(.minutes(2)))
    func viewsKeysAndQuit() async throws {
        let vigil = try #require(vigilExecutable())
        let server = try Server(vigil)
        #expect(await server.ready(), "vigil serve did not become ready")
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(await Self.http("POST", server.url + "/api/v1/import/prometheus", body: Self.exposition(nowMillis: now)) == 204)

        let tmux = try Tmux(try #require(Self.tmux))
        defer { tmux.stop() }
        try tmux.literal("\(vigil) top --url \(server.url) --refresh 1s")
        try tmux.keys("Enter")

        // Overview: the three hosts, db-1 first (highest risk), its CPU at 93%, web-1 with its 2 VMs.
        var (ok, s) = await tmux.wait { $0.contains("db-1") && $0.contains("web-1") && $0.contains("web-2") && $0.contains("HOST (3)") }
        #expect(ok, "overview never showed the hosts:\n\(s)")
        let lines = s.split(separator: "\n").map(String.init)
        let db = lines.first { $0.hasPrefix(" db-1") } ?? ""
        #expect(db.contains("93%") && db.contains("64% sat"), "db-1 row: \(db)")
        #expect(lines.firstIndex { $0.hasPrefix(" db-1") } ?? 99 < lines.firstIndex { $0.hasPrefix(" web-1") } ?? 0)
        #expect(lines.first { $0.hasPrefix(" web-1") }?.hasSuffix("2") == true || (lines.first { $0.hasPrefix(" web-1") } ?? "").contains(" 2"))
        #expect(s.contains("no remediation engine runs on this server"))

        // Tab: the Series view, with the default set and node_load1's forecast.
        try tmux.keys("Tab")
        (ok, s) = await tmux.wait { $0.contains("SERIES (") && $0.contains("node_load1{instance=\"web-1:9100\"") }
        #expect(ok, "Tab did not switch to the Series view:\n\(s)")
        #expect(s.contains("vm_cpu_seconds_rate{domain=\"vm-a\""))

        // "/" filters by text: only web-2's rows remain.
        try tmux.keys("/")
        try tmux.literal("web-2")
        try tmux.keys("Enter")
        (ok, s) = await tmux.wait { $0.contains("filter: web-2") && !$0.contains("db-1:9100") }
        #expect(ok, "the text filter did not apply:\n\(s)")
        #expect(s.contains("node_load1{instance=\"web-2:9100\""))

        // "/" with a selector asks the server for those series.
        try tmux.keys("/")
        for _ in 0..<5 { try tmux.keys("BSpace") }
        try tmux.literal(#"node_load1{instance="db-1:9100"}"#)
        try tmux.keys("Enter")
        (ok, s) = await tmux.wait { $0.contains("SERIES (1)") && $0.contains("query: node_load1{instance=\"db-1:9100\"}") }
        #expect(ok, "the selector filter did not apply:\n\(s)")

        // Tab on to Anomalies (filter cleared first): web-2's node_load1 ranks first.
        try tmux.keys("Escape")
        try tmux.keys("Tab")
        try tmux.keys("Tab")
        (ok, s) = await tmux.wait { $0.contains("TARGET (1)") && $0.contains("node_load1") }
        #expect(ok, "the Anomalies view did not show web-2:\n\(s)")

        // q quits, the terminal is restored and the shell answers.
        try tmux.keys("q")
        (ok, s) = await tmux.wait(5) { !$0.contains("vigil top  1 Overview") }
        #expect(ok, "q did not quit:\n\(s)")
        try tmux.literal("echo ok-$((40+2))")
        try tmux.keys("Enter")
        (ok, s) = await tmux.wait(5) { $0.split(separator: "\n").contains { $0.trimmingCharacters(in: .whitespaces) == "ok-42" } }
        #expect(ok, "the shell was not usable after q:\n\(s)")
    }

    @Test(.timeLimit(.minutes(1)))
    func unreachableServerIsSaidAndRetried() async throws {
        let vigil = try #require(vigilExecutable())
        let url = "http://127.0.0.1:\(freePort())"
        let tmux = try Tmux(try #require(Self.tmux))
        defer { tmux.stop() }
        try tmux.literal("\(vigil) top --url \(url) --refresh 200ms")
        try tmux.keys("Enter")
        let (ok, s) = await tmux.wait { $0.contains("server unreachable: connection refused (\(url)), retrying in") }
        #expect(ok, "no unreachable message:\n\(s)")
        // Keys still work while it retries: the help opens at once.
        try tmux.keys("?")
        let (help, s2) = await tmux.wait(5) { $0.contains("KEYS") && $0.contains("pause / resume refreshing") }
        #expect(help, "help did not open while retrying:\n\(s2)")
        try tmux.keys("q")
        let (quit, s3) = await tmux.wait(5) { !$0.contains("server unreachable") }
        #expect(quit, "q did not quit:\n\(s3)")
    }

    /// One refresh asks only for what its view shows (so the Series view does not also pay for the Overview's
    /// host aggregates): the request count `--once` reports, per view, against a real server with data and no
    /// engine (the actions API answers 404, so the Actions view does not ask for pending approvals).
    @Test func aRefreshAsksOnlyForItsView() async throws {
        let vigil = try #require(vigilExecutable())
        let server = try Server(vigil)
        #expect(await server.ready(), "vigil serve did not become ready")
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(await Self.http("POST", server.url + "/api/v1/import/prometheus", body: Self.exposition(nowMillis: now)) == 204)
        // overview: hosts (+ time), groups, actions; series: time, forecast names, the range, forecasts, scores;
        // actions: time, actions (404); anomalies: time, the ranking
        for (view, want, shows) in [("overview", 3, "db-1"), ("series", 5, "node_load1"), ("actions", 2, "no remediation engine"),
                                    ("anomalies", 2, "node_load1")] {
            let r = try await runProcess(vigil, ["top", "--once", "--url", server.url, "--view", view, "--width", "160", "--height", "40"],
                                         timeout: 60)
            #expect(r.status == 0, "\(view): \(r.err)")
            #expect(r.err.contains("vigil top: \(want) requests,"), "\(view): \(r.err)")
            #expect(r.out.contains(shows), "\(view):\n\(r.out)")
        }
    }

    @Test func onceExitsNonZeroWhenUnreachable() throws {
        let vigil = try #require(vigilExecutable())
        let url = "http://127.0.0.1:\(freePort())"
        let (rc, out) = try Self.run(vigil, ["top", "--once", "--url", url, "--width", "100", "--height", "10"])
        #expect(rc == 1)
        #expect(out.contains("server unreachable: connection refused (\(url))"))
    }
}
