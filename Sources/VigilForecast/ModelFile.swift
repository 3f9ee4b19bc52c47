import Foundation
import VigilCore

/// The `.vgm` model file (format version 1, documented in docs/models.md):
///
///     bytes 0..<8   magic "VIGILVGM"
///     u32 LE        format version (1)
///     u32 LE        header length N
///     N bytes       header: UTF-8 JSON object (kind, L, H, step, normalisation, training_data_hash, metrics,
///                   tensors: [{name, shape}] in storage order, dtype "f64le", …)
///     padding       zero bytes up to a multiple of 8
///     tensors       raw little-endian IEEE-754 binary64, in header order, row-major
public struct ModelFile: Sendable {
    public static let magic = Array("VIGILVGM".utf8)
    public static let version: UInt32 = 1

    public var header: [String: JSONValue]
    public var tensors: [(name: String, shape: [Int], data: [Double])]

    public init(header: [String: JSONValue], tensors: [(name: String, shape: [Int], data: [Double])]) {
        self.header = header
        self.tensors = tensors
    }

    public enum FormatError: Error, CustomStringConvertible {
        case badMagic(String), unsupportedVersion(UInt32), truncated(String), badHeader(String), missing(String)
        public var description: String {
            switch self {
            case .badMagic(let f): return "\(f): not a Vigil model file (bad magic)"
            case .unsupportedVersion(let v): return "unsupported model file version \(v) (this Vigil reads version 1)"
            case .truncated(let f): return "\(f): truncated model file"
            case .badHeader(let s): return "invalid model header: \(s)"
            case .missing(let s): return "model file lacks \(s)"
            }
        }
    }

    public func tensor(_ name: String) throws -> [Double] {
        guard let t = tensors.first(where: { $0.name == name }) else { throw FormatError.missing("tensor \(name)") }
        return t.data
    }

