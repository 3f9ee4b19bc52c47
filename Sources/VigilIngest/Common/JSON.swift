import VigilCore

/// OTLP/JSON reads documents with VigilCore's `JSONReader` (numbers kept as their text, key order kept).
typealias JSONValue = JSONNode

extension JSONReader {
    /// `parse`, with a syntax error reported as an ingestion error (HTTP 400 naming the byte offset).
    static func parseForIngest(_ buf: UnsafeRawBufferPointer, maxDepth: Int = 64) throws(IngestError) -> JSONNode {
        do { return try parse(buf, maxDepth: maxDepth) } catch { throw IngestError(.json, error.description, offset: error.offset) }
    }
}
