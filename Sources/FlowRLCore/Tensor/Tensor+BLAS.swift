import CBLAS
import Synchronization

/// The BLAS library that backs every matrix product: OpenBLAS, loaded at run time so that its
/// kernels can be chosen for the CPU (Sources/CBLAS/blas_loader.c explains the choice).
public enum BLAS {
    /// Who chose the kernel set that runs.
    public enum CoreSource: String, Sendable {
        /// OpenBLAS's own detection, accepted.
        case detected
        /// The user, through `OPENBLAS_CORETYPE`.
        case user
        /// flowrl, from the CPU's instruction sets, because OpenBLAS fell back to a generic core.
        case flowrl
    }

    /// What was loaded and which kernels run.
    public struct Description: Sendable, Equatable {
        /// The library file.
        public var path: String
        /// OpenBLAS's configuration line, which starts with its version ("OpenBLAS 0.3.34 ...").
        public var configuration: String
        /// The kernel set in use ("SkylakeX", "Haswell", ...).
        public var core: String
        /// The kernel set OpenBLAS detected by itself.
        public var detectedCore: String
        /// Who chose `core`.
        public var coreSource: CoreSource
        /// The CPU's widest vector instruction set OpenBLAS can use: "avx512", "avx2", "avx", "sse", "other".
        public var cpuVectorLevel: String
        /// The library's thread count.
        public var threadCount: Int
    }

    /// Loads the library if that has not happened yet; throws, saying where it looked, if it cannot.
    public static func load() throws {
        guard flowrl_blas_load() == 0 else {
            throw FlowRLError.invalidState("cannot load OpenBLAS. Tried:\n" + String(cString: flowrl_blas_error())
                + "Run ./scripts/install-system-deps.sh, or set FLOWRL_BLAS_LIBRARY to a libopenblas.so")
        }
    }

    /// The loaded library; loads it first (throwing as `load` does).
    public static func describe() throws -> Description {
        try load()
        return Description(path: String(cString: flowrl_blas_path()),
                           configuration: String(cString: flowrl_blas_config()),
                           core: String(cString: flowrl_blas_core()),
                           detectedCore: String(cString: flowrl_blas_detected_core()),
                           coreSource: [CoreSource.detected, .user, .flowrl][Int(flowrl_blas_core_source_value())],
                           cpuVectorLevel: String(cString: flowrl_cpu_vector_level()),
                           threadCount: threadCount)
    }

    /// Sets how many threads OpenBLAS may use. flowrl's matrices are small, so one thread
    /// (the default flowrl asks for) is usually fastest and keeps results bit-reproducible.
    public static func setThreadCount(_ count: Int) {
        let count = max(1, count)
        configuredThreads.store(count, ordering: .relaxed)
        flowrl_blas_set_threads(Int32(count))
    }

    /// The thread count flowrl set (`setThreadCount`), or before any, the one OpenBLAS started
    /// with. The setting rather than OpenBLAS's live count, which `holdingOneThread` lowers for a moment.
    public static var threadCount: Int {
        let configured = configuredThreads.load(ordering: .relaxed)
        return configured > 0 ? configured : Int(flowrl_blas_threads())
    }

    private static let configuredThreads = Atomic<Int>(0)   // 0: not set by flowrl

    /// Runs `body` with OpenBLAS at one thread, then sets the configured count again: for
    /// `ForkJoin`'s concurrent branches, whose products would otherwise queue for OpenBLAS's one
    /// lock around multi-threaded products and its thread pool, and oversubscribe the cores.
    /// OpenBLAS's count is process-wide, so a product another thread makes meanwhile runs on
    /// one thread too (slower, not different: see `ForkJoin`).
    static func holdingOneThread(_ body: () -> Void) {
        let lowered = threadCount > 1
        if lowered { flowrl_blas_set_threads(1) }
        body()
        // The configured count read again: another thread may have changed the setting meanwhile.
        if lowered { flowrl_blas_set_threads(Int32(threadCount)) }
    }

