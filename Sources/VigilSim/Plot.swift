import Foundation

/// `vigil sim --plot out.svg`: a hand-written SVG (no dependency) with two panels: demand, each policy's ready
/// capacity and its SLO-violation minutes over time; and the cost-versus-violations curves (Vigil as `--quantile`
/// moves, HPA as `--target` moves). Every series is a `<g id="…">` (`demand`, `capacity-POLICY`,
/// `violations-POLICY`, `curve-vigil`, `curve-hpa`) so scripts and tests can find it.
public enum SimPlot {
    /// One point of a cost-versus-violations curve.
    public struct Point: Sendable, Equatable {
        public var label: String
        public var instanceHours: Double
        public var violationMinutes: Int
        public init(label: String, instanceHours: Double, violationMinutes: Int) {
            self.label = label
            self.instanceHours = instanceHours
            self.violationMinutes = violationMinutes
        }
    }

    static let colors = ["vigil": "#1f77b4", "hpa": "#d62728", "static": "#7f7f7f", "oracle": "#2ca02c"]

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func f(_ x: Double) -> String { String(format: "%.1f", x) }

    /// The SVG document. `runs`: (policy, its per-minute series); `curves`: policy → its points.
    public static func render(title: String, runs: [(policy: String, series: SimSeries)], curves: [String: [Point]]) -> String {
        let w = 1000.0, h = 760.0, left = 70.0, right = 20.0
        let top1 = 50.0, h1 = 360.0, top2 = 470.0, h2 = 250.0
        var out = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(w))" height="\(Int(h))" viewBox="0 0 \(Int(w)) \(Int(h))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(f(left))" y="24" font-size="15">\(esc(title))</text>

            """
        // panel 1: time series
        let demand = runs.first?.series.demand ?? []
        let n = max(1, demand.count)
        var ymax = demand.max() ?? 1
        for r in runs { ymax = max(ymax, r.series.ready.max() ?? 0) }
        ymax = max(ymax * 1.05, 1)
        let pw = w - left - right
        func x(_ i: Int) -> Double { left + pw * Double(i) / Double(max(1, n - 1)) }
        func y(_ v: Double) -> Double { top1 + h1 - h1 * v / ymax }
        out += "<g id=\"axes-time\" stroke=\"#999\" fill=\"none\"><rect x=\"\(f(left))\" y=\"\(f(top1))\" width=\"\(f(pw))\" height=\"\(f(h1))\"/></g>\n"
        out += "<text x=\"\(f(left))\" y=\"\(f(top1 - 6))\">instances (demand in instances' worth; ready capacity) over \(String(format: "%.1f", Double(n) / 60)) h; ticks below: SLO-violation minutes</text>\n"
        for k in 0...4 {
            let v = ymax * Double(k) / 4
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(y(v) + 4))\" text-anchor=\"end\">\(String(format: "%.0f", v))</text>\n"
        }
        // downsample long runs to at most ~2000 points per line (max within each bucket, so peaks stay visible)
        let stride = max(1, n / 2000)
        func polyline(_ id: String, _ v: [Double], _ color: String, _ width: Double) -> String {
            var pts: [String] = []
            var i = 0
            while i < v.count {
                let m = v[i..<min(v.count, i + stride)].max() ?? 0
                pts.append("\(f(x(i))),\(f(y(m)))")
                i += stride
            }
            return "<g id=\"\(id)\"><polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(width)\" points=\"\(pts.joined(separator: " "))\"/></g>\n"
        }
        out += polyline("demand", demand, "#000", 1)
        for (k, r) in runs.enumerated() {
            let c = colors[r.policy] ?? "#9467bd"
            out += polyline("capacity-\(esc(r.policy))", r.series.ready, c, 1)
            // violations: one tick per violated minute in a strip under the panel
            let yv = top1 + h1 + 8 + Double(k) * 8
            var ticks = ""
            for (i, v) in r.series.violated.enumerated() where v {
                ticks += "<line x1=\"\(f(x(i)))\" y1=\"\(f(yv))\" x2=\"\(f(x(i)))\" y2=\"\(f(yv + 6))\"/>"
            }
            out += "<g id=\"violations-\(esc(r.policy))\" stroke=\"\(c)\" data-minutes=\"\(r.series.violated.filter { $0 }.count)\">\(ticks)</g>\n"
        }
        var lx = left + 10
        out += "<g id=\"legend\">"
        for (name, c) in [("demand", "#000")] + runs.map({ ($0.policy, colors[$0.policy] ?? "#9467bd") }) {
            out += "<rect x=\"\(f(lx))\" y=\"\(f(top1 + 8))\" width=\"12\" height=\"3\" fill=\"\(c)\"/><text x=\"\(f(lx + 16))\" y=\"\(f(top1 + 14))\">\(esc(name))</text>"
            lx += 90
        }
        out += "</g>\n"
        // panel 2: cost versus violations
        let all = curves.values.flatMap { $0 }
        let cmin = (all.map(\.instanceHours).min() ?? 0) * 0.97, cmax = max((all.map(\.instanceHours).max() ?? 1) * 1.03, cmin + 1)
        let vmax = Double(max(1, all.map(\.violationMinutes).max() ?? 1)) * 1.05
        let pw2 = 520.0
        func cx(_ c: Double) -> Double { left + pw2 * (c - cmin) / (cmax - cmin) }
        func cy(_ v: Double) -> Double { top2 + h2 - h2 * v / vmax }
        out += "<g id=\"axes-curve\" stroke=\"#999\" fill=\"none\"><rect x=\"\(f(left))\" y=\"\(f(top2))\" width=\"\(f(pw2))\" height=\"\(f(h2))\"/></g>\n"
        out += "<text x=\"\(f(left))\" y=\"\(f(top2 - 6))\">cost vs violations: x instance-hours (\(String(format: "%.0f", cmin))–\(String(format: "%.0f", cmax))), y SLO-violation minutes (0–\(String(format: "%.0f", vmax)))</text>\n"
        for policy in curves.keys.sorted() {
            let pts = curves[policy]!.sorted { $0.instanceHours < $1.instanceHours }
            let c = colors[policy] ?? "#9467bd"
            out += "<g id=\"curve-\(esc(policy))\" stroke=\"\(c)\" fill=\"\(c)\">"
            out += "<polyline fill=\"none\" points=\"\(pts.map { "\(f(cx($0.instanceHours))),\(f(cy(Double($0.violationMinutes))))" }.joined(separator: " "))\"/>"
            for p in pts {
                out += "<circle cx=\"\(f(cx(p.instanceHours)))\" cy=\"\(f(cy(Double(p.violationMinutes))))\" r=\"3\"><title>\(esc(p.label)): \(String(format: "%.1f", p.instanceHours)) inst-h, \(p.violationMinutes) min</title></circle>"
                out += "<text x=\"\(f(cx(p.instanceHours) + 5))\" y=\"\(f(cy(Double(p.violationMinutes)) - 5))\" stroke=\"none\" font-size=\"10\">\(esc(p.label))</text>"
            }
            out += "</g>\n"
        }
        out += "</svg>\n"
        return out
    }
}
