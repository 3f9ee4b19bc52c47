import Foundation
import VigilCore

/// Hand-written decoder/encoder for `opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest`.
///
/// ```
/// ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
/// ResourceMetrics  { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; string schema_url = 3; }
/// Resource         { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
/// ScopeMetrics     { InstrumentationScope scope = 1; repeated Metric metrics = 2; string schema_url = 3; }
/// InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; }
/// Metric           { string name = 1; string description = 2; string unit = 3; oneof data { Gauge gauge = 5;
///                    Sum sum = 7; Histogram histogram = 9; ExponentialHistogram exponential_histogram = 10;
///                    Summary summary = 11; } repeated KeyValue metadata = 12; }
/// Gauge { repeated NumberDataPoint data_points = 1; }
/// Sum   { repeated NumberDataPoint data_points = 1; AggregationTemporality aggregation_temporality = 2; bool is_monotonic = 3; }
/// Histogram { repeated HistogramDataPoint data_points = 1; AggregationTemporality aggregation_temporality = 2; }
/// Summary { repeated SummaryDataPoint data_points = 1; }
/// NumberDataPoint { repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
///                   double as_double = 4; sfixed64 as_int = 6; repeated Exemplar exemplars = 5; uint32 flags = 8; }
/// HistogramDataPoint { repeated KeyValue attributes = 9; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
///                   fixed64 count = 4; optional double sum = 5; repeated fixed64 bucket_counts = 6;
///                   repeated double explicit_bounds = 7; repeated Exemplar exemplars = 8; uint32 flags = 10; … }
/// SummaryDataPoint { repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
///                   fixed64 count = 4; double sum = 5; repeated ValueAtQuantile quantile_values = 6; uint32 flags = 8; }
/// ValueAtQuantile { double quantile = 1; double value = 2; }
/// KeyValue { string key = 1; AnyValue value = 2; }
/// AnyValue { oneof { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
///            ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7; } }
/// ArrayValue { repeated AnyValue values = 1; }   KeyValueList { repeated KeyValue values = 1; }
/// ```
public enum OTLPProtobuf {
    public static func decode(_ body: [UInt8]) throws(IngestError) -> OTLP.Request {
        try withUnsafeBytesTyped(body) { (b) throws(IngestError) in try decode(b) }
    }

    public static func decode(_ body: UnsafeRawBufferPointer) throws(IngestError) -> OTLP.Request {
        var r = ProtoReader(body, message: "ExportMetricsServiceRequest")
        var out: [OTLP.ResourceMetrics] = []
        while !r.isAtEnd {
            let (f, w) = try r.readKey()
            if f == 1 {
                try r.expect(w, .lengthDelimited, field: 1, "resource_metrics")
                out.append(try resourceMetrics(r.sub(try r.readLengthDelimited(), "ResourceMetrics")))
            } else {
                try r.skip(w, field: f)
            }
        }
        return OTLP.Request(resourceMetrics: out)
    }

    static func resourceMetrics(_ reader: ProtoReader) throws(IngestError) -> OTLP.ResourceMetrics {
        var r = reader
        var rm = OTLP.ResourceMetrics(scopeMetrics: [])
        while !r.isAtEnd {
            let (f, w) = try r.readKey()
            switch f {
            case 1:
                try r.expect(w, .lengthDelimited, field: 1, "resource")
                var rr = r.sub(try r.readLengthDelimited(), "Resource")
                while !rr.isAtEnd {
                    let (f2, w2) = try rr.readKey()
                    if f2 == 1 {
                        try rr.expect(w2, .lengthDelimited, field: 1, "attributes")
                        rm.resourceAttributes.append(try keyValue(rr.sub(try rr.readLengthDelimited(), "KeyValue"), depth: 0))
                    } else { try rr.skip(w2, field: f2) }
                }
            case 2:
                try r.expect(w, .lengthDelimited, field: 2, "scope_metrics")
                rm.scopeMetrics.append(try scopeMetrics(r.sub(try r.readLengthDelimited(), "ScopeMetrics")))
            default: try r.skip(w, field: f)
            }
        }
        return rm
    }

