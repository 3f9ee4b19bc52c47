import Foundation
import Testing
import VigilCore
@testable import VigilStore
#if canImport(Glibc)
import Glibc
#endif

/// Issue 16, row 5: two stores on one data directory both acknowledged writes and one's were lost.
@Suite struct DirectoryLockTests {
    @Test func aSecondOpenOfTheDirectoryFailsNamingItAndTheHolder() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let db = try TSDB(directory: dir.path, options: testOptions())
        _ = try db.appendSync(batches(series: 2, steps: 0..<3)[0])
        let walBefore = try walSegments(dir.path)
        let err = try #require(throws: StoreLockedError.self) { try TSDB(directory: dir.path, options: testOptions()) }
        #expect(err.directory == dir.path)
        #expect(err.holderPID == getpid())
        #expect(err.description.contains(dir.path) && err.description.contains("PID \(getpid())"), "\(err)")
        // The failed open touched nothing: no new WAL segment.
        #expect(try walSegments(dir.path) == walBefore)
        #expect(String(decoding: FileManager.default.contents(atPath: dir.path + "/LOCK") ?? Data(), as: UTF8.self) == "\(getpid())\n")
        try db.close()
        // Released by close.
        let again = try TSDB(directory: dir.path, options: testOptions())
        #expect(try again.select(everything, mint: .min, maxt: .max).count == 2)
        try again.close()
    }

    @Test func droppingAnUnclosedStoreReleasesTheLock() throws {
        let dir = TempDir()
        defer { dir.remove() }
        do { _ = try TSDB(directory: dir.path, options: testOptions()) }
        let db = try TSDB(directory: dir.path, options: testOptions())
        try db.close()
    }
}
