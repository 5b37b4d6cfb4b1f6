/// A policy an agent acts with: actions in [-1, 1] for a batch of observations, drawing its noise
/// from the agent's generator. It lives with the flows (not with the agents) because the flow
/// policies implement it and the agents only call it.
public protocol ActingPolicy: AnyObject {
    /// Actions in [-1, 1]^d for `[n, observationSize]` observations: sampled, or the policy's
    /// deterministic action (which draws no noise).
    func act(observations: Tensor, deterministic: Bool, generator: inout RandomGenerator) -> Tensor
    /// The squashed particles `tanh(x₀) … tanh(x_N)` of the sampling chain, or nil for a policy
    /// without one.
    func particleChain(observations: Tensor, deterministic: Bool, generator: inout RandomGenerator) -> [Tensor]?
}

/// A stochastic policy trained by soft actor-critic: reparameterised sampling from explicit
/// standard-normal noise, with the log-density of what it sampled. Declared here, beside the
/// flows, because SAC Flow's noise-augmented flow is one; the Gaussian actor of SAC is the other.
public protocol SoftActor: Layer, ActingPolicy {
    /// Standard-normal numbers one sample consumes.
    var noiseSize: Int { get }
    /// Actions in [-1, 1] and `log π(a|s)` (`[batch, 1]`), differentiable, from `noise` (`[batch, noiseSize]`).
    func sample(observations: Variable, noise: Tensor) -> (actions: Variable, logProbability: Variable)
    /// The deterministic action.
    func meanAction(observations: Variable) -> Variable
}

extension SoftActor {
    /// The mean action when `deterministic` (no noise drawn), else a sample from `noiseSize`
    /// fresh normals per row.
    public func act(observations: Tensor, deterministic: Bool, generator: inout RandomGenerator) -> Tensor {
        let noGrad = Tape(recording: false)
        let s = noGrad.constant(observations)
        if deterministic { return meanAction(observations: s).value }
        return sample(observations: s, noise: generator.normalTensor(rows: observations.rows, cols: noiseSize)).actions.value
    }

    /// A soft actor shows no particle chain.
    public func particleChain(observations: Tensor, deterministic: Bool, generator: inout RandomGenerator) -> [Tensor]? { nil }

    /// Actions and `log π` without gradients (critic targets, the α step).
    public func sampleWithoutGradient(observations: Tensor, noise: Tensor) -> (actions: Tensor, logProbability: Tensor) {
        let noGrad = Tape(recording: false)
        let (actions, logProbability) = sample(observations: noGrad.constant(observations), noise: noise)
        return (actions.value, logProbability.value)
    }
}

// MARK: Densities shared by every policy

/// `log N(x; μ, diag σ²)` per row (`[batch, 1]`) from the standardised point `ε = (x − μ)/σ` and
/// `log σ`: `Σ_j (−½ ε_j² − log σ_j) − (d/2) log 2π`; without `logSigma`, the standard normal
/// `log N(ε; 0, I)`.
public func gaussianLogDensity(standardized epsilon: Variable, logSigma: Variable? = nil) -> Variable {
    gaussianLogKernel(standardized: epsilon, logSigma: logSigma) - gaussianLogNormalizer(dimensions: epsilon.cols)
}

/// The part of `gaussianLogDensity` that depends on the point, `Σ_j (−½ ε_j² − log σ_j)` per row.
/// Separate so that a sum of transition densities keeps the order of operations the policies
/// always used (`total + kernel − normaliser`), and seeded results stay bitwise what they were.
public func gaussianLogKernel(standardized epsilon: Variable, logSigma: Variable? = nil) -> Variable {
    guard let logSigma else { return epsilon.squared().sumOfEachRow() * -0.5 }
    return (epsilon.squared() * -0.5 - logSigma).sumOfEachRow()
}

/// `(d/2) log 2π`, the normaliser of a `d`-dimensional standard normal density.
public func gaussianLogNormalizer(dimensions: Int) -> Float { 0.5 * Float(dimensions) * log(2 * Float.pi) }

/// `Σ_j log(1 − a_j² + 10⁻⁶)` per row for squashed actions `a = tanh(x)`: the change of
/// variables of the element-wise tanh, subtracted from the pre-squash log-density (docs/algorithms.md,
/// "Action space and tanh squashing"; 10⁻⁶ as Stable-Baselines3, for `a` at ±1).
public func tanhSquashCorrection(_ actions: Variable) -> Variable {
    (1 + 1e-6 - actions.squared()).log().sumOfEachRow()
}

/// `−Σ_j log(1 − tanh²(x_j))` per row (`[batch, 1]`), for pre-squash points `x`: the
/// log-Jacobian of the element-wise tanh with its sign turned, so that
/// `log π(tanh x) = log p(x) + tanhSquashPenalty(x)`. It is `−tanhSquashCorrection(tanh x)` read
/// at `x` and without the 10⁻⁶ (SWFP's block loss with `entropy_space = "action"`). Written
/// `Σ_j 2 (softplus(2 x_j) − x_j − log 2)`, that is `Σ_j 2 log cosh x_j`, so that it stays finite,
/// about `2|x_j| − 2 log 2`, and keeps its gradient `2 tanh(x)` where the tanh saturates. Read at
/// `a` with the 10⁻⁶, each component would level off at `−log 10⁻⁶` once `1 − tanh²(x)` falls
/// below 10⁻⁶ (|x| ≳ 7), and pull a particle out there back no more.
public func tanhSquashPenalty(_ x: Variable) -> Variable {
    ((x * 2).softplus() - x - Float(log(2.0))).sumOfEachRow() * 2
}

/// `atanh(clip(a, ±(1 − 1e-3)))`: the pre-squash point of a demonstrated action (clipped so an
/// action on the boundary does not become infinite).
enum ClippedArctanh: UnaryFunction {
    static func apply(_ a: Float) -> Float {
        let limit: Float = 1 - 1e-3
        return atanh(Swift.min(Swift.max(a, -limit), limit))
    }
}
