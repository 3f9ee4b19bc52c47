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
}
