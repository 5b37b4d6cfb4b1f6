/// What every off-policy algorithm in flowrl shares, owned in one place: the replay buffer, the
/// twin soft critic with its targets (when the algorithm has one), the temperature α (when it has
/// one), the random generator, the progress counters, the update loop with its metric averages,
/// capture and restore of all of it.
///
/// An algorithm holds a core (composition) and supplies only what is its own: its networks and
/// their optimisers (registered by checkpoint name), its acting policy, its step of an update
/// (`OffPolicyAgent.trainStep`), its pretraining and its own hyperparameters. Composition rather
/// than a base class, because the algorithms' actors have different types (a `SoftActor` for SAC
/// and SAC Flow, `FlowPolicy`s for SWFP, FlowBC and their reference copies): a base class would
/// have to erase them, where a held core leaves each algorithm its concrete actor and the core
/// stays one small object that can be reasoned about (and tested) alone.
///
/// One gradient step (`update`): draw a minibatch; note α before anything changes it; decide
/// whether this is an actor turn (`updates % policy_delay == 0`); run the algorithm's step, which
/// calls `criticStep`, `temperatureStep` and its own actor step in the order its paper gives;
/// then Polyak-average the critic targets every `target_update_interval` updates and count.
public final class OffPolicyCore {
    /// Features per observation.
    public let observationSize: Int
    /// Action dimensions d (actions lie in [-1, 1]^d).
    public let actionSize: Int
    /// The replay buffer every update samples from.
    public let buffer: ReplayBuffer
    /// The twin soft critic and its targets, or nil for an algorithm without a critic (FlowBC).
    public let softCritic: SoftCritic?
    /// α, or nil for an algorithm without an entropy temperature.
    public let temperature: Temperature?
    /// The policy `act` uses.
    public let policy: any ActingPolicy
    /// The agent's one random stream: initial weights (through the initialiser), minibatches,
    /// noise for acting and learning. One stream, so a seed fixes everything.
    public var generator: RandomGenerator
    /// Updates, actor updates, pretraining steps and transitions seen.
    public var progress = TrainingCounters()
    /// Rows per minibatch (`batch_size`).
    public let batchSize: Int
    /// The policy optimiser's learning rate while `pretrain` runs (`pretrain_learning_rate`), or nil
    /// for "auto": the learning rate in use (`learningRate`).
    let pretrainLearningRate: Float?
    /// `learning_rate` in use: the rate of every optimiser the algorithm registers (its policy's)
    /// and of α's when α is tuned. Set at creation, changed by `setLearningRates`.
    public private(set) var learningRate: Float
    /// `critic_learning_rate` in use: the critic optimiser's rate (the configuration's value, unused,
    /// for an algorithm without a critic).
    public private(set) var criticLearningRate: Float
    let policyDelay: Int
    let targetUpdateInterval: Int
    /// The algorithm's networks and optimisers with their checkpoint prefixes, in the order they
    /// are restored (networks first).
    let networks: [(name: String, layer: any Layer)]
    let optimizers: [(name: String, optimizer: Adam)]
    /// Any other state the algorithm keeps (see `StatePart`).
    let extraState: [StatePart]
    /// A tape for the algorithm's actor losses, reset by whoever records on it.
    public let tape = Tape()

