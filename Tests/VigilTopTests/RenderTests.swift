import Foundation
import Testing
@testable import VigilTop

/// The rendering core without a terminal: a fixed model rendered into grids compared cell by cell (characters and
/// styles) with golden files. The goldens were generated once from this code (`VIGIL_UPDATE_GOLDEN=1 swift test
/// --filter VigilTopTests`) and reviewed by hand; any rendering change fails here until they are regenerated.
@Suite struct RenderTests {
    static let t0: Int64 = 1_796_400_000_000  // 2026-12-04T16:00:00Z

    /// A model with everything a screen can show: hosts (one down, one at risk), groups, series with forecast
    /// bands and anomaly scores, actions, a pending approval, anomalies.
    static func model() -> TopModel {
        var m = TopModel()
        m.nowMillis = t0
        m.status = .ok(atMillis: t0, requests: 6, millis: 12.5)
        m.hosts = [
            HostRow(name: "web-1", cpu: 0.35, memory: 0.62, memoryTotalBytes: 16 * 1_073_741_824, instances: 2),
            HostRow(name: "web-2", cpu: 0.72, memory: 0.875, memoryTotalBytes: 16 * 1_073_741_824, risk: 0.12,
                    riskKind: "saturation", instances: 3),
            HostRow(name: "db-1", cpu: 0.93, memory: 0.88, memoryTotalBytes: 64 * 1_073_741_824, risk: 0.64,
                    riskKind: "saturation", instances: 1),
            HostRow(name: "kvm-4.rack2.example.internal", cpu: nil, memory: nil, instances: 0, up: false, state: "fenced"),
            HostRow(name: "batch-7", cpu: 0.051, memory: 0.2, memoryTotalBytes: 8 * 1_073_741_824),
        ]
        m.groups = [
            GroupRow(name: "web", replicas: 3, ready: 3, desired: 4, min: 2, max: 8, load: 3.4, forecastUpper: 4.2),
            GroupRow(name: "workers", replicas: 5, ready: 4, desired: 5, min: 1, max: 10, load: 4.75),
        ]
        let step: Int64 = 15_000
        let n = 121
        let start = t0 - Int64(n - 1) * step
        func wave(_ base: Double, _ amp: Double, _ period: Double) -> [Double?] {
            (0..<n).map { i in i < 10 ? nil : base + amp * sin(Double(i) / period) }
        }
        var load = SeriesRow(id: #"node_load1{instance="web-1:9100", job="node"}"#, name: "node_load1",
                             points: wave(1.5, 0.6, 9), startMillis: start, stepMillis: step,
                             forecast: ForecastBand(horizonMillis: 3_600_000, median: 2.5, upper: 3.5))
        load.anomaly = (0..<n).map { i in i > 100 && i < 106 ? 0.93 : 0.08 }
        let cpu = SeriesRow(id: #"host_cpu_busy_ratio{instance="db-1:9100"}"#, name: "host_cpu_busy_ratio",
                            points: (0..<n).map { i in 0.6 + 0.33 * Double(i) / Double(n) }, startMillis: start,
                            stepMillis: step, forecast: ForecastBand(horizonMillis: 3_600_000, median: 0.97, upper: 1.0))
        let flat = SeriesRow(id: #"host_memory_used_ratio{instance="web-1:9100"}"#, name: "host_memory_used_ratio",
                             points: Array(repeating: 0.62, count: n), startMillis: start, stepMillis: step)
        let vm = SeriesRow(id: #"vm_cpu_seconds_rate{domain="vm-a", instance="web-1"}"#, name: "vm_cpu_seconds_rate",
                           points: wave(0.5, 0.4, 3), startMillis: start, stepMillis: step)
        let gappy = SeriesRow(id: #"vigil_group_load{group="web"}"#, name: "vigil_group_load",
                              points: (0..<n).map { (i: Int) -> Double? in i % 20 < 5 ? nil : 3 + Double(i % 7) / 10 }, startMillis: start,
                              stepMillis: step)
        m.series = [load, cpu, flat, vm, gappy]
        m.seriesQuery = "default set"
        m.actionsAPI = .available
        m.actions = [
            ActionRow(seq: 41, tMillis: t0 - 50_000, id: "a-41", kind: "scale_out", target: "web", result: "executed",
                      reason: "forecast p95 4.2 > 3 replicas"),
            ActionRow(seq: 40, tMillis: t0 - 120_000, id: "a-40", kind: "restart", target: "workers/w-3",
                      result: "blocked", reason: "gate: max 1 disruptive action per 10m"),
            ActionRow(seq: 39, tMillis: t0 - 300_000, id: "a-39", kind: "relocate", target: "db/db-1-vm",
                      result: "dry_run", reason: "host db-1 saturation risk 0.64"),
            ActionRow(seq: 38, tMillis: t0 - 900_000, id: "a-38", kind: "page", target: "kvm-4", result: "failed",
                      reason: "webhook"),
        ]
        m.pending = [PendingRow(id: "act-7", kind: "scale_in", target: "workers", change: "5 -> 4",
                                reason: "load 4.75 below 5 for 10m", decidedAtMillis: t0 - 30_000)]
        m.anomalies = [
            AnomalyRow(target: #"{instance="web-1:9100", job="node"}"#, score: 0.93, topMetric: "node_load1", anomalous: 2, metrics: 7),
            AnomalyRow(target: #"{instance="db-1:9100", job="node"}"#, score: 0.41, topMetric: "node_memory_MemAvailable_bytes", anomalous: 0, metrics: 7),
            AnomalyRow(target: #"{domain="vm-a", instance="web-1"}"#, score: 0.05, topMetric: "libvirt_domain_info_cpu_time_seconds_total", anomalous: 0, metrics: 3),
        ]
        return m
    }

    static let goldenDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    enum Screen: String, CaseIterable {
        case overview, series, chart, actions, anomalies, help
        var state: UIState {
            var s = UIState()
            switch self {
            case .overview: s.view = .overview; s.selected[.overview] = 1
            case .series: s.view = .series; s.selected[.series] = 2
            case .chart: s.view = .series; s.chart = #"node_load1{instance="web-1:9100", job="node"}"#
            case .actions: s.view = .actions
            case .anomalies: s.view = .anomalies
            case .help: s.showHelp = true
            }
            return s
        }
    }

    static let cases: [(Screen, Int, Int, Bool)] = Screen.allCases.flatMap { s in
        [(80, 24), (200, 50)].flatMap { (w, h) in [(s, w, h, true), (s, w, h, false)] }
    }

    @Test(arguments: cases)
    func golden(screen: Screen, width: Int, height: Int, ascii: Bool) throws {
        let ctx = RenderContext(url: "http://127.0.0.1:9470", glyphs: .forTerminal(ascii: ascii))
        let grid = Renderer.render(Self.model(), screen.state, width: width, height: height, ctx)
        #expect(grid.width == width && grid.height == height)
        let name = "\(screen.rawValue)-\(width)x\(height)-\(ascii ? "ascii" : "unicode").txt"
        let file = Self.goldenDir.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["VIGIL_UPDATE_GOLDEN"] == "1" {
            try grid.golden.write(to: file, atomically: true, encoding: .utf8)
            return
        }
        let want = try String(contentsOf: file, encoding: .utf8)
        let got = grid.golden
        if want != got {
            let w = want.split(separator: "\n", omittingEmptySubsequences: false)
            let g = got.split(separator: "\n", omittingEmptySubsequences: false)
            let first = zip(w, g).enumerated().first { $0.element.0 != $0.element.1 }
            Issue.record("\(name) differs at line \(first.map { $0.offset + 1 } ?? min(w.count, g.count)):\nwant: \(first?.element.0 ?? "")\ngot:  \(first?.element.1 ?? "")")
        }
        if ascii {
            let allASCII = got.unicodeScalars.allSatisfy { $0.isASCII }
            #expect(allASCII, "ASCII rendering has a non-ASCII character")
        }
    }

    @Test func asciiAndUnicodeDifferOnlyInGlyphs() {
        let m = Self.model()
        for screen in Screen.allCases {
            let a = Renderer.render(m, screen.state, width: 80, height: 24, RenderContext(url: "u", glyphs: .plain))
            let u = Renderer.render(m, screen.state, width: 80, height: 24, RenderContext(url: "u", glyphs: .unicode))
            #expect(a.styleLines.count == u.styleLines.count)
            #expect(a.textLines.map(\.count) == u.textLines.map(\.count))
        }
    }

    @Test func rowsAndBarsFollowTheModel() {
        let ctx = RenderContext(url: "u", glyphs: .plain)
        var m = Self.model()
        let g = Renderer.render(m, UIState(), width: 80, height: 24, ctx)
        // Default sort: risk descending, so db-1 (0.64) is the first host row, web-2 (0.12) the second.
        #expect(g.textLines[3].hasPrefix(" db-1"))
        #expect(g.textLines[4].hasPrefix(" web-2"))
        #expect(g.textLines[3].contains("93%") && g.textLines[3].contains("64% sat"))
        m.hosts[2].cpu = 0.10
        let g2 = Renderer.render(m, UIState(), width: 80, height: 24, ctx)
        #expect(g2.textLines[3].contains("10%") && !g2.textLines[3].contains("93%"))
        #expect(g2 != g)
    }

    @Test func unreachableIsSaidPlainly() {
        var m = Self.model()
        m.status = .unreachable(message: "connection refused (http://127.0.0.1:9470)", retryInSeconds: 4)
        let g = Renderer.render(m, UIState(), width: 100, height: 24, RenderContext(url: "u", glyphs: .unicode))
        #expect(g.textLines[1].contains("server unreachable: connection refused (http://127.0.0.1:9470), retrying in 4s"))
        #expect(g.styleLines[1].allSatisfy { $0 == "E" })
    }

    @Test func noEngineIsSaid() {
        var m = Self.model()
        m.actionsAPI = .noEngine("HTTP 404")
        var s = UIState()
        s.view = .actions
        let g = Renderer.render(m, s, width: 100, height: 24, RenderContext(url: "u", glyphs: .unicode))
        #expect(g.textLines.contains { $0.contains("no remediation engine runs on this server") })
    }

    @Test func tooSmall() {
        let g = Renderer.render(Self.model(), UIState(), width: 30, height: 5, RenderContext(url: "u", glyphs: .plain))
        #expect(g.textLines[0].hasPrefix("terminal too small (30x5)"))
    }

    @Test func wideCharactersTakeOneCell() {
        var g = Grid(width: 6, height: 1)
        g.put(0, 0, "a温b\u{7}c")
        #expect(g.textLines == ["a?b?c "])
    }
}
