#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A flow policy: noise `x₀ ~ N(0, I)` carried by N Euler steps of a velocity field to `x_N`,
/// executed as `a = tanh(x_N) ∈ [-1, 1]^d` (ALGORITHMS.md, "Euler sampler").
public final class FlowPolicy: Layer {
    public let field: VelocityField
    /// Number of Euler steps N; `dt = 1/N`, `t_n = n/N`.
    public let steps: Int

    public var parameters: [Parameter] { field.parameters }
    public var observationSize: Int { field.observationSize }
    public var actionSize: Int { field.actionSize }

    public init(field: VelocityField, steps: Int) {
        precondition(steps >= 1, "FlowPolicy: steps must be ≥ 1")
        self.field = field
        self.steps = steps
    }

    /// One Euler step `x_{n+1} = x_n + dt · v_θ(t_n, s, x_n)`.
    public func eulerStep(observations: Variable, x: Variable, step n: Int) -> Variable {
        let dt = 1 / Float(steps)
        return x + dt * field(observations: observations, x: x, time: Float(n) * dt)
    }

    /// Runs the chain from `noise` (`[batch, d]`) without recording gradients and returns every
    /// particle `x₀ … x_N` (pre-squash).
    public func chain(observations: Tensor, noise: Tensor) -> [Tensor] {
        let tape = Tape(recording: false)
        let s = tape.constant(observations)
        var x = tape.constant(noise)
        var particles = [noise]
        for n in 0..<steps {
            x = eulerStep(observations: s, x: x, step: n)
            particles.append(x.value)
        }
        return particles
    }

    /// Actions in [-1, 1] for a batch of observations: from sampled noise, or from `x₀ = 0`
    /// when `deterministic`.
    public func sample(observations: Tensor, deterministic: Bool, generator: inout RandomGenerator) -> Tensor {
        let noise = deterministic ? Tensor(rows: observations.rows, cols: actionSize)
                                  : generator.normalTensor(rows: observations.rows, cols: actionSize)
        let final = chain(observations: observations, noise: noise).last!
        return Tape(recording: false).constant(final).tanh().value
    }

    /// The conditional flow-matching loss on demonstrations (ALGORITHMS.md, "Flow-matching
    /// pretraining"): `x₁ = atanh(clip(a, ±(1 − 1e-3)))`, `x₀ ~ N(0, I)`, `t ~ U(0, 1)`,
    /// `x_t = (1 − t) x₀ + t x₁`, `L = mean_batch ‖v_θ(t, s, x_t) − (x₁ − x₀)‖²`.
    public func flowMatchingLoss(observations: Tensor, actions: Tensor, tape: Tape,
                                 generator: inout RandomGenerator) -> Variable {
        let batch = observations.rows
        let limit: Float = 1 - 1e-3
        let x1 = Tensor(rows: batch, cols: actionSize, scalars: actions.scalars.map { atanh(Swift.min(Swift.max($0, -limit), limit)) })
        let x0 = generator.normalTensor(rows: batch, cols: actionSize)
        let t = generator.uniformTensor(rows: batch, cols: 1)
        let times = tape.constant(t)
        let xt = (1 - times) * tape.constant(x0) + times * tape.constant(x1)
        let s = tape.constant(observations)
        let velocity = field.network(field.input(observations: s, x: xt, times: times))
        let target = tape.constant(x1) - tape.constant(x0)
        return (velocity - target).squared().sumOfEachRow().mean()
    }
}
