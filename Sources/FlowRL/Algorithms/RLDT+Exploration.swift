#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// RLDT's optional extrapolation noise for acting (`exploration = "min_extrp"`; docs/algorithms.md,
/// "RLDT: exploration"), after the authors' code: each action is its chain's end `a = x_K` moved
/// by Gaussian noise whose scale is how far the one-jump prediction from a step `j` lands from it,
///
///     j ~ U{j₀, …, K − 1},  x̂₁(x_j) = x_j + (1 − t_j) v_θ(t_j, s, x_j),  x̃ = a + ‖a − x̂₁(x_j)‖ · ε,  ε ~ N(0, I),
///
/// in the pre-squash space, then squashed: `tanh(x̃)`. `j₀` is `exploration_min_step`. The norm is
/// over the whole action (one scale per action, not per dimension). Where the flow is straight the
/// prediction is the end and the noise vanishes (always at `j = K − 1`, whose one Euler step is the
/// jump); the more the flow bends after step j, the wider the noise.
public enum RLDTExploration {
    /// Actions in [-1, 1] for `observations`, drawing from `generator` in this order: the chains'
    /// starting noise `[n, d]`, one step j per row, then ε `[n, d]`.
    public static func extrapolatedActions(policy: FlowPolicy, observations: Tensor, firstStep: Int,
                                           generator: inout RandomGenerator) -> Tensor {
        precondition((0..<policy.steps).contains(firstStep), "RLDTExploration: the first step must lie in 0..<K")
        let rows = observations.rows, width = policy.actionSize
        let chain = policy.chain(observations: observations, noise: generator.normalTensor(rows: rows, cols: width))
        let steps = policy.intermediateSteps(rows: rows, in: firstStep..<policy.steps, generator: &generator)
        let (points, times) = policy.intermediatePoints(of: chain, at: steps)
        let noGrad = Tape(recording: false)
        let predicted = policy.predictedEnd(observations: noGrad.constant(observations), x: noGrad.constant(points),
                                            times: noGrad.constant(times)).predicted.value
        let ends = chain[policy.steps]
        var actions = generator.normalTensor(rows: rows, cols: width)
        for row in 0..<rows {
            var squared: Float = 0
            for c in 0..<width {
                let difference = ends[row, c] - predicted[row, c]
                squared += difference * difference
            }
            let radius = squared.squareRoot()
            for c in 0..<width { actions[row, c] = tanh(ends[row, c] + radius * actions[row, c]) }
        }
        return actions
    }
}

extension FlowPolicy {
    /// `v_θ(t, s, x)` of the shared field and the chain's end predicted from `(t, x)` in one jump,
    /// `x̂₁ = x + (1 − t) v_θ(t, s, x)`, row by row (`times` is `[rows, 1]`), on `x`'s tape.
    /// With `forward`, the field's pass at these very inputs already made (`chainKeepingForwards`),
    /// the velocity is that pass replayed on the tape (`MLP.callAsFunction(_:replaying:)`): the same
    /// values and gradients without running the network again.
    public func predictedEnd(observations: Variable, x: Variable, times: Variable,
                             replaying forward: MLP.Forward? = nil) -> (velocity: Variable, predicted: Variable) {
        let field = fields[0]
        let input = field.input(observations: observations, x: x, times: times)
        let velocity = forward.map { field.network(input, replaying: $0) } ?? field.network(input)
        return (velocity, x + (1 - times) * velocity)
    }

    /// The chain `x₀ … x_K` from `noise`, the particles `chain` gives, with the shared field's
    /// pass at each step kept (`MLP.Forward`, step n at `t_n`): a prediction from a particle's
    /// intermediate step is the field at that step's point, so it can replay the pass
    /// (`predictedEnd(…replaying:)`, `intermediateForward`) instead of making it again. The Euler
    /// step as `step` makes it; for a policy with one field and the Euler solver (RLDT's).
    public func chainKeepingForwards(observations: Tensor, noise: Tensor) -> (particles: [Tensor], forwards: [MLP.Forward]) {
        precondition(fields.count == 1 && solver == .euler, "chainKeepingForwards: one shared field, Euler steps")
        let tape = Tape(recording: false), field = fields[0]
        let s = tape.constant(observations)
        var x = tape.constant(noise)
        var particles = [noise], forwards: [MLP.Forward] = []
        for n in 0..<steps {
            let forward = field.network.inferenceKeepingForward(field.input(observations: s, x: x, time: time(atStep: n)).value)
            x = x + dt * tape.constant(forward.output)
            particles.append(x.value)
            forwards.append(forward)
        }
        return (particles, forwards)
    }

    /// For each row, the field's pass at its step (`steps`, one per row) of a chain's kept passes
    /// (`chainKeepingForwards`): the pass at the points `intermediatePoints` gives.
    public func intermediateForward(of forwards: [MLP.Forward], at steps: [Int]) -> MLP.Forward {
        MLP.Forward.selecting(rowsFrom: forwards, sources: steps)
    }

    /// A step k drawn uniformly from `range` for each of `rows` particles (one `generator.next()`
    /// per row), for `intermediatePoints`; drawn apart from it so that an update can draw every
    /// random number before its chains run (`ForkJoin`).
    public func intermediateSteps(rows: Int, in range: Range<Int>, generator: inout RandomGenerator) -> [Int] {
        (0..<rows).map { _ in range.lowerBound + Int(generator.next() % UInt64(range.count)) }
    }

    /// For each row of a chain `x₀ … x_K` (`chain`) and its step k (`steps`, one per row): the
    /// points `x_k` and their times `t_k = k/K` (`[rows, 1]`).
    public func intermediatePoints(of chain: [Tensor], at steps: [Int]) -> (points: Tensor, times: Tensor) {
        (Tensor.selecting(rowsFrom: chain, sources: steps),
         Tensor(rows: steps.count, cols: 1, scalars: steps.map { time(atStep: $0) }))
    }
}
