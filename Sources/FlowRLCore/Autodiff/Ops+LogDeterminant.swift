/// The exact log-volume change of an Euler step, `log|det(I + scale · J)|`, per batch row.
///
/// `stackedJacobian` is `[k · batch, k]`: row `j · batch + b` holds column `j` of the Jacobian
/// `J_b` of sample `b` (the tangent of the output along input direction `j`, as produced by
/// `Divergence.jacobianColumns`). The result is `[batch, 1]`. The backward rule uses
/// `∂ log|det M| / ∂M = M⁻ᵀ` with `M = I + scale · J`; determinants are computed by LU with
/// partial pivoting in `Double`. A singular `M` gives `-inf` and a zero gradient for that row.
public func logAbsDeterminantOfIdentityPlus(_ stackedJacobian: Variable, scale: Float) -> Variable {
    let k = stackedJacobian.cols
    precondition(k > 0 && stackedJacobian.rows % k == 0,
                 "logAbsDeterminantOfIdentityPlus: \(stackedJacobian.rows) rows are not \(k) blocks")
    let batch = stackedJacobian.rows / k
    let values = stackedJacobian.value
    var logDeterminants = [Float](repeating: 0, count: batch)
    var inverses = [[Double]](repeating: [], count: batch)   // M⁻¹ per sample, row-major k×k
    for b in 0..<batch {
        var m = [Double](repeating: 0, count: k * k)
        for j in 0..<k {
            for i in 0..<k { m[i * k + j] = Double(scale) * Double(values[j * batch + b, i]) + (i == j ? 1 : 0) }
        }
        let (logDet, inverse) = luLogAbsDeterminantAndInverse(m, size: k)
        logDeterminants[b] = Float(logDet)
        inverses[b] = inverse
    }
    let out = Tensor(rows: batch, cols: 1, scalars: logDeterminants)
    return stackedJacobian.tape.record(out, tracked: stackedJacobian.isTracked) { [node = stackedJacobian.node] g, tape in
        var gradient = Tensor(rows: k * batch, cols: k)
        for b in 0..<batch where !inverses[b].isEmpty {
            let factor = Double(g.scalars[b]) * Double(scale)
            for j in 0..<k {
                for i in 0..<k { gradient[j * batch + b, i] = Float(factor * inverses[b][j * k + i]) }
            }
        }
        tape.accumulate(gradient, into: node)
    }
}

/// `(log|det A|, A⁻¹)` for a row-major `size × size` matrix by LU with partial pivoting;
/// `(-inf, [])` when `A` is singular.
func luLogAbsDeterminantAndInverse(_ matrix: [Double], size n: Int) -> (Double, [Double]) {
    var lu = matrix
    var permutation = Array(0..<n)
    var logDet = 0.0
    for col in 0..<n {
        var pivot = col
        for row in (col + 1)..<max(n, col + 1) where abs(lu[row * n + col]) > abs(lu[pivot * n + col]) { pivot = row }
        if lu[pivot * n + col] == 0 { return (-.infinity, []) }
        if pivot != col {
            for c in 0..<n { lu.swapAt(col * n + c, pivot * n + c) }
            permutation.swapAt(col, pivot)
        }
        let diagonal = lu[col * n + col]
        logDet += log(abs(diagonal))
        for row in (col + 1)..<max(n, col + 1) {
            let factor = lu[row * n + col] / diagonal
            lu[row * n + col] = factor
            for c in (col + 1)..<max(n, col + 1) { lu[row * n + c] -= factor * lu[col * n + c] }
        }
    }
    // Solve A x = e_c for each column c: P A = L U.
    var inverse = [Double](repeating: 0, count: n * n)
    for c in 0..<n {
        var x = [Double](repeating: 0, count: n)
        for row in 0..<n { x[row] = permutation[row] == c ? 1 : 0 }
        for row in 0..<n { for k in 0..<row { x[row] -= lu[row * n + k] * x[k] } }
        for row in stride(from: n - 1, through: 0, by: -1) {
            for k in (row + 1)..<max(n, row + 1) { x[row] -= lu[row * n + k] * x[k] }
            x[row] /= lu[row * n + row]
        }
        for row in 0..<n { inverse[row * n + c] = x[row] }
    }
    return (logDet, inverse)
}
