/// The SWFP block loss (Eq. 20 with the Eq. 19 regulariser of arXiv:2510.15388; docs/algorithms.md, "SWFP: the update"):
///
///     L_n = mean[ −Q(s, y)/α − ℓ_n(θ) ] + (ε / 2τ) · mean[ ‖x_{n+1} − x̄_n‖² + ‖x_{n+1} − x̄_{n+1}‖² ]
///
/// where `x̄_0 … x̄_N` are the old particles (no gradient), `x_{n+1} = x̄_n + dt · v_θ(t_n, s, x̄_n)`
/// is block n applied to its old particle (or the midpoint step, with `solver = "midpoint"`),
/// `ℓ_n(θ)` is that step's log-volume change (`FlowPolicy.stepWithLogVolume`), the first distance is the JKO movement
/// cost and the second the trust region to the previous iterate. The energy is evaluated at
/// `y = tanh(x_{n+1})` ("block"), or after carrying `x_{n+1}` through the remaining prior blocks
/// ("terminal"; the gradient flows back through them into block n only). The critic and the
/// prior must be frozen on the tape (`Tape.freeze`), so only θ receives gradients. Without
/// `chargesMovement` (`w2_terms = "trust_region"`) the movement cost is dropped, so the
/// regulariser's minimiser is the prior's own step rather than no movement. With
/// `weighsTrustRegionByEnergy` (`trust_region_scale = "energy"`) the Wasserstein terms' weight is
/// multiplied by the batch's mean `|Q|/α` (at least 1, no gradient), so that their pull against
/// the energy does not fade as the reward scale grows (the normalisation TD3+BC gives its Q term).
///
/// With `actionEntropy` (`entropy_space = "action"`) the energy also carries the tanh's
/// log-Jacobian at the energy point, `tanhSquashPenalty(y) = −Σ_j log(1 − tanh²(y_j))`, so that
/// the entropy rewarded is that of the action `tanh(y)` rather than of the pre-squash point: the
/// target becomes `exp(Q(a)/α)` on the action box, pulled back to y. That is the space the rest
/// of SWFP already works in: the critic target's `min Q̄ − α log π` (and Eq. 18's), and the α step
/// towards `target_entropy`, read `log π(a'|s')` of the squashed action, with the tanh's
/// correction (`FlowPolicy.actionsWithLogProbability`). Without it (`"pre_squash"`, the default)
/// the block loss alone measures entropy before the squash (docs/algorithms.md, "SWFP: the update").
public struct SWFPBlockLoss {
    public let policy: FlowPolicy
    public let prior: FlowPolicy
    public let critic: TwinCritic
    public let alpha: Float
    public let tau: Float
    public let w2Scale: Float
    public let chargesMovement: Bool
    public let energyAtTerminal: Bool
    public let method: DivergenceMethod
    public let weighsTrustRegionByEnergy: Bool
    /// Whether the energy carries the tanh's log-Jacobian (`entropy_space = "action"`).
    public let actionEntropy: Bool

    public init(policy: FlowPolicy, prior: FlowPolicy, critic: TwinCritic, alpha: Float, tau: Float, w2Scale: Float,
                chargesMovement: Bool = true, energyAtTerminal: Bool, method: DivergenceMethod,
                weighsTrustRegionByEnergy: Bool = false, actionEntropy: Bool = false) {
        self.policy = policy
        self.prior = prior
        self.critic = critic
        self.alpha = alpha
        self.tau = tau
        self.w2Scale = w2Scale
        self.chargesMovement = chargesMovement
        self.energyAtTerminal = energyAtTerminal
        self.method = method
        self.weighsTrustRegionByEnergy = weighsTrustRegionByEnergy
        self.actionEntropy = actionEntropy
    }

    /// Reported values of one evaluation.
    public struct Terms {
        public let loss: Float
        /// `mean ‖x_{n+1} − x̄_n‖²`
        public let movement: Float
        /// `mean ‖x_{n+1} − x̄_{n+1}‖²`
        public let trustRegion: Float
    }

    /// `L_n` for block `n` (a `[1, 1]` variable), with its two distances.
    public func callAsFunction(block n: Int, observations s: Variable, particles: ParticleChain,
                               generator: inout RandomGenerator) -> (loss: Variable, movement: Float, trustRegion: Float) {
        loss(of: step(block: n, observations: s, particles: particles, generator: &generator))
    }

