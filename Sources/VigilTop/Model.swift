/// What `vigil top` knows after a refresh: plain values, built from the HTTP API's answers (`TopFetcher`) or by
/// hand in tests. The renderer turns a model plus the UI state into a `Grid`.

package struct HostRow: Equatable, Sendable {
    package var name: String
    /// CPU busy fraction (0…1), from node_exporter's `node_cpu_seconds_total`.
    package var cpu: Double?
    /// Memory in use (0…1): 1 − MemAvailable / MemTotal.
    package var memory: Double?
    package var memoryTotalBytes: Double?
    /// Highest `vigil_failure_probability` of the host's series, and its `kind`.
    package var risk: Double?
    package var riskKind: String?
    /// VMs/instances on the host: `vigil_host_instances`, else the libvirt domains reported for it.
    package var instances: Int?
    /// The engine's view (`vigil_host_up`, `vigil_host_state`), when a daemon runs.
    package var up: Bool?
    package var state: String?

    package init(name: String, cpu: Double? = nil, memory: Double? = nil, memoryTotalBytes: Double? = nil,
                 risk: Double? = nil, riskKind: String? = nil, instances: Int? = nil, up: Bool? = nil,
                 state: String? = nil) {
        self.name = name; self.cpu = cpu; self.memory = memory; self.memoryTotalBytes = memoryTotalBytes
        self.risk = risk; self.riskKind = riskKind; self.instances = instances; self.up = up; self.state = state
    }
}

package struct GroupRow: Equatable, Sendable {
    package var name: String
    package var replicas: Double?
    package var ready: Double?
    package var desired: Double?
    package var min: Double?
    package var max: Double?
    package var load: Double?
    package var forecastUpper: Double?

    package init(name: String, replicas: Double? = nil, ready: Double? = nil, desired: Double? = nil,
                 min: Double? = nil, max: Double? = nil, load: Double? = nil, forecastUpper: Double? = nil) {
        self.name = name; self.replicas = replicas; self.ready = ready; self.desired = desired
        self.min = min; self.max = max; self.load = load; self.forecastUpper = forecastUpper
    }
}

/// A forecast continuing a series past "now": the value at `horizonMillis` after the last sample, as the median
/// and the upper quantile (the band's lower edge mirrors the upper one around the median).
package struct ForecastBand: Equatable, Sendable {
    package var horizonMillis: Int64
    package var median: Double
    package var upper: Double
    package var lower: Double { median - (upper - median) }

    package init(horizonMillis: Int64, median: Double, upper: Double) {
        self.horizonMillis = horizonMillis; self.median = median; self.upper = upper
    }
}

package struct SeriesRow: Equatable, Sendable {
    /// The series' label set in PromQL form (`name{a="b"}`): its identity and what the text filter matches.
    package var id: String
    package var name: String
    /// Values on the refresh's step grid (`startMillis + i·stepMillis`), nil where absent.
    package var points: [Double?]
    package var startMillis: Int64
    package var stepMillis: Int64
    package var forecast: ForecastBand?
    /// `vigil_anomaly_score` on the same grid, when the series is scored.
    package var anomaly: [Double?]

    package init(id: String, name: String, points: [Double?], startMillis: Int64, stepMillis: Int64,
                 forecast: ForecastBand? = nil, anomaly: [Double?] = []) {
        self.id = id; self.name = name; self.points = points; self.startMillis = startMillis
        self.stepMillis = stepMillis; self.forecast = forecast; self.anomaly = anomaly
    }

    package var last: Double? { points.last(where: { $0 != nil }) ?? nil }
    package var maxAnomaly: Double? { anomaly.compactMap { $0 }.max() }
}

/// One audit record of the actions API (CONTRACTS.md §1).
package struct ActionRow: Equatable, Sendable {
    package var seq: Int
    package var tMillis: Int64
    package var id: String
    package var kind: String
    package var target: String
    package var result: String
    package var reason: String

    package init(seq: Int, tMillis: Int64, id: String, kind: String, target: String, result: String, reason: String) {
        self.seq = seq; self.tMillis = tMillis; self.id = id; self.kind = kind; self.target = target
        self.result = result; self.reason = reason
    }
}

/// An action waiting for approval.
package struct PendingRow: Equatable, Sendable {
    package var id: String
    package var kind: String
    package var target: String
    package var change: String
    package var reason: String
    package var decidedAtMillis: Int64

    package init(id: String, kind: String, target: String, change: String, reason: String, decidedAtMillis: Int64) {
        self.id = id; self.kind = kind; self.target = target; self.change = change; self.reason = reason
        self.decidedAtMillis = decidedAtMillis
    }
}

/// One scored target (the series' labels without `metric`): its highest anomaly score and the metric giving it.
package struct AnomalyRow: Equatable, Sendable {
    package var target: String
    package var score: Double
    package var topMetric: String
    /// How many of the target's metrics score at or above the 0.5 threshold.
    package var anomalous: Int
    package var metrics: Int

    package init(target: String, score: Double, topMetric: String, anomalous: Int, metrics: Int) {
        self.target = target; self.score = score; self.topMetric = topMetric; self.anomalous = anomalous
        self.metrics = metrics
    }
}

package enum ActionsAvailability: Equatable, Sendable {
    case unknown
    case available
    /// The server answered 404: no engine runs there (the message is the server's).
    case noEngine(String)
}

package enum ConnectionStatus: Equatable, Sendable {
    case connecting
    /// Last refresh at `atMillis`: `requests` HTTP requests taking `millis` in all.
    case ok(atMillis: Int64, requests: Int, millis: Double)
    /// The last attempt failed; the next one is in `retryInSeconds`.
    case unreachable(message: String, retryInSeconds: Int)
}

package struct TopModel: Equatable, Sendable {
    package var hosts: [HostRow] = []
    package var groups: [GroupRow] = []
    package var series: [SeriesRow] = []
    /// The selector or expression the Series view shows (the default set's description, or the user's selector).
    package var seriesQuery: String = ""
    package var actions: [ActionRow] = []
    package var pending: [PendingRow] = []
    package var anomalies: [AnomalyRow] = []
    package var actionsAPI: ActionsAvailability = .unknown
    package var status: ConnectionStatus = .connecting
    /// Query errors of single panels (the server answered, but with an error), shown in the status line.
    package var panelErrors: [String] = []
    /// A one-off message (approve/reject results).
    package var notice: String?
    package var nowMillis: Int64 = 0

    package init() {}
}
