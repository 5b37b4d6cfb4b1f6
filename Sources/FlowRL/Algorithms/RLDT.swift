/// Reinforcement Learning for Flow-Matching Policies with Density Transport (RLDT; arXiv:2606.08602;
/// our reading in docs/algorithms.md, "RLDT"): a flow policy fine-tuned by aligning its velocity
/// field with an SVGD transport field built from the critic's action gradients, each particle's
/// chain end predicted in one jump from an intermediate step (no log-density, no backpropagation
/// through the chain), held near a reference policy by velocity matching.
///
/// One update (`trainStep`): a critic step towards `r + γ(1 − term) mean_m min_j Q̄_j(s', a'_m)`
/// over `target_samples` fresh policy samples; then, every `policy_delay` updates, the actor step
/// (`actorStep`) and the reference update; the core then Polyak-averages the critic targets.
public final class RLDT: OffPolicyAgent {
    /// The name it is created by.
    public static let algorithm = "rldt"
    /// One line for the schema and Python's docstring.
    public static let summary = "Density transport (RLDT): a flow policy fine-tuned online by aligning its velocity field with an SVGD field from the critic."

    /// What the trust region holds the policy near (`reference`).
    public enum Reference: String, Codable, Sendable, CaseIterable { case lagged, pretrained }
    /// How rewards are scaled before the critic sees them (`reward_scaling`): not at all, or by
    /// the running mean of |r| (`RunningAbsoluteMean`).
    public enum RewardScaling: String, Codable, Sendable, CaseIterable {
        case none
        case runningAbsMean = "running_abs_mean"
    }
    /// How `act` explores (`exploration`): the policy's own noise, or the authors' extrapolation
    /// noise on top of it (`RLDTExploration`).
    public enum Exploration: String, Codable, Sendable, CaseIterable {
        case policy
        case minExtrapolation = "min_extrp"
    }
    /// A named configuration (`preset`): none, or the trust region anchored to the pretrained
    /// policy for fine-tuning it (`Options.presets`).
    public enum Preset: String, Codable, Sendable, CaseIterable { case none, anchored }

    /// RLDT's own keys (Python keyword = JSON key in snake_case); the critic, replay and schedule
    /// keys are the shared groups'. RLDT has no entropy temperature α.
    public struct Options: AlgorithmOptions, VelocityNetworkOptions {
        public var flowSteps = 4
        public var particles = 8
        /// The first rows of the minibatch (at most `batch_size`), so an actor step costs about as
        /// much as a SAC actor step on `batch_size` rows.
        public var actorBatchSize = 32
        public var kernel = RLDTTransport.Kernel.rbf
        public var svgdTemperature: Float = 1e-3
        public var consistencyWeight: Float = 0.5
        public var trustRegionWeight: Float = 0.2
        public var reference = Reference.lagged
        public var referenceUpdate: Float = 0.01
        public var targetSamples = 2
        public var rewardScaling = RewardScaling.none
        public var exploration = Exploration.policy
        public var explorationMinStep = 0
        public var hiddenSizes = [256, 256]
        public var activation = Activation.silu
        public var timeEmbeddingSize = 16
        public var preset = Preset.none

        public init() {}

        /// `"anchored"`, for fine-tuning a pretrained policy worth keeping: the trust region's
        /// reference is the pretrained policy itself, at 100 times the default weight. On
        /// Hopper-medium it kept the policy far better than the defaults on 3/3 seeds; from a poor
        /// pretrained policy it slows learning (docs/finetuning-investigation.md, "RLDT anchored to
        /// the pretrained policy").
        public static var presets: [String: (inout OffPolicyConfiguration<Self>) -> Void] {
            ["anchored": { configuration in
                configuration.options.reference = .pretrained
                configuration.options.trustRegionWeight = 20
            }]
        }

        /// A critic and the Python loop's schedule; no α.
        public static var groups: ConfigurationGroups { [.critic, .trainingLoop] }