    static func scopeMetrics(_ reader: ProtoReader) throws(IngestError) -> OTLP.ScopeMetrics {
        var r = reader
        var sm = OTLP.ScopeMetrics(metrics: [])
        while !r.isAtEnd {
            let (f, w) = try r.readKey()
            switch f {
            case 1:
                try r.expect(w, .lengthDelimited, field: 1, "scope")
                var sr = r.sub(try r.readLengthDelimited(), "InstrumentationScope")
                while !sr.isAtEnd {
                    let (f2, w2) = try sr.readKey()
                    switch f2 {
                    case 1: try sr.expect(w2, .lengthDelimited, field: 1, "name"); sm.scopeName = try sr.readString("scope name")
                    case 2: try sr.expect(w2, .lengthDelimited, field: 2, "version"); sm.scopeVersion = try sr.readString("scope version")
                    default: try sr.skip(w2, field: f2)
                    }
                }
            case 2:
                try r.expect(w, .lengthDelimited, field: 2, "metrics")
                sm.metrics.append(try metric(r.sub(try r.readLengthDelimited(), "Metric")))
            default: try r.skip(w, field: f)
            }
        }
        return sm
    }

    static func metric(_ reader: ProtoReader) throws(IngestError) -> OTLP.Metric {
        var r = reader
        var m = OTLP.Metric(name: "", data: .none)
        while !r.isAtEnd {
            let (f, w) = try r.readKey()
            switch f {
            case 1: try r.expect(w, .lengthDelimited, field: 1, "name"); m.name = try r.readString("metric name")
            case 2: try r.expect(w, .lengthDelimited, field: 2, "description"); m.description = try r.readString("description")
            case 3: try r.expect(w, .lengthDelimited, field: 3, "unit"); m.unit = try r.readString("unit")
            case 5, 7, 9, 10, 11:
                try r.expect(w, .lengthDelimited, field: f, "data")
                m.data = try data(r.sub(try r.readLengthDelimited(), "metric data"), kind: f)
            default: try r.skip(w, field: f)
            }
        }
        return m
    }

    static func data(_ reader: ProtoReader, kind: UInt64) throws(IngestError) -> OTLP.Data {
        var r = reader
        var numbers: [OTLP.NumberPoint] = []
        var hist: [OTLP.HistogramPoint] = []
        var summaries: [OTLP.SummaryPoint] = []
        var expCount = 0
        var temporality = OTLP.Temporality.unspecified
        var monotonic = false
        while !r.isAtEnd {
            let (f, w) = try r.readKey()
            switch (f, kind) {
            case (1, 5), (1, 7):
                try r.expect(w, .lengthDelimited, field: 1, "data_points")
                numbers.append(try numberPoint(r.sub(try r.readLengthDelimited(), "NumberDataPoint")))
            case (1, 9):
                try r.expect(w, .lengthDelimited, field: 1, "data_points")
                hist.append(try histogramPoint(r.sub(try r.readLengthDelimited(), "HistogramDataPoint")))
            case (1, 10):
                try r.expect(w, .lengthDelimited, field: 1, "data_points")
                _ = try r.readLengthDelimited()
                expCount += 1
            case (1, 11):
                try r.expect(w, .lengthDelimited, field: 1, "data_points")
                summaries.append(try summaryPoint(r.sub(try r.readLengthDelimited(), "SummaryDataPoint")))
            case (2, 7), (2, 9), (2, 10):
                try r.expect(w, .varint, field: 2, "aggregation_temporality")
                temporality = OTLP.Temporality(rawValue: Int(truncatingIfNeeded: try r.readVarint() & 0xFF)) ?? .unspecified
            case (3, 7):
                try r.expect(w, .varint, field: 3, "is_monotonic")
                monotonic = try r.readVarint() != 0
            default: try r.skip(w, field: f)
            }
        }
        switch kind {
        case 5: return .gauge(numbers)
        case 7: return .sum(numbers, temporality: temporality, isMonotonic: monotonic)
        case 9: return .histogram(hist, temporality: temporality)
        case 10: return .exponentialHistogram(points: expCount)
        default: return .summary(summaries)
        }
    }

    static func attributes(_ r: inout ProtoReader, _ w: WireType, field: UInt64, into attrs: inout [OTLP.Attribute]) throws(IngestError) {
        try r.expect(w, .lengthDelimited, field: field, "attributes")
        attrs.append(try keyValue(r.sub(try r.readLengthDelimited(), "KeyValue"), depth: 0))
    }

