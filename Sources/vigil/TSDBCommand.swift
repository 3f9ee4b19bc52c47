import ArgumentParser
import Foundation
import Logging
import VigilStore

struct TSDBCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tsdb",
        abstract: "Inspect and maintain a Vigil data directory offline.",
        discussion: "Example: vigil tsdb stats --data ./data",
        subcommands: [TSDBStatsCommand.self, TSDBDumpCommand.self, TSDBFlushCommand.self, TSDBRepairCommand.self,
                      TSDBAppendStreamCommand.self]
    )
}

/// Shared by the `tsdb` subcommands: open an existing data directory without background work.
enum TSDBOpen {
    static func existing(_ dir: String, fsync: WALFsyncPolicy = .always) throws -> TSDB {
        try existing(dir, options: offlineOptions(fsync: fsync))
    }

    static func existing(_ dir: String, options: TSDBOptions) throws -> TSDB {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw ValidationError("no data directory at \(dir)")
        }
        guard FileManager.default.fileExists(atPath: dir + "/vigil.db") else {
            throw ValidationError("\(dir) is not a Vigil data directory (no vigil.db)")
        }
        return try TSDB(directory: dir, options: options)
    }

    static func offlineOptions(fsync: WALFsyncPolicy = .always) -> TSDBOptions {
        var o = TSDBOptions()
        o.maintenanceInterval = nil
        o.retention = 0
        o.walFsync = fsync
        var l = Logger(label: "vigil.store")
        l.logLevel = .warning
        o.logger = l
        return o
    }
}
