/// Stepwise Flow Policy (SWFP; arXiv:2510.15388, Eq. 15–20, Algorithm 1; our reading in
/// docs/algorithms.md, "SWFP"): a flow policy fine-tuned as a cascade of N small JKO steps, each pulled
/// towards `exp(Q/α)` and held near the previous iterate by Wasserstein terms, with a soft critic.
///
/// One update (`trainStep`): a critic step on soft Bellman targets with fresh `log π(a'|s')`; then,
/// every `policy_delay` updates, a block step (`swfpBlockLoss`), an α step, and the prior
/// policy θ̄ moved towards θ; the core then Polyak-averages the critic targets.
public final class SWFP: OffPolicyAgent {
    /// The name it is created by.
    public static let algorithm = "swfp"
    /// One line for the schema and Python's docstring.
    public static let summary = "Stepwise Flow Policy: a flow policy fine-tuned online as a cascade of N small JKO steps."

    /// Where the block loss reads Q (`energy_at`).
    public enum EnergyPoint: String, Codable, Sendable, CaseIterable { case block, terminal }
    /// One velocity field or one per block (`blocks`).
    public enum BlockLayout: String, Codable, Sendable, CaseIterable { case shared, separate }
    /// Blocks trained per actor update (`block_training`).
    public enum BlockTraining: String, Codable, Sendable, CaseIterable { case sampled, parallel }
    /// The log-volume method (`divergence`).
    public enum DivergenceChoice: String, Codable, Sendable, CaseIterable { case exact, hutchinson, logdet }
    /// Which Wasserstein terms the block loss charges (`w2_terms`): the paper's pair (the JKO
    /// movement cost and the trust region to the prior's next particle), or the trust region alone.
    public enum WassersteinTerms: String, Codable, Sendable, CaseIterable {
        case both
        case trustRegion = "trust_region"
    }

    /// SWFP's own keys (Python keyword = JSON key in snake_case); the critic, replay, temperature
    /// and schedule keys are the shared groups'.
    public struct Options: AlgorithmOptions, VelocityNetworkOptions {
        public var flowSteps = 5
        public var tau: Float = 0.1
        public var w2Scale: Float = 0.4
        public var energyAt = EnergyPoint.block
        public var priorUpdate: Float = 0.01
        public var blocks = BlockLayout.shared
        public var blockTraining = BlockTraining.sampled
        public var divergence = DivergenceChoice.exact
        public var hutchinsonProbes = 1
        /// The paper's pair by default; the movement cost's own minimiser is the zero field, which
        /// erased a pretrained flow at every weight measured (docs/finetuning-investigation.md, §4).
        public var w2Terms = WassersteinTerms.both
        /// Two layers rather than the paper's three (docs/algorithms.md, "SWFP: choices and defaults"):
        /// act at batch 1 takes 38 µs instead of 71 µs, and an update needs fewer FLOPs (BENCHMARKS.md).
        public var hiddenSizes = [256, 256]
        public var activation = Activation.silu
        public var timeEmbeddingSize = 16

        public init() {}

        /// A critic, α and the Python loop's schedule.
        public static var groups: ConfigurationGroups { [.critic, .temperature, .trainingLoop] }
        /// `learning_starts` 1000 (the critic needs data before the block loss means anything).
        public static func adjustDefaults(_ configuration: inout OffPolicyConfiguration<Options>) {
            configuration.trainingLoop.learningStarts = 1000
        }

        public static var keys: [ConfigKey<Self>] {
            [.integer("flow_steps", \.flowSteps, in: 1...100, "N, the number of flow blocks (JKO steps per action)."),
             .number("tau", \.tau, in: 1e-6...1e6, "τ, the JKO step size."),
             .number("w2_scale", \.w2Scale, in: 0...1e6, "ε, the scale of the Wasserstein terms (the loss weights them by ε / 2τ)."),
             .choice("w2_terms", \.w2Terms,
                     "Wasserstein terms: the JKO movement cost and the trust region to the prior's particle (\"both\"), or the trust region alone."),
             .choice("energy_at", \.energyAt, "Where Q is evaluated: at the block's own output, or after the remaining prior blocks."),
             .laggedCopy("prior_update", \.priorUpdate, "Prior policy θ̄: a Polyak rate in (0, 1), or a whole number K ≥ 1 to copy θ every K actor updates."),
             .choice("blocks", \.blocks, "One shared time-conditioned velocity field, or one field per block."),
             .choice("block_training", \.blockTraining, "Train one uniformly drawn block per actor update, or all N blocks (losses averaged)."),
             .choice("divergence", \.divergence, "How a block's log-volume change is computed."),
             .integer("hutchinson_probes", \.hutchinsonProbes, in: 1...1024, "Probes for divergence=\"hutchinson\".")] + ConfigKey<Self>.velocityNetwork
        }

        var divergenceMethod: DivergenceMethod {
            switch divergence {
            case .exact: return .exact
            case .hutchinson: return .hutchinson(probes: hutchinsonProbes)
            case .logdet: return .logDeterminant
            }
        }
    }

    /// The options composed with the shared groups.
    public typealias Configuration = OffPolicyConfiguration<Options>

