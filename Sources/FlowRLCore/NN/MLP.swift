/// A multilayer perceptron: Linear layers with an activation between them and none after the last;
/// optionally a layer norm after each hidden Linear, before its activation (Linear → LayerNorm →
/// activation, `normalizesHiddenLayers`).
public final class MLP: Layer, TangentPropagating {
    /// The layers in order; `layers[i]` maps `sizes[i] → sizes[i + 1]`.
    public let layers: [Linear]
    /// `norms[i]` normalises the output of hidden layer `i`; empty for a plain MLP.
    public let norms: [LayerNorm]
    /// The activation after every layer but the last.
    public let activation: Activation

    /// Each layer's parameters, followed by its norm's (a plain MLP: the layers' only).
    public var parameters: [Parameter] {
        layers.indices.flatMap { layers[$0].parameters + (norms.indices.contains($0) ? norms[$0].parameters : []) }
    }
    public var inputSize: Int { layers[0].inputSize }
    public var outputSize: Int { layers[layers.count - 1].outputSize }
    /// True when every hidden layer is followed by a layer norm.
    public var normalizesHiddenLayers: Bool { !norms.isEmpty }
    /// The norms' parameters are named `<name>.norms.<hidden layer>.weight` and `.bias`.
    public static let normsName = "norms"

    /// An MLP with layer widths `sizes` (input first, output last; at least two entries).
    /// `outputScale` multiplies the last layer's initial weights and bias, for heads that should
    /// start near zero (a velocity field starting close to the identity flow, say). With
    /// `layerNorm`, each hidden layer's output is normalised (scale 1, offset 0 at first) before
    /// its activation; the norms draw nothing from `generator`, so the Linear layers start as
    /// without them.
    public init(sizes: [Int], activation: Activation, outputScale: Float = 1, layerNorm: Bool = false,
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
        norms = layerNorm ? sizes.dropFirst().dropLast().enumerated().map { LayerNorm(size: $1, name: "\(name).\(Self.normsName).\($0)") } : []
        self.activation = activation
    }

    /// The network's output for a batch `x` of shape `[batch, inputSize]`.
    public func callAsFunction(_ x: Variable) -> Variable {
        var h = x
        for (index, layer) in layers.enumerated() {
            if index == layers.count - 1 {
                h = layer(h)
            } else if normalizesHiddenLayers {
                h = activation(norms[index](layer(h)))
            } else {
                h = layer(h, activation: activation)
            }
        }
        return h
    }

    /// The output for a batch without recording anything: the same arithmetic as
    /// `callAsFunction`, with activations applied in place. For acting, where tape bookkeeping
    /// would cost as much as the products themselves at batch 1.
    public func inference(_ x: Tensor) -> Tensor {
        inference(x, kept: nil)
    }

    /// `inference`, also appending for each hidden layer what its backward pass needs to `kept`
    /// when given (see `Kept`), for a hand-written backward pass.
    func inference(_ x: Tensor, kept: UnsafeMutablePointer<Kept>?) -> Tensor {
        var h = x
        for (index, layer) in layers.enumerated() {
            var out = layer.inference(h)
            if index < layers.count - 1 {
                if normalizesHiddenLayers {
                    let normalized = norms[index].inference(out)
                    out = normalized.output
                    kept?.pointee.norms.append(normalized.kept)
                }
                if let kept {
                    kept.pointee.slopes.append(activation.applyKeepingSlope(to: &out))
                } else {
                    activation.apply(to: &out)
                }
            }
            h = out
        }
        return h
    }

