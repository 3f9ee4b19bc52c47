import CNcurses
import Foundation

/// The ncurses layer: paints a `Grid` and reads keys, nothing else. One instance, used from one thread only.
/// The terminal is restored on `end()`, at exit (atexit), on SIGINT/SIGTERM/SIGHUP/SIGQUIT and on the crash
/// signals (the shim's handlers call endwin() and re-raise).
package final class Terminal {
    enum Colors { case none, basic, x256 }

    let screen: OpaquePointer
    let colors: Colors
    private var ended = false

    /// nil when there is no usable terminal (not a tty, unknown TERM, or `TERM=dumb`, which cannot address the
    /// cursor): the caller falls back to printing frames.
    package init?(colors wantColors: Bool) {
        setlocale(LC_ALL, "")
        let term = ProcessInfo.processInfo.environment["TERM"] ?? ""
        guard isatty(STDIN_FILENO) != 0, isatty(STDOUT_FILENO) != 0, !term.isEmpty, term != "dumb",
              let s = newterm(nil, vigil_stdout(), vigil_stdin()) else { return nil }
        screen = s
        vigil_install_restore()
        cbreak()
        noecho()
        nonl()
        keypad(vigil_stdscr(), true)
        curs_set(0)
        set_escdelay(25)
        wtimeout(vigil_stdscr(), 100)
        if wantColors && has_colors() {
            start_color()
            use_default_colors()
            colors = vigil_colors() >= 256 ? .x256 : .basic
            for st in Style.allCases {
                let (f, b) = Self.pair(st, colors)
                init_pair(Int16(st.rawValue + 1), f, b)
            }
        } else {
            colors = .none
        }
    }

    /// Whether the locale speaks UTF-8 (else Unicode glyphs would come out as garbage: use ASCII).
    package static var localeIsUTF8: Bool {
        setlocale(LC_ALL, "")
        guard let cs = nl_langinfo(nl_item(CODESET)) else { return false }
        return String(cString: cs).uppercased().replacingOccurrences(of: "-", with: "") == "UTF8"
    }

    static func pair(_ s: Style, _ c: Colors) -> (Int16, Int16) {
        if c == .x256 {
            switch s {
            case .normal: return (-1, -1)
            case .title: return (255, 24)
            case .header: return (16, 114)
            case .dim: return (245, -1)
            case .good: return (71, -1)
            case .warn: return (178, -1)
            case .bad: return (167, -1)
            case .selected: return (16, 153)
            case .accent: return (75, -1)
            case .forecast: return (141, -1)
            case .anomaly: return (208, -1)
            case .footer: return (16, 250)
            case .key: return (255, 24)
            case .error: return (255, 124)
            }
        }
        switch s {
        case .normal, .dim: return (-1, -1)
        case .title, .key: return (Int16(COLOR_WHITE), Int16(COLOR_BLUE))
        case .header: return (Int16(COLOR_BLACK), Int16(COLOR_GREEN))
        case .good: return (Int16(COLOR_GREEN), -1)
        case .warn: return (Int16(COLOR_YELLOW), -1)
        case .bad, .anomaly: return (Int16(COLOR_RED), -1)
        case .selected: return (Int16(COLOR_BLACK), Int16(COLOR_CYAN))
        case .accent: return (Int16(COLOR_CYAN), -1)
        case .forecast: return (Int16(COLOR_MAGENTA), -1)
        case .footer: return (Int16(COLOR_BLACK), Int16(COLOR_WHITE))
        case .error: return (Int16(COLOR_WHITE), Int16(COLOR_RED))
        }
    }

    func attrs(_ s: Style) -> (attr_t, Int16) {
        let bold = vigil_a_bold(), rev = vigil_a_reverse()
        if colors == .none {
            switch s {
            case .title, .footer, .selected: return (rev, 0)
            case .key, .error: return (rev | bold, 0)
            case .header, .bad, .anomaly: return (bold, 0)
            case .dim: return (vigil_a_dim(), 0)
            default: return (vigil_a_normal(), 0)
            }
        }
        let pair = Int16(s.rawValue + 1)
        switch s {
        case .title, .key, .bad, .anomaly, .error: return (bold, pair)
        case .dim: return (colors == .basic ? vigil_a_dim() : vigil_a_normal(), pair)
        default: return (vigil_a_normal(), pair)
        }
    }

    package var size: (width: Int, height: Int) {
        (Int(getmaxx(vigil_stdscr())), Int(getmaxy(vigil_stdscr())))
    }

    package func paint(_ grid: Grid) {
        let win = vigil_stdscr()
        for y in 0..<grid.height {
            var x = 0
            while x < grid.width {
                let style = grid[x, y].style
                var run: [wchar_t] = []
                var e = x
                while e < grid.width && grid[e, y].style == style {
                    // Never the bottom-right cell: writing it scrolls or errors on many terminals.
                    if y == grid.height - 1 && e == grid.width - 1 { break }
                    for u in grid[e, y].ch.unicodeScalars { run.append(wchar_t(bitPattern: u.value)) }
                    e += 1
                }
                if run.isEmpty { break }
                let (a, p) = attrs(style)
                vigil_set_style(a, p)
                run.withUnsafeBufferPointer { _ = mvaddnwstr(Int32(y), Int32(x), $0.baseAddress, Int32($0.count)) }
                x = e
            }
        }
        vigil_set_style(vigil_a_normal(), 0)
        wnoutrefresh(win)
        doupdate()
    }

    /// The next key, or nil after ~100 ms without one.
    package func readKey() -> Key? {
        var code: UInt32 = 0
        switch vigil_read_key(&code) {
        case 1:
            switch code {
            case 9: return .tab
            case 10, 13: return .enter
            case 27: return .escape
            case 8, 127: return .backspace
            default:
                guard let u = Unicode.Scalar(code), code >= 32 else { return nil }
                return .char(Character(u))
            }
        case 2:
            switch Int32(code) {
            case KEY_UP: return .up
            case KEY_DOWN: return .down
            case KEY_LEFT: return .left
            case KEY_RIGHT: return .right
            case KEY_PPAGE: return .pageUp
            case KEY_NPAGE: return .pageDown
            case KEY_HOME: return .home
            case KEY_END: return .end
            case KEY_ENTER: return .enter
            case KEY_BTAB: return .backTab
            case KEY_BACKSPACE, KEY_DC: return .backspace
            case KEY_RESIZE: return .resize
            default: return nil
            }
        default:
            return nil
        }
    }

    /// Forgets the screen contents so the next paint redraws every cell (after a resize).
    package func invalidate() {
        clearok(vigil_stdscr(), true)
        werase(vigil_stdscr())
    }

    package func end() {
        guard !ended else { return }
        ended = true
        vigil_end_curses()
        delscreen(screen)
    }

    deinit { end() }
}