    /// A core for an algorithm whose networks (`networks`, `optimizers`) are already built from
    /// `generator`; the critic is built from it next, so the order in which an agent consumes its
    /// seed is: the algorithm's networks, then the critic. With `particleWidth` > 0 the replay
    /// buffer keeps a particle chain of that many floats with each transition (`StoredParticles`).
    public init<Options: AlgorithmOptions>(configuration: OffPolicyConfiguration<Options>, observationSize: Int, actionSize: Int,
                         policy: any ActingPolicy, networks: [(name: String, layer: any Layer)],
                         optimizers: [(name: String, optimizer: Adam)], extraState: [StatePart] = [],
                         particleWidth: Int = 0, generator: RandomGenerator) throws {
        var generator = generator
        self.observationSize = observationSize
        self.actionSize = actionSize
        self.policy = policy
        self.networks = networks
        self.optimizers = optimizers
        self.extraState = extraState
        let groups = Options.groups
        let critic = configuration.critic
        softCritic = groups.contains(.critic)
            ? SoftCritic(observationSize: observationSize, actionSize: actionSize, hiddenSizes: critic.hiddenSizes,
                         layerNorm: critic.criticLayerNorm, learningRate: critic.learningRate, discount: critic.gamma,
                         targetRate: critic.criticTau, generator: &generator)
            : nil
        let settings = configuration.temperature
        temperature = groups.contains(.temperature)
            ? Temperature(setting: settings.alpha, initial: settings.initialAlpha,
                          targetEntropy: settings.resolvedTargetEntropy(actionSize: actionSize),
                          learningRate: configuration.common.learningRate)
            : nil
        // Without a critic every update is an actor update and there are no targets.
        policyDelay = groups.contains(.critic) ? critic.policyDelay : 1
        targetUpdateInterval = groups.contains(.critic) ? critic.targetUpdateInterval : 1
        batchSize = configuration.replay.batchSize
        if case .value(let rate) = configuration.common.pretrainLearningRate { pretrainLearningRate = rate } else { pretrainLearningRate = nil }
        learningRate = configuration.common.learningRate
        criticLearningRate = critic.learningRate
        buffer = try ReplayBuffer(capacity: configuration.replay.bufferSize, observationSize: observationSize, actionSize: actionSize,
                                  particleWidth: particleWidth)
        self.generator = generator
    }

    /// Sets the learning rates of every optimiser: `policy` (`learning_rate`) for the algorithm's
    /// registered optimisers and α's, `critic` (`critic_learning_rate`) for the critic's. The
    /// values were checked by the configuration (`AgentConfiguration.changing`).
    public func setLearningRates(policy: Float, critic: Float) {
        learningRate = policy
        criticLearningRate = critic
        for (_, optimizer) in optimizers { optimizer.learningRate = policy }
        temperature?.optimizer?.learningRate = policy
        softCritic?.optimizer.learningRate = critic
    }

    /// `configuration` with the learning rates in use (`setLearningRates` may have changed them
    /// since the agent was built from it).
    public func current<Options: AlgorithmOptions>(_ configuration: OffPolicyConfiguration<Options>) -> OffPolicyConfiguration<Options> {
        var current = configuration
        current.common.learningRate = learningRate
        if Options.groups.contains(.critic) { current.critic.learningRate = criticLearningRate }
        return current
    }

    /// State an algorithm keeps besides its networks and optimisers (a running statistic, a
    /// schedule position): how to add it to a captured state, and how to check it in a stored one
    /// and return the closure that puts it back (run only after every part passed).
    public struct StatePart {
        /// Adds the part to a captured state.
        public let capture: (inout AgentState) -> Void
        /// Checks the part in a stored state and returns the closure that restores it.
        public let restorer: (AgentState) throws -> () -> Void

        /// A part from its two halves.
        public init(capture: @escaping (inout AgentState) -> Void, restorer: @escaping (AgentState) throws -> () -> Void) {
            self.capture = capture
            self.restorer = restorer
        }
    }

    // MARK: Acting and storing

    /// Actions in [-1, 1] from the acting policy, its noise drawn from the agent's generator.
    public func act(observations: Tensor, deterministic: Bool) -> Tensor {
        policy.act(observations: observations, deterministic: deterministic, generator: &generator)
    }

    /// The acting policy's squashed sampling chain, or nil when it has none.
    public func particleChain(observations: Tensor, deterministic: Bool) -> [Tensor]? {
        policy.particleChain(observations: observations, deterministic: deterministic, generator: &generator)
    }

    /// Stores checked transitions and counts them.
    public func observe(_ transitions: Transitions) {
        buffer.add(transitions)
        progress.transitionsSeen += transitions.count
    }

