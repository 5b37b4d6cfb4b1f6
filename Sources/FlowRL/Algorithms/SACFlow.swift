/// SAC Flow (arXiv:2509.25756; docs/algorithms.md, "SAC Flow"): a flow policy with a
/// noise-augmented rollout (`NoiseAugmentedFlowPolicy`, Flow-G, Flow-T or plain MLP velocity)
/// trained end to end by soft actor-critic (`SoftActorCriticStep`); `pretrain` is flow matching on
/// the velocity field; `bc_coef` adds the proximity term `λ · mean ‖a_π − a_buffer‖²`.
public final class SACFlow: OffPolicyAgent {
    /// The name it is created by.
    public static let algorithm = "sac_flow"
    /// One line for the schema and Python's docstring.
    public static let summary = "SAC Flow: a flow policy with learned noise at every rollout step, trained end to end by soft actor-critic."

    /// SAC Flow's own keys (Python keyword = JSON key in snake_case); the critic, replay,
    /// temperature and schedule keys are the shared groups', with SAC's defaults.
    public struct Options: AlgorithmOptions {
        public var velocity = FlowVelocityKind.gated
        public var flowSteps = 4
        public var hiddenSizes = [256, 256]
        public var activation = Activation.silu
        public var sigmaHiddenSizes = [256]
        public var decoderWidth = 64
        public var decoderLayers = 2
        public var decoderHeads = 4
        public var timeEmbeddingSize = 16
        public var bcCoef: Float = 0

        public init() {}

        /// A critic, α and the Python loop's schedule.
        public static var groups: ConfigurationGroups { [.critic, .temperature, .trainingLoop] }
        /// As SAC: one learning rate unless the critic's is given.
        public static var followingKeys: [String: String] { ["critic_learning_rate": "learning_rate"] }

        public static var keys: [ConfigKey<Self>] {
            [.choice("velocity", \.velocity, "Velocity field: \"gated\" (Flow-G), \"decoder\" (Flow-T, attention) or \"mlp\" (plain)."),
             .integer("flow_steps", \.flowSteps, in: 1...100, "Rollout steps K of the flow."),
             .layerSizes("hidden_sizes", \.hiddenSizes, "Hidden widths of the velocity MLPs (Flow-G's gate and candidate, the plain field)."),
             .choice("activation", \.activation, "Activation of those MLPs (Flow-T's decoder uses GELU whatever this says).")
                .addedLater(legacyValue: .string("silu")),
             .layerSizes("sigma_hidden_sizes", \.sigmaHiddenSizes, "Hidden widths of the state-only network giving the rollout's log σ_k."),
             .integer("decoder_width", \.decoderWidth, in: 1...4096, "Flow-T's token width (a multiple of decoder_heads).")
                .addedLater(legacyValue: .integer(64)),
             .integer("decoder_layers", \.decoderLayers, in: 1...64, "Flow-T's decoder layers.")
                .addedLater(legacyValue: .integer(2)),
             .integer("decoder_heads", \.decoderHeads, in: 1...64, "Flow-T's attention heads.")
                .addedLater(legacyValue: .integer(4)),
             .timeEmbeddingSize(\.timeEmbeddingSize),
             .number("bc_coef", \.bcCoef, in: 0...1e6, "λ of the proximity term λ · mean ‖a_π − a_buffer‖² (0 online from scratch).")]
        }

        /// The keys' ranges, then `decoder_width` a multiple of `decoder_heads`.
        public func validate() throws {
            try validateKeys()
            guard decoderWidth % decoderHeads == 0 else {
                throw FlowRLError.invalidArgument("config key 'decoder_width' (\(decoderWidth)) must be a multiple of 'decoder_heads' (\(decoderHeads))")
            }
        }

        var decoderShape: DecoderShape { DecoderShape(width: decoderWidth, layers: decoderLayers, heads: decoderHeads) }
    }

    /// The options composed with the shared groups.
    public typealias Configuration = OffPolicyConfiguration<Options>

    /// Draws the noise-augmented flow from the seed, then the shared core (critic, α, replay).
    public init(configurationJSON: String?, observationSize: Int, actionSize: Int) throws {
        let (configuration, seeded) = try Self.start(configurationJSON)
        var generator = seeded
        let options = configuration.options
        let flow = NoiseAugmentedFlowPolicy(kind: options.velocity, observationSize: observationSize, actionSize: actionSize,
                                        steps: options.flowSteps, hiddenSizes: options.hiddenSizes, activation: options.activation,
                                        sigmaHiddenSizes: options.sigmaHiddenSizes, embeddingSize: options.timeEmbeddingSize,
                                        decoderShape: options.decoderShape, generator: &generator)
        self.flow = flow
        self.configuration = configuration
        (core, actorStep) = try SoftActorCriticStep.build(actor: flow, configuration: configuration, observationSize: observationSize,
                                                          actionSize: actionSize, proximityCoefficient: options.bcCoef,
                                                          generator: generator)
    }

    /// The configuration it was built from.
    public let configuration: Configuration
    /// The actor.
    public let flow: NoiseAugmentedFlowPolicy
    /// Replay, critic, α, generator, counters.
    public let core: OffPolicyCore
    /// The soft actor-critic update and actor loss, with the actor's optimiser.
    public let actorStep: SoftActorCriticStep

    /// The flow, its σ network or Flow-T's decoder, run through its whole rollout.
    public static func actorMemory(_ configuration: Configuration, observationSize: Int, actionSize: Int) -> MemoryEstimate {
        let options = configuration.options
        let flow = NoiseAugmentedFlowPolicy.estimate(
            kind: options.velocity, observationSize: observationSize, actionSize: actionSize, steps: options.flowSteps,
            hiddenSizes: options.hiddenSizes, sigmaHiddenSizes: options.sigmaHiddenSizes,
            embeddingSize: options.timeEmbeddingSize, decoderShape: options.decoderShape)
        let keys = options.velocity == .decoder ? ["decoder_width", "decoder_layers", "flow_steps"]
            : ["hidden_sizes", "sigma_hidden_sizes", "flow_steps"]
        return MemoryEstimate.actor(parameters: flow.parameters, units: flow.units, keys: keys, batchSize: configuration.replay.batchSize)
    }

    /// `SoftActorCriticStep.run`.
    public func trainStep(_ step: OffPolicyCore.UpdateStep, metrics: inout OffPolicyCore.Metrics) {
        actorStep.run(step, metrics: &metrics)
    }

    /// Flow matching of the velocity field on demonstrations (`conditionalFlowMatchingLoss`; Flow-T's
    /// `μ_v`; the σ networks are not trained by it).
    public func pretrain(observations: Tensor, actions: Tensor, steps: Int) -> [String: Double] {
        let loss = core.pretrain(observations: observations, actions: actions, steps: steps, optimizer: actorStep.optimizer) { s, a, tape, generator in
            conditionalFlowMatchingLoss(observations: s, actions: a, times: 0...1, tape: tape, generator: &generator) { s, x, t in
                flow.velocity(observations: s, x: x, times: t)
            }
        }
        return ["pretrain/flow_matching_loss": loss]
    }
}
