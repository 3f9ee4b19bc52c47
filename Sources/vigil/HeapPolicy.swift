#if canImport(Glibc)
import Glibc
#endif

/// How the C allocator hands memory back to the kernel.
///
/// A range query over many series allocates tens of MiB of sample columns for a few milliseconds.
/// With glibc's defaults that memory is returned to the kernel when the query ends (heap trimming,
/// `munmap` of large blocks) and faulted in again, zero-filled, by the next query: on the reference
/// query (3,200 series × 720 samples) page faults and zeroing were a third of the server's CPU time.
/// `keepFreedHeap` lets glibc keep up to `trimMiB` of free heap per arena for reuse and serve blocks up
/// to `mmapMiB` from the heap instead of fresh mappings. The cost is resident memory that stays mapped
/// after a big query (measured in BENCHMARKS.md "Query"); the peak is unchanged.
public enum HeapPolicy {
    @discardableResult
    public static func keepFreedHeap(trimMiB: Int = 128, mmapMiB: Int = 32) -> Bool {
        #if canImport(Glibc)
        // mallopt(3) is declared in <malloc.h>, which the Glibc module does not export.
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return false }
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let mallopt = unsafeBitCast(sym, to: Mallopt.self)
        let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3  // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
        let a = mallopt(trimThreshold, Int32(trimMiB << 20))
        let b = mallopt(mmapThreshold, Int32(mmapMiB << 20))
        return a == 1 && b == 1
        #else
        return false
        #endif
    }
}
