/// Model + UI state → screen grid. Pure and deterministic (times are formatted with the given zone offset), so the
/// tests pin every cell in golden files.

package struct RenderContext: Sendable {
    package var url: String
    package var glyphs: Glyphs
    /// The local zone's offset from UTC, for clock times (0 in tests).
    package var utcOffsetSeconds: Int

    package init(url: String, glyphs: Glyphs, utcOffsetSeconds: Int = 0) {
        self.url = url; self.glyphs = glyphs; self.utcOffsetSeconds = utcOffsetSeconds
    }
}

package struct Renderer {
    let m: TopModel
    let s: UIState
    let ctx: RenderContext
    var grid: Grid
    var g: Glyphs { ctx.glyphs }
    var width: Int { grid.width }
    var height: Int { grid.height }

    package static let minWidth = 40
    package static let minHeight = 8

    package static func render(_ model: TopModel, _ state: UIState, width: Int, height: Int,
                               _ ctx: RenderContext) -> Grid {
        var r = Renderer(m: model, s: state, ctx: ctx, grid: Grid(width: width, height: height))
        r.draw()
        return r.grid
    }

    mutating func draw() {
        guard width >= Self.minWidth, height >= Self.minHeight else {
            grid.put(0, 0, "terminal too small (\(width)x\(height)); need \(Self.minWidth)x\(Self.minHeight)", .error)
            return
        }
        titleBar()
        statusLine()
        let body = 2..<(height - 1)
        if s.showHelp {
            help(body)
        } else {
            switch s.view {
            case .overview: overview(body)
            case .series: if let id = s.chart, let row = m.series.first(where: { $0.id == id }) { chart(row, body) } else { seriesList(body) }
            case .actions: actionsView(body)
            case .anomalies: anomaliesView(body)
            }
        }
        footer()
    }

    // MARK: frame

    mutating func titleBar() {
        grid.fillRow(0, .title)
        var x = grid.put(0, 0, " vigil top ", .title)
        for v in View.allCases {
            let label = " \(v.rawValue + 1) \(v.title) "
            x += grid.put(x, 0, label, v == s.view ? .key : .title)
        }
        let right = (m.nowMillis > 0 ? Fmt.clock(m.nowMillis, offsetSeconds: ctx.utcOffsetSeconds) : "--:--:--") + " "
        let url = Fmt.fit(ctx.url, max(0, width - x - right.count - 2), g)
        grid.put(width - right.count - url.count - 1, 0, url, .title)
        grid.put(width - right.count, 0, right, .title)
    }

    mutating func statusLine() {
        var parts: [String] = []
        var style = Style.dim
        switch m.status {
        case .connecting:
            parts.append("connecting to \(ctx.url)\(g.ascii ? "..." : "…")")
        case .ok(let at, let n, let ms):
            parts.append("updated \(Fmt.clock(at, offsetSeconds: ctx.utcOffsetSeconds))")
            parts.append("\(n) requests in \(Fmt.trim(ms)) ms")
            // what this view's refresh brought (other views' panels are not asked for; their counts would be stale)
            switch s.view {
            case .overview: parts.append("\(m.hosts.count) hosts, \(m.groups.count) groups")
            case .series: parts.append("\(m.series.count) series")
            case .actions: parts.append("\(m.actions.count) actions, \(m.pending.count) pending")
            case .anomalies: parts.append("\(m.anomalies.count) targets")
            }
        case .unreachable(let msg, let retry):
            parts.append("server unreachable: \(msg)" + (retry > 0 ? ", retrying in \(retry)s" : ""))
            style = .error
        }
        if !m.panelErrors.isEmpty, style != .error {
            parts.append(m.panelErrors.joined(separator: "; "))
            style = .warn
        }
        if style == .error { grid.fillRow(1, .error) }
        let sep = g.ascii ? " | " : " · "
        var x = grid.put(1, 1, Fmt.fit(parts.joined(separator: sep), width - 2, g), style)
        var flags: [(String, Style)] = []
        if s.paused { flags.append(("PAUSED", .warn)) }
        if !s.filter.isEmpty { flags.append(("filter: \(s.filter)", .accent)) }
        if let h = s.hint ?? m.notice { flags.append((h, .warn)) }
        for (text, st) in flags where x + 4 < width {
            x += 1 + grid.put(x + 2, 1, Fmt.fit(text, width - x - 3, g), st)
            x += 1
        }
    }

    mutating func footer() {
        let y = height - 1
        grid.fillRow(y, .footer)
        if let text = s.editing {
            var x = grid.put(0, y, " /", .key)
            x += grid.put(x, y, Fmt.fit(text, width - x - 40, g), .footer)
            grid.put(x, y, "_", .key)
            let hint = "Enter apply  Esc cancel  {...} = selector "
            grid.put(width - hint.count, y, hint, .footer)
            return
        }
        var keys: [(String, String)] = [("Tab", "view"), (g.ascii ? "j/k" : "↑↓", "move"), ("/", "filter"),
                                        ("<>", "sort"), ("p", s.paused ? "resume" : "pause")]
        switch s.view {
        case .series: keys.insert(("Enter", s.chart == nil ? "chart" : "list"), at: 3)
        case .actions: keys.insert(contentsOf: [("a", "approve"), ("x", "reject")], at: 3)
        default: break
        }
        keys += [("?", "help"), ("q", "quit")]
        var x = 0
        for (k, label) in keys {
            let need = k.count + label.count + 3
            if x + need > width { break }
            x += grid.put(x, y, " " + k, .key)
            x += grid.put(x, y, " " + label + " ", .footer)
        }
    }

    // MARK: pieces

    /// A horizontal bar of `w` cells for a fraction 0…1, coloured by level, then the percentage.
    mutating func bar(_ x: Int, _ y: Int, _ w: Int, _ f: Double?) {
        guard let f, f.isFinite else {
            grid.put(x, y, String(repeating: String(g.barEmpty), count: w), .dim)
            grid.put(x + w, y, Fmt.right("-", 5), .dim)
            return
        }
        let c = min(1, max(0, f))
        let style: Style = c >= 0.9 ? .bad : c >= 0.7 ? .warn : .good
        let eighths = Int((c * Double(w) * 8).rounded())
        for i in 0..<w {
            let e = eighths - i * 8
            if e >= 8 { grid.put(x + i, y, String(g.eighths[7]), style) }
            else if e > 0 { grid.put(x + i, y, String(g.eighths[e - 1]), style) }
            else { grid.put(x + i, y, String(g.barEmpty), .dim) }
        }
        grid.put(x + w, y, Fmt.right(Fmt.percent(c), 5), style)
    }

    /// A header row: labels at the given x positions; the sorted column gets an arrow.
    mutating func header(_ y: Int, _ cols: [(Int, String)], sortable: View?) {
        grid.fillRow(y, .header)
        let order = sortable.map { s.sortOrder($0) }
        for (i, (x, label)) in cols.enumerated() {
            var text = label
            if let order, let v = sortable, i < v.sortColumns.count, order.column == i {
                text += String(order.descending ? g.down : g.up)
            }
            grid.put(x, y, text, .header)
        }
    }

    /// First visible row so `selected` stays on screen.
    func scrollStart(selected: Int, count: Int, visible: Int) -> Int {
        guard visible > 0, count > visible else { return 0 }
        return min(max(0, selected - visible + 1), count - visible)
    }

    mutating func message(_ y: Int, _ text: String, _ style: Style = .dim) {
        grid.put(2, y, Fmt.fit(text, width - 4, g), style)
    }

    // MARK: Overview

    mutating func overview(_ body: Range<Int>) {
        let hosts = Rows.hosts(m, s)
        let groups = Rows.groups(m, s)
        let acts = Rows.actions(m, s)
        let total = body.count
        // Hosts take what they need (the rest of the screen at most, keeping room for the other two panels);
        // the last actions get what is left.
        let groupRows = min(max(1, groups.count), max(2, total / 4))
        let minActions = min(max(1, acts.count), max(2, total / 5))
        let hostRows = max(1, min(max(1, hosts.count), total - 5 - groupRows - minActions))
        let actionRows = max(1, total - 5 - hostRows - groupRows)
        var y = body.lowerBound

        // Hosts
        let nameW = min(28, max(12, width / 5))
        let fixed = nameW + 1 + 5 + 1 + 5 + 1 + 10 + 1 + 5
        let bw = max(4, min(40, (width - fixed) / 2))
        let xCPU = nameW + 1, xMem = xCPU + bw + 6, xRisk = xMem + bw + 6, xInst = xRisk + 11
        header(y, [(1, "HOST (\(hosts.count))"), (xCPU, "CPU"), (xMem, "MEM"), (xRisk, "RISK"), (xInst, "INST")],
               sortable: .overview)
        if width - xInst > 16 { grid.put(xInst + 6, y, "MEMORY", .header) }
        y += 1
        if hosts.isEmpty {
            message(y, m.status == .connecting ? "waiting for the first refresh"
                : "no hosts: no node_exporter (node_cpu_seconds_total, node_memory_*), libvirt or vigil_host_* series")
        }
        let sel = min(s.selection(.overview), max(0, hosts.count - 1))
        let start = scrollStart(selected: sel, count: hosts.count, visible: hostRows)
        for (i, h) in hosts.enumerated().dropFirst(start).prefix(hostRows) {
            let down = h.up == false
            grid.put(1, y, Fmt.left(h.name, nameW - 1, g), down ? .bad : .normal)
            bar(xCPU, y, bw, h.cpu)
            bar(xMem, y, bw, h.memory)
            if down {
                grid.put(xRisk, y, Fmt.left(h.state ?? "down", 10, g), .bad)
            } else if let r = h.risk {
                let kind = h.riskKind.map { " " + String($0.prefix(3)) } ?? ""
                grid.put(xRisk, y, Fmt.left(Fmt.percent(r) + kind, 10, g), r >= 0.5 ? .bad : r >= 0.2 ? .warn : .good)
            } else {
                grid.put(xRisk, y, "-", .dim)
            }
            grid.put(xInst, y, Fmt.right(h.instances.map(String.init) ?? "-", 4), .normal)
            if width - xInst > 16 { grid.put(xInst + 6, y, Fmt.bytes(h.memoryTotalBytes), .dim) }
            if i == sel && s.view == .overview { grid.paint(0, y, width, .selected) }
            y += 1
        }
        y = body.lowerBound + 1 + hostRows + 1

        // Groups
        let gName = min(24, max(12, width / 5))
        let gx = [1, gName + 1, gName + 11, gName + 19, gName + 29, gName + 38]
        header(y, [(gx[0], "GROUP (\(groups.count))"), (gx[1], "REPLICAS"), (gx[2], "READY"), (gx[3], "WANTED"),
                   (gx[4], "MIN..MAX"), (gx[5], "LOAD")], sortable: nil)
        y += 1
        if groups.isEmpty {
            message(y, "no groups (vigil_group_* series appear when a daemon runs)")
        }
        for gr in groups.prefix(groupRows) {
            grid.put(1, y, Fmt.left(gr.name, gName - 1, g))
            let behind = (gr.replicas ?? 0) < (gr.desired ?? 0)
            grid.put(gx[1], y, Fmt.right(Fmt.value(gr.replicas), 8), behind ? .warn : .normal)
            grid.put(gx[2], y, Fmt.right(Fmt.value(gr.ready), 5), (gr.ready ?? 0) < (gr.replicas ?? 0) ? .warn : .normal)
            grid.put(gx[3], y, Fmt.right(Fmt.value(gr.desired), 6), .accent)
            grid.put(gx[4], y, Fmt.right(Fmt.value(gr.min) + ".." + Fmt.value(gr.max), 8), .dim)
            var load = Fmt.value(gr.load)
            if let u = gr.forecastUpper { load += " (\(g.up)\(Fmt.value(u)))" }
            grid.put(gx[5], y, Fmt.fit(load, width - gx[5] - 1, g))
            y += 1
        }
        y = body.lowerBound + 1 + hostRows + 1 + 1 + groupRows + 1

        // Last actions
        actionHeader(y, title: "LAST ACTIONS", sortable: nil)
        y += 1
        if let msg = actionsUnavailable() { message(y, msg) }
        else if acts.isEmpty { message(y, "no actions yet") }
        for a in acts.prefix(actionRows) where y < body.upperBound {
            actionRow(y, a)
            y += 1
        }
    }

    func actionsUnavailable() -> String? {
        switch m.actionsAPI {
        case .unknown: return "actions API: no answer yet"
        case .noEngine: return "no remediation engine runs on this server (start `vigil daemon` or `vigil serve --with-daemon`)"
        case .available: return nil
        }
    }

    var actionCols: [Int] {
        let kindX = 10, targetX = 21
        let targetW = min(32, max(14, width / 5))
        let resultX = targetX + targetW + 1
        return [1, kindX, targetX, resultX, resultX + 11]
    }

    mutating func actionHeader(_ y: Int, title: String, sortable: View?) {
        let c = actionCols
        header(y, [(c[0], "TIME"), (c[1], "KIND"), (c[2], "TARGET"), (c[3], "RESULT"), (c[4], "REASON")],
               sortable: sortable)
        if sortable == nil && width - title.count - 1 > c[4] + 8 { grid.put(width - title.count - 1, y, title, .header) }
    }

    mutating func actionRow(_ y: Int, _ a: ActionRow) {
        let c = actionCols
        grid.put(c[0], y, Fmt.clock(a.tMillis, offsetSeconds: ctx.utcOffsetSeconds), .dim)
        grid.put(c[1], y, Fmt.left(a.kind, c[2] - c[1] - 1, g))
        grid.put(c[2], y, Fmt.left(a.target, c[3] - c[2] - 1, g))
        grid.put(c[3], y, Fmt.left(a.result, 10, g), Self.resultStyle(a.result))
        grid.put(c[4], y, Fmt.fit(a.reason, width - c[4] - 1, g), .normal)
    }

    static func resultStyle(_ r: String) -> Style {
        switch r {
        case "executed", "approved": .good
        case "queued", "deferred", "dry_run": .warn
        case "blocked", "failed", "rejected": .bad
        default: .dim
        }
    }

    // MARK: Series

    mutating func seriesList(_ body: Range<Int>) {
        let rows = Rows.series(m, s)
        var y = body.lowerBound
        let nameW = min(60, max(20, width * 7 / 20))
        let lastX = nameW + 1
        let sparkX = lastX + 8
        let anomX = width - 6
        let sparkW = max(4, anomX - sparkX - 1)
        let histW = max(2, sparkW * 3 / 4)
        header(y, [(1, "SERIES (\(rows.count))"), (lastX, "LAST"), (anomX, "ANOM")], sortable: .series)
        let q = "history" + (g.ascii ? " | " : " \(g.now) ") + "forecast"
        grid.put(sparkX, y, Fmt.fit(q, sparkW, g), .header)
        y += 1
        let visible = body.upperBound - y - 1
        if rows.isEmpty {
            message(y, m.status == .connecting ? "waiting for the first refresh" : "no series match \(m.seriesQuery)")
        }
        let sel = min(s.selection(.series), max(0, rows.count - 1))
        let start = scrollStart(selected: sel, count: rows.count, visible: visible)
        for (i, r) in rows.enumerated().dropFirst(start).prefix(visible) {
            grid.put(1, y, Fmt.left(r.id, nameW - 1, g))
            grid.put(lastX, y, Fmt.right(Fmt.value(r.last), 6))
            sparkline(sparkX, y, histW, sparkW - histW - 1, r)
            if let a = r.maxAnomaly { grid.put(anomX, y, Fmt.right(String(format: "%.2f", a), 5), a >= 0.5 ? .anomaly : .dim) }
            else { grid.put(anomX, y, Fmt.right("-", 5), .dim) }
            if i == sel { grid.paint(0, y, width, .selected) }
            y += 1
        }
        grid.put(1, body.upperBound - 1, Fmt.fit("query: " + m.seriesQuery, width - 2, g), .dim)
    }

    /// The series' points bucketed into `w` columns (last value per bucket), right-aligned.
    static func columns(_ points: [Double?], _ w: Int) -> [Double?] {
        guard w > 0 else { return [] }
        if points.count <= w { return Array(repeating: nil, count: w - points.count) + points }
        return (0..<w).map { c in
            let lo = c * points.count / w, hi = (c + 1) * points.count / w
            return points[lo..<max(lo + 1, hi)].last(where: { $0 != nil }) ?? nil
        }
    }

    static func maxColumns(_ scores: [Double?], count: Int, _ w: Int) -> [Double?] {
        guard !scores.isEmpty else { return Array(repeating: nil, count: w) }
        var padded = scores
        if padded.count < count { padded = Array(repeating: nil, count: count - padded.count) + padded }
        if padded.count <= w { return Array(repeating: nil, count: w - padded.count) + padded }
        return (0..<w).map { c in
            let lo = c * padded.count / w, hi = max(lo + 1, (c + 1) * padded.count / w)
            return padded[lo..<hi].compactMap { $0 }.max()
        }
    }

    /// The band's (lower, median, upper) at future column `i` of `w`: a straight line from the last value to the
    /// forecast at the horizon.
    static func bandAt(_ i: Int, _ w: Int, last: Double, _ f: ForecastBand) -> (Double, Double, Double) {
        let t = Double(i + 1) / Double(w)
        return (last + (f.lower - last) * t, last + (f.median - last) * t, last + (f.upper - last) * t)
    }

    mutating func sparkline(_ x: Int, _ y: Int, _ hw: Int, _ fw: Int, _ r: SeriesRow) {
        let cols = Self.columns(r.points, hw)
        let anom = Self.maxColumns(r.anomaly, count: r.points.count, hw)
        var values = cols.compactMap { $0 }.filter(\.isFinite)
        let last = r.last
        var band: [(Double, Double, Double)] = []
        if let f = r.forecast, let last, fw > 0 {
            band = (0..<fw).map { Self.bandAt($0, fw, last: last, f) }
            values += band.flatMap { [$0.0, $0.2] }.filter(\.isFinite)
        }
        guard let lo = values.min(), let hi = values.max() else {
            grid.put(x, y, String(repeating: " ", count: hw), .dim)
            return
        }
        func level(_ v: Double) -> Character {
            let n = g.levels.count
            if hi - lo <= 0 { return g.levels[n / 2 - 1] }
            let i = Int(((v - lo) / (hi - lo) * Double(n - 1)).rounded())
            return g.levels[min(n - 1, max(0, i))]
        }
        for (i, v) in cols.enumerated() {
            guard let v, v.isFinite else { continue }
            let hot = (anom[i] ?? 0) >= 0.5
            grid.put(x + i, y, String(level(v)), hot ? .anomaly : .accent)
        }
        guard fw > 0 else { return }
        grid.put(x + hw, y, String(g.now), .dim)
        for (i, b) in band.enumerated() { grid.put(x + hw + 1 + i, y, String(level(b.2)), .forecast) }
    }

    // MARK: chart

    mutating func chart(_ r: SeriesRow, _ body: Range<Int>) {
        var y = body.lowerBound
        grid.fillRow(y, .header)
        grid.put(1, y, Fmt.fit(r.id, width - 2, g), .header)
        y += 1
        let span = Int64(max(0, r.points.count - 1)) * r.stepMillis
        var info = "last \(Fmt.span(span)) every \(Fmt.span(r.stepMillis))  now \(Fmt.value(r.last))"
        if let f = r.forecast {
            info += "  forecast +\(Fmt.span(f.horizonMillis)): median \(Fmt.value(f.median)), 95% \(Fmt.value(f.upper))"
        } else { info += "  no forecast (vigil_forecast) for this series" }
        if let a = r.maxAnomaly { info += "  max anomaly \(String(format: "%.2f", a))" }
        grid.put(1, y, Fmt.fit(info, width - 2, g), .dim)
        y += 1
        let axisW = 7
        let plotTop = y, plotH = max(2, body.upperBound - y - 2)
        let plotX = axisW + 1
        let plotW = width - plotX - 1
        let fw = r.forecast == nil ? 0 : max(1, plotW / 3)
        let hw = plotW - fw - (fw > 0 ? 1 : 0)
        let cols = Self.columns(r.points, hw)
        let anom = Self.maxColumns(r.anomaly, count: r.points.count, hw)
        var band: [(Double, Double, Double)] = []
        if let f = r.forecast, let last = r.last { band = (0..<fw).map { Self.bandAt($0, fw, last: last, f) } }
        let values = (cols.compactMap { $0 } + band.flatMap { [$0.0, $0.2] }).filter(\.isFinite)
        var lo = values.min() ?? 0, hi = values.max() ?? 1
        if hi - lo <= 0 { lo -= 1; hi += 1 }
        func row(_ v: Double) -> Int {
            let f = (v - lo) / (hi - lo)
            return plotTop + plotH - 1 - min(plotH - 1, max(0, Int((f * Double(plotH - 1)).rounded())))
        }
        // Y axis: top, middle, bottom labels.
        for (v, yy) in [(hi, plotTop), ((hi + lo) / 2, plotTop + (plotH - 1) / 2), (lo, plotTop + plotH - 1)] {
            grid.put(0, yy, Fmt.right(Fmt.value(v), axisW - 1), .dim)
        }
        for yy in plotTop..<(plotTop + plotH) { grid.put(axisW, yy, String(g.vLine), .dim) }
        for (i, v) in cols.enumerated() {
            guard let v, v.isFinite else { continue }
            let hot = (anom[i] ?? 0) >= 0.5
            grid.put(plotX + i, row(v), String(hot ? g.anomaly : g.point), hot ? .anomaly : .accent)
        }
        if fw > 0 {
            for yy in plotTop..<(plotTop + plotH) { grid.put(plotX + hw, yy, String(g.now), .dim) }
            for (i, b) in band.enumerated() {
                let x = plotX + hw + 1 + i
                for yy in row(b.2)...row(b.0) { grid.put(x, yy, String(g.band), .forecast) }
                grid.put(x, row(b.1), String(g.median), .forecast)
            }
        }
        // X axis with anomaly marks and times.
        let axisY = plotTop + plotH
        grid.put(plotX, axisY, String(repeating: String(g.hLine), count: plotW), .dim)
        for (i, a) in anom.enumerated() where (a ?? 0) >= 0.5 { grid.put(plotX + i, axisY, String(g.anomaly), .anomaly) }
        let labelY = axisY + 1
        if labelY < body.upperBound {
            grid.put(plotX, labelY, "-" + Fmt.span(span), .dim)
            grid.put(plotX + max(0, hw - 3), labelY, "now", .dim)
            if let f = r.forecast { let t = "+" + Fmt.span(f.horizonMillis); grid.put(width - 1 - t.count, labelY, t, .dim) }
        }
    }

    // MARK: Actions

    mutating func actionsView(_ body: Range<Int>) {
        var y = body.lowerBound
        if let msg = actionsUnavailable() {
            header(y, [(1, "ACTIONS")], sortable: nil)
            message(y + 1, msg, m.actionsAPI == .unknown ? .dim : .warn)
            if case .noEngine(let server) = m.actionsAPI { message(y + 2, "server said: " + server) }
            return
        }
        let pending = Rows.pending(m, s)
        let acts = Rows.actions(m, s)
        let sel = s.selection(.actions)
        let c = actionCols
        header(y, [(c[0], "DECIDED"), (c[1], "KIND"), (c[2], "TARGET"), (c[3], "CHANGE"), (c[4], "ID: REASON")],
               sortable: nil)
        let title = "PENDING APPROVAL (\(pending.count))"
        if width - title.count - 1 > c[4] + 12 { grid.put(width - title.count - 1, y, title, .header) }
        y += 1
        let pendingRows = min(max(1, pending.count), max(1, body.count / 3))
        if pending.isEmpty { message(y, "nothing waits for approval") }
        let pStart = sel < pending.count ? scrollStart(selected: sel, count: pending.count, visible: pendingRows) : 0
        for (i, p) in pending.enumerated().dropFirst(pStart).prefix(pendingRows) {
            grid.put(c[0], y, Fmt.clock(p.decidedAtMillis, offsetSeconds: ctx.utcOffsetSeconds), .dim)
            grid.put(c[1], y, Fmt.left(p.kind, c[2] - c[1] - 1, g), .warn)
            grid.put(c[2], y, Fmt.left(p.target, c[3] - c[2] - 1, g))
            grid.put(c[3], y, Fmt.left(p.change, 10, g), .accent)
            grid.put(c[4], y, Fmt.fit(p.id + ": " + p.reason, width - c[4] - 1, g))
            if i == sel { grid.paint(0, y, width, .selected) }
            y += 1
        }
        y = body.lowerBound + 1 + pendingRows + 1
        actionHeader(y, title: "", sortable: .actions)
        let audit = "AUDIT (\(acts.count))"
        grid.put(width - audit.count - 1, y, audit, .header)
        y += 1
        let visible = body.upperBound - y
        if acts.isEmpty { message(y, "no actions recorded") }
        let fsel = sel - pending.count
        let start = fsel >= 0 ? scrollStart(selected: fsel, count: acts.count, visible: visible) : 0
        for (i, a) in acts.enumerated().dropFirst(start).prefix(visible) {
            actionRow(y, a)
            if i == fsel { grid.paint(0, y, width, .selected) }
            y += 1
        }
    }

    // MARK: Anomalies

    mutating func anomaliesView(_ body: Range<Int>) {
        let rows = Rows.anomalies(m, s)
        var y = body.lowerBound
        let targetW = min(60, max(20, width * 2 / 5))
        let scoreX = targetW + 1, barW = max(6, min(20, width / 8))
        let metricX = scoreX + barW + 7
        let countX = width - 12
        header(y, [(1, "TARGET (\(rows.count))"), (scoreX, "SCORE"), (metricX, "METRIC")], sortable: .anomalies)
        grid.put(countX, y, ">=0.5", .header)
        y += 1
        if rows.isEmpty {
            message(y, "no vigil_anomaly_score series (the online models write them: docs/models.md)")
        }
        let visible = body.upperBound - y
        let sel = min(s.selection(.anomalies), max(0, rows.count - 1))
        let start = scrollStart(selected: sel, count: rows.count, visible: visible)
        for (i, a) in rows.enumerated().dropFirst(start).prefix(visible) {
            grid.put(1, y, Fmt.left(a.target, targetW - 1, g))
            bar(scoreX, y, barW, a.score)
            grid.paint(scoreX, y, barW + 5, a.score >= 0.5 ? .anomaly : .dim)
            grid.put(metricX, y, Fmt.left(a.topMetric, countX - metricX - 1, g), a.score >= 0.5 ? .anomaly : .normal)
            grid.put(countX, y, Fmt.right("\(a.anomalous)/\(a.metrics)", 6))
            if i == sel { grid.paint(0, y, width, .selected) }
            y += 1
        }
    }

    // MARK: help

    mutating func help(_ body: Range<Int>) {
        let lines: [(String, String)] = [
            ("Tab / Shift-Tab, 1-4", "switch view: Overview, Series, Actions, Anomalies"),
            ("Up/Down, j/k, PgUp/PgDn, g/G", "move the selection"),
            ("/", "filter: text matches rows; a selector with {...} picks the Series view's series"),
            ("Esc", "clear the filter, close the chart"),
            ("< / >, I", "sort by the previous / next column, invert the order"),
            ("Enter", "Series: open or close the large chart of the selected series"),
            ("a / x", "Actions: approve / reject the selected pending action (--approve)"),
            ("p or Space", "pause / resume refreshing"),
            ("?", "this help (any key closes it)"),
            ("q", "quit"),
        ]
        var y = body.lowerBound
        header(y, [(1, "KEYS")], sortable: nil)
        y += 1
        let keyW = min(30, width / 3)
        for (k, d) in lines where y < body.upperBound {
            grid.put(2, y, Fmt.left(k, keyW, g), .key)
            grid.put(3 + keyW, y, Fmt.fit(d, width - keyW - 4, g))
            y += 1
        }
    }
}
