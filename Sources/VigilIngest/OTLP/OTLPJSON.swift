import VigilCore

/// OTLP/JSON (the protobuf JSON mapping with OTLP's rules): field names in lowerCamelCase (the original
/// snake_case names are accepted too), 64-bit integers as decimal strings (numbers accepted), enums as integers
/// (their names accepted), doubles as numbers or the strings `NaN`, `Infinity`, `-Infinity`, bytes as base64.
/// Unknown fields are ignored, as the OTLP spec requires. A field of the wrong JSON type is an error naming its path
/// (`resourceMetrics[0].scopeMetrics[0].metrics[2].sum.dataPoints[0].asDouble`).
public enum OTLPJSON {
    public static func decode(_ body: [UInt8]) throws(IngestError) -> OTLP.Request {
        let root = try withUnsafeBytesTyped(body) { (b) throws(IngestError) in try JSONReader.parseForIngest(b, maxDepth: 64) }
        let top = try Obj(root, "")
        var out = OTLP.Request(resourceMetrics: [])
        for (i, rmv) in try top.array("resourcemetrics", "resourceMetrics").enumerated() {
            let rm = try Obj(rmv, "resourceMetrics[\(i)]")
            var res = OTLP.ResourceMetrics(scopeMetrics: [])
            if let r = try rm.object("resource", "resource") {
                res.resourceAttributes = try attributes(r, "attributes")
            }
            for (j, smv) in try rm.array("scopemetrics", "scopeMetrics").enumerated() {
                let sm = try Obj(smv, "\(rm.path).scopeMetrics[\(j)]")
                var scope = OTLP.ScopeMetrics(metrics: [])
                if let s = try sm.object("scope", "scope") {
                    scope.scopeName = try s.string("name", "name")
                    scope.scopeVersion = try s.string("version", "version")
                }
                for (k, mv) in try sm.array("metrics", "metrics").enumerated() {
                    scope.metrics.append(try metric(try Obj(mv, "\(sm.path).metrics[\(k)]")))
                }
                res.scopeMetrics.append(scope)
            }
            out.resourceMetrics.append(res)
        }
        return out
    }

    static func metric(_ m: Obj) throws(IngestError) -> OTLP.Metric {
        var out = OTLP.Metric(name: try m.string("name", "name"), description: try m.string("description", "description"),
                              unit: try m.string("unit", "unit"), data: .none)
        if let g = try m.object("gauge", "gauge") {
            out.data = .gauge(try numberPoints(g))
        } else if let s = try m.object("sum", "sum") {
            out.data = .sum(try numberPoints(s), temporality: try temporality(s), isMonotonic: try s.bool("ismonotonic", "isMonotonic"))
        } else if let h = try m.object("histogram", "histogram") {
            var pts: [OTLP.HistogramPoint] = []
            for (i, pv) in try h.array("datapoints", "dataPoints").enumerated() {
                let p = try Obj(pv, "\(h.path).dataPoints[\(i)]")
                var hp = OTLP.HistogramPoint()
                hp.attributes = try attributes(p, "attributes")
                hp.startTimeUnixNano = try p.uint64("starttimeunixnano", "startTimeUnixNano")
                hp.timeUnixNano = try p.uint64("timeunixnano", "timeUnixNano")
                hp.count = try p.uint64("count", "count")
                if p.has("sum") { hp.sum = try p.double("sum", "sum") }
                for (k, c) in try p.array("bucketcounts", "bucketCounts").enumerated() {
                    hp.bucketCounts.append(try Obj.uint64(c, "\(p.path).bucketCounts[\(k)]"))
                }
                for (k, b) in try p.array("explicitbounds", "explicitBounds").enumerated() {
                    hp.explicitBounds.append(try Obj.double(b, "\(p.path).explicitBounds[\(k)]"))
                }
                hp.flags = UInt32(truncatingIfNeeded: try p.uint64("flags", "flags"))
                pts.append(hp)
            }
            out.data = .histogram(pts, temporality: try temporality(h))
        } else if let e = try m.object("exponentialhistogram", "exponentialHistogram") {
            out.data = .exponentialHistogram(points: try e.array("datapoints", "dataPoints").count)
        } else if let s = try m.object("summary", "summary") {
            var pts: [OTLP.SummaryPoint] = []
            for (i, pv) in try s.array("datapoints", "dataPoints").enumerated() {
                let p = try Obj(pv, "\(s.path).dataPoints[\(i)]")
                var sp = OTLP.SummaryPoint()
                sp.attributes = try attributes(p, "attributes")
                sp.startTimeUnixNano = try p.uint64("starttimeunixnano", "startTimeUnixNano")
                sp.timeUnixNano = try p.uint64("timeunixnano", "timeUnixNano")
                sp.count = try p.uint64("count", "count")
                sp.sum = try p.double("sum", "sum")
                for (k, qv) in try p.array("quantilevalues", "quantileValues").enumerated() {
                    let q = try Obj(qv, "\(p.path).quantileValues[\(k)]")
                    sp.quantiles.append((try q.double("quantile", "quantile"), try q.double("value", "value")))
                }
                sp.flags = UInt32(truncatingIfNeeded: try p.uint64("flags", "flags"))
                pts.append(sp)
            }
            out.data = .summary(pts)
        }
        return out
    }

