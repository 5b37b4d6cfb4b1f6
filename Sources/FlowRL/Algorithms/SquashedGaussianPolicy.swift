/// A tanh-squashed diagonal Gaussian policy, as Stable-Baselines3's SAC actor: an MLP trunk with
/// ReLU after every hidden layer, then linear heads for the mean `μ` and `log σ` (clamped to
/// [−20, 2]); `u = μ + σ ⊙ ε`, `a = tanh(u)`,
/// `log π(a|s) = Σ_j [−½ ε_j² − log σ_j − ½ log 2π] − Σ_j log(1 − a_j² + 1e-6)`.
public final class SquashedGaussianPolicy: SoftActor {
    public let trunk: MLP
    public let mean: Linear
    public let logStd: Linear
    public static let logStdRange: ClosedRange<Float> = -20...2

    public var parameters: [Parameter] { trunk.parameters + mean.parameters + logStd.parameters }
    public var actionSize: Int { mean.outputSize }
    public var noiseSize: Int { actionSize }

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
        return (actions, gaussianLogDensity(standardized: epsilon, logSigma: logSigma) - tanhSquashCorrection(actions))
    }

    /// `tanh(μ)`, the deterministic action.
    public func meanAction(observations: Variable) -> Variable {
        distribution(observations: observations).mean.tanh()
    }
}

