import Foundation
import Testing
import VigilTestSupport
import VigilCore
@testable import VigilStore
#if canImport(Glibc)
import Glibc
#endif


// Same data as `vigil tsdb append-stream` (Sources/vigil/TSDBAppendStreamCommand.swift).
func streamLabels(_ i: Int) -> Labels { Labels(["__name__": "crash_test", "series": "s\(i)", "job": "crash"]) }
func streamValue(_ i: Int, _ k: Int) -> Double { Double(i) * 1_000_003.25 + Double(k) * 0.1 }

@Suite struct CrashTests {
    /// A child process appends with acknowledged (fsync'd) writes, sealing chunks and checkpointing as it
    /// goes, and is killed with SIGKILL mid-stream. Every acknowledged sample must come back, and nothing
    /// that was never written.
    @Test(arguments: [(40, 0), (137, 7), (260, 25)])
    func sigkillMidStreamLosesNoAcknowledgedSample(killAfter: Int, checkpointEvery: Int) async throws {
        let exe = try #require(vigilExecutable(), "vigil executable not found next to \(CommandLine.arguments[0]); run swift build first")
        let dir = TempDir("crash\(killAfter)")
        defer { dir.remove() }
        let series = 25
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["tsdb", "append-stream", "--data", dir.path, "--series", "\(series)", "--batches", "1000000",
                       "--samples-per-chunk", "16", "--checkpoint-every", "\(checkpointEvery)"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()

        // Read ack lines until `killAfter`, then SIGKILL; keep reading what was already acknowledged. The reads
        // block, so they run off the concurrency pool.
        let fd = out.fileHandleForReading.fileDescriptor
        let pid = p.processIdentifier
        let (lastAck, killed, outOfSequence) = try await offPool { () -> (Int, Bool, Int) in
            var lastAck = -1, outOfSequence = 0
            var pending = [UInt8]()
            var buf = [UInt8](repeating: 0, count: 4096)
            var killed = false
            while true {
                let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4096) }
                if n <= 0 { break }
                pending += buf[0..<n]
                while let nl = pending.firstIndex(of: 10) {
                    let line = String(decoding: pending[..<nl], as: UTF8.self)
                    pending.removeSubrange(...nl)
                    if line.hasPrefix("ack "), let k = Int(line.dropFirst(4)) {
                        if k != lastAck + 1 { outOfSequence += 1 }
                        lastAck = k
                    }
                }
                if !killed && lastAck >= killAfter {
                    kill(pid, SIGKILL)
                    killed = true
                }
            }
            return (lastAck, killed, outOfSequence)
        }
        await waitForExit(p)
        #expect(outOfSequence == 0, "acks out of sequence")
        #expect(killed)
        #expect(p.terminationReason == .uncaughtSignal && p.terminationStatus == SIGKILL)

        let db = try TSDB(directory: dir.path, options: testOptions(samplesPerChunk: 16))
        defer { try? db.close() }
        let got = try db.select([.equal("job", "crash")], mint: .min, maxt: .max)
        #expect(got.count == series)
        for s in got {
            let i = try #require(Int(s.labels["series"]?.dropFirst() ?? ""))
            #expect(s.labels == streamLabels(i))
            // Acknowledged batches all there; at most the one in flight beyond; in order, exact bits.
            #expect(s.count >= lastAck + 1, "series \(i): \(s.count) samples, acknowledged \(lastAck + 1)")
            #expect(s.count <= lastAck + 2, "series \(i): \(s.count) samples, acknowledged \(lastAck + 1)")
            #expect(s.timestamps == (0..<s.count).map { Int64($0) * 1000 })
            #expect(s.values.map(\.bitPattern) == (0..<s.count).map { streamValue(i, $0).bitPattern })
        }
    }
}
