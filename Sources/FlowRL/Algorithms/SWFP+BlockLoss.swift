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
/// regulariser's minimiser is the prior's own step rather than no movement.
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

    public init(policy: FlowPolicy, prior: FlowPolicy, critic: TwinCritic, alpha: Float, tau: Float, w2Scale: Float,
                chargesMovement: Bool = true, energyAtTerminal: Bool, method: DivergenceMethod) {
        self.policy = policy
        self.prior = prior
        self.critic = critic
        self.alpha = alpha
        self.tau = tau
        self.w2Scale = w2Scale
        self.chargesMovement = chargesMovement
        self.energyAtTerminal = energyAtTerminal
        self.method = method
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
        let tape = s.tape
        let start = tape.constant(particles[n])
        let (next, logVolume) = policy.stepWithLogVolume(observations: s, x: start, step: n, method: method,
                                                         generator: &generator)
        var y = next
        if energyAtTerminal {
            for m in (n + 1)..<max(policy.steps, n + 1) { y = prior.step(observations: s, x: y, step: m) }
        }
        let q = critic.frozenMinimum(observations: s, actions: y.tanh())
        let energy = (q * (-1 / alpha) - logVolume).mean()
        let movement = (next - start).squared().sumOfEachRow().mean()
        let trustRegion = (next - tape.constant(particles[n + 1])).squared().sumOfEachRow().mean()
        let loss = energy + (w2Scale / (2 * tau)) * (chargesMovement ? movement + trustRegion : trustRegion)
        return (loss, movement.value.scalar, trustRegion.value.scalar)
    }

    /// The mean of `L_n` over `blocks` (all blocks in one update is the paper's parallel block
    /// training: each block starts from detached old particles, so the blocks are independent).
    public func averaged(over blocks: [Int], observations s: Variable, particles: ParticleChain,
                         generator: inout RandomGenerator) -> (loss: Variable, movement: Float, trustRegion: Float) {
        var total: Variable?
        var movement: Float = 0, trustRegion: Float = 0
        for n in blocks {
            let term = self(block: n, observations: s, particles: particles, generator: &generator)
            total = total.map { $0 + term.loss } ?? term.loss
            movement += term.movement
            trustRegion += term.trustRegion
        }
        let count = Float(max(blocks.count, 1))
        return (total! * (1 / count), movement / count, trustRegion / count)
    }
}
