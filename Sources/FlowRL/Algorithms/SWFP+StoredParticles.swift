/// The particle chains of SWFP's last stochastic `act`, kept so that `observe` can store each
/// transition with the chain that produced its action (`old_particles = "stored"`, Algorithm 1
/// lines 4–6 of arXiv:2510.15388; docs/algorithms.md, "SWFP: stored particles").
///
/// The C ABI's `observe` carries no chains, and the agent does not see the environment step
/// between `act` and `observe`; so the agent remembers what it acted on, and `observe` matches each
/// transition to an acted row: the observation equal bit for bit (the same array crosses both
/// calls) and the action within `actionTolerance` (the caller's map to the environment's units
/// and back rounds it). A transition without a match (a random warm-up action, a demonstration, a
/// batch acted on by another agent) is stored without a chain, and the block loss recomputes its
/// old particles from fresh noise through the prior (`SWFP.oldParticles`).
///
/// Only `act(deterministic: false)` is remembered (collection); a deterministic act (evaluation)
/// leaves the memory as it was. Each stochastic act replaces it. It is a checkpoint part
/// (`statePart`), so a checkpoint taken between `act` and `observe` continues exactly.
public final class ActedChains {
    /// `[n, observationSize]`: the observations of the last stochastic act.
    public private(set) var observations: Tensor
    /// `[n, d]`: the actions it returned, `tanh(x_N)`.
    public private(set) var actions: Tensor
    /// `[n, (N + 1) · d]`: each row's pre-squash chain `x₀ … x_N` (as `StoredParticles.chains`).
    public private(set) var chains: Tensor
    /// Largest difference per action component for an observed action to match an acted one.
    public static let actionTolerance: Float = 1e-4

    /// Nothing remembered.
    public init(observationSize: Int, actionSize: Int, width: Int) {
        observations = Tensor(rows: 0, cols: observationSize)
        actions = Tensor(rows: 0, cols: actionSize)
        chains = Tensor(rows: 0, cols: width)
    }

    /// Remembers one stochastic act.
    public func remember(observations: Tensor, actions: Tensor, chains: Tensor) {
        (self.observations, self.actions, self.chains) = (observations, actions, chains)
    }

    /// The chains for `transitions`: a row's acted chain where its observation and action match an
    /// acted row, absent (flag 0) elsewhere.
    public func particles(for transitions: Transitions) -> StoredParticles {
        func key(_ tensor: Tensor, _ row: Int) -> [UInt32] { (0..<tensor.cols).map { tensor[row, $0].bitPattern } }
        var acted: [[UInt32]: [Int]] = [:]
        for row in 0..<observations.rows { acted[key(observations, row), default: []].append(row) }
        var result = StoredParticles(absent: transitions.count, width: chains.cols)
        for row in 0..<transitions.count {
            let match = acted[key(transitions.observations, row)]?.first { candidate in
                (0..<actions.cols).allSatisfy { abs(actions[candidate, $0] - transitions.actions[row, $0]) <= Self.actionTolerance }
            }
            guard let match else { continue }
            for column in 0..<chains.cols { result.chains[row, column] = chains[match, column] }
            result.present[row, 0] = 1
        }
        return result
    }

    /// The checkpoint entries' names.
    static let keys = (observations: "acted.observations", actions: "acted.actions", chains: "acted.particles")

