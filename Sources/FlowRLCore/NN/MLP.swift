/// A multilayer perceptron: Linear layers with an activation between them and none after the last.
public final class MLP: Layer, TangentPropagating {
    /// The layers in order; `layers[i]` maps `sizes[i] → sizes[i + 1]`.
    public let layers: [Linear]
    /// The activation after every layer but the last.
    public let activation: Activation

    public var parameters: [Parameter] { layers.flatMap(\.parameters) }
    public var inputSize: Int { layers[0].inputSize }
    public var outputSize: Int { layers[layers.count - 1].outputSize }

    /// An MLP with layer widths `sizes` (input first, output last; at least two entries).
    /// `outputScale` multiplies the last layer's initial weights and bias, for heads that should
    /// start near zero (a velocity field starting close to the identity flow, say).
    public init(sizes: [Int], activation: Activation, outputScale: Float = 1,
                generator: inout RandomGenerator, name: String = "mlp") {
        precondition(sizes.count >= 2, "MLP: need at least an input and an output size")
        var layers: [Linear] = []
        for index in 0..<(sizes.count - 1) {
            layers.append(Linear(inputSize: sizes[index], outputSize: sizes[index + 1],
                                 generator: &generator, name: "\(name).layers.\(index)"))
        }
        if outputScale != 1, let last = layers.last {
            for parameter in last.parameters { parameter.value.scale(by: outputScale) }
        }
        self.layers = layers
        self.activation = activation
    }

    /// The network's output for a batch `x` of shape `[batch, inputSize]`.
    public func callAsFunction(_ x: Variable) -> Variable {
        var h = x
        for (index, layer) in layers.enumerated() {
            h = index < layers.count - 1 ? layer(h, activation: activation) : layer(h)
        }
        return h
    }

    /// The output for a batch without recording anything: the same arithmetic as
    /// `callAsFunction`, with activations applied in place. For acting, where tape bookkeeping
    /// would cost as much as the products themselves at batch 1.
    public func inference(_ x: Tensor) -> Tensor {
        inference(x, slopes: nil)
    }

    /// `inference`, also appending for each hidden layer what `Activation.multiplyBySlope` needs
    /// (its output, or its input for activations whose slope needs it) to `slopes` when given,
    /// for a hand-written backward pass.
    func inference(_ x: Tensor, slopes: UnsafeMutablePointer<[Tensor]>?) -> Tensor {
        var h = x
        for (index, layer) in layers.enumerated() {
            var out = layer.bias?.value.broadcast(toRows: h.rows, cols: layer.outputSize) ?? Tensor(rows: h.rows, cols: layer.outputSize)
            Tensor.gemm(h, layer.weight.value, transposeB: true, beta: layer.bias == nil ? 0 : 1, into: &out)
            if index < layers.count - 1 {
                if let slopes {
                    slopes.pointee.append(activation.applyKeepingSlope(to: &out))
                } else {
                    activation.apply(to: &out)
                }
            }
            h = out
        }
        return h
    }

    /// The output and forward-mode tangents: through each activation the tangent is multiplied by
    /// `f′(pre-activation)`, repeated for each of the `k` stacked directions.
    public func forward(_ x: Variable, tangents: Variable) -> (output: Variable, tangents: Variable) {
        precondition(tangents.cols == x.cols && x.rows > 0 && tangents.rows % x.rows == 0,
                     "MLP.forward: tangents must be [k · \(x.rows), \(x.cols)], got [\(tangents.rows), \(tangents.cols)]")
        let directions = tangents.rows / x.rows
        var h = x, t = tangents
        for (index, layer) in layers.enumerated() {
            (h, t) = layer.forward(h, tangents: t)
            if index < layers.count - 1 {
                let pre = h
                h = activation(pre)
                if activation != .identity {
                    let slope = activation.derivative(input: pre, output: h)
                    t = t * (directions == 1 ? slope : slope.tiledRows(directions))
                }
            }
        }
        return (h, t)
    }
}

/// A hand-written backward pass through a network held fixed: the gradient with respect to its
/// input only, without a tape (a critic differentiated in its action input, say).
extension MLP {
    /// The tape-free forward pass (`inference`) that also returns, for each hidden layer, what
    /// `inputGradient` needs to differentiate its activation.
    public func inferenceKeepingSlopes(_ x: Tensor) -> (output: Tensor, slopes: [Tensor]) {
        var slopes: [Tensor] = []
        let output = withUnsafeMutablePointer(to: &slopes) { inference(x, slopes: $0) }
        return (output, slopes)
    }

    /// `∂(Σ g ⊙ f(x)) / ∂x` with the parameters held fixed, from the kept slopes
    /// (`inferenceKeepingSlopes`) of the rows of `x` that `outputGradient` covers (each `[rows, width]`).
    public func inputGradient(outputGradient: Tensor, slopes: [Tensor]) -> Tensor {
        precondition(slopes.count == layers.count - 1, "MLP.inputGradient: one kept slope per hidden layer")
        var delta = outputGradient
        for index in stride(from: layers.count - 1, through: 0, by: -1) {
            delta = Tensor.matmul(delta, layers[index].weight.value)   // through x · Wᵀ + b
            if index > 0 { activation.multiplyBySlope(&delta, kept: slopes[index - 1]) }
        }
        return delta
    }
}
