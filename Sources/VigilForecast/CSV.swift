import Foundation

/// A CSV problem located at file, line (1-based) and column (1-based field number).
public struct CSVError: Error, Sendable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let column: Int
    public let message: String
    public var description: String { "\(file):\(line):\(column): \(message)" }
}

/// A raw input series: identity, timestamps (ms) and values as read.
public struct RawSeries: Sendable {
    public var id: String
    public var timestamps: [Int64]
    public var values: [Double]
    public init(id: String, timestamps: [Int64] = [], values: [Double] = []) {
        self.id = id
        self.timestamps = timestamps
        self.values = values
    }
}

/// Minimal, fast CSV reading for the model commands (comma-separated, optional double quotes, optional header).
public enum CSVReader {
    /// Splits one line into fields (RFC-4180 quotes; no embedded newlines).
    static func fields(_ line: Substring) -> [Substring] {
        if !line.contains("\"") { return line.split(separator: ",", omittingEmptySubsequences: false) }
        var out: [Substring] = []
        var cur = ""
        var inQ = false
        var it = line.makeIterator()
        while let c = it.next() {
            if inQ {
                if c == "\"" {
                    // lookahead for an escaped quote
                    var copy = it
                    if copy.next() == "\"" { cur.append("\""); _ = it.next() } else { inQ = false }
                } else { cur.append(c) }
            } else if c == "\"" { inQ = true } else if c == "," { out.append(Substring(cur)); cur = "" } else { cur.append(c) }
        }
        out.append(Substring(cur))
        return out
    }

