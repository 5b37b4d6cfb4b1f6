/// Behaviour cloning with a flow policy: flow matching on demonstrations (`pretrain`) and on the
/// replay buffer's `(s, a)` pairs (`update`), sampling with the Euler flow (`act`).
///
/// The simplest algorithm on the shared core: it has no critic and no temperature and ignores
/// rewards, so `update` imitates whatever policy produced the stored transitions.
public final class FlowBehaviorCloning: OffPolicyAgent {
    /// The name it is created by.
    public static let algorithm = "flow_bc"
    /// One line for the schema and Python's docstring.
    public static let summary = "Behaviour cloning with a flow policy: flow matching on demonstrations and on the replay buffer."

    /// FlowBC's own keys (Python keyword = JSON key in snake_case); `learning_rate`, `seed`,
    /// `batch_size` and `buffer_size` are the shared groups'.
    public struct Options: AlgorithmOptions, VelocityNetworkOptions {
        public var hiddenSizes = [256, 256]
        public var activation = Activation.silu
        public var flowSteps = 10
        public var timeEmbeddingSize = 16

        public init() {}

        /// No critic, no α, no schedule keys (the Python loop's defaults apply).
        public static var groups: ConfigurationGroups { [] }

        public static var keys: [ConfigKey<Self>] {
            [.integer("flow_steps", \.flowSteps, in: 1...1000, "Euler steps N of the flow.")] + ConfigKey<Self>.velocityNetwork
        }
    }

    /// The options composed with the shared groups.
    public typealias Configuration = OffPolicyConfiguration<Options>

    /// Draws the flow policy from the seed, then the shared core (replay only: no critic).
    public init(configurationJSON: String?, observationSize: Int, actionSize: Int) throws {
        let (configuration, seeded) = try Self.start(configurationJSON)
        var generator = seeded
        let options = configuration.options
        let policy = FlowPolicy(options, observationSize: observationSize, actionSize: actionSize, separateBlocks: false,
                                generator: &generator)
        let optimizer = Adam(parameters: policy.parameters, learningRate: configuration.common.learningRate)
        self.policy = policy
        self.optimizer = optimizer
        self.configuration = configuration
        core = try OffPolicyCore(configuration: configuration, observationSize: observationSize, actionSize: actionSize,
                                 policy: policy, networks: [("policy", policy)], optimizers: [("policy_optimizer", optimizer)],
                                 generator: generator)
    }

    /// The configuration it was built from.
    public let configuration: Configuration
    /// The flow policy that acts and learns.
    public let policy: FlowPolicy
    let optimizer: Adam
    /// Replay, generator, counters (no critic).
    public let core: OffPolicyCore

    /// The flow policy; a flow-matching step passes each sample once through the velocity field.
    public static func actorMemory(_ configuration: Configuration, observationSize: Int, actionSize: Int) -> MemoryEstimate {
        let policy = FlowPolicy.estimate(observationSize: observationSize, actionSize: actionSize,
                                         steps: configuration.options.flowSteps, hiddenSizes: configuration.options.hiddenSizes,
                                         embeddingSize: configuration.options.timeEmbeddingSize, separateBlocks: false)
        return MemoryEstimate(parameters: policy.parameters, optimizerMoments: 2 * policy.parameters,
                              workspace: MemoryEstimate.floatsPerUnit * Double(configuration.replay.batchSize) * policy.units,
                              networkKeys: ["hidden_sizes", "time_embedding_size"], workspaceKeys: ["batch_size", "hidden_sizes"])
    }

    /// One flow-matching step on the minibatch's `(s, a)` pairs.
    public func trainStep(_ step: OffPolicyCore.UpdateStep, metrics: inout OffPolicyCore.Metrics) {
        let tape = core.tape
        tape.reset()
        let loss = policy.flowMatchingLoss(observations: step.batch.observations, actions: step.batch.actions, tape: tape,
                                           generator: &core.generator)
        optimizer.minimize(loss, on: tape)
        metrics.add("train/bc_loss", Double(loss.value.scalar))
        metrics.countActorStep()
    }

    /// Flow matching on demonstrations.
    public func pretrain(observations: Tensor, actions: Tensor, steps: Int) -> [String: Double] {
        core.pretrainFlowMatching(policy, optimizer: optimizer, observations: observations, actions: actions, steps: steps)
    }
}