    public func encode() throws -> [UInt8] {
        var h = header
        h["tensors"] = .array(tensors.map { .object(["name": .string($0.name), "shape": .array($0.shape.map { .number(Double($0)) })]) })
        h["dtype"] = .string("f64le")
        h["format_version"] = .number(Double(Self.version))
        let json = JSONValue.object(h).serialized()
        var out = Self.magic
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        let jb = Array(json.utf8)
        u32(Self.version)
        u32(UInt32(jb.count))
        out += jb
        while out.count % 8 != 0 { out.append(0) }
        for t in tensors {
            precondition(t.shape.reduce(1, *) == t.data.count, "BUG: tensor \(t.name) shape/data mismatch")
            out.reserveCapacity(out.count + t.data.count * 8)
            for v in t.data { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        }
        return out
    }

    public static func decode(_ b: [UInt8], name: String = "model") throws -> ModelFile {
        guard b.count >= 16, Array(b[0..<8]) == magic else { throw FormatError.badMagic(name) }
        func u32(_ o: Int) -> UInt32 { UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24 }
        let version = u32(8)
        guard version == Self.version else { throw FormatError.unsupportedVersion(version) }
        let n = Int(u32(12))
        guard b.count >= 16 + n else { throw FormatError.truncated(name) }
        let json = String(decoding: b[16..<(16 + n)], as: UTF8.self)
        guard case .object(let header)? = JSONValue.parse(json) else { throw FormatError.badHeader("not a JSON object") }
        var off = 16 + n
        while off % 8 != 0 { off += 1 }
        var tensors: [(String, [Int], [Double])] = []
        guard case .array(let specs)? = header["tensors"] else { throw FormatError.badHeader("no tensors list") }
        for spec in specs {
            guard case .object(let o) = spec, case .string(let tn)? = o["name"], case .array(let sh)? = o["shape"] else {
                throw FormatError.badHeader("bad tensor entry")
            }
            // Every dimension a whole number ≥ 0, and the product no more doubles than the file holds (a bad
            // header must be an error, never a trap or a huge allocation).
            var shape: [Int] = []
            var count = 1
            for d in sh {
                guard let x = d.number, x >= 0, x == x.rounded(.towardZero) else {
                    throw FormatError.badHeader("tensor \(tn): shape \(JSONValue.array(sh).serialized()) is not a list of whole numbers ≥ 0")
                }
                guard x <= Double(b.count) else { throw FormatError.truncated(name) }
                let (c, o) = count.multipliedReportingOverflow(by: Int(x))
                guard !o else { throw FormatError.truncated(name) }
                shape.append(Int(x))
                count = c
            }
            guard count <= (b.count - off) / 8 else { throw FormatError.truncated(name) }
            var data = [Double](repeating: 0, count: count)
            for i in 0..<count {
                var bits: UInt64 = 0
                for k in 0..<8 { bits |= UInt64(b[off + i * 8 + k]) << (8 * UInt64(k)) }
                data[i] = Double(bitPattern: bits)
            }
            off += count * 8
            tensors.append((tn, shape, data))
        }
        return ModelFile(header: header, tensors: tensors.map { (name: $0.0, shape: $0.1, data: $0.2) })
    }

    public static func read(path: String) throws -> ModelFile {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        return try decode([UInt8](d), name: path)
    }

    public func write(path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        try Data(try encode()).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

extension LinearForecaster {
    public func modelFile(extra: [String: JSONValue] = [:]) -> ModelFile {
        var h: [String: JSONValue] = [
            "kind": .string("forecaster"),
            "method": .string(method),
            "L": .number(Double(inputLength)),
            "H": .number(Double(horizon)),
            "step_seconds": .number(Double(stepMs) / 1000),
            "normalisation": .string("subtract_last_divide_std"),
            "seasonal_period": .number(Double(seasonalPeriod)),
            "coverage": .number(coverage),
            "lambda": .number(lambda),
            "training_data_hash": .string(trainingHash),
            "metrics": .object(metrics.mapValues { .number($0) }),
            "created_by": .string("vigil"),
        ]
        if let sel = selection {
            h["selection"] = .object(["method": .string("backtest"), "local_lags": .number(Double(sel.localLags)),
                                      "origins": .number(Double(sel.origins)), "lambda": .number(sel.lambda),
                                      "irls": .number(Double(sel.irls))])
        }
        for (k, v) in extra { h[k] = v }
        return ModelFile(header: h, tensors: [
            ("W", [inputLength, horizon], weights), ("b", [horizon], bias), ("q_lo", [horizon], qLo), ("q_hi", [horizon], qHi),
        ])
    }

    public init(modelFile m: ModelFile) throws {
        guard m.header["kind"]?.string == "forecaster" else {
            throw ModelFile.FormatError.badHeader("kind is \(m.header["kind"]?.string ?? "missing"), expected forecaster")
        }
        guard let L = m.header["L"]?.number.map(Int.init), let H = m.header["H"]?.number.map(Int.init), L > 0, H > 0 else {
            throw ModelFile.FormatError.badHeader("missing L or H")
        }
        let w = try m.tensor("W"), b = try m.tensor("b"), lo = try m.tensor("q_lo"), hi = try m.tensor("q_hi")
        guard w.count == L * H, b.count == H, lo.count == H, hi.count == H else {
            throw ModelFile.FormatError.badHeader("tensor sizes do not match L=\(L), H=\(H)")
        }
        var metrics: [String: Double] = [:]
        if case .object(let o)? = m.header["metrics"] { for (k, v) in o { if let x = v.number { metrics[k] = x } } }
        self.init(inputLength: L, horizon: H, stepMs: Int64(((m.header["step_seconds"]?.number ?? 0) * 1000).rounded()),
                  weights: w, bias: b, qLo: lo, qHi: hi, coverage: m.header["coverage"]?.number ?? 0.9,
                  lambda: m.header["lambda"]?.number ?? 0, method: m.header["method"]?.string ?? "linear",
                  seasonalPeriod: m.header["seasonal_period"]?.number.map(Int.init) ?? L,
                  trainingHash: m.header["training_data_hash"]?.string ?? "", metrics: metrics)
        if case .object(let o)? = m.header["selection"] {
            guard o["method"]?.string == "backtest", let lags = o["local_lags"]?.number, let n = o["origins"]?.number, lags >= 1, n >= 1 else {
                throw ModelFile.FormatError.badHeader("selection: expected method \"backtest\", local_lags ≥ 1 and origins ≥ 1")
            }
            var sel = BacktestSelection()
            sel.localLags = Int(lags); sel.origins = Int(n)
            sel.lambda = o["lambda"]?.number ?? sel.lambda
            sel.irls = o["irls"]?.number.map(Int.init) ?? sel.irls
            selection = sel
        }
    }
}

/// A minimal JSON value (header of model files), serialised with sorted keys so files are reproducible.
public indirect enum JSONValue: Sendable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    public var number: Double? { if case .number(let d) = self { return d }; return nil }
    public var string: String? { if case .string(let s) = self { return s }; return nil }

    public func serialized() -> String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .number(let d):
            if !d.isFinite { return "null" }
            if d == d.rounded() && abs(d) < 1e15 { return String(Int64(d)) }
            return "\(d)"
        case .string(let s):
            return JSONText.quote(s)
        case .array(let a): return "[" + a.map { $0.serialized() }.joined(separator: ",") + "]"
        case .object(let o):
            return "{" + o.keys.sorted().map { JSONValue.string($0).serialized() + ":" + o[$0]!.serialized() }.joined(separator: ",") + "}"
        }
    }

    /// Parses JSON text with VigilCore's strict `JSONReader`. Numbers are read with Swift's own `Double(String)`,
    /// which rounds correctly, so a number written by `serialized()` (shortest round-trip form) comes back bit for
    /// bit; Foundation's JSONSerialization on Linux is off by an ulp for about 40 % of doubles, which broke model-file
    /// round trips (CI, FailureTests).
    public static func parse(_ s: String) -> JSONValue? {
        var text = s
        guard let node = text.withUTF8({ b in try? JSONReader.parse(UnsafeRawBufferPointer(b), maxDepth: 512) }) else { return nil }
        return from(node)
    }

    static func from(_ n: JSONNode) -> JSONValue? {
        switch n {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .number(let t): return Double(t).map { .number($0) }
        case .string(let s): return .string(s)
        case .array(let a):
            var out: [JSONValue] = []
            for x in a { guard let v = from(x) else { return nil }; out.append(v) }
            return .array(out)
        case .object(let members):
            var out: [String: JSONValue] = [:]
            for (k, x) in members { guard let v = from(x) else { return nil }; out[k] = v }
            return .object(out)
        }
    }
}
