extension ProtoReader {
    /// Reads one length-delimited `Sample` message, the same shape in remote_write 1.0 (`prometheus.Sample`) and
    /// 2.0 (`io.prometheus.write.v2.Sample`): value = field 1 (double), timestamp = field 2 (int64 ms).
    mutating func readRemoteWriteSample() throws(IngestError) -> (t: Int64, v: Double) {
        var sr = sub(try readLengthDelimited(), "Sample")
        var v = 0.0
        var t: Int64 = 0
        while !sr.isAtEnd {
            let (f, w) = try sr.readKey()
            switch f {
            case 1: try sr.expect(w, .fixed64, field: 1, "value"); v = try sr.readDouble()
            case 2: try sr.expect(w, .varint, field: 2, "timestamp"); t = Int64(bitPattern: try sr.readVarint())
            default: try sr.skip(w, field: f)
            }
        }
        return (t, v)
    }

    /// Reads a remote_write 1.0 `TimeSeries` field other than labels (field 1): samples into the columns,
    /// exemplars and native histograms counted as skipped, unknown fields skipped. Shared by the checked
    /// decoder and the columns decoder.
    mutating func readTimeSeriesNonLabelField(_ field: UInt64, _ wire: WireType, _ ts: inout [Int64], _ vs: inout [Double],
                                              _ stats: inout IngestStats) throws(IngestError) {
        switch field {
        case 2:
            try expect(wire, .lengthDelimited, field: 2, "samples")
            let (t, v) = try readRemoteWriteSample()
            ts.append(t)
            vs.append(v)
        case 3:
            try expect(wire, .lengthDelimited, field: 3, "exemplars")
            _ = try readLengthDelimited()
            stats.exemplars += 1
            stats.skip(.exemplar)
        case 4:
            try expect(wire, .lengthDelimited, field: 4, "histograms")
            _ = try readLengthDelimited()
            stats.histograms += 1
            stats.skip(.nativeHistogram)
        default:
            try skip(wire, field: field)
        }
    }
}
