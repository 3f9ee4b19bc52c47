/// Protobuf wire types.
package enum WireType: UInt8 {
    case varint = 0, fixed64 = 1, lengthDelimited = 2, startGroup = 3, endGroup = 4, fixed32 = 5

    package var name: String {
        switch self {
        case .varint: return "varint"
        case .fixed64: return "fixed64"
        case .lengthDelimited: return "length-delimited"
        case .startGroup: return "start-group"
        case .endGroup: return "end-group"
        case .fixed32: return "fixed32"
        }
    }
}

/// A bounds-checked cursor over one protobuf message inside a larger buffer.
///
/// Offsets are absolute in the buffer, so errors name the byte where decoding stopped.
/// Nothing here traps on input: every read checks `end` first and throws `IngestError(.protobuf)`.
/// The buffer must outlive the reader (callers hold it in `withUnsafeBytes`).
struct ProtoReader {
    let base: UnsafeRawBufferPointer
    private(set) var pos: Int
    let end: Int
    /// Message name for messages (`"TimeSeries"`).
    let message: StaticString

    init(_ base: UnsafeRawBufferPointer, message: StaticString) {
        self.base = base
        self.pos = 0
        self.end = base.count
        self.message = message
    }

    init(_ base: UnsafeRawBufferPointer, range: Range<Int>, message: StaticString) {
        self.base = base
        self.pos = range.lowerBound
        self.end = range.upperBound
        self.message = message
    }

    var isAtEnd: Bool { pos >= end }

    func error(_ reason: String, at offset: Int? = nil) -> IngestError {
        let o = offset ?? pos
        return IngestError(.protobuf, "cannot decode \(message): \(reason) at byte \(o)", offset: o)
    }

