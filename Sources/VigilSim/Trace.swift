import Foundation

/// A demand trace: `timestamp,value` rows (header optional). Timestamps are Unix seconds, ISO-8601
/// (`1995-07-01T00:00:00-04:00`, `…Z`) or `YYYY-MM-DD HH:MM:SS` (UTC); the value is demand in any unit.
public struct Trace: Sendable, Equatable {
    /// Sample times (ms since the epoch), strictly increasing.
    public var times: [Int64]
    public var values: [Double]

    public init(times: [Int64], values: [Double]) {
        self.times = times
        self.values = values
    }

    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let file: String
        public let line: Int
        public let message: String
        public var description: String { "\(file):\(line): \(message)" }
    }

    public static func load(path: String) throws -> Trace {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ParseError(file: path, line: 0, message: "cannot read: \(error.localizedDescription)")
        }
        return try parse(String(decoding: data, as: UTF8.self), name: path)
    }

    public static func parse(_ text: String, name: String = "trace") throws -> Trace {
        var times: [Int64] = [], values: [Double] = []
        var lineNo = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let cols = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cols.count >= 2 else {
                throw ParseError(file: name, line: lineNo, message: "expected `timestamp,value`, got \"\(line.prefix(60))\"")
            }
            guard let v = Double(cols[1]) else {
                if times.isEmpty && lineNo == 1 { continue }  // header
                throw ParseError(file: name, line: lineNo, message: "value \"\(cols[1])\" is not a number")
            }
            guard let t = parseTime(cols[0]) else {
                if times.isEmpty && lineNo == 1 { continue }
                throw ParseError(file: name, line: lineNo, message: "timestamp \"\(cols[0])\" is not Unix seconds, ISO-8601 or YYYY-MM-DD HH:MM:SS")
            }
            guard v.isFinite, v >= 0 else { throw ParseError(file: name, line: lineNo, message: "value \(cols[1]) must be finite and ≥ 0") }
            if let last = times.last, t <= last {
                throw ParseError(file: name, line: lineNo, message: "timestamp \(cols[0]) is not after the previous row's")
            }
            times.append(t)
            values.append(v)
        }
        guard times.count >= 2 else { throw ParseError(file: name, line: lineNo, message: "a trace needs at least 2 rows") }
        guard (values.max() ?? 0) > 0 else { throw ParseError(file: name, line: lineNo, message: "every value is 0") }
        return Trace(times: times, values: values)
    }

    /// Unix seconds (integer or fractional), ISO-8601 with zone, or `YYYY-MM-DD HH:MM:SS` (UTC): ms since the epoch.
    static func parseTime(_ s: String) -> Int64? {
        if let d = Double(s), d.isFinite { return Int64((d * 1000).rounded()) }
        let iso = ISO8601DateFormatter()
        if let d = iso.date(from: s) { return Int64((d.timeIntervalSince1970 * 1000).rounded()) }
        let b = Array(s.utf8)
        guard b.count == 19, b[4] == 45, b[7] == 45, b[10] == 32 || b[10] == 84, b[13] == 58, b[16] == 58 else { return nil }
        func num(_ r: Range<Int>) -> Int? { Int(String(decoding: b[r], as: UTF8.self)) }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13), let mi = num(14..<16),
              let se = num(17..<19), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, se < 61 else { return nil }
        // days from civil (Howard Hinnant)
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return (Int64(days) * 86_400 + Int64(h * 3600 + mi * 60 + se)) * 1000
    }

    /// The step between rows (median), ms.
    public var medianStepMs: Int64 {
        var d = zip(times.dropFirst(), times).map { $0 - $1 }
        d.sort()
        return d[d.count / 2]
    }
}

/// SplitMix64: small, fast, seedable; the simulator's only randomness.
public struct SplitMix64: Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }
    /// Standard normal (Box–Muller).
    public mutating func normal() -> Double {
        let u1 = max(uniform(), 1e-300), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}

/// Demand in instances' worth of work over time: the trace scaled so its maximum needs `peakInstances` instances at
/// 100 % utilisation, linearly interpolated, times seeded autocorrelated noise: a log-normal factor whose log is
/// AR(1) per minute (coefficient 0.8, stationary standard deviation `noise`), interpolated within the minute.
public struct DemandModel: Sendable {
    public let trace: Trace
    public let peakInstances: Double
    public let noise: Double
    let scale: Double
    let noiseStart: Int64
    let noiseKnots: [Double]

    public init(trace: Trace, peakInstances: Double, noise: Double, seed: UInt64) {
        self.trace = trace
        self.peakInstances = peakInstances
        self.noise = noise
        scale = peakInstances / (trace.values.max() ?? 1)
        noiseStart = trace.times.first ?? 0
        let minutes = Int(((trace.times.last ?? 0) - noiseStart) / 60_000) + 2
        var rng = SplitMix64(seed: seed ^ 0x5EED_0F_DE4A2D)
        var knots = [Double](repeating: 0, count: minutes)
        let phi = 0.8
        var x = noise > 0 ? noise * rng.normal() : 0
        for i in 0..<minutes {
            knots[i] = x
            x = phi * x + (noise > 0 ? noise * (1 - phi * phi).squareRoot() * rng.normal() : 0)
        }
        noiseKnots = knots
    }

    public var startMillis: Int64 { trace.times.first ?? 0 }
    public var endMillis: Int64 { trace.times.last ?? 0 }

    /// The trace's own value at `t` (interpolated), scaled, without noise.
    public func base(at t: Int64) -> Double {
        let ts = trace.times
        if t <= ts[0] { return trace.values[0] * scale }
        if t >= ts[ts.count - 1] { return trace.values[ts.count - 1] * scale }
        var lo = 0, hi = ts.count - 1
        while hi - lo > 1 {
            let m = (lo + hi) / 2
            if ts[m] <= t { lo = m } else { hi = m }
        }
        let f = Double(t - ts[lo]) / Double(ts[hi] - ts[lo])
        return (trace.values[lo] * (1 - f) + trace.values[hi] * f) * scale
    }

    /// Demand at `t`, in instances at 100 % utilisation.
    public func demand(at t: Int64) -> Double {
        let b = base(at: t)
        guard noise > 0 else { return b }
        let m = Double(t - noiseStart) / 60_000
        let i = max(0, min(noiseKnots.count - 2, Int(m)))
        let f = min(1, max(0, m - Double(i)))
        let z = noiseKnots[i] * (1 - f) + noiseKnots[i + 1] * f
        return b * exp(z - noise * noise / 2)
    }
}
