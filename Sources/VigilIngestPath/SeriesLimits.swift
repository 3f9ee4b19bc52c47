/// Per-series and cardinality limits applied to every write before it reaches the store.
public struct SeriesLimits: Sendable, Equatable {
    /// Labels per series, `__name__` included. A series over it makes the whole request 400.
    public var maxLabelsPerSeries = 64
    /// Bytes of a label name. Over it: 400.
    public var maxLabelNameBytes = 256
    /// Bytes of a label value. Over it: 400.
    public var maxLabelValueBytes = 4096
    /// New series accepted per second (0 = unlimited). Series over it are dropped and reported.
    public var maxNewSeriesPerSecond = 0
    /// Series known to this process (0 = unlimited). New series over it are dropped and reported.
    public var maxActiveSeries = 0

    public init() {}
}
