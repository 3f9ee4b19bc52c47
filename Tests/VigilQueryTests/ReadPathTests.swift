import Foundation
import Testing
import VigilCore
@testable import VigilServer

/// The checked parameter parser shared by the query, export and import APIs.
struct RequestParameterTests {
    @Test(arguments: [
        ("1.5", Int64(1500)), ("0", 0), ("-1.5", -1500), ("1700000000.123", 1_700_000_000_123), ("1e3", 1_000_000),
        ("2023-11-14T22:13:20Z", 1_700_000_000_000), ("2023-11-14T22:13:20.5+01:00", 1_699_996_400_500),
        ("9223372036854.775", 9_223_372_036_854_775), ("-9223372036854.775", -9_223_372_036_854_775),
        ("292277025-08-18T07:12:54.999999999Z", RequestParameters.maxTimeMs),
    ])
    func times(_ s: String, _ want: Int64) throws {
        #expect(try RequestParameters.time(s, "t") == want)
    }

    @Test(arguments: ["-1e18", "1e300", "9.3e15", "-9.3e15", "NaN", "Inf", "-Inf", "+Inf", "1e17", "", "x", "0x10",
                      "2023-02-30T00:00:00Z", "2023-13-01T00:00:00Z", " 1", "9223372036854.9", "1e19"])
    func badTimesNameTheParameter(_ s: String) {
        #expect(throws: ParameterError.self) { try RequestParameters.time(s, "start") }
        do { _ = try RequestParameters.time(s, "start") } catch {
            #expect(error.parameter == "start")
            #expect(error.description.hasPrefix("invalid parameter \"start\": cannot parse"))
        }
    }

    @Test func durations() throws {
        #expect(try RequestParameters.duration("15", "step") == 15_000)
        #expect(try RequestParameters.duration("0.5", "step") == 500)
        #expect(try RequestParameters.duration("1m30s", "step") == 90_000)
        for bad in ["NaN", "Inf", "1e300", "-1e300", "1e10", "abc", "5x"] {
            #expect(throws: ParameterError.self, "\(bad)") { try RequestParameters.duration(bad, "step") }
        }
    }

    @Test func rfc3339AgreesWithTheCalendar() {
        for (s, days) in [("1970-01-01T00:00:00Z", 0), ("2000-03-01T00:00:00Z", 11_017), ("1969-12-31T00:00:00Z", -1)] {
            #expect(RequestParameters.rfc3339(s) == Int64(days) * 86_400_000, "\(s)")
        }
        #expect(RequestParameters.rfc3339("2024-02-29T00:00:00Z") != nil)
        #expect(RequestParameters.rfc3339("2023-02-29T00:00:00Z") == nil)
    }
}

/// The one selector parser (VigilCore) used by PromQL, `match[]`, `tsdb dump` and the forecaster's `watch`.
struct SelectorParserTests {
    @Test func parsesSelectors() throws {
        #expect(try SelectorParser.parse("up") == [.equal("__name__", "up")])
        #expect(try SelectorParser.parse(" up { job = \"api\" , a!~'x.*' } ") ==
                [.equal("__name__", "up"), .equal("job", "api"), try LabelMatcher(.regexNoMatch, "a", "x.*")])
        #expect(try SelectorParser.parse("{__name__=~\"a|b\"}") == [try LabelMatcher(.regexMatch, "__name__", "a|b")])
        #expect(try SelectorParser.parse("ns:metric:rate5m{x=`raw\\n`}") == [.equal("__name__", "ns:metric:rate5m"), .equal("x", "raw\\n")])
        #expect(try SelectorParser.parse("m{a=\"\\x41\\u00e9\\n\\\"\"}")[1] == .equal("a", "Aé\n\""))
        #expect(try SelectorParser.parse("m{a=\"b\",}").count == 2)
    }

    @Test(arguments: [
        ("", 1), ("{}", 1), ("{a=\"\"}", 1), ("up{", 4), ("up{a}", 5), ("up{a=b}", 6), ("up{a=\"b\"", 9),
        ("up{__name__=\"x\"}", 4), ("up{a==\"b\"}", 5), ("up{1a=\"b\"}", 4), ("up{a=\"\\q\"}", 7), ("up offset 5m", 4),
        ("up{a=~\"(\"}", 7), ("sum(up)", 4),
    ])
    func refusesWithAPosition(_ s: String, _ column: Int) {
        #expect(throws: SelectorParser.ParseError.self) { try SelectorParser.parse(s) }
        do { _ = try SelectorParser.parse(s) } catch {
            #expect(error.position + 1 == column, "\(s): \(error)")
        }
    }
}

