import VigilCore

/// OTLP/HTTP metrics (`POST /v1/metrics`), protobuf and JSON encodings, mapped to Prometheus series the way
/// Prometheus' own OTLP receiver does (otlptranslator, "underscore escaping with suffixes"):
///
/// - Metric names: characters outside `[a-zA-Z0-9:]` split words, joined by `_`; the unit is appended as a word
///   (`s` → `seconds`, `By` → `bytes`, `1/s` → `per_second`, `{packets}` annotations dropped, see `unitWords`);
///   a gauge with unit `1` gets `_ratio`; a monotonic cumulative sum gets `_total`.
/// - Gauge → gauge. Sum: monotonic + cumulative → counter `<name>_total`; non-monotonic cumulative → gauge.
///   Delta (and unspecified) temporality sums and histograms are **skipped** and counted in
///   `stats.skipped[.deltaTemporality]` (as Prometheus does without its delta-conversion feature flag).
/// - Histogram → `<name>_bucket{le}` (cumulative, `+Inf` = count), `<name>_sum` (when present), `<name>_count`.
///   Exponential histograms are skipped (`.exponentialHistogram`).
/// - Summary → `<name>{quantile}`, `<name>_sum`, `<name>_count`.
/// - Resource `service.name` (prefixed by `service.namespace/` when set) → `job`, `service.instance.id` → `instance`;
///   the other resource attributes go to one `target_info` series (value 1) per resource when
///   `Options.emitTargetInfo` is set. Data-point attributes → labels (sanitised; a leading digit gets `key_`,
///   a single leading `_` gets `key`; values of attributes that sanitise to the same name are joined with `;`).
/// - Timestamps: `time_unix_nano` / 10^6 (ms, rounded down); 0 → `defaultTimestamp`. A point flagged
///   `FLAG_NO_RECORDED_VALUE` becomes a Prometheus stale marker. Start times of cumulative points go to
///   `ParseResult.createdTimestamps`.
public enum OTLPMetrics {
    public struct Options: Sendable, Equatable {
        public var emitTargetInfo: Bool
        public init(emitTargetInfo: Bool = true) { self.emitTargetInfo = emitTargetInfo }
    }

    public static let protobufContentType = "application/x-protobuf"
    public static let jsonContentType = "application/json"

    public static func decodeProtobuf(_ body: [UInt8], defaultTimestamp: Int64, limits: IngestLimits = .default,
                                      options: Options = Options()) throws(IngestError) -> ParseResult {
        try convert(try OTLPProtobuf.decode(body), defaultTimestamp: defaultTimestamp, limits: limits, options: options)
    }

    public static func decodeJSON(_ body: [UInt8], defaultTimestamp: Int64, limits: IngestLimits = .default,
                                  options: Options = Options()) throws(IngestError) -> ParseResult {
        try convert(try OTLPJSON.decode(body), defaultTimestamp: defaultTimestamp, limits: limits, options: options)
    }

    // MARK: - Names

    static let unitWords: [String: String] = [
        "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds",
        "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes",
        "TiBy": "tebibytes", "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
        "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius",
        "Hz": "hertz", "%": "percent", "1": "",
    ]
    static let perUnitWords: [String: String] = [
        "s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year",
    ]

    static func words(_ s: String) -> [String] {
        var out: [String] = []
        var cur: [UInt8] = []
        for b in s.utf8 {
            let ok = (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39) || b == 0x3A
            if ok { cur.append(b) } else if !cur.isEmpty { out.append(String(decoding: cur, as: UTF8.self)); cur.removeAll() }
        }
        if !cur.isEmpty { out.append(String(decoding: cur, as: UTF8.self)) }
        return out
    }

    /// The unit's words (`"By"` → `["bytes"]`, `"1/s"` → `["per", "second"]`), annotations in braces removed.
    static func unitSuffix(_ unit: String) -> [String] {
        var u = ""
        var depth = 0
        for c in unit {
            if c == "{" { depth += 1 } else if c == "}" { depth = max(0, depth - 1) } else if depth == 0 { u.append(c) }
        }
        u = u.trimmingBlanks()
        if u.isEmpty { return [] }
        let parts = u.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map { String($0).trimmingBlanks() }
        var out: [String] = []
        if let main = parts.first, !main.isEmpty {
            out += words(unitWords[main] ?? main)
        }
        if parts.count == 2, !parts[1].isEmpty {
            out += ["per"] + words(perUnitWords[parts[1]] ?? parts[1])
        }
        return out
    }

