import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import VigilCore
import VigilEngine
@testable import VigilSim

/// A constant-demand trace: `value` for `hours` hours at 1-minute steps.
func flatTrace(_ value: Double, hours: Int) throws -> Trace {
    var rows = ""
    for m in 0...(hours * 60) { rows += "\(m * 60),\(value)\n" }
    return try Trace.parse(rows)
}

struct FaultGrammarTests {
    @Test func parsesEveryKind() throws {
        let p = try FaultPlan.parse(
            "crash:rate=1/day; crash@6h:instance=svc-3; crashloop@12h:instance=svc-2,count=5; leak@1d:instance=svc-1,rate=10%/h;"
            + " host-degrade@2d:host=host003,fail_after=30m; surge@3d:factor=3,duration=1h; crash:rate=0.5/h")
        #expect(p.crashesPerInstanceDay == 13)
        #expect(p.events.count == 5)
        #expect(p.events[0] == FaultEvent(atMs: 6 * 3_600_000, kind: .crash(instance: "svc-3")))
        #expect(p.events[1] == FaultEvent(atMs: 12 * 3_600_000, kind: .crashLoop(instance: "svc-2", count: 5, afterMs: 30_000)))
        #expect(p.events[2] == FaultEvent(atMs: 86_400_000, kind: .leak(instance: "svc-1", perMs: 0.1 / 3_600_000)))
        #expect(p.events[3] == FaultEvent(atMs: 2 * 86_400_000, kind: .hostDegrade(host: "host003", failAfterMs: 1_800_000,
                                                                                      downAfterMs: 300_000, repairAfterMs: nil)))
        #expect(p.events[4] == FaultEvent(atMs: 3 * 86_400_000, kind: .surge(factor: 3, durationMs: 3_600_000)))
        #expect(p.demandFactor(atOffset: 3 * 86_400_000 + 1) == 3)
        #expect(p.demandFactor(atOffset: 3 * 86_400_000 + 3_600_000) == 1)
        // a size rate is relative to the limit: 512 MiB/h of 2 GiB = 25 %/h
        let l = try FaultPlan.parse("leak@1h:rate=512MiB/h,limit=2GiB")
        #expect(l.events[0].kind == .leak(instance: nil, perMs: 0.25 / 3_600_000))
    }

    @Test(arguments: [
        ("crahs@6h", "\"crahs\": unknown fault"),
        ("crash@6x", "\"6x\": offset is not a duration"),
        ("crash@6h:instanse=svc-1", "\"instanse\": unknown parameter for crash"),
        ("crash:rate=1/fortnight", "\"fortnight\": unknown rate unit"),
        ("crash:rate=abc", "\"rate=abc\""),
        ("crash", "\"crash\": a random crash needs rate="),
        ("crash@1h:rate=1/day", "\"rate\": a scheduled crash"),
        ("crashloop@1h:count=0", "\"count=0\": must be a whole number"),
        ("crashloop@1h:count=2.5", "\"count=2.5\""),
        ("crashloop:count=3", "crashloop needs @OFFSET"),
        ("leak@1h:instance=svc-1", "leak needs rate="),
        ("leak@1h:rate=10%", "\"rate=10%\": expected AMOUNT/UNIT"),
        ("leak@1h:rate=1TB/h", "\"rate=1TB\""),
        ("host-degrade@1h:fail_after=soon", "\"fail_after=soon\": not a duration"),
        ("surge@1h:factor=-2", "\"factor=-2\": must be a number > 0"),
        ("surge@1h:factor", "\"factor\": expected KEY=VALUE"),
        ("surge@1h:factor=2,factor=3", "\"factor\": given twice"),
        ("crash@1h; bogus@2h", "\"bogus\": unknown fault"),
        ("", "empty fault list"),
    ])
    func rejectsNamingTheToken(_ spec: String, _ mention: String) {
        do {
            let p = try FaultPlan.parse(spec)
            Issue.record("accepted \(spec): \(p)")
        } catch {
            #expect(error.description.hasPrefix("--faults: "), "\(error)")
            #expect(error.description.contains(mention), "\(error)")
        }
    }
}

struct FaultSimulationTests {
    func options(_ faults: String, target: Double = 0.7) throws -> SimOptions {
        var o = SimOptions()
        o.noise = 0
        o.target = target
        o.faults = try FaultPlan.parse(faults)
        return o
    }

