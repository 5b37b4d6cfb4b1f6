/// A trainable tensor with its accumulated gradient.
///
/// Layers own their parameters and list them explicitly; a tape refers to a parameter through
/// `Tape.parameter(_:)` and adds its gradient into `gradient` when `backward` runs.
public final class Parameter {
    /// A name for messages and checkpoints, such as `"layers.0.weight"`.
    public let name: String
    /// The current value.
    public var value: Tensor
    /// The gradient accumulated by `Tape.backward`, same shape as `value`; reset with `zeroGradient()`.
    public var gradient: Tensor

    public init(_ value: Tensor, name: String) {
        self.name = name
        self.value = value
        self.gradient = Tensor(rows: value.rows, cols: value.cols)
    }

    /// Sets the gradient to zero, reusing its storage.
    public func zeroGradient() { gradient.fill(0) }
}

/// The record of a computation for reverse-mode differentiation.
///
/// Ops on `Variable`s append a backward rule to the tape in forward order; `backward(from:)` walks
/// the rules in reverse, accumulating gradients into inputs and parameters. A tape made with
/// `recording: false` records nothing (no-grad mode): ops then only compute values.
/// A tape serves one computation; call `reset()` to reuse its storage for the next one.
public final class Tape {
    /// A backward rule: given the gradient of the node's output, accumulate into its inputs.
    /// The rule owns the gradient (no other reference exists), so it may scale it in place
    /// instead of allocating another tensor of the same size.
    public typealias BackwardRule = (_ outputGradient: inout Tensor, _ tape: Tape) -> Void

    /// Whether ops record backward rules. False means no-grad mode.
    public let isRecording: Bool

    @usableFromInline var rules: [BackwardRule?] = []
    @usableFromInline var gradients: [Tensor?] = []
    /// The parameter behind each parameter leaf, by node.
    private var parameterAtNode: [Int: Parameter] = [:]
    private var frozen: Set<ObjectIdentifier> = []
    private var hasRunBackward = false

    /// A new tape; `recording: false` gives a no-grad tape.
    public init(recording: Bool = true) {
        self.isRecording = recording
    }

    /// Forgets every recorded op, keeping the arrays' capacity for the next computation.
    public func reset() {
        rules.removeAll(keepingCapacity: true)
        gradients.removeAll(keepingCapacity: true)
        parameterAtNode.removeAll(keepingCapacity: true)
        frozen.removeAll(keepingCapacity: true)
        hasRunBackward = false
    }

    /// Treats `layer`'s parameters as constants on this tape until `reset()`: gradients still
    /// flow through the layer to its inputs (∇ₐQ(s, a) for a critic held fixed), but none are
    /// computed for the parameters themselves.
    public func freeze(_ layer: some Layer) {
        for parameter in layer.parameters { frozen.insert(ObjectIdentifier(parameter)) }
    }

    /// Number of recorded nodes (leaves and ops).
    public var nodeCount: Int { rules.count }

    // MARK: Leaves

    /// A value that is never differentiated (data, targets, or a detached result).
    public func constant(_ value: Tensor) -> Variable {
        Variable(value: value, node: -1, tape: self)
    }

    /// A differentiable input: after `backward`, `gradient(of:)` returns its gradient.
    public func input(_ value: Tensor) -> Variable {
        guard isRecording else { return constant(value) }
        return Variable(value: value, node: appendNode(nil), tape: self)
    }

    /// The value of `parameter` as a differentiable leaf; `backward` adds into `parameter.gradient`.
    public func parameter(_ parameter: Parameter) -> Variable {
        guard isRecording, frozen.isEmpty || !frozen.contains(ObjectIdentifier(parameter)) else { return constant(parameter.value) }
        let node = appendNode(nil)
        parameterAtNode[node] = parameter
        return Variable(value: parameter.value, node: node, tape: self)
    }

    // MARK: Recording

    /// Records an op's result. `rule` runs during `backward` when the result receives a gradient.
    /// When no input is differentiable (`tracked` is false) or the tape is not recording,
    /// nothing is stored and the result is a constant.
    @inlinable
    public func record(_ value: Tensor, tracked: Bool, rule: @escaping BackwardRule) -> Variable {
        guard isRecording && tracked else { return Variable(value: value, node: -1, tape: self) }
        return Variable(value: value, node: appendNode(rule), tape: self)
    }