    static func numberPoint(_ reader: ProtoReader) throws(IngestError) -> OTLP.NumberPoint {
        var r = reader
        var p = OTLP.NumberPoint()
        while !r.isAtEnd {
            let (f, w) = try r.readKey()
            switch f {
            case 7: try attributes(&r, w, field: 7, into: &p.attributes)
            case 2: try r.expect(w, .fixed64, field: 2, "start_time_unix_nano"); p.startTimeUnixNano = try r.readFixed64()
            case 3: try r.expect(w, .fixed64, field: 3, "time_unix_nano"); p.timeUnixNano = try r.readFixed64()
            case 4: try r.expect(w, .fixed64, field: 4, "as_double"); p.value = try r.readDouble()
            case 6: try r.expect(w, .fixed64, field: 6, "as_int"); p.value = Double(Int64(bitPattern: try r.readFixed64()))
            case 8: try r.expect(w, .varint, field: 8, "flags"); p.flags = UInt32(truncatingIfNeeded: try r.readVarint())
            default: try r.skip(w, field: f)  // exemplars (5) are not kept
            }
        }
        return p
    }

    static func histogramPoint(_ reader: ProtoReader) throws(IngestError) -> OTLP.HistogramPoint {
        var r = reader
        var p = OTLP.HistogramPoint()
        while !r.isAtEnd {
            let (f, w) = try r.readKey()
            switch f {
            case 9: try attributes(&r, w, field: 9, into: &p.attributes)
            case 2: try r.expect(w, .fixed64, field: 2, "start_time_unix_nano"); p.startTimeUnixNano = try r.readFixed64()
            case 3: try r.expect(w, .fixed64, field: 3, "time_unix_nano"); p.timeUnixNano = try r.readFixed64()
            case 4: try r.expect(w, .fixed64, field: 4, "count"); p.count = try r.readFixed64()
            case 5: try r.expect(w, .fixed64, field: 5, "sum"); p.sum = try r.readDouble()
            case 6: try r.readRepeatedFixed64(w, field: 6, "bucket_counts") { p.bucketCounts.append($0) }
            case 7: try r.readRepeatedFixed64(w, field: 7, "explicit_bounds") { p.explicitBounds.append(Double(bitPattern: $0)) }
            case 10: try r.expect(w, .varint, field: 10, "flags"); p.flags = UInt32(truncatingIfNeeded: try r.readVarint())
            default: try r.skip(w, field: f)
            }
        }
        return p
    }

    static func summaryPoint(_ reader: ProtoReader) throws(IngestError) -> OTLP.SummaryPoint {
        var r = reader
        var p = OTLP.SummaryPoint()
        while !r.isAtEnd {
            let (f, w) = try r.readKey()
            switch f {
            case 7: try attributes(&r, w, field: 7, into: &p.attributes)
            case 2: try r.expect(w, .fixed64, field: 2, "start_time_unix_nano"); p.startTimeUnixNano = try r.readFixed64()
            case 3: try r.expect(w, .fixed64, field: 3, "time_unix_nano"); p.timeUnixNano = try r.readFixed64()
            case 4: try r.expect(w, .fixed64, field: 4, "count"); p.count = try r.readFixed64()
            case 5: try r.expect(w, .fixed64, field: 5, "sum"); p.sum = try r.readDouble()
            case 6:
                try r.expect(w, .lengthDelimited, field: 6, "quantile_values")
                var q = r.sub(try r.readLengthDelimited(), "ValueAtQuantile")
                var qv: (quantile: Double, value: Double) = (0, 0)
                while !q.isAtEnd {
                    let (f2, w2) = try q.readKey()
                    switch f2 {
                    case 1: try q.expect(w2, .fixed64, field: 1, "quantile"); qv.quantile = try q.readDouble()
                    case 2: try q.expect(w2, .fixed64, field: 2, "value"); qv.value = try q.readDouble()
                    default: try q.skip(w2, field: f2)
                    }
                }
                p.quantiles.append(qv)
            case 8: try r.expect(w, .varint, field: 8, "flags"); p.flags = UInt32(truncatingIfNeeded: try r.readVarint())
            default: try r.skip(w, field: f)
            }
        }
        return p
    }

