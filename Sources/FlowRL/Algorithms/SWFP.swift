/// Stepwise Flow Policy (SWFP; arXiv:2510.15388, Eq. 15–20, Algorithm 1; our reading in
/// docs/algorithms.md, "SWFP"): a flow policy fine-tuned as a cascade of N small JKO steps, each pulled
/// towards `exp(Q/α)` and held near the previous iterate by Wasserstein terms, with a soft critic.
///
/// One update (`trainStep`): a critic step on soft Bellman targets with fresh `log π(a'|s')`; then,
/// every `policy_delay` updates, a block step (`SWFPBlockLoss`), an α step, and the prior
/// policy θ̄ moved towards θ; the core then Polyak-averages the critic targets.
///
/// The paper's own choices where ours differ are options (`act_with`, `old_particles`,
/// `value_target`, `solver`, `actor_batch_size`), and `preset = "paper"` sets them all with the
/// paper's hyperparameters (docs/algorithms.md, "SWFP: the paper preset").
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
    /// How the Wasserstein terms are weighed (`trust_region_scale`): by `w2_scale / 2τ` alone, or
    /// also by the batch's mean `|Q|/α`, so that the trust region keeps its pull against the energy
    /// whatever the reward scale (`SWFPBlockLoss`).
    public enum TrustRegionScale: String, Codable, Sendable, CaseIterable { case fixed, energy }
    /// The policy `act(deterministic: false)` samples from (`act_with`): θ, or the lagged prior θ̄
    /// (Algorithm 1, line 4).
    public enum ActWith: String, Codable, Sendable, CaseIterable { case policy, prior }
    /// Where the block loss's old particles come from (`old_particles`): the prior's chain from
    /// fresh noise at update time, or the acting policy's chain stored with each transition
    /// (Algorithm 1, lines 5–6; `ActedChains`).
    public enum OldParticles: String, Codable, Sendable, CaseIterable { case recomputed, stored }
    /// The next state's value in the critic target (`value_target`): SAC's soft value, or Eq. 18's
    /// importance-sampled log-sum-exp (`SWFP.stateValue`).
    public enum ValueTarget: String, Codable, Sendable, CaseIterable { case soft, logsumexp }
    /// The space whose entropy the block loss rewards (`entropy_space`): the flow's pre-squash
    /// space, where the particles move, or the action space (the tanh's log-Jacobian added to the
    /// energy; `SWFPBlockLoss`), where the critic target's and the α step's `log π` already are.
    public enum EntropySpace: String, Codable, Sendable, CaseIterable {
        case preSquash = "pre_squash"
        case action
    }
    /// A named configuration (`preset`): none, the paper's, or the trust region anchored to a
    /// pretrained policy for fine-tuning it (`Options.presets`).
    public enum Preset: String, Codable, Sendable, CaseIterable { case none, paper, anchored }

    /// SWFP's own keys (Python keyword = JSON key in snake_case); the critic, replay, temperature
    /// and schedule keys are the shared groups'.
    public struct Options: AlgorithmOptions, VelocityNetworkOptions {
        public var flowSteps = 5
        /// τ, the JKO step size (`jko_step`; called `tau` before Stable-Baselines3's `tau`, the
        /// critic's Polyak rate, took that name: `renamedKeys`).
        public var jkoStep: Float = 0.1
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
        /// Fixed by default: "energy" is a candidate against the fine-tuning dip on Hopper, where
        /// |Q|/α is about 1,400 and the fixed weight 2 (docs/finetuning-investigation.md).
        public var trustRegionScale = TrustRegionScale.fixed
        /// Two layers rather than the paper's three (docs/algorithms.md, "SWFP: choices and defaults"):
        /// act at batch 1 takes 38 µs instead of 71 µs, and an update needs fewer FLOPs (BENCHMARKS.md).
        public var hiddenSizes = [256, 256]
        public var activation = Activation.silu
        public var timeEmbeddingSize = 16
        public var actWith = ActWith.policy
        public var oldParticles = OldParticles.recomputed
        public var valueTarget = ValueTarget.soft
        public var valueSamples = 1
        public var solver = FlowSolver.euler
        /// Follows `batch_size` (`followingKeys`), so by default the actor learns on the critic's minibatch.
        public var actorBatchSize = 256
        /// Pre-squash by default, so that seeded results keep their behaviour (checkpoints written
        /// before the key keep it whatever the default: its legacy value is "pre_squash");
        /// `"action"` was equal on Pendulum-v1 and kept the 2-D bandit's particles off the box's
        /// faces (BENCHMARKS.md, "SWFP's entropy space on Pendulum-v1"). `preset = "paper"` leaves
        /// it: neither value is the paper's (docs/algorithms.md, "SWFP: the paper preset").
        public var entropySpace = EntropySpace.preSquash
        public var preset = Preset.none

        public init() {}

        /// `actor_batch_size` takes `batch_size` when only that is given.
        public static var followingKeys: [String: String] { ["actor_batch_size": "batch_size"] }

        /// `tau` was the JKO step's key until it was renamed `jko_step`, so that `tau` means what
        /// Stable-Baselines3 users read in it, the critic's Polyak rate (`critic_tau`); checkpoints
        /// written before store `tau`.
        public static var renamedKeys: [String: String] { ["tau": "jko_step"] }

        /// `"paper"`: Appendix C, Table 2 and Algorithm 1 of arXiv:2510.15388 (the Robomimic column
        /// where the tasks differ); each value and each difference from our defaults is explained in
        /// docs/algorithms.md, "SWFP: the paper preset".
        public static var presets: [String: (inout OffPolicyConfiguration<Self>) -> Void] {
            ["paper": { configuration in
                configuration.common.learningRate = 1e-5
                // The paper gives no pretraining rate; at 1e-5 a pretraining of thousands of
                // steps leaves the flow near its initialisation (docs/finetuning-investigation.md).
                configuration.common.pretrainLearningRate = .value(3e-4)
                configuration.replay.batchSize = 256
                configuration.options.actorBatchSize = 1024
                configuration.temperature.alpha = .value(4)
                configuration.options.jkoStep = 0.1
                configuration.options.w2Scale = 0.4
                configuration.options.flowSteps = 5
                configuration.options.hiddenSizes = [256, 256, 256]
                configuration.options.actWith = .prior
                configuration.options.oldParticles = .stored
                configuration.options.valueTarget = .logsumexp
                configuration.options.valueSamples = 8
                configuration.options.solver = .midpoint
            },
             // Fine-tuning a pretrained policy: the trust region alone (no movement cost, whose
             // minimiser is the zero field), weighed against the energy's scale, to a prior copied
             // from θ only every 5,000 actor updates, so that it stays near the pretrained policy.
             // On Hopper-medium it kept the policy far better than the defaults on 3/3 seeds; from a
             // poor pretrained policy it slows learning, and copies (not a fixed anchor) still let
             // it improve (docs/finetuning-investigation.md, "Three seeds over 50,000 steps").
             "anchored": { configuration in
                configuration.options.w2Terms = .trustRegion
                configuration.options.trustRegionScale = .energy
                configuration.options.priorUpdate = 5000
            }]
        }

        /// A critic, α and the Python loop's schedule.
        public static var groups: ConfigurationGroups { [.critic, .temperature, .trainingLoop] }
        /// `learning_starts` 1000 (the critic needs data before the block loss means anything).
        public static func adjustDefaults(_ configuration: inout OffPolicyConfiguration<Options>) {
            configuration.trainingLoop.learningStarts = 1000
        }

        public static var keys: [ConfigKey<Self>] {
            [.integer("flow_steps", \.flowSteps, in: 1...100, "N, the number of flow blocks (JKO steps per action)."),
             .number("jko_step", \.jkoStep, in: 1e-6...1e6, "τ, the JKO step size (called tau before; tau is now the critic's Polyak rate, critic_tau)."),
             .number("w2_scale", \.w2Scale, in: 0...1e6, "ε, the scale of the Wasserstein terms (the loss weights them by ε / 2τ)."),
             .choice("w2_terms", \.w2Terms,
                     "Wasserstein terms: the JKO movement cost and the trust region to the prior's particle (\"both\"), or the trust region alone.")
                .addedLater(legacyValue: .string("both")),
             .choice("trust_region_scale", \.trustRegionScale,
                     "How the Wasserstein terms are weighed: by w2_scale / 2τ (\"fixed\"), or also by the batch's mean |Q|/α, at least 1 (\"energy\"), so that they keep their pull against the energy whatever the reward scale.")
                .addedLater(legacyValue: .string("fixed")),
             .choice("energy_at", \.energyAt, "Where Q is evaluated: at the block's own output, or after the remaining prior blocks."),
             .laggedCopy("prior_update", \.priorUpdate, "Prior policy θ̄: a Polyak rate in (0, 1), or a whole number K ≥ 1 to copy θ every K actor updates."),
             .choice("blocks", \.blocks, "One shared time-conditioned velocity field, or one field per block."),
             .choice("block_training", \.blockTraining, "Train one uniformly drawn block per actor update, or all N blocks (losses averaged)."),
             .choice("divergence", \.divergence, "How a block's log-volume change is computed."),
             .integer("hutchinson_probes", \.hutchinsonProbes, in: 1...1024, "Probes for divergence=\"hutchinson\"."),
             .choice("act_with", \.actWith,
                     "The policy act(deterministic=False) samples from: θ (\"policy\"), or the lagged prior θ̄ (\"prior\", the paper's Algorithm 1); the deterministic action is θ's.")
                .addedLater(legacyValue: .string("policy")),
             .choice("old_particles", \.oldParticles,
                     "The block loss's old particles: the prior's chain from fresh noise (\"recomputed\"), or the acting policy's chain stored with each transition at collection (\"stored\", the paper's).")
                .addedLater(legacyValue: .string("recomputed")),
             .choice("value_target", \.valueTarget,
                     "The next state's value in the critic target: mean(min Q̄ − α log π) (\"soft\"), or the paper's Eq. 18, α log mean exp(min Q̄/α − log π) + α mean log π (\"logsumexp\").")
                .addedLater(legacyValue: .string("soft")),
             .integer("value_samples", \.valueSamples, in: 1...256, "M, the policy samples per next state the value target is taken over.")
                .addedLater(legacyValue: .integer(1)),
             .choice("solver", \.solver, "The flow's ODE solver: \"euler\", or \"midpoint\" (two field evaluations per block, the paper's).")
                .addedLater(legacyValue: .string("euler")),
             .integer("actor_batch_size", \.actorBatchSize, in: 1...1_000_000,
                      "States per block-loss step: the critic's minibatch, its first rows when fewer, or it and further replay rows when more."),
             .choice("entropy_space", \.entropySpace,
                     "The space whose entropy the block loss rewards: the flow's pre-squash space (\"pre_squash\"), where the target exp(Q(tanh x)/α) has no finite mass, or the action's (\"action\": the tanh's log-Jacobian added to the energy, as the critic target's and the α step's log π have it).")
                .addedLater(legacyValue: .string("pre_squash")),
             .choice("preset", \.preset,
                     "A named configuration applied under the keywords given: \"paper\" sets the SWFP paper's choices and hyperparameters; \"anchored\", for fine-tuning a pretrained policy worth keeping, weighs the trust region alone by the energy's scale towards a prior copied every 5,000 actor updates (it slows learning from a poor one).")
                .addedLater(legacyValue: .string("none"))]
                + ConfigKey<Self>.velocityNetwork
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
        (policy.solver, prior.solver) = (options.solver, options.solver)
        self.configuration = configuration
        let width = Self.particleWidth(options, actionSize: actionSize)
        acted = width > 0 ? ActedChains(observationSize: observationSize, actionSize: actionSize, width: width) : nil
        core = try OffPolicyCore(configuration: configuration, observationSize: observationSize, actionSize: actionSize,
                                 policy: policy, networks: [("policy", policy), ("prior", prior)],
                                 optimizers: [("policy_optimizer", policyOptimizer)], extraState: acted.map { [$0.statePart] } ?? [],
                                 particleWidth: width, generator: generator)
    }

    /// Floats of a stored chain per transition: `(N + 1) · d` with `old_particles = "stored"`, else 0.
    static func particleWidth(_ options: Options, actionSize: Int) -> Int {
        options.oldParticles == .stored ? (options.flowSteps + 1) * actionSize : 0
    }

    /// The configuration it was built from.
    public let configuration: Configuration
    /// θ, the policy being trained and acting.
    public let policy: FlowPolicy
    /// θ̄, the lagged prior policy whose particles anchor the block loss.
    public let prior: FlowPolicy
    let policyOptimizer: Adam
    /// The chains of the last stochastic act, with `old_particles = "stored"`; nil otherwise.
    public let acted: ActedChains?
    /// Replay, critic, α, generator, counters.
    public let core: OffPolicyCore

    /// θ and θ̄ (one optimiser), the tangents the divergence carries through N solver steps, and
    /// with stored particles the replay's chains (and the sampled batch's).
    public static func actorMemory(_ configuration: Configuration, observationSize: Int, actionSize: Int) -> MemoryEstimate {
        let options = configuration.options
        // Sampling with log π (M samples per next state) and the block loss (on the actor's rows)
        // each pass N solver steps of one or two field evaluations, each with the divergence's
        // tangent directions alongside the values.
        let directions: Int
        switch options.divergence {
        case .exact, .logdet: directions = actionSize
        case .hutchinson: directions = options.hutchinsonProbes
        }
        let policy = FlowPolicy.estimate(observationSize: observationSize, actionSize: actionSize, steps: options.flowSteps,
                                         hiddenSizes: options.hiddenSizes, embeddingSize: options.timeEmbeddingSize,
                                         separateBlocks: options.blocks == .separate)
        let rows = Double(configuration.replay.batchSize) * Double(options.valueSamples) + Double(options.actorBatchSize)
        let evaluations: Double = options.solver == .midpoint ? 2 : 1
        let width = Double(particleWidth(options, actionSize: actionSize))
        var estimate = MemoryEstimate(parameters: 2 * policy.parameters, optimizerMoments: 2 * policy.parameters,
                                      workspace: MemoryEstimate.floatsPerUnit * rows * policy.units * Double(options.flowSteps)
                                          * evaluations * Double(1 + directions),
                                      networkKeys: ["hidden_sizes", "time_embedding_size", "blocks"],
                                      workspaceKeys: ["batch_size", "actor_batch_size", "value_samples", "hidden_sizes", "flow_steps",
                                                      "solver", "divergence"])
        if width > 0 {
            // Each transition's chain and flag, and the sampled rows' (critic and actor batches).
            estimate.replay = Double(configuration.replay.bufferSize) * (width + 1)
            estimate.replayKeys += ["old_particles", "flow_steps"]
            estimate.workspace += (Double(configuration.replay.batchSize) + Double(options.actorBatchSize)) * (width + 1)
        }
        return estimate
    }

    // MARK: Acting and storing

    /// Actions from θ, or with `act_with = "prior"` and not `deterministic` from θ̄. With stored
    /// particles a stochastic act runs the acting policy's chain and remembers it (`ActedChains`):
    /// the action is `tanh` of that chain's end, so a stored chain is exactly the one that acted.
    public func act(observations: Tensor, deterministic: Bool) -> Tensor {
        let acting = deterministic || configuration.options.actWith == .policy ? policy : prior
        guard let acted, !deterministic else {
            return acting.sample(observations: observations, deterministic: deterministic, generator: &core.generator)
        }
        let noise = acting.noise(rows: observations.rows, deterministic: false, generator: &core.generator)
        let chain = acting.chain(observations: observations, noise: noise)
        let actions = chain[acting.steps].map(Elementwise.Tanh.self)
        // A non-finite act is refused by `ManagedAgent` (which puts the generator back): remember nothing.
        if actions.isFinite, chain.allSatisfy(\.isFinite) {
            acted.remember(observations: observations, actions: actions, chains: Tensor.concatenatingColumns(chain))
        }
        return actions
    }

    /// Stores the transitions; with stored particles each with the chain its action was drawn
    /// with, where `ActedChains` finds it (absent otherwise).
    public func observe(_ transitions: Transitions) {
        var transitions = transitions
        if let acted { transitions.particles = acted.particles(for: transitions) }
        core.observe(transitions)
    }

    // MARK: Learning

    /// A critic step on fresh `log π(a'|s')`, then on actor turns the block, α and prior steps.
    ///
    /// The critic target's sample of θ at s' and, on actor turns, the old particles (the prior's
    /// chain) with the block's step of θ from them (the block loss up to Q) are independent: the
    /// critic step between them changes neither θ nor θ̄. So both run before the critic step, at
    /// the same time (`ForkJoin`), and the block loss reads Q after it. Their random numbers are
    /// drawn first, in the order of a sequential run: the target's noise, the actor's further
    /// replay rows, the old particles' noise, the block index. The Hutchinson divergence draws its
    /// probes as a chain goes, so with it the two run one after the other, drawing in that order.
    public func trainStep(_ step: OffPolicyCore.UpdateStep, metrics: inout OffPolicyCore.Metrics) {
        let batch = step.batch
        let options = configuration.options
        let method = options.divergenceMethod
        let oneSoftSample = options.valueTarget == .soft && options.valueSamples == 1
        let next = oneSoftSample ? batch.nextObservations : valueTargetObservations(batch)
        let target: (actions: Tensor, logProbability: Tensor), actor: (draws: BlockDraws, steps: [SWFPBlockLoss.BlockStep])?
        if case .hutchinson = method {
            target = policy.sampleWithLogProbability(observations: next, method: method, generator: &core.generator)
            let draws = step.actorTurn ? drawBlockStep(batch) : nil
            actor = draws.map { ($0, recordBlockSteps($0, alpha: step.alpha, generator: &core.generator)) }
        } else {
            let noise = core.generator.normalTensor(rows: next.rows, cols: policy.actionSize)
            let draws = step.actorTurn ? drawBlockStep(batch) : nil
            // The exact and log-determinant divergences draw nothing from a generator.
            (target, actor) = ForkJoin.both({
                var unused = RandomGenerator(seed: 0)
                return policy.actionsWithLogProbability(observations: next, noise: noise, method: method, generator: &unused)
            }, {
                var unused = RandomGenerator(seed: 0)
                return draws.map { ($0, recordBlockSteps($0, alpha: step.alpha, generator: &unused)) }
            })
        }
        if oneSoftSample {
            core.criticStep(on: batch, nextActions: target.actions, nextLogProbability: target.logProbability, alpha: step.alpha,
                            metrics: &metrics)
        } else {
            core.criticStep(on: batch, targets: criticTargets(for: batch, next: next, sample: target, alpha: step.alpha), metrics: &metrics)
        }
        guard let actor else { return }
        let block = blockStep(actor.steps, alpha: step.alpha)
        if let stored = actor.draws.stored {
            metrics.addPerActorStep("train/stored_particles", Double(stored.present.sum()) / Double(max(stored.present.rows, 1)))
        }
        metrics.addPerActorStep("train/actor_loss", Double(block.loss))
        metrics.addPerActorStep("train/movement", Double(block.movement))
        metrics.addPerActorStep("train/trust_region", Double(block.trustRegion))
        // SWFP's α step uses the log π(a'|s') already drawn for the critic targets.
        core.temperatureStep(logProbability: target.logProbability, metrics: &metrics)
        LaggedCopy.follow(prior, towards: policy, setting: configuration.options.priorUpdate, actorUpdates: core.progress.actorUpdates)
        metrics.countActorStep()
    }

    /// An actor turn's draws before its block step: the actor's minibatch (`actorBatch`), the old
    /// particles' noise (`oldParticleNoise`) and the blocks trained.
    struct BlockDraws {
        let observations: Tensor
        let stored: StoredParticles?
        let noise: Tensor?
        let blocks: [Int]
    }

    /// Draws an actor turn's random numbers, in the order of a sequential update.
    private func drawBlockStep(_ batch: Transitions) -> BlockDraws {
        let steps = configuration.options.flowSteps
        let (observations, stored) = actorBatch(batch)
        let noise = oldParticleNoise(observations: observations, stored: stored)
        let blocks = configuration.options.blockTraining == .parallel ? Array(0..<steps)
                                                                      : [Int(core.generator.next() % UInt64(steps))]
        return BlockDraws(observations: observations, stored: stored, noise: noise, blocks: blocks)
    }

    /// Runs the old particles and records the blocks' steps from them on the core's tape (reset,
    /// with the critic and θ̄ frozen); reads neither the critic nor the core's generator.
    private func recordBlockSteps(_ draws: BlockDraws, alpha: Float, generator: inout RandomGenerator) -> [SWFPBlockLoss.BlockStep] {
        let particles = oldParticles(observations: draws.observations, stored: draws.stored, noise: draws.noise)
        let tape = core.tape
        tape.reset()
        tape.freeze(core.softCritic!.critic)
        tape.freeze(prior)
        let s = tape.constant(draws.observations)
        let loss = blockLoss(alpha: alpha)
        return draws.blocks.map { loss.step(block: $0, observations: s, particles: particles, generator: &generator) }
    }

    /// The block loss at temperature `alpha`.
    private func blockLoss(alpha: Float) -> SWFPBlockLoss {
        let options = configuration.options
        return SWFPBlockLoss(policy: policy, prior: prior, critic: core.softCritic!.critic, alpha: alpha, tau: options.jkoStep,
                             w2Scale: options.w2Scale, chargesMovement: options.w2Terms == .both,
                             energyAtTerminal: options.energyAt == .terminal, method: options.divergenceMethod,
                             weighsTrustRegionByEnergy: options.trustRegionScale == .energy,
                             actionEntropy: options.entropySpace == .action)
    }

    /// One Adam step of θ on the SWFP block loss from the recorded block steps (`recordBlockSteps`),
    /// reading the critic now; returns the loss and its two distances.
    private func blockStep(_ steps: [SWFPBlockLoss.BlockStep], alpha: Float) -> SWFPBlockLoss.Terms {
        let terms = blockLoss(alpha: alpha).averaged(over: steps)
        policyOptimizer.minimize(terms.loss, on: core.tape)
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