    @inline(__always)
    mutating func readVarint() throws(IngestError) -> UInt64 {
        let start = pos
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard pos < end else { throw error("truncated varint", at: start) }
            let b = base[pos]
            pos &+= 1
            if shift == 63 && b > 1 { throw error("varint overflows 64 bits", at: start) }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
            if shift > 63 { throw error("varint longer than 10 bytes", at: start) }
        }
    }

    /// Reads a field key. Field number 0 and wire types 6/7 are errors.
    @inline(__always)
    mutating func readKey() throws(IngestError) -> (field: UInt64, wire: WireType) {
        let start = pos
        let key = try readVarint()
        let field = key >> 3
        guard field != 0 else { throw error("field number 0", at: start) }
        guard let wire = WireType(rawValue: UInt8(key & 7)) else {
            throw error("invalid wire type \(key & 7) for field \(field)", at: start)
        }
        return (field, wire)
    }

    @inline(__always)
    mutating func readFixed64() throws(IngestError) -> UInt64 {
        guard end - pos >= 8 else { throw error("truncated fixed64") }
        let v = base.loadUnaligned(fromByteOffset: pos, as: UInt64.self)
        pos &+= 8
        return UInt64(littleEndian: v)
    }

    @inline(__always)
    mutating func readFixed32() throws(IngestError) -> UInt32 {
        guard end - pos >= 4 else { throw error("truncated fixed32") }
        let v = base.loadUnaligned(fromByteOffset: pos, as: UInt32.self)
        pos &+= 4
        return UInt32(littleEndian: v)
    }

    @inline(__always)
    mutating func readDouble() throws(IngestError) -> Double { Double(bitPattern: try readFixed64()) }

    /// Reads a length prefix and returns the payload's range, checked against the message end.
    @inline(__always)
    mutating func readLengthDelimited() throws(IngestError) -> Range<Int> {
        let start = pos
        let n = try readVarint()
        guard n <= UInt64(end - pos) else {
            throw error("length \(n) runs past the end of the message (\(end - pos) bytes left)", at: start)
        }
        let r = pos..<(pos + Int(n))
        pos += Int(n)
        return r
    }

    mutating func readBytes() throws(IngestError) -> UnsafeRawBufferPointer {
        let r = try readLengthDelimited()
        return UnsafeRawBufferPointer(rebasing: base[r])
    }

    /// A UTF-8 string field; invalid UTF-8 throws `.invalidUTF8` naming the field.
    mutating func readString(_ field: StaticString) throws(IngestError) -> String {
        let r = try readLengthDelimited()
        guard let s = UTF8Bytes.string(UnsafeRawBufferPointer(rebasing: base[r])) else {
            throw IngestError(.invalidUTF8, "cannot decode \(message): \(field) is not valid UTF-8 at byte \(r.lowerBound)",
                              offset: r.lowerBound)
        }
        return s
    }

    func sub(_ r: Range<Int>, _ message: StaticString) -> ProtoReader {
        ProtoReader(base, range: r, message: message)
    }

    /// Skips an unknown field. Groups (deprecated, unused by these protocols) are refused.
    mutating func skip(_ wire: WireType, field: UInt64) throws(IngestError) {
        switch wire {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try readFixed64()
        case .fixed32: _ = try readFixed32()
        case .lengthDelimited: _ = try readLengthDelimited()
        case .startGroup, .endGroup: throw error("unsupported group wire type for field \(field)")
        }
    }

    /// Throws unless `wire` is what `field` must be encoded as.
    @inline(__always)
    func expect(_ wire: WireType, _ want: WireType, field: UInt64, _ name: StaticString) throws(IngestError) {
        if wire != want {
            throw error("field \(field) (\(name)) has wire type \(wire.name), expected \(want.name)", at: pos)
        }
    }

    /// Reads a repeated scalar that may be packed (length-delimited) or not; calls `body` per element.
    mutating func readRepeatedVarint(_ wire: WireType, field: UInt64, _ name: StaticString,
                                     _ body: (UInt64) throws(IngestError) -> Void) throws(IngestError) {
        if wire == .varint { try body(try readVarint()); return }
        try expect(wire, .lengthDelimited, field: field, name)
        let r = try readLengthDelimited()
        var inner = sub(r, message)
        while !inner.isAtEnd { try body(try inner.readVarint()) }
    }

    mutating func readRepeatedFixed64(_ wire: WireType, field: UInt64, _ name: StaticString,
                                      _ body: (UInt64) throws(IngestError) -> Void) throws(IngestError) {
        if wire == .fixed64 { try body(try readFixed64()); return }
        try expect(wire, .lengthDelimited, field: field, name)
        let r = try readLengthDelimited()
        guard r.count % 8 == 0 else { throw error("packed \(name) length \(r.count) is not a multiple of 8", at: r.lowerBound) }
        var inner = sub(r, message)
        while !inner.isAtEnd { try body(try inner.readFixed64()) }
    }
}

/// Appends protobuf wire format to a buffer (encoders here, and tests that need hand-built or malformed bodies).
/// `package` so VigilServer tests can build bodies too.
package struct ProtoWriter {
    package var bytes: [UInt8] = []

    package init() {}

    @inline(__always)
    package mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    package mutating func key(_ field: UInt64, _ wire: WireType) { varint(field << 3 | UInt64(wire.rawValue)) }

    package mutating func varintField(_ field: UInt64, _ v: UInt64) { key(field, .varint); varint(v) }

    package mutating func int64Field(_ field: UInt64, _ v: Int64) { varintField(field, UInt64(bitPattern: v)) }

    package mutating func doubleField(_ field: UInt64, _ v: Double) { key(field, .fixed64); fixed64(v.bitPattern) }

    package mutating func fixed64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }

    package mutating func fixed64Field(_ field: UInt64, _ v: UInt64) { key(field, .fixed64); fixed64(v) }

    package mutating func bytesField(_ field: UInt64, _ b: some Collection<UInt8>) {
        key(field, .lengthDelimited)
        varint(UInt64(b.count))
        bytes.append(contentsOf: b)
    }

    package mutating func stringField(_ field: UInt64, _ s: String) { bytesField(field, s.utf8) }

    /// Writes a nested message built by `body` (encoded into a scratch writer, then length-prefixed).
    package mutating func message(_ field: UInt64, _ body: (inout ProtoWriter) -> Void) {
        var inner = ProtoWriter()
        body(&inner)
        bytesField(field, inner.bytes)
    }
}