    /// The Prometheus name of an OTLP metric (without `_bucket`/`_sum`/`_count`).
    public static func prometheusName(_ metric: OTLP.Metric) -> String {
        var w = words(metric.name)
        for word in unitSuffix(metric.unit) where !w.contains(word) { w.append(word) }
        switch metric.data {
        case .gauge:
            if metric.unit == "1" && !w.contains("ratio") { w.append("ratio") }
        case .sum(_, let t, let monotonic) where monotonic && t == .cumulative:
            w.removeAll { $0 == "total" }
            w.append("total")
        default: break
        }
        var name = w.joined(separator: "_")
        if let f = name.utf8.first, f >= 0x30 && f <= 0x39 { name = "_" + name }
        return name
    }

    /// Prometheus' `NormalizeLabel`: sanitise, `key_` before a leading digit, `key` before a single leading `_`.
    static func labelName(_ key: String) -> String {
        var n = NameSanitizer.labelName(key)
        if n.hasPrefix("_") && !n.hasPrefix("__") { n = "key" + n }
        return n
    }

    // MARK: - Conversion

    struct Emitter {
        var result = ParseResult()
        let checks: LabelChecks
        let defaultTimestamp: Int64
        var index = 0
        var maxTimestamp: Int64 = .min

        mutating func emit(_ base: [Label], name: String, extra: Label? = nil, t: Int64, v: Double, created: Int64,
                           place: String) throws(IngestError) {
            var labels = base
            labels.append(Label(Labels.metricNameLabel, name))
            if let e = extra {
                labels.removeAll { $0.name == e.name }
                labels.append(e)
            }
            let l = try checks.finish(&labels, at: place, series: index)
            result.stats.samples += 1
            maxTimestamp = max(maxTimestamp, t)
            if let last = result.series.last, last.labels == l {
                result.series[result.series.count - 1].append(t, v)
            } else {
                result.series.append(SeriesSamples(labels: l, timestamps: [t], values: [v]))
                result.createdTimestamps.append(created)
            }
        }

        func millis(_ ns: UInt64) -> Int64 { ns == 0 ? defaultTimestamp : Int64(ns / 1_000_000) }
    }

