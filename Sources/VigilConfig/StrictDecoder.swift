import Foundation
import Yams

/// Where a value sits in a config file: `vigil.yml:12:5` and its key path `forecast.interval`.
public struct ConfigLocation: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// 1-based; 0 when unknown (a value built in code, not read from a file).
    public var line: Int
    public var column: Int
    /// Key path such as `scrape_configs[1].static_configs[0].targets[2]`; empty at the top level.
    public var path: String

    public init(file: String, line: Int, column: Int, path: String) {
        self.file = file
        self.line = line
        self.column = column
        self.path = path
    }

    /// The location of the value a decoder is decoding, when it is the config decoder; nil otherwise.
    public init?(_ decoder: any Decoder) {
        guard let d = decoder as? NodeDecoder else { return nil }
        self = d.context.location(d.node, d.codingPath)
    }

    public var description: String {
        let head = line > 0 ? "\(file):\(line):\(column)" : file
        return path.isEmpty ? head : "\(head): \(path)"
    }

    /// `scrape_configs[1].job_name` from a coding path.
    public static func pathString(_ p: [any CodingKey]) -> String {
        var out = ""
        for k in p {
            if let i = k.intValue, k.stringValue == "\(i)" || k.stringValue == "Index \(i)" {
                out += "[\(i)]"
            } else {
                out += (out.isEmpty ? "" : ".") + k.stringValue
            }
        }
        return out
    }
}

extension VigilConfig {
    /// A config error: `vigil.yml:12:5: forecast.interval: expected a duration like 30s, got "soon"`.
    public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
        /// nil for errors that are not about one place in a file (e.g. the file cannot be read).
        public var location: ConfigLocation?
        public var message: String

        public init(message: String) {
            self.message = message
        }

        public init(at location: ConfigLocation?, _ message: String) {
            self.location = location
            self.message = message
        }

        public var description: String {
            guard let location else { return message }
            return "\(location): \(message)"
        }
    }
}

/// The strict YAML decoder every config section goes through: it decodes `Decodable` types from Yams' node tree
/// (which keeps each node's line and column), so every error names file:line:column and the key path, and it refuses
/// keys that the type being decoded never asks for (a typo is an error, not a silently ignored line). Any module's
/// `Decodable` section type gets the same strictness without writing anything for it: the set of keys a type
/// "declares" is the set its `init(from:)` looks up (`decode`, `decodeIfPresent`, `contains`; `allKeys` for a
/// dictionary takes every key).
public enum StrictYAMLDecoder {
    /// Decodes `T` from YAML text; `file` names the source in errors. An empty document decodes as an empty mapping.
    public static func decode<T: Decodable>(_ type: T.Type, yaml: String, file: String,
                                            userInfo: [CodingUserInfoKey: any Sendable] = [:]) throws(VigilConfig.ConfigError) -> T {
        let root: Node
        do {
            root = try Yams.compose(yaml: yaml) ?? Node.mapping(Node.Mapping([]))
        } catch let e as YamlError {
            throw syntaxError(e, file: file)
        } catch {
            throw VigilConfig.ConfigError(message: "\(file): invalid YAML: \(error)")
        }
        return try decode(type, node: root, file: file, userInfo: userInfo)
    }

    /// Decodes `T` from an already composed node (e.g. one section of a larger document). `path` is the coding path
    /// the node sits at, so nested errors read `policies[2].action`.
    public static func decode<T: Decodable>(_ type: T.Type, node: Node, file: String,
                                            path: [any CodingKey] = [],
                                            userInfo: [CodingUserInfoKey: any Sendable] = [:]) throws(VigilConfig.ConfigError) -> T {
        let ctx = DecodeContext(file: file, userInfo: userInfo)
        let value: T
        do {
            value = try ctx.decode(T.self, node: node, path: path)
        } catch let e as VigilConfig.ConfigError {
            throw e
        } catch {
            throw VigilConfig.ConfigError(at: ctx.location(node, path), "\(error)")
        }
        if let unknown = ctx.firstUnknownKey() { throw unknown }
        return value
    }