    /// Gives OpenBLAS the configured count inside `holdingOneThread`, once the products that
    /// were to run beside the caller's have ended (`ForkJoin`, when its first branch ends).
    static func releaseOneThreadHold() {
        if threadCount > 1 { flowrl_blas_set_threads(Int32(threadCount)) }
    }

    /// Floating-point operations of all matrix products made in the process so far (2·m·n·k each,
    /// counted by `Tensor.gemm` whichever kernel runs the product), for benchmarks' GFLOP/s.
    public static var productFLOPs: UInt64 { flowrl_product_flops() }
}

extension Tensor {
    /// General matrix product `c = alpha · op(a) · op(b) + beta · c` through BLAS `sgemm`,
    /// where `op` transposes when asked. Transposes are passed to BLAS as flags, never materialised.
    /// `c` must already have the product's shape; with `beta == 0` its old contents are ignored.
    public static func gemm(_ a: Tensor, transposeA: Bool = false,
                            _ b: Tensor, transposeB: Bool = false,
                            alpha: Float = 1, beta: Float = 0, into c: inout Tensor) {
        let m = transposeA ? a.cols : a.rows
        let k = transposeA ? a.rows : a.cols
        let kB = transposeB ? b.cols : b.rows
        let n = transposeB ? b.rows : b.cols
        precondition(k == kB, "gemm: inner dimensions differ (\(a.rows)×\(a.cols)\(transposeA ? "ᵀ" : "") · \(b.rows)×\(b.cols)\(transposeB ? "ᵀ" : ""))")
        precondition(c.rows == m && c.cols == n, "gemm: output is \(c.rows)×\(c.cols), product is \(m)×\(n)")
        if m == 0 || n == 0 { return }
        flowrl_count_product_flops(2 * UInt64(m) * UInt64(n) * UInt64(k))
        if k == 0 {
            if beta == 0 { c.fill(0) } else if beta != 1 { c.scale(by: beta) }
            return
        }
        let transpose = Int32(FLOWRL_BLAS_TRANS), noTranspose = Int32(FLOWRL_BLAS_NO_TRANS)
        a.scalars.withUnsafeBufferPointer { pa in
            b.scalars.withUnsafeBufferPointer { pb in
                c.scalars.withUnsafeMutableBufferPointer { pc in
                    // A single row or column is a matrix-vector product: sgemv skips the packing of
                    // the matrix that sgemm does, which dominates at these sizes (batch-1 acting).
                    if m == 1 {
                        // cᵀ = op(b)ᵀ · aᵀ; a is a contiguous vector whether or not it is transposed.
                        flowrl_sgemv(transposeB ? noTranspose : transpose,
                                     Int32(b.rows), Int32(b.cols), alpha, pb.baseAddress, Int32(max(1, b.cols)),
                                     pa.baseAddress, 1, beta, pc.baseAddress, 1)
                        return
                    }
                    if n == 1 {
                        // c = op(a) · op(b), op(b) a contiguous vector.
                        flowrl_sgemv(transposeA ? transpose : noTranspose,
                                     Int32(a.rows), Int32(a.cols), alpha, pa.baseAddress, Int32(max(1, a.cols)),
                                     pb.baseAddress, 1, beta, pc.baseAddress, 1)
                        return
                    }
                    if Tensor.skinnyProduct(pa.baseAddress!, transposeA: transposeA, lda: a.cols,
                                            pb.baseAddress!, transposeB: transposeB, ldb: b.cols,
                                            m: m, n: n, k: k, alpha: alpha, beta: beta, into: pc.baseAddress!) {
                        return
                    }
                    flowrl_sgemm(transposeA ? transpose : noTranspose,
                                 transposeB ? transpose : noTranspose,
                                 Int32(m), Int32(n), Int32(k), alpha,
                                 pa.baseAddress, Int32(max(1, a.cols)),
                                 pb.baseAddress, Int32(max(1, b.cols)),
                                 beta, pc.baseAddress, Int32(max(1, n)))
                }
            }
        }
    }

