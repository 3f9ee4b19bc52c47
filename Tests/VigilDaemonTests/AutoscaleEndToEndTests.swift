import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import VigilTestSupport

/// Issue 12, end to end: `vigil serve --with-daemon` with the process driver runs a small real HTTP service (python3,
/// one replica per port); an open-loop load generator (also the load balancer) sends it Poisson traffic whose rate
/// rises, holds and drops, and pushes what it sees to vigil's ingestion endpoint: the requests it sent (a counter the
/// policy's `load_query` turns into demand) and the p95 latency it observed (the SLO series). Checked: the group
/// scales out before the latency series breaches the SLO, back in once the load has dropped, the replicas are real
/// processes serving on their ports, and every action is in the audit log with its reason.
///
/// All on 127.0.0.1; bounded (the generator's schedule ends by itself, every wait has a deadline); the only timing in
/// the assertions is the order of events (first scale-out vs first breach) and the SLO itself, which a replica
/// only misses when its queue builds up, i.e. when the group is short of capacity. Windows in which the machine froze
/// the generator are set aside (they measure the generator). Each run takes about 3.5 minutes.
/// `VIGIL_E2E_REPORT_DIR=DIR` writes the run's timeline (actions, per-second rate/replicas/p95) to
/// `DIR/autoscale-<strategy>.txt`; every failure message carries the same timeline.
/// python3 on PATH (the workload and the load generator are python scripts the test writes).
let python3Path: String? = {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let p = "\(dir)/python3"
        if FileManager.default.isExecutableFile(atPath: p) { return p }
    }
    return nil
}()

@Suite(.serialized,
       .enabled(if: vigilExecutable() != nil, "the vigil executable is not built next to the tests (swift build)"),
       .enabled(if: python3Path != nil, "python3 is not on PATH (it runs the workload and the load generator)"))
struct AutoscaleEndToEndTests {
    /// One replica's service time: single-threaded, so it serves 1 / 0.02 = 50 requests per second at 100 %. The
    /// service time is a sleep, so a replica's capacity does not depend on what else the (2-core, shared) machine runs.
    static let serviceSeconds = 0.02
    static let capacityPerReplica = 50.0
    /// The SLO on the p95 latency the clients see: 1 s, 50 service times. Only a queue that keeps growing (demand above
    /// the replicas' capacity) reaches it, not the scheduling noise of a loaded machine (a few hundred ms at worst).
    static let slo = 1.0
    /// A latency window in which the generator's 50 ms heartbeat overslept by more than this is not counted.
    static let maxStall = 0.25
    static let maxReplicas = 8
    /// Requests per second: a warm-up, an exponential ramp to 2.6 replicas' worth, a hold, then a drop back.
    static let warmup = (seconds: 8.0, rate: 8.0)
    static let ramp = (seconds: 40.0, to: 130.0)
    static let peakHold = 8.0
    /// The low-load tail: long enough for two of the predictive forecaster's minute updates after its scale-in (it
    /// completes a minute, and scores its forecasts, only then). The watch below may end it earlier.
    static let tailMax = 140.0

    static let webScript = """
    # One replica of the workload: a single-threaded HTTP server (one request at a time); GET / takes SERVICE
    # seconds, GET /health answers at once (after the requests queued before it).
    import http.server, sys, time
    SERVICE = float(sys.argv[2])
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"
        timeout = 2  # a client that connects and sends nothing cannot hold the one thread
        def do_GET(self):
            if self.path != "/health":
                time.sleep(SERVICE)
            body = b"ok\\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    class Server(http.server.HTTPServer):
        request_queue_size = 512
        allow_reuse_address = True
    Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
    """

