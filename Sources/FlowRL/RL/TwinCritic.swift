/// Two Q-networks `Q_φ1, Q_φ2` on `[s, a]` (clipped double Q): the soft critic of every
/// actor-critic algorithm in flowrl. With `layerNorm` (`critic_layer_norm`) each hidden layer of
/// both is Linear → LayerNorm → activation (docs/algorithms.md, "Soft twin critic").
public final class TwinCritic: Layer {
    public let first: MLP
    public let second: MLP

    public var parameters: [Parameter] { first.parameters + second.parameters }
    /// True when the networks' hidden layers are normalised.
    public var layerNorm: Bool { first.normalizesHiddenLayers }

    public init(observationSize: Int, actionSize: Int, hiddenSizes: [Int], activation: Activation = .relu, layerNorm: Bool = false,
                generator: inout RandomGenerator, name: String = "critic") {
        let sizes = [observationSize + actionSize] + hiddenSizes + [1]
        first = MLP(sizes: sizes, activation: activation, layerNorm: layerNorm, generator: &generator, name: name + ".q1")
        second = MLP(sizes: sizes, activation: activation, layerNorm: layerNorm, generator: &generator, name: name + ".q2")
    }

    /// `(Q₁(s, a), Q₂(s, a))`, each `[batch, 1]`; `actions` in [-1, 1].
    public func callAsFunction(observations: Variable, actions: Variable) -> (Variable, Variable) {
        let input = concatenateColumns([observations, actions])
        return (first(input), second(input))
    }

    /// `min(Q₁, Q₂)(s, a)`.
    public func minimum(observations: Variable, actions: Variable) -> Variable {
        let (q1, q2) = self(observations: observations, actions: actions)
        return FlowRL.minimum(q1, q2)
    }

    /// `(body(Q₁, 0), body(Q₂, 1))`, concurrently when the process is set to more than one thread
    /// (`ForkJoin`): the two networks share nothing, so each network's work is the same as in
    /// a sequential run and so are the results. `body` must keep to its network (its own tape,
    /// no random numbers, no writes to what the other call reads).
    public func eachNetwork<T>(_ body: (_ network: MLP, _ index: Int) -> T) -> (T, T) {
        ForkJoin.both({ body(first, 0) }, { body(second, 1) })
    }
}

extension TwinCritic {
    /// Whether the twin critic stored under `prefix` in `state` has layer norms (its parameter
    /// names say), or nil when the state holds none under `prefix`.
    public static func storedLayerNorm(in state: AgentState, as prefix: String) -> Bool? {
        let names = state.tensors.keys.filter { $0.hasPrefix(prefix + ".") }
        return names.isEmpty ? nil : names.contains { $0.contains(".\(MLP.normsName).") }
    }
}

/// The soft critic's learning: twin critic, its Polyak-averaged target, its optimiser.
///
/// Target (docs/algorithms.md, "Soft twin critic"):
/// `y = r + γ (1 − terminated) (min_j Q̄_j(s', a') − α log π(a'|s'))` with `a' ~ π(·|s')` sampled
/// fresh by the caller; truncation is not termination, so time limits bootstrap.
/// Loss `Σ_j ½ mean (Q_j(s, a) − y)²`.
public final class SoftCritic {
    public let critic: TwinCritic
    public let target: TwinCritic
    public let optimizer: Adam
    public let discount: Float
    public let targetRate: Float
    /// One tape per network: the loss is a sum of one term per network, so each network's
    /// term is recorded and differentiated alone, the two concurrently when `eachNetwork` forks.
    private let tapes = [Tape(), Tape()]
    private let noGrad = Tape(recording: false)

    public init(observationSize: Int, actionSize: Int, hiddenSizes: [Int], layerNorm: Bool = false, learningRate: Float,
                discount: Float, targetRate: Float, generator: inout RandomGenerator) {
        critic = TwinCritic(observationSize: observationSize, actionSize: actionSize, hiddenSizes: hiddenSizes,
                            layerNorm: layerNorm, generator: &generator, name: "critic")
        target = TwinCritic(observationSize: observationSize, actionSize: actionSize, hiddenSizes: hiddenSizes,
                            layerNorm: layerNorm, generator: &generator, name: "critic")
        target.copyParameters(from: critic)
        optimizer = Adam(parameters: critic.parameters, learningRate: learningRate)
        self.discount = discount
        self.targetRate = targetRate
    }