    // MARK: Updates

    /// What the algorithm's step of one update receives.
    public struct UpdateStep {
        /// The minibatch drawn for this step.
        public let batch: Transitions
        /// α before this step (what the critic targets and actor losses use even after an α step).
        public let alpha: Float
        /// True on the updates where the actor (and α) learn: every `policy_delay`-th.
        public let actorTurn: Bool
    }

    /// Sums of metrics over the steps of one `update` call, averaged when it ends: critic-side
    /// metrics over every step, actor-side ones over the actor steps only (with a policy delay,
    /// an actor metric averaged over all steps would shrink by the delay).
    public struct Metrics {
        var sums: [String: Double] = [:]
        var perActorStep: Set<String> = []
        var actorSteps = 0
        var actorStepped = false

        /// Adds a metric measured on every step.
        public mutating func add(_ key: String, _ value: Double) { sums[key, default: 0] += value }

        /// Adds a metric measured on actor steps only.
        public mutating func addPerActorStep(_ key: String, _ value: Double) {
            sums[key, default: 0] += value
            perActorStep.insert(key)
        }

        /// Counts this step as an actor update (`actor_updates`, the actor metrics' divisor).
        public mutating func countActorStep() {
            actorSteps += 1
            actorStepped = true
        }

        func averages(gradientSteps: Int) -> [String: Double] {
            var metrics: [String: Double] = [:]
            for (key, total) in sums {
                metrics[key] = total / Double(perActorStep.contains(key) ? max(actorSteps, 1) : gradientSteps)
            }
            return metrics
        }
    }

    /// `gradientSteps` updates, each running `step` (the algorithm's part) on a fresh minibatch;
    /// returns the averaged metrics and, with a temperature, `train/alpha` after the last step.
    /// With `actorTurns` false no step is an actor turn: the critic learns alone (the critic
    /// warm-up after pretraining) while the actor, α and lagged copies stay as they are.
    /// `warmupTargetRate`, given only with `actorTurns` false, replaces the Polyak rate and moves
    /// the targets on every step.
    public func update(gradientSteps: Int, actorTurns: Bool = true, warmupTargetRate: Float? = nil,
                       _ step: (UpdateStep, inout Metrics) -> Void) -> [String: Double] {
        var metrics = Metrics()
        for _ in 0..<gradientSteps {
            let batch = buffer.sample(batchSize, generator: &generator)
            let context = UpdateStep(batch: batch, alpha: temperature?.alpha ?? 0,
                                     actorTurn: actorTurns && progress.updates % policyDelay == 0)
            metrics.actorStepped = false
            step(context, &metrics)
            if metrics.actorStepped { progress.actorUpdates += 1 }
            if let softCritic, let warmupTargetRate {
                softCritic.updateTarget(rate: warmupTargetRate)
            } else if let softCritic, (progress.updates + 1) % targetUpdateInterval == 0 {
                softCritic.updateTarget()
            }
            progress.updates += 1
        }
        var averages = metrics.averages(gradientSteps: gradientSteps)
        if let temperature { averages["train/alpha"] = Double(temperature.alpha) }
        return averages
    }

    /// One step of the soft critic on `batch` towards the soft Bellman targets of the next
    /// actions `a' ~ π(·|s')` and their `log π` (drawn by the algorithm, without gradient);
    /// reports `train/critic_loss` and `train/q_mean`. An algorithm without a log-density passes
    /// its own `targets` to `criticStep(on:targets:metrics:)` instead.
    public func criticStep(on batch: Transitions, nextActions: Tensor, nextLogProbability: Tensor, alpha: Float,
                           metrics: inout Metrics) {
        let targets = softCritic!.targets(for: batch, nextActions: nextActions, nextLogProbability: nextLogProbability, alpha: alpha)
        criticStep(on: batch, targets: targets, metrics: &metrics)
    }

