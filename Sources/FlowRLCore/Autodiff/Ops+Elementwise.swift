/// Differentiable element-wise functions. Each backward rule is one fused kernel
/// `g ⊙ f′(·)`, evaluated from the saved input or output.

/// Backward kernels: `apply(g, saved)` returns the gradient with respect to the input.
enum Derivative {
    enum Exp: BinaryFunction { static func apply(_ g: Float, _ y: Float) -> Float { g * y } }                 // saved: output
    enum Log: BinaryFunction { static func apply(_ g: Float, _ x: Float) -> Float { g / x } }
    enum Square: BinaryFunction { static func apply(_ g: Float, _ x: Float) -> Float { 2 * g * x } }
    enum SquareRoot: BinaryFunction { static func apply(_ g: Float, _ y: Float) -> Float { g / (2 * y) } }     // saved: output
    enum Tanh: BinaryFunction { static func apply(_ g: Float, _ y: Float) -> Float { g * (1 - y * y) } }     // saved: output
    enum Sigmoid: BinaryFunction { static func apply(_ g: Float, _ y: Float) -> Float { g * y * (1 - y) } }  // saved: output
    enum ReLU: BinaryFunction { static func apply(_ g: Float, _ x: Float) -> Float { x > 0 ? g : 0 } }
    enum SiLU: BinaryFunction {
        static func apply(_ g: Float, _ x: Float) -> Float {
            let s = Elementwise.Sigmoid.apply(x)
            return g * s * (1 + x * (1 - s))
        }
    }
    enum GELU: BinaryFunction {
        static func apply(_ g: Float, _ x: Float) -> Float { g * Elementwise.GELUDerivative.apply(x) }
    }
    /// The backward rule of `siluDerivative`: the gradient the five ops `s = σ(x)`, `t₁ = x·s`,
    /// `t₂ = 1 − s`, `t₁·t₂`, `s + t₁·t₂` give x on a tape, accumulated in the tape's order (the
    /// last op first; into s: g, then −g·t₁, then g·t₂·x; into x: g·t₂·s, then σ's rule).
    enum SiLUDerivative: BinaryFunction {
        static func apply(_ g: Float, _ x: Float) -> Float {
            let s = Elementwise.Sigmoid.apply(x)
            let (t1, t2) = (x * s, 1 - s)
            let gs = (g + -(g * t1)) + g * t2 * x
            return g * t2 * s + Sigmoid.apply(gs, s)
        }
    }
    enum Softplus: BinaryFunction { static func apply(_ g: Float, _ x: Float) -> Float { g * Elementwise.Sigmoid.apply(x) } }
    enum LogSigmoid: BinaryFunction { static func apply(_ g: Float, _ x: Float) -> Float { g * Elementwise.Sigmoid.apply(-x) } }
    enum Erf: BinaryFunction {
        static func apply(_ g: Float, _ x: Float) -> Float { g * (2 / Float.pi.squareRoot()) * exp(-x * x) }
    }
    enum Sin: BinaryFunction { static func apply(_ g: Float, _ x: Float) -> Float { g * cos(x) } }
    enum Cos: BinaryFunction { static func apply(_ g: Float, _ x: Float) -> Float { -g * sin(x) } }
}

extension Elementwise {
    /// `x · Φ(x)` with Φ the standard normal CDF: PyTorch's exact (erf) GELU.
    public enum GELU: UnaryFunction {
        @inlinable public static func apply(_ x: Float) -> Float { 0.5 * x * (1 + erf(x * 0.70710678118654752)) }
    }
    /// `Φ(x) + x φ(x)`, the derivative of GELU.
    public enum GELUDerivative: UnaryFunction {
        @inlinable public static func apply(_ x: Float) -> Float {
            0.5 * (1 + erf(x * 0.70710678118654752)) + x * 0.39894228040143268 * exp(-0.5 * x * x)
        }
    }
    /// `s + x · s · (1 − s)` with `s = sigmoid(x)`: the derivative of SiLU.
    public enum SiLUDerivative: UnaryFunction {
        @inlinable public static func apply(_ x: Float) -> Float { apply(x, sigmoid: Sigmoid.apply(x)) }
        /// The same, given `s = sigmoid(x)` already computed (a pass that also needs SiLU itself).
        @inlinable public static func apply(_ x: Float, sigmoid s: Float) -> Float { s + x * s * (1 - s) }
    }
    /// `x · sigmoid(x)`.
    public enum SiLU: UnaryFunction { @inlinable public static func apply(_ x: Float) -> Float { x * Sigmoid.apply(x) } }
    /// `log sigmoid(x) = −softplus(−x)`, stable for large |x|.
    public enum LogSigmoid: UnaryFunction { @inlinable public static func apply(_ x: Float) -> Float { -Softplus.apply(-x) } }
    public enum Sin: UnaryFunction { @inlinable public static func apply(_ x: Float) -> Float { sin(x) } }
    public enum Cos: UnaryFunction { @inlinable public static func apply(_ x: Float) -> Float { cos(x) } }
}

