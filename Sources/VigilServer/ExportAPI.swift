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
            guard !selectors.isEmpty else { return self.refuse(.badRequest("missing match[] parameter")) }
            let now = self.options.clock.nowMillis()
            var mint = RequestParameters.minTimeMs, maxt = now + 86_400_000 * 365
            do throws(ParameterError) {
                if let s = q["start"] { mint = try RequestParameters.time(s, "start") }
                if let s = q["end"] { maxt = try RequestParameters.time(s, "end") }
            } catch {
                return self.refuse(.badRequest(error.description))
            }
            var seen = Set<Labels>()
            var out = ""
            for sel in selectors {
                let matchers: [LabelMatcher]
                do { matchers = try SelectorParser.parse(sel) } catch {
                    return self.refuse(.badRequest("invalid parameter \"match[]\": \(error)"))
                }
                let series: [SeriesSamples]
                // On the read executor's threads, never inline on the Swift concurrency pool.
                do { series = try await self.reader.selectAsync(matchers, mint: mint, maxt: maxt) } catch {
                    return self.refuse(.storage("cannot read the store: \(error)"))
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
