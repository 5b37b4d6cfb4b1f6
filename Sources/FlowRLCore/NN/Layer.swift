/// Something with trainable parameters, listed explicitly in a fixed order (no reflection),
/// so that optimisers, copies, Polyak averaging and checkpoints all see the same sequence.
public protocol Layer: AnyObject {
    /// Every trainable parameter, always in the same order.
    var parameters: [Parameter] { get }
}

/// A layer that can carry forward-mode tangents along with its output.
///
/// `tangents` stacks `k` input directions batch-major: `[k · batch, inputSize]`, row
/// `j · batch + b` being direction `j` at sample `b`. The result stacks the matching output
/// tangents `J · direction` the same way. Everything is built from differentiable ops, so a
/// quantity made from tangents (a divergence) can itself be differentiated by the tape.
public protocol TangentPropagating {
    func forward(_ x: Variable, tangents: Variable) -> (output: Variable, tangents: Variable)
}

extension Layer {
    /// Total number of trainable scalars.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// Sets every parameter's gradient to zero.
    public func zeroGradients() {
        for parameter in parameters { parameter.zeroGradient() }
    }

    /// Copies every parameter value from `source`, which must have the same shapes in the same order.
    public func copyParameters(from source: some Layer) {
        let (target, origin) = (parameters, source.parameters)
        precondition(Self.sameShapes(target, origin), "copyParameters: the layers differ in shape")
        for (t, o) in zip(target, origin) { t.value = o.value }
    }

    /// Polyak averaging towards `source`: `θ ← (1 − rate) · θ + rate · θ_source` (how a target
    /// or lagged copy of a network follows it).
    public func polyakUpdate(towards source: some Layer, rate: Float) {
        let (target, origin) = (parameters, source.parameters)
        precondition(Self.sameShapes(target, origin), "polyakUpdate: the layers differ in shape")
        for (t, o) in zip(target, origin) {  // one pass into fresh storage (see `Tensor.rewrite`)
            o.value.scalars.withUnsafeBufferPointer { source in
                let s = source.baseAddress!
                t.value.rewrite { old, new, count in
                    for index in 0..<count { new[index] = (1 - rate) * old[index] + rate * s[index] }
                }
            }
        }
    }

    private static func sameShapes(_ a: [Parameter], _ b: [Parameter]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.value.hasShape(of: $1.value) }
    }
}
