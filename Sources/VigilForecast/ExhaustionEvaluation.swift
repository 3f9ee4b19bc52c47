import Foundation

/// One evaluation stream of `scripts/datasets/inject_exhaustion.py`: a series, its limit, and the rows at which it
/// reached the limit (the injected leak or fill is removed after such a row: the process restarted).
package struct ExhaustionStream: Sendable {
    package var id: String
    package var split: String
    package var times: [Double] = []
    package var values: [Double] = []
    package var limits: [Double] = []
    package var exhausted: [Bool] = []
    /// The injection kind at every row (clean, linear, stepwise, accelerating, writes).
    package var kinds: [String] = []
    package init(id: String, split: String) { self.id = id; self.split = split }
}

/// Counts of one method at one threshold over a set of streams.
package struct ExhaustionCounts: Sendable, Equatable {
    package var warnSteps = 0, correctSteps = 0, events = 0, caught = 0, falseEpisodes = 0
    package var vmDays = 0.0
    package var leadsSeconds: [Double] = []
    package var caughtByKind: [String: Int] = [:], eventsByKind: [String: Int] = [:]
    package init() {}
    package var precision: Double { warnSteps == 0 ? 1 : Double(correctSteps) / Double(warnSteps) }
    package var recall: Double { events == 0 ? 1 : Double(caught) / Double(events) }
    package var f1: Double { let p = precision, r = recall; return p + r == 0 ? 0 : 2 * p * r / (p + r) }
    package var falsePerVMDay: Double { vmDays == 0 ? 0 : Double(falseEpisodes) / vmDays }
    package static func + (a: Self, b: Self) -> Self {
        var o = a
        o.warnSteps += b.warnSteps; o.correctSteps += b.correctSteps; o.events += b.events; o.caught += b.caught
        o.falseEpisodes += b.falseEpisodes; o.vmDays += b.vmDays; o.leadsSeconds += b.leadsSeconds
        o.caughtByKind.merge(b.caughtByKind, uniquingKeysWith: +); o.eventsByKind.merge(b.eventsByKind, uniquingKeysWith: +)
        return o
    }
}

