/// The element-wise nonlinearities a network can use between its layers.
public enum Activation: String, Codable, Sendable, CaseIterable {
    case identity, relu, tanh, sigmoid, silu, gelu, softplus

    /// Applies the activation.
    public func callAsFunction(_ x: Variable) -> Variable {
        switch self {
        case .identity: return x
        case .relu: return x.relu()
        case .tanh: return x.tanh()
        case .sigmoid: return x.sigmoid()
        case .silu: return x.silu()
        case .gelu: return x.gelu()
        case .softplus: return x.softplus()
        }
    }

    /// Applies the activation to a tensor in place (the inference path: no tape, no allocation).
    public func apply(to x: inout Tensor) {
        switch self {
        case .identity: return
        case .relu: x.apply(Elementwise.ReLU.self)
        case .tanh: x.apply(Elementwise.Tanh.self)
        case .sigmoid: x.apply(Elementwise.Sigmoid.self)
        case .silu: x.apply(Elementwise.SiLU.self)
        case .gelu: x.apply(Elementwise.GELU.self)
        case .softplus: x.apply(Elementwise.Softplus.self)
        }
    }

    /// The derivative `f′(input)` as a differentiable value (so tangents pushed through it can be
    /// differentiated again). `output` is `f(input)`, reused where the derivative is cheaper from it.
    public func derivative(input x: Variable, output y: Variable) -> Variable {
        switch self {
        case .identity: return x.tape.constant(Tensor(scalar: 1))
        case .relu: return x.tape.constant(x.value.map(Elementwise.Step.self))  // f″ = 0 almost everywhere
        case .tanh: return 1 - y.squared()
        case .sigmoid: return y * (1 - y)
        case .silu: return x.siluDerivative()   // s + x s (1 − s), s = σ(x), as one op
        case .gelu:  // Φ(x) + x φ(x)
            let cdf = 0.5 * ((x * Float(0.5).squareRoot()).erf() + 1)
            let density = (x.squared() * -0.5).exp() * Float(0.39894228040143268)
            return cdf + x * density
        case .softplus: return x.sigmoid()
        }
    }
}

extension Activation {
    /// True when f′ follows from the output alone (ReLU: y > 0 exactly where x > 0; tanh: 1 − y²;
    /// sigmoid: y(1 − y)), so a layer can apply the activation in place and keep only its output.
    public var slopeFromOutput: Bool {
        switch self {
        case .identity, .relu, .tanh, .sigmoid: return true
        case .silu, .gelu, .softplus: return false
        }
    }

    /// `gradient ⊙ f′`, in place. `kept` is the activation's output when `slopeFromOutput`, else
    /// its input.
    public func multiplyBySlope(_ gradient: inout Tensor, kept: Tensor) {
        switch self {
        case .identity: return
        case .relu: gradient.formZip(kept, Derivative.ReLU.self)
        case .tanh: gradient.formZip(kept, Derivative.Tanh.self)
        case .sigmoid: gradient.formZip(kept, Derivative.Sigmoid.self)
        case .silu: gradient.formZip(kept, Derivative.SiLU.self)
        case .gelu: gradient.formZip(kept, Derivative.GELU.self)
        case .softplus: gradient.formZip(kept, Derivative.Softplus.self)
        }
    }

    /// Applies the activation in place and returns what `multiplyBySlope` needs: the output
    /// itself (sharing its storage) or the input. The input keeps its storage and the output is
    /// written to a new one (`applied(to:)`), rather than the input copied and overwritten: one
    /// pass over the batch instead of two.
    public func applyKeepingSlope(to x: inout Tensor) -> Tensor {
        if slopeFromOutput {
            apply(to: &x)
            return x
        }
        let input = x
        x = applied(to: input)
        return input
    }

    /// `f(x)` in a new tensor (`apply(to:)`'s floats).
    public func applied(to x: Tensor) -> Tensor {
        switch self {
        case .identity: return x
        case .relu: return x.map(Elementwise.ReLU.self)
        case .tanh: return x.map(Elementwise.Tanh.self)
        case .sigmoid: return x.map(Elementwise.Sigmoid.self)
        case .silu: return x.map(Elementwise.SiLU.self)
        case .gelu: return x.map(Elementwise.GELU.self)
        case .softplus: return x.map(Elementwise.Softplus.self)
        }
    }
}

extension Activation {
    /// Applies `f` in place and returns `f′` at the input: the floats of `callAsFunction` then
    /// `derivative(input:output:)` on a tape that does not record. SiLU, the flows' activation, in
    /// one pass (sigmoid once, `x · s` as `Elementwise.SiLU`, then `s + x · s · (1 − s)` in
    /// `derivative`'s order) instead of six passes and their tensors; the others through those ops.
    public func applyReturningDerivative(to x: inout Tensor) -> Tensor {
        guard self == .silu else {
            let tape = Tape(recording: false)
            let (input, output) = (tape.constant(x), self(tape.constant(x)))
            x = output.value
            return derivative(input: input, output: output).value
        }
        let (rows, cols) = (x.rows, x.cols)
        return x.scalars.withUnsafeMutableBufferPointer { values in
            Tensor(rows: rows, cols: cols) { slopes, count in
                let pointer = values.baseAddress!
                for index in 0..<count {
                    let pre = pointer[index]
                    let s = Elementwise.Sigmoid.apply(pre)
                    pointer[index] = pre * s
                    slopes[index] = Elementwise.SiLUDerivative.apply(pre, sigmoid: s)
                }
            }
        }
    }
}
