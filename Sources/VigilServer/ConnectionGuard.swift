import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization
import VigilCore
#if canImport(Glibc)
import Glibc
#endif

/// Deadlines and the connection cap of the HTTP listener.
///
/// - header: from accept (or from the first byte of a keep-alive request) until the request head is parsed;
/// - body: from the parsed head until the last body byte (the whole body, whatever its framing);
/// - idle: a keep-alive connection with no request after the last answer.
/// A request being handled (body read, answer not yet written) has no deadline: slow queries are bounded elsewhere.
public struct ConnectionOptions: Sendable, Equatable {
    public var headerTimeout: Duration = .seconds(10)
    public var bodyTimeout: Duration = .seconds(60)
    public var idleTimeout: Duration = .seconds(60)
    /// Open HTTP connections at most; 0 = derived from `RLIMIT_NOFILE` at start (`derivedMaxConnections`).
    public var maxConnections = 0

    public init() {}

    /// Leaves room for the store's files, the WAL, listeners and collectors: ¾ of the descriptor limit, and at
    /// least 256 descriptors for everything else.
    public static func derivedMaxConnections(openFileLimit: Int) -> Int {
        max(32, min(openFileLimit * 3 / 4, openFileLimit - 256))
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit in force afterwards.
@discardableResult
public func raiseOpenFileLimit() -> Int {
    var rl = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0 else { return 1024 }
    if rl.rlim_cur < rl.rlim_max {
        var raised = rl
        raised.rlim_cur = rl.rlim_max
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { rl = raised }
    }
    return rl.rlim_cur >= UInt(Int.max) ? Int.max : Int(rl.rlim_cur)
}

/// The open connections, so that a new one over the cap can take the place of an idle keep-alive connection.
final class ConnectionRegistry: Sendable {
    private struct Entry {
        let channel: any Channel
        var idle: Bool
    }
    private struct State {
        var next = 0
        var open: [Int: Entry] = [:]
        var lastCapLog: ContinuousClock.Instant?
        var refusedSinceLog = 0
    }
    private let state = Mutex(State())
    let cap: Int
    let metrics: SelfMetrics
    let logger: Logger

    init(cap: Int, metrics: SelfMetrics, logger: Logger) {
        self.cap = cap
        self.metrics = metrics
        self.logger = logger
        metrics.describe("vigil_http_connections", "gauge", "Open HTTP connections.")
        metrics.describe("vigil_http_connections_closed_total", "counter",
                         "HTTP connections closed by the server, by reason (header_timeout, body_timeout, idle_timeout, evicted, over_cap).")
        metrics.set("vigil_http_connections_max", [], Double(cap))
        metrics.describe("vigil_http_connections_max", "gauge", "The connection cap (--max-connections).")
    }

    /// Admits `channel`, closing the oldest connection with no request in progress (idle keep-alive, or opened
    /// and silent) when at the cap; nil when every open connection is busy (the caller refuses the new one).
    func admit(_ channel: any Channel) -> Int? {
        let (id, evicted, count, log): (Int?, (any Channel)?, Int, Int?) = state.withLock { s in
            var evicted: (any Channel)?
            if s.open.count >= cap {
                if let victim = s.open.filter({ $0.value.idle }).min(by: { $0.key < $1.key }) {
                    evicted = victim.value.channel
                    s.open[victim.key] = nil
                } else {
                    s.refusedSinceLog += 1
                    let now = ContinuousClock.now
                    var log: Int?
                    if s.lastCapLog.map({ now - $0 >= .seconds(60) }) ?? true {
                        s.lastCapLog = now
                        log = s.refusedSinceLog
                        s.refusedSinceLog = 0
                    }
                    return (nil, nil, s.open.count, log)
                }
            }
            let id = s.next
            s.next += 1
            s.open[id] = Entry(channel: channel, idle: true)
            var log: Int?
            if evicted != nil {
                let now = ContinuousClock.now
                if s.lastCapLog.map({ now - $0 >= .seconds(60) }) ?? true {
                    s.lastCapLog = now
                    log = 0
                }
            }
            return (id, evicted, s.open.count, log)
        }
        if let evicted {
            metrics.add("vigil_http_connections_closed_total", [Label("reason", "evicted")])
            evicted.close(promise: nil)
        }
        if id == nil { metrics.add("vigil_http_connections_closed_total", [Label("reason", "over_cap")]) }
        if let log {
            logger.warning("HTTP connection cap reached: idle keep-alive connections are closed to make room, new connections refused with 503 while all are busy (raise --max-connections or the open-file limit)",
                           metadata: ["max_connections": "\(cap)", "refused_since_last_log": "\(log)"])
        }
        metrics.set("vigil_http_connections", [], Double(count))
        return id
    }

    func setIdle(_ id: Int, _ idle: Bool) {
        state.withLock { s in s.open[id]?.idle = idle }
    }

    func remove(_ id: Int) {
        let n = state.withLock { s in
            s.open[id] = nil
            return s.open.count
        }
        metrics.set("vigil_http_connections", [], Double(n))
    }
}

/// Hummingbird's HTTP/1 child channel with Vigil's connection cap and deadlines in front of it.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel
    let registry: ConnectionRegistry
    let options: ConnectionOptions

    init(responder: @escaping HTTPChannelHandler.Responder, registry: ConnectionRegistry, options: ConnectionOptions) {
        self.inner = HTTP1Channel(responder: responder,
                                  configuration: .init(additionalChannelHandlers: [RequestPhaseHandler()]))
        self.registry = registry
        self.options = options
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard let id = registry.admit(channel) else {
            // Answered 503 and closed as soon as it is active; the HTTP handler behind sees only the close.
            do {
                try channel.pipeline.syncOperations.addHandler(RefuseConnection(), position: .first)
            } catch {
                channel.close(promise: nil)
            }
            return inner.setup(channel: channel, logger: logger)
        }
        let watch = ConnectionWatch(id: id, registry: registry, options: options)
        do {
            try channel.pipeline.syncOperations.addHandler(watch, position: .first)
        } catch {
            registry.remove(id)
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// A connection over the cap while every open one is busy: one 503 with `Retry-After`, then close. Reads nothing.
final class RefuseConnection: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var sent = false

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { refuse(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        refuse(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    private func refuse(_ context: ChannelHandlerContext) {
        guard !sent else { return }
        sent = true
        let raw = HTTPFailure.unavailable("overloaded: too many open connections, retry later").rawHTTP1(retryAfter: 1)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: raw))).whenComplete { _ in
            channel.close(mode: .output, promise: nil)
            channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
        }
    }
}

/// Sees the raw bytes of one connection (first in the pipeline) and owns its deadline. `RequestPhaseHandler`,
/// after the HTTP decoder, tells it where each request stands. Both run on the channel's event loop.
final class ConnectionWatch: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let id: Int
    let registry: ConnectionRegistry
    let options: ConnectionOptions

    /// Request heads parsed and answers finished.
    var heads = 0
    var answered = 0
    /// A request body is still arriving.
    var inBody = false
    /// Bytes arrived since the last request boundary (a request head is being received).
    var pendingBytes = false
    /// No request finished yet: before the first head the header deadline runs from accept.
    var fresh = true
    /// The answer to the current request was started (no raw 408 may be written any more).
    var answerStarted = false
    var phaseStart = NIODeadline.now()
    var bodyDeadline = NIODeadline.distantFuture
    var lingerDeadline: NIODeadline?
    private var scheduled: Scheduled<Void>?
    private var scheduledAt: NIODeadline?
    private weak var context: ChannelHandlerContext?

    init(id: Int, registry: ConnectionRegistry, options: ConnectionOptions) {
        self.id = id
        self.registry = registry
        self.options = options
    }

    enum Phase: Equatable { case idle, head, body, handling }

    var phase: Phase {
        if inBody { return .body }
        if heads > answered { return .handling }
        return pendingBytes || fresh ? .head : .idle
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        phaseStart = .now()
        reschedule()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        scheduled?.cancel()
        scheduled = nil
        registry.remove(id)
    }

    func channelInactive(context: ChannelHandlerContext) {
        scheduled?.cancel()
        scheduled = nil
        registry.remove(id)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !pendingBytes && !inBody && heads == answered {
            // The first bytes of a request: the header deadline runs from here (from accept on a new connection).
            pendingBytes = true
            if !fresh { phaseStart = .now() }
            registry.setIdle(id, false)
            reschedule()
        }
        context.fireChannelRead(data)
    }

    // Called by RequestPhaseHandler.
    func headParsed() {
        heads += 1
        inBody = true
        pendingBytes = false
        answerStarted = false
        bodyDeadline = .now() + TimeAmount(options.bodyTimeout)
        reschedule()
    }

    func requestEnded() {
        inBody = false
        pendingBytes = false
        if lingerDeadline != nil {
            // The unwanted body is over and the answer was sent with the output side closed: nothing more to do.
            lingerDeadline = nil
            context?.close(promise: nil)
            return
        }
        reschedule()
    }

    func answerHeadWritten() { answerStarted = true }

    /// The answer is on its way; returns true when the request body is still arriving (the caller stops reading it).
    func answerEnded() -> Bool {
        answered += 1
        fresh = false
        if phase == .idle {
            phaseStart = .now()
            registry.setIdle(id, true)
        }
        reschedule()
        return inBody
    }

    /// An answer was sent before the body was read (413, 503, 401): the body is not wanted. The output side is
    /// closed after the answer and the rest is discarded for at most 2 s (so the client reads the answer rather
    /// than a reset), then the connection closes.
    func linger() {
        lingerDeadline = .now() + .seconds(2)
        reschedule()
    }

    private var deadline: (NIODeadline, String)? {
        switch phase {
        case .handling: return nil
        case .body:
            if let l = lingerDeadline, l < bodyDeadline { return (l, "linger") }
            return (bodyDeadline, "body_timeout")
        case .head: return (phaseStart + TimeAmount(options.headerTimeout), "header_timeout")
        case .idle: return (phaseStart + TimeAmount(options.idleTimeout), "idle_timeout")
        }
    }

    private func reschedule() {
        guard let context else { return }
        let want = deadline?.0
        if want == scheduledAt { return }
        scheduled?.cancel()
        scheduled = nil
        scheduledAt = want
        guard let want else { return }
        scheduled = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: want) { [weak self] in
            self?.fire()
        }
    }

    private func fire() {
        scheduled = nil
        scheduledAt = nil
        guard let context, let (due, reason) = deadline else { return }
        guard due <= .now() else { return reschedule() }
        if reason != "linger" {
            registry.metrics.add("vigil_http_connections_closed_total", [Label("reason", reason)])
        }
        if (reason == "header_timeout" && pendingBytes) || (reason == "body_timeout" && !answerStarted) {
            let what = reason == "header_timeout" ? "request head not received within --http-header-timeout"
                : "request body not received within --http-body-timeout"
            let raw = HTTPFailure.requestTimeout(what).rawHTTP1(retryAfter: 1)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: raw))).whenComplete { _ in channel.close(promise: nil) }
        } else {
            context.close(promise: nil)
        }
    }
}

/// After the HTTP/1 decoder: reports request heads, request ends and answer ends to the connection's
/// `ConnectionWatch`, and stops reading a body nobody wants once the answer to it is written.
final class RequestPhaseHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var watch: ConnectionWatch?

    func handlerAdded(context: ChannelHandlerContext) {
        watch = try? context.pipeline.syncOperations.handler(type: ConnectionWatch.self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: watch?.headParsed()
        case .body: break
        case .end: watch?.requestEnded()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head: watch?.answerHeadWritten()
        case .body: break
        case .end:
            if watch?.answerEnded() == true {
                let channel = context.channel
                let done = context.eventLoop.makePromise(of: Void.self)
                done.futureResult.cascade(to: promise)
                context.writeAndFlush(data, promise: done)
                done.futureResult.whenComplete { _ in channel.close(mode: .output, promise: nil) }
                watch?.linger()
                return
            }
        }
        context.write(data, promise: promise)
    }
}
