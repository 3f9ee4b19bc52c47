/// The UI's own state (view, selection, filter, sort, chart, help, pause) and what each key does to it. Pure:
/// the terminal layer turns ncurses keys into `Key`s, the tests call `handle` directly.

package enum View: Int, CaseIterable, Sendable {
    case overview, series, actions, anomalies

    package var title: String {
        switch self {
        case .overview: "Overview"
        case .series: "Series"
        case .actions: "Actions"
        case .anomalies: "Anomalies"
        }
    }

    /// The columns `<`/`>` sort by, in display order.
    package var sortColumns: [String] {
        switch self {
        case .overview: ["HOST", "CPU", "MEM", "RISK", "INST"]
        case .series: ["SERIES", "LAST", "ANOM"]
        case .actions: ["TIME", "KIND", "TARGET", "RESULT"]
        case .anomalies: ["TARGET", "SCORE", "METRIC"]
        }
    }

    /// The column a view starts sorted by, and whether descending.
    var defaultSort: SortOrder {
        switch self {
        case .overview: SortOrder(column: 3, descending: true)
        case .series: SortOrder(column: 0, descending: false)
        case .actions: SortOrder(column: 0, descending: true)
        case .anomalies: SortOrder(column: 1, descending: true)
        }
    }
}

package struct SortOrder: Equatable, Sendable {
    package var column: Int
    package var descending: Bool
}

package enum Key: Equatable, Sendable {
    case char(Character)
    case up, down, left, right, pageUp, pageDown, home, end
    case enter, tab, backTab, escape, backspace, resize
}

/// What the app must do after a key, beyond redrawing.
package enum Command: Equatable, Sendable {
    case quit
    /// The Series view's server-side selector changed (nil: the default set), or a chart opened/closed: refetch now.
    case refetch
    case approve(String)
    case reject(String)
    case togglePause
}

package struct UIState: Equatable, Sendable {
    package var view: View = .overview
    package var selected: [View: Int] = [:]
    /// The committed filter: text (matches rows) or, when it contains `{`, a PromQL selector for the Series view.
    package var filter: String = ""
    /// The filter being typed after `/` (nil when not typing).
    package var editing: String?
    package var showHelp = false
    package var paused = false
    /// The series (its id) open in the large chart.
    package var chart: String?
    package var sort: [View: SortOrder] = [:]
    /// Approve/reject allowed (`vigil top --approve`); otherwise a/x only say how to enable them.
    package var approveMode = false
    /// A message for the status line set by a key (e.g. "read-only").
    package var hint: String?

    package init(approveMode: Bool = false) { self.approveMode = approveMode }

    package func sortOrder(_ v: View) -> SortOrder { sort[v] ?? v.defaultSort }
    package func selection(_ v: View) -> Int { selected[v] ?? 0 }

    /// The filter's server-side part: a selector when the filter contains `{`.
    package var selector: String? { filter.contains("{") ? filter : nil }
    /// The filter's client-side part: text matched case-insensitively against each row.
    package var textFilter: String? { filter.isEmpty || filter.contains("{") ? nil : filter }

    /// Applies one key. `rows` is how many selectable rows the current view has; `pendingID(i)` the id of the
    /// pending action at selectable row i (Actions view), `seriesID(i)` the id of the series at row i.
    package mutating func handle(_ key: Key, rows: Int, page: Int = 10, pendingID: (Int) -> String? = { _ in nil },
                                 seriesID: (Int) -> String? = { _ in nil }) -> Command? {
        hint = nil
        if var text = editing {
            switch key {
            case .enter:
                let selectorChanged = (text.contains("{") || filter.contains("{")) && text != filter
                filter = text; editing = nil
                selected[view] = 0
                return selectorChanged ? .refetch : nil
            case .escape: editing = nil
            case .backspace: if !text.isEmpty { text.removeLast() }; editing = text
            case .char(let c): text.append(c); editing = text
            default: break
            }
            return nil
        }
        if showHelp {
            if key == .char("q") { return .quit }
            showHelp = false
            return nil
        }
        let sel = selection(view)
        switch key {
        case .char("q"): return .quit
        case .char("?"), .char("h"): showHelp = true
        case .tab, .backTab:
            let n = View.allCases.count
            view = View(rawValue: (view.rawValue + (key == .tab ? 1 : n - 1)) % n)!
            if chart != nil { chart = nil; return .refetch }
        case .char("1"), .char("2"), .char("3"), .char("4"):
            if case .char(let c) = key, let d = c.wholeNumberValue { view = View(rawValue: d - 1)! }
        case .char("/"): editing = filter
        case .escape:
            if chart != nil { chart = nil; return .refetch }
            if !filter.isEmpty {
                let hadSelector = filter.contains("{")
                filter = ""; selected[view] = 0
                if hadSelector { return .refetch }
            }
        case .up, .char("k"): selected[view] = max(0, min(sel, rows - 1) - 1)
        case .down, .char("j"): selected[view] = max(0, min(sel + 1, rows - 1))
        case .pageUp: selected[view] = max(0, sel - page)
        case .pageDown: selected[view] = max(0, min(sel + page, rows - 1))
        case .home, .char("g"): selected[view] = 0
        case .end, .char("G"): selected[view] = max(0, rows - 1)
        case .char("<"), .char(">"):
            var o = sortOrder(view)
            let n = view.sortColumns.count
            o.column = (o.column + (key == .char(">") ? 1 : n - 1)) % n
            o.descending = view.defaultSort.column == o.column ? view.defaultSort.descending : false
            sort[view] = o
        case .char("I"), .char("i"):
            var o = sortOrder(view)
            o.descending.toggle()
            sort[view] = o
        case .char("p"), .char(" "):
            paused.toggle()
            return .togglePause
        case .enter:
            if view == .series {
                if chart != nil { chart = nil; return .refetch }
                if let id = seriesID(sel) { chart = id; return .refetch }
            }
        case .char("a"), .char("x"):
            guard view == .actions else { break }
            guard let id = pendingID(sel) else { hint = "select a pending action first"; break }
            guard approveMode else { hint = "read-only: start vigil top with --approve to approve or reject"; break }
            return key == .char("a") ? .approve(id) : .reject(id)
        default: break
        }
        return nil
    }
}
