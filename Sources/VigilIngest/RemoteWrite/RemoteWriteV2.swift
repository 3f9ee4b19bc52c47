import VigilCore

/// Prometheus remote_write 2.0: `io.prometheus.write.v2.Request`.
///
/// ```
/// Request    { reserved 1 to 3; repeated string symbols = 4; repeated TimeSeries timeseries = 5; }
/// TimeSeries { repeated uint32 labels_refs = 1; repeated Sample samples = 2; repeated Histogram histograms = 3;
///              repeated Exemplar exemplars = 4; Metadata metadata = 5; int64 created_timestamp = 6; }
/// Sample     { double value = 1; int64 timestamp = 2; }
/// Metadata   { MetricType type = 1; uint32 help_ref = 3; uint32 unit_ref = 4; }
/// ```
/// `symbols[0]` must be the empty string; `labels_refs` has an even length (name, value pairs) and every
/// reference must be inside `symbols`. Violations are `IngestError.Code.badReference`, naming the series.
/// Exemplars and native histograms are counted and skipped, as in 1.0.
public enum RemoteWriteV2 {
    public static let contentType = "application/x-protobuf;proto=io.prometheus.write.v2.Request"

    public static func decode(_ body: UnsafeRawBufferPointer, limits: IngestLimits = .default) throws(IngestError) -> ParseResult {
        var r = ProtoReader(body, message: "Request")
        var symbols: [String] = []
        var seriesRanges: [Range<Int>] = []
        // Symbols may follow the series on the wire: collect first, decode series second.
        while !r.isAtEnd {
            let (field, wire) = try r.readKey()
            switch field {
            case 4:
                try r.expect(wire, .lengthDelimited, field: 4, "symbols")
                symbols.append(try r.readString("symbol"))
            case 5:
                try r.expect(wire, .lengthDelimited, field: 5, "timeseries")
                seriesRanges.append(try r.readLengthDelimited())
            default:
                try r.skip(wire, field: field)
            }
        }
        if let first = symbols.first, !first.isEmpty {
            throw IngestError(.badReference, "cannot decode Request: symbols[0] must be the empty string, got \"\(first.prefix(64))\"")
        }
        var result = ParseResult()
        result.series.reserveCapacity(seriesRanges.count)
        result.createdTimestamps.reserveCapacity(seriesRanges.count)
        let checks = LabelChecks(limits: limits)
        var labels: [Label] = []
        var seenFamilies = Set<String>()
        for (i, range) in seriesRanges.enumerated() {
            do throws(IngestError) {
                try decodeTimeSeries(r.sub(range, "TimeSeries"), symbols: symbols, labels: &labels, result: &result,
                                     seenFamilies: &seenFamilies, checks: checks, index: i)
            } catch {
                throw error.series == nil ? error.inSeries(i, "timeseries #\(i): ") : error
            }
        }
        return result
    }

    public static func decode(_ body: [UInt8], limits: IngestLimits = .default) throws(IngestError) -> ParseResult {
        try withUnsafeBytesTyped(body) { (b) throws(IngestError) in try decode(b, limits: limits) }
    }

    public static func decodeSnappy(_ body: [UInt8], limits: IngestLimits = .default) throws(IngestError) -> ParseResult {
        try decode(try Snappy.decompress(body, maxDecodedSize: limits.maxDecodedBytes), limits: limits)
    }

    static func symbol(_ ref: UInt64, _ symbols: [String], _ what: String, at offset: Int) throws(IngestError) -> String {
        guard ref < UInt64(symbols.count) else {
            throw IngestError(.badReference, "\(what) reference \(ref) is out of range (\(symbols.count) symbols) at byte \(offset)",
                              offset: offset)
        }
        return symbols[Int(ref)]
    }

