/// The velocity fields SAC Flow trains (arXiv:2509.25756; docs/algorithms.md, "SAC Flow: velocity fields").
public enum FlowVelocityKind: String, Codable, Sendable, CaseIterable {
    /// Flow-G: `v = z ⊙ (h̃ − x)` with a sigmoid gate `z` and a candidate `h̃`, both MLPs on `[s, x, emb(t)]`.
    case gated
    /// The plain MLP on `[s, x, emb(t)]` (the paper's naive flow).
    case mlp
    /// Flow-T: a pre-norm attention decoder (`DecoderVelocityField`) that also gives `σ_v`.
    case decoder
}

/// Sizes of Flow-T's decoder.
public struct DecoderShape: Sendable {
    public var width: Int
    public var layers: Int
    public var heads: Int
    public init(width: Int, layers: Int, heads: Int) {
        self.width = width
        self.layers = layers
        self.heads = heads
    }
}

/// A flow policy with a noise-augmented rollout, trained end to end as a sequential model:
///
///     x₀ ~ N(0, I),  μ_k = x_k + dt · v_θ(t_k, s, x_k),  x_{k+1} = μ_k + σ_k(s) ⊙ ε_k,  a = tanh(x_K)
///     log π = log N(x₀) + Σ_k log N(x_{k+1}; μ_k, σ_k²) − Σ_j log(1 − a_j² + 1e-6)
///
/// with `log σ = lo + (hi − lo)(tanh(raw) + 1)/2`, `[lo, hi] = [−5, 2]`, `raw` from a state-only
/// MLP giving one `σ_k` per step. Flow-T instead steps `x_{k+1} = x_k + dt(μ_v + σ_v ε_k)`: its
/// transition is `N(x_k + dt μ_v, (dt σ_v)²)`, so the density carries `−Σ log(dt σ_v)`.
/// Gradients flow through the whole rollout (reparameterisation).
/// The noise of one sample is `[x₀, ε₀ … ε_{K−1}]`, `(K + 1)·d` standard normals.
public final class NoiseAugmentedFlowPolicy: SoftActor {
    public let kind: FlowVelocityKind
    public let steps: Int
    public let actionSize: Int
    public let embedding: TimeEmbedding
    /// The MLP velocity, or Flow-G's candidate `h̃` (nil for Flow-T).
    public let velocityNetwork: MLP?
    /// Flow-G's gate (nil otherwise): last layer starts at weights 0, bias 5 (gate ≈ 1).
    public let gate: MLP?
    /// The state-only σ network (nil for Flow-T, whose decoder gives σ).
    public let sigmaNetwork: MLP?
    /// Flow-T's decoder (nil otherwise).
    public let decoder: DecoderVelocityField?
    public static let logSigmaRange: ClosedRange<Float> = -5...2

    public var parameters: [Parameter] {
        (velocityNetwork?.parameters ?? []) + (gate?.parameters ?? []) + (sigmaNetwork?.parameters ?? []) + (decoder?.parameters ?? [])
    }
    public var noiseSize: Int { (steps + 1) * actionSize }
    public var dt: Float { 1 / Float(steps) }

    /// `activation` is that of the velocity MLPs (Flow-G's gate and candidate, the plain field); the
    /// σ network keeps SiLU and Flow-T's decoder GELU.
    public init(kind: FlowVelocityKind, observationSize: Int, actionSize: Int, steps: Int, hiddenSizes: [Int],
                activation: Activation = .silu, sigmaHiddenSizes: [Int], embeddingSize: Int,
                decoderShape: DecoderShape = DecoderShape(width: 64, layers: 2, heads: 4), generator: inout RandomGenerator) {
        self.kind = kind
        self.steps = steps
        self.actionSize = actionSize
        embedding = TimeEmbedding(size: embeddingSize)
        let input = observationSize + actionSize + embeddingSize
        if kind == .decoder {
            velocityNetwork = nil
            gate = nil
            sigmaNetwork = nil
            decoder = DecoderVelocityField(observationSize: observationSize, actionSize: actionSize, width: decoderShape.width,
                                           layerCount: decoderShape.layers, heads: decoderShape.heads, embeddingSize: embeddingSize,
                                           logSigmaRange: Self.logSigmaRange, generator: &generator, name: "actor.decoder")
            return
        }
        decoder = nil
        velocityNetwork = MLP(sizes: [input] + hiddenSizes + [actionSize], activation: activation,
                              outputScale: kind == .mlp ? 0.1 : 1, generator: &generator, name: "actor.velocity")
        if kind == .gated {
            let gate = MLP(sizes: [input] + hiddenSizes + [actionSize], activation: activation, generator: &generator, name: "actor.gate")
            gate.layers.last!.weight.value.fill(0)
            gate.layers.last!.bias!.value.fill(5)
            self.gate = gate
        } else {
            gate = nil
        }
        sigmaNetwork = MLP(sizes: [observationSize] + sigmaHiddenSizes + [steps * actionSize], activation: .silu,
                           generator: &generator, name: "actor.sigma")
    }

