import Testing
@testable import VigilTop

@Suite struct StateTests {
    @Test func tabCyclesViews() {
        var s = UIState()
        #expect(s.handle(.tab, rows: 0) == nil)
        #expect(s.view == .series)
        _ = s.handle(.tab, rows: 0); _ = s.handle(.tab, rows: 0)
        #expect(s.view == .anomalies)
        _ = s.handle(.tab, rows: 0)
        #expect(s.view == .overview)
        _ = s.handle(.backTab, rows: 0)
        #expect(s.view == .anomalies)
        _ = s.handle(.char("2"), rows: 0)
        #expect(s.view == .series)
    }

    @Test func movesStayInRange() {
        var s = UIState()
        _ = s.handle(.up, rows: 3)
        #expect(s.selection(.overview) == 0)
        for _ in 0..<5 { _ = s.handle(.char("j"), rows: 3) }
        #expect(s.selection(.overview) == 2)
        _ = s.handle(.char("k"), rows: 3)
        #expect(s.selection(.overview) == 1)
        _ = s.handle(.end, rows: 3)
        #expect(s.selection(.overview) == 2)
        _ = s.handle(.home, rows: 3)
        #expect(s.selection(.overview) == 0)
    }

    @Test func filterTextAndSelector() {
        var s = UIState()
        _ = s.handle(.char("/"), rows: 0)
        for c in "web" { _ = s.handle(.char(c), rows: 0) }
        #expect(s.editing == "web")
        // Typing does not act on keys: q is text while editing.
        _ = s.handle(.char("q"), rows: 0)
        _ = s.handle(.backspace, rows: 0)
        #expect(s.handle(.enter, rows: 0) == nil)  // text filter: no refetch
        #expect(s.filter == "web" && s.textFilter == "web" && s.selector == nil)
        _ = s.handle(.char("/"), rows: 0)
        for _ in 0..<3 { _ = s.handle(.backspace, rows: 0) }
        for c in #"{job="node"}"# { _ = s.handle(.char(c), rows: 0) }
        #expect(s.handle(.enter, rows: 0) == .refetch)
        #expect(s.selector == #"{job="node"}"# && s.textFilter == nil)
        #expect(s.handle(.escape, rows: 0) == .refetch)
        #expect(s.filter.isEmpty)
    }

    @Test func textFilterSelectsRows() {
        var s = UIState()
        s.filter = "web"
        let hosts = Rows.hosts(RenderTests.model(), s).map(\.name)
        #expect(hosts.sorted() == ["web-1", "web-2"])
    }

    @Test func sortColumns() {
        var s = UIState()
        #expect(s.sortOrder(.overview) == SortOrder(column: 3, descending: true))
        _ = s.handle(.char(">"), rows: 0)
        #expect(s.sortOrder(.overview).column == 4)
        _ = s.handle(.char("<"), rows: 0); _ = s.handle(.char("<"), rows: 0)
        #expect(s.sortOrder(.overview).column == 2)
        _ = s.handle(.char("I"), rows: 0)
        #expect(s.sortOrder(.overview).descending)
        // Sorted by memory, descending: db-1 (0.88), web-2 (0.875), web-1, batch-7, then the host without data.
        #expect(Rows.hosts(RenderTests.model(), s).map(\.name) == ["db-1", "web-2", "web-1", "batch-7", "kvm-4.rack2.example.internal"])
        _ = s.handle(.char("<"), rows: 0); _ = s.handle(.char("<"), rows: 0)
        #expect(s.sortOrder(.overview) == SortOrder(column: 0, descending: false))
        #expect(Rows.hosts(RenderTests.model(), s).map(\.name).first == "batch-7")
    }

    @Test func approveNeedsApproveModeAndAPendingRow() {
        var s = UIState()
        s.view = .actions
        #expect(s.handle(.char("a"), rows: 2, pendingID: { $0 == 0 ? "act-7" : nil }) == nil)
        #expect(s.hint?.contains("--approve") == true)
        s.approveMode = true
        #expect(s.handle(.char("a"), rows: 2, pendingID: { $0 == 0 ? "act-7" : nil }) == .approve("act-7"))
        #expect(s.handle(.char("x"), rows: 2, pendingID: { $0 == 0 ? "act-7" : nil }) == .reject("act-7"))
        _ = s.handle(.down, rows: 2)
        #expect(s.handle(.char("a"), rows: 2, pendingID: { $0 == 0 ? "act-7" : nil }) == nil)
    }

    @Test func enterOpensAndClosesTheChart() {
        var s = UIState()
        s.view = .series
        #expect(s.handle(.enter, rows: 1, seriesID: { _ in "up" }) == .refetch)
        #expect(s.chart == "up")
        #expect(s.handle(.enter, rows: 1, seriesID: { _ in "up" }) == .refetch)
        #expect(s.chart == nil)
    }

