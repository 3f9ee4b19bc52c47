import VigilCore

/// Calendar fields of a Unix time in UTC, computed exactly as Go's `time` package (1.19, which Prometheus 2.42
/// is built with) does, including its wrap-around for times far outside ±292 billion years: Prometheus' date
/// functions convert a sample value with Go's `int64(v)` (NaN, ±Inf and out-of-range values become
/// `math.MinInt64` on amd64) and read the fields of `time.Unix(sec, 0).UTC()`.
enum GoTime {
    static let secondsPerDay: UInt64 = 86400
    static let daysPer400Years: UInt64 = 365 * 400 + 97
    static let daysPer100Years: UInt64 = 365 * 100 + 24
    static let daysPer4Years: UInt64 = 365 * 4 + 1
    static let absoluteZeroYear: Int64 = -292_277_022_399
    static let unixToInternal: Int64 = (1969 * 365 + 1969 / 4 - 1969 / 100 + 1969 / 400) * 86400
    static let internalToAbsolute: Int64 = 9_223_371_966_579_724_800
    static let daysBefore: [Int] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365]

    /// Go's `int64(f)` on amd64: truncation; NaN, ±Inf and values outside int64 give `math.MinInt64`.
    static func int64(_ f: Double) -> Int64 {
        if f.isNaN || f >= 9_223_372_036_854_775_808.0 || f < -9_223_372_036_854_775_808.0 { return .min }
        return Int64(f)
    }

    struct Fields {
        var year: Int64
        var month: Int
        var day: Int
        /// 1-based day of the year.
        var yearDay: Int
        /// 0 = Sunday.
        var weekday: Int
        var hour: Int
        var minute: Int
    }

    static func isLeap(_ y: Int64) -> Bool { y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) }

    static func fields(unixSeconds sec: Int64) -> Fields {
        let abs = UInt64(bitPattern: sec &+ (unixToInternal &+ internalToAbsolute))
        var d = abs / secondsPerDay
        var n = d / daysPer400Years
        var y = 400 * n
        d -= daysPer400Years * n
        n = d / daysPer100Years
        n -= n >> 2
        y += 100 * n
        d -= daysPer100Years * n
        n = d / daysPer4Years
        y += 4 * n
        d -= daysPer4Years * n
        n = d / 365
        n -= n >> 2
        y += n
        d -= 365 * n
        let year = Int64(bitPattern: y) &+ absoluteZeroYear
        let yday = Int(d)
        var day = yday
        var month = 0
        var done = false
        if isLeap(year) {
            if day > 31 + 29 - 1 {
                day -= 1
            } else if day == 31 + 29 - 1 {
                month = 2
                day = 29
                done = true
            }
        }
        if !done {
            var m = day / 31
            let end = daysBefore[m + 1]
            let begin: Int
            if day >= end {
                m += 1
                begin = end
            } else {
                begin = daysBefore[m]
            }
            month = m + 1
            day = day - begin + 1
        }
        let weekday = Int((abs &+ 86400) % (7 * secondsPerDay) / secondsPerDay) // abs day 0 is a Monday
        let hour = Int(abs % secondsPerDay) / 3600
        let minute = Int(abs % 3600) / 60
        return Fields(year: year, month: month, day: day, yearDay: yday + 1, weekday: weekday, hour: hour, minute: minute)
    }

    static func daysInMonth(_ f: Fields) -> Int {
        switch f.month {
        case 2: return isLeap(f.year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}

extension Evaluator {
    static let dateFunctions: [String: @Sendable (GoTime.Fields) -> Double] = [
        "day_of_month": { Double($0.day) },
        "day_of_week": { Double($0.weekday) },
        "day_of_year": { Double($0.yearDay) },
        "days_in_month": { Double(GoTime.daysInMonth($0)) },
        "hour": { Double($0.hour) },
        "minute": { Double($0.minute) },
        "month": { Double($0.month) },
        "year": { Double($0.year) },
    ]

    /// Prometheus' `dateWrapper`: without an argument, the field of the evaluation time (`vector(time())`,
    /// whole seconds); with one, the field of each sample's value taken as Unix seconds, metric name dropped.
    mutating func evalDateFunction(_ name: String, _ fn: (GoTime.Fields) -> Double, _ args: [Expr], _ g: Grid) throws -> EvalValue {
        if args.isEmpty {
            let vals = (0..<g.count).map { fn(GoTime.fields(unixSeconds: g.t($0) / 1000)) }
            return .vector([VSeries(labels: .empty, values: vals)])
        }
        var out = try evalVector(args[0], g)
        for i in out.indices {
            out[i].labels = out[i].labels.withoutMetricName
            for k in 0..<g.count where !out[i].values[k].isAbsent {
                out[i].values[k] = fn(GoTime.fields(unixSeconds: GoTime.int64(out[i].values[k])))
            }
        }
        return .vector(try mergeSameLabels(out, g))
    }
}
