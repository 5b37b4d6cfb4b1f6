/// Adam (Kingma & Ba, 2015) with bias correction, and AdamW's decoupled weight decay
/// (Loshchilov & Hutter, 2019), matching `torch.optim.Adam` / `torch.optim.AdamW`:
///
///     θ ← θ − lr · λ · θ                               (AdamW only, λ = weightDecay)
///     m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²
///     θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
public final class Adam {
    /// The parameters this optimiser updates, in order.
    public let parameters: [Parameter]
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    /// Decoupled weight decay λ (0 gives plain Adam).
    public let weightDecay: Float
    /// Number of steps taken.
    public private(set) var step: Int = 0
    /// The largest step count: 2⁵³, exact as a double (the upper layer's counters stop at the
    /// same limit). Both bias corrections are exactly 1 long before it.
    public static let stepLimit = 1 << 53
    /// First and second moment estimates, one per parameter (saved in checkpoints).
    public private(set) var firstMoments: [Tensor]
    public private(set) var secondMoments: [Tensor]

    public init(parameters: [Parameter], learningRate: Float = 3e-4, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        firstMoments = parameters.map { Tensor(rows: $0.value.rows, cols: $0.value.cols) }
        secondMoments = firstMoments
    }

    /// One update from the parameters' current gradients (which it leaves in place).
    public func update() {
        // The count stops at `stepLimit`, where both bias corrections are exactly 1
        // (they are from step ~10⁶ on), so it changes no value and every saved step reads back.
        step = min(step + 1, Adam.stepLimit)
        let correction1 = 1 - pow(Double(beta1), Double(step))
        let correction2 = 1 - pow(Double(beta2), Double(step))
        let stepSize = Float(Double(learningRate) / correction1)
        let rootCorrection2 = Float(correction2.squareRoot())
        let decay = weightDecay != 0 ? 1 - learningRate * weightDecay : 1
        // Each new value goes to fresh storage (`rewrite`), so a state captured for roll-back keeps
        // the old values without the copy an in-place write would make first.
        for index in parameters.indices {
            let parameter = parameters[index]
            parameter.gradient.scalars.withUnsafeBufferPointer { g in
                parameter.value.rewrite { oldP, p, count in
                    firstMoments[index].rewrite { oldM, m, _ in
                        secondMoments[index].rewrite { oldV, v, _ in
                            Adam.kernel(parameters: (oldP, p), gradients: g.baseAddress!, first: (oldM, m), second: (oldV, v),
                                        count: count, decay: decay, beta1: beta1, beta2: beta2,
                                        stepSize: stepSize, rootCorrection2: rootCorrection2, epsilon: epsilon)
                        }
                    }
                }
            }
        }
    }

    /// The element loop of `update`. Its constants arrive as arguments rather than captured
    /// variables so the compiler keeps them in registers and vectorises the loop.
    private static func kernel(parameters p: (old: UnsafePointer<Float>, new: UnsafeMutablePointer<Float>),
                               gradients g: UnsafePointer<Float>,
                               first m: (old: UnsafePointer<Float>, new: UnsafeMutablePointer<Float>),
                               second v: (old: UnsafePointer<Float>, new: UnsafeMutablePointer<Float>), count: Int,
                               decay: Float, beta1: Float, beta2: Float, stepSize: Float, rootCorrection2: Float,
                               epsilon: Float) {
        for i in 0..<count {
            let gi = g[i]
            let mi = beta1 * m.old[i] + (1 - beta1) * gi
            let vi = beta2 * v.old[i] + (1 - beta2) * gi * gi
            m.new[i] = mi
            v.new[i] = vi
            p.new[i] = p.old[i] * decay - stepSize * mi / (vi.squareRoot() / rootCorrection2 + epsilon)
        }
    }

    /// Sets every parameter's gradient to zero.
    public func zeroGradients() {
        for parameter in parameters { parameter.zeroGradient() }
    }

    /// Restores moments and step count (from a checkpoint); shapes must match the parameters.
    public func restore(step: Int, firstMoments: [Tensor], secondMoments: [Tensor]) throws {
        guard step >= 0, firstMoments.count == parameters.count, secondMoments.count == parameters.count,
              zip(parameters, zip(firstMoments, secondMoments)).allSatisfy({
                  $0.value.hasShape(of: $1.0) && $0.value.hasShape(of: $1.1)
              }) else {
            throw FlowRLError.invalidArgument("Adam.restore: moments do not match the parameters' shapes")
        }
        if let problem = Adam.checkState(step: UInt64(step), firstMoments: firstMoments, secondMoments: secondMoments,
                                         names: ("step", { "first moment \($0)" }, { "second moment \($0)" })) {
            throw FlowRLError.invalidArgument("Adam.restore: \(problem)")
        }
        assign(step: step, firstMoments: firstMoments, secondMoments: secondMoments)
    }

    /// What is wrong with a stored optimiser state, naming the entry, or nil: the step must be at
    /// most `stepLimit` (what `update` can reach), first moments finite, second
    /// moments finite and ≥ 0 (a negative one makes √v NaN at the next update).
    package static func checkState(step: UInt64, firstMoments: [Tensor], secondMoments: [Tensor],
                           names: (step: String, first: (Int) -> String, second: (Int) -> String)) -> String? {
        guard step <= UInt64(Adam.stepLimit) else {
            return "optimiser step '\(names.step)' is \(step), above the limit 2^53 = \(Adam.stepLimit)"
        }
        for (index, first) in firstMoments.enumerated() where !first.isFinite {
            return "Adam first moment '\(names.first(index))' is not finite"
        }
        for (index, second) in secondMoments.enumerated() where !second.scalars.allSatisfy({ $0 >= 0 && $0.isFinite }) {
            return "Adam second moment '\(names.second(index))' has a negative or non-finite value"
        }
        return nil
    }

    /// Sets moments and step already checked against the parameters and by `checkState` (a
    /// checkpoint's restorer checks everything first, then assigns).
    package func assign(step: Int, firstMoments: [Tensor], secondMoments: [Tensor]) {
        self.step = step
        self.firstMoments = firstMoments
        self.secondMoments = secondMoments
    }
}

/// Scales all gradients together so that their global L2 norm is at most `maxNorm`
/// (`torch.nn.utils.clip_grad_norm_`: factor `maxNorm / (norm + 1e-6)` when below 1).
/// Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ parameters: [Parameter], maxNorm: Float) -> Float {
    var total = 0.0
    for parameter in parameters {
        parameter.gradient.scalars.withUnsafeBufferPointer { g in
            for value in g { total += Double(value) * Double(value) }
        }
    }
    let norm = Float(total.squareRoot())
    let factor = maxNorm / (norm + 1e-6)
    if factor < 1 {
        for parameter in parameters { parameter.gradient.scale(by: factor) }
    }
    return norm
}