    /// Every key path the decoding of `yaml` asked about (present or not), e.g. `forecast.interval`,
    /// `scrape_configs[].job_name`: the keys the types know. Used to check the documentation names them all.
    public static func knownKeys<T: Decodable>(_ type: T.Type, yaml: String, file: String = "config",
                                               userInfo: [CodingUserInfoKey: any Sendable] = [:]) throws -> Set<String> {
        let root = try Yams.compose(yaml: yaml) ?? Node.mapping(Node.Mapping([]))
        let ctx = DecodeContext(file: file, userInfo: userInfo)
        _ = try ctx.decode(T.self, node: root, path: [])
        return ctx.askedPaths()
    }

    static func syntaxError(_ e: YamlError, file: String) -> VigilConfig.ConfigError {
        switch e {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let ctx = context.map { " \($0.text)" } ?? ""
            return VigilConfig.ConfigError(at: ConfigLocation(file: file, line: mark.line, column: mark.column, path: ""),
                                           "invalid YAML: \(problem)\(ctx)")
        default:
            return VigilConfig.ConfigError(message: "\(file): invalid YAML: \(e)")
        }
    }
}

/// The state of one decoding: the file name, and for every mapping met, which of its keys were asked for.
final class DecodeContext {
    let file: String
    let userInfo: [CodingUserInfoKey: Any]
    private struct MappingRecord {
        var path: [any CodingKey]
        var keys: [(String, Mark?)]
        var asked: Set<String> = []
        /// Read through `allKeys` (a dictionary such as `labels`): its keys are data, not config keys.
        var isDictionary = false
    }
    /// Keyed by the mapping's path and position, so two containers over one mapping share what they asked.
    private var mappings: [String: MappingRecord] = [:]
    private var order: [String] = []

    init(file: String, userInfo: [CodingUserInfoKey: any Sendable] = [:]) {
        self.file = file
        self.userInfo = userInfo
    }

    func location(_ node: Node, _ path: [any CodingKey]) -> ConfigLocation {
        ConfigLocation(file: file, line: node.mark?.line ?? 0, column: node.mark?.column ?? 0,
                       path: ConfigLocation.pathString(path))
    }

    func error(_ node: Node, _ path: [any CodingKey], _ message: String) -> VigilConfig.ConfigError {
        VigilConfig.ConfigError(at: location(node, path), message)
    }

    func recordID(_ node: Node, _ path: [any CodingKey]) -> String {
        "\(ConfigLocation.pathString(path))@\(node.mark?.description ?? "")"
    }

    func register(_ node: Node, _ mapping: Node.Mapping, _ path: [any CodingKey]) -> String {
        let id = recordID(node, path)
        if mappings[id] == nil {
            mappings[id] = MappingRecord(path: path, keys: mapping.map { ($0.key.string ?? "\($0.key)", $0.key.mark) })
            order.append(id)
        }
        return id
    }

    func ask(_ id: String, _ key: String) { mappings[id]?.asked.insert(key) }
    func askAll(_ id: String) {
        guard let r = mappings[id] else { return }
        for (k, _) in r.keys { mappings[id]?.asked.insert(k) }
        mappings[id]?.isDictionary = true
    }

    /// The first key (in file order) that no type asked for.
    func firstUnknownKey() -> VigilConfig.ConfigError? {
        var found: [(Int, Int, VigilConfig.ConfigError)] = []
        for id in order {
            guard let r = mappings[id] else { continue }
            for (k, mark) in r.keys where !r.asked.contains(k) {
                let known = r.asked.sorted().joined(separator: ", ")
                let loc = ConfigLocation(file: file, line: mark?.line ?? 0, column: mark?.column ?? 0,
                                         path: ConfigLocation.pathString(r.path + [PathKey(k)]))
                found.append((mark?.line ?? 0, mark?.column ?? 0,
                              VigilConfig.ConfigError(at: loc, "unknown key \"\(k)\"" + (known.isEmpty ? "" : " (known here: \(known))"))))
            }
        }
        return found.min { ($0.0, $0.1) < ($1.0, $1.1) }?.2
    }

