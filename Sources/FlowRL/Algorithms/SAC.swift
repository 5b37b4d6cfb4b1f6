#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A tanh-squashed diagonal Gaussian policy, as Stable-Baselines3's SAC actor: an MLP trunk with
/// ReLU after every hidden layer, then linear heads for the mean `μ` and `log σ` (clamped to
/// [−20, 2]); `u = μ + σ ⊙ ε`, `a = tanh(u)`,
/// `log π(a|s) = Σ_j [−½ ε_j² − log σ_j − ½ log 2π] − Σ_j log(1 − a_j² + 1e-6)`.
public final class SquashedGaussianPolicy: Layer {
    public let trunk: MLP
    public let mean: Linear
    public let logStd: Linear
    public static let logStdRange: ClosedRange<Float> = -20...2

    public var parameters: [Parameter] { trunk.parameters + mean.parameters + logStd.parameters }
    public var actionSize: Int { mean.outputSize }

    public init(observationSize: Int, actionSize: Int, hiddenSizes: [Int], generator: inout RandomGenerator) {
        trunk = MLP(sizes: [observationSize] + hiddenSizes, activation: .relu, generator: &generator, name: "actor.trunk")
        mean = Linear(inputSize: hiddenSizes.last!, outputSize: actionSize, generator: &generator, name: "actor.mean")
        logStd = Linear(inputSize: hiddenSizes.last!, outputSize: actionSize, generator: &generator, name: "actor.log_std")
    }

    /// `(μ, log σ)` for a batch.
    public func distribution(observations: Variable) -> (mean: Variable, logStd: Variable) {
        let features = trunk(observations).relu()   // SB3 applies the activation after the last hidden layer too
        return (mean(features), logStd(features).clamped(lower: Self.logStdRange.lowerBound, upper: Self.logStdRange.upperBound))
    }

    /// Reparameterised actions for the given standard-normal `noise` and their log-density.
    public func sample(observations: Variable, noise: Tensor) -> (actions: Variable, logProbability: Variable) {
        let (mu, logSigma) = distribution(observations: observations)
        let epsilon = observations.tape.constant(noise)
        let actions = (mu + logSigma.exp() * epsilon).tanh()
        let gaussian = (epsilon.squared() * -0.5 - logSigma).sumOfEachRow() - 0.5 * Float(actionSize) * log(2 * Float.pi)
        let squash = (1 + 1e-6 - actions.squared()).log().sumOfEachRow()
        return (actions, gaussian - squash)
    }

    /// `tanh(μ)`, the deterministic action.
    public func meanAction(observations: Variable) -> Variable {
        distribution(observations: observations).mean.tanh()
    }
}

/// Soft actor-critic with a Gaussian policy, following Stable-Baselines3's `SAC` (its defaults,
/// its update order): the like-for-like baseline for flowrl's flow-policy algorithms.
///
/// One update: sample `a_π ~ π(·|s)`; α step on `−log α · mean(log π + H̄)` (α from before this step
/// is used below); critic step on soft Bellman targets with `a' ~ π(·|s')`; actor step on
/// `mean(α log π(a_π|s) − min_j Q_j(s, a_π))` with the updated critic; Polyak update of the targets.
public final class SAC: Agent {
    public static let algorithm = "sac"

    /// Hyperparameters (Python keyword = JSON key in snake_case); defaults as Stable-Baselines3's SAC.
    public struct Configuration: AgentConfiguration {
        public var hiddenSizes = [256, 256]
        public var criticHiddenSizes = [256, 256]
        public var learningRate: Float = 3e-4
        public var batchSize = 256
        public var bufferSize = 1_000_000
        public var gamma: Float = 0.99
        /// Polyak rate τ of the critic targets.
        public var criticTau: Float = 0.005
        /// α (SB3's `ent_coef`), fixed or "auto".
        public var alpha = AutoOrNumber.auto
        public var initialAlpha: Float = 1
        /// "auto" means −d.
        public var targetEntropy = AutoOrNumber.auto
        public var learningStarts = 100
        public var trainFreq = 1
        public var gradientSteps = 1
        /// Updates between critic-target updates.
        public var targetUpdateInterval = 1
        public var seed: UInt64 = 0

        public init() {}