    @Test func helpPauseQuit() {
        var s = UIState()
        _ = s.handle(.char("?"), rows: 0)
        #expect(s.showHelp)
        _ = s.handle(.char("j"), rows: 0)
        #expect(!s.showHelp)
        #expect(s.handle(.char("p"), rows: 0) == .togglePause)
        #expect(s.paused)
        #expect(s.handle(.char("q"), rows: 0) == .quit)
    }
}

@Suite struct ParseTests {
    /// Values fit their ~5-cell column: SI prefixes both ways; float noise below a nano is 0 (it was "1.1e-16",
    /// cut to ".1e-16" by the column).
    @Test(arguments: [(0.0, "0"), (0.823, "0.82"), (12.34, "12.3"), (999, "999"), (1234.5, "1.23k"), (5.1e6, "5.10M"),
                      (0.0025, "2.50m"), (4e-5, "40.0u"), (3e-9, "3.00n"), (1.1e-16, "0"), (-0.0025, "-2.50m"), (-1.1e-16, "0")])
    func valuesFitTheirColumn(_ v: Double, _ want: String) {
        #expect(Fmt.value(v) == want)
        #expect(Fmt.value(v).count <= 6)
    }

    @Test func hostName() {
        #expect(TopFetcher.hostName("web-1:9100") == "web-1")
        #expect(TopFetcher.hostName("web-1") == "web-1")
        #expect(TopFetcher.hostName("[::1]:9100") == "[::1]:9100" || TopFetcher.hostName("[::1]:9100") == "[::1]")
    }

    @Test func hostsMergeFieldsByHost() {
        func s(_ field: String, _ inst: String, _ v: String, _ extra: [String: String] = [:]) -> [String: Any] {
            ["metric": ["top_field": field, "instance": inst].merging(extra) { a, _ in a }, "value": [1.0, v]]
        }
        let rows = TopFetcher.hosts([
            s("cpu", "web-1:9100", "0.5"), s("mem", "web-1:9100", "0.25"), s("domains", "web-1", "3"),
            s("risk", "web-1:9100", "0.2", ["kind": "saturation"]), s("risk", "web-1:9100", "0.7", ["kind": "exhaustion"]),
            s("up", "kvm-2", "0", ["host": "kvm-2"]), s("state", "kvm-2", "1", ["state": "fenced"]),
        ])
        #expect(rows == [
            HostRow(name: "kvm-2", up: false, state: "fenced"),
            HostRow(name: "web-1", cpu: 0.5, memory: 0.25, risk: 0.7, riskKind: "exhaustion", instances: 3),
        ])
    }

    @Test func forecastsAndScoresAttachToTheirSourceSeries() {
        var rows = TopFetcher.seriesRows([["metric": ["__name__": "node_load1", "instance": "a"],
                                           "values": [[10.0, "1"], [25.0, "2"]]]], start: 10_000, end: 25_000, step: 15_000)
        #expect(rows.first?.points == [1, 2])
        TopFetcher.attach(
            forecasts: [["metric": ["__name__": "vigil_forecast", "metric": "node_load1", "instance": "a", "quantile": "0.5", "horizon": "30m"], "value": [25.0, "3"]],
                        ["metric": ["__name__": "vigil_forecast", "metric": "node_load1", "instance": "a", "quantile": "0.95", "horizon": "30m"], "value": [25.0, "4"]]],
            anomalies: [["metric": ["__name__": "vigil_anomaly_score", "metric": "node_load1", "instance": "a"], "values": [[25.0, "0.9"]]]],
            start: 10_000, end: 25_000, step: 15_000, to: &rows)
        #expect(rows[0].forecast == ForecastBand(horizonMillis: 1_800_000, median: 3, upper: 4))
        #expect(rows[0].anomaly == [nil, 0.9])
    }

    @Test func anomaliesRankTargets() {
        func s(_ inst: String, _ metric: String, _ v: String) -> [String: Any] {
            ["metric": ["__name__": "vigil_anomaly_score", "instance": inst, "metric": metric], "value": [1.0, v]]
        }
        let rows = TopFetcher.anomalies([s("a", "cpu", "0.2"), s("a", "mem", "0.8"), s("b", "cpu", "0.6"), s("a", "net", "0.55")])
        #expect(rows.map(\.target) == [#"{instance="a"}"#, #"{instance="b"}"#])
        #expect(rows[0].topMetric == "mem" && rows[0].anomalous == 2 && rows[0].metrics == 3)
    }
}