    /// The soft Bellman targets for a batch, `[batch, 1]`.
    public func targets(for batch: Transitions, nextActions: Tensor, nextLogProbability: Tensor, alpha: Float) -> Tensor {
        noGrad.reset()
        let next = noGrad.constant(target.minimumValue(observations: batch.nextObservations, actions: nextActions))
        let soft = next - noGrad.constant(nextLogProbability) * alpha
        let continuing = 1 - noGrad.constant(batch.terminated)
        return (noGrad.constant(batch.rewards) + discount * continuing * soft).value
    }

    /// The critic loss `Σ_j ½ mean (Q_j(s, a) − y)²` on `tape`, with `Q₁`.
    public func loss(on batch: Transitions, targets: Tensor, tape: Tape) -> (loss: Variable, q1: Variable) {
        let input = Tensor.concatenatingColumns([batch.observations, batch.actions])
        let (term1, q1) = Self.term(critic.first, input: input, targets: targets, tape: tape)
        let (term2, _) = Self.term(critic.second, input: input, targets: targets, tape: tape)
        return (term1 + term2, q1)
    }

    /// One network's term of the loss, `½ mean (Q_j(s, a) − y)²`, with `Q_j`; `input` is `[s, a]`.
    private static func term(_ network: MLP, input: Tensor, targets: Tensor, tape: Tape) -> (term: Variable, q: Variable) {
        let q = network(tape.constant(input))
        return (0.5 * (q - tape.constant(targets)).squared().mean(), q)
    }

    /// One Adam step on the critic loss; returns `(loss, mean Q₁)`. Each network's term is
    /// differentiated on its own tape (`eachNetwork`): its parameters' gradients are those of
    /// the whole loss, since the other term does not depend on them.
    public func update(on batch: Transitions, targets: Tensor) -> (loss: Float, meanQ: Float) {
        let input = Tensor.concatenatingColumns([batch.observations, batch.actions])
        optimizer.zeroGradients()
        let (first, second) = critic.eachNetwork { network, index in
            let tape = tapes[index]
            tape.reset()
            let (term, q) = Self.term(network, input: input, targets: targets, tape: tape)
            tape.backward(from: term)
            return (term: term.value.scalar, meanQ: q.value.sum() / Float(max(1, q.rows)))
        }
        optimizer.update()
        return (first.term + second.term, first.meanQ)
    }

    /// `φ̄ ← (1 − τ_Q) φ̄ + τ_Q φ`.
    public func updateTarget() { updateTarget(rate: targetRate) }
    /// One Polyak step of the targets at `rate` (the critic warm-up's).
    public func updateTarget(rate: Float) { target.polyakUpdate(towards: critic, rate: rate) }

    public func capture(into state: inout AgentState) {
        state.capture(critic, as: "critic")
        state.capture(target, as: "critic_target")
        state.capture(optimizer, as: "critic_optimizer")
    }

    /// Reads everything first; returns a closure that applies it (so callers check all parts
    /// of a state before changing any). A state saved with the other `critic_layer_norm` is
    /// refused naming the key.
    public func restorer(from state: AgentState) throws -> () -> Void {
        for prefix in ["critic", "critic_target"] {
            if let stored = TwinCritic.storedLayerNorm(in: state, as: prefix), stored != critic.layerNorm {
                throw FlowRLError.io("checkpoint: '\(prefix)' was saved with critic_layer_norm \(stored), this agent's is "
                                     + "\(critic.layerNorm); the key must agree")
            }
        }
        let restorers = [try state.restorer(for: critic, as: "critic"), try state.restorer(for: target, as: "critic_target"),
                         try state.restorer(for: optimizer, as: "critic_optimizer")]
        return { restorers.forEach { $0() } }
    }
}
