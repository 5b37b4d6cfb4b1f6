#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Soft actor-critic with a Gaussian policy (`SquashedGaussianPolicy`) and Stable-Baselines3's
/// SAC defaults: the like-for-like baseline for flowrl's flow-policy algorithms. Its update is
/// `SoftActorCriticAgent.update`; `pretrain` is behaviour cloning by maximum likelihood.
public final class SAC: SoftActorCriticAgent, Agent {
    public static let algorithm = "sac"

    /// Hyperparameters (Python keyword = JSON key in snake_case); defaults as Stable-Baselines3's SAC.
    public struct Configuration: AgentConfiguration {
        public var hiddenSizes = [256, 256]
        public var criticHiddenSizes = [256, 256]
        public var learningRate: Float = 3e-4
        public var batchSize = 256
        public var bufferSize = 1_000_000
        public var gamma: Float = 0.99
        /// Polyak rate τ of the critic targets.
        public var criticTau: Float = 0.005
        /// α (SB3's `ent_coef`), fixed or "auto".
        public var alpha = AutoOrNumber.auto
        public var initialAlpha: Float = 1
        /// "auto" means −d.
        public var targetEntropy = AutoOrNumber.auto
        public var learningStarts = 100
        public var trainFreq = 1
        public var gradientSteps = 1
        /// Updates between critic-target updates.
        public var targetUpdateInterval = 1
        /// Critic updates per actor and α update.
        public var policyDelay = 1
        public var seed: UInt64 = 0

        public init() {}

        public func validate() throws {
            try ConfigCheck.layerSizes(hiddenSizes, "hidden_sizes")
            try softActorCriticSettings.validate()
            try ConfigCheck.inRange(learningStarts, 0...1_000_000_000, "learning_starts")
            try ConfigCheck.inRange(trainFreq, 1...1_000_000, "train_freq")
            try ConfigCheck.inRange(gradientSteps, 1...1_000_000, "gradient_steps")
        }

        var softActorCriticSettings: SoftActorCriticSettings {
            SoftActorCriticSettings(criticHiddenSizes: criticHiddenSizes, learningRate: learningRate, batchSize: batchSize,
                                    bufferSize: bufferSize, gamma: gamma, criticTau: criticTau, alpha: alpha,
                                    initialAlpha: initialAlpha, targetEntropy: targetEntropy,
                                    targetUpdateInterval: targetUpdateInterval, policyDelay: policyDelay, proximityCoefficient: 0)
        }
    }

    public let configuration: Configuration
    public let gaussian: SquashedGaussianPolicy

    public init(configurationJSON: String?, observationSize: Int, actionSize: Int) throws {
        let configuration = try Configuration.decode(json: configurationJSON, algorithm: Self.algorithm)
        self.configuration = configuration
        var generator = RandomGenerator(seed: configuration.seed)
        gaussian = SquashedGaussianPolicy(observationSize: observationSize, actionSize: actionSize,
                                          hiddenSizes: configuration.hiddenSizes, generator: &generator)
        try super.init(observationSize: observationSize, actionSize: actionSize, actor: gaussian,
                       settings: configuration.softActorCriticSettings, generator: &generator)
    }

    public static func memoryEstimate(configurationJSON: String?, observationSize: Int, actionSize: Int) throws -> MemoryEstimate {
        let configuration = try Configuration.decode(json: configurationJSON, algorithm: algorithm)
        let trunk = [observationSize] + configuration.hiddenSizes
        let heads = 2 * MemoryEstimate.linear(configuration.hiddenSizes.last!, actionSize)   // μ and log σ
        return configuration.softActorCriticSettings.memoryEstimate(
            actorParameters: MemoryEstimate.mlp(trunk) + heads, actorUnits: MemoryEstimate.units(trunk) + Double(4 * actionSize),
            actorKeys: ["hidden_sizes"], observationSize: observationSize, actionSize: actionSize)
    }

    public var configurationJSON: String { configuration.jsonString() }

    /// Behaviour cloning by maximum likelihood: Adam steps on `−mean log π(a|s)` over minibatches
    /// of demonstrations, with `u = atanh(clip(a, ±(1 − 1e-3)))` the pre-squash point of `a`.
    public func pretrain(observations: Tensor, actions: Tensor, steps: Int) -> [String: Double] {
        let loss = trainOnMinibatches(observations: observations, actions: actions, steps: steps,
                                      batchSize: configuration.batchSize, generator: &generator) { s, a, _ in
            tape.reset()
            let (mu, logSigma) = gaussian.distribution(observations: tape.constant(s))
            let u = tape.constant(a.map(ClippedArctanh.self))
            let standardized = (u - mu) / logSigma.exp()
            let logDensity = (standardized.squared() * -0.5 - logSigma).sumOfEachRow() - 0.5 * Float(actionSize) * log(2 * Float.pi)
            let squashed = tape.constant(u.value.map(Elementwise.Tanh.self))
            let loss = -(logDensity - (1 + 1e-6 - squashed.squared()).log().sumOfEachRow()).mean()
            actorOptimizer.zeroGradients()
            tape.backward(from: loss)
            actorOptimizer.update()
            return loss.value.scalar
        }
        progress.pretrainSteps += steps
        return ["pretrain/negative_log_likelihood": loss]
    }
}

extension SoftActorCriticSettings {
    /// Range checks of the shared keys.
    func validate() throws {
        try ConfigCheck.layerSizes(criticHiddenSizes, "critic_hidden_sizes")
        try ConfigCheck.inRange(learningRate, 1e-8...1, "learning_rate")
        try ConfigCheck.inRange(batchSize, 1...1_000_000, "batch_size")
        try ConfigCheck.inRange(bufferSize, 1...100_000_000, "buffer_size")
        try ConfigCheck.inRange(gamma, 0...1, "gamma")
        try ConfigCheck.inRange(criticTau, 0...1, "critic_tau")
        if case .value(let value) = alpha { try ConfigCheck.inRange(value, 1e-8...1e8, "alpha") }
        try ConfigCheck.inRange(initialAlpha, 1e-8...1e8, "initial_alpha")
        if case .value(let value) = targetEntropy { try ConfigCheck.finite(value, "target_entropy") }
        try ConfigCheck.inRange(targetUpdateInterval, 1...1_000_000, "target_update_interval")
        try ConfigCheck.inRange(policyDelay, 1...1_000_000, "policy_delay")
        try ConfigCheck.inRange(proximityCoefficient, 0...1e6, "bc_coef")
    }
}