/// The evaluation of `vigil eval exhaustion`: "exhausts within `horizon`, warned at least `minLead` ahead".
///
/// - A warning at row t (a row that is not itself at the limit) is correct when the stream reaches its limit in
///   (t, t + horizon]. Precision = correct warning rows / warning rows.
/// - An exhaustion at e is caught when some row in [e − horizon, e − minLead] warns. Recall = caught / exhaustions.
/// - A false warning is a maximal run of consecutive incorrect warning rows; reported per VM-day (stream span).
/// - Lead time of a caught exhaustion: e minus the first row of the run of warning rows that holds the latest warning row
///   in [e − horizon, e − minLead].
package enum ExhaustionEvaluation {
    package static func load(path: String) throws -> [ExhaustionStream] {
        let lines = try CSVReader.lines(of: path)
        guard let head = lines.first else { throw CSVError(file: path, line: 1, column: 0, message: "empty file") }
        let cols = head.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let need = ["stream", "split", "kind", "t", "value", "limit", "exhausted"]
        var at: [Int] = []
        for n in need {
            guard let i = cols.firstIndex(of: n) else {
                throw CSVError(file: path, line: 1, column: 0, message: "missing column '\(n)' (need \(need.joined(separator: ",")))")
            }
            at.append(i)
        }
        var out: [ExhaustionStream] = [], index: [Substring: Int] = [:]
        for (ln, line) in lines.enumerated().dropFirst() where !line.isEmpty {
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            guard f.count >= cols.count else {
                throw CSVError(file: path, line: ln + 1, column: 0, message: "\(f.count) fields, header has \(cols.count)")
            }
            func num(_ k: Int) throws -> Double {
                guard let v = CSVReader.parseValue(f[at[k]]) else {
                    throw CSVError(file: path, line: ln + 1, column: at[k] + 1, message: "\(need[k]) '\(f[at[k]])' is not a number")
                }
                return v
            }
            let id = f[at[0]]
            let s: Int
            if let k = index[id] { s = k } else { s = out.count; index[id] = s; out.append(ExhaustionStream(id: String(id), split: String(f[at[1]]))) }
            let t = try num(3)
            if let last = out[s].times.last, t <= last {
                throw CSVError(file: path, line: ln + 1, column: at[3] + 1, message: "t \(t) of stream \(id) does not increase")
            }
            out[s].times.append(t); out[s].values.append(try num(4)); out[s].limits.append(try num(5))
            out[s].exhausted.append(try num(6) != 0); out[s].kinds.append(String(f[at[2]]))
        }
        return out
    }

    /// Per-row scores of the three methods (higher = warn sooner): the estimator's P(exhaust within horizon), the
    /// static baseline's value/limit, and the naive baseline's −(seconds to the limit along the last two samples' slope).
    package struct Scores: Sendable {
        package var vigil: [Double], fraction: [Double], naive: [Double]
    }

    /// Scores of every row, each from the rows up to it only.
    package static func scores(_ s: ExhaustionStream, config: ExhaustionConfig) -> Scores {
        let n = s.times.count
        var vigil = [Double](repeating: 0, count: n), frac = vigil, naive = [Double](repeating: -.infinity, count: n)
        var lo = 0
        for k in 0..<n {
            while s.times[lo] <= s.times[k] - config.windowSeconds { lo += 1 }
            if let e = ExhaustionPredictor.estimate(times: s.times[lo...k], values: s.values[lo...k], limit: s.limits[k], config: config) {
                vigil[k] = e.probabilityWithinHorizon
            }
            frac[k] = s.values[k] / s.limits[k]
            if k > 0 {
                let slope = (s.values[k] - s.values[k - 1]) / (s.times[k] - s.times[k - 1])
                naive[k] = s.values[k] >= s.limits[k] ? 0 : slope > 0 ? -(s.limits[k] - s.values[k]) / slope : -.infinity
            }
        }
        return Scores(vigil: vigil, fraction: frac, naive: naive)
    }

    /// Counts for one stream with warnings `warn` (one per row).
    package static func counts(_ s: ExhaustionStream, warn: [Bool], horizon: Double = 1800, minLead: Double = 600) -> ExhaustionCounts {
        var c = ExhaustionCounts()
        let n = s.times.count
        guard n > 1 else { return c }
        c.vmDays = (s.times[n - 1] - s.times[0]) / 86400
        let events = (0..<n).filter { s.exhausted[$0] }
        var nextEvent = [Int?](repeating: nil, count: n)  // index of the first exhaustion after row k
        var nxt: Int? = nil
        for k in stride(from: n - 1, through: 0, by: -1) { nextEvent[k] = nxt; if s.exhausted[k] { nxt = k } }
        var inFalse = false
        for k in 0..<n {
            let w = warn[k] && !s.exhausted[k]
            guard w else { inFalse = false; continue }
            c.warnSteps += 1
            if let e = nextEvent[k], s.times[e] - s.times[k] <= horizon {
                c.correctSteps += 1; inFalse = false
            } else {
                if !inFalse { c.falseEpisodes += 1 }
                inFalse = true
            }
        }
        var prevEvent = -1
        for e in events {
            let kind = s.kinds[e]
            c.events += 1; c.eventsByKind[kind, default: 0] += 1
            let te = s.times[e]
            var k = e - 1
            while k > prevEvent, s.times[k] > te - minLead { k -= 1 }
            var hit: Int? = nil
            while k > prevEvent, s.times[k] >= te - horizon { if warn[k] && !s.exhausted[k] { hit = k; break }; k -= 1 }
            if var first = hit {
                while first - 1 > prevEvent, warn[first - 1], !s.exhausted[first - 1] { first -= 1 }
                c.caught += 1; c.caughtByKind[kind, default: 0] += 1
                c.leadsSeconds.append(te - s.times[first])
            }
            prevEvent = e
        }
        return c
    }

    /// Threshold grids of the three methods.
    package static let vigilGrid: [Double] = [0.01, 0.02, 0.05] + stride(from: 0.1, through: 0.9, by: 0.05).map { $0 } + [0.95, 0.98, 0.99, 0.995, 0.999]
    package static let fractionGrid: [Double] = stride(from: 0.70, through: 0.995, by: 0.005).map { $0 }
    package static let naiveGrid: [Double] = stride(from: 5.0, through: 240, by: 5).map { -$0 * 60 }

    /// The threshold of `grid` with the best F1 over `streams` (ties: the higher threshold), and its counts.
    package static func tune(_ streams: [(ExhaustionStream, [Double])], grid: [Double], horizon: Double, minLead: Double) -> (Double, ExhaustionCounts) {
        var best = (grid[0], ExhaustionCounts()), bestF = -1.0
        for th in grid {
            let c = streams.reduce(ExhaustionCounts()) { $0 + counts($1.0, warn: $1.1.map { $0 >= th }, horizon: horizon, minLead: minLead) }
            if c.f1 >= bestF { bestF = c.f1; best = (th, c) }
        }
        return best
    }

    package static func percentile(_ xs: [Double], _ q: Double) -> Double {
        guard !xs.isEmpty else { return .nan }
        return ExhaustionPredictor.quantile(sorted: xs.sorted(), q)
    }
}
