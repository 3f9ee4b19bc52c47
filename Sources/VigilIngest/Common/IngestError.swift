import VigilCore

/// Why a body was refused. Every parser in `VigilIngest` throws only this type.
///
/// `message` is one line, lowercase, context first, and names what is at fault: the byte offset
/// (binary formats), the line and column (text formats), the series index and the field.
/// `code` is a stable string for counters and JSON `errorType`-like fields; the server maps
/// every `IngestError` to HTTP 400 except `.tooLarge` (413) and `.unsupported` (415).
public struct IngestError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// Snappy block stream is not valid (or empty).
        case snappy
        /// Decoded size (or a count) exceeds the configured limit.
        case tooLarge = "too_large"
        /// Protobuf wire-format violation: truncated varint/length, bad wire type, field 0.
        case protobuf
        /// Bytes that must be UTF-8 (label names/values, strings) are not.
        case invalidUTF8 = "invalid_utf8"
        /// remote_write 2.0 symbol reference out of range or odd label ref count.
        case badReference = "bad_reference"
        /// Text-format syntax error.
        case syntax
        /// Label name or metric name does not match the Prometheus rules, or no metric name.
        case invalidLabel = "invalid_label"
        /// The same label name twice in one series.
        case duplicateLabel = "duplicate_label"
        /// A per-series limit (labels per series, name/value length) was exceeded.
        case limit
        /// A sample value or timestamp could not be parsed or is out of range.
        case badValue = "bad_value"
        /// JSON is malformed or a field has the wrong JSON type.
        case json
        /// A well-formed input uses a feature this parser refuses (documented per format).
        case unsupported
    }

    public let code: Code
    /// The full one-line message (what `description` returns).
    public let message: String
    /// Byte offset in the (decompressed) body, when known.
    public let offset: Int?
    /// 1-based line and column (bytes) for text formats, when known.
    public let line: Int?
    public let column: Int?
    /// 0-based index of the series (remote_write timeseries, OTLP data point…) when known.
    public let series: Int?

    public init(_ code: Code, _ message: String, offset: Int? = nil, line: Int? = nil, column: Int? = nil,
                series: Int? = nil) {
        self.code = code
        self.message = message
        self.offset = offset
        self.line = line
        self.column = column
        self.series = series
    }

    public var description: String { message }

    /// Same error, message prefixed with a context (`"timeseries #3: "`), series index recorded.
    func inSeries(_ index: Int, _ prefix: String) -> IngestError {
        IngestError(code, prefix + message, offset: offset, line: line, column: column, series: index)
    }

    func prefixed(_ prefix: String) -> IngestError {
        IngestError(code, prefix + message, offset: offset, line: line, column: column, series: series)
    }
}
