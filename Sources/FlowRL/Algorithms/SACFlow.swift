/// SAC Flow (arXiv:2509.25756; docs/algorithms.md, "SAC Flow"): a flow policy with a
/// noise-augmented rollout (`NoiseAugmentedFlowPolicy`, Flow-G, Flow-T or plain MLP velocity) trained end
/// to end with soft actor-critic (`SoftActorCriticAgent.update`); `pretrain` is flow matching on
/// the velocity field; `bc_coef` adds the proximity term `λ · mean ‖a_π − a_buffer‖²`.
public final class SACFlow: SoftActorCriticAgent, Agent {
    public static let algorithm = "sac_flow"

    /// Hyperparameters (Python keyword = JSON key in snake_case).
    public struct Configuration: AgentConfiguration {
        /// "gated" (Flow-G), "decoder" (Flow-T) or "mlp".
        public var velocity = FlowVelocityKind.gated
        /// K, the rollout steps.
        public var flowSteps = 4
        public var hiddenSizes = [256, 256]
        public var sigmaHiddenSizes = [256]
        /// Flow-T's token width, decoder layers and attention heads.
        public var decoderWidth = 64
        public var decoderLayers = 2
        public var decoderHeads = 4
        public var timeEmbeddingSize = 16
        public var criticHiddenSizes = [256, 256]
        public var learningRate: Float = 3e-4
        public var batchSize = 256
        public var bufferSize = 1_000_000
        public var gamma: Float = 0.99
        public var criticTau: Float = 0.005
        public var alpha = AutoOrNumber.auto
        public var initialAlpha: Float = 1
        /// "auto" means −d (the authors' released code uses 0).
        public var targetEntropy = AutoOrNumber.auto
        /// λ of the proximity term to the replay actions (0 online from scratch).
        public var bcCoef: Float = 0
        public var learningStarts = 100
        public var trainFreq = 1
        public var gradientSteps = 1
        public var targetUpdateInterval = 1
        /// Critic updates per actor and α update.
        public var policyDelay = 1
        public var seed: UInt64 = 0

        public init() {}

        public func validate() throws {
            try ConfigCheck.inRange(flowSteps, 1...100, "flow_steps")
            try ConfigCheck.layerSizes(hiddenSizes, "hidden_sizes")
            try ConfigCheck.layerSizes(sigmaHiddenSizes, "sigma_hidden_sizes")
            try ConfigCheck.inRange(decoderWidth, 1...4096, "decoder_width")
            try ConfigCheck.inRange(decoderLayers, 1...64, "decoder_layers")
            try ConfigCheck.inRange(decoderHeads, 1...64, "decoder_heads")
            guard decoderWidth % decoderHeads == 0 else {
                throw FlowRLError.invalidArgument("config key 'decoder_width' (\(decoderWidth)) must be a multiple of 'decoder_heads' (\(decoderHeads))")
            }
            try ConfigCheck.inRange(timeEmbeddingSize, 2...1024, "time_embedding_size")
            guard timeEmbeddingSize % 2 == 0 else {
                throw FlowRLError.invalidArgument("config key 'time_embedding_size' must be even, got \(timeEmbeddingSize)")
            }
            try softActorCriticSettings.validate()
            try ConfigCheck.inRange(learningStarts, 0...1_000_000_000, "learning_starts")
            try ConfigCheck.inRange(trainFreq, 1...1_000_000, "train_freq")
            try ConfigCheck.inRange(gradientSteps, 1...1_000_000, "gradient_steps")
        }

        var softActorCriticSettings: SoftActorCriticSettings {
            SoftActorCriticSettings(criticHiddenSizes: criticHiddenSizes, learningRate: learningRate, batchSize: batchSize,
                                    bufferSize: bufferSize, gamma: gamma, criticTau: criticTau, alpha: alpha,
                                    initialAlpha: initialAlpha, targetEntropy: targetEntropy,
                                    targetUpdateInterval: targetUpdateInterval, policyDelay: policyDelay, proximityCoefficient: bcCoef)
        }
    }

    public let configuration: Configuration
    public let flow: NoiseAugmentedFlowPolicy

    public init(configurationJSON: String?, observationSize: Int, actionSize: Int) throws {
        let configuration = try Configuration.decode(json: configurationJSON, algorithm: Self.algorithm)
        self.configuration = configuration
        var generator = RandomGenerator(seed: configuration.seed)
        flow = NoiseAugmentedFlowPolicy(kind: configuration.velocity, observationSize: observationSize, actionSize: actionSize,
                                        steps: configuration.flowSteps, hiddenSizes: configuration.hiddenSizes,
                                        sigmaHiddenSizes: configuration.sigmaHiddenSizes,
                                        embeddingSize: configuration.timeEmbeddingSize,
                                        decoderShape: DecoderShape(width: configuration.decoderWidth, layers: configuration.decoderLayers,
                                                                   heads: configuration.decoderHeads),
                                        generator: &generator)
        try super.init(observationSize: observationSize, actionSize: actionSize, actor: flow,
                       settings: configuration.softActorCriticSettings, generator: &generator)
    }

    public static func memoryEstimate(configurationJSON: String?, observationSize: Int, actionSize: Int) throws -> MemoryEstimate {
        let configuration = try Configuration.decode(json: configurationJSON, algorithm: algorithm)
        let actor = NoiseAugmentedFlowPolicy.estimate(
            kind: configuration.velocity, observationSize: observationSize, actionSize: actionSize, steps: configuration.flowSteps,
            hiddenSizes: configuration.hiddenSizes, sigmaHiddenSizes: configuration.sigmaHiddenSizes,
            embeddingSize: configuration.timeEmbeddingSize,
            decoderShape: DecoderShape(width: configuration.decoderWidth, layers: configuration.decoderLayers,
                                       heads: configuration.decoderHeads))
        let keys = configuration.velocity == .decoder ? ["decoder_width", "decoder_layers", "flow_steps"]
            : ["hidden_sizes", "sigma_hidden_sizes", "flow_steps"]
        return configuration.softActorCriticSettings.memoryEstimate(
            actorParameters: actor.parameters, actorUnits: actor.units, actorKeys: keys,
            observationSize: observationSize, actionSize: actionSize)
    }

    public var configurationJSON: String { configuration.jsonString() }

    /// Flow matching of the velocity field on demonstrations (`conditionalFlowMatchingLoss`).
    public func pretrain(observations: Tensor, actions: Tensor, steps: Int) -> [String: Double] {
        let loss = trainOnMinibatches(observations: observations, actions: actions, steps: steps,
                                      batchSize: configuration.batchSize, generator: &generator) { s, a, generator in
            tape.reset()
            let loss = conditionalFlowMatchingLoss(observations: s, actions: a, times: 0...1, tape: tape, generator: &generator) { s, x, t in
                flow.velocity(observations: s, x: x, times: t)
            }
            actorOptimizer.zeroGradients()
            tape.backward(from: loss)
            actorOptimizer.update()
            return loss.value.scalar
        }
        progress.pretrainSteps += steps
        return ["pretrain/flow_matching_loss": loss]
    }
}