    static let loadScript = """
    # Open-loop load generator and load balancer. Poisson arrivals at a rate that follows PHASES ([seconds, from, to],
    # exponential in between); each request goes round-robin to a replica that accepts TCP connections (the port
    # range is probed every 200 ms) and is retried on another replica when its connection fails (a replica being
    # stopped), at most 3 attempts. Every second: push the counters and the p95 latency of the requests completed in
    # the last 2 s to vigil (text exposition, /api/v1/import/prometheus) and print the same as one JSON line.
    # When the machine freezes this process (a 50 ms heartbeat oversleeps), the requests it could not send on time are
    # dropped, not sent in a burst afterwards, and the window's stall (web_generator_stall_seconds) is reported: its
    # latencies measure the generator, not the service.
    import asyncio, json, math, os, random, socket, sys, time, urllib.request
    cfg = json.loads(sys.argv[1])
    VIGIL, BASE, PORTS, PHASES = cfg["vigil"], cfg["port_base"], cfg["ports"], cfg["phases"]
    TIMEOUT = 10.0
    random.seed(7)
    alive = []
    sent = failed = retried = dropped = 0
    stalls = []
    done = []
    rr = 0
    def phase_at(t):
        for i, (dur, a, b) in enumerate(PHASES):
            if t < dur:
                return i, a * (b / a) ** (t / dur)
            t -= dur
        return None, None
    def listening(p):
        s = socket.socket()
        s.settimeout(0.5)
        try:
            s.connect(("127.0.0.1", p))
            return True
        except Exception:
            return False
        finally:
            s.close()
    async def scan():
        return await asyncio.to_thread(lambda: [p for p in range(BASE, BASE + PORTS) if listening(p)])
    async def probe():
        global alive
        while True:
            alive = await scan()
            await asyncio.sleep(0.2)
    async def once(port):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        try:
            w.write(b"GET / HTTP/1.0\\r\\nHost: web\\r\\n\\r\\n")
            await w.drain()
            data = await r.read()
            if not data.startswith(b"HTTP/1.0 200"):
                raise ConnectionError("answer %r" % data[:40])
        finally:
            w.close()
    async def request():
        global sent, failed, retried, rr, alive
        sent += 1
        start = time.monotonic()
        for attempt in range(3):
            ports = alive
            while not ports and time.monotonic() - start < TIMEOUT:
                await asyncio.sleep(0.05)
                ports = alive
            if not ports:
                break
            rr += 1
            port = ports[rr % len(ports)]
            try:
                await asyncio.wait_for(once(port), max(0.1, TIMEOUT - (time.monotonic() - start)))
                done.append((time.monotonic(), time.monotonic() - start))
                return
            except Exception:
                alive = [p for p in alive if p != port]
                if attempt < 2:
                    retried += 1
        failed += 1
        done.append((time.monotonic(), time.monotonic() - start))
    def p95(xs):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(math.ceil(0.95 * len(xs))) - 1)]
    def push(text):
        req = urllib.request.Request(VIGIL + "/api/v1/import/prometheus", data=text.encode(), method="POST",
                                     headers={"Content-Type": "text/plain; version=0.0.4"})
        try:
            urllib.request.urlopen(req, timeout=5).read()
            return None
        except Exception as e:
            return str(e)
    async def heartbeat():
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.05)
            stalls.append((time.monotonic(), time.monotonic() - t - 0.05))
    async def report(t0):
        global done, stalls
        parent = os.getppid()
        while True:
            await asyncio.sleep(1.0)
            if os.getppid() != parent:  # the test process is gone: stop
                os._exit(3)
            now = time.monotonic()
            done = [(c, l) for (c, l) in done if c > now - 2.0]
            stalls = [(c, x) for (c, x) in stalls if c > now - 2.0]
            stall = max([0.0] + [x for (_, x) in stalls])
            ms = int(time.time() * 1000)
            phase, rate = phase_at(now - t0)
            line = {"ms": ms, "phase": phase, "rate": round(rate or 0, 1), "sent": sent, "failed": failed,
                    "retried": retried, "dropped": dropped, "backends": len(alive), "n": len(done), "stall": round(stall, 3)}
            text = "web_requests_total %d %d\\nweb_requests_failed_total %d %d\\nweb_backends %d %d\\nweb_generator_stall_seconds %.3f %d\\n" % (
                sent, ms, failed, ms, len(alive), ms, stall, ms)
            if done:
                line["p95"] = round(p95([l for (_, l) in done]), 4)
                text += "web_request_latency_p95_seconds %.6f %d\\n" % (line["p95"], ms)
            err = await asyncio.to_thread(push, text)
            if err:
                line["push_error"] = err
            print(json.dumps(line), flush=True)
    async def main():
        global alive, dropped
        while not alive:
            alive = await scan()
            await asyncio.sleep(0.2)
        t0 = time.monotonic()
        asyncio.create_task(probe())
        asyncio.create_task(report(t0))
        asyncio.create_task(heartbeat())
        inflight = set()
        nxt = 0.0
        while True:
            phase, rate = phase_at(time.monotonic() - t0)
            if phase is None:
                break
            nxt += random.expovariate(rate)
            delay = t0 + nxt - time.monotonic()
            if delay < -0.25:  # frozen: drop what could not be sent on time
                dropped += 1
                continue
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(request())
            inflight.add(task)
            task.add_done_callback(inflight.discard)
        if inflight:
            await asyncio.wait(inflight, timeout=TIMEOUT + 1)
        print(json.dumps({"end": True, "sent": sent, "failed": failed, "retried": retried}), flush=True)
    asyncio.run(main())
    """

