import VigilCore

/// Prometheus HTTP API JSON, written by hand so that numbers come out exactly as Prometheus writes them
/// (values as strings in Go's shortest form, timestamps as seconds with millisecond fraction).
public enum PromJSON {
    public static func string(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    public static func labels(_ l: Labels) -> String {
        "{" + l.map { string($0.name) + ":" + string($0.value) }.joined(separator: ",") + "}"
    }

    static func point(_ t: Int64, _ v: Double) -> String {
        "[" + GoFormat.timestamp(t) + ",\"" + GoFormat.formatF(v) + "\"]"
    }

    /// The `data` object of a query response.
    public static func data(_ r: QueryResult) -> String {
        var out = "{\"resultType\":\"" + r.resultType + "\",\"result\":"
        switch r {
        case .scalar(let t, let v): out += point(t, v)
        case .string(let t, let s): out += "[" + GoFormat.timestamp(t) + "," + string(s) + "]"
        case .vector(let v):
            out += "["
            var first = true
            for s in v {
                if !first { out += "," }
                first = false
                out += "{\"metric\":" + labels(s.labels) + ",\"value\":" + point(s.t, s.v) + "}"
            }
            out += "]"
        case .matrix(let m):
            out += "["
            var first = true
            for s in m {
                if !first { out += "," }
                first = false
                out += "{\"metric\":" + labels(s.labels) + ",\"values\":["
                out.reserveCapacity(out.utf8.count + s.timestamps.count * 24)
                for i in s.timestamps.indices {
                    if i > 0 { out += "," }
                    out += point(s.timestamps[i], s.values[i])
                }
                out += "]}"
            }
            out += "]"
        }
        return out + "}"
    }

    public static func success(_ data: String, warnings: [String] = []) -> String {
        var s = "{\"status\":\"success\",\"data\":" + data
        if !warnings.isEmpty { s += ",\"warnings\":[" + warnings.map(string).joined(separator: ",") + "]" }
        return s + "}"
    }

    public static func error(_ type: String, _ message: String) -> String {
        "{\"status\":\"error\",\"errorType\":\"" + type + "\",\"error\":" + string(message) + "}"
    }
}
