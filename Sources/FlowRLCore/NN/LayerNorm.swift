/// Layer normalisation over features: `y = γ ⊙ (x − μ) / √(σ² + ε) + β`, per row.
public final class LayerNorm: Layer {
    /// `[1, size]`, initialised to ones.
    public let scale: Parameter
    /// `[1, size]`, initialised to zeros.
    public let offset: Parameter
    /// Added to the variance; 1e-5 as in PyTorch.
    public let epsilon: Float

    public var parameters: [Parameter] { [scale, offset] }

    public init(size: Int, epsilon: Float = 1e-5, name: String = "layer_norm") {
        precondition(size > 0, "LayerNorm: size must be positive")
        scale = Parameter(Tensor(rows: 1, cols: size, repeating: 1), name: name + ".weight")
        offset = Parameter(Tensor(rows: 1, cols: size), name: name + ".bias")
        self.epsilon = epsilon
    }

    public func callAsFunction(_ x: Variable) -> Variable {
        precondition(x.cols == scale.value.cols, "LayerNorm: input has \(x.cols) features, expected \(scale.value.cols)")
        return x.standardizedRows(epsilon: epsilon) * x.tape.parameter(scale) + x.tape.parameter(offset)
    }
}
