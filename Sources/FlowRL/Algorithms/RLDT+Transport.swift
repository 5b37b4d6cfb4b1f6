#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// RLDT's transport field and actor losses (docs/algorithms.md, "RLDT"), kept apart from the agent
/// so that each can be checked on fixed inputs: the field against a direct computation
/// (`RLDTTests`, reference values from `scripts/reference/rldt_reference.py`), the losses by
/// finite differences.
///
/// Particle layout: a batch of S states with P particles each is `[P · S, d]`, particle-major, so
/// row `p · S + b` is particle p of state b (the states tiled P times, as `Tensor.tiledRows`
/// lays them out). Every tensor below uses it.
public enum RLDTTransport {
    /// The kernel of the field (`kernel`): the RBF kernel with a median bandwidth, or the delta
    /// kernel (φ = g, no repulsion; the paper's ablation).
    public enum Kernel: String, Codable, Sendable, CaseIterable { case rbf, delta }

    /// The floor of the bandwidth `h_i` (squared distances), so that particles that coincide do
    /// not divide by zero.
    public static let bandwidthFloor: Float = 1e-6
    /// The range `mean_j ‖g_j‖` is clamped to before it scales the repulsion: bounded below so that
    /// a flat critic does not switch the repulsion off, above so that one spike of the critic's
    /// gradient cannot blow it up.
    public static let gradientScaleRange: ClosedRange<Float> = 1e-3...1e3

    /// The SVGD field `φ_i` at each predicted end `x̂₁,i` (`predicted`), from the particles
    /// `a_j` (`particles`, the chains' ends) of the same state and the critic's gradients `g_j`
    /// at them (`gradients`), all `[P · S, d]`:
    ///
    ///     d_ij = ‖x̂₁,i − a_j‖²,  h_i = max(median_j d_ij / (2 log(P + 1)), h_min),  K_ij = exp(−d_ij / 2h_i)
    ///     T_b = temperature · clamp(mean_j ‖g_j‖)
    ///     φ_i = (Σ_j K_ij g_j + T_b Σ_j K_ij (x̂₁,i − a_j) / h_i) / P
    ///
    /// with j over the P particles of i's state and the median of an even count the mean of the two
    /// middle values. The delta kernel returns `gradients` (φ_i = g_i).
    public static func field(predicted: Tensor, particles: Tensor, gradients: Tensor, particlesPerState count: Int,
                             temperature: Float, kernel: Kernel) -> Tensor {
        precondition(predicted.hasShape(of: particles) && predicted.hasShape(of: gradients), "RLDTTransport.field: shapes differ")
        precondition(count >= 1 && predicted.rows % count == 0, "RLDTTransport.field: rows are not P blocks of states")
        if kernel == .delta { return gradients }
        let states = predicted.rows / count, width = predicted.cols
        let logTerm = 2 * Float(log(Double(count + 1)))
        var out = Tensor(rows: predicted.rows, cols: width)
        var distances = [Float](repeating: 0, count: count)
        for state in 0..<states {
            let members = (0..<count).map { $0 * states + state }
            var normSum: Float = 0
            for j in members {
                var squared: Float = 0
                for c in 0..<width { squared += gradients[j, c] * gradients[j, c] }
                normSum += squared.squareRoot()
            }
            let scale = Swift.min(Swift.max(normSum / Float(count), gradientScaleRange.lowerBound), gradientScaleRange.upperBound)
            let repulsion = temperature * scale
            for i in members {
                for (index, j) in members.enumerated() {
                    var squared: Float = 0
                    for c in 0..<width {
                        let difference = predicted[i, c] - particles[j, c]
                        squared += difference * difference
                    }
                    distances[index] = squared
                }
                let bandwidth = Swift.max(median(distances) / logTerm, bandwidthFloor)
                for (index, j) in members.enumerated() {
                    let weight = exp(-distances[index] / (2 * bandwidth))
                    for c in 0..<width {
                        out[i, c] += weight * gradients[j, c] + repulsion * weight * (predicted[i, c] - particles[j, c]) / bandwidth
                    }
                }
                for c in 0..<width { out[i, c] /= Float(count) }
            }
        }
        return out
    }

    /// The median; for an even count the mean of the two middle values.
    static func median(_ values: [Float]) -> Float {
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : 0.5 * (sorted[middle - 1] + sorted[middle])
    }

    /// The mean over states of the mean squared distance between a state's particles (all ordered
    /// pairs, i ≠ j): how spread the policy's samples are (`train/particle_spread`).
    public static func spread(particles: Tensor, particlesPerState count: Int) -> Float {
        guard count > 1 else { return 0 }
        let states = particles.rows / count
        var total: Double = 0
        for state in 0..<states {
            for p in 0..<count {
                for q in 0..<count where q != p {
                    for c in 0..<particles.cols {
                        let difference = Double(particles[p * states + state, c] - particles[q * states + state, c])
                        total += difference * difference
                    }
                }
            }
        }
        return Float(total / Double(states * count * (count - 1)))
    }
}

