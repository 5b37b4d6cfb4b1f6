/// Differentiable arithmetic: broadcasting add, subtract, multiply, divide; scalar forms;
/// matrix products. Binary ops broadcast an axis of length 1 (a `[1, n]` row over a batch,
/// a `[b, 1]` column over features, a `[1, 1]` scalar) and sum gradients back over it.

/// The gradient of a broadcast operand: `gradient` summed back to the operand's shape.
private func reduced(_ gradient: Tensor, like operand: Tensor) -> Tensor {
    gradient.summed(toRows: operand.rows, cols: operand.cols)
}

private func checkedTape(_ a: Variable, _ b: Variable, _ op: String) -> Tape {
    precondition(a.tape === b.tape, "\(op): operands are on different tapes")
    precondition(Tensor.broadcastShape(a.value, b.value) != nil,
                 "\(op): cannot broadcast \(a.rows)×\(a.cols) with \(b.rows)×\(b.cols)")
    return a.tape
}

/// `a + b` with broadcasting.
public func + (a: Variable, b: Variable) -> Variable {
    let tape = checkedTape(a, b, "add")
    let (av, bv) = (a.value, b.value)
    return tape.record(Tensor.zip(av, bv, Elementwise.Add.self), tracked: a.isTracked || b.isTracked) { g, tape in
        if a.isTracked { tape.accumulate(reduced(g, like: av), into: a.node) }
        if b.isTracked { tape.accumulate(reduced(g, like: bv), into: b.node) }
    }
}

/// `a − b` with broadcasting.
public func - (a: Variable, b: Variable) -> Variable {
    let tape = checkedTape(a, b, "subtract")
    let (av, bv) = (a.value, b.value)
    return tape.record(Tensor.zip(av, bv, Elementwise.Subtract.self), tracked: a.isTracked || b.isTracked) { g, tape in
        if a.isTracked { tape.accumulate(reduced(g, like: av), into: a.node) }
        if b.isTracked { tape.accumulate(reduced(g.map(Elementwise.Negate.self), like: bv), into: b.node) }
    }
}

/// `a ⊙ b` (element-wise) with broadcasting.
public func * (a: Variable, b: Variable) -> Variable {
    let tape = checkedTape(a, b, "multiply")
    let (av, bv) = (a.value, b.value)
    return tape.record(Tensor.zip(av, bv, Elementwise.Multiply.self), tracked: a.isTracked || b.isTracked) { g, tape in
        if a.isTracked { tape.accumulate(reduced(Tensor.zip(g, bv, Elementwise.Multiply.self), like: av), into: a.node) }
        if b.isTracked { tape.accumulate(reduced(Tensor.zip(g, av, Elementwise.Multiply.self), like: bv), into: b.node) }
    }
}

/// `a / b` (element-wise) with broadcasting.
public func / (a: Variable, b: Variable) -> Variable {
    let tape = checkedTape(a, b, "divide")
    let (av, bv) = (a.value, b.value)
    let out = Tensor.zip(av, bv, Elementwise.Divide.self)
    return tape.record(out, tracked: a.isTracked || b.isTracked) { g, tape in
        let gOverB = Tensor.zip(g, bv, Elementwise.Divide.self)
        if a.isTracked { tape.accumulate(reduced(gOverB, like: av), into: a.node) }
        if b.isTracked {  // ∂(a/b)/∂b = −(a/b)/b
            let gb = Tensor.zip(gOverB, out, Elementwise.Multiply.self).map(Elementwise.Negate.self)
            tape.accumulate(reduced(gb, like: bv), into: b.node)
        }
    }
}

/// `−x`.
public prefix func - (x: Variable) -> Variable {
    x.tape.record(x.value.map(Elementwise.Negate.self), tracked: x.isTracked) { g, tape in
        tape.accumulate(g.map(Elementwise.Negate.self), into: x.node)
    }
}

// MARK: Scalar forms

extension Variable {
    /// A constant `[1, 1]` on this variable's tape, for mixing numbers into expressions.
    func scalarConstant(_ value: Float) -> Variable { tape.constant(Tensor(scalar: value)) }
}

/// `x + c`.
public func + (x: Variable, c: Float) -> Variable { x + x.scalarConstant(c) }
/// `c + x`.
public func + (c: Float, x: Variable) -> Variable { x + x.scalarConstant(c) }
/// `x − c`.
public func - (x: Variable, c: Float) -> Variable { x + x.scalarConstant(-c) }
/// `c − x`.
public func - (c: Float, x: Variable) -> Variable { x.scalarConstant(c) - x }
/// `x · c`.
public func * (x: Variable, c: Float) -> Variable { x * x.scalarConstant(c) }
/// `c · x`.
public func * (c: Float, x: Variable) -> Variable { x * x.scalarConstant(c) }
/// `x / c`.
public func / (x: Variable, c: Float) -> Variable { x * x.scalarConstant(1 / c) }
/// `c / x`.
public func / (c: Float, x: Variable) -> Variable { x.scalarConstant(c) / x }

// MARK: Matrix products