    static func keyValue(_ reader: ProtoReader, depth: Int) throws(IngestError) -> OTLP.Attribute {
        var r = reader
        var kv = OTLP.Attribute("", "")
        while !r.isAtEnd {
            let (f, w) = try r.readKey()
            switch f {
            case 1: try r.expect(w, .lengthDelimited, field: 1, "key"); kv.key = try r.readString("attribute key")
            case 2:
                try r.expect(w, .lengthDelimited, field: 2, "value")
                kv.value = try anyValue(r.sub(try r.readLengthDelimited(), "AnyValue"), depth: depth + 1).text
            default: try r.skip(w, field: f)
            }
        }
        return kv
    }

    /// Returns the attribute's text and whether it is a string (for JSON quoting inside arrays/kvlists).
    static func anyValue(_ reader: ProtoReader, depth: Int) throws(IngestError) -> (text: String, isString: Bool) {
        guard depth <= OTLP.maxDepth else { throw reader.error("AnyValue nested deeper than \(OTLP.maxDepth)") }
        var r = reader
        var out: (text: String, isString: Bool) = ("", true)
        while !r.isAtEnd {
            let (f, w) = try r.readKey()
            switch f {
            case 1: try r.expect(w, .lengthDelimited, field: 1, "string_value"); out = (try r.readString("string_value"), true)
            case 2: try r.expect(w, .varint, field: 2, "bool_value"); out = (try r.readVarint() != 0 ? "true" : "false", false)
            case 3: try r.expect(w, .varint, field: 3, "int_value"); out = (String(Int64(bitPattern: try r.readVarint())), false)
            case 4: try r.expect(w, .fixed64, field: 4, "double_value"); out = (OTLPAttributeText.double(try r.readDouble()), false)
            case 5:
                try r.expect(w, .lengthDelimited, field: 5, "array_value")
                var ar = r.sub(try r.readLengthDelimited(), "ArrayValue")
                var items: [String] = []
                while !ar.isAtEnd {
                    let (f2, w2) = try ar.readKey()
                    if f2 == 1 {
                        try ar.expect(w2, .lengthDelimited, field: 1, "values")
                        let v = try anyValue(ar.sub(try ar.readLengthDelimited(), "AnyValue"), depth: depth + 1)
                        items.append(v.isString ? OTLPAttributeText.quote(v.text) : v.text)
                    } else { try ar.skip(w2, field: f2) }
                }
                out = ("[" + items.joined(separator: ",") + "]", false)
            case 6:
                try r.expect(w, .lengthDelimited, field: 6, "kvlist_value")
                var kr = r.sub(try r.readLengthDelimited(), "KeyValueList")
                var items: [String] = []
                while !kr.isAtEnd {
                    let (f2, w2) = try kr.readKey()
                    if f2 == 1 {
                        try kr.expect(w2, .lengthDelimited, field: 1, "values")
                        var kvr = kr.sub(try kr.readLengthDelimited(), "KeyValue")
                        var key = ""
                        var val: (text: String, isString: Bool) = ("", true)
                        while !kvr.isAtEnd {
                            let (f3, w3) = try kvr.readKey()
                            switch f3 {
                            case 1: try kvr.expect(w3, .lengthDelimited, field: 1, "key"); key = try kvr.readString("key")
                            case 2:
                                try kvr.expect(w3, .lengthDelimited, field: 2, "value")
                                val = try anyValue(kvr.sub(try kvr.readLengthDelimited(), "AnyValue"), depth: depth + 1)
                            default: try kvr.skip(w3, field: f3)
                            }
                        }
                        items.append(OTLPAttributeText.quote(key) + ":" + (val.isString ? OTLPAttributeText.quote(val.text) : val.text))
                    } else { try kr.skip(w2, field: f2) }
                }
                out = ("{" + items.joined(separator: ",") + "}", false)
            case 7:
                try r.expect(w, .lengthDelimited, field: 7, "bytes_value")
                out = (Data(try r.readBytes()).base64EncodedString(), true)
            default: try r.skip(w, field: f)
            }
        }
        return out
    }

    // MARK: - Encoder (tests, replayer, benchmarks)

