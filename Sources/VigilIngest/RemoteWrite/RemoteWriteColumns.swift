import VigilCore

/// A remote_write 1.0 `WriteRequest` decoded to columns, with each series' labels left as their raw protobuf bytes.
///
/// The fast path for receivers that remember series: every sample is decoded (and the whole message's structure
/// checked) up front, but a series' labels are turned into a validated `Labels` only when asked (`labels(_:)`).
/// A receiver keeps a map from `labelKey(_:)` bytes to whatever it knows about the series; equal bytes decode to
/// equal labels (the same validation outcome included), so a series seen before needs no `String` at all.
///
/// Nothing here knows about storage: it is a decoder that defers work, not a cache.
public struct RemoteWriteColumns: Sendable {
    /// The uncompressed `WriteRequest`.
    public let message: [UInt8]
    public let limits: IngestLimits
    /// Per series: the `TimeSeries` payload's range in `message`.
    @usableFromInline var seriesRanges: [Range<Int>] = []
    /// Per series: the range of its `Label` fields (keys and length prefixes included) when they form one
    /// contiguous run, as every known sender writes them; empty otherwise (such a series has no key).
    @usableFromInline var labelRanges: [Range<Int>] = []
    /// `count + 1` entries: the samples of series `i` are `sampleStart[i]..<sampleStart[i + 1]`.
    public private(set) var sampleStart: [Int] = [0]
    public private(set) var timestamps: [Int64] = []
    public private(set) var values: [Double] = []
    /// Samples, exemplars and histograms counted (metadata is wire-checked and dropped).
    public private(set) var stats = IngestStats()

    public var seriesCount: Int { seriesRanges.count }

