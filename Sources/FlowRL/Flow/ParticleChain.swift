/// The particles `x₀ … x_N` (pre-squash) of a flow policy's chain from given noise, each computed
/// when first read.
///
/// SWFP's sampled block `n` reads only `x̄_n` and `x̄_{n+1}` of the prior's chain. The chain is
/// deterministic given its noise, so stopping at the last particle read gives the very particles
/// the whole chain would, and saves the remaining steps: with one block drawn uniformly per update,
/// `(N − 1)/2` of the `N` steps on average.
public final class ParticleChain {
    /// `N + 1`: the noise and one particle per step.
    public let count: Int
    private var particles: [Tensor]
    private let policy: FlowPolicy?
    private let tape = Tape(recording: false)
    private let observations: Variable?
    private var last: Variable?

    /// The chain of `policy` on `observations` from `noise` (`[batch, d]`); nothing is run yet.
    public init(policy: FlowPolicy, observations: Tensor, noise: Tensor) {
        self.policy = policy
        count = policy.steps + 1
        particles = [noise]
        particles.reserveCapacity(count)
        self.observations = tape.constant(observations)
        last = tape.constant(noise)
    }

    /// A chain whose particles are already known (SWFP's stored chains).
    public init(particles: [Tensor]) {
        precondition(!particles.isEmpty, "a chain has at least its noise")
        policy = nil
        count = particles.count
        self.particles = particles
        observations = nil
    }

    /// `x_n`, running the chain's steps up to `n` if they have not run yet.
    public subscript(n: Int) -> Tensor {
        precondition(n >= 0 && n < count, "particle \(n) of a chain of \(count)")
        while particles.count <= n, let policy, let observations, let x = last {
            let next = policy.step(observations: observations, x: x, step: particles.count - 1)
            particles.append(next.value)
            last = next
        }
        return particles[n]
    }

    /// Every particle, the chain run to its end.
    public var all: [Tensor] {
        _ = self[count - 1]
        return particles
    }
}
