/// The exact divergence of an MLP without pushing `d` full tangents through every layer
/// (docs/algorithms.md, "Log-density of the discrete flow", its paragraph "Cost of the exact divergence").
///
/// For `v(x) = W_L f(… f(W_1 x + b_1) …) + b_L` with hidden slopes `S_i = f′(pre-activation_i)`,
/// the trace over the input columns `c + j` paired with outputs `j` is
/// `tr J = Σ_j W_L[j,:] · S_{L−1} W_{L−1} … S_1 W_1[:, c+j]`. Two things in it need no tangent pass:
///
/// - (a) the first layer's tangent along direction `j` is column `c + j` of `W_1`, the same for every
///   sample, so no product of the stacked probes with `W_1` is needed;
/// - (b) only output `j` of direction `j` enters the trace (the diagonal of the Jacobian), so the last
///   layer is a row-wise dot product with `W_L[j,:]`, not a full product.
///
/// With two hidden layers (the default `[256, 256]`) (a) and (b) meet: the trace is the bilinear form
/// `tr J_b = S_2[b,:] · A · S_1[b,:]` with `A = W_2 ⊙ (W_L[0..<d,:]ᵀ W_1[:, c..<c+d]ᵀ)`, one
/// sample-independent matrix, so the `d` tangent products through `W_2` become a single product of the
/// batch's slopes with `A`: `d` times fewer FLOPs in the layer that dominates, forward and backward.
/// The maths is exact; only the order of float additions differs from the tangent pass.
extension MLP {
    /// The output and the exact divergence `Σ_j ∂out_j/∂x_{columns[j]}` per sample (`[batch, 1]`),
    /// both differentiable (with respect to the input and to the parameters), by the shortcuts
    /// above; nil where they do not apply (no hidden layer, or the identity activation), for the
    /// caller to use the tangent pass. The output is the same, bit for bit, as `forward`'s. Not for
    /// an MLP with layer norms (no velocity field has them).
    public func exactDivergence(_ x: Variable, columns: Range<Int>) -> (output: Variable, divergence: Variable)? {
        precondition(!normalizesHiddenLayers, "MLP.exactDivergence: no shortcut through layer norms")
        let hidden = layers.count - 1, d = columns.count
        guard hidden >= 1, activation != .identity, d >= 1 else { return nil }
        precondition(columns.lowerBound >= 0 && columns.upperBound <= inputSize && outputSize >= d,
                     "MLP.exactDivergence: columns \(columns) do not pair with \(inputSize) inputs and \(outputSize) outputs")
        let tape = x.tape, batch = x.rows
        if hidden == 2 && !tape.isRecording {
            let (output, divergence) = exactDivergenceValue(x.value, columns: columns)
            return (tape.constant(output), tape.constant(divergence))
        }
        // The primal pass with `forward(_:tangents:)`'s ops (a separate affine and activation, not the
        // fused layer), so that the velocity is exactly the one the tangent pass gave.
        var h = x
        var slopes: [Variable] = []
        slopes.reserveCapacity(hidden)
        for (index, layer) in layers.enumerated() {
            h = layer(h)
            if index < hidden {
                let pre = h
                h = activation(pre)
                slopes.append(activation.derivative(input: pre, output: h))
            }
        }
        let first = tape.parameter(layers[0].weight).columns(columns)    // [h₁, d]: (a), direction j's first tangent
        let last = tape.parameter(layers[hidden].weight).rows(0..<d)     // [d, h_L−1]: (b), the outputs the trace reads
        if hidden == 2 {
            let coupling = tape.parameter(layers[1].weight) * matmul(last, transposeA: true, first, transposeB: true)
            return (h, (affine(slopes[0], weight: coupling, bias: nil) * slopes[1]).sumOfEachRow())
        }
        // Any other depth: the d tangents, stacked batch-major, start from (a) and end with (b); only
        // the middle layers need products.
        let probes = tape.constant(Divergence.identityProbes(batch: batch, dimension: d))
        var tangents = matmul(probes, first, transposeB: true) * slopes[0].tiledRows(d)
        for index in 1..<hidden {
            tangents = affine(tangents, weight: tape.parameter(layers[index].weight), bias: nil) * slopes[index].tiledRows(d)
        }
        return (h, (tangents * matmul(probes, last)).sumOfEachRow().sumOfRowBlocks(blockRows: batch))
    }

    /// `exactDivergence` of a network with two hidden layers on a tape that does not record (a
    /// critic target's chain): the same products and element operations in the same order, so the
    /// same floats, without the tape's intermediate tensors. Each hidden layer's activation and its
    /// slope come from one pass (`Activation.applyReturningDerivative`), and the trace's product with
    /// the second slopes is summed as it is formed (`Tensor.sumOfEachRow(ofProduct:_:)`).
    func exactDivergenceValue(_ x: Tensor, columns: Range<Int>) -> (output: Tensor, divergence: Tensor) {
        precondition(layers.count == 3, "MLP.exactDivergenceValue: two hidden layers")
        var h = x
        var slopes: [Tensor] = []
        for index in 0..<2 {
            h = layers[index].inference(h)
            slopes.append(activation.applyReturningDerivative(to: &h))
        }
        let output = layers[2].inference(h)
        let coupled = Tensor.matmul(slopes[0], divergenceCoupling(columns: columns), transposeB: true)
        return (output, Tensor.sumOfEachRow(ofProduct: coupled, slopes[1]))
    }

    /// `A = W₂ ⊙ (W_L[0..<d,:]ᵀ W₁[:, columns]ᵀ)`, the matrix the trace of a network with two hidden
    /// layers is a bilinear form in (see above), as a plain tensor.
    func divergenceCoupling(columns: Range<Int>) -> Tensor {
        let first = layers[0].weight.value.columns(columns), last = layers[2].weight.value.rows(0..<columns.count)
        return Tensor.zip(layers[1].weight.value, Tensor.matmul(last, transposeA: true, first, transposeB: true), Elementwise.Multiply.self)
    }
}