    /// One step of the soft critic towards given targets (`[batch, 1]`).
    public func criticStep(on batch: Transitions, targets: Tensor, metrics: inout Metrics) {
        let (loss, meanQ) = softCritic!.update(on: batch, targets: targets)
        metrics.add("train/critic_loss", Double(loss))
        metrics.add("train/q_mean", Double(meanQ))
    }

    /// One α step from sampled `log π` values (whichever samples the algorithm's paper uses);
    /// reports `train/alpha_loss` and the entropy estimate `train/entropy = −mean log π`.
    public func temperatureStep(logProbability: Tensor, metrics: inout Metrics) {
        metrics.addPerActorStep("train/alpha_loss", Double(temperature!.update(logProbability: logProbability)))
        metrics.addPerActorStep("train/entropy", -Double(logProbability.sum()) / Double(logProbability.count))
    }

    /// `steps` Adam steps of `optimizer` (at `pretrain_learning_rate`, or at its own rate for "auto") on `loss` over minibatches
    /// of `batch_size` demonstrations drawn with replacement, counted as pretraining; returns the mean loss of
    /// the last 100 steps. `loss` records on the tape it is given (already reset).
    public func pretrain(observations: Tensor, actions: Tensor, steps: Int, optimizer: Adam,
                         loss: (_ observations: Tensor, _ actions: Tensor, _ tape: Tape, _ generator: inout RandomGenerator) -> Variable) -> Double {
        progress.pretrainSteps += steps
        let tape = self.tape
        let fineTuningRate = optimizer.learningRate
        optimizer.learningRate = pretrainLearningRate ?? fineTuningRate
        defer { optimizer.learningRate = fineTuningRate }
        return trainOnMinibatches(observations: observations, actions: actions, steps: steps, batchSize: batchSize,
                                  generator: &generator) { s, a, generator in
            tape.reset()
            let value = loss(s, a, tape, &generator)
            optimizer.minimize(value, on: tape)
            return value.value.scalar
        }
    }

    // MARK: State

    /// Every trainable tensor (the networks, the critic and its targets, log α), for the
    /// finiteness check after updates.
    public var allParameters: [Parameter] {
        networks.flatMap { $0.layer.parameters } + (softCritic.map { $0.critic.parameters + $0.target.parameters } ?? [])
            + (temperature.map { [$0.logAlpha] } ?? [])
    }

    /// The networks, optimisers, critic, α, extra parts, generator and counters under their
    /// checkpoint names; the replay buffer only when asked (it can be large).
    public func captureState(includeReplayBuffer: Bool) -> AgentState {
        var state = AgentState()
        for (name, layer) in networks { state.capture(layer, as: name) }
        for (name, optimizer) in optimizers { state.capture(optimizer, as: name) }
        softCritic?.capture(into: &state)
        temperature?.capture(into: &state)
        for part in extraState { part.capture(&state) }
        state.capture(generator, as: "generator")
        progress.capture(into: &state)
        if includeReplayBuffer { state.capture(buffer, as: "replay") }
        return state
    }

    /// Checks every part of `state` first, then changes everything (a bad state changes nothing).
    public func restoreState(_ state: AgentState) throws {
        var restorers: [() -> Void] = []
        for (name, layer) in networks { restorers.append(try state.restorer(for: layer, as: name)) }
        for (name, optimizer) in optimizers { restorers.append(try state.restorer(for: optimizer, as: name)) }
        if let softCritic { restorers.append(try softCritic.restorer(from: state)) }
        if let temperature { restorers.append(try temperature.restorer(from: state)) }
        restorers += try extraState.map { try $0.restorer(state) }
        restorers.append(try state.restorer(for: buffer, as: "replay"))
        let (restoredGenerator, restoredProgress) = (try state.generator(as: "generator"), try TrainingCounters(from: state))
        // Everything checked; now change.
        restorers.forEach { $0() }
        (generator, progress) = (restoredGenerator, restoredProgress)
    }
}

