/// Stepwise Flow Policy (SWFP; arXiv:2510.15388, Eq. 15–20, Algorithm 1; our reading in
/// docs/algorithms.md, "SWFP"): a flow policy fine-tuned as a cascade of N small JKO steps, each pulled
/// towards `exp(Q/α)` and held near the previous iterate by Wasserstein terms, with a soft critic.
///
/// One update (`update`): a critic step on soft Bellman targets with fresh `log π(a'|s')`; then,
/// every `policy_delay` updates, a block step (`swfpBlockLoss`), an α step, and the prior
/// policy θ̄ moved towards θ; finally the critic targets are Polyak-averaged.
public final class SWFP: FlowPolicyAgent {
    public static let algorithm = "swfp"

    public enum EnergyPoint: String, Codable, Sendable { case block, terminal }
    public enum BlockLayout: String, Codable, Sendable { case shared, separate }
    public enum BlockTraining: String, Codable, Sendable { case sampled, parallel }
    public enum DivergenceChoice: String, Codable, Sendable { case exact, hutchinson, logdet }

    /// Hyperparameters (Python keyword = JSON key in snake_case).
    public struct Configuration: AgentConfiguration {
        /// N, the number of flow blocks (JKO steps per action).
        public var flowSteps = 5
        /// τ, the JKO step size.
        public var tau: Float = 0.1
        /// ε, the scale of the Wasserstein terms (the loss weights them by ε / 2τ).
        public var w2Scale: Float = 0.4
        /// α, fixed, or "auto" to tune it towards `target_entropy`.
        public var alpha = AutoOrNumber.auto
        /// Initial α when tuned.
        public var initialAlpha: Float = 1
        /// Target entropy for tuned α; "auto" means −d.
        public var targetEntropy = AutoOrNumber.auto
        /// Where the energy Q is evaluated: at the block's own output, or after the remaining prior blocks.
        public var energyAt = EnergyPoint.block
        /// Prior policy θ̄: a Polyak rate in (0, 1), or a whole number K ≥ 1 to copy θ every K actor updates.
        public var priorUpdate: Float = 0.01
        /// One shared time-conditioned velocity field, or one field per block.
        public var blocks = BlockLayout.shared
        /// Train one uniformly drawn block per actor update, or all N blocks (losses averaged).
        public var blockTraining = BlockTraining.sampled
        public var divergence = DivergenceChoice.exact
        /// Probes for `divergence = "hutchinson"`.
        public var hutchinsonProbes = 1
        /// Velocity-field hidden widths. Two layers rather than the paper's three (docs/algorithms.md, "SWFP: choices and defaults"): act at batch 1
        /// takes 38 µs instead of 71 µs, and an update needs fewer FLOPs (BENCHMARKS.md).
        public var hiddenSizes = [256, 256]
        public var activation = Activation.silu
        public var timeEmbeddingSize = 16
        public var criticHiddenSizes = [256, 256]
        public var learningRate: Float = 3e-4
        public var criticLearningRate: Float = 3e-4
        public var batchSize = 256
        public var bufferSize = 1_000_000
        public var gamma: Float = 0.99
        /// Polyak rate τ_Q of the critic targets.
        public var criticTau: Float = 0.005
        /// Environment steps with uniform random actions before learning (used by the Python loop).
        public var learningStarts = 1000
        /// Environment steps between update calls (used by the Python loop).
        public var trainFreq = 1
        /// Updates per update call (used by the Python loop).
        public var gradientSteps = 1
        /// Critic updates per actor update.
        public var policyDelay = 1
        public var seed: UInt64 = 0

        public init() {}

