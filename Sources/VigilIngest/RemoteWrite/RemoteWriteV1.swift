import VigilCore

/// Prometheus remote_write 1.0: `prometheus.WriteRequest` (prompb/remote.proto, types.proto).
///
/// ```
/// WriteRequest   { repeated TimeSeries timeseries = 1; reserved 2; repeated MetricMetadata metadata = 3; }
/// TimeSeries     { repeated Label labels = 1; repeated Sample samples = 2;
///                  repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
/// Label          { string name = 1; string value = 2; }
/// Sample         { double value = 1; int64 timestamp = 2; }
/// MetricMetadata { MetricType type = 1; string metric_family_name = 2; string help = 4; string unit = 5; }
/// ```
/// Exemplars and native histograms are wire-checked (skipped as length-delimited payloads) and counted in
/// `stats.exemplars` / `stats.histograms` and `stats.skipped`; they are not converted to samples.
public enum RemoteWriteV1 {
    /// Decodes an uncompressed `WriteRequest`.
    public static func decode(_ body: UnsafeRawBufferPointer, limits: IngestLimits = .default) throws(IngestError) -> ParseResult {
        var result = ParseResult()
        let checks = LabelChecks(limits: limits)
        var r = ProtoReader(body, message: "WriteRequest")
        var labels: [Label] = []
        var seriesIndex = 0
        while !r.isAtEnd {
            let (field, wire) = try r.readKey()
            switch field {
            case 1:
                try r.expect(wire, .lengthDelimited, field: 1, "timeseries")
                let range = try r.readLengthDelimited()
                do throws(IngestError) {
                    let s = try decodeTimeSeries(r.sub(range, "TimeSeries"), labels: &labels, stats: &result.stats,
                                                 checks: checks, index: seriesIndex)
                    result.series.append(s)
                } catch {
                    throw error.series == nil ? error.inSeries(seriesIndex, "timeseries #\(seriesIndex): ") : error
                }
                seriesIndex += 1
            case 3:
                try r.expect(wire, .lengthDelimited, field: 3, "metadata")
                let range = try r.readLengthDelimited()
                result.metadata.append(try decodeMetadata(r.sub(range, "MetricMetadata")))
            default:
                try r.skip(wire, field: field)
            }
        }
        return result
    }

    public static func decode(_ body: [UInt8], limits: IngestLimits = .default) throws(IngestError) -> ParseResult {
        try withUnsafeBytesTyped(body) { (b) throws(IngestError) in try decode(b, limits: limits) }
    }

    /// Snappy-decompresses (bounded by `limits.maxDecodedBytes`) then decodes.
    public static func decodeSnappy(_ body: [UInt8], limits: IngestLimits = .default) throws(IngestError) -> ParseResult {
        try decode(try Snappy.decompress(body, maxDecodedSize: limits.maxDecodedBytes), limits: limits)
    }

    static func decodeTimeSeries(_ reader: ProtoReader, labels: inout [Label], stats: inout IngestStats,
                                 checks: LabelChecks, index: Int) throws(IngestError) -> SeriesSamples {
        var r = reader
        labels.removeAll(keepingCapacity: true)
        var ts: [Int64] = []
        var vs: [Double] = []
        while !r.isAtEnd {
            let (field, wire) = try r.readKey()
            switch field {
            case 1:
                try r.expect(wire, .lengthDelimited, field: 1, "labels")
                try decodeLabel(r.sub(try r.readLengthDelimited(), "Label"), into: &labels, checks: checks)
            default:
                try r.readTimeSeriesNonLabelField(field, wire, &ts, &vs, &stats)
            }
        }
        let l = try checks.finish(&labels, at: "timeseries #\(index)", series: index)
        stats.samples += ts.count
        return SeriesSamples(labels: l, timestamps: ts, values: vs)
    }