    func askedPaths() -> Set<String> {
        var out = Set<String>()
        for r in mappings.values where !r.isDictionary {
            let base = ConfigLocation.pathString(r.path).replacingOccurrences(of: #"\[\d+\]"#, with: "[]", options: .regularExpression)
            for k in r.asked where !k.isEmpty { out.insert(base.isEmpty ? k : "\(base).\(k)") }
        }
        return out
    }

    /// Decodes one value; a `DecodingError` thrown by the type (its own validation) becomes a located error at the
    /// deepest node its coding path reaches.
    func decode<T: Decodable>(_ type: T.Type, node: Node, path: [any CodingKey]) throws -> T {
        do {
            return try T(from: NodeDecoder(node: node, codingPath: path, context: self))
        } catch let e as VigilConfig.ConfigError {
            throw e
        } catch let e as DecodingError {
            let (ctxPath, message) = Self.describe(e)
            var n = node
            var p = path
            if ctxPath.count > path.count {
                for k in ctxPath[path.count...] {
                    guard let next = Self.child(n, k) else { p.append(k); continue }
                    n = next
                    p.append(k)
                }
            }
            throw VigilConfig.ConfigError(at: location(n, p), message)
        } catch {
            throw self.error(node, path, "\(error)")
        }
    }

    static func child(_ node: Node, _ key: any CodingKey) -> Node? {
        switch node {
        case .mapping(let m):
            return m.first(where: { $0.key.string == key.stringValue })?.value
        case .sequence(let s):
            guard let i = key.intValue, i >= 0, i < s.count else { return nil }
            return s[s.index(s.startIndex, offsetBy: i)]
        default:
            return nil
        }
    }

    static func describe(_ e: DecodingError) -> ([any CodingKey], String) {
        switch e {
        case .keyNotFound(let k, let c): return (c.codingPath, "missing key \"\(k.stringValue)\"")
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): return (c.codingPath, c.debugDescription)
        @unknown default: return ([], "\(e)")
        }
    }
}

struct PathKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(_ s: String) { stringValue = s }
    init(index: Int) { stringValue = "\(index)"; intValue = index }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { self.init(index: intValue) }
}

/// A plain `~`, `null` or nothing (YAML's core schema); a quoted "null" is a string.
func isNull(_ node: Node) -> Bool {
    guard case .scalar(let s) = node, s.style == .plain else { return false }
    return ["", "~", "null", "Null", "NULL"].contains(s.string)
}

func describeKind(_ node: Node) -> String {
    switch node {
    case .scalar(let s): return "\"\(s.string)\""
    case .mapping: return "a mapping"
    case .sequence: return "a list"
    }
}

final class NodeDecoder: Decoder {
    let node: Node
    let codingPath: [any CodingKey]
    let context: DecodeContext
    var userInfo: [CodingUserInfoKey: Any] { context.userInfo }

    init(node: Node, codingPath: [any CodingKey], context: DecodeContext) {
        self.node = node
        self.codingPath = codingPath
        self.context = context
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .mapping(let m) = node else {
            if isNull(node) {  // `forecast:` with nothing under it: an empty mapping
                return KeyedDecodingContainer(KeyedNodeContainer<Key>(decoder: self, mapping: Node.Mapping([]), id: ""))
            }
            throw context.error(node, codingPath, "expected a mapping, got \(describeKind(node))")
        }
        var seen = Set<String>()
        for (k, _) in m {
            guard let s = k.string, case .scalar = k else {
                throw context.error(k, codingPath, "keys must be plain strings")
            }
            if !seen.insert(s).inserted {
                throw context.error(k, codingPath + [PathKey(s)], "duplicate key \"\(s)\"")
            }
        }
        let id = context.register(node, m, codingPath)
        return KeyedDecodingContainer(KeyedNodeContainer<Key>(decoder: self, mapping: m, id: id))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .sequence(let s) = node else {
            throw context.error(node, codingPath, "expected a list, got \(describeKind(node))")
        }
        return UnkeyedNodeContainer(decoder: self, items: Array(s))
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleNodeContainer(decoder: self) }
}

