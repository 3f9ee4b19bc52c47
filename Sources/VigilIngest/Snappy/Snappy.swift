import CSnappy

/// Snappy block format (what remote_write bodies use; not the framed/stream format).
public enum Snappy {
    /// Decompresses a snappy block.
    ///
    /// The decoded length in the block header is checked against `maxDecodedSize` *before* any allocation,
    /// so a 30-byte body that claims 4 GiB is refused cheaply (`IngestError.Code.tooLarge`).
    /// - Throws: `.snappy` for an empty or invalid block, `.tooLarge` over the limit.
    public static func decompress(_ input: UnsafeRawBufferPointer, maxDecodedSize: Int) throws(IngestError) -> [UInt8] {
        guard let src = input.baseAddress, input.count > 0 else {
            throw IngestError(.snappy, "cannot decompress snappy block: body is empty", offset: 0)
        }
        var n = 0
        let cs = src.assumingMemoryBound(to: CChar.self)
        guard snappy_uncompressed_length(cs, input.count, &n) == SNAPPY_OK else {
            throw IngestError(.snappy, "cannot decompress snappy block: invalid length header", offset: 0)
        }
        guard n <= maxDecodedSize else {
            throw IngestError(.tooLarge, "cannot decompress snappy block: decoded size \(n) bytes exceeds the limit of \(maxDecodedSize)",
                              offset: 0)
        }
        var status = SNAPPY_OK
        let out = [UInt8](unsafeUninitializedCapacity: max(n, 1)) { buf, count in
            var outLen = n
            status = buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: max(n, 1)) {
                snappy_uncompress(cs, input.count, $0, &outLen)
            }
            count = status == SNAPPY_OK ? outLen : 0
        }
        guard status == SNAPPY_OK, out.count == n else {
            throw IngestError(.snappy, "cannot decompress snappy block: corrupt or truncated data (\(input.count) bytes, header says \(n) decoded)")
        }
        return out
    }

    public static func decompress(_ input: [UInt8], maxDecodedSize: Int) throws(IngestError) -> [UInt8] {
        try withUnsafeBytesTyped(input) { (b) throws(IngestError) in try decompress(b, maxDecodedSize: maxDecodedSize) }
    }

    /// Compresses into a snappy block.
    public static func compress(_ input: [UInt8]) -> [UInt8] {
        let cap = snappy_max_compressed_length(input.count)
        return input.withUnsafeBytes { src in
            [UInt8](unsafeUninitializedCapacity: cap) { buf, count in
                var outLen = cap
                let empty: [CChar] = [0]
                let ok = empty.withUnsafeBufferPointer { e in
                    buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: cap) { dst in
                        let s = src.baseAddress?.assumingMemoryBound(to: CChar.self) ?? e.baseAddress!
                        return snappy_compress(s, input.count, dst, &outLen)
                    }
                }
                // snappy_compress only fails when the output buffer is too small, which max_compressed_length rules out.
                precondition(ok == SNAPPY_OK, "BUG: snappy_compress failed with a max_compressed_length buffer")
                count = outLen
            }
        }
    }
}

/// `withUnsafeBytes` with a typed-throws body (the stdlib's rethrows loses the error type).
@inline(__always)
func withUnsafeBytesTyped<R>(_ a: [UInt8], _ body: (UnsafeRawBufferPointer) throws(IngestError) -> R) throws(IngestError) -> R {
    let r: Result<R, IngestError> = a.withUnsafeBytes { b in
        do throws(IngestError) { return .success(try body(b)) } catch { return .failure(error) }
    }
    return try r.get()
}
