/// The entropy temperature α of soft actor-critic methods: fixed, or tuned on `log α` so that the
/// policy's entropy tracks a target (SAC; Stable-Baselines3's `ent_coef="auto"`):
/// `L(log α) = −mean(log α · (log π(a|s) + H̄))`, with `log π` treated as a constant.
public final class Temperature {
    /// `log α` as a trainable parameter (`[1, 1]`); fixed when `optimizer` is nil.
    public let logAlpha: Parameter
    public let optimizer: Adam?
    public let targetEntropy: Float

    /// `setting` is `.value(α)` for a fixed α or `.auto` to tune it from `initial`.
    public init(setting: AutoOrNumber, initial: Float = 1, targetEntropy: Float, learningRate: Float) {
        switch setting {
        case .value(let alpha):
            logAlpha = Parameter(Tensor(scalar: log(alpha)), name: "log_alpha")
            optimizer = nil
        case .auto:
            logAlpha = Parameter(Tensor(scalar: log(initial)), name: "log_alpha")
            optimizer = Adam(parameters: [logAlpha], learningRate: learningRate)
        }
        self.targetEntropy = targetEntropy
    }

    /// The current α.
    public var alpha: Float { exp(logAlpha.value.scalar) }

    /// The α loss `−log α · mean(log π + H̄)` for sampled `log π` values (whatever α's mode).
    public func loss(logProbability: Tensor) -> Float {
        -logAlpha.value.scalar * (logProbability.sum() / Float(max(1, logProbability.count)) + targetEntropy)
    }

    /// One step of the α loss from sampled `log π` values; returns the loss (0 when α is fixed).
    @discardableResult
    public func update(logProbability: Tensor) -> Float {
        guard let optimizer else { return 0 }
        let loss = self.loss(logProbability: logProbability)
        let meanShifted = logProbability.sum() / Float(max(1, logProbability.count)) + targetEntropy
        optimizer.zeroGradients()
        logAlpha.gradient = Tensor(scalar: -meanShifted)   // ∂L/∂ log α
        optimizer.update()
        return loss
    }

    /// α for the start of fine-tuning, set once pretraining on whole transitions ends (only when α
    /// is tuned; a fixed α is the user's). A value sets it; "auto" lowers it to
    /// `min(α, 0.1 · mean|r| / d)`, floored at 1e-4: the entropy bonus `α·|H|`, with `|H|` about
    /// the target's d nats, then weighs about a tenth of a step's reward. Starting at α = 1
    /// instead, entropy outweighed the reward of the 2-D task of docs/finetuning-investigation.md
    /// and pulled the pretrained policy towards maximal entropy (§3 there); the rule gives 0.011
    /// on that task, where 0.01 was measured to keep the policy.
    public func setAfterPretraining(_ setting: AutoOrNumber, meanAbsoluteReward: Float, actionSize: Int) {
        guard optimizer != nil else { return }
        let target: Float
        switch setting {
        case .value(let value): target = value
        case .auto: target = min(alpha, max(1e-4, 0.1 * meanAbsoluteReward / Float(max(actionSize, 1))))
        }
        logAlpha.value = Tensor(scalar: log(target))
    }

    public func capture(into state: inout AgentState) {
        state.tensors["temperature.log_alpha"] = logAlpha.value
        if let optimizer { state.capture(optimizer, as: "temperature_optimizer") }
    }

    public func restorer(from state: AgentState) throws -> () -> Void {
        let value = try state.tensor("temperature.log_alpha", rows: 1, cols: 1)
        guard value.isFinite else { throw FlowRLError.io("checkpoint: tensor 'temperature.log_alpha' (log α) is not finite") }
        let restoreOptimizer = try optimizer.map { try state.restorer(for: $0, as: "temperature_optimizer") }
        return { [self] in
            logAlpha.value = value
            restoreOptimizer?()
        }
    }
}
