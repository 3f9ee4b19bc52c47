import ArgumentParser
import VigilStore

struct TSDBFlushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flush",
        abstract: "Offline: replay the WAL, seal every open chunk into SQLite and checkpoint.",
        discussion: """
            Afterwards all data lives in vigil.db and the WAL is empty, so the size on disk can be measured.
            Do not run it on a directory a running `vigil serve` is using.

            Example: vigil tsdb flush --data ./data
            """
    )

    @Option(name: .long, help: "Data directory.")
    var data: String

    func run() throws {
        let db = try TSDBOpen.existing(data)
        if let c = db.walCorruption { print("warning: \(c)") }
        let before = try db.stats()
        print("replayed WAL: \(before.headSamples) samples in \(before.headChunks) head chunks")
        try db.flush()
        let after = try db.stats()
        try db.close()
        print("sealed into SQLite; now \(after.persistedChunks) chunks, \(after.samples) samples, "
              + "\(after.bytesOnDisk) bytes on disk (\(String(format: "%.3f", after.bytesPerSample)) bytes/sample)")
    }
}