    static func lines(of path: String) throws -> [Substring] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CSVError(file: path, line: 0, column: 0, message: "cannot read file")
        }
        let text = String(decoding: data, as: UTF8.self)
        return text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
    }

    static func parseValue(_ f: Substring) -> Double? {
        let t = f.trimmingCharacters(in: .whitespaces)
        if t.isEmpty { return .nan }
        switch t.lowercased() {
        case "nan", "na", "null", "none": return .nan
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        default: return Double(t)
        }
    }

    /// Reads a wide CSV of one machine: a header naming the columns, then one row per step. A first column named
    /// timestamp|ts|time|ds|date is kept as row text; columns named `label` are skipped; every other column is a
    /// metric (empty, NaN, NA = missing). Returns the row keys (the timestamp text, or the 1-based data row number),
    /// the metric names and the values row-major.
    public static func readWide(path: String) throws -> (keys: [String], names: [String], values: [Double], rows: Int) {
        let ls = try lines(of: path)
        guard let h = ls.firstIndex(where: { !$0.isEmpty }) else { throw CSVError(file: path, line: 1, column: 1, message: "empty file") }
        let head = fields(ls[h]).map { $0.trimmingCharacters(in: .whitespaces) }
        let hasTime = ["timestamp", "ts", "time", "ds", "date"].contains(head[0].lowercased())
        if let h0 = head.first, TimestampFormat.detect(Substring(h0)) != nil || Double(h0) != nil {
            throw CSVError(file: path, line: h + 1, column: 1, message: "expected a header row naming the metric columns, found data")
        }
        let metricCols = head.indices.filter { !(hasTime && $0 == 0) && head[$0].lowercased() != "label" }
        guard !metricCols.isEmpty else { throw CSVError(file: path, line: h + 1, column: 1, message: "no metric columns") }
        var keys: [String] = [], values: [Double] = []
        var rows = 0
        for li in (h + 1)..<ls.count where !ls[li].isEmpty {
            let f = fields(ls[li])
            guard f.count == head.count else {
                throw CSVError(file: path, line: li + 1, column: min(f.count, head.count) + 1, message: "expected \(head.count) columns, found \(f.count)")
            }
            for c in metricCols {
                guard let v = parseValue(f[c]) else {
                    throw CSVError(file: path, line: li + 1, column: c + 1, message: "invalid number \"\(f[c])\" in column \(head[c])")
                }
                values.append(v)
            }
            rows += 1
            keys.append(hasTime ? f[0].trimmingCharacters(in: .whitespaces) : String(rows))
        }
        guard rows > 0 else { throw CSVError(file: path, line: h + 2, column: 1, message: "no data rows") }
        return (keys, metricCols.map { head[$0] }, values, rows)
    }

    /// Reads `series_id,timestamp,value` (header optional; with a header the columns are found by name:
    /// series_id|id|series|unique_id, timestamp|ts|time|ds, value|y). Series keep their first-appearance order;
    /// a series whose rows are not in time order is sorted.
    public static func readLong(path: String) throws -> (series: [RawSeries], format: TimestampFormat) {
        if let fast = try readLongFast(path: path) { return fast }
        return try readLongGeneral(path: path)
    }

    /// Byte-level reader for the common case: `series_id,timestamp,value` in that order (header or not), no quotes,
    /// Unix-second or calendar timestamps. Returns nil to defer to the general reader (quotes, other column orders).
    static func readLongFast(path: String) throws -> (series: [RawSeries], format: TimestampFormat)? {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CSVError(file: path, line: 0, column: 0, message: "cannot read file")
        }
        var bytes = [UInt8](data)
        if bytes.contains(0x22) { return nil }  // quotes: general reader
        bytes.append(0)
        return try bytes.withUnsafeBufferPointer { bp -> (series: [RawSeries], format: TimestampFormat)? in
            let b = bp.baseAddress!
            let n = bp.count - 1
            var pos = 0, lineNo = 0
            var format: TimestampFormat? = nil
            var out: [RawSeries] = []
            var index: [String: Int] = [:]
            var lastStart = -1, lastLen = 0, lastIdx = -1
            var sawData = false
            while pos < n {
                lineNo += 1
                var e = pos
                while e < n && b[e] != 0x0A { e += 1 }
                var lineEnd = e
                if lineEnd > pos && b[lineEnd - 1] == 0x0D { lineEnd -= 1 }
                defer { pos = e + 1 }
                if lineEnd == pos { continue }
                // three fields
                var c1 = pos
                while c1 < lineEnd && b[c1] != 0x2C { c1 += 1 }
                var c2 = c1 + 1
                while c2 < lineEnd && b[c2] != 0x2C { c2 += 1 }
                guard c1 < lineEnd, c2 < lineEnd else {
                    if !sawData { return nil }
                    throw CSVError(file: path, line: lineNo, column: c1 < lineEnd ? 3 : 2, message: "expected 3 columns")
                }
                var c3 = c2 + 1
                while c3 < lineEnd && b[c3] != 0x2C { c3 += 1 }
                if c3 != lineEnd { return nil }  // more than three columns: general reader
                let tField = Substring(String(decoding: UnsafeBufferPointer(start: b + c1 + 1, count: c2 - c1 - 1), as: UTF8.self))
                if format == nil {
                    guard let f = TimestampFormat.detect(tField.trimmingCharacters(in: .whitespaces)[...]) else {
                        if !sawData {
                            // header line: only the canonical order is handled here
                            let head = String(decoding: UnsafeBufferPointer(start: b + pos, count: lineEnd - pos), as: UTF8.self).lowercased()
                            let names = head.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                            if names.count == 3, ["series_id", "id", "series", "unique_id", "item_id"].contains(names[0]),
                               ["timestamp", "ts", "time", "ds", "date"].contains(names[1]), ["value", "y", "target"].contains(names[2]) {
                                sawData = true
                                continue
                            }
                            return nil
                        }
                        throw CSVError(file: path, line: lineNo, column: 2, message: "unrecognised timestamp \"\(tField)\" (expected YYYY-MM-DD HH:MM:SS, ISO-8601 or Unix seconds)")
                    }
                    format = f
                }
                sawData = true
                let t: Int64
                if case .unix(false) = format!, c2 - c1 - 1 > 0, c2 - c1 - 1 < 19 {
                    var v: Int64 = 0, ok = true, neg = false
                    for k in (c1 + 1)..<c2 {
                        let ch = b[k]
                        if ch == 0x2D && k == c1 + 1 { neg = true; continue }
                        guard ch >= 0x30 && ch <= 0x39 else { ok = false; break }
                        v = v * 10 + Int64(ch - 0x30)
                    }
                    guard ok else { throw CSVError(file: path, line: lineNo, column: 2, message: "invalid timestamp \"\(tField)\"") }
                    t = (neg ? -v : v) * 1000
                } else {
                    guard let p = format!.parse(tField) else {
                        throw CSVError(file: path, line: lineNo, column: 2, message: "invalid timestamp \"\(tField)\"")
                    }
                    t = p
                }
                // value via strtod (the field ends at the line end; reject trailing garbage)
                var endp: UnsafeMutablePointer<CChar>? = nil
                let vStart = UnsafeMutablePointer<CChar>(mutating: UnsafeRawPointer(b + c2 + 1).assumingMemoryBound(to: CChar.self))
                var v = strtod(vStart, &endp)
                var consumed = endp.map { UnsafeRawPointer($0) - UnsafeRawPointer(b) } ?? (c2 + 1)
                while consumed < lineEnd && (b[consumed] == 0x20 || b[consumed] == 0x09) { consumed += 1 }
                if consumed != lineEnd || lineEnd == c2 + 1 {
                    let field = Substring(String(decoding: UnsafeBufferPointer(start: b + c2 + 1, count: lineEnd - c2 - 1), as: UTF8.self))
                    guard let pv = parseValue(field) else {
                        throw CSVError(file: path, line: lineNo, column: 3, message: "invalid number \"\(field)\"")
                    }
                    v = pv
                }
                // series id: compare with the previous row's bytes before building a String
                let idLen = c1 - pos
                var si = lastIdx
                if !(lastIdx >= 0 && idLen == lastLen && memcmp(b + pos, b + lastStart, idLen) == 0) {
                    let key = String(decoding: UnsafeBufferPointer(start: b + pos, count: idLen), as: UTF8.self)
                    if let j = index[key] { si = j } else {
                        si = out.count
                        index[key] = si
                        out.append(RawSeries(id: key))
                    }
                    lastIdx = si
                }
                lastStart = pos
                lastLen = idLen
                out[si].timestamps.append(t)
                out[si].values.append(v)
            }
            guard let format else { throw CSVError(file: path, line: max(1, lineNo), column: 1, message: "no data rows") }
            for i in out.indices { sortIfNeeded(&out[i]) }
            return (out, format)
        }
    }

    static func readLongGeneral(path: String) throws -> (series: [RawSeries], format: TimestampFormat) {
        let ls = try lines(of: path)
        var idCol = 0, tCol = 1, vCol = 2
        var start = 0
        guard let firstNonEmpty = ls.firstIndex(where: { !$0.isEmpty }) else {
            throw CSVError(file: path, line: 1, column: 1, message: "empty file")
        }
        let head = fields(ls[firstNonEmpty]).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        if head.count >= 2, TimestampFormat.detect(Substring(head.count > 1 ? head[1] : "")) == nil || parseValue(Substring(head.last!)) == nil {
            func find(_ names: [String]) -> Int? { head.firstIndex(where: { names.contains($0) }) }
            guard let i = find(["series_id", "id", "series", "unique_id", "item_id"]),
                  let t = find(["timestamp", "ts", "time", "ds", "date"]),
                  let v = find(["value", "y", "target"]) else {
                throw CSVError(file: path, line: firstNonEmpty + 1, column: 1,
                               message: "header must name series_id, timestamp and value columns, got \(head.joined(separator: ","))")
            }
            (idCol, tCol, vCol) = (i, t, v)
            start = firstNonEmpty + 1
        } else {
            start = firstNonEmpty
        }
        var format: TimestampFormat? = nil
        var index: [String: Int] = [:]
        var out: [RawSeries] = []
        var lastIdx = -1
        var lastId: Substring = ""
        let need = max(idCol, tCol, vCol)
        for li in start..<ls.count {
            let line = ls[li]
            if line.isEmpty { continue }
            let f = fields(line)
            guard f.count > need else {
                throw CSVError(file: path, line: li + 1, column: f.count + 1, message: "expected \(need + 1) columns, found \(f.count)")
            }
            let tf = f[tCol].trimmingCharacters(in: .whitespaces)
            if format == nil {
                guard let d = TimestampFormat.detect(Substring(tf)) else {
                    throw CSVError(file: path, line: li + 1, column: tCol + 1, message: "unrecognised timestamp \"\(tf)\" (expected YYYY-MM-DD HH:MM:SS, ISO-8601 or Unix seconds)")
                }
                format = d
            }
            guard let t = format!.parse(Substring(tf)) else {
                throw CSVError(file: path, line: li + 1, column: tCol + 1, message: "invalid timestamp \"\(tf)\"")
            }
            guard let v = parseValue(f[vCol]) else {
                throw CSVError(file: path, line: li + 1, column: vCol + 1, message: "invalid number \"\(f[vCol])\"")
            }
            let id = f[idCol]
            var si: Int
            if lastIdx >= 0 && id == lastId { si = lastIdx } else {
                let key = String(id)
                if let j = index[key] { si = j } else {
                    si = out.count
                    index[key] = si
                    out.append(RawSeries(id: key))
                }
                lastIdx = si
                lastId = id
            }
            out[si].timestamps.append(t)
            out[si].values.append(v)
        }
        guard let format else { throw CSVError(file: path, line: start + 1, column: 1, message: "no data rows") }
        for i in out.indices { sortIfNeeded(&out[i]) }
        return (out, format)
    }

    /// Reads `timestamp,value` (header optional; columns found by name when present).
    public static func readSingle(path: String) throws -> (series: RawSeries, format: TimestampFormat, text: [String]) {
        let ls = try lines(of: path)
        var tCol = 0, vCol = 1, start = 0
        guard let firstNonEmpty = ls.firstIndex(where: { !$0.isEmpty }) else {
            throw CSVError(file: path, line: 1, column: 1, message: "empty file")
        }
        let head = fields(ls[firstNonEmpty]).map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        if let h0 = head.first, TimestampFormat.detect(Substring(h0)) == nil {
            tCol = head.firstIndex(where: { ["timestamp", "ts", "time", "ds", "date"].contains($0) }) ?? 0
            vCol = head.firstIndex(where: { ["value", "y", "target"].contains($0) }) ?? (tCol == 0 ? 1 : 0)
            start = firstNonEmpty + 1
        } else { start = firstNonEmpty }
        var s = RawSeries(id: "")
        var format: TimestampFormat? = nil
        var text: [String] = []
        for li in start..<ls.count {
            let line = ls[li]
            if line.isEmpty { continue }
            let f = fields(line)
            guard f.count > max(tCol, vCol) else {
                throw CSVError(file: path, line: li + 1, column: f.count + 1, message: "expected \(max(tCol, vCol) + 1) columns, found \(f.count)")
            }
            let tf = f[tCol].trimmingCharacters(in: .whitespaces)
            if format == nil {
                guard let d = TimestampFormat.detect(Substring(tf)) else {
                    throw CSVError(file: path, line: li + 1, column: tCol + 1, message: "unrecognised timestamp \"\(tf)\"")
                }
                format = d
            }
            guard let t = format!.parse(Substring(tf)) else {
                throw CSVError(file: path, line: li + 1, column: tCol + 1, message: "invalid timestamp \"\(tf)\"")
            }
            guard let v = parseValue(f[vCol]) else {
                throw CSVError(file: path, line: li + 1, column: vCol + 1, message: "invalid number \"\(f[vCol])\"")
            }
            s.timestamps.append(t)
            s.values.append(v)
            text.append(tf + "," + f[vCol].trimmingCharacters(in: .whitespaces))
        }
        guard let format else { throw CSVError(file: path, line: start + 1, column: 1, message: "no data rows") }
        return (s, format, text)
    }

    static func sortIfNeeded(_ s: inout RawSeries) {
        var sorted = true
        for i in 1..<max(1, s.timestamps.count) where s.timestamps[i] < s.timestamps[i - 1] { sorted = false; break }
        if sorted { return }
        let order = s.timestamps.indices.sorted { s.timestamps[$0] < s.timestamps[$1] }
        s.timestamps = order.map { s.timestamps[$0] }
        s.values = order.map { s.values[$0] }
    }
}

/// Buffered text output to a file.
public final class TextSink {
    let handle: FileHandle
    var buffer = ""
    public init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw CSVError(file: path, line: 0, column: 0, message: "cannot create output file")
        }
        handle = h
        buffer.reserveCapacity(1 << 20)
    }
    public func write(_ s: String) {
        buffer += s
        if buffer.utf8.count >= 1 << 20 { flush() }
    }
    public func flush() {
        handle.write(Data(buffer.utf8))
        buffer.removeAll(keepingCapacity: true)
    }
    public func close() {
        flush()
        try? handle.close()
    }
}
