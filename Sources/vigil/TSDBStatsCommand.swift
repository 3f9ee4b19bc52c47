import ArgumentParser
import VigilStore

struct TSDBStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show series, samples, bytes on disk, bytes per sample and the time range of a data directory.",
        discussion: """
            Opens the directory (replaying its write-ahead log into memory, without changing SQLite) and
            prints what it holds. Bytes on disk count vigil.db (+ -wal/-shm) and the WAL segments.

            Example: vigil tsdb stats --data ./data
            """
    )

    @Option(name: .long, help: "Data directory.")
    var data: String

    func run() throws {
        let db = try TSDBOpen.existing(data)
        let st = try db.stats()
        if let c = db.walCorruption { print("warning: \(c)") }
        print("data directory:    \(data)")
        print(st.description)
        try db.close()
    }
}