    static func config(strategy: String, script: String, portBase: Int) -> String {
        """
        policies:
          web:
            strategy: \(strategy)
            objective: {utilization: 0.5}
            load_query: 'sum(rate(web_requests_total[5s])) / \(Int(capacityPerReplica))'
            min_replicas: 1
            max_replicas: \(maxReplicas)
            startup: 2s
            interval: 1s
            stabilization: 10s
        driver:
          kind: process
          process:
            grace_period: 2s
            groups:
              web:
                command: [python3, \(script), "$PORT", "\(serviceSeconds)"]
                replicas: 1
                port_base: \(portBase)
                output: discard
                health: {url: "http://127.0.0.1:$PORT/health", period: 1s, timeout: 2s, failure_threshold: 5}
        """
    }

    /// One line of the generator's per-second report.
    struct Tick {
        var ms: Int64
        var phase: Int?
        var rate: Double
        var backends: Int
        var p95: Double?
        var failed: Int
        var retried: Int
    }

    struct ActionRecord {
        var t: Int64
        var kind: String
        var result: String
        var from: Int?
        var to: Int?
        var reason: String
        var action: String?
        var numbers: [String: Double]
    }

    static func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    static func ticks(_ file: URL) -> [Tick] {
        let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { l in
            guard let o = try? jsonObject(String(l)), let ms = o["ms"] as? NSNumber else { return nil }
            return Tick(ms: ms.int64Value, phase: (o["phase"] as? NSNumber)?.intValue, rate: (o["rate"] as? NSNumber)?.doubleValue ?? 0,
                        backends: (o["backends"] as? NSNumber)?.intValue ?? 0, p95: (o["p95"] as? NSNumber)?.doubleValue,
                        failed: (o["failed"] as? NSNumber)?.intValue ?? 0, retried: (o["retried"] as? NSNumber)?.intValue ?? 0)
        }
    }

    static func actions(_ base: String) async -> [ActionRecord]? {
        guard let (s, b) = try? await request("GET", base + "/api/v1/actions?group=web&limit=1000"), s == 200,
              let d = (try? jsonObject(b))?["data"] as? [[String: Any]] else { return nil }
        return d.map { r in
            ActionRecord(t: (r["t"] as? NSNumber)?.int64Value ?? 0, kind: r["kind"] as? String ?? "", result: r["result"] as? String ?? "",
                         from: (r["from"] as? NSNumber)?.intValue, to: (r["to"] as? NSNumber)?.intValue,
                         reason: r["reason"] as? String ?? "", action: r["action"] as? String,
                         numbers: (r["numbers"] as? [String: Any] ?? [:]).compactMapValues { ($0 as? NSNumber)?.doubleValue })
        }.sorted { $0.t < $1.t }
    }

    /// Raw samples of a series from vigil's store: (ms, value), oldest first.
    static func samples(_ base: String, _ selector: String) async -> [(Int64, Double)] {
        let q = "\(selector)[15m]"
        let enc = q.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? q
        guard let (s, b) = try? await request("GET", base + "/api/v1/query?query=\(enc)"), s == 200,
              let d = (try? jsonObject(b))?["data"] as? [String: Any], let r = d["result"] as? [[String: Any]],
              let vals = r.first?["values"] as? [[Any]] else { return [] }
        return vals.compactMap { v in
            guard v.count == 2, let t = (v[0] as? NSNumber)?.doubleValue, let x = Double(v[1] as? String ?? "") else { return nil }
            return (Int64((t * 1000).rounded()), x)
        }
    }