    /// Encodes a request. Attribute values are written as `string_value`.
    public static func encode(_ req: OTLP.Request) -> [UInt8] {
        var w = ProtoWriter()
        func attrs(_ w: inout ProtoWriter, _ field: UInt64, _ a: [OTLP.Attribute]) {
            for kv in a {
                w.message(field) { k in
                    k.stringField(1, kv.key)
                    k.message(2) { $0.stringField(1, kv.value) }
                }
            }
        }
        for rm in req.resourceMetrics {
            w.message(1) { rw in
                rw.message(1) { attrs(&$0, 1, rm.resourceAttributes) }
                for sm in rm.scopeMetrics {
                    rw.message(2) { sw in
                        sw.message(1) { s in
                            if !sm.scopeName.isEmpty { s.stringField(1, sm.scopeName) }
                            if !sm.scopeVersion.isEmpty { s.stringField(2, sm.scopeVersion) }
                        }
                        for m in sm.metrics {
                            sw.message(2) { mw in
                                mw.stringField(1, m.name)
                                if !m.description.isEmpty { mw.stringField(2, m.description) }
                                if !m.unit.isEmpty { mw.stringField(3, m.unit) }
                                func numbers(_ d: inout ProtoWriter, _ pts: [OTLP.NumberPoint]) {
                                    for p in pts {
                                        d.message(1) { pw in
                                            attrs(&pw, 7, p.attributes)
                                            pw.fixed64Field(2, p.startTimeUnixNano)
                                            pw.fixed64Field(3, p.timeUnixNano)
                                            pw.doubleField(4, p.value)
                                            if p.flags != 0 { pw.varintField(8, UInt64(p.flags)) }
                                        }
                                    }
                                }
                                switch m.data {
                                case .none: break
                                case .gauge(let pts): mw.message(5) { numbers(&$0, pts) }
                                case .sum(let pts, let t, let mono):
                                    mw.message(7) { d in
                                        numbers(&d, pts)
                                        d.varintField(2, UInt64(t.rawValue))
                                        if mono { d.varintField(3, 1) }
                                    }
                                case .histogram(let pts, let t):
                                    mw.message(9) { d in
                                        for p in pts {
                                            d.message(1) { pw in
                                                attrs(&pw, 9, p.attributes)
                                                pw.fixed64Field(2, p.startTimeUnixNano)
                                                pw.fixed64Field(3, p.timeUnixNano)
                                                pw.fixed64Field(4, p.count)
                                                if let s = p.sum { pw.doubleField(5, s) }
                                                var bc = ProtoWriter()
                                                for c in p.bucketCounts { bc.fixed64(c) }
                                                pw.bytesField(6, bc.bytes)
                                                var eb = ProtoWriter()
                                                for b in p.explicitBounds { eb.fixed64(b.bitPattern) }
                                                pw.bytesField(7, eb.bytes)
                                                if p.flags != 0 { pw.varintField(10, UInt64(p.flags)) }
                                            }
                                        }
                                        d.varintField(2, UInt64(t.rawValue))
                                    }
                                case .exponentialHistogram(let n):
                                    mw.message(10) { d in
                                        for _ in 0..<n { d.message(1) { $0.fixed64Field(4, 1) } }
                                        d.varintField(2, 2)
                                    }
                                case .summary(let pts):
                                    mw.message(11) { d in
                                        for p in pts {
                                            d.message(1) { pw in
                                                attrs(&pw, 7, p.attributes)
                                                pw.fixed64Field(2, p.startTimeUnixNano)
                                                pw.fixed64Field(3, p.timeUnixNano)
                                                pw.fixed64Field(4, p.count)
                                                pw.doubleField(5, p.sum)
                                                for q in p.quantiles {
                                                    pw.message(6) { $0.doubleField(1, q.quantile); $0.doubleField(2, q.value) }
                                                }
                                                if p.flags != 0 { pw.varintField(8, UInt64(p.flags)) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return w.bytes
    }
}

enum OTLPAttributeText {
    /// Shortest round-trip form, integral values without a fraction (as Go's `FormatFloat(v, 'g', -1)` prints small ones).
    static func double(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    static func quote(_ s: String) -> String { JSONText.quote(s) }
}
