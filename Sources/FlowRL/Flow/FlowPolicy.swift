/// How the log-volume change `ℓ_n` of an Euler block is computed (docs/algorithms.md,
/// "Log-density of the discrete flow").
public enum DivergenceMethod: Equatable, Sendable {
    /// `ℓ_n = dt · tr J_n`, the trace by d forward tangents (the paper's first-order form).
    case exact
    /// `ℓ_n = dt · (1/k) Σ εᵀ J_n ε` with k Rademacher probes.
    case hutchinson(probes: Int)
    /// `ℓ_n = log|det(I + dt · J_n)|`, exact for the Euler step.
    case logDeterminant
}

/// The ODE solver of a flow policy's steps (docs/algorithms.md, "Euler sampler", "Midpoint sampler").
public enum FlowSolver: String, Codable, Sendable, CaseIterable {
    /// `x_{n+1} = x_n + Δ v(t_n, s, x_n)`.
    case euler
    /// The explicit midpoint rule: `x_{n+1} = x_n + Δ v(t_n + Δ/2, s, x_n + (Δ/2) v(t_n, s, x_n))`,
    /// two field evaluations per step.
    case midpoint
}

/// A flow policy: noise `x₀ ~ N(0, I)` carried by N solver steps (Euler, or midpoint) to `x_N`,
/// executed as `a = tanh(x_N) ∈ [-1, 1]^d` (docs/algorithms.md, "Euler sampler"). The velocity is
/// one shared time-conditioned field, or one field per block (SWFP's "cascade of small flow blocks").
public final class FlowPolicy: Layer {
    /// One field (shared across steps) or `steps` fields (block n uses `fields[n]`).
    public let fields: [VelocityField]
    /// Number of Euler steps N; `dt = 1/N`, `t_n = n/N`.
    public let steps: Int

    public var parameters: [Parameter] { fields.flatMap(\.parameters) }
    public var observationSize: Int { fields[0].observationSize }
    public var actionSize: Int { fields[0].actionSize }
    public var dt: Float { 1 / Float(steps) }
    /// How each step integrates the field: Euler (the default) or midpoint (SWFP's `solver`). Set
    /// by the owning algorithm right after construction; sampling, chains, log-densities and the
    /// block loss all follow it.
    public var solver = FlowSolver.euler

    public init(fields: [VelocityField], steps: Int) {
        precondition(steps >= 1, "FlowPolicy: steps must be ≥ 1")
        precondition(fields.count == 1 || fields.count == steps, "FlowPolicy: need one field or one per step")
        self.fields = fields
        self.steps = steps
    }

    /// A policy with freshly initialised fields: one shared, or one per block when `separateBlocks`.
    public convenience init(observationSize: Int, actionSize: Int, steps: Int, hiddenSizes: [Int], activation: Activation,
                            embeddingSize: Int, separateBlocks: Bool, generator: inout RandomGenerator, name: String) {
        let count = separateBlocks ? steps : 1
        let fields = (0..<count).map { index in
            VelocityField(observationSize: observationSize, actionSize: actionSize, hiddenSizes: hiddenSizes,
                          activation: activation, embeddingSize: embeddingSize, generator: &generator,
                          name: separateBlocks ? "\(name).\(index)" : name)
        }
        self.init(fields: fields, steps: steps)
    }

    /// Parameters of a policy built by the initialiser above, and the units one Euler step passes
    /// through (for `MemoryEstimate`).
    static func estimate(observationSize: Int, actionSize: Int, steps: Int, hiddenSizes: [Int], embeddingSize: Int,
                         separateBlocks: Bool) -> (parameters: Double, units: Double) {
        let sizes = [observationSize + actionSize + embeddingSize] + hiddenSizes + [actionSize]
        return (Double(separateBlocks ? steps : 1) * MemoryEstimate.mlp(sizes), MemoryEstimate.units(sizes))
    }

