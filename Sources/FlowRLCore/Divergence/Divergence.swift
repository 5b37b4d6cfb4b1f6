/// The divergence `div_x v = tr ∂v/∂x` of a field with respect to a block of its input columns
/// (the action `x` inside `[s, x, emb(t)]`), and the exact log-volume change of an Euler step.
///
/// All three are built from forward-mode tangents carried through the field with ordinary
/// differentiable ops (`TangentPropagating`), so the result can itself be differentiated with
/// respect to the field's parameters, as the SWFP block loss requires (`ℓ_n = dt · div v`,
/// docs/algorithms.md, "Log-density of the discrete flow").
public enum Divergence {
    /// The field's output and its Jacobian columns along the input columns `columns`:
    /// `[d · batch, outputSize]` with row `j · batch + b` equal to `∂v(input_b)/∂x_j`,
    /// where `d = columns.count`. Costs one tangent pass with `d` stacked directions.
    public static func jacobianColumns(of field: some TangentPropagating, at input: Variable,
                                       columns: Range<Int>) -> (output: Variable, jacobian: Variable) {
        let probes = identityProbes(batch: input.rows, dimension: columns.count)
        let (output, tangents) = field.forward(input, tangents: input.tape.constant(embed(probes, columns: columns, width: input.cols)))
        return (output, tangents)
    }

    /// Exact divergence `Σ_j ∂v_j/∂x_j` per sample, `[batch, 1]`, with the field's output.
    /// The output's first `columns.count` features are paired with the input columns in order.
    /// An MLP takes the shortcuts of `MLP.exactDivergence` (the same maths, fewer FLOPs); any other
    /// field pushes the `d` basis tangents (`exactByTangents`).
    public static func exact(of field: some TangentPropagating, at input: Variable,
                             columns: Range<Int>) -> (output: Variable, divergence: Variable) {
        if let network = field as? MLP, let result = network.exactDivergence(input, columns: columns) { return result }
        return exactByTangents(of: field, at: input, columns: columns)
    }

    /// Exact divergence by `d` basis tangents pushed through the whole field in one stacked pass:
    /// the general method, and the reference the shortcuts of `MLP.exactDivergence` are tested against.
    public static func exactByTangents(of field: some TangentPropagating, at input: Variable,
                                       columns: Range<Int>) -> (output: Variable, divergence: Variable) {
        let probes = identityProbes(batch: input.rows, dimension: columns.count)
        return projectedTrace(of: field, at: input, columns: columns, probes: probes)
    }

    /// Hutchinson's unbiased estimate `(1/k) Σ_p εₚᵀ J εₚ` with `k` Rademacher probes per sample.
    public static func hutchinson(of field: some TangentPropagating, at input: Variable, columns: Range<Int>,
                                  probes count: Int, generator: inout RandomGenerator) -> (output: Variable, divergence: Variable) {
        precondition(count >= 1, "Divergence.hutchinson: need at least one probe")
        let probes = generator.signTensor(rows: count * input.rows, cols: columns.count)
        let (output, trace) = projectedTrace(of: field, at: input, columns: columns, probes: probes)
        return (output, trace * (1 / Float(count)))
    }

    /// `log|det(I + scale · ∂v/∂x)|` per sample, `[batch, 1]`: the exact log-volume change of the
    /// Euler step `x + scale · v` (its first-order form is `scale · div v`).
    public static func logDeterminant(of field: some TangentPropagating, at input: Variable, columns: Range<Int>,
                                      scale: Float) -> (output: Variable, logDeterminant: Variable) {
        let (output, jacobian) = jacobianColumns(of: field, at: input, columns: columns)
        let square = jacobian.columns(0..<columns.count)
        return (output, logAbsDeterminantOfIdentityPlus(square, scale: scale))
    }

    /// `Σ_p εₚᵀ J εₚ` per sample for stacked probes `[k · batch, d]`.
    private static func projectedTrace(of field: some TangentPropagating, at input: Variable, columns: Range<Int>,
                                       probes: Tensor) -> (output: Variable, divergence: Variable) {
        let tape = input.tape
        let (output, tangents) = field.forward(input, tangents: tape.constant(embed(probes, columns: columns, width: input.cols)))
        precondition(tangents.cols >= columns.count, "Divergence: the field outputs fewer features than the block it differentiates")
        return (output, projectedTrace(tangents: tangents.columns(0..<columns.count), probes: probes, batch: input.rows))
    }

    /// `Σ_p εₚᵀ Tₚ` per sample, `[batch, 1]`, for tangents `T = A ε` (`[k · batch, d]`) of some
    /// map's matrix `A` along stacked probes `ε` (`[k · batch, d]`, row `p · batch + b`): the trace
    /// of `A` with basis probes, k times Hutchinson's estimate with Rademacher ones.
    public static func projectedTrace(tangents: Variable, probes: Tensor, batch: Int) -> Variable {
        (tangents * tangents.tape.constant(probes)).sumOfEachRow().sumOfRowBlocks(blockRows: batch)
    }

    /// Tangents `[n, d]` placed into the columns `columns` of an otherwise zero `[n, width]`
    /// tangent, differentiably (for a tangent that is itself the output of a tangent pass, as in a
    /// two-stage step; a constant probe is placed by `embed`).
    public static func embedTangents(_ tangents: Variable, columns: Range<Int>, width: Int) -> Variable {
        precondition(columns.count == tangents.cols && columns.upperBound <= width, "Divergence: columns \(columns) do not fit")
        let tape = tangents.tape
        var parts: [Variable] = []
        if columns.lowerBound > 0 { parts.append(tape.constant(Tensor(rows: tangents.rows, cols: columns.lowerBound))) }
        parts.append(tangents)
        if columns.upperBound < width { parts.append(tape.constant(Tensor(rows: tangents.rows, cols: width - columns.upperBound))) }
        return parts.count == 1 ? tangents : concatenateColumns(parts)
    }

    /// `[d · batch, d]` with a one at `(j · batch + b, j)`: the basis directions, stacked.
    public static func identityProbes(batch: Int, dimension: Int) -> Tensor {
        var probes = Tensor(rows: dimension * batch, cols: dimension)
        for j in 0..<dimension {
            for b in 0..<batch { probes[j * batch + b, j] = 1 }
        }
        return probes
    }

    /// Places `[n, d]` probes into columns `columns` of an otherwise zero `[n, width]` tensor.
    static func embed(_ probes: Tensor, columns: Range<Int>, width: Int) -> Tensor {
        precondition(columns.lowerBound >= 0 && columns.upperBound <= width, "Divergence: columns \(columns) outside 0..<\(width)")
        var full = Tensor(rows: probes.rows, cols: width)
        for row in 0..<probes.rows {
            for j in 0..<columns.count { full[row, columns.lowerBound + j] = probes[row, j] }
        }
        return full
    }
}
