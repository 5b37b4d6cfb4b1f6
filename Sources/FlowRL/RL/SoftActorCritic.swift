/// Settings every soft actor-critic agent shares (Python keyword = JSON key in snake_case).
public struct SoftActorCriticSettings {
    public var criticHiddenSizes: [Int]
    public var learningRate: Float
    public var batchSize: Int
    public var bufferSize: Int
    public var gamma: Float
    public var criticTau: Float
    public var alpha: AutoOrNumber
    public var initialAlpha: Float
    public var targetEntropy: AutoOrNumber
    public var targetUpdateInterval: Int
    /// Critic updates per actor (and α) update; 1 is SAC's schedule.
    public var policyDelay: Int
    /// λ of the proximity term `λ · mean ‖a_π − a_buffer‖²` (0 turns it off).
    public var proximityCoefficient: Float
}

extension SoftActorCriticSettings {
    /// The estimate of a soft actor-critic agent whose actor has `actorParameters` parameters and
    /// passes each sample through `actorUnits` units; the actor runs twice per update (for the
    /// actor step and for the critic targets).
    func memoryEstimate(actorParameters: Double, actorUnits: Double, actorKeys: [String], observationSize: Int,
                        actionSize: Int) -> MemoryEstimate {
        var estimate = MemoryEstimate()
        estimate.parameters = actorParameters
        estimate.optimizerMoments = 2 * actorParameters
        estimate.workspace = 2 * MemoryEstimate.floatsPerUnit * Double(batchSize) * actorUnits
        estimate.networkKeys = actorKeys
        estimate.workspaceKeys = ["batch_size"] + actorKeys
        estimate.addSoftCritic(observationSize: observationSize, actionSize: actionSize, hiddenSizes: criticHiddenSizes,
                               batchSize: batchSize)
        estimate.addTemperature(alpha)
        estimate.addReplay(capacity: bufferSize, batchSize: batchSize, observationSize: observationSize, actionSize: actionSize)
        return estimate
    }
}

/// Soft actor-critic for any `SoftActor`, in Stable-Baselines3's update order, shared by the
/// Gaussian SAC baseline and SAC Flow (each subclass holds only its actor, its configuration and
/// its pretraining).
///
/// One update: sample `a_π ~ π(·|s)`; α step on `−log α · mean(log π + H̄)` (the α from before this
/// step is used below); critic step on soft Bellman targets with `a' ~ π(·|s')`; actor step on
/// `mean(α log π(a_π|s) − min_j Q_j(s, a_π)) + λ mean ‖a_π − a‖²` with the updated critic; Polyak
/// update of the critic targets every `target_update_interval` updates.
public class SoftActorCriticAgent {
    public let observationSize: Int
    public let actionSize: Int
    public let actor: any SoftActor
    public let softCritic: SoftCritic
    public let temperature: Temperature
    let actorOptimizer: Adam
    let buffer: ReplayBuffer
    public var generator: RandomGenerator
    let settings: SoftActorCriticSettings
    public var progress = TrainingCounters()
    let tape = Tape()

    init(observationSize: Int, actionSize: Int, actor: any SoftActor, settings: SoftActorCriticSettings,
         generator: inout RandomGenerator) throws {
        self.observationSize = observationSize
        self.actionSize = actionSize
        self.actor = actor
        self.settings = settings
        softCritic = SoftCritic(observationSize: observationSize, actionSize: actionSize, hiddenSizes: settings.criticHiddenSizes,
                                learningRate: settings.learningRate, discount: settings.gamma,
                                targetRate: settings.criticTau, generator: &generator)
        let targetEntropy: Float
        if case .value(let value) = settings.targetEntropy { targetEntropy = value } else { targetEntropy = -Float(actionSize) }
        temperature = Temperature(setting: settings.alpha, initial: settings.initialAlpha,
                                  targetEntropy: targetEntropy, learningRate: settings.learningRate)
        actorOptimizer = Adam(parameters: actor.parameters, learningRate: settings.learningRate)
        buffer = try ReplayBuffer(capacity: settings.bufferSize, observationSize: observationSize, actionSize: actionSize)
        self.generator = generator
    }

    public var counters: [String: Int] { progress.dictionary }
    public var storedTransitionCount: Int { buffer.count }
    public var allParameters: [Parameter] {
        actor.parameters + softCritic.critic.parameters + softCritic.target.parameters + [temperature.logAlpha]
    }

    public func act(observations: Tensor, deterministic: Bool) -> Tensor {
        let noGrad = Tape(recording: false)
        let s = noGrad.constant(observations)
        if deterministic { return actor.meanAction(observations: s).value }
        return actor.sample(observations: s, noise: generator.normalTensor(rows: observations.rows, cols: actor.noiseSize)).actions.value
    }

    public func observe(_ transitions: Transitions) {
        buffer.add(transitions)
        progress.transitionsSeen += transitions.count
    }

    public func reseed(_ seed: UInt64) { generator = RandomGenerator(seed: seed) }