    static func temporality(_ o: Obj) throws(IngestError) -> OTLP.Temporality {
        guard let v = o.get("aggregationtemporality") else { return .unspecified }
        switch v {
        case .null: return .unspecified
        case .string(let s):
            switch s {
            case "AGGREGATION_TEMPORALITY_DELTA": return .delta
            case "AGGREGATION_TEMPORALITY_CUMULATIVE": return .cumulative
            case "AGGREGATION_TEMPORALITY_UNSPECIFIED": return .unspecified
            default: break
            }
            if let n = Int(s), let t = OTLP.Temporality(rawValue: n) { return t }
            return .unspecified
        case .number(let n): return Int(n).flatMap { OTLP.Temporality(rawValue: $0) } ?? .unspecified
        default: throw Obj.typeError(v, "enum", "\(o.path).aggregationTemporality")
        }
    }

    static func numberPoints(_ o: Obj) throws(IngestError) -> [OTLP.NumberPoint] {
        var pts: [OTLP.NumberPoint] = []
        for (i, pv) in try o.array("datapoints", "dataPoints").enumerated() {
            let p = try Obj(pv, "\(o.path).dataPoints[\(i)]")
            var np = OTLP.NumberPoint()
            np.attributes = try attributes(p, "attributes")
            np.startTimeUnixNano = try p.uint64("starttimeunixnano", "startTimeUnixNano")
            np.timeUnixNano = try p.uint64("timeunixnano", "timeUnixNano")
            if p.has("asint") {
                np.value = Double(try p.int64("asint", "asInt"))
            } else {
                np.value = try p.double("asdouble", "asDouble")
            }
            np.flags = UInt32(truncatingIfNeeded: try p.uint64("flags", "flags"))
            pts.append(np)
        }
        return pts
    }

    static func attributes(_ o: Obj, _ name: String) throws(IngestError) -> [OTLP.Attribute] {
        var out: [OTLP.Attribute] = []
        for (i, kvv) in try o.array(name, name).enumerated() {
            let kv = try Obj(kvv, "\(o.path).\(name)[\(i)]")
            let key = try kv.string("key", "key")
            let value = try anyValue(kv.get("value"), "\(kv.path).value", depth: 0).text
            out.append(OTLP.Attribute(key, value))
        }
        return out
    }

    static func anyValue(_ v: JSONValue?, _ path: String, depth: Int) throws(IngestError) -> (text: String, isString: Bool) {
        guard depth <= OTLP.maxDepth else { throw IngestError(.json, "\(path): AnyValue nested deeper than \(OTLP.maxDepth)") }
        guard let v, v != .null else { return ("", true) }
        let o = try Obj(v, path)
        if o.has("stringvalue") { return (try o.string("stringvalue", "stringValue"), true) }
        if o.has("boolvalue") { return (try o.bool("boolvalue", "boolValue") ? "true" : "false", false) }
        if o.has("intvalue") { return (String(try o.int64("intvalue", "intValue")), false) }
        if o.has("doublevalue") { return (OTLPAttributeText.double(try o.double("doublevalue", "doubleValue")), false) }
        if o.has("bytesvalue") { return (try o.string("bytesvalue", "bytesValue"), true) }
        if let a = try o.object("arrayvalue", "arrayValue") {
            var items: [String] = []
            for (i, iv) in try a.array("values", "values").enumerated() {
                let x = try anyValue(iv, "\(a.path).values[\(i)]", depth: depth + 1)
                items.append(x.isString ? OTLPAttributeText.quote(x.text) : x.text)
            }
            return ("[" + items.joined(separator: ",") + "]", false)
        }
        if let kvl = try o.object("kvlistvalue", "kvlistValue") {
            var items: [String] = []
            for (i, kvv) in try kvl.array("values", "values").enumerated() {
                let kv = try Obj(kvv, "\(kvl.path).values[\(i)]")
                let x = try anyValue(kv.get("value"), "\(kv.path).value", depth: depth + 1)
                items.append(OTLPAttributeText.quote(try kv.string("key", "key")) + ":" + (x.isString ? OTLPAttributeText.quote(x.text) : x.text))
            }
            return ("{" + items.joined(separator: ",") + "}", false)
        }
        return ("", true)
    }

