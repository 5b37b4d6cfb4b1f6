import XCTest
@testable import FlowRL

/// The BLAS library flowrl loads: the kernel set it runs and the correctness of its products at the
/// shapes flowrl uses. Old OpenBLAS builds picked generic kernels on CPUs newer than themselves, and
/// some miscomputed with the kernels that users then forced by hand; these tests check both.
final class BLASTests: XCTestCase {
    func testTheLoadedCoreUsesTheCPUsWidestVectors() throws {
        let blas = try BLAS.describe()
        XCTAssertTrue(blas.configuration.hasPrefix("OpenBLAS"), blas.configuration)
        XCTAssertFalse(blas.core.isEmpty)
        if blas.coreSource == .user {
            throw XCTSkip("OPENBLAS_CORETYPE is set: the user's core \(blas.core) stands")
        }
        let avx512Cores: Set = ["skylakex", "cooperlake", "sapphirerapids"]
        switch blas.cpuVectorLevel {
        case "avx512":
            XCTAssertTrue(avx512Cores.contains(blas.core.lowercased()), "AVX-512 CPU runs the \(blas.core) core")
        case "avx2":
            XCTAssertTrue(avx512Cores.union(["haswell", "zen"]).contains(blas.core.lowercased()),
                          "AVX2 CPU runs the \(blas.core) core")
        default:
            break  // no AVX2: OpenBLAS's generic cores are the right ones
        }
    }

    func testThreadCountIsSetAndRead() throws {
        try Runtime.prepare(blasThreads: 2)
        XCTAssertEqual(BLAS.threadCount, 2)
        try Runtime.prepare(blasThreads: 1)
        XCTAssertEqual(BLAS.threadCount, 1)
    }

    func testProductFLOPsCountEveryProductWhicheverKernelRunsIt() {
        var generator = RandomGenerator(seed: 2)
        let before = BLAS.productFLOPs
        // sgemm, the skinny kernel (k = 1) and sgemv (m = 1): 2·m·n·k each.
        _ = Tensor.matmul(generator.normalTensor(rows: 20, cols: 30), generator.normalTensor(rows: 30, cols: 40))
        _ = Tensor.matmul(generator.normalTensor(rows: 20, cols: 1), generator.normalTensor(rows: 1, cols: 40))
        _ = Tensor.matmul(generator.normalTensor(rows: 1, cols: 30), generator.normalTensor(rows: 30, cols: 40))
        // Other tests may run products concurrently only if XCTest runs in parallel, which it does not here.
        XCTAssertEqual(BLAS.productFLOPs - before, 2 * (20 * 30 * 40 + 20 * 1 * 40 + 1 * 30 * 40))
    }

    /// sgemm and sgemv against a double-precision reference at the shapes of flowrl's networks
    /// (batch 256, hidden 256, SWFP's (1 + d)·256 divergence rows, weight gradients with k = batch),
    /// at sizes that are not multiples of any vector width, for every transpose and for beta 0 and 1.
    /// Each product is checked at sampled entries, to a bound of 1e-4 of Σ|a·b| over the inner
    /// dimension: rounding stays far below it, while a single dropped or doubled term exceeds it.
    func testProductsMatchADoublePrecisionReferenceAtFlowRLShapes() throws {
        try BLAS.load()
        var generator = RandomGenerator(seed: 11)
        let shapes: [(m: Int, k: Int, n: Int)] = [
            (256, 23, 256), (256, 256, 256), (256, 256, 6), (1792, 262, 256), (256, 1792, 256),
            (255, 257, 129), (17, 33, 65), (1, 256, 256), (256, 256, 1), (1, 300, 1), (64, 7, 48), (5, 1000, 9),
        ]
        for (m, k, n) in shapes {
            for (transposeA, transposeB) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = generator.normalTensor(rows: transposeA ? k : m, cols: transposeA ? m : k)
                let b = generator.normalTensor(rows: transposeB ? n : k, cols: transposeB ? k : n)
                for beta: Float in [0, 1] {
                    var c = generator.normalTensor(rows: m, cols: n)
                    let original = c
                    Tensor.gemm(a, transposeA: transposeA, b, transposeB: transposeB, alpha: 0.75, beta: beta, into: &c)
                    for sample in 0..<min(m * n, 300) {
                        let (i, j) = sample < 4 ? [(0, 0), (m - 1, n - 1), (0, n - 1), (m - 1, 0)][sample]
                                                : (Int(generator.next() % UInt64(m)), Int(generator.next() % UInt64(n)))
                        var exact = 0.0, magnitude = 0.0
                        for p in 0..<k {
                            let term = Double(transposeA ? a[p, i] : a[i, p]) * Double(transposeB ? b[j, p] : b[p, j])
                            exact += term
                            magnitude += abs(term)
                        }
                        let expected = 0.75 * exact + Double(beta) * Double(original[i, j])
                        let bound = 1e-4 * (0.75 * magnitude + abs(Double(beta) * Double(original[i, j]))) + 1e-6
                        if abs(Double(c[i, j]) - expected) > bound {
                            XCTFail("\(m)×\(k)×\(n) tA=\(transposeA) tB=\(transposeB) beta=\(beta) at (\(i), \(j)): "
                                    + "\(c[i, j]) instead of \(expected)")
                            return
                        }
                    }
                }
            }
        }
    }
}