    @usableFromInline func appendNode(_ rule: BackwardRule?) -> Int {
        precondition(!hasRunBackward, "Tape: recording after backward; call reset() first")
        rules.append(rule)
        gradients.append(nil)
        return rules.count - 1
    }

    /// Adds `gradient` to the gradient of node `node` (no-op for constants).
    @inlinable
    public func accumulate(_ gradient: Tensor, into node: Int) {
        guard node >= 0 else { return }
        if gradients[node] == nil {
            gradients[node] = gradient
        } else {
            gradients[node]!.add(gradient)
        }
    }

    /// Adds `op(a) · op(b)` to the gradient of node `node`. For a parameter leaf the product goes
    /// straight into `Parameter.gradient` (sgemm with beta = 1): no temporary of the weight's size,
    /// no zero fill and no later addition — a weight gradient per layer per backward pass.
    public func accumulateProduct(_ a: Tensor, transposeA: Bool = false, _ b: Tensor, transposeB: Bool = false,
                                  into node: Int) {
        guard node >= 0 else { return }
        if let parameter = parameterAtNode[node] {
            Tensor.gemm(a, transposeA: transposeA, b, transposeB: transposeB, beta: 1, into: &parameter.gradient)
        } else {
            accumulate(Tensor.matmul(a, transposeA: transposeA, b, transposeB: transposeB), into: node)
        }
    }

    // MARK: Backward

    /// Runs the recorded ops backwards from `output`, seeding its gradient with ones (so a
    /// non-scalar output is differentiated as the sum of its elements), or with `seed` if given.
    /// Parameter gradients are added into `Parameter.gradient`; input gradients are kept for
    /// `gradient(of:)`. A tape runs backward once; `reset()` makes it reusable.
    public func backward(from output: Variable, seed: Tensor? = nil) {
        precondition(output.tape === self, "Tape.backward: the output belongs to another tape")
        precondition(!hasRunBackward, "Tape.backward: already ran; call reset() first")
        hasRunBackward = true
        guard output.node >= 0 else { return }
        let start = seed ?? Tensor(rows: output.value.rows, cols: output.value.cols, repeating: 1)
        precondition(start.hasShape(of: output.value), "Tape.backward: seed shape differs from output")
        gradients[output.node] = start
        for node in stride(from: output.node, through: 0, by: -1) {
            guard let rule = rules[node] else { continue }  // leaves keep their gradient
            rules[node] = nil
            if var gradient = gradients[node] {
                gradients[node] = nil
                rule(&gradient, self)
            }
        }
        // In node order, so that a parameter used twice sums its gradients in the same order every run.
        for node in parameterAtNode.keys.sorted() {
            let parameter = parameterAtNode[node]!
            if let gradient = gradients[node] { parameter.gradient.add(gradient) }
        }
    }

    /// The gradient of the last `backward` output with respect to `variable` (an `input` leaf);
    /// zeros when the output did not depend on it. Parameters' gradients are in `Parameter.gradient`.
    public func gradient(of variable: Variable) -> Tensor {
        precondition(variable.tape === self, "Tape.gradient: the variable belongs to another tape")
        precondition(hasRunBackward, "Tape.gradient: call backward first")
        if variable.node >= 0, let gradient = gradients[variable.node] { return gradient }
        return Tensor(rows: variable.value.rows, cols: variable.value.cols)
    }
}

/// A tensor flowing through a computation recorded on a `Tape`.
public struct Variable {
    /// The computed value.
    public let value: Tensor
    /// Index of the node on the tape, or -1 for a constant (nothing to differentiate).
    public let node: Int
    /// The tape this value was computed on.
    public let tape: Tape

    @usableFromInline init(value: Tensor, node: Int, tape: Tape) {
        self.value = value
        self.node = node
        self.tape = tape
    }

    /// True when gradients can flow into this value.
    @inlinable public var isTracked: Bool { node >= 0 }

    /// Rows of the value.
    @inlinable public var rows: Int { value.rows }
    /// Columns of the value.
    @inlinable public var cols: Int { value.cols }

    /// The same value cut off from the graph (stop-gradient).
    public func detached() -> Variable { tape.constant(value) }
}