        public func validate() throws {
            try ConfigCheck.inRange(flowSteps, 1...100, "flow_steps")
            try ConfigCheck.inRange(tau, 1e-6...1e6, "tau")
            try ConfigCheck.inRange(w2Scale, 0...1e6, "w2_scale")
            if case .value(let value) = alpha { try ConfigCheck.inRange(value, 1e-8...1e8, "alpha") }
            try ConfigCheck.inRange(initialAlpha, 1e-8...1e8, "initial_alpha")
            if case .value(let value) = targetEntropy { try ConfigCheck.finite(value, "target_entropy") }
            if priorUpdate >= 1 {
                guard priorUpdate == priorUpdate.rounded(), priorUpdate <= 1e9 else {
                    throw FlowRLError.invalidArgument("config key 'prior_update' must be a rate in (0, 1) or a whole number of updates ≥ 1, got \(priorUpdate)")
                }
            } else {
                try ConfigCheck.positive(priorUpdate, "prior_update")
            }
            try ConfigCheck.inRange(hutchinsonProbes, 1...1024, "hutchinson_probes")
            try ConfigCheck.layerSizes(hiddenSizes, "hidden_sizes")
            try ConfigCheck.layerSizes(criticHiddenSizes, "critic_hidden_sizes")
            try ConfigCheck.inRange(timeEmbeddingSize, 2...1024, "time_embedding_size")
            guard timeEmbeddingSize % 2 == 0 else {
                throw FlowRLError.invalidArgument("config key 'time_embedding_size' must be even, got \(timeEmbeddingSize)")
            }
            try ConfigCheck.inRange(learningRate, 1e-8...1, "learning_rate")
            try ConfigCheck.inRange(criticLearningRate, 1e-8...1, "critic_learning_rate")
            try ConfigCheck.inRange(batchSize, 1...1_000_000, "batch_size")
            try ConfigCheck.inRange(bufferSize, 1...100_000_000, "buffer_size")
            try ConfigCheck.inRange(gamma, 0...1, "gamma")
            try ConfigCheck.inRange(criticTau, 0...1, "critic_tau")
            try ConfigCheck.inRange(learningStarts, 0...1_000_000_000, "learning_starts")
            try ConfigCheck.inRange(trainFreq, 1...1_000_000, "train_freq")
            try ConfigCheck.inRange(gradientSteps, 1...1_000_000, "gradient_steps")
            try ConfigCheck.inRange(policyDelay, 1...1_000_000, "policy_delay")
        }

        var divergenceMethod: DivergenceMethod {
            switch divergence {
            case .exact: return .exact
            case .hutchinson: return .hutchinson(probes: hutchinsonProbes)
            case .logdet: return .logDeterminant
            }
        }
    }

    public let configuration: Configuration
    public let observationSize: Int
    public let actionSize: Int
    /// θ, the policy being trained and acting.
    public let policy: FlowPolicy
    /// θ̄, the lagged prior policy whose particles anchor the block loss.
    public let prior: FlowPolicy
    public let softCritic: SoftCritic
    public let temperature: Temperature
    let policyOptimizer: Adam
    let pretrainer: FlowMatchingTrainer
    public let buffer: ReplayBuffer
    public var generator: RandomGenerator
    public var progress = TrainingCounters()
    private let tape = Tape()

    public init(configurationJSON: String?, observationSize: Int, actionSize: Int) throws {
        let configuration = try Configuration.decode(json: configurationJSON, algorithm: Self.algorithm)
        self.configuration = configuration
        self.observationSize = observationSize
        self.actionSize = actionSize
        var generator = RandomGenerator(seed: configuration.seed)
        func makePolicy(_ generator: inout RandomGenerator) -> FlowPolicy {
            FlowPolicy(observationSize: observationSize, actionSize: actionSize, steps: configuration.flowSteps,
                       hiddenSizes: configuration.hiddenSizes, activation: configuration.activation,
                       embeddingSize: configuration.timeEmbeddingSize, separateBlocks: configuration.blocks == .separate,
                       generator: &generator, name: "velocity")
        }
        policy = makePolicy(&generator)
        prior = makePolicy(&generator)
        prior.copyParameters(from: policy)
        softCritic = SoftCritic(observationSize: observationSize, actionSize: actionSize, hiddenSizes: configuration.criticHiddenSizes,
                                learningRate: configuration.criticLearningRate, discount: configuration.gamma,
                                targetRate: configuration.criticTau, generator: &generator)
        let targetEntropy: Float
        if case .value(let value) = configuration.targetEntropy { targetEntropy = value } else { targetEntropy = -Float(actionSize) }
        temperature = Temperature(setting: configuration.alpha, initial: configuration.initialAlpha,
                                  targetEntropy: targetEntropy, learningRate: configuration.learningRate)
        policyOptimizer = Adam(parameters: policy.parameters, learningRate: configuration.learningRate)
        pretrainer = FlowMatchingTrainer(policy: policy, optimizer: policyOptimizer)
        buffer = try ReplayBuffer(capacity: configuration.bufferSize, observationSize: observationSize, actionSize: actionSize)
        self.generator = generator
    }