/// RLDT's actor loss (docs/algorithms.md, "RLDT: the update"), row by row over the particles,
/// each at its own intermediate step k with `t_k = k/K` and `m = K(1 − t_k)` remaining steps:
///
///     x̂₁ = x_k + (1 − t_k) v_θ(t_k, s, x_k)
///     transport    = −mean ⟨v_θ(t_k, s, x_k), sg(φ)⟩ / m
///     consistency  = c · mean ‖x̂₁ − sg(a)‖² / m²
///     trust region = c_kl · mean ‖v_θ(τ, s, x̃) − v_ref(τ, s, x̃)‖²,   x̃ = (1 − τ) z + τ sg(a)
///
/// `a` is the particle's own chain end (pre-squash), φ the transport field (`RLDTTransport.field`,
/// a constant here), v_ref the reference policy (no gradient). Only the policy's shared field is
/// trained (`fields[0]`).
public struct RLDTActorLoss {
    public let policy: FlowPolicy
    public let reference: FlowPolicy
    /// c, the weight of the consistency term.
    public let consistencyWeight: Float
    /// c_kl, the weight of the trust region.
    public let trustRegionWeight: Float

    public init(policy: FlowPolicy, reference: FlowPolicy, consistencyWeight: Float, trustRegionWeight: Float) {
        self.policy = policy
        self.reference = reference
        self.consistencyWeight = consistencyWeight
        self.trustRegionWeight = trustRegionWeight
    }

    /// The fixed inputs of one evaluation, all `[rows, ·]` in the particle layout.
    public struct Inputs {
        /// The state of each particle, `[rows, observationSize]`.
        public var observations: Tensor
        /// `x_k`, each particle's point at its intermediate step.
        public var intermediate: Tensor
        /// `t_k`, `[rows, 1]`.
        public var times: Tensor
        /// `a`, each particle's chain end (pre-squash).
        public var ends: Tensor
        /// `x̃`, the re-noised copies of the ends for the trust region.
        public var trustPoints: Tensor
        /// `τ`, their times, `[rows, 1]`.
        public var trustTimes: Tensor
        /// The field's pass at `(t_k, s, x_k)` when the chains already made it
        /// (`FlowPolicy.intermediateForward`), for the prediction to replay; nil to run it.
        public var intermediateForward: MLP.Forward?

        public init(observations: Tensor, intermediate: Tensor, times: Tensor, ends: Tensor, trustPoints: Tensor, trustTimes: Tensor,
                    intermediateForward: MLP.Forward? = nil) {
            self.observations = observations
            self.intermediate = intermediate
            self.times = times
            self.ends = ends
            self.trustPoints = trustPoints
            self.trustTimes = trustTimes
            self.intermediateForward = intermediateForward
        }
    }

    /// `v_θ(t_k, s, x_k)` and the predicted end `x̂₁` on `tape`.
    public func prediction(_ inputs: Inputs, tape: Tape) -> (velocity: Variable, predicted: Variable) {
        policy.predictedEnd(observations: tape.constant(inputs.observations), x: tape.constant(inputs.intermediate),
                            times: tape.constant(inputs.times), replaying: inputs.intermediateForward)
    }

    /// The network passes of one evaluation: everything of the loss that does not read the field φ.
    public struct Passes {
        /// `v_θ(t_k, s, x_k)`, on the tape.
        public let velocity: Variable
        /// `x̂₁`, on the tape.
        public let predicted: Variable
        /// `v_θ(τ, s, x̃)`, on the tape.
        public let trustVelocity: Variable
        /// `v_ref(τ, s, x̃)`, without gradient.
        public let referenceVelocity: Tensor
    }

    /// The prediction, then θ's and the reference's velocities at the trust points, on `tape`
    /// (the reference's without gradient). They read neither the critic nor φ, so an update can
    /// run them before its critic step, beside the critic target's sample (`ForkJoin`).
    public func passes(_ inputs: Inputs, tape: Tape) -> Passes {
        let (velocity, predicted) = prediction(inputs, tape: tape)
        let field = policy.fields[0], referenceField = reference.fields[0]
        let trustVelocity = field.network(field.input(observations: tape.constant(inputs.observations),
                                                      x: tape.constant(inputs.trustPoints), times: tape.constant(inputs.trustTimes)))
        let noGrad = Tape(recording: false)
        let referenceVelocity = referenceField.network(referenceField.input(observations: noGrad.constant(inputs.observations),
                                                                            x: noGrad.constant(inputs.trustPoints),
                                                                            times: noGrad.constant(inputs.trustTimes))).value
        return Passes(velocity: velocity, predicted: predicted, trustVelocity: trustVelocity, referenceVelocity: referenceVelocity)
    }

    /// The three terms (each `[1, 1]`) from the passes (`passes`, on their tape) and the field φ.
    public func terms(_ inputs: Inputs, _ passes: Passes, field: Tensor)
        -> (transport: Variable, consistency: Variable, trustRegion: Variable) {
        let tape = passes.velocity.tape
        let steps = Float(policy.steps)
        // 1/m and 1/m² per row, m = K(1 − t_k) ≥ 1.
        var perRow = Tensor(rows: inputs.times.rows, cols: 1)
        var perRowSquared = Tensor(rows: inputs.times.rows, cols: 1)
        for row in 0..<perRow.rows {
            let remaining = steps * (1 - inputs.times.scalars[row])
            perRow.scalars[row] = 1 / remaining
            perRowSquared.scalars[row] = 1 / (remaining * remaining)
        }
        let transport = -((passes.velocity * tape.constant(field)).sumOfEachRow() * tape.constant(perRow)).mean()
        let consistency = consistencyWeight
            * ((passes.predicted - tape.constant(inputs.ends)).squared().sumOfEachRow() * tape.constant(perRowSquared)).mean()
        let trustRegion = trustRegionWeight
            * (passes.trustVelocity - tape.constant(passes.referenceVelocity)).squared().sumOfEachRow().mean()
        return (transport, consistency, trustRegion)
    }
}
