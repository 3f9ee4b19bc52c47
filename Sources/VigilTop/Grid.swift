/// The screen as data: a width × height grid of cells (one character and one style each). The renderer builds it
/// from the model, the tests compare it with golden files, and the ncurses layer only paints it.

/// What a cell means; the painter maps each to colours/attributes (256 colours, 8 colours or none).
package enum Style: UInt8, CaseIterable, Sendable {
    case normal, title, header, dim, good, warn, bad, selected, accent, forecast, anomaly, footer, key, error

    /// One character per style in golden files.
    package var code: Character {
        switch self {
        case .normal: "."
        case .title: "T"
        case .header: "H"
        case .dim: "d"
        case .good: "g"
        case .warn: "w"
        case .bad: "b"
        case .selected: "S"
        case .accent: "a"
        case .forecast: "f"
        case .anomaly: "A"
        case .footer: "F"
        case .key: "K"
        case .error: "E"
        }
    }
}

package struct Cell: Equatable, Sendable {
    package var ch: Character
    package var style: Style
}

package struct Grid: Equatable, Sendable {
    package let width: Int
    package let height: Int
    package private(set) var cells: [Cell]

    package init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = Array(repeating: Cell(ch: " ", style: .normal), count: self.width * self.height)
    }

    package subscript(x: Int, y: Int) -> Cell {
        get { cells[y * width + x] }
        set { cells[y * width + x] = newValue }
    }

    /// Writes `text` at (x, y), clipped to the grid and to `maxWidth` cells; returns the cells written.
    /// Control characters and characters the terminal would draw two cells wide become `?`, so one character is
    /// always one cell and the grid is exactly what the terminal shows.
    @discardableResult
    package mutating func put(_ x: Int, _ y: Int, _ text: String, _ style: Style = .normal, maxWidth: Int = .max) -> Int {
        guard y >= 0, y < height else { return 0 }
        var cx = x, n = 0
        for ch in text {
            if n >= maxWidth || cx >= width { break }
            if cx >= 0 { self[cx, y] = Cell(ch: Grid.singleCell(ch), style: style) }
            cx += 1; n += 1
        }
        return n
    }

    /// Sets the style of a run of cells without changing their characters.
    package mutating func paint(_ x: Int, _ y: Int, _ count: Int, _ style: Style) {
        guard y >= 0, y < height else { return }
        for cx in max(0, x)..<min(width, x + max(0, count)) { self[cx, y].style = style }
    }

    /// Fills a whole row with blanks of one style.
    package mutating func fillRow(_ y: Int, _ style: Style) {
        guard y >= 0, y < height else { return }
        for cx in 0..<width { self[cx, y] = Cell(ch: " ", style: style) }
    }

    /// The characters, one line per row (trailing blanks kept: the grid is fixed-size).
    package var textLines: [String] {
        (0..<height).map { y in String((0..<width).map { self[$0, y].ch }) }
    }

    /// The styles, one `Style.code` per cell.
    package var styleLines: [String] {
        (0..<height).map { y in String((0..<width).map { self[$0, y].style.code }) }
    }

    /// The golden-file form: the text, a separator line, the styles.
    package var golden: String {
        (textLines + ["-- styles --"] + styleLines).joined(separator: "\n") + "\n"
    }

    static func singleCell(_ ch: Character) -> Character {
        guard let s = ch.unicodeScalars.first, ch.unicodeScalars.count == 1 else { return "?" }
        let v = s.value
        if v < 0x20 || (v >= 0x7f && v < 0xa0) { return "?" }
        // East Asian wide and fullwidth ranges, emoji: two cells on a terminal.
        if (0x1100...0x115f).contains(v) || (0x2e80...0xa4cf).contains(v) || (0xac00...0xd7a3).contains(v)
            || (0xf900...0xfaff).contains(v) || (0xfe30...0xfe4f).contains(v) || (0xff00...0xff60).contains(v)
            || (0xffe0...0xffe6).contains(v) || v >= 0x1f300 {
            return "?"
        }
        return ch
    }
}

/// The characters bars, sparklines and charts are drawn with: Unicode block elements, or plain ASCII for
/// `TERM=dumb`, `--ascii` and terminals without UTF-8.
package struct Glyphs: Sendable {
    package let ascii: Bool
    /// Sparkline levels, lowest first.
    package let levels: [Character]
    /// Bar partial fills (eighths), the last one full.
    package let eighths: [Character]
    package let barEmpty: Character
    package let hLine: Character
    package let vLine: Character
    package let now: Character
    package let band: Character
    package let median: Character
    package let point: Character
    package let anomaly: Character
    package let up: Character
    package let down: Character
    package let ellipsis: Character

    package static let unicode = Glyphs(
        ascii: false, levels: ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"],
        eighths: ["▏", "▎", "▍", "▌", "▋", "▊", "▉", "█"], barEmpty: "·", hLine: "─", vLine: "│", now: "┊",
        band: "░", median: "─", point: "●", anomaly: "◆", up: "▲", down: "▼", ellipsis: "…")
    package static let plain = Glyphs(
        ascii: true, levels: ["_", ".", "-", ":", "=", "+", "*", "#"],
        eighths: ["#", "#", "#", "#", "#", "#", "#", "#"], barEmpty: ".", hLine: "-", vLine: "|", now: "|",
        band: ":", median: "-", point: "*", anomaly: "!", up: "^", down: "v", ellipsis: "~")

    package static func forTerminal(ascii: Bool) -> Glyphs { ascii ? plain : unicode }
}
