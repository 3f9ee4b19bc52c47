import Foundation

/// The thread engine steps run on: a `TaskExecutor` backed by one dedicated OS thread. The engine's synchronous
/// work (its decisions, the audit's fsync'd SQLite writes, predictive fits' BLAS calls) then never occupies the
/// Swift concurrency pool, where it would stall request handlers on a small machine (ARCHITECTURE.md).
/// `EngineRunner` steps under `withTaskExecutorPreference(EngineThread.shared)`; jobs run FIFO.
final class EngineThread: TaskExecutor, @unchecked Sendable {
    static let shared = EngineThread(name: "vigil.engine")

    private let cond = NSCondition()
    private var jobs: [UnownedJob] = []
    private var head = 0

    init(name: String) {
        let t = Thread { [self] in
            Thread.current.name = name
            loop()
        }
        t.stackSize = 8 << 20
        t.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let j = UnownedJob(job)
        cond.lock()
        jobs.append(j)
        cond.signal()
        cond.unlock()
    }

    private func loop() {
        while true {
            cond.lock()
            while head == jobs.count { cond.wait() }
            let j = jobs[head]
            head += 1
            if head > 1024 && head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            cond.unlock()
            j.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