    /// A crash-looping instance (50 crashes, 5 s after each start) gets exactly the ladder its restart policy
    /// allows: `restarts_before_relocate` restarts with back-off, one relocation, as many restarts again, then one
    /// page, and nothing after that however often it would crash. (Static provisioning, so no scale-in removes the
    /// failed instance mid-ladder.)
    @Test func flappingInstanceGetsNoMoreActionsThanItsPolicyAllows() async throws {
        let tr = try flatTrace(10, hours: 8)
        var o = try options("crashloop@30m:instance=svc-2,count=50,after=5s")
        o.keepAudit = true
        let sink = JSONLinesAudit()
        let r = await Simulation.run(.static, demand: DemandModel(trace: tr, peakInstances: 10, noise: 0, seed: 1), options: o, audit: sink)
        let p = Simulation.groupPolicy(.static, o).restart
        let mine = sink.records().filter { $0.instance == "svc-2" && $0.result == .executed }
        let restarts = mine.filter { $0.kind == .restart }, relocations = mine.filter { $0.kind == .relocate }
        let pages = mine.filter { $0.kind == .page }
        #expect(restarts.count == p.restartsBeforeRelocate * (p.relocationsBeforePage + 1), "\(mine.map(\.reason))")
        #expect(relocations.count == p.relocationsBeforePage)
        #expect(pages.count == 1)
        #expect(mine.count == restarts.count + relocations.count + pages.count)
        // every restart after the first of its streak waited at least its back-off since the previous action
        var streak = 0
        var last: Int64 = .min
        for a in mine.sorted(by: { $0.t < $1.t }) {
            if a.kind == .restart {
                streak += 1
                if streak > 1 { #expect(a.t - last >= p.delay(beforeRestart: streak), "\(a.reason)") }
            } else { streak = 0 }
            last = a.t
        }
        // the loop really flapped that often (each action answered a crash), and the page ended it
        #expect(r.crashes == mine.count)
        #expect(r.pages == 1)
    }

    /// One crash of one of exactly enough instances: the demand it could not serve is its restart (the engine sees
    /// the crash at the interval it happens and restarts at once) plus the 120 s start-up, computed by hand.
    @Test func availabilityIsMeasuredFromTheRun() async throws {
        let tr = try flatTrace(10, hours: 2)
        let o = try options("crash@1h:instance=svc-4", target: 1.0)  // static: ceil(10 / 1.0) = 10 instances
        let r = await Simulation.run(.static, demand: DemandModel(trace: tr, peakInstances: 10, noise: 0, seed: 1), options: o)
        #expect(r.crashes == 1)
        #expect(r.restarts == 1)
        #expect(r.mttrSeconds == 120)
        let lost = 1.0 * 120  // one instance's worth for 120 s
        let demanded = 10.0 * 2 * 3600
        #expect(abs(r.availability - (1 - lost / demanded)) < 1e-12, "\(r.availability)")
        #expect(abs(r.faultAvailability - (1 - lost / demanded)) < 1e-12, "\(r.faultAvailability)")
    }

    /// A leak gets the instance OOM-killed every time it fills its memory (every incarnation leaks again); a
    /// degraded host is evacuated (live migration) in the 10 minutes before it fails, so its failure costs nothing
    /// and nothing needs relocating.
    @Test func leakAndHostFailure() async throws {
        let tr = try flatTrace(10, hours: 6)
        let o = try options("leak@10m:instance=svc-1,rate=75%/h; host-degrade@30m:fail_after=10m,down_after=5m")
        let sink = JSONLinesAudit()
        let r = await Simulation.run(.static, demand: DemandModel(trace: tr, peakInstances: 10, noise: 0, seed: 2), options: o, audit: sink)
        #expect(r.oomKills >= 4, "\(r)")  // OOM 1 h after each (re)start from 25 %: 1h10m, ~2h12m, …
        #expect(r.hostFailures == 1)
        let recs = sink.records()
        let evacuated = recs.filter { $0.kind == .evacuate && $0.result == .executed }
        #expect(!evacuated.isEmpty)
        // all while the host was degraded (30 m … 40 m), before it failed
        #expect(evacuated.allSatisfy { $0.t - tr.times[0] >= 30 * 60_000 && $0.t - tr.times[0] < 40 * 60_000 }, "\(evacuated.map(\.t))")
        #expect(r.relocations == 0 && !recs.contains { $0.gate == "fencing" }, "nothing was left on the host when it failed")
        #expect(r.faultsMissed == 0)
    }

    /// A surge multiplies the demand the policies see; Vigil scales out to about twice the capacity.
    @Test func surgeDrivesAScaleOut() async throws {
        let tr = try flatTrace(10, hours: 3)
        let o = try options("surge@2h:factor=2,duration=30m")
        let sink = JSONLinesAudit()
        _ = await Simulation.run(.vigil, demand: DemandModel(trace: tr, peakInstances: 10, noise: 0, seed: 2), options: o, audit: sink)
        let outs = sink.records().filter { $0.kind == .scaleOut && $0.result == .executed && $0.t - tr.times[0] >= 2 * 3_600_000 }
        #expect((outs.compactMap(\.to).max() ?? 0) >= 22, "\(outs.map(\.reason))")
    }

    /// Same seed, same faults → the same JSON; another seed picks other random crash victims.
    @Test func faultsAreSeeded() async throws {
        let tr = try committedTrace("nasa_http_1995_07_02_7d")
        var o = try options("crash:rate=4/day; crash@2h; host-degrade@3h:fail_after=5m")
        o.hours = 6
        o.noise = 0.05
        func json(_ seed: UInt64) async throws -> Data {
            o.seed = seed
            let r = await Simulation.run(.vigil, demand: DemandModel(trace: tr, peakInstances: 20, noise: o.noise, seed: seed), options: o,
                                         audit: JSONLinesAudit())
            let e = JSONEncoder()
            e.outputFormatting = .sortedKeys
            return try e.encode(r)
        }
        let a = try await json(3), b = try await json(3), c = try await json(4)
        #expect(a == b)
        #expect(a != c)
        let r = try JSONDecoder().decode(SimResult.self, from: a)
        #expect(r.crashes > 2 && r.hostFailures == 1)
    }
}

/// The `--plot` SVG is well-formed XML with every series the docs name, each with data in it.
final class SVGCollector: NSObject, XMLParserDelegate {
    var ids: [String: [String: String]] = [:]
    var current: String?
    var children: [String: Int] = [:]
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if name == "g", let id = attributes["id"] { ids[id] = attributes; current = id } else if let c = current { children[c, default: 0] += 1 }
        if name == "polyline", let c = current, (attributes["points"] ?? "").split(separator: " ").count < 2 { children[c] = -1_000_000 }
    }
    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "g" { current = nil }
    }
}

