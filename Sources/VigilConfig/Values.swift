import Foundation
import VigilCore

/// A positive duration written the Prometheus way (`30s`, `5m`, `1h30m`, `15d`); the one parser for every duration
/// in the config.
public struct ConfigDuration: Decodable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public var duration: Duration { .milliseconds(milliseconds) }
    public var description: String { DurationParser.format(milliseconds) }

    /// Parses `text`; the error message is the one the config reports.
    public static func parse(_ text: String) -> Result<ConfigDuration, ParseFailure> {
        guard let ms = try? DurationParser.milliseconds(text) else {
            return .failure(ParseFailure(message: "expected a duration like 30s, 5m or 1h30m, got \"\(text)\""))
        }
        guard ms > 0 else { return .failure(ParseFailure(message: "expected a positive duration, got \"\(text)\"")) }
        return .success(ConfigDuration(milliseconds: ms))
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        switch Self.parse(s) {
        case .success(let d): self = d
        case .failure(let f): throw DecodingError.dataCorruptedError(in: c, debugDescription: f.message)
        }
    }

    public static func < (a: ConfigDuration, b: ConfigDuration) -> Bool { a.milliseconds < b.milliseconds }
}

public struct ParseFailure: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// A byte count: a plain integer or a number with a unit (`64MiB`, `512MB`, `1GiB`, `4096`).
public struct ByteSize: Decodable, Sendable, Hashable, CustomStringConvertible {
    public var bytes: Int

    public init(bytes: Int) { self.bytes = bytes }
    public var description: String { "\(bytes)" }

    public static func parse(_ text: String) -> Result<ByteSize, ParseFailure> {
        let t = text.trimmingCharacters(in: .whitespaces)
        let digits = t.prefix(while: { $0.isASCII && $0.isNumber })
        let unit = t.dropFirst(digits.count).trimmingCharacters(in: .whitespaces)
        let units: [String: Int] = ["": 1, "B": 1, "KB": 1000, "MB": 1_000_000, "GB": 1_000_000_000,
                                    "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30]
        guard !digits.isEmpty, let n = Int(digits), let m = units[unit] else {
            return .failure(ParseFailure(message: "expected a size like 4096, 64MiB or 1GB, got \"\(text)\""))
        }
        let (v, overflow) = n.multipliedReportingOverflow(by: m)
        guard !overflow, v > 0 else { return .failure(ParseFailure(message: "expected a positive size, got \"\(text)\"")) }
        return .success(ByteSize(bytes: v))
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        switch Self.parse(s) {
        case .success(let b): self = b
        case .failure(let f): throw DecodingError.dataCorruptedError(in: c, debugDescription: f.message)
        }
    }
}

/// `HOST:PORT` (`127.0.0.1:9470`, `[::1]:9470`, `:9470` = all interfaces): the one parser for listen addresses, in the
/// config and on the command line.
public struct ListenAddress: Decodable, Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let input: String
        public var description: String { "invalid listen address \"\(input)\" (expected HOST:PORT, e.g. 127.0.0.1:9470)" }
    }

    /// - Parameter bareHost: the host a bare `:PORT` means (all interfaces for HTTP; loopback for the
    ///   unauthenticated Graphite/StatsD listeners).
    public init(parsing s: String, bareHost: String = "0.0.0.0") throws(ParseError) {
        guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]),
              (0...65535).contains(port) else { throw ParseError(input: s) }
        var host = String(s[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = bareHost }
        self.init(host: host, port: port)
    }

    /// 127.0.0.0/8, ::1 or localhost.
    public var isLoopback: Bool { host == "localhost" || host == "::1" || host.hasPrefix("127.") }

    /// Decodes `HOST:PORT` where a bare `:PORT` means loopback (the unauthenticated Graphite/StatsD listeners).
    static func decodeLoopbackDefault(from decoder: any Decoder) throws -> ListenAddress {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        do { return try ListenAddress(parsing: s, bareHost: "127.0.0.1") } catch {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected HOST:PORT such as 127.0.0.1:2003, got \"\(s)\"")
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        do { try self.init(parsing: s) } catch {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected HOST:PORT such as 127.0.0.1:9470, got \"\(s)\"")
        }
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A value with where it was written, for checks made after decoding (a model file that cannot be read, a selector
/// that does not parse) that still report `file:line:column: path`.
public struct Located<Value: Decodable & Sendable>: Decodable, Sendable {
    public var value: Value
    public var location: ConfigLocation?

    public init(_ value: Value, location: ConfigLocation? = nil) {
        self.value = value
        self.location = location
    }

    public init(from decoder: any Decoder) throws {
        value = try Value(from: decoder)
        location = ConfigLocation(decoder)
    }

    /// An error at this value: `vigil.yml:9:22: forecast.model: <message>`.
    public func error(_ message: String) -> VigilConfig.ConfigError {
        VigilConfig.ConfigError(at: location, message)
    }
}

extension Located: Equatable where Value: Equatable {
    public static func == (a: Located, b: Located) -> Bool { a.value == b.value }
}

/// A label name valid for the store (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`).
public struct LabelName: Decodable, Sendable, Hashable {
    public var name: String
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        name = try c.decode(String.self)
        guard Labels.isValidLabelName(name), !name.hasPrefix("__") else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected a label name such as instance, got \"\(name)\"")
        }
    }
}
