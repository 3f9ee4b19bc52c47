import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import VigilConfig
import VigilCore
import VigilIngest
import VigilIngestPath

/// Graphite plaintext over TCP (`path value timestamp\n`). There is no answer channel: a malformed line is
/// logged and counted under `vigil_rejected_samples_total{reason="malformed"}`; the other lines are written.
/// Lines are handed to the decoder in batches of whatever arrived in one read (complete lines only).
public final class GraphiteListener: Sendable {
    let address: ListenAddress
    let ingestor: Ingestor
    let decoders: IngestDecoders
    let logger: Logger
    /// Longest line accepted; a connection sending more without a newline is closed.
    let maxLineBytes = 64 << 10
    private let warnRejected = LogThrottle()

    public init(address: ListenAddress, ingestor: Ingestor, decoders: IngestDecoders, logger: Logger) {
        self.address = address
        self.ingestor = ingestor
        self.decoders = decoders
        self.logger = logger
    }

    /// Binds and serves until cancelled; `onBound` gets the port.
    public func run(onBound: @Sendable (Int) async -> Void = { _ in }) async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: address.host, port: address.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        await onBound(server.channel.localAddress?.port ?? 0)
        logger.info("graphite listening", metadata: ["address": "\(address)"])
        try await withTaskCancellationHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { inbound in
                    for try await conn in inbound {
                        group.addTask { await self.serve(conn) }
                    }
                }
            }
        } onCancel: {
            server.channel.close(promise: nil)
        }
    }

    private func serve(_ conn: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        do {
            try await conn.executeThenClose { inbound, _ in
                var pending: [UInt8] = []
                for try await var buf in inbound {
                    if let bytes = buf.readBytes(length: buf.readableBytes) { pending += bytes }
                    guard let lastNL = pending.lastIndex(of: UInt8(ascii: "\n")) else {
                        if pending.count > maxLineBytes { throw DecodeFailure("graphite line longer than \(maxLineBytes) bytes") }
                        continue
                    }
                    let lines = Array(pending[...lastNL])
                    pending.removeSubrange(...lastNL)
                    await ingest(lines)
                }
                if !pending.isEmpty { await ingest(pending + [UInt8(ascii: "\n")]) }
            }
        } catch {
            logger.debug("graphite connection closed", metadata: ["error": "\(error)"])
        }
    }

    /// Decodes a chunk of complete lines. If the chunk is refused, it is decoded again line by line so that one bad
    /// line (there is no way to tell the sender) costs only itself; bad lines are counted and logged.
    func ingest(_ lines: [UInt8]) async {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var series: [SeriesSamples]
        do {
            series = try decoders.graphite(lines, now)
        } catch {
            series = []
            var bad = 0
            var firstError = ""
            for line in lines.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
                do { series += try decoders.graphite(Array(line) + [UInt8(ascii: "\n")], now) } catch {
                    bad += 1
                    if firstError.isEmpty { firstError = "\(error)" }
                }
            }
            ingestor.metrics.add("vigil_rejected_samples_total", [Label("reason", "malformed")], Double(bad))
            if let held = warnRejected.admit() {
                logger.warning("graphite lines rejected",
                               metadata: ["lines": "\(bad)", "first": "\(firstError)", "similar_since_last_log": "\(held)"])
            }
        }
        guard !series.isEmpty else { return }
        do {
            try await ingestor.ingest(series, source: "graphite", validated: decoders.validatesLabels)
        } catch {
            logger.warning("graphite write failed", metadata: ["error": "\(error)"])
        }
    }
}

/// StatsD over UDP. Datagrams are decoded into events and aggregated; every flush interval the aggregate is written:
/// counters as cumulative `<name>_total` (value / sample rate), gauges as `<name>` (last value, `+`/`-` deltas
/// added), timers/histograms/distributions as cumulative `<name>_sum` / `<name>_count`, and sets as `<name>`
/// (distinct members seen in the interval).
public final class StatsDListener: Sendable {
    let address: ListenAddress
    let ingestor: Ingestor
    let decoders: IngestDecoders
    let logger: Logger
    let flushInterval: Duration

    struct Aggregate {
        var counters: [Labels: Double] = [:]
        var gauges: [Labels: Double] = [:]
        var timerSum: [Labels: Double] = [:]
        var timerCount: [Labels: Double] = [:]
        var sets: [Labels: Set<String>] = [:]
        var dirty = Set<Labels>()
    }

    private let agg = Mutex(Aggregate())
    /// Receive buffer: a UDP datagram holds at most 65,507 bytes over IPv4, so a datagram filling the buffer
    /// is one that did not fit (counted as `truncated` and dropped, never decoded cut short).
    static let datagramBufferBytes = 64 << 10
    private let warnMalformed = LogThrottle()
    private let warnTruncated = LogThrottle()
    private let warnLabels = LogThrottle()

    public init(address: ListenAddress, ingestor: Ingestor, decoders: IngestDecoders, logger: Logger, flushInterval: Duration) {
        self.address = address
        self.ingestor = ingestor
        self.decoders = decoders
        self.logger = logger
        self.flushInterval = flushInterval
        ingestor.metrics.describe("vigil_statsd_datagrams_total", "counter", "StatsD datagrams by result (ok, malformed, truncated).")
        ingestor.metrics.describe("vigil_statsd_datagram_bytes_total", "counter", "Bytes of the StatsD datagrams decoded.")
    }