    /// Draws θ from the seed, then θ̄ (made a copy of θ), then the shared core.
    public init(configurationJSON: String?, observationSize: Int, actionSize: Int) throws {
        let (configuration, seeded) = try Self.start(configurationJSON)
        var generator = seeded
        let options = configuration.options
        let networks = LaggedFlowPolicy(options, observationSize: observationSize, actionSize: actionSize,
                                        separateBlocks: options.blocks == .separate, learningRate: configuration.common.learningRate, generator: &generator)
        (policy, prior, policyOptimizer) = (networks.policy, networks.lagged, networks.optimizer)
        self.configuration = configuration
        core = try OffPolicyCore(configuration: configuration, observationSize: observationSize, actionSize: actionSize,
                                 policy: policy, networks: [("policy", policy), ("prior", prior)],
                                 optimizers: [("policy_optimizer", policyOptimizer)], generator: generator)
    }

    /// The configuration it was built from.
    public let configuration: Configuration
    /// θ, the policy being trained and acting.
    public let policy: FlowPolicy
    /// θ̄, the lagged prior policy whose particles anchor the block loss.
    public let prior: FlowPolicy
    let policyOptimizer: Adam
    /// Replay, critic, α, generator, counters.
    public let core: OffPolicyCore

    /// θ and θ̄ (one optimiser), and the tangents the divergence carries through N Euler steps.
    public static func actorMemory(_ configuration: Configuration, observationSize: Int, actionSize: Int) -> MemoryEstimate {
        let options = configuration.options
        // Sampling with log π and the block loss each pass N Euler steps, each with the
        // divergence's tangent directions alongside the values.
        let directions: Int
        switch options.divergence {
        case .exact, .logdet: directions = actionSize
        case .hutchinson: directions = options.hutchinsonProbes
        }
        let policy = FlowPolicy.estimate(observationSize: observationSize, actionSize: actionSize, steps: options.flowSteps,
                                         hiddenSizes: options.hiddenSizes, embeddingSize: options.timeEmbeddingSize,
                                         separateBlocks: options.blocks == .separate)
        let workspace = 2 * MemoryEstimate.floatsPerUnit * Double(configuration.replay.batchSize) * policy.units
            * Double(options.flowSteps) * Double(1 + directions)
        return MemoryEstimate(parameters: 2 * policy.parameters, optimizerMoments: 2 * policy.parameters, workspace: workspace,
                              networkKeys: ["hidden_sizes", "time_embedding_size", "blocks"],
                              workspaceKeys: ["batch_size", "hidden_sizes", "flow_steps", "divergence"])
    }

    // MARK: Learning

    /// A critic step on fresh `log π(a'|s')`, then on actor turns the block, α and prior steps.
    public func trainStep(_ step: OffPolicyCore.UpdateStep, metrics: inout OffPolicyCore.Metrics) {
        let batch = step.batch
        let (nextActions, nextLogProbability) = policy.sampleWithLogProbability(
            observations: batch.nextObservations, method: configuration.options.divergenceMethod, generator: &core.generator)
        core.criticStep(on: batch, nextActions: nextActions, nextLogProbability: nextLogProbability, alpha: step.alpha,
                        metrics: &metrics)
        guard step.actorTurn else { return }
        let block = blockStep(observations: batch.observations, alpha: step.alpha)
        metrics.addPerActorStep("train/actor_loss", Double(block.loss))
        metrics.addPerActorStep("train/movement", Double(block.movement))
        metrics.addPerActorStep("train/trust_region", Double(block.trustRegion))
        // SWFP's α step uses the log π(a'|s') already drawn for the critic targets.
        core.temperatureStep(logProbability: nextLogProbability, metrics: &metrics)
        LaggedCopy.follow(prior, towards: policy, setting: configuration.options.priorUpdate, actorUpdates: core.progress.actorUpdates)
        metrics.countActorStep()
    }

    /// One Adam step of θ on the SWFP block loss; returns the loss and its two distances.
    private func blockStep(observations: Tensor, alpha: Float) -> SWFPBlockLoss.Terms {
        let options = configuration.options
        let critic = core.softCritic!.critic
        let noise = core.generator.normalTensor(rows: observations.rows, cols: core.actionSize)
        let particles = prior.chain(observations: observations, noise: noise)
        let blocks = options.blockTraining == .parallel ? Array(0..<options.flowSteps)
                                                        : [Int(core.generator.next() % UInt64(options.flowSteps))]
        let tape = core.tape
        tape.reset()
        tape.freeze(critic)
        tape.freeze(prior)
        let loss = SWFPBlockLoss(policy: policy, prior: prior, critic: critic, alpha: alpha, tau: options.tau,
                                 w2Scale: options.w2Scale, chargesMovement: options.w2Terms == .both,
                                 energyAtTerminal: options.energyAt == .terminal,
                                 method: options.divergenceMethod)
        let terms = loss.averaged(over: blocks, observations: tape.constant(observations), particles: particles,
                                  generator: &core.generator)
        policyOptimizer.minimize(terms.loss, on: tape)
        return SWFPBlockLoss.Terms(loss: terms.loss.value.scalar, movement: terms.movement, trustRegion: terms.trustRegion)
    }

    /// Flow matching on demonstrations; the prior then restarts from the pretrained flow.
    public func pretrain(observations: Tensor, actions: Tensor, steps: Int) -> [String: Double] {
        let metrics = core.pretrainFlowMatching(policy, optimizer: policyOptimizer, observations: observations, actions: actions,
                                                steps: steps)
        prior.copyParameters(from: policy)   // fine-tuning starts from the pretrained flow
        return metrics
    }
}