    /// The matrix product `op(a) · op(b)` in a new tensor.
    public static func matmul(_ a: Tensor, transposeA: Bool = false,
                              _ b: Tensor, transposeB: Bool = false) -> Tensor {
        let m = transposeA ? a.cols : a.rows
        let n = transposeB ? b.rows : b.cols
        var c = Tensor(rows: m, cols: n, unsafeUninitializedCapacity: { _, _ in })
        gemm(a, transposeA: transposeA, b, transposeB: transposeB, into: &c)
        return c
    }
}

extension Tensor {
    /// The largest inner or outer dimension `skinnyProduct` takes over from sgemm.
    public static let skinnyLimit = 4

    /// `c = alpha · op(a) · op(b) + beta · c` for the products of a network's small heads and
    /// scalar outputs (a dimension ≤ `skinnyLimit`: a `256 → 1` critic head's input gradient is a
    /// rank-1 product, k = 1). sgemm packs both operands and zero-fills `c` first, which costs
    /// more than the arithmetic at these shapes (`scripts/benchmark-core.sh` prints both); here
    /// each output row is a few contiguous multiply-adds. Takes `op(b)` untransposed only (its
    /// rows contiguous); returns false, touching nothing, for shapes and layouts it does not take.
    @usableFromInline
    static func skinnyProduct(_ a: UnsafePointer<Float>, transposeA: Bool, lda: Int,
                              _ b: UnsafePointer<Float>, transposeB: Bool, ldb: Int,
                              m: Int, n: Int, k: Int, alpha: Float, beta: Float,
                              into c: UnsafeMutablePointer<Float>) -> Bool {
        // op(a)[i, l] without materialising the transpose.
        @inline(__always) func aValue(_ i: Int, _ l: Int) -> Float { transposeA ? a[l * lda + i] : a[i * lda + l] }
        if !transposeB && (k <= skinnyLimit || m <= skinnyLimit) {
            // Row i of c is Σ_l op(a)[i, l] · b[l, :], b's rows contiguous: 32 columns at a time
            // in four accumulators, summed over l in order.
            typealias Lanes = SIMD8<Float>
            @inline(__always) func load(_ p: UnsafePointer<Float>) -> Lanes { UnsafeRawPointer(p).loadUnaligned(as: Lanes.self) }
            @inline(__always) func store(_ value: Lanes, _ p: UnsafeMutablePointer<Float>) {
                UnsafeMutableRawPointer(p).storeBytes(of: value, as: Lanes.self)
            }
            @inline(__always) func start(_ p: UnsafeMutablePointer<Float>) -> Lanes { beta == 0 ? Lanes() : beta * load(p) }
            for i in 0..<m {
                let out = c + i * n
                var j = 0
                while j + 32 <= n {
                    var (s0, s1, s2, s3) = (start(out + j), start(out + j + 8), start(out + j + 16), start(out + j + 24))
                    for l in 0..<k {
                        let scale = Lanes(repeating: alpha * aValue(i, l))
                        let row = b + l * ldb + j
                        s0 += scale * load(row)
                        s1 += scale * load(row + 8)
                        s2 += scale * load(row + 16)
                        s3 += scale * load(row + 24)
                    }
                    store(s0, out + j); store(s1, out + j + 8); store(s2, out + j + 16); store(s3, out + j + 24)
                    j += 32
                }
                while j < n {
                    var sum: Float = beta == 0 ? 0 : beta * out[j]
                    for l in 0..<k { sum += alpha * aValue(i, l) * b[l * ldb + j] }
                    out[j] = sum
                    j += 1
                }
            }
            return true
        }
        return false
    }
}
