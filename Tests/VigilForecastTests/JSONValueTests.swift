import Foundation
import Testing
@testable import VigilForecast

/// Model-file headers are JSON; a number written there must come back bit for bit, or a reloaded model predicts
/// differently from the one that was saved (CI caught this through Foundation's inexact parser on Linux).
@Suite struct JSONValueTests {
    @Test func numbersRoundTripExactly() throws {
        var rng = TestRNG(7)
        var mismatches: [Double] = []
        for k in 0..<20000 {
            let scale = [1e-300, 1e-9, 1, 7.5, 1e6, 1e300][k % 6]
            let d = (rng.uniform() * 2 - 1) * scale
            let text = JSONValue.array([.number(d)]).serialized()
            let back = try #require(JSONValue.parse(text), "could not parse \(text)")
            guard case .array(let a) = back, a.first?.number == d else { mismatches.append(d); continue }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of 20000 doubles changed, e.g. \(mismatches.prefix(3))")
    }

    @Test func stringsObjectsAndLiterals() throws {
        let v = try #require(JSONValue.parse(#" { "a" : [1, -2.5e3, true, false, null], "s": "q\"\\\/\n\u00e9\ud83d\ude00", "o": {} } "#))
        guard case .object(let o) = v else { Issue.record("not an object: \(v)"); return }
        #expect(o["s"]?.string == "q\"\\/\né😀")
        guard case .array(let a)? = o["a"] else { Issue.record("a is not an array"); return }
        #expect(a.count == 5 && a[0].number == 1 && a[1].number == -2500)
        #expect(JSONValue.parse(v.serialized())?.serialized() == v.serialized())
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "\"\\x\"", "\"\\ud800\"", "[1] 2", "tru", "\"a\u{1}\""])
    func malformedTextIsRejected(_ text: String) {
        #expect(JSONValue.parse(text) == nil, "accepted \(text.debugDescription)")
    }
}