    /// True when something accepts TCP connections on 127.0.0.1:`port`.
    static func listening(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let len = socklen_t(MemoryLayout<sockaddr_in>.size)
        return withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, len) } } == 0
    }


    /// The generator as a child process, its JSON lines in `out`.
    final class Generator: @unchecked Sendable {
        let process = Process()
        let out: URL
        init(python: String, script: URL, config: String, out: URL) throws {
            self.out = out
            _ = FileManager.default.createFile(atPath: out.path, contents: nil)
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [script.path, config]
            let h = try FileHandle(forWritingTo: out)
            process.standardOutput = h
            process.standardError = h
            try process.run()
        }
        func stop() {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
    }

    @Test("predictive: the group scales out before the p95 latency breaches its SLO, back in after the drop; every action is audited with its reason",
          .timeLimit(.minutes(6)))
    func predictiveScalesOutBeforeTheSLOBreachesAndBackIn() async throws {
        try await run(strategy: "predictive")
    }

    @Test("hpa: the group scales out before the p95 latency breaches its SLO, back in after the drop; every action is audited with its reason",
          .timeLimit(.minutes(6)))
    func hpaScalesOutBeforeTheSLOBreachesAndBackIn() async throws {
        try await run(strategy: "hpa")
    }

    func run(strategy: String) async throws {
        let python = try #require(python3Path)
        let dir = try tempDir("autoscale")
        defer { try? FileManager.default.removeItem(at: dir) }
        let web = dir.appendingPathComponent("web.py"), load = dir.appendingPathComponent("load.py")
        try Self.webScript.write(to: web, atomically: true, encoding: .utf8)
        try Self.loadScript.write(to: load, atomically: true, encoding: .utf8)
        let portBase = freePortRange(count: Self.maxReplicas)
        let port = freePort()
        let base = "http://127.0.0.1:\(port)"
        let cfg = dir.appendingPathComponent("vigil.yml")
        try Self.config(strategy: strategy, script: web.path, portBase: portBase).write(to: cfg, atomically: true, encoding: .utf8)

        let vigil = try ProcessTests.Proc(["serve", "--listen", "127.0.0.1:\(port)", "--data", ":memory:", "--config", cfg.path,
                                           "--with-daemon", "--log-level", "warning",
                                           "--stop-with-parent", String(getpid())], dir: dir)
        defer { vigil.stop() }
        let up = await ProcessTests.eventually(30) { await ProcessTests.get(base + "/-/ready")?.0 == 200 && Self.listening(portBase) }
        try #require(up, "vigil serve or its first replica did not come up: \(vigil.log.suffix(3000))")

        let phases: [[Double]] = [[Self.warmup.seconds, Self.warmup.rate, Self.warmup.rate],
                                  [Self.ramp.seconds, Self.warmup.rate, Self.ramp.to],
                                  [Self.peakHold, Self.ramp.to, Self.ramp.to],
                                  [Self.tailMax, Self.warmup.rate, Self.warmup.rate]]
        let genConfig = String(decoding: try JSONSerialization.data(withJSONObject: [
            "vigil": base, "port_base": portBase, "ports": Self.maxReplicas, "phases": phases] as [String: Any]), as: UTF8.self)
        let genOut = dir.appendingPathComponent("load.jsonl")
        let gen = try Generator(python: python, script: load, config: genConfig, out: genOut)
        defer { gen.stop() }

        // Watch until the group has scaled in after the drop and no scale action followed for two minute boundaries
        // (the predictive forecaster completes a minute, and scores its older forecasts, only then), or the generator's
        // schedule runs out. A scale-out after the drop ends the watch at once (it fails below).
        var servedAtPeak: [Int: Int] = [:]
        var acts: [ActionRecord] = []
        let deadline = Self.nowMs() + Int64((Self.warmup.seconds + Self.ramp.seconds + Self.peakHold + Self.tailMax + 30) * 1000)
        while Self.nowMs() < deadline && gen.process.isRunning {
            try await Task.sleep(nanoseconds: 500_000_000)
            acts = await Self.actions(base) ?? acts
            let ticks = Self.ticks(genOut)
            let executed = acts.filter { $0.result == "executed" }
            let replicas = executed.last?.to ?? 1
            // at the peak: every replica the audit says exists serves HTTP on its port
            if servedAtPeak.isEmpty, [1, 2].contains(ticks.last?.phase), replicas >= 3, ticks.last?.backends == replicas {
                for k in 0..<replicas {
                    servedAtPeak[portBase + k] = (try? await request("GET", "http://127.0.0.1:\(portBase + k)/health"))?.0 ?? 0
                }
            }
            guard let drop = ticks.first(where: { $0.phase == 3 })?.ms else { continue }
            if executed.contains(where: { $0.kind == "scale_out" && $0.t > drop + 10_000 }) { break }  // fails below
            let scales = executed.filter { $0.kind == "scale_in" || $0.kind == "scale_out" }
            if let last = scales.last, last.t > drop, last.kind == "scale_in", Self.nowMs() > (last.t / 60_000 + 2) * 60_000 + 5_000 { break }
        }
        gen.stop()
        acts = await Self.actions(base) ?? acts
        let ticks = Self.ticks(genOut)
        let latencyAll = await Self.samples(base, "web_request_latency_p95_seconds")
        // a window in which the machine froze the generator measures the generator, not the service: set aside
        let stallAt = Dictionary(await Self.samples(base, "web_generator_stall_seconds").map { ($0.0, $0.1) }, uniquingKeysWith: max)
        let latency = latencyAll.filter { (stallAt[$0.0] ?? 0) <= Self.maxStall }
        let stalled = latencyAll.filter { (stallAt[$0.0] ?? 0) > Self.maxStall }
        let replicaSeries = await Self.samples(base, "vigil_group_replicas{group=\"web\"}")
        let loadSeries = await Self.samples(base, "vigil_group_load{group=\"web\"}")
        vigil.kill(SIGTERM)
        let exited = await ProcessTests.eventually(30) { !vigil.process.isRunning }
        #expect(exited && vigil.process.terminationStatus == 0, "vigil serve did not exit cleanly: \(vigil.log.suffix(3000))")

        // ---- the run, for the record
        let t0 = ticks.first?.ms ?? 0
        func rel(_ t: Int64) -> String { String(format: "%+.1fs", Double(t - t0) / 1000) }
        let executed = acts.filter { $0.result == "executed" }
        let rampStart = ticks.first { $0.phase == 1 }?.ms
        let drop = ticks.first { $0.phase == 3 }?.ms
        let breaches = latency.filter { $0.1 > Self.slo }
        var summary = "strategy \(strategy); load start \(t0), ramp \(rampStart.map(rel) ?? "-"), drop \(drop.map(rel) ?? "-")\n"
        summary += "actions (executed):\n" + executed.map { "  \(rel($0.t)) \($0.kind) \($0.from ?? -1)→\($0.to ?? -1): \($0.reason)" }.joined(separator: "\n")
        summary += "\nactions (held): " + acts.filter { $0.result != "executed" }.map { "\(rel($0.t)) \($0.result)/\($0.kind) \($0.from ?? -1)→\($0.to ?? -1)" }.joined(separator: "; ")
        summary += "\nticks (t rate backends p95):\n" + ticks.map {
            "  \(rel($0.ms)) \($0.rate) \($0.backends) \($0.p95.map { String(format: "%.3f", $0) } ?? "-")"
        }.joined(separator: "\n")
        summary += "\nlatency samples \(latency.count), over SLO \(Self.slo)s: \(breaches.map { "\(rel($0.0)) \($0.1)" })"
        summary += "\nset aside (generator stalled > \(Self.maxStall)s): \(stalled.map { "\(rel($0.0)) p95 \($0.1) stall \(stallAt[$0.0] ?? 0)" })"
        summary += "\nmax load \(loadSeries.map(\.1).max() ?? 0), replicas series: \(replicaSeries.count) samples, max \(replicaSeries.map(\.1).max() ?? 0)"
        summary += "\nfailed requests \(ticks.last?.failed ?? -1), retried \(ticks.last?.retried ?? -1); served at peak: \(servedAtPeak)"
        if let dir = ProcessInfo.processInfo.environment["VIGIL_E2E_REPORT_DIR"] {
            try? summary.write(toFile: "\(dir)/autoscale-\(strategy).txt", atomically: true, encoding: .utf8)
        }

        // ---- the load was real and beyond one replica
        try #require(drop != nil, "the generator never reached the drop: \(summary)")
        let maxLoad = loadSeries.map(\.1).max() ?? 0
        #expect(maxLoad > 1.5, "the demand vigil measured (load_query) never exceeded 1.5 replicas' worth: \(summary)")
        #expect(!latency.isEmpty, "no latency series in vigil's store: \(summary)")
        #expect(stalled.count * 4 <= latencyAll.count, "the machine froze the generator in \(stalled.count) of \(latencyAll.count) windows: inconclusive: \(summary)")

        // ---- scaled out, before the SLO broke
        let outs = executed.filter { $0.kind == "scale_out" }
        let firstOut = try #require(outs.first, "the group never scaled out: \(summary)")
        if let firstBreach = breaches.first {
            #expect(firstOut.t < firstBreach.0, "the p95 latency breached the SLO before the first scale-out: \(summary)")
        }
        // under load (ramp and peak) the SLO held: a breach here means the group was short of capacity
        let underLoad = latency.filter { s in rampStart.map { s.0 >= $0 } ?? false && drop.map { s.0 < $0 + 5_000 } ?? false }
        let breachedUnderLoad = underLoad.filter { $0.1 > Self.slo }.count
        #expect(Double(underLoad.count) >= 0.8 * (Self.ramp.seconds + Self.peakHold),
                "only \(underLoad.count) latency windows under load (the generator was frozen): inconclusive: \(summary)")
        #expect(breachedUnderLoad * 10 <= underLoad.count, "p95 over the SLO in \(breachedUnderLoad) of \(underLoad.count) seconds under load: \(summary)")
        let peakReplicas = outs.compactMap(\.to).max() ?? 0
        #expect(Double(peakReplicas) >= maxLoad.rounded(.up), "scaled out to \(peakReplicas), below the peak demand \(maxLoad): \(summary)")
        // the replicas are real: each answered on its port at the peak, and the balancer saw as many as the audit says
        #expect(!servedAtPeak.isEmpty && servedAtPeak.values.allSatisfy { $0 == 200 }, "replicas at the peak: \(servedAtPeak): \(summary)")
        #expect(ticks.map(\.backends).max() == peakReplicas, "the balancer saw \(ticks.map(\.backends).max() ?? 0) replicas, the audit \(peakReplicas): \(summary)")

        // ---- back in after the drop, and no scale-out once the demand was low
        let dropMs = try #require(drop)
        #expect(executed.contains { $0.kind == "scale_in" && $0.t > dropMs }, "no scale-in after the load dropped: \(summary)")
        let finalReplicas = executed.filter { $0.kind == "scale_in" || $0.kind == "scale_out" }.last?.to ?? 1
        #expect(finalReplicas < peakReplicas, "the group ended at \(finalReplicas) replicas, its peak was \(peakReplicas): \(summary)")
        let lateOuts = outs.filter { $0.t > dropMs + 10_000 }
        // Known, intermittent (1 run in 3 after the forecaster fixes): the predictive policy can still scale out once
        // after the drop while the minute that held the peak is in its horizon. Open in issue 10; the assertion stays.
        withKnownIssue("predictive policy: a late scale-out after the drop (issue 10)", isIntermittent: true) {
            #expect(lateOuts.isEmpty, "scaled out after the demand had dropped: \(lateOuts.map { "\(rel($0.t)) \($0.reason)" }): \(summary)")
        }
        #expect(ticks.last?.backends == finalReplicas, "the balancer saw \(ticks.last?.backends ?? -1) replicas at the end, the audit \(finalReplicas): \(summary)")

        // ---- every action is in the audit with its reason and numbers
        for a in executed {
            #expect(a.action?.isEmpty == false && a.reason.count > 20, "no id or reason: \(a)")
            if a.kind == "scale_in" || a.kind == "scale_out" {
                #expect(a.action?.hasPrefix("web:\(a.kind):") == true, "action id: \(a)")
                #expect(a.reason.hasPrefix("scale web \(a.from ?? -1)→\(a.to ?? -1): "), "reason: \(a.reason)")
                #expect(a.numbers["current"] != nil && a.numbers["target"] != nil, "numbers: \(a.numbers)")
            }
        }
        // the workload never failed: no replica needed a restart
        #expect(!executed.contains { $0.kind == "restart" }, "a replica was restarted: \(summary)")
        #expect(outs.allSatisfy { $0.reason.contains("utilisation") || $0.reason.contains("forecast") }, "\(summary)")

        // ---- nothing outlives vigil: every replica port is closed
        let closed = await ProcessTests.eventually(30) { (0..<Self.maxReplicas).allSatisfy { !Self.listening(portBase + $0) } }
        #expect(closed, "a replica still listens after vigil exited")
    }
}