        public func validate() throws {
            try ConfigCheck.layerSizes(hiddenSizes, "hidden_sizes")
            try ConfigCheck.layerSizes(criticHiddenSizes, "critic_hidden_sizes")
            try ConfigCheck.inRange(learningRate, 1e-8...1, "learning_rate")
            try ConfigCheck.inRange(batchSize, 1...1_000_000, "batch_size")
            try ConfigCheck.inRange(bufferSize, 1...100_000_000, "buffer_size")
            try ConfigCheck.inRange(gamma, 0...1, "gamma")
            try ConfigCheck.inRange(criticTau, 0...1, "critic_tau")
            if case .value(let value) = alpha { try ConfigCheck.inRange(value, 1e-8...1e8, "alpha") }
            try ConfigCheck.inRange(initialAlpha, 1e-8...1e8, "initial_alpha")
            if case .value(let value) = targetEntropy { try ConfigCheck.finite(value, "target_entropy") }
            try ConfigCheck.inRange(learningStarts, 0...1_000_000_000, "learning_starts")
            try ConfigCheck.inRange(trainFreq, 1...1_000_000, "train_freq")
            try ConfigCheck.inRange(gradientSteps, 1...1_000_000, "gradient_steps")
            try ConfigCheck.inRange(targetUpdateInterval, 1...1_000_000, "target_update_interval")
        }
    }

    public let configuration: Configuration
    public let observationSize: Int
    public let actionSize: Int
    public let actor: SquashedGaussianPolicy
    public let softCritic: SoftCritic
    public let temperature: Temperature
    let actorOptimizer: Adam
    let buffer: ReplayBuffer
    var generator: RandomGenerator
    var updates = 0
    var pretrainSteps = 0
    var transitionsSeen = 0
    private let tape = Tape()

    public init(configurationJSON: String?, observationSize: Int, actionSize: Int) throws {
        let configuration = try Configuration.decode(json: configurationJSON, algorithm: Self.algorithm)
        self.configuration = configuration
        self.observationSize = observationSize
        self.actionSize = actionSize
        var generator = RandomGenerator(seed: configuration.seed)
        actor = SquashedGaussianPolicy(observationSize: observationSize, actionSize: actionSize,
                                       hiddenSizes: configuration.hiddenSizes, generator: &generator)
        softCritic = SoftCritic(observationSize: observationSize, actionSize: actionSize, hiddenSizes: configuration.criticHiddenSizes,
                                learningRate: configuration.learningRate, discount: configuration.gamma,
                                targetRate: configuration.criticTau, generator: &generator)
        let targetEntropy: Float
        if case .value(let value) = configuration.targetEntropy { targetEntropy = value } else { targetEntropy = -Float(actionSize) }
        temperature = Temperature(setting: configuration.alpha, initial: configuration.initialAlpha,
                                  targetEntropy: targetEntropy, learningRate: configuration.learningRate)
        actorOptimizer = Adam(parameters: actor.parameters, learningRate: configuration.learningRate)
        buffer = try ReplayBuffer(capacity: configuration.bufferSize, observationSize: observationSize, actionSize: actionSize)
        self.generator = generator
    }

    public var configurationJSON: String { configuration.jsonString() }
    public var counters: [String: Int] { ["updates": updates, "pretrain_steps": pretrainSteps, "transitions_seen": transitionsSeen] }
    public var storedTransitionCount: Int { buffer.count }
    public var allParameters: [Parameter] {
        actor.parameters + softCritic.critic.parameters + softCritic.target.parameters + [temperature.logAlpha]
    }

    public func act(observations: Tensor, deterministic: Bool) -> Tensor {
        let noGrad = Tape(recording: false)
        let s = noGrad.constant(observations)
        if deterministic { return actor.meanAction(observations: s).value }
        return actor.sample(observations: s, noise: generator.normalTensor(rows: observations.rows, cols: actionSize)).actions.value
    }

    public func observe(_ transitions: Transitions) {
        buffer.add(transitions)
        transitionsSeen += transitions.count
    }

    /// The actor loss `mean(α log π(a_π|s) − min_j Q_j(s, a_π))` for the given noise, on `tape`
    /// (the critic frozen), with the sampled `log π`.
    public func actorLoss(observations: Tensor, noise: Tensor, alpha: Float, tape: Tape) -> (loss: Variable, logProbability: Variable) {
        tape.freeze(softCritic.critic)
        let s = tape.constant(observations)
        let (actions, logProbability) = actor.sample(observations: s, noise: noise)
        let q = softCritic.critic.minimum(observations: s, actions: actions)
        return ((alpha * logProbability - q).mean(), logProbability)
    }

    /// Actions and `log π` at `observations` without gradients, for the critic targets.
    public func sampleWithoutGradient(observations: Tensor, noise: Tensor) -> (actions: Tensor, logProbability: Tensor) {
        let noGrad = Tape(recording: false)
        let (actions, logProbability) = actor.sample(observations: noGrad.constant(observations), noise: noise)
        return (actions.value, logProbability.value)
    }