/// An agent built on an `OffPolicyCore`: the whole `Agent` surface except creation, the update
/// step and pretraining is the core's, forwarded here once. An algorithm conforming to it writes
/// its configuration options, its initialiser (networks, then the core), `memoryEstimate`,
/// `trainStep` and `pretrain`.
public protocol OffPolicyAgent: Agent {
    associatedtype Options: AlgorithmOptions
    var configuration: OffPolicyConfiguration<Options> { get }
    var core: OffPolicyCore { get }
    /// The algorithm's part of one gradient step (see `OffPolicyCore.update`).
    func trainStep(_ step: OffPolicyCore.UpdateStep, metrics: inout OffPolicyCore.Metrics)
    /// The memory of the algorithm's own networks, their optimiser state and their share of an
    /// update's workspace; `memoryEstimate` adds the critic, α and replay the groups imply.
    static func actorMemory(_ configuration: OffPolicyConfiguration<Options>, observationSize: Int, actionSize: Int) -> MemoryEstimate
}

extension OffPolicyAgent {
    /// The decoded and validated configuration and the generator seeded by it: how every
    /// algorithm's initialiser starts (its networks are then drawn from the generator, then the
    /// core's critic).
    public static func start(_ configurationJSON: String?) throws -> (OffPolicyConfiguration<Options>, RandomGenerator) {
        let configuration = try OffPolicyConfiguration<Options>.decode(json: configurationJSON, algorithm: algorithm)
        return (configuration, RandomGenerator(seed: configuration.common.seed))
    }

    /// The schema of `OffPolicyConfiguration<Options>` (its groups' keys) under the algorithm's name and summary.
    public static func configurationSchema() -> JSONValue {
        OffPolicyConfiguration<Options>.schema(algorithm: algorithm, summary: summary)
    }

    /// The configuration decoded and checked, the algorithm's `actorMemory` and the shared parts.
    public static func memoryEstimate(configurationJSON: String?, observationSize: Int, actionSize: Int) throws -> MemoryEstimate {
        let configuration = try OffPolicyConfiguration<Options>.decode(json: configurationJSON, algorithm: algorithm)
        return configuration.memoryEstimate(actor: actorMemory(configuration, observationSize: observationSize, actionSize: actionSize),
                                            observationSize: observationSize, actionSize: actionSize)
    }

    // The `Agent` requirements, each answered by the core (see `Agent` for what each means).

    /// The core's observation size.
    public var observationSize: Int { core.observationSize }
    /// The core's action size.
    public var actionSize: Int { core.actionSize }
    /// The configuration in use: the one the agent was built from (`configuration`) with the
    /// learning rates `setConfiguration` changed since.
    public var currentConfiguration: OffPolicyConfiguration<Options> { core.current(configuration) }
    /// The full configuration in use, defaults included, flat JSON (what `info` reports and
    /// checkpoints store).
    public var configurationJSON: String { currentConfiguration.jsonString() }

    /// Changes the settable keys (the learning rates) given in the JSON object `json`, all checked
    /// as a new configuration's first (`AgentConfiguration.changing`); on any error nothing changes.
    public func setConfiguration(json: String) throws {
        let changed = try currentConfiguration.changing(json: json, algorithm: Self.algorithm)
        core.setLearningRates(policy: changed.common.learningRate, critic: changed.critic.learningRate)
    }

    /// A checkpoint's configuration with the algorithm's renamed keys migrated (`AlgorithmOptions.renamedKeys`)
    /// and the keys added since at their legacy values (`ConfigKey.legacyValue`).
    public static func migratedConfiguration(json: String) -> String {
        OffPolicyConfiguration<Options>.migrated(json: json)
    }
    /// The core's counters by their JSON names.
    public var counters: [String: Int] { core.progress.dictionary }
    /// Transitions in the core's replay buffer.
    public var storedTransitionCount: Int { core.buffer.count }
    /// The core's generator.
    public var generator: RandomGenerator {
        get { core.generator }
        set { core.generator = newValue }
    }
    /// Every trainable parameter the core knows.
    public var allParameters: [Parameter] { core.allParameters }