struct PlotTests {
    @Test func svgParsesAndHasEverySeries() async throws {
        let tr = try committedTrace("nasa_http_1995_07_02_7d")
        var o = SimOptions()
        o.hours = 3
        o.recordSeries = true
        let demand = DemandModel(trace: tr, peakInstances: 20, noise: o.noise, seed: 1)
        let v = await Simulation.run(.vigil, demand: demand, options: o)
        let h = await Simulation.run(.hpa, demand: demand, options: o)
        #expect(v.series?.demand.count == 180)
        #expect(v.series?.violated.filter { $0 }.count == v.sloViolationMinutes)
        let curves = ["vigil": [SimPlot.Point(label: "q 0.9", instanceHours: v.instanceHours, violationMinutes: v.sloViolationMinutes),
                                SimPlot.Point(label: "q 0.95", instanceHours: v.instanceHours + 1, violationMinutes: 0)],
                      "hpa": [SimPlot.Point(label: "target 0.7", instanceHours: h.instanceHours, violationMinutes: h.sloViolationMinutes),
                              SimPlot.Point(label: "target 0.6", instanceHours: h.instanceHours + 2, violationMinutes: 1)]]
        let svg = SimPlot.render(title: "t <&> \"x\"", runs: [("vigil", v.series!), ("hpa", h.series!)], curves: curves)
        let parser = XMLParser(data: Data(svg.utf8))
        let c = SVGCollector()
        parser.delegate = c
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        for id in ["demand", "capacity-vigil", "capacity-hpa", "violations-vigil", "violations-hpa", "curve-vigil", "curve-hpa"] {
            #expect(c.ids[id] != nil, "missing \(id)")
        }
        for id in ["demand", "capacity-vigil", "capacity-hpa", "curve-vigil", "curve-hpa"] { #expect((c.children[id] ?? 0) >= 1, "\(id) is empty") }
        #expect(c.ids["violations-hpa"]?["data-minutes"] == "\(h.sloViolationMinutes)")
        #expect((c.children["curve-vigil"] ?? 0) >= 3)  // a polyline and two points
    }
}