    public func update(gradientSteps: Int) -> [String: Double] {
        var sums: [String: Double] = [:]
        for _ in 0..<gradientSteps {
            let batch = buffer.sample(configuration.batchSize, generator: &generator)
            let alpha = temperature.alpha
            // a_π ~ π(·|s) once; its log π drives the α step now and the actor step below.
            let actorNoise = generator.normalTensor(rows: batch.count, cols: actionSize)
            let current = sampleWithoutGradient(observations: batch.observations, noise: actorNoise)
            sums["train/alpha_loss", default: 0] += Double(temperature.update(logProbability: current.logProbability))
            let next = sampleWithoutGradient(observations: batch.nextObservations,
                                             noise: generator.normalTensor(rows: batch.count, cols: actionSize))
            let targets = softCritic.targets(for: batch, nextActions: next.actions, nextLogProbability: next.logProbability, alpha: alpha)
            let (criticLoss, meanQ) = softCritic.update(on: batch, targets: targets)
            // The actor step sees the critic after its step, as in SB3.
            tape.reset()
            let (actorLoss, _) = self.actorLoss(observations: batch.observations, noise: actorNoise, alpha: alpha, tape: tape)
            actorOptimizer.zeroGradients()
            tape.backward(from: actorLoss)
            actorOptimizer.update()
            if (updates + 1) % configuration.targetUpdateInterval == 0 { softCritic.updateTarget() }
            updates += 1
            sums["train/critic_loss", default: 0] += Double(criticLoss)
            sums["train/q_mean", default: 0] += Double(meanQ)
            sums["train/actor_loss", default: 0] += Double(actorLoss.value.scalar)
            sums["train/entropy", default: 0] += -Double(current.logProbability.sum()) / Double(batch.count)
        }
        var metrics = sums.mapValues { $0 / Double(gradientSteps) }
        metrics["train/alpha"] = Double(temperature.alpha)
        return metrics
    }

    /// Behaviour cloning by maximum likelihood: Adam steps on `−mean log π(a|s)` over minibatches
    /// of demonstrations, with `u = atanh(clip(a, ±(1 − 1e-3)))` the pre-squash point of `a`.
    public func pretrain(observations: Tensor, actions: Tensor, steps: Int) -> [String: Double] {
        var total = 0.0
        let reported = min(steps, 100)
        for index in 0..<steps {
            let rows = (0..<configuration.batchSize).map { _ in Int(generator.next() % UInt64(observations.rows)) }
            let (s, a) = (observations.gathering(rows: rows), actions.gathering(rows: rows))
            tape.reset()
            let (mu, logSigma) = actor.distribution(observations: tape.constant(s))
            let u = tape.constant(a.map(ClippedArctanh.self))
            let standardized = (u - mu) / logSigma.exp()
            let gaussian = (standardized.squared() * -0.5 - logSigma).sumOfEachRow() - 0.5 * Float(actionSize) * log(2 * Float.pi)
            let squashed = tape.constant(u.value.map(Elementwise.Tanh.self))
            let logProbability = gaussian - (1 + 1e-6 - squashed.squared()).log().sumOfEachRow()
            let loss = -logProbability.mean()
            actorOptimizer.zeroGradients()
            tape.backward(from: loss)
            actorOptimizer.update()
            if index >= steps - reported { total += Double(loss.value.scalar) }
        }
        pretrainSteps += steps
        return ["pretrain/negative_log_likelihood": total / Double(reported)]
    }

    public func reseed(_ seed: UInt64) { generator = RandomGenerator(seed: seed) }

    public func captureState(includeReplayBuffer: Bool) -> AgentState {
        var state = AgentState()
        state.capture(actor, as: "actor")
        state.capture(actorOptimizer, as: "actor_optimizer")
        softCritic.capture(into: &state)
        temperature.capture(into: &state)
        state.capture(generator, as: "generator")
        for (key, value) in counters { state.integers["counters.\(key)"] = UInt64(value) }
        if includeReplayBuffer { state.capture(buffer, as: "replay") }
        return state
    }

    public func restoreState(_ state: AgentState) throws {
        let actorValues = try state.parameterValues(for: actor, as: "actor")
        let moments = try state.optimizerValues(for: actorOptimizer, as: "actor_optimizer")
        let restoreCritic = try softCritic.restorer(from: state)
        let restoreTemperature = try temperature.restorer(from: state)
        let restoredGenerator = try state.generator(as: "generator")
        let counterValues = try counters.keys.sorted().map { ($0, try state.counter("counters.\($0)")) }
        let replay = state.bufferContents(as: "replay")
        if let (stored, nextIndex) = replay { try buffer.validateRestore(stored, nextIndex: nextIndex) }
        actor.assignParameters(actorValues)
        try actorOptimizer.restore(step: moments.step, firstMoments: moments.first, secondMoments: moments.second)
        restoreCritic()
        restoreTemperature()
        generator = restoredGenerator
        for (key, value) in counterValues {
            switch key {
            case "updates": updates = value
            case "pretrain_steps": pretrainSteps = value
            default: transitionsSeen = value
            }
        }
        if let (stored, nextIndex) = replay { buffer.restore(stored, nextIndex: nextIndex) }
    }
}