    /// The field that drives block `n`.
    public func field(forStep n: Int) -> VelocityField { fields.count == 1 ? fields[0] : fields[n] }

    /// `t_n = n / N`.
    public func time(atStep n: Int) -> Float { Float(n) * dt }

    /// One step of the solver: Euler `x_{n+1} = x_n + dt · v_θ(t_n, s, x_n)`, or the midpoint rule.
    public func step(observations: Variable, x: Variable, step n: Int) -> Variable {
        let field = field(forStep: n), t = time(atStep: n)
        switch solver {
        case .euler:
            return x + dt * field(observations: observations, x: x, time: t)
        case .midpoint:
            let middle = x + (dt / 2) * field(observations: observations, x: x, time: t)
            return x + dt * field(observations: observations, x: middle, time: t + dt / 2)
        }
    }

    /// One step of the solver and its log-volume change `ℓ_n` (`[batch, 1]`), both differentiable.
    public func stepWithLogVolume(observations: Variable, x: Variable, step n: Int, method: DivergenceMethod,
                                  generator: inout RandomGenerator) -> (next: Variable, logVolume: Variable) {
        switch solver {
        case .euler: return eulerStepWithLogVolume(observations: observations, x: x, step: n, method: method, generator: &generator)
        case .midpoint: return midpointStepWithLogVolume(observations: observations, x: x, step: n, method: method, generator: &generator)
        }
    }

    /// The midpoint step `Φ(x) = x + Δ v(t_n + Δ/2, s, m(x))`, `m(x) = x + (Δ/2) v(t_n, s, x)`,
    /// with the log-volume change of that map. Its Jacobian is `A = I + Δ J₁ (I + (Δ/2) J₀)` (`J₀`
    /// at `x`, `J₁` at `m(x)`); the probes `P` are pushed through both evaluations as tangents,
    /// `A P = P + Δ J₁ (P + (Δ/2) J₀ P)`. Then `exact` is `tr(A − I)` (the first-order form of
    /// `log det A`, as `Δ tr J` is for the Euler step), `hutchinson` its estimate, and `logdet` the
    /// exact `log|det A|`.
    private func midpointStepWithLogVolume(observations: Variable, x: Variable, step n: Int, method: DivergenceMethod,
                                           generator: inout RandomGenerator) -> (next: Variable, logVolume: Variable) {
        let field = field(forStep: n), t = time(atStep: n), tape = x.tape
        let rows = x.rows, columns = field.actionColumns
        let probes: Tensor, count: Int
        switch method {
        case .exact, .logDeterminant: (probes, count) = (Divergence.identityProbes(batch: rows, dimension: actionSize), 1)
        case .hutchinson(let k): (probes, count) = (generator.signTensor(rows: k * rows, cols: actionSize), k)
        }
        // The observations and x repeat once per probe on the tangent rows; the tangent pass
        // stacks the probes, so the inputs are the batch's and the tangents `[count · rows, width]`.
        let first = field.input(observations: observations, x: x, time: t)
        let p = tape.constant(probes)
        let (v0, j0) = field.network.forward(first, tangents: Divergence.embedTangents(p, columns: columns, width: first.cols))
        let middle = x + (dt / 2) * v0
        let second = field.input(observations: observations, x: middle, time: t + dt / 2)
        let middleTangents = p + (dt / 2) * j0.columns(0..<actionSize)
        let (v1, j1) = field.network.forward(second, tangents: Divergence.embedTangents(middleTangents, columns: columns, width: second.cols))
        let next = x + dt * v1
        let moved = j1.columns(0..<actionSize)   // J₁ (P + (Δ/2) J₀ P); (A − I) P = Δ · moved
        switch method {
        case .exact, .hutchinson:
            // The basis probes sum to the trace; k Rademacher probes to k times its estimate.
            return (next, (dt / Float(count)) * Divergence.projectedTrace(tangents: moved, probes: probes, batch: rows))
        case .logDeterminant:
            return (next, logAbsDeterminantOfIdentityPlus(moved, scale: dt))
        }
    }

