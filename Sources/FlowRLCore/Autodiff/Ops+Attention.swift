/// Multi-head scaled dot-product attention over short token sequences, as one differentiable op.
///
/// Rows are sample-major: `queries` is `[batch · Tq, D]` (row `b · Tq + i` is token i of sample b),
/// `keys` and `values` are `[batch · Tk, D]`. With `H` heads of width `dh = D / H`, for every sample
/// b and head h: `S = Q_bh K_bhᵀ / √dh`, `A = softmax(S)` by rows, `O_bh = A V_bh`; the result
/// is `[batch · Tq, D]` with the heads side by side. Backward, with `G = ∂L/∂O_bh`:
/// `∂V = Aᵀ G`, `∂A = G Vᵀ`, `∂S = A ⊙ (∂A − rowsum(∂A ⊙ A))`, `∂Q = ∂S K / √dh`, `∂K = ∂Sᵀ Q / √dh`.
public func multiHeadAttention(queries: Variable, keys: Variable, values: Variable, batch: Int, heads: Int) -> Variable {
    precondition(queries.tape === keys.tape && keys.tape === values.tape, "attention: operands are on different tapes")
    let width = queries.cols
    precondition(heads >= 1 && width % heads == 0, "attention: width \(width) is not a multiple of \(heads) heads")
    precondition(keys.cols == width && values.cols == width && keys.rows == values.rows, "attention: keys and values must be [batch · Tk, \(width)]")
    precondition(batch >= 1 && queries.rows % batch == 0 && keys.rows % batch == 0, "attention: rows are not a multiple of the batch")
    let (tq, tk, dh) = (queries.rows / batch, keys.rows / batch, width / heads)
    let scale = 1 / Float(dh).squareRoot()
    let (q, k, v) = (queries.value, keys.value, values.value)
    var weights = [Float](repeating: 0, count: batch * heads * tq * tk)   // A, kept for backward
    var out = Tensor(rows: batch * tq, cols: width)
    for b in 0..<batch {
        for h in 0..<heads {
            let column = h * dh
            for i in 0..<tq {
                let qRow = (b * tq + i) * width + column
                var scores = [Float](repeating: 0, count: tk)
                for j in 0..<tk {
                    let kRow = (b * tk + j) * width + column
                    var dot: Float = 0
                    for c in 0..<dh { dot += q.scalars[qRow + c] * k.scalars[kRow + c] }
                    scores[j] = dot * scale
                }
                let largest = scores.max()!
                var total: Float = 0
                for j in 0..<tk { scores[j] = exp(scores[j] - largest); total += scores[j] }
                let base = ((b * heads + h) * tq + i) * tk
                for j in 0..<tk {
                    let a = scores[j] / total
                    weights[base + j] = a
                    let vRow = (b * tk + j) * width + column
                    for c in 0..<dh { out.scalars[qRow + c] += a * v.scalars[vRow + c] }
                }
            }
        }
    }
    let saved = weights
    let tracked = queries.isTracked || keys.isTracked || values.isTracked
    return queries.tape.record(out, tracked: tracked) { g, tape in
        var gq = Tensor(rows: q.rows, cols: width), gk = Tensor(rows: k.rows, cols: width), gv = Tensor(rows: v.rows, cols: width)
        for b in 0..<batch {
            for h in 0..<heads {
                let column = h * dh
                for i in 0..<tq {
                    let row = (b * tq + i) * width + column
                    let base = ((b * heads + h) * tq + i) * tk
                    // ∂A_ij = G_i · V_j, and ∂V_j += A_ij G_i
                    var gradA = [Float](repeating: 0, count: tk)
                    var weighted: Float = 0
                    for j in 0..<tk {
                        let vRow = (b * tk + j) * width + column
                        let a = saved[base + j]
                        var dot: Float = 0
                        for c in 0..<dh {
                            dot += g.scalars[row + c] * v.scalars[vRow + c]
                            gv.scalars[vRow + c] += a * g.scalars[row + c]
                        }
                        gradA[j] = dot
                        weighted += dot * a
                    }
                    for j in 0..<tk {
                        let gradS = saved[base + j] * (gradA[j] - weighted) * scale
                        let kRow = (b * tk + j) * width + column
                        for c in 0..<dh {
                            gq.scalars[row + c] += gradS * k.scalars[kRow + c]
                            gk.scalars[kRow + c] += gradS * q.scalars[row + c]
                        }
                    }
                }
            }
        }
        if queries.isTracked { tape.accumulate(gq, into: queries.node) }
        if keys.isTracked { tape.accumulate(gk, into: keys.node) }
        if values.isTracked { tape.accumulate(gv, into: values.node) }
    }
}