/// Reads run on the executor's own threads, never on the Swift concurrency pool.
struct ReadExecutorTests {
    @Test func runsOnItsOwnThreads() async throws {
        let ex = ReadExecutor(name: "test.read", threads: 3)
        defer { ex.stop() }
        // `isCurrent` is the executor's own mark on its threads (a thread-dictionary entry). Thread names are not
        // checked here: on Linux a pthread's name as Foundation reports it can lag behind (seen under load).
        let onExecutor = try await withThrowingTaskGroup(of: Bool.self) { g in
            for _ in 0..<12 { g.addTask { try await ex.run { ex.isCurrent } } }
            return try await g.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(onExecutor.count == 12 && onExecutor.allSatisfy { $0 })
        #expect(!ex.isCurrent, "the test's own task is not on the executor")
        await #expect(throws: CancellationError.self) { try await ex.run { throw CancellationError() } }
    }

    @Test func seriesReaderAsyncCallsUseTheExecutor() async throws {
        let ex = ReadExecutor(name: "test.reader", threads: 1)
        defer { ex.stop() }
        let r = ThreadRecordingReader(executor: ex)
        _ = try await r.selectAsync([.equal("__name__", "x")], mint: 0, maxt: 1, on: ex)
        _ = try await r.labelValuesAsync("a", matchers: [], mint: 0, maxt: 1, on: ex)
        #expect(r.threads == ["executor", "executor"])
        _ = try r.select([], mint: 0, maxt: 1)  // a direct call runs here, not on the executor
        #expect(r.threads.last == "elsewhere")
    }
}

/// A real (trivial) reader that records whether each call ran on the executor's threads (its own mark, not the
/// thread's name: Foundation on Linux can report a stale pthread name).
final class ThreadRecordingReader: SeriesReader, @unchecked Sendable {
    private let lock = NSLock()
    private let executor: ReadExecutor
    private var seen: [String] = []
    init(executor: ReadExecutor) { self.executor = executor }
    var threads: [String] { lock.withLock { seen } }
    private func note() {
        let where_ = executor.isCurrent ? "executor" : "elsewhere"
        lock.withLock { seen.append(where_) }
    }
    func select(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [SeriesSamples] { note(); return [] }
    func series(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [Labels] { note(); return [] }
    func labelNames(_ matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [String] { note(); return [] }
    func labelValues(_ name: String, matchers: [LabelMatcher], mint: Int64, maxt: Int64) throws -> [String] { note(); return [] }
}

/// `--query-max-concurrency`: over the limit a query waits, bounded (simulated time), then gets 503.
struct QueryGateTests {
    @Test func waitsThenGivesUp() async throws {
        let clock = SimulatedClock(startMillis: 0)
        let gate = QueryGate(limit: 1, maxWait: 10, clock: clock)
        #expect(await gate.acquire())
        let second = Task { await gate.acquire() }
        while clock.sleeperCount == 0 { await Task.yield() }
        #expect(gate.waiting == 1)
        clock.advance(by: 10_000)
        #expect(await second.value == false)
        #expect(gate.waiting == 0)
        // A waiter gets the slot when it is released in time.
        let third = Task { await gate.acquire() }
        while gate.waiting == 0 { await Task.yield() }
        gate.release()
        #expect(await third.value == true)
        gate.release()
        #expect(await gate.acquire())
        gate.release()
    }
}
