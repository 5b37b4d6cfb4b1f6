import COpenBLAS

/// Thread settings of the BLAS library that backs every matrix product.
public enum BLAS {
    /// Sets how many threads OpenBLAS may use. flowrl's matrices are small, so one thread
    /// (the default flowrl asks for) is usually fastest and keeps results bit-reproducible.
    public static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// The number of threads OpenBLAS currently uses.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }
}

extension Tensor {
    /// General matrix product `c = alpha · op(a) · op(b) + beta · c` through `cblas_sgemm`,
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
        if k == 0 {
            if beta == 0 { c.fill(0) } else if beta != 1 { c.scale(by: beta) }
            return
        }
        a.scalars.withUnsafeBufferPointer { pa in
            b.scalars.withUnsafeBufferPointer { pb in
                c.scalars.withUnsafeMutableBufferPointer { pc in
                    // A single row or column is a matrix-vector product: sgemv skips the packing of
                    // the matrix that sgemm does, which dominates at these sizes (batch-1 acting).
                    if m == 1 {
                        // cᵀ = op(b)ᵀ · aᵀ; a is a contiguous vector whether or not it is transposed.
                        cblas_sgemv(CblasRowMajor, transposeB ? CblasNoTrans : CblasTrans,
                                    Int32(b.rows), Int32(b.cols), alpha, pb.baseAddress, Int32(max(1, b.cols)),
                                    pa.baseAddress, 1, beta, pc.baseAddress, 1)
                        return
                    }
                    if n == 1 {
                        // c = op(a) · op(b), op(b) a contiguous vector.
                        cblas_sgemv(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans,
                                    Int32(a.rows), Int32(a.cols), alpha, pa.baseAddress, Int32(max(1, a.cols)),
                                    pb.baseAddress, 1, beta, pc.baseAddress, 1)
                        return
                    }
                    cblas_sgemm(CblasRowMajor,
                                transposeA ? CblasTrans : CblasNoTrans,
                                transposeB ? CblasTrans : CblasNoTrans,
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