    /// The actor loss `mean(α log π(a_π|s) − min_j Q_j(s, a_π)) + λ mean ‖a_π − a‖²` for the given
    /// noise, on `tape` (the critic frozen), with the sampled `log π`. `bufferActions` are the
    /// replay actions the proximity term pulls towards (ignored when λ = 0).
    public func actorLoss(observations: Tensor, noise: Tensor, alpha: Float, bufferActions: Tensor? = nil,
                          tape: Tape) -> (loss: Variable, logProbability: Variable) {
        tape.freeze(softCritic.critic)
        let s = tape.constant(observations)
        let (actions, logProbability) = actor.sample(observations: s, noise: noise)
        return (actorObjective(observations: s, actions: actions, logProbability: logProbability, alpha: alpha,
                               bufferActions: bufferActions), logProbability)
    }

    /// The actor loss for already sampled actions (the critic must be frozen on their tape).
    func actorObjective(observations s: Variable, actions: Variable, logProbability: Variable, alpha: Float,
                        bufferActions: Tensor?) -> Variable {
        var loss = (alpha * logProbability - softCritic.critic.frozenMinimum(observations: s, actions: actions)).mean()
        if settings.proximityCoefficient > 0, let bufferActions {
            loss = loss + settings.proximityCoefficient * (actions - s.tape.constant(bufferActions)).squared().sumOfEachRow().mean()
        }
        return loss
    }

    /// Actions and `log π` without gradients, for the critic targets and the α step.
    public func sampleWithoutGradient(observations: Tensor, noise: Tensor) -> (actions: Tensor, logProbability: Tensor) {
        let noGrad = Tape(recording: false)
        let (actions, logProbability) = actor.sample(observations: noGrad.constant(observations), noise: noise)
        return (actions.value, logProbability.value)
    }

    public func update(gradientSteps: Int) -> [String: Double] {
        var sums: [String: Double] = [:]
        var actorSteps = 0
        for _ in 0..<gradientSteps {
            let batch = buffer.sample(settings.batchSize, generator: &generator)
            let alpha = temperature.alpha
            // On the actor's turn a_π ~ π(·|s) is recorded once: its log π drives the α step now and
            // the actor step below. Between turns (policy_delay > 1) only the critic learns.
            let actorTurn = progress.updates % settings.policyDelay == 0
            var sampled: (observations: Variable, actions: Variable, logProbability: Variable)?
            if actorTurn {
                tape.reset()
                tape.freeze(softCritic.critic)
                let s = tape.constant(batch.observations)
                let (actions, logProbability) = actor.sample(observations: s,
                                                             noise: generator.normalTensor(rows: batch.count, cols: actor.noiseSize))
                sampled = (s, actions, logProbability)
                sums["train/alpha_loss", default: 0] += Double(temperature.update(logProbability: logProbability.value))
                sums["train/entropy", default: 0] += -Double(logProbability.value.sum()) / Double(batch.count)
            }
            let next = sampleWithoutGradient(observations: batch.nextObservations,
                                             noise: generator.normalTensor(rows: batch.count, cols: actor.noiseSize))
            let targets = softCritic.targets(for: batch, nextActions: next.actions, nextLogProbability: next.logProbability, alpha: alpha)
            let (criticLoss, meanQ) = softCritic.update(on: batch, targets: targets)
            // The critic is read only now, so the actor step sees it after its step, as in SB3.
            if let (s, actionsPi, logPi) = sampled {
                let actorLoss = actorObjective(observations: s, actions: actionsPi, logProbability: logPi, alpha: alpha,
                                               bufferActions: batch.actions)
                actorOptimizer.zeroGradients()
                tape.backward(from: actorLoss)
                actorOptimizer.update()
                sums["train/actor_loss", default: 0] += Double(actorLoss.value.scalar)
                actorSteps += 1
                progress.actorUpdates += 1
            }
            if (progress.updates + 1) % settings.targetUpdateInterval == 0 { softCritic.updateTarget() }
            progress.updates += 1
            sums["train/critic_loss", default: 0] += Double(criticLoss)
            sums["train/q_mean", default: 0] += Double(meanQ)
        }
        var metrics: [String: Double] = [:]
        for (key, total) in sums {
            let perActorStep = key == "train/actor_loss" || key == "train/alpha_loss" || key == "train/entropy"
            metrics[key] = total / Double(perActorStep ? max(actorSteps, 1) : gradientSteps)
        }
        metrics["train/alpha"] = Double(temperature.alpha)
        return metrics
    }

    public func captureState(includeReplayBuffer: Bool) -> AgentState {
        var state = AgentState()
        state.capture(actor, as: "actor")
        state.capture(actorOptimizer, as: "actor_optimizer")
        softCritic.capture(into: &state)
        temperature.capture(into: &state)
        state.capture(generator, as: "generator")
        progress.capture(into: &state)
        if includeReplayBuffer { state.capture(buffer, as: "replay") }
        return state
    }

    public func restoreState(_ state: AgentState) throws {
        let restorers = [try state.restorer(for: actor, as: "actor"), try state.restorer(for: actorOptimizer, as: "actor_optimizer"),
                         try softCritic.restorer(from: state), try temperature.restorer(from: state),
                         try state.restorer(for: buffer, as: "replay")]
        let (restoredGenerator, restoredProgress) = (try state.generator(as: "generator"), try TrainingCounters(from: state))
        // Everything checked; now change.
        restorers.forEach { $0() }
        (generator, progress) = (restoredGenerator, restoredProgress)
    }
}