        public static var keys: [ConfigKey<Self>] {
            [.integer("flow_steps", \.flowSteps, in: 1...100, "K, the Euler steps of the flow."),
             .integer("particles", \.particles, in: 1...256, "P, the chains drawn per state (the SVGD particles)."),
             .integer("actor_batch_size", \.actorBatchSize, in: 1...1_000_000,
                      "States per actor step, each with P particles: the minibatch's first rows (at most batch_size)."),
             .choice("kernel", \.kernel, "The transport field's kernel: \"rbf\" (median bandwidth) or \"delta\" (no repulsion, the paper's ablation)."),
             .number("svgd_temperature", \.svgdTemperature, in: 0...1e6, "The SVGD repulsion temperature, relative to the mean gradient norm."),
             .number("consistency_weight", \.consistencyWeight, in: 0...1e6, "c, the weight of the consistency term."),
             .number("trust_region_weight", \.trustRegionWeight, in: 0...1e6, "c_kl, the weight of the velocity-matching trust region."),
             .choice("reference", \.reference, "The trust region's reference: a lagged copy of the policy, or the pretrained policy."),
             .laggedCopy("reference_update", \.referenceUpdate,
                         "Lagged reference: a Polyak rate in (0, 1), or a whole number K ≥ 1 to copy the policy every K actor updates (unused with reference=\"pretrained\")."),
             .integer("target_samples", \.targetSamples, in: 1...64, "M, the fresh policy samples averaged in each critic target."),
             .choice("reward_scaling", \.rewardScaling,
                     "\"none\", or \"running_abs_mean\": the critic learns from r / mean|r| over every observed transition (the authors' reward normalisation).")
                .addedLater(legacyValue: .string("none")),
             .choice("exploration", \.exploration,
                     "How act(deterministic=False) explores: \"policy\" (its own noise) or \"min_extrp\" (the authors' extrapolation noise a + ||a - x1(x_j)|| eps).")
                .addedLater(legacyValue: .string("policy")),
             .integer("exploration_min_step", \.explorationMinStep, in: 0...99,
                      "min_extrp: the step j is drawn uniformly from exploration_min_step..flow_steps-1 (less than flow_steps).")
                .addedLater(legacyValue: .integer(0)),
             .choice("preset", \.preset,
                     "A named configuration applied under the keywords given: \"anchored\", for fine-tuning a pretrained policy worth keeping, holds the policy near the pretrained one (reference \"pretrained\", trust_region_weight 20; it slows learning from a poor one).")
                .addedLater(legacyValue: .string("none"))]
                + ConfigKey<Self>.velocityNetwork
        }

        /// The keys' ranges, then `exploration_min_step` below `flow_steps`.
        public func validate() throws {
            try validateKeys()
            guard explorationMinStep < flowSteps else {
                throw FlowRLError.invalidArgument("config key 'exploration_min_step' (\(explorationMinStep)) must be less than 'flow_steps' (\(flowSteps))")
            }
        }
    }

    /// The options composed with the shared groups.
    public typealias Configuration = OffPolicyConfiguration<Options>

    /// Draws θ from the seed, then the reference (made a copy of θ), then the shared core.
    public init(configurationJSON: String?, observationSize: Int, actionSize: Int) throws {
        let (configuration, seeded) = try Self.start(configurationJSON)
        var generator = seeded
        let options = configuration.options
        let networks = LaggedFlowPolicy(options, observationSize: observationSize, actionSize: actionSize,
                                        separateBlocks: false, learningRate: configuration.common.learningRate, generator: &generator)
        (policy, reference, policyOptimizer) = (networks.policy, networks.lagged, networks.optimizer)
        self.configuration = configuration
        rewardStatistic = options.rewardScaling == .runningAbsMean ? RunningAbsoluteMean() : nil
        core = try OffPolicyCore(configuration: configuration, observationSize: observationSize, actionSize: actionSize,
                                 policy: policy, networks: [("policy", policy), ("reference", reference)],
                                 optimizers: [("policy_optimizer", policyOptimizer)],
                                 extraState: rewardStatistic.map { [$0.statePart] } ?? [], generator: generator)
    }

    /// The configuration it was built from.
    public let configuration: Configuration
    /// θ, the policy being trained and acting.
    public let policy: FlowPolicy
    /// The trust region's reference: a lagged copy of θ, or the pretrained policy.
    public let reference: FlowPolicy
    let policyOptimizer: Adam
    /// The running mean of |r| the critic's rewards are divided by (`reward_scaling =
    /// "running_abs_mean"`), or nil without reward scaling; a checkpoint part when present.
    public let rewardStatistic: RunningAbsoluteMean?
    /// Replay, critic, generator, counters.
    public let core: OffPolicyCore

