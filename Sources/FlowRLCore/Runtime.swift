/// Process-wide settings that suit flowrl's workload: many medium-sized tensors (tens to
/// hundreds of KiB) allocated and freed on every training step.
public enum Runtime {
    /// Loads OpenBLAS (throwing if it cannot be found), sets it to `blasThreads` threads and, on
    /// glibc, tells the allocator to keep freed memory for reuse instead of returning it to the
    /// kernel after every step.
    ///
    /// Why: with glibc's defaults a training step's buffers are given back to the kernel when
    /// freed and faulted in again, zero-filled, on the next step; on the core benchmark that
    /// costs about a third of the forward + backward time (BENCHMARKS.md). The settings keep up
    /// to 64 MiB of freed heap (`M_TRIM_THRESHOLD`), grow the heap in 16 MiB steps (`M_TOP_PAD`)
    /// and serve blocks below 16 MiB from the heap (`M_MMAP_THRESHOLD`). They affect the whole
    /// process; calling this again changes nothing more.
    public static func prepare(blasThreads: Int = 1) throws {
        try BLAS.load()
        BLAS.setThreadCount(blasThreads)
        tuneAllocator()
    }

    /// `prepare(blasThreads: threads)`, and `ForkJoin` set to `threads`: how many cores one agent
    /// may use. Above 1, an update runs its independent parts (the twin critics' two networks,
    /// the actor's sample beside the critic target's) two at a time on one BLAS thread each, and
    /// the rest on `threads` BLAS threads. Results are those of one thread when BLAS's products
    /// are (see `ForkJoin`). `prepare(blasThreads:)` alone leaves the concurrent branches as they were.
    public static func prepare(threads: Int) throws {
        try prepare(blasThreads: threads)
        ForkJoin.setThreadCount(threads)
    }

    /// `prepare()` with one BLAS thread, the first time it is called in the process; later calls do
    /// nothing, so a thread count set by the user is kept. Throws (every time) if OpenBLAS cannot
    /// be loaded.
    public static func prepareOnce() throws {
        try BLAS.load()
        _ = preparedOnce
    }

    private static let preparedOnce: Bool = {
        try? prepare(blasThreads: 1)
        return true
    }()

    private static func tuneAllocator() {
        #if canImport(Glibc)
        // mallopt is declared in <malloc.h>, which Swift's Glibc module does not import; look it
        // up at run time (absent on other C libraries, where this does nothing).
        typealias MalloptFunction = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: MalloptFunction.self)
        let trimThreshold: Int32 = -1, topPad: Int32 = -2, mmapThreshold: Int32 = -3  // glibc's M_* values
        _ = mallopt(trimThreshold, 64 << 20)
        _ = mallopt(topPad, 16 << 20)
        _ = mallopt(mmapThreshold, 16 << 20)
        #endif
    }
}