struct KeyedNodeContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: NodeDecoder
    let mapping: Node.Mapping
    let id: String
    var codingPath: [any CodingKey] { decoder.codingPath }

    var allKeys: [Key] {
        decoder.context.askAll(id)
        return mapping.compactMap { $0.key.string.flatMap(Key.init(stringValue:)) }
    }

    func value(_ key: Key) -> Node? {
        decoder.context.ask(id, key.stringValue)
        return mapping.first(where: { $0.key.string == key.stringValue })?.value
    }

    func contains(_ key: Key) -> Bool { value(key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool {
        guard let v = value(key) else { return true }
        return isNull(v)
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        guard let v = value(key) else {
            throw decoder.context.error(Node.mapping(mapping), codingPath, "missing key \"\(key.stringValue)\"")
        }
        return try decoder.context.decode(T.self, node: v, path: codingPath + [key])
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let v = value(key), !isNull(v) else { return nil }
        return try decoder.context.decode(T.self, node: v, path: codingPath + [key])
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decode(Prim<Bool>.self, forKey: key).v }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decode(Prim<String>.self, forKey: key).v }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decode(Prim<Double>.self, forKey: key).v }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try decode(Prim<Float>.self, forKey: key).v }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decode(Prim<Int>.self, forKey: key).v }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decode(Prim<Int8>.self, forKey: key).v }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try decode(Prim<Int16>.self, forKey: key).v }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try decode(Prim<Int32>.self, forKey: key).v }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try decode(Prim<Int64>.self, forKey: key).v }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decode(Prim<UInt>.self, forKey: key).v }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try decode(Prim<UInt8>.self, forKey: key).v }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try decode(Prim<UInt16>.self, forKey: key).v }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try decode(Prim<UInt32>.self, forKey: key).v }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try decode(Prim<UInt64>.self, forKey: key).v }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try superDecoder(forKey: key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try superDecoder(forKey: key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { decoder }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        guard let v = value(key) else {
            throw decoder.context.error(Node.mapping(mapping), codingPath, "missing key \"\(key.stringValue)\"")
        }
        return NodeDecoder(node: v, codingPath: codingPath + [key], context: decoder.context)
    }
}

/// A primitive read from a scalar, with the error naming what was expected and what was found.
struct Prim<T: ScalarValue>: Decodable {
    let v: T
    init(from d: any Decoder) throws {
        let nd = d as! NodeDecoder
        v = try T.read(nd.node, nd)
    }
}

protocol ScalarValue { static func read(_ node: Node, _ d: NodeDecoder) throws -> Self }

extension ScalarValue {
    static func fail(_ node: Node, _ d: NodeDecoder, _ what: String) -> VigilConfig.ConfigError {
        d.context.error(node, d.codingPath, "expected \(what), got \(describeKind(node))")
    }
}

extension String: ScalarValue {
    static func read(_ node: Node, _ d: NodeDecoder) throws -> String {
        guard case .scalar(let s) = node else { throw fail(node, d, "a string") }
        return s.string
    }
}

extension Bool: ScalarValue {
    static func read(_ node: Node, _ d: NodeDecoder) throws -> Bool {
        guard case .scalar = node, let b = node.bool else { throw fail(node, d, "true or false") }
        return b
    }
}

extension Double: ScalarValue {
    static func read(_ node: Node, _ d: NodeDecoder) throws -> Double {
        guard case .scalar = node, let x = node.float else { throw fail(node, d, "a number") }
        return x
    }
}

extension Float: ScalarValue {
    static func read(_ node: Node, _ d: NodeDecoder) throws -> Float { Float(try Double.read(node, d)) }
}

extension FixedWidthInteger where Self: ScalarValue {
    static func read(_ node: Node, _ d: NodeDecoder) throws -> Self {
        guard case .scalar = node, let i = node.int else { throw fail(node, d, "an integer") }
        guard let v = Self(exactly: i) else { throw fail(node, d, "an integer in \(Self.min)...\(Self.max)") }
        return v
    }
}