    // MARK: Acting and storing

    /// The policy's actions; with `exploration = "min_extrp"` and not `deterministic`, the
    /// extrapolation noise on top (`RLDTExploration`). The deterministic action is the policy's.
    public func act(observations: Tensor, deterministic: Bool) -> Tensor {
        guard configuration.options.exploration == .minExtrapolation, !deterministic else {
            return core.act(observations: observations, deterministic: deterministic)
        }
        return RLDTExploration.extrapolatedActions(policy: policy, observations: observations,
                                                   firstStep: configuration.options.explorationMinStep, generator: &core.generator)
    }

    /// Stores the transitions and, with reward scaling, counts their rewards into the running
    /// mean of |r| (here and only here, so that each reward counts once; see `RunningAbsoluteMean`).
    public func observe(_ transitions: Transitions) {
        core.observe(transitions)
        rewardStatistic?.add(transitions.rewards)
    }

    /// θ and its reference (one optimiser), the reward statistic when there is one; the passes of
    /// an update: the particle chains, the critic's gradient at their ends, the prediction and
    /// trust-region passes, and the critic targets' M chains.
    public static func actorMemory(_ configuration: Configuration, observationSize: Int, actionSize: Int) -> MemoryEstimate {
        let options = configuration.options
        let policy = FlowPolicy.estimate(observationSize: observationSize, actionSize: actionSize, steps: options.flowSteps,
                                         hiddenSizes: options.hiddenSizes, embeddingSize: options.timeEmbeddingSize, separateBlocks: false)
        let critic = MemoryEstimate.twinCritic(observationSize: observationSize, actionSize: actionSize,
                                               hiddenSizes: configuration.critic.hiddenSizes, layerNorm: configuration.critic.criticLayerNorm)
        let batch = Double(configuration.replay.batchSize)
        let particleRows = Double(options.particles) * min(Double(options.actorBatchSize), batch)
        let workspace = MemoryEstimate.floatsPerUnit
            * (particleRows * (policy.units * Double(options.flowSteps + 3) + critic.units)
               + Double(options.targetSamples) * batch * policy.units * Double(options.flowSteps))
        var estimate = MemoryEstimate(parameters: 2 * policy.parameters, optimizerMoments: 2 * policy.parameters, workspace: workspace,
                                      networkKeys: ["hidden_sizes", "time_embedding_size"],
                                      workspaceKeys: ["batch_size", "hidden_sizes", "flow_steps", "particles", "actor_batch_size", "target_samples"])
        estimate.statistics = options.rewardScaling == .runningAbsMean ? 1 : 0   // the mean of |r| (its count is an integer)
        return estimate
    }

    // MARK: Learning

    /// A critic step towards targets averaged over fresh policy samples, then on actor turns the
    /// actor step and the reference update.
    ///
    /// The critic target's M samples of θ at s' and, on actor turns, the actor's particle chains
    /// with the passes of θ and the reference that do not read the critic (`RLDTActorLoss.passes`)
    /// are independent, and the critic step between them changes neither policy. So both run
    /// before the critic step, at the same time (`ForkJoin`), and the actor step reads the
    /// critic's gradients after it. Their random numbers are drawn first, in the order of a
    /// sequential run: the target's noise, then the actor's (`drawActorStep`).
    public func trainStep(_ step: OffPolicyCore.UpdateStep, metrics: inout OffPolicyCore.Metrics) {
        let batch = step.batch
        let next = targetObservations(batch)
        let noise = policy.noise(rows: next.rows, deterministic: false, generator: &core.generator)
        let actorRows = 0..<min(configuration.options.actorBatchSize, batch.count)
        let draws = step.actorTurn ? drawActorStep(observations: batch.observations.rows(actorRows)) : nil
        let (nextActions, actor) = ForkJoin.both({ policy.actions(observations: next, noise: noise) },
                                                 { draws.map(recordActorPasses) })
        core.criticStep(on: batch, targets: criticTargets(for: batch, next: next, nextActions: nextActions), metrics: &metrics)
        if let rewardStatistic { metrics.add("train/reward_scale", Double(rewardStatistic.scale)) }
        guard let actor else { return }
        let terms = actorStep(actor)
        metrics.addPerActorStep("train/actor_loss", Double(terms.loss))
        metrics.addPerActorStep("train/transport_loss", Double(terms.transport))
        metrics.addPerActorStep("train/consistency_loss", Double(terms.consistency))
        metrics.addPerActorStep("train/trust_region_loss", Double(terms.trustRegion))
        metrics.addPerActorStep("train/field_norm", Double(terms.fieldNorm))
        metrics.addPerActorStep("train/particle_spread", Double(terms.spread))
        // A lagged reference follows θ (`LaggedCopy`); a pretrained one stays where `pretrain` left it.
        if configuration.options.reference == .lagged {
            LaggedCopy.follow(reference, towards: policy, setting: configuration.options.referenceUpdate,
                              actorUpdates: core.progress.actorUpdates)
        }
        metrics.countActorStep()
    }

