/// Behaviour cloning with a flow policy: flow matching on demonstrations (`pretrain`) and on the
/// replay buffer's `(s, a)` pairs (`update`), sampling with the Euler flow (`act`).
///
/// The simplest algorithm behind the agent interface: it has no critic and ignores rewards,
/// so `update` imitates whatever policy produced the stored transitions.
public final class FlowBehaviorCloning: FlowPolicyAgent {
    /// Hyperparameters (Python keyword = JSON key in snake_case).
    public struct Configuration: AgentConfiguration {
        /// Hidden layer widths of the velocity MLP.
        public var hiddenSizes = [256, 256]
        public var activation = Activation.silu
        /// Euler steps N of the flow.
        public var flowSteps = 10
        public var timeEmbeddingSize = 16
        public var learningRate: Float = 3e-4
        public var batchSize = 256
        /// Replay buffer capacity (transitions).
        public var bufferSize = 1_000_000
        public var seed: UInt64 = 0

        public init() {}

        public func validate() throws {
            try ConfigCheck.layerSizes(hiddenSizes, "hidden_sizes")
            try ConfigCheck.inRange(flowSteps, 1...1000, "flow_steps")
            try ConfigCheck.inRange(timeEmbeddingSize, 2...1024, "time_embedding_size")
            guard timeEmbeddingSize % 2 == 0 else {
                throw FlowRLError.invalidArgument("config key 'time_embedding_size' must be even, got \(timeEmbeddingSize)")
            }
            try ConfigCheck.finite(learningRate, "learning_rate")
            try ConfigCheck.inRange(learningRate, 1e-8...1, "learning_rate")
            try ConfigCheck.inRange(batchSize, 1...1_000_000, "batch_size")
            try ConfigCheck.inRange(bufferSize, 1...100_000_000, "buffer_size")
        }
    }

    public static let algorithm = "flow_bc"

    public let configuration: Configuration
    public let observationSize: Int
    public let actionSize: Int
    public let policy: FlowPolicy
    let optimizer: Adam
    let trainer: FlowMatchingTrainer
    public let buffer: ReplayBuffer
    public var generator: RandomGenerator
    public var progress = TrainingCounters()

    public init(configurationJSON: String?, observationSize: Int, actionSize: Int) throws {
        let configuration = try Configuration.decode(json: configurationJSON, algorithm: Self.algorithm)
        self.configuration = configuration
        self.observationSize = observationSize
        self.actionSize = actionSize
        var generator = RandomGenerator(seed: configuration.seed)
        policy = FlowPolicy(observationSize: observationSize, actionSize: actionSize, steps: configuration.flowSteps,
                            hiddenSizes: configuration.hiddenSizes, activation: configuration.activation,
                            embeddingSize: configuration.timeEmbeddingSize, separateBlocks: false,
                            generator: &generator, name: "velocity")
        optimizer = Adam(parameters: policy.parameters, learningRate: configuration.learningRate)
        trainer = FlowMatchingTrainer(policy: policy, optimizer: optimizer)
        buffer = try ReplayBuffer(capacity: configuration.bufferSize, observationSize: observationSize, actionSize: actionSize)
        self.generator = generator
    }

    public static func memoryEstimate(configurationJSON: String?, observationSize: Int, actionSize: Int) throws -> MemoryEstimate {
        let configuration = try Configuration.decode(json: configurationJSON, algorithm: algorithm)
        let policy = FlowPolicy.estimate(observationSize: observationSize, actionSize: actionSize, steps: configuration.flowSteps,
                                         hiddenSizes: configuration.hiddenSizes, embeddingSize: configuration.timeEmbeddingSize,
                                         separateBlocks: false)
        var estimate = MemoryEstimate()
        estimate.parameters = policy.parameters
        estimate.optimizerMoments = 2 * policy.parameters
        // A flow-matching step passes each sample once through the velocity field.
        estimate.workspace = MemoryEstimate.floatsPerUnit * Double(configuration.batchSize) * policy.units
        estimate.networkKeys = ["hidden_sizes", "time_embedding_size"]
        estimate.workspaceKeys = ["batch_size", "hidden_sizes"]
        estimate.addReplay(capacity: configuration.bufferSize, batchSize: configuration.batchSize,
                           observationSize: observationSize, actionSize: actionSize)
        return estimate
    }

    public var configurationJSON: String { configuration.jsonString() }
    public var allParameters: [Parameter] { policy.parameters }

    public func update(gradientSteps: Int) -> [String: Double] {
        var total = 0.0
        for _ in 0..<gradientSteps {
            let batch = buffer.sample(configuration.batchSize, generator: &generator)
            total += Double(trainer.step(observations: batch.observations, actions: batch.actions, generator: &generator))
            progress.updates += 1
            progress.actorUpdates += 1
        }
        return ["train/bc_loss": total / Double(gradientSteps)]
    }

    public func pretrain(observations: Tensor, actions: Tensor, steps: Int) -> [String: Double] {
        progress.pretrainSteps += steps
        return trainer.pretrain(observations: observations, actions: actions, steps: steps,
                                batchSize: configuration.batchSize, generator: &generator)
    }

    public func captureState(includeReplayBuffer: Bool) -> AgentState {
        var state = AgentState()
        state.capture(policy, as: "policy")
        state.capture(optimizer, as: "policy_optimizer")
        state.capture(generator, as: "generator")
        progress.capture(into: &state)
        if includeReplayBuffer { state.capture(buffer, as: "replay") }
        return state
    }

    public func restoreState(_ state: AgentState) throws {
        let restorers = [try state.restorer(for: policy, as: "policy"), try state.restorer(for: optimizer, as: "policy_optimizer"),
                         try state.restorer(for: buffer, as: "replay")]
        let (restoredGenerator, restoredProgress) = (try state.generator(as: "generator"), try TrainingCounters(from: state))
        // Everything checked; now change.
        restorers.forEach { $0() }
        (generator, progress) = (restoredGenerator, restoredProgress)
    }
}