    public static func memoryEstimate(configurationJSON: String?, observationSize: Int, actionSize: Int) throws -> MemoryEstimate {
        let configuration = try Configuration.decode(json: configurationJSON, algorithm: algorithm)
        let policy = FlowPolicy.estimate(observationSize: observationSize, actionSize: actionSize, steps: configuration.flowSteps,
                                         hiddenSizes: configuration.hiddenSizes, embeddingSize: configuration.timeEmbeddingSize,
                                         separateBlocks: configuration.blocks == .separate)
        var estimate = MemoryEstimate()
        estimate.parameters = 2 * policy.parameters   // θ and the prior θ̄
        estimate.optimizerMoments = 2 * policy.parameters
        // Sampling with log π and the block loss each pass N Euler steps, each with the
        // divergence's tangent directions alongside the values.
        let directions: Int
        switch configuration.divergence {
        case .exact, .logdet: directions = actionSize
        case .hutchinson: directions = configuration.hutchinsonProbes
        }
        estimate.workspace = 2 * MemoryEstimate.floatsPerUnit * Double(configuration.batchSize) * policy.units
            * Double(configuration.flowSteps) * Double(1 + directions)
        estimate.networkKeys = ["hidden_sizes", "time_embedding_size", "blocks"]
        estimate.workspaceKeys = ["batch_size", "hidden_sizes", "flow_steps", "divergence"]
        estimate.addSoftCritic(observationSize: observationSize, actionSize: actionSize, hiddenSizes: configuration.criticHiddenSizes,
                               batchSize: configuration.batchSize)
        estimate.addTemperature(configuration.alpha)
        estimate.addReplay(capacity: configuration.bufferSize, batchSize: configuration.batchSize,
                           observationSize: observationSize, actionSize: actionSize)
        return estimate
    }

    public var configurationJSON: String { configuration.jsonString() }
    public var allParameters: [Parameter] {
        policy.parameters + prior.parameters + softCritic.critic.parameters + softCritic.target.parameters + [temperature.logAlpha]
    }

    // MARK: Learning

    public func update(gradientSteps: Int) -> [String: Double] {
        var sums: [String: Double] = [:]
        var actorSteps = 0
        for _ in 0..<gradientSteps {
            let batch = buffer.sample(configuration.batchSize, generator: &generator)
            let alpha = temperature.alpha
            let (nextActions, nextLogProbability) = policy.sampleWithLogProbability(
                observations: batch.nextObservations, method: configuration.divergenceMethod, generator: &generator)
            let targets = softCritic.targets(for: batch, nextActions: nextActions, nextLogProbability: nextLogProbability, alpha: alpha)
            let (criticLoss, meanQ) = softCritic.update(on: batch, targets: targets)
            sums["train/critic_loss", default: 0] += Double(criticLoss)
            sums["train/q_mean", default: 0] += Double(meanQ)
            if progress.updates % configuration.policyDelay == 0 {
                let block = actorStep(observations: batch.observations, alpha: alpha)
                sums["train/actor_loss", default: 0] += Double(block.loss)
                sums["train/movement", default: 0] += Double(block.movement)
                sums["train/trust_region", default: 0] += Double(block.trustRegion)
                sums["train/alpha_loss", default: 0] += Double(temperature.update(logProbability: nextLogProbability))
                sums["train/entropy", default: 0] += -Double(nextLogProbability.sum()) / Double(nextLogProbability.count)
                updatePrior()
                actorSteps += 1
                progress.actorUpdates += 1
            }
            softCritic.updateTarget()
            progress.updates += 1
        }
        var metrics: [String: Double] = [:]
        for (key, total) in sums {
            let isActorMetric = !(key == "train/critic_loss" || key == "train/q_mean")
            metrics[key] = total / Double(isActorMetric ? max(actorSteps, 1) : gradientSteps)
        }
        metrics["train/alpha"] = Double(temperature.alpha)
        return metrics
    }

