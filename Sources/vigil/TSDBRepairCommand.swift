import ArgumentParser
import Foundation
import VigilStore

struct TSDBRepairCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Offline: replay a damaged WAL, keep every intact record and set the damaged bytes aside.",
        discussion: """
            Does what opening the store does when it finds damage, and a little more, without starting a server:
            damaged ranges are skipped (replay goes on at the next valid record, and with every later segment),
            the segments holding them are copied to <data>/quarantine/, and the log is rewritten from what was
            recovered. Intact samples whose series record was lost, or which name a series vigil.db does not
            know, are counted and kept in quarantine/ too (a normal open refuses the latter). A torn tail of the
            last segment (a crash mid-write, never acknowledged) is cut. Prints what was skipped: segment, byte
            range, records and samples. Refuses while a server holds the directory's lock.

            Example: vigil tsdb repair --data ./data
            """
    )

    @Option(name: .long, help: "Data directory.")
    var data: String

    func run() throws {
        let before = (try? FileManager.default.contentsOfDirectory(atPath: data + "/wal"))?.count ?? 0
        var o = TSDBOpen.offlineOptions()
        o.walRepair = true
        o.logger.logLevel = .error // the report below says it all
        let db = try TSDBOpen.existing(data, options: o)
        let st = try db.stats()
        if let c = db.walCorruption {
            print(c)
            print("recovered: \(st.series) series, \(st.samples) samples; lost: \(c.lostSamples) samples of unknown series"
                  + " plus the skipped ranges above")
        } else {
            print("WAL intact: \(before) segments replayed without damage; \(st.series) series, \(st.samples) samples")
        }
        try db.close()
        if let c = db.walCorruption, !c.quarantined.isEmpty {
            print("damaged bytes kept in \(c.quarantined.map { data + "/" + $0 }.joined(separator: ", "))")
        }
    }
}
