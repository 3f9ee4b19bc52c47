import Foundation
import VigilCore

/// `HOST:PORT` as given on the command line (`127.0.0.1:9470`, `[::1]:9470`, `:9470`).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
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

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// 127.0.0.0/8, ::1 or localhost.
    public var isLoopback: Bool { host == "localhost" || host == "::1" || host.hasPrefix("127.") }
}

/// Per-series and cardinality limits applied to every write before it reaches the store.
public struct SeriesLimits: Sendable, Equatable {
    /// Labels per series, `__name__` included. A series over it makes the whole request 400.
    public var maxLabelsPerSeries = 64
    /// Bytes of a label name. Over it: 400.
    public var maxLabelNameBytes = 256
    /// Bytes of a label value. Over it: 400.
    public var maxLabelValueBytes = 4096
    /// New series accepted per second (0 = unlimited). Series over it are dropped and reported.
    public var maxNewSeriesPerSecond = 0
    /// Series known to this process (0 = unlimited). New series over it are dropped and reported.
    public var maxActiveSeries = 0

    public init() {}
}

/// Everything `vigil serve` needs besides the store and the decoders.
public struct ServerOptions: Sendable {
    public var listen = ListenAddress(host: "127.0.0.1", port: 9470)
    /// Largest request body accepted (413 above).
    public var maxBodyBytes = 64 << 20
    /// Bearer token required on every route except `/-/healthy` and `/-/ready` (nil: no auth).
    public var authToken: String?
    public var limits = SeriesLimits()
    /// Requests being decoded or written at once; the next one gets 503 + Retry-After.
    public var maxInflightRequests = 64
    /// Body bytes held by in-flight requests; over it: 503 + Retry-After.
    public var maxInflightBytes = 512 << 20
    /// HTTP header/body/idle deadlines and the connection cap (ConnectionGuard.swift).
    public var connections = ConnectionOptions()
    /// Seconds put in `Retry-After` on a 503.
    public var retryAfterSeconds = 1
    /// Graphite plaintext TCP listener (nil: off).
    public var graphiteListen: ListenAddress?
    /// StatsD UDP listener (nil: off).
    public var statsdListen: ListenAddress?
    /// StatsD flush interval.
    public var statsdFlushInterval: Duration = .seconds(10)
    /// Pull collectors (scrape targets, host collector).
    public var config = VigilConfig()

    public init() {}
}
