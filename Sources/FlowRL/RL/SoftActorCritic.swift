/// The actor side of soft actor-critic for any `SoftActor`, in Stable-Baselines3's order: the
/// step SAC and SAC Flow share (docs/algorithms.md, "Gaussian SAC", "One update").
///
/// On an actor turn `a_π ~ π(·|s)` is recorded once, beside `a' ~ π(·|s')` for the critic
/// targets; `log π(a_π|s)` drives the α step (the α from before it is used below); then the
/// critic steps on soft Bellman targets with `a'`; then the actor steps on
/// `mean(α log π(a_π|s) − min_j Q_j(s, a_π)) + λ mean ‖a_π − a‖²` with the updated critic.
/// Between actor turns (`policy_delay > 1`) only the critic learns.
public struct SoftActorCriticStep {
    /// The policy trained (SAC's Gaussian, SAC Flow's flow).
    public let actor: any SoftActor
    /// The actor's Adam optimiser (also used by pretraining, so its moments carry over).
    public let optimizer: Adam
    let core: OffPolicyCore
    /// λ of the proximity term to the replay actions (0 turns it off).
    public let proximityCoefficient: Float

    /// The step for `actor` on `core`; `build` makes both together.
    public init(actor: any SoftActor, optimizer: Adam, core: OffPolicyCore, proximityCoefficient: Float) {
        self.actor = actor
        self.optimizer = optimizer
        self.core = core
        self.proximityCoefficient = proximityCoefficient
    }

    /// The core of a soft actor-critic agent around `actor` (already drawn from `generator`) and
    /// the step that trains it: the actor's Adam optimiser at `learning_rate`, both stored under
    /// the checkpoint names `actor` and `actor_optimizer`.
    public static func build<Options: AlgorithmOptions>(actor: any SoftActor, configuration: OffPolicyConfiguration<Options>,
                                                        observationSize: Int, actionSize: Int, proximityCoefficient: Float,
                                                        generator: RandomGenerator) throws -> (OffPolicyCore, SoftActorCriticStep) {
        let optimizer = Adam(parameters: actor.parameters, learningRate: configuration.common.learningRate)
        let core = try OffPolicyCore(configuration: configuration, observationSize: observationSize, actionSize: actionSize,
                                     policy: actor, networks: [("actor", actor)], optimizers: [("actor_optimizer", optimizer)],
                                     generator: generator)
        return (core, SoftActorCriticStep(actor: actor, optimizer: optimizer, core: core, proximityCoefficient: proximityCoefficient))
    }

    /// One update's critic, α and actor steps in SB3's order (see the type's comment).
    public func run(_ step: OffPolicyCore.UpdateStep, metrics: inout OffPolicyCore.Metrics) {
        let (batch, tape, critic) = (step.batch, core.tape, core.softCritic!)
        // The actor's sample (on the tape) and the critic target's (without gradient) are
        // independent, so they may run concurrently (`ForkJoin`); their noise is drawn first, in
        // the order of a sequential run, and the α step, which neither reads, follows both.
        let actorNoise = step.actorTurn ? noise(rows: batch.count) : nil
        let nextNoise = noise(rows: batch.count)
        if step.actorTurn {
            tape.reset()
            tape.freeze(critic.critic)
        }
        let (sampled, next) = ForkJoin.both({
            actorNoise.map { noise in
                let s = tape.constant(batch.observations)
                let (actions, logProbability) = actor.sample(observations: s, noise: noise)
                return (observations: s, actions: actions, logProbability: logProbability)
            }
        }, {
            actor.sampleWithoutGradient(observations: batch.nextObservations, noise: nextNoise)
        })
        if let sampled { core.temperatureStep(logProbability: sampled.logProbability.value, metrics: &metrics) }
        core.criticStep(on: batch, nextActions: next.actions, nextLogProbability: next.logProbability, alpha: step.alpha,
                        metrics: &metrics)
        // The critic is read only now, so the actor step sees it after its step, as in SB3.
        if let (s, actions, logProbability) = sampled {
            let loss = objective(observations: s, actions: actions, logProbability: logProbability, alpha: step.alpha,
                                 bufferActions: batch.actions)
            optimizer.minimize(loss, on: tape)
            metrics.addPerActorStep("train/actor_loss", Double(loss.value.scalar))
            metrics.countActorStep()
        }
    }

    private func noise(rows: Int) -> Tensor { core.generator.normalTensor(rows: rows, cols: actor.noiseSize) }

    /// The actor loss `mean(α log π(a_π|s) − min_j Q_j(s, a_π)) + λ mean ‖a_π − a‖²` for the
    /// given noise, on `tape` (the critic frozen), with the sampled `log π`. `bufferActions` are
    /// the replay actions the proximity term pulls towards (ignored when λ = 0).
    public func loss(observations: Tensor, noise: Tensor, alpha: Float, bufferActions: Tensor? = nil,
                     tape: Tape) -> (loss: Variable, logProbability: Variable) {
        tape.freeze(core.softCritic!.critic)
        let s = tape.constant(observations)
        let (actions, logProbability) = actor.sample(observations: s, noise: noise)
        return (objective(observations: s, actions: actions, logProbability: logProbability, alpha: alpha,
                          bufferActions: bufferActions), logProbability)
    }

    /// The actor loss for already sampled actions (the critic must be frozen on their tape).
    func objective(observations s: Variable, actions: Variable, logProbability: Variable, alpha: Float,
                   bufferActions: Tensor?) -> Variable {
        var loss = (alpha * logProbability - core.softCritic!.critic.frozenMinimum(observations: s, actions: actions)).mean()
        if proximityCoefficient > 0, let bufferActions {
            loss = loss + proximityCoefficient * (actions - s.tape.constant(bufferActions)).squared().sumOfEachRow().mean()
        }
        return loss
    }
}
