import Foundation

/// One labelled univariate stream of `scripts/datasets/inject_anomalies.py`.
package struct AnomalyStream: Sendable {
    package var id: String
    package var split: String
    package var source: String
    package var kind: String
    package var times: [Double] = []
    package var values: [Double] = []
    package var anomaly: [Bool] = []
    package init(id: String, split: String, source: String, kind: String) {
        self.id = id; self.split = split; self.source = source; self.kind = kind
    }

    /// The median sampling step in seconds (60 when unknown).
    package var stepSeconds: Double {
        guard times.count > 1 else { return 60 }
        var d = (1..<times.count).map { times[$0] - times[$0 - 1] }
        d.sort()
        return max(1, d[d.count / 2])
    }
}

/// Weights of a scoring profile (the streaming-benchmark convention: a true positive earns up to `tp`, a false positive
/// costs up to `fp`, a missed window costs `fn`).
package struct DetectionProfile: Sendable {
    package var name: String
    package var tp: Double, fp: Double, fn: Double
    package static let standard = DetectionProfile(name: "standard", tp: 1, fp: 0.11, fn: 1)
    package static let lowFP = DetectionProfile(name: "low FP", tp: 1, fp: 0.22, fn: 1)
    package static let lowFN = DetectionProfile(name: "low FN", tp: 1, fp: 0.11, fn: 2)
    package static let all = [standard, lowFP, lowFN]
}