    /// Parameters of a policy built by the initialiser above, and the units one sample passes
    /// through over its whole rollout (for `MemoryEstimate`).
    static func estimate(kind: FlowVelocityKind, observationSize: Int, actionSize: Int, steps: Int, hiddenSizes: [Int],
                         sigmaHiddenSizes: [Int], embeddingSize: Int, decoderShape: DecoderShape) -> (parameters: Double, units: Double) {
        typealias E = MemoryEstimate
        if kind == .decoder {
            let (width, layers) = (decoderShape.width, Double(decoderShape.layers))
            let inputs = E.linear(actionSize, width) + E.linear(embeddingSize, width) + E.linear(observationSize, width)
            // Per layer: three layer norms, two attentions (query, key, value, output) and the feed-forward pair.
            let layer = 3 * Double(2 * width) + 8 * E.linear(width, width) + E.linear(width, 4 * width) + E.linear(4 * width, width)
            let parameters = inputs + layers * layer + Double(2 * width) + 2 * E.linear(width, actionSize)
            // Per step: the inputs, ~24 width-sized activations a layer, the heads.
            let units = Double(actionSize + embeddingSize + observationSize + 4 * width) + layers * 24 * Double(width)
                + Double(4 * actionSize)
            return (parameters, Double(steps) * units)
        }
        let velocity = [observationSize + actionSize + embeddingSize] + hiddenSizes + [actionSize]
        let sigma = [observationSize] + sigmaHiddenSizes + [steps * actionSize]
        let networks = kind == .gated ? 2.0 : 1.0
        return (networks * E.mlp(velocity) + E.mlp(sigma),
                Double(steps) * (networks * E.units(velocity) + Double(4 * actionSize)) + E.units(sigma))
    }

    /// `v_θ(t, s, x)` for a batch, `t` one time for all rows.
    public func velocity(observations: Variable, x: Variable, time: Float) -> Variable {
        velocity(observations: observations, x: x, times: TimeEmbedding.times(time, rows: observations.rows, on: observations.tape))
    }

    /// `v_θ(t, s, x)` with a time per row (`times` is `[batch, 1]`); Flow-T's is its `μ_v`.
    public func velocity(observations: Variable, x: Variable, times: Variable) -> Variable {
        if let decoder { return decoder(observations: observations, x: x, times: times).mean }
        let input = embedding.conditionedInput(observations: observations, x: x, times: times)
        let candidate = velocityNetwork!(input)
        guard let gate else { return candidate }
        return gate(input).sigmoid() * (candidate - x)
    }

    /// `log σ_k` for every step from the state-only network, `[batch, K·d]` (not for Flow-T).
    public func logSigma(observations: Variable) -> Variable {
        sigmaNetwork!(observations).squashed(into: Self.logSigmaRange)
    }

    /// The transition of step k: its mean `μ_k` and `log σ_k` (both `[batch, d]`). Without
    /// `stateLogSigmas` (the deterministic path, which needs only means) the MLP and gated fields
    /// report `log σ_k = 0`.
    func transition(observations: Variable, x: Variable, step k: Int, stateLogSigmas: Variable?) -> (mean: Variable, logSigma: Variable) {
        let time = Float(k) * dt
        if let decoder {
            let times = TimeEmbedding.times(time, rows: observations.rows, on: observations.tape)
            let (mean, logSigma) = decoder(observations: observations, x: x, times: times)
            return (x + dt * mean, logSigma + log(dt))   // σ_k = dt · σ_v
        }
        let mean = x + dt * velocity(observations: observations, x: x, time: time)
        let logSigma = stateLogSigmas?.columns((k * actionSize)..<((k + 1) * actionSize))
        return (mean, logSigma ?? observations.tape.constant(Tensor(rows: x.rows, cols: actionSize)))
    }

    public func sample(observations: Variable, noise: Tensor) -> (actions: Variable, logProbability: Variable) {
        precondition(noise.cols == noiseSize && noise.rows == observations.rows, "NoiseAugmentedFlowPolicy: noise must be [batch, (K+1)·d]")
        let tape = observations.tape
        let d = actionSize
        let logNormalizer = gaussianLogNormalizer(dimensions: d)
        var x = tape.constant(noise.columns(0..<d))
        var logProbability = gaussianLogDensity(standardized: x)
        let stateLogSigmas = sigmaNetwork == nil ? nil : logSigma(observations: observations)
        for k in 0..<steps {
            let (mean, logSigmaK) = transition(observations: observations, x: x, step: k, stateLogSigmas: stateLogSigmas)
            let epsilon = tape.constant(noise.columns(((k + 1) * d)..<((k + 2) * d)))
            x = mean + logSigmaK.exp() * epsilon
            // log N(x_{k+1}; μ_k, σ_k²) with x_{k+1} − μ_k = σ_k ε_k.
            logProbability = logProbability + gaussianLogKernel(standardized: epsilon, logSigma: logSigmaK) - logNormalizer
        }
        let actions = x.tanh()
        return (actions, logProbability - tanhSquashCorrection(actions))
    }

    /// The rollout from `x₀ = 0` without the added noise (the chain of means), squashed.
    public func meanAction(observations: Variable) -> Variable {
        var x = observations.tape.constant(Tensor(rows: observations.rows, cols: actionSize))
        for k in 0..<steps { x = transition(observations: observations, x: x, step: k, stateLogSigmas: nil).mean }
        return x.tanh()
    }
}
