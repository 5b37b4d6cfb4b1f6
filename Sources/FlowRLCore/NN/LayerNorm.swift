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

/// The tape-free forward pass and the input gradient of a layer norm held fixed (a normalised
/// critic differentiated in its action input, say).
extension LayerNorm {
    /// What `inputGradient` needs from `inference`: the standardised rows and each row's
    /// `1 / √(σ² + ε)` (`[rows, 1]`).
    public struct Kept {
        public var standardized: Tensor
        public var inverseDeviations: Tensor

        /// The rows `indices` of both.
        public func gathering(rows indices: [Int]) -> Kept {
            Kept(standardized: standardized.gathering(rows: indices), inverseDeviations: inverseDeviations.gathering(rows: indices))
        }
    }

    /// `callAsFunction`'s output for a batch without recording anything (the same arithmetic), and
    /// what `inputGradient` needs.
    public func inference(_ x: Tensor) -> (output: Tensor, kept: Kept) {
        precondition(x.cols == scale.value.cols, "LayerNorm: input has \(x.cols) features, expected \(scale.value.cols)")
        let (standardized, inverseDeviations) = x.standardizingRows(epsilon: epsilon)
        let output = Tensor.zip(Tensor.zip(standardized, scale.value, Elementwise.Multiply.self), offset.value, Elementwise.Add.self)
        return (output, Kept(standardized: standardized, inverseDeviations: inverseDeviations))
    }

    /// `∂(Σ g ⊙ LN(x)) / ∂x` with the scale and offset held fixed, from what `inference` kept for
    /// the rows `outputGradient` covers.
    public func inputGradient(outputGradient: Tensor, kept: Kept) -> Tensor {
        Tensor.standardizedRowsInputGradient(Tensor.zip(outputGradient, scale.value, Elementwise.Multiply.self),
                                             standardized: kept.standardized, inverseDeviations: kept.inverseDeviations)
    }
}