    public func run(onBound: @Sendable (Int) async -> Void = { _ in }) async throws {
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: Self.datagramBufferBytes))
            .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
            .bind(host: address.host, port: address.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<AddressedEnvelope<ByteBuffer>, AddressedEnvelope<ByteBuffer>>(
                        wrappingChannelSynchronously: channel)
                }
            }
        await onBound(channel.channel.localAddress?.port ?? 0)
        logger.info("statsd listening", metadata: ["address": "\(address)"])
        try await withTaskCancellationHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: self.flushInterval) } catch { break }
                        await self.flush()
                    }
                }
                try await channel.executeThenClose { inbound, _ in
                    for try await var envelope in inbound {
                        if envelope.data.readableBytes >= Self.datagramBufferBytes {
                            self.truncated(envelope.data.readableBytes, from: envelope.remoteAddress)
                            continue
                        }
                        let bytes = envelope.data.readBytes(length: envelope.data.readableBytes) ?? []
                        self.receive(bytes)
                    }
                }
                group.cancelAll()
            }
        } onCancel: {
            channel.channel.close(promise: nil)
        }
        await flush()
    }

    func truncated(_ size: Int, from sender: SocketAddress) {
        ingestor.metrics.add("vigil_statsd_datagrams_total", [Label("result", "truncated")])
        ingestor.metrics.add("vigil_rejected_samples_total", [Label("reason", "malformed")])
        if let held = warnTruncated.admit() {
            logger.warning("statsd datagram dropped: it filled the \(Self.datagramBufferBytes)-byte receive buffer and may have been cut",
                           metadata: ["bytes": "\(size)", "from": "\(sender)", "similar_since_last_log": "\(held)"])
        }
    }

    /// Decodes one datagram into the aggregate. A malformed datagram is counted and dropped whole; a metric whose
    /// labels break the series limits (`SeriesLimits`, the same check as every HTTP format) is counted and dropped.
    public func receive(_ packet: [UInt8]) {
        let metrics = ingestor.metrics
        let events: [StatsDEvent]
        do { events = try decoders.statsd(packet) } catch {
            metrics.add("vigil_statsd_datagrams_total", [Label("result", "malformed")])
            metrics.add("vigil_rejected_samples_total", [Label("reason", "malformed")])
            if let held = warnMalformed.admit() {
                logger.warning("statsd datagram rejected",
                               metadata: ["bytes": "\(packet.count)", "error": "\(error)", "similar_since_last_log": "\(held)"])
            }
            return
        }
        metrics.add("vigil_statsd_datagrams_total", [Label("result", "ok")])
        metrics.add("vigil_statsd_datagram_bytes_total", [], Double(packet.count))
        var refused = 0
        var firstRefusal = ""
        agg.withLock { a in
            for e in events {
                var l = e.tags.filter { Labels.isValidLabelName($0.name) && !$0.value.isEmpty && $0.name != "__name__" }
                let name = Self.sanitize(e.name)
                l.append(Label("__name__", e.kind == .counter ? name + "_total" : name))
                let labels = Labels(l)
                if !a.dirty.contains(labels), let v = ingestor.violation(labels) {
                    refused += 1
                    if firstRefusal.isEmpty { firstRefusal = "\(Ingestor.short(labels)): \(v)" }
                    continue
                }
                let rate = e.sampleRate > 0 ? e.sampleRate : 1
                switch e.kind {
                case .counter: a.counters[labels, default: 0] += e.value / rate
                case .gauge: a.gauges[labels] = e.value
                case .gaugeDelta: a.gauges[labels] = (a.gauges[labels] ?? 0) + e.value
                case .timer, .histogram, .distribution:
                    a.timerSum[labels, default: 0] += e.value / rate
                    a.timerCount[labels, default: 0] += 1 / rate
                case .set: a.sets[labels, default: []].insert(e.setMember ?? String(e.value))
                }
                a.dirty.insert(labels)
            }
        }
        if refused > 0 {
            metrics.add("vigil_rejected_samples_total", [Label("reason", "malformed")], Double(refused))
            if let held = warnLabels.admit() {
                logger.warning("statsd metrics dropped: labels over the series limits",
                               metadata: ["metrics": "\(refused)", "first": "\(firstRefusal)", "similar_since_last_log": "\(held)"])
            }
        }
    }

    /// Writes the aggregate at the current time.
    public func flush() async {
        let t = Int64(Date().timeIntervalSince1970 * 1000)
        let batch: [SeriesSamples] = agg.withLock { a in
            var out: [SeriesSamples] = []
            for l in a.dirty {
                if let v = a.counters[l] { out.append(SeriesSamples(labels: l, timestamps: [t], values: [v])) }
                if let v = a.gauges[l] { out.append(SeriesSamples(labels: l, timestamps: [t], values: [v])) }
                if let s = a.timerSum[l], let c = a.timerCount[l] {
                    let n = l.metricName ?? ""
                    out.append(SeriesSamples(labels: l.setting("__name__", n + "_sum"), timestamps: [t], values: [s]))
                    out.append(SeriesSamples(labels: l.setting("__name__", n + "_count"), timestamps: [t], values: [c]))
                }
                if let s = a.sets[l] { out.append(SeriesSamples(labels: l, timestamps: [t], values: [Double(s.count)])) }
            }
            a.sets.removeAll()
            a.dirty.removeAll()
            return out
        }
        guard !batch.isEmpty else { return }
        do {
            try await ingestor.ingest(batch, source: "statsd", validated: decoders.validatesLabels)
        } catch {
            logger.warning("statsd flush failed", metadata: ["error": "\(error)"])
        }
    }

    static func sanitize(_ name: String) -> String {
        var out = ""
        for (i, u) in name.unicodeScalars.enumerated() {
            let ok = (u >= "a" && u <= "z") || (u >= "A" && u <= "Z") || u == "_" || u == ":" || (i > 0 && u >= "0" && u <= "9")
            out.unicodeScalars.append(ok ? u : "_")
        }
        return out.isEmpty ? "_" : out
    }
}