extension Variable {
    /// Applies `F` and records a backward rule `D(g, saved)`, where `saved` is the input or,
    /// when `savesOutput`, the output (cheaper for exp, tanh, sigmoid, sqrt).
    private func unary<F: UnaryFunction, D: BinaryFunction>(_: F.Type, _: D.Type, savesOutput: Bool = false) -> Variable {
        let input = value
        let out = input.map(F.self)
        let saved = savesOutput ? out : input
        return tape.record(out, tracked: isTracked) { [node] g, tape in
            tape.accumulate(Tensor.zip(g, saved, D.self), into: node)
        }
    }

    /// `eˣ`.
    public func exp() -> Variable { unary(Elementwise.Exp.self, Derivative.Exp.self, savesOutput: true) }
    /// `log x` (natural).
    public func log() -> Variable { unary(Elementwise.Log.self, Derivative.Log.self) }
    /// `x²`.
    public func squared() -> Variable { unary(Elementwise.Square.self, Derivative.Square.self) }
    /// `√x`.
    public func squareRoot() -> Variable { unary(Elementwise.SquareRoot.self, Derivative.SquareRoot.self, savesOutput: true) }
    /// `tanh x`.
    public func tanh() -> Variable { unary(Elementwise.Tanh.self, Derivative.Tanh.self, savesOutput: true) }
    /// `1 / (1 + e⁻ˣ)`.
    public func sigmoid() -> Variable { unary(Elementwise.Sigmoid.self, Derivative.Sigmoid.self, savesOutput: true) }
    /// `max(x, 0)`; the gradient at 0 is 0, as in PyTorch.
    public func relu() -> Variable { unary(Elementwise.ReLU.self, Derivative.ReLU.self) }
    /// `x · sigmoid(x)` (SiLU / swish).
    public func silu() -> Variable { unary(Elementwise.SiLU.self, Derivative.SiLU.self) }
    /// SiLU's derivative `s + x · s · (1 − s)`, `s = sigmoid(x)`, as one op with the floats of
    /// those five ops both ways (`Derivative.SiLUDerivative`): one pass and one node where they
    /// take five of each, for the exact divergence, which differentiates the slopes.
    public func siluDerivative() -> Variable { unary(Elementwise.SiLUDerivative.self, Derivative.SiLUDerivative.self) }
    /// `x · Φ(x)` (exact GELU).
    public func gelu() -> Variable { unary(Elementwise.GELU.self, Derivative.GELU.self) }
    /// `log(1 + eˣ)`.
    public func softplus() -> Variable { unary(Elementwise.Softplus.self, Derivative.Softplus.self) }
    /// `log sigmoid(x)`.
    public func logSigmoid() -> Variable { unary(Elementwise.LogSigmoid.self, Derivative.LogSigmoid.self) }
    /// The error function `erf x`.
    public func erf() -> Variable { unary(Elementwise.Erf.self, Derivative.Erf.self) }
    /// `sin x`.
    public func sin() -> Variable { unary(Elementwise.Sin.self, Derivative.Sin.self) }
    /// `cos x`.
    public func cos() -> Variable { unary(Elementwise.Cos.self, Derivative.Cos.self) }

    /// `min(max(x, lower), upper)`; the gradient passes where `lower ≤ x ≤ upper`, as in PyTorch.
    public func clamped(lower: Float, upper: Float) -> Variable {
        precondition(lower <= upper, "clamped: lower \(lower) > upper \(upper)")
        let input = value
        let out = Tensor(rows: input.rows, cols: input.cols) { o, count in
            input.scalars.withUnsafeBufferPointer { x in
                for index in 0..<count { o[index] = Swift.min(Swift.max(x[index], lower), upper) }
            }
        }
        return tape.record(out, tracked: isTracked) { [node] g, tape in
            let gx = Tensor(rows: g.rows, cols: g.cols) { o, count in
                g.scalars.withUnsafeBufferPointer { gp in
                    input.scalars.withUnsafeBufferPointer { x in
                        for index in 0..<count { o[index] = (x[index] >= lower && x[index] <= upper) ? gp[index] : 0 }
                    }
                }
            }
            tape.accumulate(gx, into: node)
        }
    }
}

/// Element-wise minimum with broadcasting; the gradient goes to `a` where `a ≤ b`, else to `b`.
public func minimum(_ a: Variable, _ b: Variable) -> Variable {
    precondition(a.tape === b.tape, "minimum: operands are on different tapes")
    let (av, bv) = (a.value, b.value)
    let out = Tensor.zip(av, bv, Elementwise.Minimum.self)
    return a.tape.record(out, tracked: a.isTracked || b.isTracked) { g, tape in
        if a.isTracked {
            let mask = Tensor.zip(av, bv, Elementwise.IsLessOrEqual.self)
            tape.accumulate(Tensor.zip(g, mask, Elementwise.Multiply.self).summed(toRows: av.rows, cols: av.cols), into: a.node)
        }
        if b.isTracked {
            let mask = Tensor.zip(av, bv, Elementwise.IsGreater.self)
            tape.accumulate(Tensor.zip(g, mask, Elementwise.Multiply.self).summed(toRows: bv.rows, cols: bv.cols), into: b.node)
        }
    }
}
