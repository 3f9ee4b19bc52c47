import Testing
@testable import VigilDrivers

/// The drivers' idempotency ledger: a repeated id is refused, a given-back id can run again, and the ledger stays
/// bounded (a daemon runs for months) while recent ids are still remembered.
@Suite struct ActionLedgerTests {
    @Test func repeatsAreRefusedAndTheLedgerIsBounded() {
        var l = ActionLedger(capacity: 100)
        var ok = l.claim("a")
        #expect(ok)
        ok = l.claim("a")
        #expect(!ok)
        l.unclaim("a")
        ok = l.claim("a")
        #expect(ok)
        var fresh = 0
        for i in 0..<1_000 where l.claim("id-\(i)") { fresh += 1 }
        #expect(fresh == 1_000)
        #expect(l.count <= 100)
        let again = [l.claim("id-999"), l.claim("id-950")]
        #expect(again == [false, false])                    // recent ids are still remembered
        #expect(!l.contains("a") && !l.contains("id-0"))    // the oldest were forgotten
    }
}
