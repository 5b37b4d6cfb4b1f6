/// A fully connected layer `y = x · Wᵀ + b` with `W` of shape `[outputSize, inputSize]`.
public final class Linear: Layer, TangentPropagating {
    /// `[outputSize, inputSize]`, PyTorch's layout.
    public let weight: Parameter
    /// `[1, outputSize]`, or nil for a layer without bias.
    public let bias: Parameter?

    public var inputSize: Int { weight.value.cols }
    public var outputSize: Int { weight.value.rows }
    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    /// PyTorch's default initialisation: weights and bias uniform in `±1/√inputSize`
    /// (`kaiming_uniform_` with `a = √5`), drawn from `generator`.
    public init(inputSize: Int, outputSize: Int, bias hasBias: Bool = true,
                generator: inout RandomGenerator, name: String = "linear") {
        precondition(inputSize > 0 && outputSize > 0, "Linear: sizes must be positive")
        let bound = 1 / Float(inputSize).squareRoot()
        weight = Parameter(generator.uniformTensor(rows: outputSize, cols: inputSize, lower: -bound, upper: bound),
                           name: name + ".weight")
        bias = hasBias ? Parameter(generator.uniformTensor(rows: 1, cols: outputSize, lower: -bound, upper: bound),
                                   name: name + ".bias") : nil
    }

    /// `x · Wᵀ + b` for a batch `x` of shape `[batch, inputSize]`.
    public func callAsFunction(_ x: Variable) -> Variable {
        affine(x, weight: x.tape.parameter(weight), bias: bias.map { x.tape.parameter($0) })
    }

    /// `f(x · Wᵀ + b)`: the layer and an activation after it, as one op (see `affine`).
    public func callAsFunction(_ x: Variable, activation: Activation) -> Variable {
        affine(x, weight: x.tape.parameter(weight), bias: bias.map { x.tape.parameter($0) }, activation: activation)
    }

    /// `x · Wᵀ + b` as a plain tensor, with the product `affine` makes (the bias broadcast, then
    /// accumulated into by the product), so the tape-free passes give the same floats.
    public func inference(_ x: Tensor) -> Tensor {
        var out = bias?.value.broadcast(toRows: x.rows, cols: outputSize) ?? Tensor(rows: x.rows, cols: outputSize)
        Tensor.gemm(x, weight.value, transposeB: true, beta: bias == nil ? 0 : 1, into: &out)
        return out
    }

    /// The output and the tangents `t · Wᵀ` (the bias does not move with the input).
    public func forward(_ x: Variable, tangents: Variable) -> (output: Variable, tangents: Variable) {
        let w = x.tape.parameter(weight)
        let output = affine(x, weight: w, bias: bias.map { x.tape.parameter($0) })
        return (output, affine(tangents, weight: w, bias: nil))
    }
}
