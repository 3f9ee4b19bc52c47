import CBLAS
import Foundation
import VigilCore

/// Errors from the dense linear-algebra layer.
public enum LinearAlgebraError: Error, Sendable, CustomStringConvertible {
    case notPositiveDefinite(info: Int32)
    case solveFailed(info: Int32)
    case shape(String)

    public var description: String {
        switch self {
        case .notPositiveDefinite(let i): return "Cholesky factorisation failed (dpotrf info=\(i)): matrix not positive definite"
        case .solveFailed(let i): return "triangular solve failed (dpotrs info=\(i))"
        case .shape(let s): return "shape mismatch: \(s)"
        }
    }
}

/// Thin, explicit wrappers over the OpenBLAS / LAPACK calls Vigil uses. All matrices are row-major.
public enum BLAS {
    /// OpenBLAS' own thread count for subsequent calls.
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
    public static var threads: Int { Int(openblas_get_num_threads()) }
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// C(m×n) = alpha·A(m×k)·B(k×n) + beta·C, row-major.
    public static func gemm(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ c: UnsafeMutablePointer<Double>,
                            m: Int, n: Int, k: Int, alpha: Double = 1, beta: Double = 0,
                            transA: Bool = false, transB: Bool = false) {
        let lda = transA ? m : k
        let ldb = transB ? k : n
        cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(n))
    }

    /// Single-precision variant of `gemm` (used by the throughput benchmark's float path).
    public static func sgemm(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                             m: Int, n: Int, k: Int) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b,
                    Int32(n), 0, c, Int32(n))
    }

    /// G(d×d, upper triangle) += Xᵀ·X for X(n×d) row-major (`beta` 0 to overwrite).
    public static func syrkTransposed(_ x: UnsafePointer<Double>, _ g: UnsafeMutablePointer<Double>, n: Int, d: Int,
                                      beta: Double = 1) {
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(d), Int32(n), 1, x, Int32(d), beta, g, Int32(d))
    }

    /// Solves S·W = B for symmetric positive definite S(d×d) (only the row-major upper triangle is read)
    /// and B(d×r) row-major, by Cholesky (dpotrf_ + dpotrs_). S is overwritten by its factor; returns W (d×r) row-major.
    public static func choleskySolve(_ s: inout [Double], _ b: [Double], d: Int, r: Int) throws(LinearAlgebraError) -> [Double] {
        guard s.count == d * d, b.count == d * r else { throw .shape("S \(s.count) vs \(d)², B \(b.count) vs \(d)×\(r)") }
        // Row-major upper == column-major lower.
        var uplo: CChar = 0x4C // "L"
        var n = Int32(d), nrhs = Int32(r), lda = Int32(d), ldb = Int32(d), info: Int32 = 0
        s.withUnsafeMutableBufferPointer { p in dpotrf_(&uplo, &n, p.baseAddress, &lda, &info, 1) }
        if info != 0 { throw .notPositiveDefinite(info: info) }
        // Column-major B (d×r): element (i, j) at i + j·d.
        var bc = [Double](repeating: 0, count: d * r)
        for i in 0..<d { for j in 0..<r { bc[i + j * d] = b[i * r + j] } }
        s.withUnsafeBufferPointer { sp in
            bc.withUnsafeMutableBufferPointer { bp in dpotrs_(&uplo, &n, &nrhs, sp.baseAddress, &lda, bp.baseAddress, &ldb, &info, 1) }
        }
        if info != 0 { throw .solveFailed(info: info) }
        var w = [Double](repeating: 0, count: d * r)
        for i in 0..<d { for j in 0..<r { w[i * r + j] = bc[i + j * d] } }
        return w
    }
}

/// Runs `body(part)` for part in 0..<parts on dedicated OS threads (part 0 on the caller's thread) and waits.
/// Never uses the Swift concurrency pool: heavy numeric loops there would stall every other task.
public func runOnThreads(_ parts: Int, _ body: @escaping @Sendable (Int) -> Void) {
    if parts <= 1 { body(0); return }
    let group = DispatchGroup()
    for p in 1..<parts {
        group.enter()
        let t = Thread { body(p); group.leave() }
        t.stackSize = 1 << 20
        t.start()
    }
    body(0)
    group.wait()
}

/// Runs BLAS jobs one at a time on one dedicated `Thread` and exposes them as `async` calls, so the Swift
/// concurrency pool never executes BLAS (see ARCHITECTURE.md). Jobs are FIFO.
public final class BLASWorker: Sendable {
    private let thread: DedicatedThread

    /// A process-wide worker for callers that do not need their own.
    public static let shared = BLASWorker(name: "vigil-blas")

    public init(name: String = "vigil-blas") {
        thread = DedicatedThread(name: name, stackSize: 8 << 20)
    }

    /// Enqueues `body` on the BLAS thread and suspends until it finished.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await thread.run(body)
    }

    /// Whether the current code runs on this worker's thread (used by tests).
    public var isCurrent: Bool { thread.isCurrent }

    /// Lets the thread finish the queued jobs and exit.
    public func stop() { thread.stop() }
}
