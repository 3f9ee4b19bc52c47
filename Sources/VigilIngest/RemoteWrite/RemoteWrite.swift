/// Content negotiation for `POST /api/v1/write` (remote_write 1.0 and 2.0 on one endpoint, as the 2.0 spec describes).
public enum RemoteWrite {
    public enum Version: String, Sendable, Equatable {
        /// `prometheus.WriteRequest` (spec 1.0); the `X-Prometheus-Remote-Write-Version` header says `0.1.0`.
        case v1 = "prometheus.WriteRequest"
        /// `io.prometheus.write.v2.Request` (spec 2.0); the version header says `2.0.0`.
        case v2 = "io.prometheus.write.v2.Request"
    }

    /// Picks the message type from `Content-Type` and checks `Content-Encoding`.
    ///
    /// `application/x-protobuf` alone (or no `Content-Type` at all, as old senders do) means 1.0;
    /// `;proto=prometheus.WriteRequest` 1.0; `;proto=io.prometheus.write.v2.Request` 2.0. The encoding must be
    /// `snappy` (absent is accepted as snappy, since every 1.0 sender compresses).
    /// - Throws: `IngestError` with code `.unsupported` (HTTP 415) naming the header and value.
    public static func negotiate(contentType: String?, contentEncoding: String?) throws(IngestError) -> Version {
        if let enc = contentEncoding?.trimmingBlanks().lowercased(), !enc.isEmpty, enc != "snappy" {
            throw IngestError(.unsupported, "unsupported Content-Encoding \"\(enc.prefix(60))\" (remote_write needs snappy)")
        }
        guard let ct = contentType, !ct.trimmingBlanks().isEmpty else { return .v1 }
        let parts = ct.split(separator: ";").map { String($0).trimmingBlanks() }
        guard let media = parts.first?.lowercased(), media == "application/x-protobuf" else {
            throw IngestError(.unsupported, "unsupported Content-Type \"\(ct.prefix(80))\" (want application/x-protobuf)")
        }
        for p in parts.dropFirst() {
            let kv = p.split(separator: "=", maxSplits: 1).map { String($0).trimmingBlanks() }
            guard kv.count == 2, kv[0].lowercased() == "proto" else { continue }
            switch kv[1] {
            case Version.v1.rawValue: return .v1
            case Version.v2.rawValue: return .v2
            default: throw IngestError(.unsupported, "unsupported remote_write message \"proto=\(kv[1].prefix(60))\"")
            }
        }
        return .v1
    }

    /// Negotiates, decompresses (bounded by `limits.maxDecodedBytes`) and decodes a remote_write body.
    public static func decode(_ body: [UInt8], contentType: String?, contentEncoding: String?,
                              limits: IngestLimits = .default) throws(IngestError) -> (version: Version, result: ParseResult) {
        let v = try negotiate(contentType: contentType, contentEncoding: contentEncoding)
        switch v {
        case .v1: return (v, try RemoteWriteV1.decodeSnappy(body, limits: limits))
        case .v2: return (v, try RemoteWriteV2.decodeSnappy(body, limits: limits))
        }
    }
}
