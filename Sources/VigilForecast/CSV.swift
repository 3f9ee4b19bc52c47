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

    /// Reads `series_id,timestamp,value` (header optional; with a header the columns are found by name:
    /// series_id|id|series|unique_id, timestamp|ts|time|ds, value|y). Series keep their first-appearance order;
    /// a series whose rows are not in time order is sorted.
    public static func readLong(path: String) throws -> (series: [RawSeries], format: TimestampFormat) {
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