/// Window-based scoring of streaming detections, as streaming anomaly benchmarks do it.
///
/// - Windows: each labelled anomaly (a run of anomalous rows) gets a window of W = ⌊0.1 · n / k⌋ rows (n rows, k runs)
///   from W/2 before its first row to the later of its last row and W/2 after its first row; overlapping windows merge.
///   The first 15 % of a stream is probation: detections there are ignored and windows that end there are dropped.
/// - Detections: rows whose surprise (−log₁₀ tail) reaches the threshold; after a detection the next `suppress` rows
///   cannot detect (every method gets the same suppression, which is what `vigil detect --alarm-threshold` does).
/// - The earliest detection in a window earns tp · σ(y), y ∈ [−1, 0) its position in the window (−1 at the start),
///   σ(y) = 2 / (1 + e^{5y}) − 1 (0.987 at the start, 0 at the end); later ones in the window count nothing. A detection
///   outside windows costs fp · σ(y) with y = rows after the previous window's end / its length (less right after a
///   window, the full fp further on or before any window). A window without a detection costs fn.
/// - Normalised score = 100 · (S − S_null) / (S_perfect − S_null): the null detector never detects, the perfect one
///   detects every window at its first row.
package enum UnivariateDetectionEvaluation {
    package struct Window: Sendable, Equatable { package var start: Int, end: Int }

    package static func load(path: String) throws -> [AnomalyStream] {
        let lines = try CSVReader.lines(of: path)
        guard let head = lines.first else { throw CSVError(file: path, line: 1, column: 0, message: "empty file") }
        let cols = head.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let need = ["stream", "split", "source", "kind", "t", "value", "anomaly"]
        var at: [Int] = []
        for n in need {
            guard let i = cols.firstIndex(of: n) else {
                throw CSVError(file: path, line: 1, column: 0, message: "missing column '\(n)' (need \(need.joined(separator: ",")))")
            }
            at.append(i)
        }
        var out: [AnomalyStream] = [], index: [Substring: Int] = [:]
        for (ln, line) in lines.enumerated().dropFirst() where !line.isEmpty {
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            guard f.count >= cols.count else {
                throw CSVError(file: path, line: ln + 1, column: 0, message: "\(f.count) fields, header has \(cols.count)")
            }
            func num(_ k: Int) throws -> Double {
                guard let v = CSVReader.parseValue(f[at[k]]), k != 4 || v.isFinite else {
                    throw CSVError(file: path, line: ln + 1, column: at[k] + 1, message: "\(need[k]) '\(f[at[k]])' is not a number")
                }
                return v
            }
            let id = f[at[0]]
            let s: Int
            if let k = index[id] {
                s = k
            } else {
                s = out.count; index[id] = s
                out.append(AnomalyStream(id: String(id), split: String(f[at[1]]), source: String(f[at[2]]), kind: String(f[at[3]])))
            }
            let t = try num(4)
            if let last = out[s].times.last, t <= last {
                throw CSVError(file: path, line: ln + 1, column: at[4] + 1, message: "t \(t) of stream \(id) does not increase")
            }
            out[s].times.append(t); out[s].values.append(try num(5)); out[s].anomaly.append(try num(6) != 0)
        }
        return out
    }

    /// First row after probation (15 %).
    package static func probation(_ n: Int) -> Int { Int(0.15 * Double(n)) }

    package static func windows(_ labels: [Bool]) -> [Window] {
        let n = labels.count
        var runs: [(Int, Int)] = []
        var i = 0
        while i < n {
            if labels[i] { var j = i; while j + 1 < n, labels[j + 1] { j += 1 }; runs.append((i, j)); i = j + 1 } else { i += 1 }
        }
        guard !runs.isEmpty else { return [] }
        let w = max(1, Int(0.1 * Double(n) / Double(runs.count)))
        var out: [Window] = []
        for (s, e) in runs {
            let win = Window(start: max(0, s - w / 2), end: min(n - 1, max(e, s + w / 2)))
            if let last = out.last, win.start <= last.end + 1 { out[out.count - 1].end = max(last.end, win.end) } else { out.append(win) }
        }
        let p = probation(n)
        return out.filter { $0.end >= p }
    }

    /// Rows that detect at `threshold` (surprise units) with `suppress` rows of suppression, after probation.
    package static func detections(_ surprise: [Double], threshold: Double, suppress: Int) -> [Int] {
        var out: [Int] = []
        var i = probation(surprise.count)
        while i < surprise.count {
            if surprise[i] >= threshold { out.append(i); i += suppress + 1 } else { i += 1 }
        }
        return out
    }

    static func sigma(_ y: Double) -> Double { 2 / (1 + exp(5 * y)) - 1 }

    package struct Tally: Sendable {
        package var score = 0.0, windows = 0, caught = 0, falsePositives = 0
        package var caughtByKind: [String: Int] = [:], windowsByKind: [String: Int] = [:]
        package static func + (a: Tally, b: Tally) -> Tally {
            var o = a
            o.score += b.score; o.windows += b.windows; o.caught += b.caught; o.falsePositives += b.falsePositives
            o.caughtByKind.merge(b.caughtByKind, uniquingKeysWith: +); o.windowsByKind.merge(b.windowsByKind, uniquingKeysWith: +)
            return o
        }
    }

    /// Raw score of one stream's detections under `profile`.
    package static func tally(detections: [Int], windows: [Window], profile p: DetectionProfile, kind: String = "") -> Tally {
        var t = Tally()
        t.windows = windows.count
        t.windowsByKind[kind, default: 0] += windows.count
        var hit = [Bool](repeating: false, count: windows.count)
        var w = 0  // first window that does not end before the detection
        for d in detections {
            while w < windows.count, windows[w].end < d { w += 1 }
            if w < windows.count, windows[w].start <= d {
                if !hit[w] {
                    hit[w] = true
                    let len = Double(windows[w].end - windows[w].start + 1)
                    t.score += p.tp * sigma(-Double(windows[w].end - d + 1) / len)
                    t.caught += 1
                    t.caughtByKind[kind, default: 0] += 1
                }
            } else {
                t.falsePositives += 1
                if w > 0 {
                    let prev = windows[w - 1], len = Double(prev.end - prev.start + 1)
                    t.score += p.fp * sigma(Double(d - prev.end) / len)
                } else {
                    t.score -= p.fp
                }
            }
        }
        t.score -= p.fn * Double(hit.filter { !$0 }.count)
        return t
    }

    /// Surprise grid the thresholds are chosen from: score thresholds 0.5 … 1 − 10⁻¹².
    package static let grid: [Double] = stride(from: 0.3, through: 12.0, by: 0.1).map { $0 }

    /// The threshold (surprise units) with the best total raw score over `streams` (each: surprise, windows, suppress),
    /// its tally and the normalised score.
    package static func tune(_ streams: [(surprise: [Double], windows: [Window], suppress: Int, kind: String)],
                             profile: DetectionProfile) -> (threshold: Double, tally: Tally, normalised: Double) {
        var best: (Double, Tally) = (grid[0], Tally()), bestScore = -Double.infinity
        for th in grid {
            let t = streams.reduce(Tally()) { $0 + tally(detections: detections($1.surprise, threshold: th, suppress: $1.suppress), windows: $1.windows, profile: profile, kind: $1.kind) }
            if t.score > bestScore { bestScore = t.score; best = (th, t) }
        }
        return (best.0, best.1, normalised(best.1, profile: profile))
    }

    package static func normalised(_ t: Tally, profile p: DetectionProfile) -> Double {
        let null = -p.fn * Double(t.windows), perfect = p.tp * sigma(-1) * Double(t.windows)
        return perfect > null ? 100 * (t.score - null) / (perfect - null) : 0
    }
}