    /// The raw bytes identifying series `i`'s label set (its `Label` fields as sent), or nil when they are not one
    /// contiguous run. Valid while `self` is alive; the caller copies what it keeps.
    @inlinable
    public func withLabelKey<R>(_ i: Int, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        let r = labelRanges[i]
        if r.isEmpty { return try body(nil) }
        return try message.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[r])) }
    }

    /// Series `i`'s labels, decoded and validated exactly as `RemoteWriteV1.decode` does (same errors).
    public func labels(_ i: Int) throws(IngestError) -> Labels {
        let range = seriesRanges[i]
        let limits = self.limits
        return try withUnsafeBytesTyped(message) { (b) throws(IngestError) -> Labels in
            var labels: [Label] = []
            do throws(IngestError) {
                var r = ProtoReader(b, range: range, message: "TimeSeries")
                let checks = LabelChecks(limits: limits)
                while !r.isAtEnd {
                    let (field, wire) = try r.readKey()
                    if field == 1 {
                        try r.expect(wire, .lengthDelimited, field: 1, "labels")
                        try RemoteWriteV1.decodeLabel(r.sub(try r.readLengthDelimited(), "Label"), into: &labels, checks: checks)
                    } else {
                        try r.skip(wire, field: field)
                    }
                }
                return try checks.finish(&labels, at: "timeseries #\(i)", series: i)
            } catch {
                throw error.series == nil ? error.inSeries(i, "timeseries #\(i): ") : error
            }
        }
    }

    /// Series `i` with its labels decoded (`labels(_:)`) and its samples.
    public func series(_ i: Int) throws(IngestError) -> SeriesSamples {
        let lo = sampleStart[i], hi = sampleStart[i + 1]
        return SeriesSamples(labels: try labels(i), timestamps: Array(timestamps[lo..<hi]), values: Array(values[lo..<hi]))
    }

    /// Every series decoded: what `RemoteWriteV1.decode` returns as `series`.
    public func allSeries() throws(IngestError) -> [SeriesSamples] {
        var out: [SeriesSamples] = []
        out.reserveCapacity(seriesCount)
        for i in 0..<seriesCount { out.append(try series(i)) }
        return out
    }

    /// Decodes an uncompressed `WriteRequest`: the whole message's structure and every sample; labels deferred.
    public init(message: [UInt8], limits: IngestLimits = .default) throws(IngestError) {
        self.message = message
        self.limits = limits
        var seriesRanges: [Range<Int>] = []
        var labelRanges: [Range<Int>] = []
        var sampleStart: [Int] = [0]
        var ts: [Int64] = []
        var vs: [Double] = []
        var stats = IngestStats()
        // A TimeSeries is ≥ 13 bytes with one sample: a fair first guess for the columns.
        let guess = message.count / 48
        seriesRanges.reserveCapacity(guess)
        labelRanges.reserveCapacity(guess)
        sampleStart.reserveCapacity(guess + 1)
        ts.reserveCapacity(guess)
        vs.reserveCapacity(guess)
        try withUnsafeBytesTyped(message) { (b) throws(IngestError) in
            var r = ProtoReader(b, message: "WriteRequest")
            while !r.isAtEnd {
                let (field, wire) = try r.readKey()
                switch field {
                case 1:
                    try r.expect(wire, .lengthDelimited, field: 1, "timeseries")
                    let range = try r.readLengthDelimited()
                    let index = seriesRanges.count
                    if let labels = Self.fastSeries(b.baseAddress!, range.lowerBound, range.upperBound,
                                                    maxLabels: limits.maxLabelsPerSeries, &ts, &vs) {
                        seriesRanges.append(range)
                        labelRanges.append(labels)
                        sampleStart.append(ts.count)
                        continue
                    }
                    do throws(IngestError) {
                        var s = r.sub(range, "TimeSeries")
                        var first = -1, end = -1
                        var contiguous = true
                        var labelCount = 0
                        while !s.isAtEnd {
                            let fieldStart = s.pos
                            let (f, w) = try s.readKey()
                            switch f {
                            case 1:
                                try s.expect(w, .lengthDelimited, field: 1, "labels")
                                _ = try s.readLengthDelimited()
                                if first < 0 { first = fieldStart } else if end != fieldStart { contiguous = false }
                                end = s.pos
                                labelCount += 1
                                if labelCount > limits.maxLabelsPerSeries {
                                    throw IngestError(.limit, "more than \(limits.maxLabelsPerSeries) labels in one series",
                                                      offset: fieldStart)
                                }
                            default:
                                try s.readTimeSeriesNonLabelField(f, w, &ts, &vs, &stats)
                            }
                        }
                        seriesRanges.append(range)
                        labelRanges.append(first >= 0 && contiguous ? first..<end : 0..<0)
                        sampleStart.append(ts.count)
                    } catch {
                        throw error.series == nil ? error.inSeries(index, "timeseries #\(index): ") : error
                    }
                case 3:
                    try r.expect(wire, .lengthDelimited, field: 3, "metadata")
                    let range = try r.readLengthDelimited()
                    _ = try RemoteWriteV1.decodeMetadata(r.sub(range, "MetricMetadata"))
                default:
                    try r.skip(wire, field: field)
                }
            }
        }
        stats.samples = ts.count
        self.seriesRanges = seriesRanges
        self.labelRanges = labelRanges
        self.sampleStart = sampleStart
        self.timestamps = ts
        self.values = vs
        self.stats = stats
    }

    /// The shape every known sender writes, read without the checked reader's per-field error plumbing: tags 0x0A
    /// (labels, one contiguous run) and 0x12 (samples encoded `09 <value> 10 <timestamp varint>`), lengths below
    /// 16 KiB. Appends the samples and returns the label run, or nil (having appended nothing) when the series
    /// needs the checked path, which also produces the exact error for malformed input.
    @inline(__always)
    static func fastSeries(_ p: UnsafeRawPointer, _ lo: Int, _ hi: Int, maxLabels: Int,
                           _ ts: inout [Int64], _ vs: inout [Double]) -> Range<Int>? {
        var pos = lo
        var first = -1, end = -1
        var labels = 0
        let mark = ts.count
        var ok = true
        scan: while pos < hi {
            let fieldStart = pos
            let tag = p.load(fromByteOffset: pos, as: UInt8.self)
            guard hi - pos >= 2 else { ok = false; break }
            var len = Int(p.load(fromByteOffset: pos + 1, as: UInt8.self))
            pos += 2
            if len >= 0x80 {
                guard pos < hi else { ok = false; break }
                let b2 = Int(p.load(fromByteOffset: pos, as: UInt8.self))
                guard b2 < 0x80 else { ok = false; break }
                len = (len & 0x7F) | (b2 << 7)
                pos += 1
            }
            guard len <= hi - pos else { ok = false; break }
            switch tag {
            case 0x0A:
                if first < 0 { first = fieldStart } else if end != fieldStart { ok = false; break scan }
                end = pos + len
                labels += 1
                if labels > maxLabels { ok = false; break scan }
            case 0x12:
                guard len >= 10, len <= 19, p.load(fromByteOffset: pos, as: UInt8.self) == 0x09,
                      p.load(fromByteOffset: pos + 9, as: UInt8.self) == 0x10 else { ok = false; break scan }
                let v = Double(bitPattern: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: pos + 1, as: UInt64.self)))
                var t: UInt64 = 0
                var shift: UInt64 = 0
                var q = pos + 10
                let stop = pos + len
                var done = false
                while q < stop {
                    let c = p.load(fromByteOffset: q, as: UInt8.self)
                    q += 1
                    if shift == 63 && c > 1 { break }
                    t |= UInt64(c & 0x7F) << shift
                    if c < 0x80 { done = true; break }
                    shift += 7
                }
                guard done && q == stop else { ok = false; break scan }
                ts.append(Int64(bitPattern: t))
                vs.append(v)
            default:
                ok = false
                break scan
            }
            pos += len
        }
        if ok && first >= 0 { return first..<end }
        if ts.count > mark {
            ts.removeLast(ts.count - mark)
            vs.removeLast(vs.count - mark)
        }
        return nil
    }

    /// Snappy-decompresses (bounded by `limits.maxDecodedBytes`) then decodes.
    public init(snappy body: UnsafeRawBufferPointer, limits: IngestLimits = .default) throws(IngestError) {
        try self.init(message: try Snappy.decompress(body, maxDecodedSize: limits.maxDecodedBytes), limits: limits)
    }
}