    static func decodeTimeSeries(_ reader: ProtoReader, symbols: [String], labels: inout [Label], result: inout ParseResult,
                                 seenFamilies: inout Set<String>, checks: LabelChecks, index: Int) throws(IngestError) {
        var r = reader
        labels.removeAll(keepingCapacity: true)
        var pendingName: String? = nil
        var ts: [Int64] = []
        var vs: [Double] = []
        var meta: (type: UInt64, help: String, unit: String)? = nil
        var created: Int64 = 0
        let maxLabels = checks.limits.maxLabelsPerSeries
        while !r.isAtEnd {
            let (field, wire) = try r.readKey()
            switch field {
            case 1:
                let at = r.pos
                try r.readRepeatedVarint(wire, field: 1, "labels_refs") { (ref) throws(IngestError) in
                    let s = try symbol(ref, symbols, "label", at: at)
                    if let n = pendingName {
                        if labels.count >= maxLabels {
                            throw IngestError(.limit, "more than \(maxLabels) labels in one series", offset: at)
                        }
                        labels.append(Label(n, s))
                        pendingName = nil
                    } else {
                        pendingName = s
                    }
                }
            case 2:
                try r.expect(wire, .lengthDelimited, field: 2, "samples")
                let (t, v) = try r.readRemoteWriteSample()
                ts.append(t)
                vs.append(v)
            case 3:
                try r.expect(wire, .lengthDelimited, field: 3, "histograms")
                _ = try r.readLengthDelimited()
                result.stats.histograms += 1
                result.stats.skip(.nativeHistogram)
            case 4:
                try r.expect(wire, .lengthDelimited, field: 4, "exemplars")
                _ = try r.readLengthDelimited()
                result.stats.exemplars += 1
                result.stats.skip(.exemplar)
            case 5:
                try r.expect(wire, .lengthDelimited, field: 5, "metadata")
                var mr = r.sub(try r.readLengthDelimited(), "Metadata")
                var m: (type: UInt64, help: String, unit: String) = (0, "", "")
                while !mr.isAtEnd {
                    let at = mr.pos
                    let (f, w) = try mr.readKey()
                    switch f {
                    case 1: try mr.expect(w, .varint, field: 1, "type"); m.type = try mr.readVarint()
                    case 3: try mr.expect(w, .varint, field: 3, "help_ref"); m.help = try symbol(try mr.readVarint(), symbols, "help", at: at)
                    case 4: try mr.expect(w, .varint, field: 4, "unit_ref"); m.unit = try symbol(try mr.readVarint(), symbols, "unit", at: at)
                    default: try mr.skip(w, field: f)
                    }
                }
                meta = m
            case 6:
                try r.expect(wire, .varint, field: 6, "created_timestamp")
                created = Int64(bitPattern: try r.readVarint())
            default:
                try r.skip(wire, field: field)
            }
        }
        if pendingName != nil {
            throw IngestError(.badReference, "labels_refs has an odd number of references")
        }
        let l = try checks.finish(&labels, at: "timeseries #\(index)", series: index)
        if let m = meta, let family = l.metricName, m.type != 0 || !m.help.isEmpty || !m.unit.isEmpty,
           seenFamilies.insert(family).inserted {
            result.metadata.append(MetricMetadata(family: family, type: RemoteWriteV1.metricType(m.type), help: m.help, unit: m.unit))
        }
        result.stats.samples += ts.count
        result.series.append(SeriesSamples(labels: l, timestamps: ts, values: vs))
        result.createdTimestamps.append(created)
    }

    /// Encodes a v2 `Request` (uncompressed) with a deduplicated symbols table (`symbols[0] == ""`).
    /// `metadata` entries are attached to the series whose metric name equals their family.
    /// `createdTimestamps`, when not empty, has one entry per series (0 = absent).
    public static func encode(_ series: [SeriesSamples], metadata: [MetricMetadata] = [],
                              createdTimestamps: [Int64] = []) -> [UInt8] {
        var table: [String: UInt32] = ["": 0]
        var symbols: [String] = [""]
        func ref(_ s: String) -> UInt32 {
            if let r = table[s] { return r }
            let r = UInt32(symbols.count)
            symbols.append(s)
            table[s] = r
            return r
        }
        var metaByFamily: [String: MetricMetadata] = [:]
        for m in metadata { metaByFamily[m.family] = m }
        var body = ProtoWriter()
        for (i, s) in series.enumerated() {
            body.message(5) { ts in
                var refs = ProtoWriter()
                for l in s.labels {
                    refs.varint(UInt64(ref(l.name)))
                    refs.varint(UInt64(ref(l.value)))
                }
                ts.bytesField(1, refs.bytes)
                for k in 0..<s.count {
                    ts.message(2) { sw in
                        sw.doubleField(1, s.values[k])
                        sw.int64Field(2, s.timestamps[k])
                    }
                }
                if let name = s.labels.metricName, let m = metaByFamily[name] {
                    ts.message(5) { mw in
                        mw.varintField(1, RemoteWriteV1.metricTypeNumber(m.type))
                        if !m.help.isEmpty { mw.varintField(3, UInt64(ref(m.help))) }
                        if !m.unit.isEmpty { mw.varintField(4, UInt64(ref(m.unit))) }
                    }
                }
                if i < createdTimestamps.count, createdTimestamps[i] != 0 { ts.int64Field(6, createdTimestamps[i]) }
            }
        }
        var w = ProtoWriter()
        for s in symbols { w.stringField(4, s) }
        w.bytes.append(contentsOf: body.bytes)
        return w.bytes
    }

    public static func encodeSnappy(_ series: [SeriesSamples], metadata: [MetricMetadata] = [],
                                    createdTimestamps: [Int64] = []) -> [UInt8] {
        Snappy.compress(encode(series, metadata: metadata, createdTimestamps: createdTimestamps))
    }
}
