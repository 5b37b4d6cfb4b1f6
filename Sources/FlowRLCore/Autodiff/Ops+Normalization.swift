/// Per-row standardisation, the core of LayerNorm: the tape-free kernels (forward, and the
/// gradient in the input) and the differentiable op built on them.
extension Tensor {
    /// Each row shifted to mean 0 and scaled to variance 1 (biased variance, as in LayerNorm):
    /// `x̂ = (x − μ) / √(σ² + eps)`, with each row's `1 / √(σ² + eps)` (`[rows, 1]`), which
    /// `standardizedRowsInputGradient` needs.
    public func standardizingRows(epsilon: Float = 1e-5) -> (standardized: Tensor, inverseDeviations: Tensor) {
        let (r, c) = (rows, cols)
        var inverseDeviations = Tensor(rows: r, cols: 1)
        let out = scalars.withUnsafeBufferPointer { xp in
            inverseDeviations.scalars.withUnsafeMutableBufferPointer { inverse in
                Tensor(rows: r, cols: c) { o, _ in
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
                        inverse[row] = inv
                        for col in 0..<c { orow[col] = (xr[col] - mean) * inv }
                    }
                }
            }
        }
        return (out, inverseDeviations)
    }

    /// The gradient in the input of `Σ g ⊙ x̂` for the standardised rows `x̂` and inverse
    /// deviations `standardizingRows` returned, per row with `n` features:
    /// `∂x = (g − mean(g) − x̂ · mean(g ⊙ x̂)) / √(σ² + eps)`.
    public static func standardizedRowsInputGradient(_ g: Tensor, standardized: Tensor, inverseDeviations: Tensor) -> Tensor {
        precondition(g.hasShape(of: standardized) && inverseDeviations.rows == g.rows && inverseDeviations.cols == 1,
                     "standardizedRowsInputGradient: gradient \(g.shape), standardised rows \(standardized.shape), inverse deviations \(inverseDeviations.shape)")
        let (r, c) = (g.rows, g.cols)
        return Tensor(rows: r, cols: c) { o, _ in
            g.scalars.withUnsafeBufferPointer { gp in
                standardized.scalars.withUnsafeBufferPointer { yp in
                    inverseDeviations.scalars.withUnsafeBufferPointer { inverse in
                        for row in 0..<r {
                            let gr = gp.baseAddress! + row * c, yr = yp.baseAddress! + row * c, orow = o + row * c
                            var meanG: Float = 0, meanGY: Float = 0
                            for col in 0..<c { meanG += gr[col]; meanGY += gr[col] * yr[col] }
                            meanG /= Float(c); meanGY /= Float(c)
                            let inv = inverse[row]
                            for col in 0..<c { orow[col] = (gr[col] - meanG - yr[col] * meanGY) * inv }
                        }
                    }
                }
            }
        }
    }
}

extension Variable {
    /// Each row standardised (`Tensor.standardizingRows`), differentiably; backward by
    /// `Tensor.standardizedRowsInputGradient`.
    public func standardizedRows(epsilon: Float = 1e-5) -> Variable {
        let (out, inverseDeviations) = value.standardizingRows(epsilon: epsilon)
        return tape.record(out, tracked: isTracked) { [node] g, tape in
            tape.accumulate(Tensor.standardizedRowsInputGradient(g, standardized: out, inverseDeviations: inverseDeviations), into: node)
        }
    }
}