    /// What `L_n` records before it reads Q: block n's step from its old particle with its
    /// log-volume change (and with `energy_at = "terminal"` the prior's remaining blocks). It
    /// reads θ, θ̄ and the old particles, not the critic, so SWFP records it while the critic
    /// takes its step (`SWFP.trainStep`); `loss(of:)` then reads Q.
    public struct BlockStep {
        let observations: Variable
        /// `x̄_n`, `x_{n+1}` and the point Q is read at (before `tanh`).
        let start: Variable, next: Variable, energyPoint: Variable
        let logVolume: Variable
        /// `x̄_{n+1}`, the trust region's anchor.
        let anchor: Tensor
    }

    /// Block n's step (see `BlockStep`); the Hutchinson divergence draws its probes here.
    public func step(block n: Int, observations s: Variable, particles: ParticleChain,
                     generator: inout RandomGenerator) -> BlockStep {
        let start = s.tape.constant(particles[n])
        let (next, logVolume) = policy.stepWithLogVolume(observations: s, x: start, step: n, method: method,
                                                         generator: &generator)
        var y = next
        if energyAtTerminal {
            for m in (n + 1)..<max(policy.steps, n + 1) { y = prior.step(observations: s, x: y, step: m) }
        }
        return BlockStep(observations: s, start: start, next: next, energyPoint: y, logVolume: logVolume, anchor: particles[n + 1])
    }

    /// `L_n` from block n's recorded step, reading Q (the critic frozen on the step's tape).
    public func loss(of step: BlockStep) -> (loss: Variable, movement: Float, trustRegion: Float) {
        let q = critic.frozenMinimum(observations: step.observations, actions: step.energyPoint.tanh())
        var perRow = q * (-1 / alpha) - step.logVolume
        // In the pre-squash space the target exp(Q(tanh y)/α) has no finite mass (Q stays bounded
        // as |y| grows), so its entropy term spreads particles towards the box's faces without
        // limit; the Jacobian makes the target the action-space exp(Q(a)/α), pulled back.
        if actionEntropy { perRow = perRow + tanhSquashPenalty(step.energyPoint) }
        let energy = perRow.mean()
        let movement = (step.next - step.start).squared().sumOfEachRow().mean()
        let trustRegion = (step.next - step.next.tape.constant(step.anchor)).squared().sumOfEachRow().mean()
        let weight = (w2Scale / (2 * tau)) * (weighsTrustRegionByEnergy ? energyScale(q.value) : 1)
        let loss = energy + weight * (chargesMovement ? movement + trustRegion : trustRegion)
        return (loss, movement.value.scalar, trustRegion.value.scalar)
    }

    /// `max(1, mean |Q| / α)` over the rows: the energy's size per particle, by which
    /// `trust_region_scale = "energy"` multiplies the Wasserstein terms' weight (a constant of the
    /// step: no gradient flows through it). At least 1, so it never weakens the fixed weight: an
    /// untrained critic (Q near 0) leaves the trust region as it is.
    func energyScale(_ q: Tensor) -> Float {
        var total: Double = 0
        for row in 0..<q.rows { total += Double(abs(q[row, 0])) }
        return max(1, Float(total / Double(max(q.rows, 1))) / alpha)
    }

    /// The mean of `L_n` over `blocks` (all blocks in one update is the paper's parallel block
    /// training: each block starts from detached old particles, so the blocks are independent).
    public func averaged(over blocks: [Int], observations s: Variable, particles: ParticleChain,
                         generator: inout RandomGenerator) -> (loss: Variable, movement: Float, trustRegion: Float) {
        averaged(over: blocks.map { step(block: $0, observations: s, particles: particles, generator: &generator) })
    }

    /// The mean of `L_n` over recorded block steps. The steps are recorded first and the Q terms
    /// after them, which gives θ the same gradient, bit for bit, as recording each block's loss
    /// whole in turn: only the steps reach θ, and the backward pass meets them in the same order.
    public func averaged(over steps: [BlockStep]) -> (loss: Variable, movement: Float, trustRegion: Float) {
        var total: Variable?
        var movement: Float = 0, trustRegion: Float = 0
        for step in steps {
            let term = loss(of: step)
            total = total.map { $0 + term.loss } ?? term.loss
            movement += term.movement
            trustRegion += term.trustRegion
        }
        let count = Float(max(steps.count, 1))
        return (total! * (1 / count), movement / count, trustRegion / count)
    }
}
