import VigilCore

/// Prometheus HTTP API JSON, written by hand so that numbers come out exactly as Prometheus writes them
/// (values as strings in Go's shortest form, timestamps as seconds with millisecond fraction).
public enum PromJSON {
    /// A JSON string literal (the one escaper, `JSONText.quote`).
    public static func string(_ s: String) -> String { JSONText.quote(s) }

    public static func labels(_ l: Labels) -> String {
        "{" + l.map { string($0.name) + ":" + string($0.value) }.joined(separator: ",") + "}"
    }

    static func point(_ t: Int64, _ v: Double) -> String {
        "[" + GoFormat.timestamp(t) + ",\"" + GoFormat.formatF(v) + "\"]"
    }

    /// The `data` object of a query response.
    public static func data(_ r: QueryResult) -> String {
        var w = JSONBytes()
        w.data(r)
        return String(decoding: w.bytes, as: UTF8.self)
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

/// Appends Prometheus API JSON to one byte buffer: no intermediate strings per point, so a
/// 100-series × 180-step matrix costs one growing buffer instead of ~50,000 small strings.
struct JSONBytes {
    var bytes: [UInt8] = []

    mutating func data(_ r: QueryResult) {
        raw("{\"resultType\":\"")
        raw(r.resultType)
        raw("\",\"result\":")
        switch r {
        case .scalar(let t, let v): point(t, v)
        case .string(let t, let s):
            bytes.append(UInt8(ascii: "["))
            timestamp(t)
            bytes.append(UInt8(ascii: ","))
            string(s)
            bytes.append(UInt8(ascii: "]"))
        case .vector(let v):
            bytes.reserveCapacity(v.count * 96)
            bytes.append(UInt8(ascii: "["))
            for (i, s) in v.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                raw("{\"metric\":")
                labels(s.labels)
                raw(",\"value\":")
                point(s.t, s.v)
                bytes.append(UInt8(ascii: "}"))
            }
            bytes.append(UInt8(ascii: "]"))
        case .matrix(let m):
            bytes.reserveCapacity(m.reduce(0) { $0 + 64 + $1.timestamps.count * 34 })
            bytes.append(UInt8(ascii: "["))
            for (i, s) in m.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                raw("{\"metric\":")
                labels(s.labels)
                raw(",\"values\":[")
                for k in s.timestamps.indices {
                    if k > 0 { bytes.append(UInt8(ascii: ",")) }
                    point(s.timestamps[k], s.values[k])
                }
                raw("]}")
            }
            bytes.append(UInt8(ascii: "]"))
        }
        bytes.append(UInt8(ascii: "}"))
    }

    @inline(__always) mutating func raw(_ s: String) { bytes.append(contentsOf: s.utf8) }

    mutating func string(_ s: String) {
        // Plain printable ASCII without quotes or backslashes goes as is (label names and most values).
        var plain = true
        for b in s.utf8 where b < 0x20 || b >= 0x80 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
            plain = false
            break
        }
        if plain {
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: s.utf8)
            bytes.append(UInt8(ascii: "\""))
        } else {
            bytes.append(contentsOf: PromJSON.string(s).utf8)
        }
    }

    mutating func labels(_ l: Labels) {
        bytes.append(UInt8(ascii: "{"))
        var first = true
        for p in l {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            string(p.name)
            bytes.append(UInt8(ascii: ":"))
            string(p.value)
        }
        bytes.append(UInt8(ascii: "}"))
    }

    mutating func point(_ t: Int64, _ v: Double) {
        bytes.append(UInt8(ascii: "["))
        timestamp(t)
        bytes.append(UInt8(ascii: ","))
        bytes.append(UInt8(ascii: "\""))
        float(v)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: "]"))
    }

    /// Decimal digits of a non-negative integer.
    @inline(__always) mutating func digits(_ x: UInt64) {
        if x < 10 {
            bytes.append(UInt8(truncatingIfNeeded: x) + 48)
            return
        }
        var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: UInt64.max has 20 digits
        withUnsafeMutableBytes(of: &tmp) { buf in
            var i = buf.count
            var y = x
            while y > 0 {
                i -= 1
                buf[i] = UInt8(truncatingIfNeeded: y % 10) + 48
                y /= 10
            }
            bytes.append(contentsOf: buf[i...])
        }
    }

    /// `GoFormat.timestamp`: seconds with the millisecond fraction when not zero (`1.500`).
    mutating func timestamp(_ ms: Int64) {
        if ms < 0 { bytes.append(UInt8(ascii: "-")) }
        let t = ms.magnitude
        digits(t / 1000)
        let f = t % 1000
        if f != 0 {
            bytes.append(UInt8(ascii: "."))
            bytes.append(UInt8(truncatingIfNeeded: f / 100) + 48)
            bytes.append(UInt8(truncatingIfNeeded: f / 10 % 10) + 48)
            bytes.append(UInt8(truncatingIfNeeded: f % 10) + 48)
        }
    }

    /// `GoFormat.formatF` without the intermediate string for the common cases.
    mutating func float(_ v: Double) {
        if v.isFinite && v != 0 && Swift.abs(v) < 1e15 && v == v.rounded(.towardZero) {
            if v < 0 { bytes.append(UInt8(ascii: "-")) }
            digits(UInt64(Swift.abs(v)))
            return
        }
        bytes.append(contentsOf: GoFormat.formatF(v).utf8)
    }
}
