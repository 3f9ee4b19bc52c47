import Foundation
import VigilCore

/// `vigil top`'s options (the CLI parses them).
package struct TopConfig: Sendable {
    package var url: String
    package var token: String?
    package var refreshMillis: Int64
    package var ascii: Bool
    package var approve: Bool
    /// Print one frame and exit (for scripts; no terminal needed).
    package var once: Bool
    package var view: View
    package var width: Int?
    package var height: Int?

    package init(url: String, token: String?, refreshMillis: Int64, ascii: Bool, approve: Bool, once: Bool,
                 view: View = .overview, width: Int? = nil, height: Int? = nil) {
        self.url = url; self.token = token; self.refreshMillis = refreshMillis; self.ascii = ascii
        self.approve = approve; self.once = once; self.view = view; self.width = width; self.height = height
    }
}

/// State shared by the fetch task and the UI thread (under a lock).
final class Shared: @unchecked Sendable {
    private let lock = NSLock()
    private var _model = TopModel()
    private var _version = 0
    private var _request = FetchRequest()
    private var _wake = false
    private var _quit = false
    private var _paused = false
    private var _decisions: [(String, Bool)] = []

    func withLock<T>(_ f: () -> T) -> T { lock.lock(); defer { lock.unlock() }; return f() }

    var model: (TopModel, Int) { withLock { (_model, _version) } }
    func publish(_ f: (inout TopModel) -> Void) { withLock { f(&_model); _version += 1 } }
    var request: FetchRequest { withLock { _request } }
    func setRequest(_ r: FetchRequest) { withLock { if r != _request { _request = r; _wake = true } } }
    func wake() { withLock { _wake = true } }
    func takeWake() -> Bool { withLock { defer { _wake = false }; return _wake } }
    var quit: Bool { get { withLock { _quit } } set { withLock { _quit = newValue } } }
    var paused: Bool { get { withLock { _paused } } set { withLock { _paused = newValue; _wake = true } } }
    func decide(_ id: String, _ approve: Bool) { withLock { _decisions.append((id, approve)); _wake = true } }
    func takeDecisions() -> [(String, Bool)] { withLock { defer { _decisions = [] }; return _decisions } }
}

