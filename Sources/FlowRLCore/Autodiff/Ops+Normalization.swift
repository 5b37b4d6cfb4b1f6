/// Differentiable per-row standardisation, the core of LayerNorm.
extension Variable {
    /// Each row shifted to mean 0 and scaled to variance 1 (biased variance, as in LayerNorm):
    /// `x̂ = (x − μ) / √(σ² + eps)`. Backward, per row with `n` features:
    /// `∂x = (g − mean(g) − x̂ · mean(g ⊙ x̂)) / √(σ² + eps)`.
    public func standardizedRows(epsilon: Float = 1e-5) -> Variable {
        let (r, c) = (rows, cols)
        var inverseDeviation = [Float](repeating: 0, count: r)
        let input = value
        let out = Tensor(rows: r, cols: c) { o, _ in
            input.scalars.withUnsafeBufferPointer { xp in
                let x = xp.baseAddress!
                for row in 0..<r {
                    let xr = x + row * c, orow = o + row * c
                    var mean: Float = 0
                    for col in 0..<c { mean += xr[col] }
                    mean /= Float(c)
                    var variance: Float = 0
                    for col in 0..<c { let d = xr[col] - mean; variance += d * d }
                    variance /= Float(c)
                    let inv = 1 / (variance + epsilon).squareRoot()
                    inverseDeviation[row] = inv
                    for col in 0..<c { orow[col] = (xr[col] - mean) * inv }
                }
            }
        }
        let saved = inverseDeviation
        return tape.record(out, tracked: isTracked) { [node] g, tape in
            let gx = Tensor(rows: r, cols: c) { o, _ in
                g.scalars.withUnsafeBufferPointer { gp in
                    out.scalars.withUnsafeBufferPointer { yp in
                        for row in 0..<r {
                            let gr = gp.baseAddress! + row * c, yr = yp.baseAddress! + row * c, orow = o + row * c
                            var meanG: Float = 0, meanGY: Float = 0
                            for col in 0..<c { meanG += gr[col]; meanGY += gr[col] * yr[col] }
                            meanG /= Float(c); meanGY /= Float(c)
                            let inv = saved[row]
                            for col in 0..<c { orow[col] = (gr[col] - meanG - yr[col] * meanGY) * inv }
                        }
                    }
                }
            }
            tape.accumulate(gx, into: node)
        }
    }
}