    /// The output and forward-mode tangents: through each activation the tangent is multiplied by
    /// `f′(pre-activation)`, repeated for each of the `k` stacked directions. Not for an MLP with
    /// layer norms (no velocity field has them).
    public func forward(_ x: Variable, tangents: Variable) -> (output: Variable, tangents: Variable) {
        precondition(!normalizesHiddenLayers, "MLP.forward(_:tangents:): no tangent pass through layer norms")
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

/// A tape-free forward pass kept whole, and recorded on a tape later without running it again:
/// for a pass whose inputs were already evaluated (RLDT's prediction from a chain's intermediate
/// step is the chain's own evaluation there).
extension MLP {
    /// What a tape-free forward pass computed: each layer's input (the network's input first, then
    /// each hidden layer's activated output), what each hidden layer's backward needs
    /// (`Activation.applyKeepingSlope`), and the output. Row by row: row `r` depends on row `r` of
    /// the input alone.
    public struct Forward {
        public var inputs: [Tensor]
        public var slopes: [Tensor]
        public var output: Tensor

        /// Row `r` of `forwards[sources[r]]` for every `r` (all of the same shape): the passes of
        /// rows that were evaluated in different batches, gathered into one.
        public static func selecting(rowsFrom forwards: [Forward], sources: [Int]) -> Forward {
            func select(_ tensors: [Tensor]) -> Tensor { Tensor.selecting(rowsFrom: tensors, sources: sources) }
            let first = forwards[0]
            return Forward(inputs: first.inputs.indices.map { index in select(forwards.map { $0.inputs[index] }) },
                           slopes: first.slopes.indices.map { index in select(forwards.map { $0.slopes[index] }) },
                           output: select(forwards.map(\.output)))
        }
    }

    /// `inference` keeping the whole pass (`Forward`). Not for an MLP with layer norms.
    public func inferenceKeepingForward(_ x: Tensor) -> Forward {
        precondition(!normalizesHiddenLayers, "MLP.inferenceKeepingForward: not with layer norms")
        var forward = Forward(inputs: [x], slopes: [], output: x)
        for (index, layer) in layers.enumerated() {
            var out = layer.inference(forward.inputs[index])
            if index == layers.count - 1 {
                forward.output = out
            } else {
                forward.slopes.append(activation.applyKeepingSlope(to: &out))
                forward.inputs.append(out)
            }
        }
        return forward
    }

    /// `callAsFunction(x)` recorded from `forward`, a tape-free pass on the same input (checked):
    /// the same nodes with the same values and backward rules, so the same gradients, without the
    /// products of the forward pass.
    public func callAsFunction(_ x: Variable, replaying forward: Forward) -> Variable {
        precondition(!normalizesHiddenLayers && forward.inputs.count == layers.count, "MLP: a forward pass of another network")
        // Bits, not `==`: a pass through NaNs (an update that overflows, then is restored) is still this input's.
        precondition(x.value.hasTheSameBits(as: forward.inputs[0]), "MLP: the forward pass replayed was made on another input")
        var h = x
        for (index, layer) in layers.enumerated() {
            let weight = h.tape.parameter(layer.weight), bias = layer.bias.map { h.tape.parameter($0) }
            h = index == layers.count - 1
                ? affine(h, weight: weight, bias: bias, known: forward.output)
                : affine(h, weight: weight, bias: bias, activation: activation, known: forward.inputs[index + 1],
                         kept: forward.slopes[index])
        }
        return h
    }
}

/// A hand-written backward pass through a network held fixed: the gradient with respect to its
/// input only, without a tape (a critic differentiated in its action input, say).
extension MLP {
    /// What `inputGradient` needs from the tape-free forward pass, for each hidden layer: what
    /// `Activation.multiplyBySlope` needs (the activation's output, or its input for activations
    /// whose slope needs it) and, with layer norms, what `LayerNorm.inputGradient` needs.
    public struct Kept {
        public var slopes: [Tensor] = []
        /// Empty without layer norms.
        public var norms: [LayerNorm.Kept] = []

        /// The rows `indices` of everything kept.
        public func gathering(rows indices: [Int]) -> Kept {
            Kept(slopes: slopes.map { $0.gathering(rows: indices) }, norms: norms.map { $0.gathering(rows: indices) })
        }
    }

    /// The tape-free forward pass (`inference`) that also returns, for each hidden layer, what
    /// `inputGradient` needs to differentiate its norm and activation.
    public func inferenceKeeping(_ x: Tensor) -> (output: Tensor, kept: Kept) {
        var kept = Kept()
        let output = withUnsafeMutablePointer(to: &kept) { inference(x, kept: $0) }
        return (output, kept)
    }

    /// `∂(Σ g ⊙ f(x)) / ∂x` with the parameters held fixed, from what `inferenceKeeping`
    /// kept of the rows of `x` that `outputGradient` covers.
    public func inputGradient(outputGradient: Tensor, kept: Kept) -> Tensor {
        precondition(kept.slopes.count == layers.count - 1 && kept.norms.count == norms.count,
                     "MLP.inputGradient: one kept slope (and norm, with layer norms) per hidden layer")
        var delta = outputGradient
        for index in stride(from: layers.count - 1, through: 0, by: -1) {
            delta = Tensor.matmul(delta, layers[index].weight.value)   // through x · Wᵀ + b
            guard index > 0 else { continue }
            activation.multiplyBySlope(&delta, kept: kept.slopes[index - 1])
            if normalizesHiddenLayers { delta = norms[index - 1].inputGradient(outputGradient: delta, kept: kept.norms[index - 1]) }
        }
        return delta
    }
}
