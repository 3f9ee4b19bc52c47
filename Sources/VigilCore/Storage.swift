/// What the store reports for an append: every sample is either accepted or counted under a reason.
public struct AppendResult: Sendable, Equatable {
    public var accepted: Int = 0
    /// Samples older than the series' newest sample.
    public var outOfOrder: Int = 0
    /// Samples with the newest timestamp again (same or different value).
    public var duplicate: Int = 0
    /// Samples older than the retention window / out of bounds.
    public var tooOld: Int = 0
    /// Resends: the series' newest sample again with the same value bits. Neither stored again nor rejected
    /// (Prometheus accepts these silently, so a remote_write retry of a batch that was already written succeeds).
    public var identical: Int = 0
    /// Series created by this append.
    public var newSeries: Int = 0

    public init() {}

    public var rejected: Int { outOfOrder + duplicate + tooOld }

    public static func += (a: inout AppendResult, b: AppendResult) {
        a.accepted += b.accepted
        a.outOfOrder += b.outOfOrder
        a.duplicate += b.duplicate
        a.tooOld += b.tooOld
        a.identical += b.identical
        a.newSeries += b.newSeries
    }
}

/// A batch was refused whole: nothing of it was written.
public struct InvalidSeriesError: Error, Sendable, CustomStringConvertible {
    public let index: Int
    public let labels: Labels
    public let reason: String

    public init(index: Int, labels: Labels, reason: String) {
        self.index = index
        self.labels = labels
        self.reason = reason
    }

    public var description: String { "series #\(index) \(labels): \(reason)" }
}

/// The read side every consumer uses (PromQL, models, TUI, HTTP API).
/// Results are sorted by labels; samples in time order, inclusive of `mint` and `maxt` (ms).
public protocol SeriesReader: Sendable {
    func select(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [SeriesSamples]
    /// Only labels, no samples: series that have at least one sample in [mint, maxt].
    func series(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [Labels]
    func labelNames(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [String]
    func labelValues(_ name: String, matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [String]
}

/// The write side every producer uses (ingestion endpoints, collectors, online models).
/// Returns only once the batch is durable per the store's fsync policy.
/// Throws `InvalidSeriesError` (and writes nothing) if any series in the batch is invalid.
public protocol SampleAppender: Sendable {
    func append(_ batch: [SeriesSamples]) async throws -> AppendResult
}

/// Samples addressed by series reference (as handed out by a `RefAppender`) instead of label sets:
/// entry `i` is one sample of series `refs[i]`; entries of one series must be in time order.
/// The ingest fast path: a producer that has seen a series before skips building and hashing its labels.
public struct RefSamples: Sendable, Equatable {
    public var refs: [UInt64]
    public var timestamps: [Int64]
    public var values: [Double]

    public init(refs: [UInt64] = [], timestamps: [Int64] = [], values: [Double] = []) {
        self.refs = refs
        self.timestamps = timestamps
        self.values = values
    }

    public var count: Int { refs.count }
    public var isEmpty: Bool { refs.isEmpty }

    public mutating func append(ref: UInt64, _ t: Int64, _ v: Double) {
        refs.append(ref)
        timestamps.append(t)
        values.append(v)
    }

    public mutating func reserveCapacity(_ n: Int) {
        refs.reserveCapacity(n)
        timestamps.reserveCapacity(n)
        values.reserveCapacity(n)
    }
}

/// What `RefAppender.append(_:refs:)` did.
public struct RefAppendResult: Sendable, Equatable {
    /// Counts over both parts of the batch.
    public var result = AppendResult()
    /// The series reference of each labelled entry, in batch order (0 when no series exists for it, e.g.
    /// every sample was too old for a new series). Keep them to send later samples through `refs`.
    public var seriesRefs: [UInt64] = []
    /// Indices into `refs` whose series no longer exists (dropped by retention): nothing was written for
    /// them; resend them with labels.
    public var unknownRefs: [Int] = []

    public init() {}
}

/// A `SampleAppender` that also takes samples by series reference. One call is one atomic, durable write:
/// the labelled part is validated first and an invalid series refuses the whole call (nothing written).
public protocol RefAppender: SampleAppender {
    func append(_ batch: [SeriesSamples], refs: RefSamples) async throws -> RefAppendResult
}