    /// `y = c_r r + γ (1 − term) mean_m min_j Q̄_j(s', a'_m)`, `a'_m ~ π(·|s')` (M draws in one
    /// batch), `c_r` the reward scale (`RunningAbsoluteMean.scale`, 1 without reward scaling); no
    /// entropy term. Truncation is not termination, so time limits bootstrap.
    public func criticTargets(for batch: Transitions) -> Tensor {
        let next = targetObservations(batch)
        let actions = policy.sample(observations: next, deterministic: false, generator: &core.generator)
        return criticTargets(for: batch, next: next, nextActions: actions)
    }

    /// The next states the targets sample at: each of the batch's M times (rows `m · batch + b`).
    private func targetObservations(_ batch: Transitions) -> Tensor {
        batch.nextObservations.tiledRows(configuration.options.targetSamples)
    }

    /// The targets from the M samples `nextActions` of θ at `next` (`targetObservations(batch)`).
    private func criticTargets(for batch: Transitions, next: Tensor, nextActions: Tensor) -> Tensor {
        let critic = core.softCritic!
        var values = critic.target.minimumValue(observations: next, actions: nextActions).sumOfRowBlocks(blockRows: batch.count)
        values.scale(by: 1 / Float(configuration.options.targetSamples))
        var targets = batch.rewards
        let rewardScale = rewardStatistic?.scale ?? 1
        for row in 0..<batch.count {
            targets.scalars[row] = rewardScale * targets.scalars[row]
                + critic.discount * (1 - batch.terminated.scalars[row]) * values.scalars[row]
        }
        return targets
    }

    /// What one actor step reports.
    struct ActorTerms {
        let loss, transport, consistency, trustRegion, fieldNorm, spread: Float
    }

    /// An actor step's random numbers, for S states with P particles each (rows in the particle
    /// layout, `RLDTTransport`).
    struct ActorDraws {
        /// The states tiled P times.
        let observations: Tensor
        /// The chains' starting noise.
        let noise: Tensor
        /// Each particle's intermediate step k.
        let steps: [Int]
        /// The trust region's times τ and the noise z its points start from.
        let trustTimes, trustNoise: Tensor
    }

    /// Draws an actor step's random numbers at `observations` (the S states), in the order the
    /// step reads them.
    private func drawActorStep(observations: Tensor) -> ActorDraws {
        let s = observations.tiledRows(configuration.options.particles)
        let rows = s.rows, width = core.actionSize
        return ActorDraws(observations: s, noise: core.generator.normalTensor(rows: rows, cols: width),
                          steps: policy.intermediateSteps(rows: rows, in: 0..<policy.steps, generator: &core.generator),
                          trustTimes: core.generator.uniformTensor(rows: rows, cols: 1),
                          trustNoise: core.generator.normalTensor(rows: rows, cols: width))
    }

