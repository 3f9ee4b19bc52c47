import Foundation
import VigilCore

/// The benchmark workload file written by `Benchmarks/workload.py` (the neutral generator's default
/// workload: 10,000 node_exporter/libvirt-shaped series x 720 samples at 15 s).
///
/// Layout (little-endian): "VWL1", uint32 series count, then per series: uint32 length + UTF-8 label
/// text `name{k="v",...}`, uint32 n, n int64 timestamps (ms), n float64 values.
enum BenchWorkload {
    static let defaultPath = ".build-bench/workload.vwl"

    struct FormatError: Error, CustomStringConvertible {
        let path: String
        let offset: Int
        let why: String
        var description: String { "\(path): byte \(offset): \(why)" }
    }

    /// Loads every series of a workload file (labels validated like the store validates them).
    static func load(path: String) throws -> [SeriesSamples] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError(path: path, offset: 0,
                              why: "cannot read the workload file (create it with: python3 Benchmarks/workload.py)")
        }
        return try data.withUnsafeBytes { (buf: UnsafeRawBufferPointer) throws -> [SeriesSamples] in
            var pos = 0
            func fail(_ why: String) -> FormatError { FormatError(path: path, offset: pos, why: why) }
            func u32() throws -> Int {
                guard pos + 4 <= buf.count else { throw fail("file ends inside a length field") }
                let v = UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: pos, as: UInt32.self))
                pos += 4
                return Int(v)
            }
            guard buf.count >= 8, buf[0] == 0x56, buf[1] == 0x57, buf[2] == 0x4C, buf[3] == 0x31 else {
                throw fail("not a workload file (magic \"VWL1\" missing)")
            }
            pos = 4
            let nSeries = try u32()
            var out: [SeriesSamples] = []
            out.reserveCapacity(nSeries)
            for i in 0..<nSeries {
                let len = try u32()
                guard pos + len <= buf.count else { throw fail("series \(i): label text runs past the end of the file") }
                guard let text = String(validating: UnsafeRawBufferPointer(rebasing: buf[pos..<pos + len]), as: UTF8.self) else {
                    throw fail("series \(i): label text is not valid UTF-8")
                }
                let labels: Labels
                do {
                    labels = try parseSeries(text)
                } catch {
                    throw fail("series \(i): \(error) in \(text)")
                }
                pos += len
                let n = try u32()
                guard pos + n * 16 <= buf.count else { throw fail("series \(i) (\(text)): \(n) samples run past the end of the file") }
                let start = pos
                let ts = [Int64](unsafeUninitializedCapacity: n) { b, count in
                    for j in 0..<n { b[j] = Int64(littleEndian: buf.loadUnaligned(fromByteOffset: start + 8 * j, as: Int64.self)) }
                    count = n
                }
                let vs = [Double](unsafeUninitializedCapacity: n) { b, count in
                    for j in 0..<n {
                        b[j] = Double(bitPattern: UInt64(littleEndian: buf.loadUnaligned(fromByteOffset: start + 8 * (n + j), as: UInt64.self)))
                    }
                    count = n
                }
                pos += n * 16
                out.append(SeriesSamples(labels: labels, timestamps: ts, values: vs))
            }
            guard pos == buf.count else { throw fail("\(buf.count - pos) unexpected bytes after the last series") }
            return out
        }
    }

    struct ParseError: Error, CustomStringConvertible {
        let why: String
        var description: String { why }
    }

    /// Parses `name{k="v",...}` (values escape `\\`, `\"` and `\n`) into validated labels.
    static func parseSeries(_ text: String) throws -> Labels {
        let b = Array(text.utf8)
        var i = 0
        while i < b.count && b[i] != UInt8(ascii: "{") { i += 1 }
        let name = String(decoding: b[0..<i], as: UTF8.self)
        var pairs: [Label] = [Label(Labels.metricNameLabel, name)]
        if i < b.count {
            i += 1  // '{'
            while i < b.count && b[i] != UInt8(ascii: "}") {
                let ks = i
                while i < b.count && b[i] != UInt8(ascii: "=") { i += 1 }
                guard i + 1 < b.count, b[i + 1] == UInt8(ascii: "\"") else {
                    throw ParseError(why: "expected =\" after a label name at character \(ks)")
                }
                let key = String(decoding: b[ks..<i], as: UTF8.self)
                i += 2
                var value: [UInt8] = []
                while true {
                    guard i < b.count else { throw ParseError(why: "unterminated value of label \"\(key)\"") }
                    let c = b[i]
                    if c == UInt8(ascii: "\"") { break }
                    if c == UInt8(ascii: "\\") {
                        guard i + 1 < b.count else { throw ParseError(why: "dangling escape in label \"\(key)\"") }
                        let e = b[i + 1]
                        value.append(e == UInt8(ascii: "n") ? 0x0A : e)
                        i += 2
                    } else {
                        value.append(c)
                        i += 1
                    }
                }
                i += 1  // closing quote
                pairs.append(Label(key, String(decoding: value, as: UTF8.self)))
                if i < b.count && b[i] == UInt8(ascii: ",") { i += 1 }
            }
            guard i < b.count else { throw ParseError(why: "missing closing }") }
            guard i == b.count - 1 else { throw ParseError(why: "unexpected text after }") }
        }
        let labels = Labels(pairs)
        do {
            try labels.validate()
        } catch {
            throw ParseError(why: error.description)
        }
        return labels
    }
}