    static func formatBound(_ v: Double) -> String {
        if v == .infinity { return "+Inf" }
        if v == -.infinity { return "-Inf" }
        if v.isNaN { return "NaN" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    static func baseLabels(_ attrs: [OTLP.Attribute], resource: [Label]) -> [Label] {
        var out: [Label] = []
        out.reserveCapacity(attrs.count + resource.count + 2)
        // Sanitised names that collide get their values joined with ";" (ordered by original key, as Prometheus).
        for a in attrs.sorted(by: { $0.key < $1.key }) where !a.value.isEmpty {
            let n = labelName(a.key)
            if let i = out.firstIndex(where: { $0.name == n }) { out[i].value += ";" + a.value } else { out.append(Label(n, a.value)) }
        }
        for r in resource {
            out.removeAll { $0.name == r.name }
            out.append(r)
        }
        return out
    }

    public static func convert(_ request: OTLP.Request, defaultTimestamp: Int64, limits: IngestLimits = .default,
                               options: Options = Options()) throws(IngestError) -> ParseResult {
        var e = Emitter(checks: LabelChecks(limits: limits), defaultTimestamp: defaultTimestamp)
        var seenMeta = Set<String>()
        for (ri, rm) in request.resourceMetrics.enumerated() {
            var service = ""
            var namespace = ""
            var instance = ""
            var others: [OTLP.Attribute] = []
            for a in rm.resourceAttributes {
                switch a.key {
                case "service.name": service = a.value
                case "service.namespace": namespace = a.value
                case "service.instance.id": instance = a.value
                default: others.append(a)
                }
            }
            var resource: [Label] = []
            if !service.isEmpty { resource.append(Label("job", namespace.isEmpty ? service : namespace + "/" + service)) }
            if !instance.isEmpty { resource.append(Label("instance", instance)) }
            e.maxTimestamp = .min
            var emitted = false
            for sm in rm.scopeMetrics {
                for m in sm.metrics {
                    let name = prometheusName(m)
                    let place = "resource #\(ri) metric \"\(m.name.prefix(100))\""
                    if name.isEmpty { throw IngestError(.invalidLabel, "\(place): metric name is empty after sanitising") }
                    var metaType: MetricMetadata.MetricType = .unknown
                    switch m.data {
                    case .none:
                        e.result.stats.skip(.emptyMetric)
                    case .exponentialHistogram(let n):
                        e.result.stats.skip(.exponentialHistogram, n)
                    case .gauge(let points):
                        metaType = .gauge
                        for p in points {
                            let v = p.flags & OTLP.flagNoRecordedValue != 0 ? Double.staleNaN : p.value
                            try e.emit(baseLabels(p.attributes, resource: resource), name: name, t: e.millis(p.timeUnixNano),
                                       v: v, created: 0, place: "\(place) point #\(e.index)")
                            e.index += 1
                        }
                    case .sum(let points, let t, let monotonic):
                        guard t == .cumulative else { e.result.stats.skip(.deltaTemporality, points.count); continue }
                        metaType = monotonic ? .counter : .gauge
                        for p in points {
                            let v = p.flags & OTLP.flagNoRecordedValue != 0 ? Double.staleNaN : p.value
                            try e.emit(baseLabels(p.attributes, resource: resource), name: name, t: e.millis(p.timeUnixNano),
                                       v: v, created: monotonic ? Int64(p.startTimeUnixNano / 1_000_000) : 0,
                                       place: "\(place) point #\(e.index)")
                            e.index += 1
                        }
                    case .histogram(let points, let t):
                        guard t == .cumulative else { e.result.stats.skip(.deltaTemporality, points.count); continue }
                        metaType = .histogram
                        for p in points {
                            let at = "\(place) point #\(e.index)"
                            if !p.bucketCounts.isEmpty && p.bucketCounts.count != p.explicitBounds.count + 1 {
                                throw IngestError(.badValue, "\(at): \(p.bucketCounts.count) bucket counts for \(p.explicitBounds.count) bounds (want bounds + 1)",
                                                  series: e.index)
                            }
                            let stale = p.flags & OTLP.flagNoRecordedValue != 0
                            let base = baseLabels(p.attributes, resource: resource)
                            let ts = e.millis(p.timeUnixNano)
                            let created = Int64(p.startTimeUnixNano / 1_000_000)
                            var cumulative: UInt64 = 0
                            for (k, bound) in p.explicitBounds.enumerated() where k < p.bucketCounts.count {
                                cumulative &+= p.bucketCounts[k]
                                try e.emit(base, name: name + "_bucket", extra: Label("le", formatBound(bound)), t: ts,
                                           v: stale ? .staleNaN : Double(cumulative), created: created, place: at)
                            }
                            try e.emit(base, name: name + "_bucket", extra: Label("le", "+Inf"), t: ts,
                                       v: stale ? .staleNaN : Double(p.count), created: created, place: at)
                            if let s = p.sum {
                                try e.emit(base, name: name + "_sum", t: ts, v: stale ? .staleNaN : s, created: created, place: at)
                            }
                            try e.emit(base, name: name + "_count", t: ts, v: stale ? .staleNaN : Double(p.count), created: created, place: at)
                            e.index += 1
                        }
                    case .summary(let points):
                        metaType = .summary
                        for p in points {
                            let at = "\(place) point #\(e.index)"
                            let stale = p.flags & OTLP.flagNoRecordedValue != 0
                            let base = baseLabels(p.attributes, resource: resource)
                            let ts = e.millis(p.timeUnixNano)
                            let created = Int64(p.startTimeUnixNano / 1_000_000)
                            for q in p.quantiles {
                                try e.emit(base, name: name, extra: Label("quantile", formatBound(q.quantile)), t: ts,
                                           v: stale ? .staleNaN : q.value, created: created, place: at)
                            }
                            try e.emit(base, name: name + "_sum", t: ts, v: stale ? .staleNaN : p.sum, created: created, place: at)
                            try e.emit(base, name: name + "_count", t: ts, v: stale ? .staleNaN : Double(p.count), created: created, place: at)
                            e.index += 1
                        }
                    }
                    if metaType != .unknown {
                        emitted = true
                        let family = metaType == .counter && name.hasSuffix("_total") ? String(name.dropLast(6)) : name
                        if seenMeta.insert(family).inserted {
                            let unit = unitSuffix(m.unit).joined(separator: "_")
                            e.result.metadata.append(MetricMetadata(family: family, type: metaType, help: m.description, unit: unit))
                        }
                    }
                }
            }
            if options.emitTargetInfo && emitted && !others.isEmpty {
                let t = e.maxTimestamp == .min ? defaultTimestamp : e.maxTimestamp
                try e.emit(baseLabels(others, resource: resource), name: "target_info", t: t, v: 1, created: 0,
                           place: "resource #\(ri) target_info")
            }
        }
        return e.result
    }
}