    /// The actor step's inputs and its passes before the critic is read: P chains per state from
    /// the current policy (without gradient), a drawn intermediate step per particle, the trust
    /// region's re-noised copies of the ends, and the passes recorded on the core's tape (reset).
    /// The prediction replays the chains' own field pass at each particle's step (`Inputs.intermediateForward`):
    /// the field at `(t_k, s, x_k)` is what step k evaluated. Reads neither the critic nor the core's generator.
    private func recordActorPasses(_ draws: ActorDraws) -> (inputs: RLDTActorLoss.Inputs, passes: RLDTActorLoss.Passes) {
        let s = draws.observations
        let (chain, forwards) = policy.chainKeepingForwards(observations: s, noise: draws.noise)
        let ends = chain[policy.steps]
        let (intermediate, times) = policy.intermediatePoints(of: chain, at: draws.steps)
        var trustPoints = draws.trustNoise
        for row in 0..<trustPoints.rows {
            let tau = draws.trustTimes.scalars[row]
            for c in 0..<trustPoints.cols { trustPoints[row, c] = (1 - tau) * trustPoints[row, c] + tau * ends[row, c] }
        }
        let inputs = RLDTActorLoss.Inputs(observations: s, intermediate: intermediate, times: times, ends: ends,
                                          trustPoints: trustPoints, trustTimes: draws.trustTimes,
                                          intermediateForward: policy.intermediateForward(of: forwards, at: draws.steps))
        let tape = core.tape
        tape.reset()
        return (inputs, actorLoss.passes(inputs, tape: tape))
    }

    /// The RLDT actor loss with the configured weights.
    private var actorLoss: RLDTActorLoss {
        RLDTActorLoss(policy: policy, reference: reference, consistencyWeight: configuration.options.consistencyWeight,
                      trustRegionWeight: configuration.options.trustRegionWeight)
    }

    /// One Adam step of θ on the RLDT loss from the recorded passes (`recordActorPasses`): the
    /// transport field at the predicted ends from the critic's gradients at the particles, read now.
    private func actorStep(_ recorded: (inputs: RLDTActorLoss.Inputs, passes: RLDTActorLoss.Passes)) -> ActorTerms {
        let options = configuration.options
        let (inputs, passes) = recorded
        let count = options.particles, rows = inputs.ends.rows
        let gradients = core.softCritic!.critic.preSquashGradient(observations: inputs.observations, preSquashActions: inputs.ends)
        let field = RLDTTransport.field(predicted: passes.predicted.value, particles: inputs.ends, gradients: gradients,
                                        particlesPerState: count, temperature: options.svgdTemperature, kernel: options.kernel)
        let terms = actorLoss.terms(inputs, passes, field: field)
        let total = terms.transport + terms.consistency + terms.trustRegion
        policyOptimizer.minimize(total, on: core.tape)
        let fieldNorm = field.map(Elementwise.Square.self).sumOfEachRow().map(Elementwise.SquareRoot.self).sum() / Float(rows)
        return ActorTerms(loss: total.value.scalar, transport: terms.transport.value.scalar, consistency: terms.consistency.value.scalar,
                          trustRegion: terms.trustRegion.value.scalar, fieldNorm: fieldNorm,
                          spread: RLDTTransport.spread(particles: inputs.ends, particlesPerState: count))
    }

    /// Flow matching on demonstrations; the reference then restarts from the pretrained flow.
    public func pretrain(observations: Tensor, actions: Tensor, steps: Int) -> [String: Double] {
        let metrics = core.pretrainFlowMatching(policy, optimizer: policyOptimizer, observations: observations, actions: actions,
                                                steps: steps)
        reference.copyParameters(from: policy)
        return metrics
    }
}

extension TwinCritic {
    /// `∇_x ½(Q₁ + Q₂)(s, tanh x)` at pre-squash points `x`, the parameters held fixed: the
    /// critic's action gradient times `1 − tanh² x`, by the tape-free forward pass.
    public func preSquashGradient(observations: Tensor, preSquashActions x: Tensor) -> Tensor {
        let actions = x.map(Elementwise.Tanh.self)
        let input = Tensor.concatenatingColumns([observations, actions])
        let half = Tensor(rows: input.rows, cols: 1, repeating: 0.5)
        var gradient = Tensor(rows: input.rows, cols: actions.cols)
        let inputGradients = eachNetwork { network, _ in
            network.inputGradient(outputGradient: half, kept: network.inferenceKeeping(input).kept)
        }
        for inputGradient in [inputGradients.0, inputGradients.1] {
            gradient.add(inputGradient.columns(observations.cols..<input.cols))
        }
        for index in 0..<gradient.count {
            gradient.scalars[index] *= 1 - actions.scalars[index] * actions.scalars[index]
        }
        return gradient
    }
}