    /// One Adam step of θ on the SWFP block loss; returns the loss and its two distances.
    private func actorStep(observations: Tensor, alpha: Float) -> SWFPBlockLoss.Terms {
        let noise = generator.normalTensor(rows: observations.rows, cols: actionSize)
        let particles = prior.chain(observations: observations, noise: noise)
        let blocks = configuration.blockTraining == .parallel ? Array(0..<configuration.flowSteps)
                                                              : [Int(generator.next() % UInt64(configuration.flowSteps))]
        tape.reset()
        tape.freeze(softCritic.critic)
        tape.freeze(prior)
        let loss = SWFPBlockLoss(policy: policy, prior: prior, critic: softCritic.critic, alpha: alpha,
                                 tau: configuration.tau, w2Scale: configuration.w2Scale,
                                 energyAtTerminal: configuration.energyAt == .terminal,
                                 method: configuration.divergenceMethod)
        let terms = loss.averaged(over: blocks, observations: tape.constant(observations), particles: particles,
                                  generator: &generator)
        policyOptimizer.zeroGradients()
        tape.backward(from: terms.loss)
        policyOptimizer.update()
        return SWFPBlockLoss.Terms(loss: terms.loss.value.scalar, movement: terms.movement, trustRegion: terms.trustRegion)
    }

    /// θ̄ ← Polyak(θ̄, θ) or, for a whole-number setting K, θ̄ ← θ every K actor updates.
    private func updatePrior() {
        let setting = configuration.priorUpdate
        if setting < 1 {
            prior.polyakUpdate(towards: policy, rate: setting)
        } else if (progress.actorUpdates + 1) % Int(setting) == 0 {
            prior.copyParameters(from: policy)
        }
    }

    public func pretrain(observations: Tensor, actions: Tensor, steps: Int) -> [String: Double] {
        progress.pretrainSteps += steps
        let metrics = pretrainer.pretrain(observations: observations, actions: actions, steps: steps,
                                          batchSize: configuration.batchSize, generator: &generator)
        prior.copyParameters(from: policy)   // fine-tuning starts from the pretrained flow
        return metrics
    }

    // MARK: State

    public func captureState(includeReplayBuffer: Bool) -> AgentState {
        var state = AgentState()
        state.capture(policy, as: "policy")
        state.capture(prior, as: "prior")
        state.capture(policyOptimizer, as: "policy_optimizer")
        softCritic.capture(into: &state)
        temperature.capture(into: &state)
        state.capture(generator, as: "generator")
        progress.capture(into: &state)
        if includeReplayBuffer { state.capture(buffer, as: "replay") }
        return state
    }

    public func restoreState(_ state: AgentState) throws {
        let restorers = [try state.restorer(for: policy, as: "policy"), try state.restorer(for: prior, as: "prior"),
                         try state.restorer(for: policyOptimizer, as: "policy_optimizer"), try softCritic.restorer(from: state),
                         try temperature.restorer(from: state), try state.restorer(for: buffer, as: "replay")]
        let (restoredGenerator, restoredProgress) = (try state.generator(as: "generator"), try TrainingCounters(from: state))
        // Everything checked; now change.
        restorers.forEach { $0() }
        (generator, progress) = (restoredGenerator, restoredProgress)
    }
}
