/// The rows each view shows, filtered by the text filter and sorted by the view's sort column: shared by the
/// renderer and the app (which needs the row count and the id under the cursor).
package enum Rows {
    static func matches(_ filter: String?, _ fields: String...) -> Bool {
        guard let f = filter?.lowercased(), !f.isEmpty else { return true }
        return fields.contains { $0.lowercased().contains(f) }
    }

    /// Compares optionals with nil last whatever the direction.
    static func order<T: Comparable>(_ a: T?, _ b: T?, _ desc: Bool) -> Bool? {
        switch (a, b) {
        case (nil, nil): return nil
        case (nil, _): return false
        case (_, nil): return true
        case let (x?, y?): return x == y ? nil : (desc ? x > y : x < y)
        }
    }

    package static func hosts(_ m: TopModel, _ s: UIState) -> [HostRow] {
        let o = s.sortOrder(.overview)
        return m.hosts.filter { matches(s.textFilter, $0.name, $0.state ?? "") }.sorted { a, b in
            let r: Bool?
            switch o.column {
            case 1: r = order(a.cpu, b.cpu, o.descending)
            case 2: r = order(a.memory, b.memory, o.descending)
            case 3: r = order(a.risk, b.risk, o.descending) ?? order(a.cpu, b.cpu, true)
            case 4: r = order(a.instances, b.instances, o.descending)
            default: r = nil
            }
            if let r { return r }
            return o.column == 0 && o.descending ? a.name > b.name : a.name < b.name
        }
    }

    package static func groups(_ m: TopModel, _ s: UIState) -> [GroupRow] {
        m.groups.filter { matches(s.textFilter, $0.name) }.sorted { $0.name < $1.name }
    }

    package static func series(_ m: TopModel, _ s: UIState) -> [SeriesRow] {
        let o = s.sortOrder(.series)
        return m.series.filter { matches(s.textFilter, $0.id) }.sorted { a, b in
            let r: Bool?
            switch o.column {
            case 1: r = order(a.last, b.last, o.descending)
            case 2: r = order(a.maxAnomaly, b.maxAnomaly, o.descending)
            default: r = nil
            }
            if let r { return r }
            return o.column == 0 && o.descending ? a.id > b.id : a.id < b.id
        }
    }

    package static func pending(_ m: TopModel, _ s: UIState) -> [PendingRow] {
        m.pending.filter { matches(s.textFilter, $0.id, $0.kind, $0.target, $0.reason) }
    }

    package static func actions(_ m: TopModel, _ s: UIState) -> [ActionRow] {
        let o = s.sortOrder(.actions)
        return m.actions.filter { matches(s.textFilter, $0.kind, $0.target, $0.result, $0.reason) }.sorted { a, b in
            let r: Bool?
            switch o.column {
            case 1: r = order(a.kind, b.kind, o.descending)
            case 2: r = order(a.target, b.target, o.descending)
            case 3: r = order(a.result, b.result, o.descending)
            default: r = nil
            }
            if let r { return r }
            return o.column == 0 && !o.descending ? a.seq < b.seq : a.seq > b.seq
        }
    }

    package static func anomalies(_ m: TopModel, _ s: UIState) -> [AnomalyRow] {
        let o = s.sortOrder(.anomalies)
        return m.anomalies.filter { matches(s.textFilter, $0.target, $0.topMetric) }.sorted { a, b in
            let r: Bool?
            switch o.column {
            case 0: r = order(a.target, b.target, o.descending)
            case 2: r = order(a.topMetric, b.topMetric, o.descending)
            default: r = nil
            }
            if let r { return r }
            return o.descending || o.column != 1 ? (a.score, b.target) > (b.score, a.target)
                : (a.score, b.target) < (b.score, a.target)
        }
    }

    /// How many selectable rows the current view has.
    package static func count(_ m: TopModel, _ s: UIState) -> Int {
        switch s.view {
        case .overview: hosts(m, s).count
        case .series: series(m, s).count
        case .actions: pending(m, s).count + actions(m, s).count
        case .anomalies: anomalies(m, s).count
        }
    }
}
