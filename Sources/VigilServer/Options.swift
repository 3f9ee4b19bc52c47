@_exported import VigilConfig
import Foundation
import VigilCore
import VigilIngestPath

// `ListenAddress` (HOST:PORT) is VigilConfig's: one parser for the config file and the flags. `SeriesLimits` is
// VigilIngestPath's (every producer is held to them, not only HTTP).

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
    /// Where every collector and model loop gets the time (a `SimulatedClock` runs them in simulated time).
    public var clock: any VigilClock = WallClock()

    public init() {}
}