    /// Captures the three tensors; restores them after checking that they are present, agree in
    /// rows, have the agent's widths, are finite and the actions lie in [-1, 1].
    public var statePart: OffPolicyCore.StatePart {
        OffPolicyCore.StatePart(capture: { state in
            state.tensors[Self.keys.observations] = self.observations
            state.tensors[Self.keys.actions] = self.actions
            state.tensors[Self.keys.chains] = self.chains
        }, restorer: { state in
            let named = [(Self.keys.observations, self.observations.cols), (Self.keys.actions, self.actions.cols),
                         (Self.keys.chains, self.chains.cols)]
            var stored: [Tensor] = []
            for (key, cols) in named {
                guard let tensor = state.tensors[key] else { throw FlowRLError.io("checkpoint: missing tensor '\(key)'") }
                guard tensor.cols == cols, tensor.rows == (stored.first?.rows ?? tensor.rows) else {
                    throw FlowRLError.io("checkpoint: tensor '\(key)' is [\(tensor.rows), \(tensor.cols)], expected "
                                         + "[\(stored.first.map { "\($0.rows)" } ?? "n"), \(cols)]")
                }
                guard tensor.isFinite else { throw FlowRLError.io("checkpoint: tensor '\(key)' is not finite") }
                stored.append(tensor)
            }
            guard stored[1].scalars.allSatisfy({ abs($0) <= 1 }) else {
                throw FlowRLError.io("checkpoint: tensor '\(Self.keys.actions)' holds actions outside [-1, 1]")
            }
            return { self.remember(observations: stored[0], actions: stored[1], chains: stored[2]) }
        })
    }
}

extension SWFP {
    /// The old particles `x̄₀ … x̄_N` of the block loss at `observations`: the prior's chain from
    /// fresh noise (`old_particles = "recomputed"`, `stored` nil); with stored chains, each row's
    /// stored chain, and the prior's chain from fresh noise for the rows stored without one. The
    /// noise is drawn here; a recomputed chain runs only as far as the block loss reads it.
    public func oldParticles(observations: Tensor, stored: StoredParticles?) -> ParticleChain {
        oldParticles(observations: observations, stored: stored, noise: oldParticleNoise(observations: observations, stored: stored))
    }

    /// The noise `oldParticles` draws: a row for each observation, or with stored chains for each
    /// row stored without one (nil when there is none).
    func oldParticleNoise(observations: Tensor, stored: StoredParticles?) -> Tensor? {
        let rows = stored.map { $0.present.scalars.lazy.filter { $0 != 1 }.count } ?? observations.rows
        return stored == nil || rows > 0 ? core.generator.normalTensor(rows: rows, cols: core.actionSize) : nil
    }

    /// The old particles from noise drawn by `oldParticleNoise`; draws nothing.
    func oldParticles(observations: Tensor, stored: StoredParticles?, noise: Tensor?) -> ParticleChain {
        let width = core.actionSize
        guard let stored else { return ParticleChain(policy: prior, observations: observations, noise: noise!) }
        var particles = (0...prior.steps).map { stored.chains.columns(($0 * width)..<(($0 + 1) * width)) }
        guard let noise else { return ParticleChain(particles: particles) }
        let missing = (0..<observations.rows).filter { stored.present.scalars[$0] != 1 }
        let fresh = prior.chain(observations: observations.gathering(rows: missing), noise: noise)
        for n in particles.indices {
            for (index, row) in missing.enumerated() {
                for column in 0..<width { particles[n][row, column] = fresh[n][index, column] }
            }
        }
        return ParticleChain(particles: particles)
    }

    /// The actor's minibatch (`actor_batch_size` rows) with its stored chains: the critic's
    /// minibatch when the sizes are equal, its first rows when smaller, and when larger the
    /// critic's rows followed by further rows drawn uniformly (with replacement) from replay, so
    /// that the whole is a uniform draw of `actor_batch_size` rows.
    public func actorBatch(_ batch: Transitions) -> (observations: Tensor, particles: StoredParticles?) {
        let size = configuration.options.actorBatchSize
        if size == batch.count { return (batch.observations, batch.particles) }
        if size < batch.count {
            let rows = 0..<size
            return (batch.observations.rows(rows),
                    batch.particles.map { StoredParticles(chains: $0.chains.rows(rows), present: $0.present.rows(rows)) })
        }
        let extra = core.buffer.sample(size - batch.count, generator: &core.generator)
        var particles: StoredParticles?
        if let first = batch.particles, let second = extra.particles {
            particles = StoredParticles(chains: Tensor.concatenatingRows([first.chains, second.chains]),
                                        present: Tensor.concatenatingRows([first.present, second.present]))
        }
        return (Tensor.concatenatingRows([batch.observations, extra.observations]), particles)
    }
}