package enum TopApp {
    /// Runs `vigil top`; returns the exit status.
    package static func run(_ cfg: TopConfig, clock: any VigilClock) async -> Int32 {
        let fetcher = TopFetcher(url: cfg.url, token: cfg.token, clock: clock)
        let asciiGlyphs = cfg.ascii || ProcessInfo.processInfo.environment["TERM"] == "dumb" || !Terminal.localeIsUTF8
        let ctx = RenderContext(url: fetcher.baseURL, glyphs: .forTerminal(ascii: asciiGlyphs),
                                utcOffsetSeconds: TimeZone.current.secondsFromGMT())
        if cfg.once { return await once(cfg, fetcher, ctx) }

        let shared = Shared()
        shared.setRequest(FetchRequest(view: cfg.view))
        let fetch = Task { await fetchLoop(shared, fetcher, clock: clock, refreshMillis: cfg.refreshMillis) }
        defer { fetch.cancel() }
        let status: Int32 = await withCheckedContinuation { cont in
            let t = Thread {
                cont.resume(returning: uiLoop(cfg, shared, ctx))
            }
            t.name = "vigil-top-ui"
            t.start()
        }
        shared.quit = true
        fetch.cancel()
        return status
    }

    /// One refresh, one frame on stdout (plain text), timings on stderr.
    static func once(_ cfg: TopConfig, _ fetcher: TopFetcher, _ ctx: RenderContext) async -> Int32 {
        var m = TopModel()
        var code: Int32 = 0
        do {
            m = try await fetcher.refresh(FetchRequest(view: cfg.view), previous: m)
        } catch let e as Unreachable {
            m.status = .unreachable(message: e.message, retryInSeconds: 0)
            code = 1
        } catch { code = 1 }
        var state = UIState(approveMode: cfg.approve)
        state.view = cfg.view
        let env = ProcessInfo.processInfo.environment
        let w = cfg.width ?? env["COLUMNS"].flatMap(Int.init) ?? 120
        let h = cfg.height ?? env["LINES"].flatMap(Int.init) ?? 40
        let grid = Renderer.render(m, state, width: w, height: h, ctx)
        print(grid.textLines.map { $0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) }
            .joined(separator: "\n"))
        if case .ok(_, let n, let ms) = m.status {
            FileHandle.standardError.write(Data("vigil top: \(n) requests, \(String(format: "%.1f", ms)) ms\n".utf8))
        }
        return code
    }

    static func fetchLoop(_ shared: Shared, _ fetcher: TopFetcher, clock: any VigilClock, refreshMillis: Int64) async {
        var failures = 0
        var first = true
        while !shared.quit && !Task.isCancelled {
            for (id, approve) in shared.takeDecisions() {
                let notice: String
                do { notice = try await fetcher.decide(id, approve: approve) } catch let e as Unreachable { notice = e.message } catch { notice = "\(error)" }
                shared.publish { $0.notice = notice }
            }
            var wait = refreshMillis
            if first || !shared.paused {
                first = false
                let req = shared.request
                do {
                    let (prev, _) = shared.model
                    let m = try await fetcher.refresh(req, previous: prev)
                    shared.publish { $0 = m }
                    failures = 0
                } catch {
                    failures += 1
                    // Back off: the refresh interval doubling per failure, at most 10 s.
                    wait = min(10_000, refreshMillis << min(failures - 1, 10))
                    let msg = (error as? Unreachable)?.message ?? "\(error)"
                    shared.publish { $0.status = .unreachable(message: msg, retryInSeconds: Int((wait + 999) / 1000)) }
                }
            }
            let deadline = clock.nowMillis() + wait
            while clock.nowMillis() < deadline && !shared.quit {
                if shared.takeWake() { break }
                do { try await clock.sleep(millis: 50) } catch { return }
            }
        }
    }

    /// The UI thread: paints on model changes, keys and resizes; never waits on the network.
    static func uiLoop(_ cfg: TopConfig, _ shared: Shared, _ ctx: RenderContext) -> Int32 {
        guard let term = Terminal(colors: true) else { return batchLoop(cfg, shared, ctx) }
        defer { term.end() }
        var state = UIState(approveMode: cfg.approve)
        state.view = cfg.view
        var shown = -1
        var dirty = true
        var model = TopModel()
        while true {
            let (m, version) = shared.model
            if dirty || version != shown {
                model = m; shown = version
                let (w, h) = term.size
                term.paint(Renderer.render(model, state, width: w, height: h, ctx))
                dirty = false
            }
            guard let key = term.readKey() else { continue }
            dirty = true
            if key == .resize { term.invalidate(); continue }
            let pending = Rows.pending(model, state)
            let series = Rows.series(model, state)
            let cmd = state.handle(key, rows: Rows.count(model, state), page: max(1, term.size.height - 8),
                                   pendingID: { $0 < pending.count ? pending[$0].id : nil },
                                   seriesID: { $0 < series.count ? series[$0].id : nil })
            shared.setRequest(FetchRequest(view: state.view, selector: state.selector))
            switch cmd {
            case .quit: return 0
            case .refetch: shared.wake()
            case .approve(let id): shared.decide(id, true)
            case .reject(let id): shared.decide(id, false)
            case .togglePause: shared.paused = state.paused
            case nil: break
            }
        }
    }

    /// No terminal (not a tty, `TERM=dumb`): print a plain frame after every refresh until interrupted.
    static func batchLoop(_ cfg: TopConfig, _ shared: Shared, _ ctx: RenderContext) -> Int32 {
        var state = UIState()
        state.view = cfg.view
        let env = ProcessInfo.processInfo.environment
        let w = cfg.width ?? env["COLUMNS"].flatMap(Int.init) ?? 80
        let h = cfg.height ?? env["LINES"].flatMap(Int.init) ?? 24
        var shown = 0
        while !shared.quit {
            let (m, version) = shared.model
            if version != shown {
                shown = version
                let grid = Renderer.render(m, state, width: w, height: h, ctx)
                let text = grid.textLines.map { $0.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) }
                    .joined(separator: "\n") + "\n\n"
                FileHandle.standardOutput.write(Data(text.utf8))
            }
            usleep(100_000)
        }
        return 0
    }
}
