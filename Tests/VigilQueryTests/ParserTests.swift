import Testing
import VigilCore
@testable import VigilQuery

struct ParserTests {
    @Test(arguments: [
        ("0x1f", 31.0), ("1e3", 1000), (".5", 0.5), ("1.", 1), ("Inf", .infinity), ("-inf", -.infinity),
        ("2 ^ 3 ^ 2", 512), ("-2 ^ 2", -4), ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("10 % 3", 1),
        ("1 + -1", 0), ("--1", 1), ("2 * 3 - 1", 5), ("1 < bool 2", 1), ("010", 10), ("1e-2", 0.01),
    ])
    func numbers(_ q: String, _ want: Double) throws {
        let e = Engine(reader: InMemorySeriesReader([]))
        guard case .scalar(_, let v) = try e.instantQuery(q, at: 0) else {
            Issue.record("not a scalar")
            return
        }
        #expect(v == want || (v.isNaN && want.isNaN))
    }
}
