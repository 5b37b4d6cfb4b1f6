import Synchronization

/// Two independent pieces of work on two cores: what an update runs concurrently when the process
/// is set to more than one thread (`Runtime.prepare(threads:)`), such as the twin critics' two
/// networks. With one thread (the default) `both` runs its branches one after the other, on the
/// calling thread, first then second.
///
/// Results do not depend on the setting as long as the branches are independent: neither may
/// write what the other reads, and each records on its own tape and draws no random numbers (a
/// branch's noise is drawn before the fork, in the order one thread would draw it).
///
/// The second branch runs on one persistent worker thread, started at the first concurrent call;
/// the caller runs the first. While both run OpenBLAS is held at one thread: OpenBLAS serialises
/// concurrent multi-threaded products behind one lock, and two single-threaded products on two
/// cores beat two two-threaded ones taking turns. When the first branch ends, OpenBLAS has the
/// configured count again, for the rest of the other.
/// One fork runs at a time in the process: a `both` that finds the worker taken (another agent's
/// update in another thread, or a `both` inside a branch) runs its branches one after the other,
/// and so does every `both` in a child process made by `fork()`, which has no worker thread.
public enum ForkJoin {
    private static let configuredThreads = Atomic<Int>(1)

    /// The thread count set by `Runtime.prepare(threads:)`; `both` forks when it is above 1.
    public static var threadCount: Int { configuredThreads.load(ordering: .relaxed) }

    /// Sets the thread count (at least 1); called by `Runtime.prepare(threads:)`, which also sets BLAS's.
    static func setThreadCount(_ count: Int) {
        configuredThreads.store(max(1, count), ordering: .relaxed)
    }

    /// `(first(), second())`, the two run concurrently when the thread count is above 1 (see the
    /// type's comment for what the branches may do).
    public static func both<A, B>(_ first: () -> A, _ second: () -> B) -> (A, B) {
        if threadCount > 1 {
            var secondResult: B?
            var firstResult: A?
            let forked = withoutActuallyEscaping({ secondResult = second() }) { secondJob in
                worker.run(secondJob, alongside: { firstResult = first() })
            }
            if forked { return (firstResult!, secondResult!) }
        }
        let firstResult = first()
        return (firstResult, second())
    }

    private static let worker = Worker()

    /// The thread that runs second branches, with the handshake around each one: the caller posts
    /// `start` after storing the job, the worker posts `done` after running it (a semaphore post
    /// orders the writes before it for the thread that waits on it).
    private final class Worker: @unchecked Sendable {
        private let start = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        private let done = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
        private let taken = Atomic<Bool>(false)
        private var job: (() -> Void)?
        /// The process the thread runs in: a child made by `fork()` (multiprocessing, Ray) has
        /// this object but not the thread, so posting to it there would wait for ever.
        private let process = getpid()

        init() {
            sem_init(start, 0, 0)
            sem_init(done, 0, 0)
            var thread = pthread_t()
            let started = pthread_create(&thread, nil, { context in
                Unmanaged<Worker>.fromOpaque(context!).takeUnretainedValue().serve()
                return nil
            }, Unmanaged.passRetained(self).toOpaque())
            precondition(started == 0, "ForkJoin: cannot start the worker thread (error \(started))")
            pthread_detach(thread)
        }

        private func serve() {
            while true {
                Self.wait(start)
                job!()
                job = nil
                finish()
                sem_post(done)
            }
        }

        /// Branches finished in the current fork.
        private let finished = Atomic<Int>(0)

        /// Called by each branch as it ends: the first gives OpenBLAS its configured count back, so
        /// that the other branch's remaining products use the core left idle.
        private func finish() {
            if finished.wrappingAdd(1, ordering: .relaxed).oldValue == 0 { BLAS.releaseOneThreadHold() }
        }

        /// Runs `job` on the worker while the caller runs `local`; returns false, running
        /// neither, when the worker is taken or this is a forked child.
        func run(_ job: @escaping () -> Void, alongside local: () -> Void) -> Bool {
            guard getpid() == process,
                  taken.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
            defer { taken.store(false, ordering: .releasing) }
            finished.store(0, ordering: .relaxed)
            BLAS.holdingOneThread {
                self.job = job
                sem_post(start)
                local()
                finish()
                Self.wait(done)
            }
            return true
        }

        private static func wait(_ semaphore: UnsafeMutablePointer<sem_t>) {
            while sem_wait(semaphore) != 0 {}   // only EINTR: a signal arrived
        }
    }
}
