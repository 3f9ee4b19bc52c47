import VigilCore

/// One StatsD metric line, parsed but not aggregated.
///
/// Aggregation is the caller's (the server's StatsD listener), because it depends on the flush interval. The intended
/// mapping: counters add `value / sampleRate` into `<name>_total`; gauges keep the last value (`gaugeDelta` adds to
/// it); timers, histograms and distributions feed a summary or histogram per flush; sets count distinct members.
public struct StatsDEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        case counter = "c", gauge = "g", gaugeDelta = "g+-", timer = "ms", histogram = "h", distribution = "d", set = "s"
    }

    /// The metric name, sanitised to a Prometheus name (`api.requests` → `api_requests`).
    public var name: String
    public var kind: Kind
    /// The number (0 for sets). For `gaugeDelta` a signed change.
    public var value: Double
    /// For sets: the member (any text).
    public var setMember: String?
    /// `@rate`, in (0, 1]; 1 when absent.
    public var sampleRate: Double
    /// DogStatsD `#tag:value` tags as labels (sanitised names, sorted); a bare `#tag` gets the value `true`.
    public var tags: [Label]

    public init(name: String, kind: Kind, value: Double, setMember: String? = nil, sampleRate: Double = 1, tags: [Label] = []) {
        self.name = name; self.kind = kind; self.value = value; self.setMember = setMember
        self.sampleRate = sampleRate; self.tags = tags
    }
}

/// StatsD (etsy) line protocol with DogStatsD tags: `name:value|type[|@rate][|#tag:v,tag2:v2]`, one per line
/// (a UDP packet may hold several lines). Types: `c` counter, `g` gauge (a leading `+`/`-` makes it a delta),
/// `ms` timer, `h` histogram, `d` distribution, `s` set. Errors name the line and column.
public enum StatsD {
    public static func parse(_ body: [UInt8], limits: IngestLimits = .default) throws(IngestError) -> [StatsDEvent] {
        guard let text = UTF8Bytes.string(body) else {
            var bad = 0
            var line = 1
            var lineStart = 0
            // Locate the first invalid byte for the message.
            for (k, b) in body.enumerated() {
                if b == 0x0A { line += 1; lineStart = k + 1 }
                if b >= 0x80 { bad = k; break }
            }
            throw IngestError(.invalidUTF8, "line \(line) column \(bad - lineStart + 1): not valid UTF-8", line: line, column: bad - lineStart + 1)
        }
        var out: [StatsDEvent] = []
        var lineNo = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            func fail(_ code: IngestError.Code, _ reason: String, at idx: Substring.Index) -> IngestError {
                let col = line.utf8.distance(from: line.startIndex, to: idx) + 1
                return IngestError(code, "line \(lineNo) column \(col): \(reason)", line: lineNo, column: col)
            }
            // The name ends at the last ':' before the first '|' (names may contain ':').
            let firstPipe = line.firstIndex(of: "|") ?? line.endIndex
            guard let colon = line[..<firstPipe].lastIndex(of: ":") else {
                throw fail(.syntax, "expected \"name:value|type\"", at: firstPipe)
            }
            let rawName = line[..<colon]
            guard !rawName.isEmpty else { throw fail(.syntax, "empty metric name", at: line.startIndex) }
            let sections = line[line.index(after: colon)...].split(separator: "|", omittingEmptySubsequences: false)
            guard sections.count >= 2 else { throw fail(.syntax, "missing \"|type\"", at: line.endIndex) }
            let valueText = sections[0]
            let typeText = sections[1]
            var kind: StatsDEvent.Kind
            switch typeText {
            case "c": kind = .counter
            case "g": kind = .gauge
            case "ms": kind = .timer
            case "h": kind = .histogram
            case "d": kind = .distribution
            case "s": kind = .set
            default: throw fail(.syntax, "unknown metric type \"\(typeText.prefix(20))\"", at: typeText.startIndex)
            }
            var value = 0.0
            var member: String? = nil
            if kind == .set {
                member = String(valueText)
            } else {
                guard let v = Numbers.parseDouble(Array(valueText.utf8)), v.isFinite else {
                    throw fail(.badValue, "invalid value \"\(valueText.prefix(40))\"", at: valueText.startIndex)
                }
                value = v
                if kind == .gauge, let f = valueText.first, f == "+" || f == "-" { kind = .gaugeDelta }
            }
            var rate = 1.0
            var tags: [Label] = []
            for s in sections.dropFirst(2) {
                if s.hasPrefix("@") {
                    guard let r = Numbers.parseDouble(Array(s.dropFirst().utf8)), r > 0, r <= 1 else {
                        throw fail(.badValue, "invalid sample rate \"\(s.prefix(20))\" (want 0 < rate <= 1)", at: s.startIndex)
                    }
                    rate = r
                } else if s.hasPrefix("#") {
                    for t in s.dropFirst().split(separator: ",") {
                        let kv = t.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                        let tn = NameSanitizer.labelName(String(kv[0]))
                        guard !tn.isEmpty else { throw fail(.syntax, "empty tag name", at: t.startIndex) }
                        if tags.contains(where: { $0.name == tn }) { throw fail(.duplicateLabel, "duplicate tag \"\(tn)\"", at: t.startIndex) }
                        tags.append(Label(tn, kv.count > 1 ? String(kv[1]) : "true"))
                    }
                    if tags.count >= limits.maxLabelsPerSeries {
                        throw fail(.limit, "\(tags.count) tags exceed the limit of \(limits.maxLabelsPerSeries - 1)", at: s.startIndex)
                    }
                } else if s.hasPrefix("c:") || s.hasPrefix("T") {
                    continue  // DogStatsD container id / timestamp extensions: ignored
                } else {
                    throw fail(.syntax, "unknown section \"\(s.prefix(20))\"", at: s.startIndex)
                }
            }
            let name = NameSanitizer.metricName(String(rawName))
            for t in tags where t.value.utf8.count > limits.maxLabelValueLength || t.name.utf8.count > limits.maxLabelNameLength {
                throw fail(.limit, "tag \"\(t.name.prefix(40))\" is longer than the limit", at: rawName.startIndex)
            }
            tags.sort { $0.name < $1.name }
            out.append(StatsDEvent(name: name, kind: kind, value: value, setMember: member, sampleRate: rate, tags: tags))
        }
        return out
    }
}