    /// One `Label` message appended to `labels` (the per-series label count limit checked first).
    static func decodeLabel(_ reader: ProtoReader, into labels: inout [Label], checks: LabelChecks) throws(IngestError) {
        var lr = reader
        var name = ""
        var value = ""
        while !lr.isAtEnd {
            let (f, w) = try lr.readKey()
            switch f {
            case 1: try lr.expect(w, .lengthDelimited, field: 1, "name"); name = try lr.readString("label name")
            case 2: try lr.expect(w, .lengthDelimited, field: 2, "value"); value = try lr.readString("label value")
            default: try lr.skip(w, field: f)
            }
        }
        if labels.count >= checks.limits.maxLabelsPerSeries {
            throw IngestError(.limit, "more than \(checks.limits.maxLabelsPerSeries) labels in one series", offset: lr.pos)
        }
        labels.append(Label(name, value))
    }

    static func decodeMetadata(_ reader: ProtoReader) throws(IngestError) -> MetricMetadata {
        var r = reader
        var m = MetricMetadata(family: "")
        while !r.isAtEnd {
            let (f, w) = try r.readKey()
            switch f {
            case 1: try r.expect(w, .varint, field: 1, "type"); m.type = metricType(try r.readVarint())
            case 2: try r.expect(w, .lengthDelimited, field: 2, "metric_family_name"); m.family = try r.readString("metric_family_name")
            case 4: try r.expect(w, .lengthDelimited, field: 4, "help"); m.help = try r.readString("help")
            case 5: try r.expect(w, .lengthDelimited, field: 5, "unit"); m.unit = try r.readString("unit")
            default: try r.skip(w, field: f)
            }
        }
        return m
    }

    /// prompb MetricType / v2 Metadata.MetricType: UNKNOWN=0, COUNTER=1, GAUGE=2, HISTOGRAM=3, GAUGEHISTOGRAM=4,
    /// SUMMARY=5, INFO=6, STATESET=7. Unknown numbers map to `.unknown`.
    static func metricType(_ v: UInt64) -> MetricMetadata.MetricType {
        switch v {
        case 1: return .counter
        case 2: return .gauge
        case 3: return .histogram
        case 4: return .gaugehistogram
        case 5: return .summary
        case 6: return .info
        case 7: return .stateset
        default: return .unknown
        }
    }

    static func metricTypeNumber(_ t: MetricMetadata.MetricType) -> UInt64 {
        switch t {
        case .unknown: return 0
        case .counter: return 1
        case .gauge: return 2
        case .histogram: return 3
        case .gaugehistogram: return 4
        case .summary: return 5
        case .info: return 6
        case .stateset: return 7
        }
    }

    /// Encodes a `WriteRequest` (uncompressed) the way Prometheus and `rw_load.py` do: labels in the given
    /// (sorted) order, one `Sample` per timestamp.
    public static func encode(_ series: [SeriesSamples], metadata: [MetricMetadata] = []) -> [UInt8] {
        var w = ProtoWriter()
        w.bytes.reserveCapacity(series.count * 128)
        for s in series {
            w.message(1) { ts in
                for l in s.labels {
                    ts.message(1) { lw in
                        lw.stringField(1, l.name)
                        lw.stringField(2, l.value)
                    }
                }
                for i in 0..<s.count {
                    ts.message(2) { sw in
                        sw.doubleField(1, s.values[i])
                        sw.int64Field(2, s.timestamps[i])
                    }
                }
            }
        }
        for m in metadata {
            w.message(3) { mw in
                mw.varintField(1, metricTypeNumber(m.type))
                mw.stringField(2, m.family)
                if !m.help.isEmpty { mw.stringField(4, m.help) }
                if !m.unit.isEmpty { mw.stringField(5, m.unit) }
            }
        }
        return w.bytes
    }

    /// `encode` followed by snappy block compression: a complete remote_write 1.0 HTTP body.
    public static func encodeSnappy(_ series: [SeriesSamples], metadata: [MetricMetadata] = []) -> [UInt8] {
        Snappy.compress(encode(series, metadata: metadata))
    }
}