    /// `OffPolicyCore.act`.
    public func act(observations: Tensor, deterministic: Bool) -> Tensor {
        core.act(observations: observations, deterministic: deterministic)
    }

    /// `OffPolicyCore.particleChain`.
    public func particleChain(observations: Tensor, deterministic: Bool) -> [Tensor]? {
        core.particleChain(observations: observations, deterministic: deterministic)
    }

    /// `OffPolicyCore.observe`.
    public func observe(_ transitions: Transitions) { core.observe(transitions) }

    /// Stores the demonstrations, sets α for fine-tuning (`alpha_after_pretraining`) and runs
    /// `critic_warmup_steps` critic-only updates on the replay buffer, so that the actor's first
    /// online step follows a critic that has seen the demonstrations (docs/finetuning-investigation.md).
    public func storeDemonstrations(_ transitions: Transitions) -> (metrics: [String: Double], rewind: () -> Void) {
        let mark = core.buffer.mark(beforeAdding: transitions.count)
        observe(transitions)   // the algorithm's own observe (RLDT's keeps a reward statistic)
        let rewind = { [core] in core.buffer.rewind(to: mark) }
        if let temperature = core.temperature {
            let meanAbsoluteReward = transitions.rewards.scalars.reduce(Float(0)) { $0 + abs($1) } / Float(transitions.count)
            temperature.setAfterPretraining(configuration.temperature.alphaAfterPretraining,
                                            meanAbsoluteReward: meanAbsoluteReward, actionSize: actionSize)
        }
        var metrics: [String: Double] = core.temperature.map { ["pretrain/alpha": Double($0.alpha)] } ?? [:]
        if let warmup = criticWarmupSteps, warmup > 0 {
            let averages = core.update(gradientSteps: warmup, actorTurns: false,
                                       warmupTargetRate: configuration.critic.givenWarmupTargetRate) {
                step, metrics in trainStep(step, metrics: &metrics)
            }
            for (key, value) in averages where key != "train/alpha" { metrics["critic_warmup/" + key.split(separator: "/").last!] = value }
            metrics["critic_warmup/steps"] = Double(warmup)
        }
        return (metrics, rewind)
    }

    /// `critic_warmup_steps` resolved ("auto" made a count), or nil for an algorithm without a critic.
    public var criticWarmupSteps: Int? {
        Options.groups.contains(.critic) ? configuration.critic.resolvedCriticWarmupSteps : nil
    }
    /// Replaces the generator's stream.
    public func reseed(_ seed: UInt64) { core.generator = RandomGenerator(seed: seed) }

    /// `gradientSteps` updates of the core's loop, each running `trainStep`.
    public func update(gradientSteps: Int) -> [String: Double] {
        core.update(gradientSteps: gradientSteps) { step, metrics in trainStep(step, metrics: &metrics) }
    }

    /// `OffPolicyCore.captureState`.
    public func captureState(includeReplayBuffer: Bool) -> AgentState { core.captureState(includeReplayBuffer: includeReplayBuffer) }
    /// `OffPolicyCore.restoreState`: all checked, then all changed.
    public func restoreState(_ state: AgentState) throws { try core.restoreState(state) }
}

extension OffPolicyCore {
    /// Flow-matching pretraining of `policy` (docs/algorithms.md, "Flow-matching pretraining"),
    /// the `pretrain` of every algorithm whose policy is a `FlowPolicy`.
    public func pretrainFlowMatching(_ policy: FlowPolicy, optimizer: Adam, observations: Tensor, actions: Tensor,
                                     steps: Int) -> [String: Double] {
        let loss = pretrain(observations: observations, actions: actions, steps: steps, optimizer: optimizer) { s, a, tape, generator in
            policy.flowMatchingLoss(observations: s, actions: a, tape: tape, generator: &generator)
        }
        return ["pretrain/flow_matching_loss": loss]
    }
}