    /// A JSON object with OTLP field lookup: keys compared lowercased with `_` removed, so `timeUnixNano`
    /// and `time_unix_nano` are the same field.
    struct Obj {
        let members: [(String, JSONValue)]
        let path: String

        init(_ v: JSONValue, _ path: String) throws(IngestError) {
            switch v {
            case .object(let m): members = m
            case .null: members = []
            default: throw Obj.typeError(v, "object", path.isEmpty ? "request" : path)
            }
            self.path = path
        }

        static func canonical(_ k: String) -> String {
            String(String.UnicodeScalarView(k.unicodeScalars.filter { $0 != "_" })).lowercased()
        }

        func get(_ canonicalKey: String) -> JSONValue? {
            for (k, v) in members where Obj.canonical(k) == canonicalKey { return v }
            return nil
        }

        func has(_ canonicalKey: String) -> Bool {
            if let v = get(canonicalKey), v != .null { return true }
            return false
        }

        func field(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

        static func typeError(_ v: JSONValue, _ want: String, _ path: String) -> IngestError {
            IngestError(.json, "\(path): expected \(want), got \(v.typeName)")
        }

        func object(_ key: String, _ name: String) throws(IngestError) -> Obj? {
            guard let v = get(key), v != .null else { return nil }
            return try Obj(v, field(name))
        }

        func array(_ key: String, _ name: String) throws(IngestError) -> [JSONValue] {
            guard let v = get(key) else { return [] }
            switch v {
            case .array(let a): return a
            case .null: return []
            default: throw Obj.typeError(v, "array", field(name))
            }
        }

        func string(_ key: String, _ name: String) throws(IngestError) -> String {
            guard let v = get(key) else { return "" }
            switch v {
            case .string(let s): return s
            case .null: return ""
            default: throw Obj.typeError(v, "string", field(name))
            }
        }

        func bool(_ key: String, _ name: String) throws(IngestError) -> Bool {
            guard let v = get(key) else { return false }
            switch v {
            case .bool(let b): return b
            case .null: return false
            default: throw Obj.typeError(v, "boolean", field(name))
            }
        }

        func uint64(_ key: String, _ name: String) throws(IngestError) -> UInt64 {
            guard let v = get(key) else { return 0 }
            return try Obj.uint64(v, field(name))
        }

        func int64(_ key: String, _ name: String) throws(IngestError) -> Int64 {
            guard let v = get(key) else { return 0 }
            let text: String
            switch v {
            case .string(let s): text = s
            case .number(let n): text = n
            case .null: return 0
            default: throw Obj.typeError(v, "integer (string or number)", field(name))
            }
            guard let x = Array(text.utf8).withUnsafeBytes({ Numbers.parseInt64($0) }) else {
                throw IngestError(.json, "\(field(name)): invalid int64 \"\(text.prefix(40))\"")
            }
            return x
        }

        func double(_ key: String, _ name: String) throws(IngestError) -> Double {
            guard let v = get(key) else { return 0 }
            return try Obj.double(v, field(name))
        }

        static func uint64(_ v: JSONValue, _ path: String) throws(IngestError) -> UInt64 {
            let text: String
            switch v {
            case .string(let s): text = s
            case .number(let n): text = n
            case .null: return 0
            default: throw typeError(v, "integer (string or number)", path)
            }
            if let x = Array(text.utf8).withUnsafeBytes({ Numbers.parseUInt64($0) }) { return x }
            // A JSON number like 1.7e18 from a JavaScript sender: accept when integral and in range.
            if case .number = v, let d = Numbers.parseDouble(Array(text.utf8)), d >= 0, d < 1.8e19, d == d.rounded() {
                return UInt64(d)
            }
            throw IngestError(.json, "\(path): invalid uint64 \"\(text.prefix(40))\"")
        }

        static func double(_ v: JSONValue, _ path: String) throws(IngestError) -> Double {
            switch v {
            case .number(let n):
                guard let d = Numbers.parseDouble(Array(n.utf8)) else { throw IngestError(.json, "\(path): invalid number \(n.prefix(40))") }
                return d
            case .string(let s):
                switch s {
                case "NaN": return .nan
                case "Infinity": return .infinity
                case "-Infinity": return -.infinity
                default:
                    guard let d = Numbers.parseDouble(Array(s.utf8)) else { throw IngestError(.json, "\(path): invalid double \"\(s.prefix(40))\"") }
                    return d
                }
            case .null: return 0
            default: throw typeError(v, "number", path)
            }
        }
    }
}