    /// One Euler step and its log-volume change `ℓ_n` (`[batch, 1]`), both differentiable.
    func eulerStepWithLogVolume(observations: Variable, x: Variable, step n: Int, method: DivergenceMethod,
                                generator: inout RandomGenerator) -> (next: Variable, logVolume: Variable) {
        let field = field(forStep: n)
        let input = field.input(observations: observations, x: x, time: time(atStep: n))
        let velocity: Variable, logVolume: Variable
        switch method {
        case .exact:
            let (output, divergence) = Divergence.exact(of: field.network, at: input, columns: field.actionColumns)
            (velocity, logVolume) = (output, dt * divergence)
        case .hutchinson(let probes):
            let (output, divergence) = Divergence.hutchinson(of: field.network, at: input, columns: field.actionColumns,
                                                             probes: probes, generator: &generator)
            (velocity, logVolume) = (output, dt * divergence)
        case .logDeterminant:
            (velocity, logVolume) = Divergence.logDeterminant(of: field.network, at: input, columns: field.actionColumns, scale: dt)
        }
        return (x + dt * velocity, logVolume)
    }

    /// Runs the chain from `noise` (`[batch, d]`) without recording gradients and returns every
    /// particle `x₀ … x_N` (pre-squash).
    public func chain(observations: Tensor, noise: Tensor) -> [Tensor] {
        ParticleChain(policy: self, observations: observations, noise: noise).all
    }

    /// Noise for `rows` samples: standard normal, or zeros when `deterministic`.
    public func noise(rows: Int, deterministic: Bool, generator: inout RandomGenerator) -> Tensor {
        deterministic ? Tensor(rows: rows, cols: actionSize) : generator.normalTensor(rows: rows, cols: actionSize)
    }

    /// Actions in [-1, 1] for a batch of observations: from sampled noise, or from `x₀ = 0`
    /// when `deterministic`. Runs the chain on the inference path (`MLP.inference`).
    public func sample(observations: Tensor, deterministic: Bool, generator: inout RandomGenerator) -> Tensor {
        actions(observations: observations, noise: noise(rows: observations.rows, deterministic: deterministic, generator: &generator))
    }

    /// The actions `sample` reaches from the given noise `x₀` (`[batch, d]`), drawing nothing: so
    /// that the noise can be drawn before the chain runs on another thread (`ForkJoin`).
    public func actions(observations: Tensor, noise: Tensor) -> Tensor {
        var x = noise
        for n in 0..<steps {
            let field = field(forStep: n)
            func velocity(at point: Tensor, time: Float) -> Tensor {
                field.network.inference(field.embedding.conditionedInput(observations: observations, x: point, time: time))
            }
            switch solver {
            case .euler:
                x.add(velocity(at: x, time: time(atStep: n)), scaledBy: dt)
            case .midpoint:
                var middle = x
                middle.add(velocity(at: x, time: time(atStep: n)), scaledBy: dt / 2)
                x.add(velocity(at: middle, time: time(atStep: n) + dt / 2), scaledBy: dt)
            }
        }
        x.apply(Elementwise.Tanh.self)
        return x
    }

    /// Sampled actions with their log-density, without gradients:
    /// `log π(a|s) = log N(x₀; 0, I) − Σ_n ℓ_n − Σ_j log(1 − tanh²(x_N,j) + 1e-6)`.
    public func sampleWithLogProbability(observations: Tensor, method: DivergenceMethod,
                                         generator: inout RandomGenerator) -> (actions: Tensor, logProbability: Tensor) {
        let x0 = generator.normalTensor(rows: observations.rows, cols: actionSize)
        return actionsWithLogProbability(observations: observations, noise: x0, method: method, generator: &generator)
    }

