import Foundation
import Hummingbird
import VigilCore

/// `GET /api/v1/export?match[]=SELECTOR&start=&end=`: raw samples as JSON lines, in VictoriaMetrics' export shape
/// (`{"metric":{...},"values":[...],"timestamps":[...]}`). Lets clients and tests read back exactly what was stored
/// without PromQL. Non-finite values are written as the strings `"NaN"`, `"+Inf"`, `"-Inf"`, `"StaleNaN"`.
extension VigilServer {
    func addExportRoute(to router: Router<BasicRequestContext>) {
        router.get("/api/v1/export") { request, _ -> Response in
            let items = queryItems(request.uri.query)
            let selectors = items.filter { $0.0 == "match[]" }.map(\.1)
            let q = Dictionary(items, uniquingKeysWith: { a, _ in a })
            guard !selectors.isEmpty else { return textResponse(.badRequest, "missing match[] parameter") }
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            var mint = Int64.min, maxt = now + 86_400_000 * 365
            if let s = q["start"] {
                guard let t = Self.parseTime(s) else { return textResponse(.badRequest, "invalid start \"\(s)\"") }
                mint = t
            }
            if let s = q["end"] {
                guard let t = Self.parseTime(s) else { return textResponse(.badRequest, "invalid end \"\(s)\"") }
                maxt = t
            }
            var seen = Set<Labels>()
            var out = ""
            for sel in selectors {
                let matchers: [LabelMatcher]
                do { matchers = try SimpleSelector.parse(sel) } catch {
                    return textResponse(.badRequest, "invalid match[] \"\(sel)\": \(error)")
                }
                let series: [SeriesSamples]
                do { series = try self.reader.select(matchers, mint: mint, maxt: maxt) } catch {
                    return textResponse(.internalServerError, "cannot read the store: \(error)")
                }
                for s in series where seen.insert(s.labels).inserted {
                    out += "{\"metric\":{"
                    out += s.labels.map { "\(jsonString($0.name)):\(jsonString($0.value))" }.joined(separator: ",")
                    out += "},\"values\":["
                    out += s.values.map { v -> String in
                        if v.isStaleNaN { return "\"StaleNaN\"" }
                        if v.isNaN { return "\"NaN\"" }
                        if v.isInfinite { return v > 0 ? "\"+Inf\"" : "\"-Inf\"" }
                        return "\(v)"
                    }.joined(separator: ",")
                    out += "],\"timestamps\":["
                    out += s.timestamps.map(String.init).joined(separator: ",")
                    out += "]}\n"
                }
            }
            return Response(status: .ok, headers: [.contentType: "application/stream+json"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: out)))
        }
    }
}

/// A series selector without functions: `name`, `name{a="b",c!="d",e=~"x.*"}`, `{__name__=~"up|foo"}`.
enum SimpleSelector {
    struct Error: Swift.Error, CustomStringConvertible {
        let description: String
    }

    static func parse(_ s: String) throws -> [LabelMatcher] {
        var chars = Array(s.unicodeScalars)
        var i = 0
        func skipSpace() { while i < chars.count && chars[i].properties.isWhitespace { i += 1 } }
        func ident() -> String {
            var out = ""
            while i < chars.count, chars[i] == "_" || chars[i] == ":" || chars[i].properties.isAlphabetic
                    || ("0"..."9").contains(chars[i]) {
                out.unicodeScalars.append(chars[i])
                i += 1
            }
            return out
        }
        var matchers: [LabelMatcher] = []
        skipSpace()
        let name = ident()
        if !name.isEmpty { matchers.append(.equal("__name__", name)) }
        skipSpace()
        if i < chars.count && chars[i] == "{" {
            i += 1
            while true {
                skipSpace()
                if i < chars.count && chars[i] == "}" { i += 1; break }
                let ln = ident()
                guard !ln.isEmpty else { throw Error(description: "expected a label name at offset \(i)") }
                skipSpace()
                var op = ""
                while i < chars.count && "=!~".unicodeScalars.contains(chars[i]) {
                    op.unicodeScalars.append(chars[i])
                    i += 1
                }
                guard let type = LabelMatcher.MatchType(rawValue: op) else {
                    throw Error(description: "expected =, !=, =~ or !~ after \(ln)")
                }
                skipSpace()
                guard i < chars.count && (chars[i] == "\"" || chars[i] == "'") else {
                    throw Error(description: "expected a quoted value for \(ln)")
                }
                let quote = chars[i]
                i += 1
                var v = ""
                while i < chars.count && chars[i] != quote {
                    if chars[i] == "\\" && i + 1 < chars.count {
                        i += 1
                        switch chars[i] {
                        case "n": v += "\n"
                        case "t": v += "\t"
                        default: v.unicodeScalars.append(chars[i])
                        }
                    } else {
                        v.unicodeScalars.append(chars[i])
                    }
                    i += 1
                }
                guard i < chars.count else { throw Error(description: "unterminated string for \(ln)") }
                i += 1
                matchers.append(try LabelMatcher(type, ln, v))
                skipSpace()
                if i < chars.count && chars[i] == "," { i += 1; continue }
                if i < chars.count && chars[i] == "}" { i += 1; break }
                throw Error(description: "expected , or } at offset \(i)")
            }
        }
        skipSpace()
        guard i == chars.count else { throw Error(description: "unexpected text at offset \(i)") }
        guard !matchers.isEmpty, matchers.contains(where: { !$0.matchesEmpty }) else {
            throw Error(description: "a selector needs at least one matcher that does not match the empty string")
        }
        chars.removeAll()
        return matchers
    }
}

/// Query items with keys and values percent-decoded (`+` is a space), in order.
func queryItems(_ query: String?) -> [(String, String)] {
    guard let query, !query.isEmpty else { return [] }
    return query.split(separator: "&").map { item in
        let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        func dec(_ s: Substring) -> String {
            let plus = s.replacingOccurrences(of: "+", with: " ")
            return plus.removingPercentEncoding ?? plus
        }
        return (dec(kv[0]), kv.count > 1 ? dec(kv[1]) : "")
    }
}