extension Int: ScalarValue {}
extension Int8: ScalarValue {}
extension Int16: ScalarValue {}
extension Int32: ScalarValue {}
extension Int64: ScalarValue {}
extension UInt: ScalarValue {}
extension UInt8: ScalarValue {}
extension UInt16: ScalarValue {}
extension UInt32: ScalarValue {}
extension UInt64: ScalarValue {}

struct SingleNodeContainer: SingleValueDecodingContainer {
    let decoder: NodeDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool { isNull(decoder.node) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try decoder.context.decode(T.self, node: decoder.node, path: codingPath)
    }
    func decode(_ type: Bool.Type) throws -> Bool { try Bool.read(decoder.node, decoder) }
    func decode(_ type: String.Type) throws -> String { try String.read(decoder.node, decoder) }
    func decode(_ type: Double.Type) throws -> Double { try Double.read(decoder.node, decoder) }
    func decode(_ type: Float.Type) throws -> Float { try Float.read(decoder.node, decoder) }
    func decode(_ type: Int.Type) throws -> Int { try Int.read(decoder.node, decoder) }
    func decode(_ type: Int8.Type) throws -> Int8 { try Int8.read(decoder.node, decoder) }
    func decode(_ type: Int16.Type) throws -> Int16 { try Int16.read(decoder.node, decoder) }
    func decode(_ type: Int32.Type) throws -> Int32 { try Int32.read(decoder.node, decoder) }
    func decode(_ type: Int64.Type) throws -> Int64 { try Int64.read(decoder.node, decoder) }
    func decode(_ type: UInt.Type) throws -> UInt { try UInt.read(decoder.node, decoder) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try UInt8.read(decoder.node, decoder) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try UInt16.read(decoder.node, decoder) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try UInt32.read(decoder.node, decoder) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try UInt64.read(decoder.node, decoder) }
}

struct UnkeyedNodeContainer: UnkeyedDecodingContainer {
    let decoder: NodeDecoder
    let items: [Node]
    var currentIndex = 0
    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    init(decoder: NodeDecoder, items: [Node]) {
        self.decoder = decoder
        self.items = items
    }

    mutating func next() throws -> (Node, [any CodingKey]) {
        guard !isAtEnd else {
            throw decoder.context.error(decoder.node, codingPath, "expected more items in the list")
        }
        defer { currentIndex += 1 }
        return (items[currentIndex], codingPath + [PathKey(index: currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return false }
        if isNull(items[currentIndex]) { currentIndex += 1; return true }
        return false
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (n, p) = try next()
        return try decoder.context.decode(T.self, node: n, path: p)
    }
    mutating func decode(_ type: Bool.Type) throws -> Bool { try decode(Prim<Bool>.self).v }
    mutating func decode(_ type: String.Type) throws -> String { try decode(Prim<String>.self).v }
    mutating func decode(_ type: Double.Type) throws -> Double { try decode(Prim<Double>.self).v }
    mutating func decode(_ type: Float.Type) throws -> Float { try decode(Prim<Float>.self).v }
    mutating func decode(_ type: Int.Type) throws -> Int { try decode(Prim<Int>.self).v }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try decode(Prim<Int8>.self).v }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try decode(Prim<Int16>.self).v }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try decode(Prim<Int32>.self).v }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try decode(Prim<Int64>.self).v }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try decode(Prim<UInt>.self).v }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try decode(Prim<UInt8>.self).v }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try decode(Prim<UInt16>.self).v }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try decode(Prim<UInt32>.self).v }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try decode(Prim<UInt64>.self).v }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try superDecoder().container(keyedBy: type)
    }
    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try superDecoder().unkeyedContainer() }
    mutating func superDecoder() throws -> any Decoder {
        let (n, p) = try next()
        return NodeDecoder(node: n, codingPath: p, context: decoder.context)
    }
}