    /// The actions reached from the given noise `x₀` and their log-density (as above).
    public func actionsWithLogProbability(observations: Tensor, noise x0: Tensor, method: DivergenceMethod,
                                          generator: inout RandomGenerator) -> (actions: Tensor, logProbability: Tensor) {
        let tape = Tape(recording: false)
        let s = tape.constant(observations)
        var x = tape.constant(x0)
        var logProbability = gaussianLogDensity(standardized: x)
        for n in 0..<steps {
            let (next, logVolume) = stepWithLogVolume(observations: s, x: x, step: n, method: method, generator: &generator)
            logProbability = logProbability - logVolume
            x = next
        }
        let actions = x.tanh()
        logProbability = logProbability - tanhSquashCorrection(actions)
        return (actions.value, logProbability.value)
    }

    /// The conditional flow-matching loss on demonstrations (docs/algorithms.md, "Flow-matching
    /// pretraining"): `x₁ = atanh(clip(a, ±(1 − 1e-3)))`, `x₀ ~ N(0, I)`, `t ~ U(0, 1)`,
    /// `x_t = (1 − t) x₀ + t x₁`, `L = mean_batch ‖v_θ(t, s, x_t) − (x₁ − x₀)‖²`. With separate
    /// blocks, one block n is drawn per minibatch and `t ~ U[t_n, t_{n+1})`.
    public func flowMatchingLoss(observations: Tensor, actions: Tensor, tape: Tape,
                                 generator: inout RandomGenerator) -> Variable {
        let block = fields.count == 1 ? 0 : Int(generator.next() % UInt64(steps))
        let times = fields.count == 1 ? Float(0)...Float(1) : time(atStep: block)...time(atStep: block + 1)
        let field = fields[block]
        return conditionalFlowMatchingLoss(observations: observations, actions: actions, times: times, tape: tape,
                                           generator: &generator) { s, x, t in
            field.network(field.input(observations: s, x: x, times: t))
        }
    }
}

/// The conditional flow-matching loss of a velocity field `v(s, x, t)` (shared by every flow
/// policy's pretraining): `x₁ = atanh(clip(a, ±(1 − 1e-3)))`, `x₀ ~ N(0, I)`, `t ~ U(times)`,
/// `x_t = (1 − t) x₀ + t x₁`, `L = mean_batch ‖v(s, x_t, t) − (x₁ − x₀)‖²`.
public func conditionalFlowMatchingLoss(observations: Tensor, actions: Tensor, times range: ClosedRange<Float>, tape: Tape,
                                        generator: inout RandomGenerator,
                                        velocity: (_ observations: Variable, _ x: Variable, _ times: Variable) -> Variable) -> Variable {
    let batch = observations.rows
    let x1 = actions.map(ClippedArctanh.self)
    let x0 = generator.normalTensor(rows: batch, cols: actions.cols)
    let times = tape.constant(generator.uniformTensor(rows: batch, cols: 1, lower: range.lowerBound, upper: range.upperBound))
    let xt = (1 - times) * tape.constant(x0) + times * tape.constant(x1)
    let target = tape.constant(x1) - tape.constant(x0)
    return (velocity(tape.constant(observations), xt, times) - target).squared().sumOfEachRow().mean()
}

extension FlowPolicy: ActingPolicy {
    /// `sample(observations:deterministic:generator:)`.
    public func act(observations: Tensor, deterministic: Bool, generator: inout RandomGenerator) -> Tensor {
        sample(observations: observations, deterministic: deterministic, generator: &generator)
    }

    /// The chain from fresh noise (or `x₀ = 0`), each particle squashed.
    public func particleChain(observations: Tensor, deterministic: Bool, generator: inout RandomGenerator) -> [Tensor]? {
        let noise = noise(rows: observations.rows, deterministic: deterministic, generator: &generator)
        return chain(observations: observations, noise: noise).map { $0.map(Elementwise.Tanh.self) }
    }
}