/// The matrix product `op(a) · op(b)`, where `op` transposes when asked; transposes are BLAS
/// flags, never copies. Gradients: `∂op(a) = g · op(b)ᵀ`, `∂op(b) = op(a)ᵀ · g`.
public func matmul(_ a: Variable, transposeA: Bool = false, _ b: Variable, transposeB: Bool = false) -> Variable {
    precondition(a.tape === b.tape, "matmul: operands are on different tapes")
    let (av, bv) = (a.value, b.value)
    let out = Tensor.matmul(av, transposeA: transposeA, bv, transposeB: transposeB)
    return a.tape.record(out, tracked: a.isTracked || b.isTracked) { g, tape in
        if a.isTracked {
            if transposeA {
                tape.accumulateProduct(bv, transposeA: transposeB, g, transposeB: true, into: a.node)
            } else {
                tape.accumulateProduct(g, bv, transposeB: !transposeB, into: a.node)
            }
        }
        if b.isTracked {
            if transposeB {
                tape.accumulateProduct(g, transposeA: true, av, transposeB: transposeA, into: b.node)
            } else {
                tape.accumulateProduct(av, transposeA: !transposeA, g, into: b.node)
            }
        }
    }
}

/// The affine map of a linear layer, `x · Wᵀ + b`, fused into one sgemm: `x` is `[batch, in]`,
/// `weight` is `[out, in]` (PyTorch's layout), `bias` is `[1, out]` or absent.
public func affine(_ x: Variable, weight: Variable, bias: Variable?) -> Variable {
    affine(x, weight: weight, bias: bias, known: affineProduct(x, weight: weight, bias: bias))
}

/// `x · Wᵀ + b` recorded from its value `out`, already computed by a tape-free pass on the same
/// operands (`MLP.callAsFunction(_:replaying:)`): the node `affine` records, without the product.
public func affine(_ x: Variable, weight: Variable, bias: Variable?, known out: Tensor) -> Variable {
    x.tape.record(out, tracked: affineIsTracked(x, weight, bias)) { g, tape in
        accumulateAffineGradients(g, x: x, weight: weight, bias: bias, tape: tape)
    }
}

/// `f(x · Wᵀ + b)` as one op: f runs in place on the product, and its backward rule scales the
/// gradient it owns in place, so neither pass allocates a second batch-sized tensor (a hidden
/// layer of an MLP).
public func affine(_ x: Variable, weight: Variable, bias: Variable?, activation: Activation) -> Variable {
    var out = affineProduct(x, weight: weight, bias: bias)
    guard affineIsTracked(x, weight, bias) && x.tape.isRecording else {
        activation.apply(to: &out)
        return x.tape.constant(out)
    }
    let kept = activation.applyKeepingSlope(to: &out)
    return affine(x, weight: weight, bias: bias, activation: activation, known: out, kept: kept)
}

/// `f(x · Wᵀ + b)` recorded from its value `out` and the slope `kept` that
/// `Activation.applyKeepingSlope` kept, already computed by a tape-free pass on the same operands
/// (`MLP.callAsFunction(_:replaying:)`): the node the op above records, without the product.
public func affine(_ x: Variable, weight: Variable, bias: Variable?, activation: Activation, known out: Tensor,
                   kept: Tensor) -> Variable {
    x.tape.record(out, tracked: affineIsTracked(x, weight, bias)) { g, tape in
        activation.multiplyBySlope(&g, kept: kept)
        accumulateAffineGradients(g, x: x, weight: weight, bias: bias, tape: tape)
    }
}

private func affineIsTracked(_ x: Variable, _ weight: Variable, _ bias: Variable?) -> Bool {
    x.isTracked || weight.isTracked || (bias?.isTracked ?? false)
}

/// `x · Wᵀ + b`, checked.
private func affineProduct(_ x: Variable, weight: Variable, bias: Variable?) -> Tensor {
    precondition(x.tape === weight.tape && (bias == nil || bias!.tape === x.tape), "affine: operands are on different tapes")
    precondition(x.cols == weight.cols, "affine: input has \(x.cols) features, weight expects \(weight.cols)")
    let (xv, wv) = (x.value, weight.value)
    guard let bias else { return Tensor.matmul(xv, wv, transposeB: true) }
    precondition(bias.rows == 1 && bias.cols == weight.rows, "affine: bias must be [1, \(weight.rows)]")
    var out = bias.value.broadcast(toRows: xv.rows, cols: wv.rows)
    Tensor.gemm(xv, wv, transposeB: true, beta: 1, into: &out)
    return out
}

/// The gradients of `x · Wᵀ + b` given the output's gradient `g`.
private func accumulateAffineGradients(_ g: Tensor, x: Variable, weight: Variable, bias: Variable?, tape: Tape) {
    if x.isTracked { tape.accumulate(Tensor.matmul(g, weight.value), into: x.node) }
    if weight.isTracked { tape.accumulateProduct(g, transposeA: true, x.value, into: weight.node) }
    if let bias, bias.isTracked { tape.accumulate(g.sumOfEachColumn(), into: bias.node) }
}
