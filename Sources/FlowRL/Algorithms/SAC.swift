/// Soft actor-critic with a Gaussian policy (`SquashedGaussianPolicy`) and Stable-Baselines3's
/// SAC defaults: the like-for-like baseline for flowrl's flow-policy algorithms (docs/algorithms.md,
/// "Gaussian SAC"). Its update is `SoftActorCriticStep`, shared with SAC Flow; `pretrain` is
/// behaviour cloning by maximum likelihood.
public final class SAC: OffPolicyAgent {
    /// The name it is created by.
    public static let algorithm = "sac"
    /// One line for the schema and Python's docstring.
    public static let summary = "Soft actor-critic with a tanh-squashed Gaussian policy and Stable-Baselines3's defaults."

    /// SAC's own keys (Python keyword = JSON key in snake_case); the shared ones are in the groups
    /// of `OffPolicyConfiguration`, with Stable-Baselines3's defaults.
    public struct Options: AlgorithmOptions {
        public var hiddenSizes = [256, 256]

        public init() {}

        /// A critic, α and the Python loop's schedule.
        public static var groups: ConfigurationGroups { [.critic, .temperature, .trainingLoop] }
        /// One learning rate for everything unless the critic's is given, as SB3's SAC (and as
        /// flowrl's SAC before `critic_learning_rate` existed).
        public static var followingKeys: [String: String] { ["critic_learning_rate": "learning_rate"] }

        public static var keys: [ConfigKey<Self>] {
            [.layerSizes("hidden_sizes", \.hiddenSizes, "Hidden widths of the policy's trunk (shared by the μ and log σ heads).")]
        }
    }

    /// The options composed with the shared groups.
    public typealias Configuration = OffPolicyConfiguration<Options>

    /// Draws the Gaussian actor from the seed, then the shared core (critic, α, replay).
    public init(configurationJSON: String?, observationSize: Int, actionSize: Int) throws {
        let (configuration, seeded) = try Self.start(configurationJSON)
        var generator = seeded
        let gaussian = SquashedGaussianPolicy(observationSize: observationSize, actionSize: actionSize,
                                              hiddenSizes: configuration.options.hiddenSizes, generator: &generator)
        self.gaussian = gaussian
        self.configuration = configuration
        (core, actorStep) = try SoftActorCriticStep.build(actor: gaussian, configuration: configuration, observationSize: observationSize,
                                                          actionSize: actionSize, proximityCoefficient: 0, generator: generator)
    }

    /// The configuration it was built from.
    public let configuration: Configuration
    /// The actor.
    public let gaussian: SquashedGaussianPolicy
    /// Replay, critic, α, generator, counters.
    public let core: OffPolicyCore
    /// The soft actor-critic update and actor loss, with the actor's optimiser.
    public let actorStep: SoftActorCriticStep

    /// The Gaussian actor: trunk, μ and log σ heads.
    public static func actorMemory(_ configuration: Configuration, observationSize: Int, actionSize: Int) -> MemoryEstimate {
        let hiddenSizes = configuration.options.hiddenSizes
        let trunk = [observationSize] + hiddenSizes
        let heads = 2 * MemoryEstimate.linear(hiddenSizes.last!, actionSize)   // μ and log σ
        return MemoryEstimate.actor(parameters: MemoryEstimate.mlp(trunk) + heads, units: MemoryEstimate.units(trunk) + Double(4 * actionSize),
                                    keys: ["hidden_sizes"], batchSize: configuration.replay.batchSize)
    }

    /// `SoftActorCriticStep.run`.
    public func trainStep(_ step: OffPolicyCore.UpdateStep, metrics: inout OffPolicyCore.Metrics) {
        actorStep.run(step, metrics: &metrics)
    }

    /// Behaviour cloning by maximum likelihood: Adam steps on `−mean log π(a|s)` over minibatches
    /// of demonstrations, with `u = atanh(clip(a, ±(1 − 1e-3)))` the pre-squash point of `a`.
    public func pretrain(observations: Tensor, actions: Tensor, steps: Int) -> [String: Double] {
        let loss = core.pretrain(observations: observations, actions: actions, steps: steps, optimizer: actorStep.optimizer) { s, a, tape, _ in
            let (mu, logSigma) = gaussian.distribution(observations: tape.constant(s))
            let u = tape.constant(a.map(ClippedArctanh.self))
            let logDensity = gaussianLogDensity(standardized: (u - mu) / logSigma.exp(), logSigma: logSigma)
            let squashed = tape.constant(u.value.map(Elementwise.Tanh.self))
            return -(logDensity - tanhSquashCorrection(squashed)).mean()
        }
        return ["pretrain/negative_log_likelihood": loss]
    }
}
