@testable import FlowRL
import XCTest
import _FlowRLTestSupport

/// SWFP: the block loss's gradients and the flow's log-density (its contract, determinism
/// included, is `AlgorithmContractTests`). (The 2-D bandit it must
/// solve is a Python test, python/tests/test_swfp.py, run on the release build.)
final class SWFPTests: XCTestCase {
    func smallAgent(_ extra: String = "", observationSize: Int = 2, actionSize: Int = 2) throws -> SWFP {
        try SWFP(configurationJSON: #"{"hidden_sizes": [16, 16], "critic_hidden_sizes": [16], "batch_size": 16, "buffer_size": 256\#(extra)}"#,
                 observationSize: observationSize, actionSize: actionSize)
    }

    func testBlockLossGradientsIncludingTheDivergence() throws {
        // Both solvers: the midpoint step's log-volume carries the tangents through two evaluations.
        let cases = [(false, DivergenceMethod.exact), (true, .exact), (false, .logDeterminant), (false, .hutchinson(probes: 2))]
        for solver in ["euler", "midpoint"] {
            for (energyAtTerminal, method) in cases {
                let agent = try smallAgent(#", "solver": "\#(solver)", "flow_steps": 3"#)
                var generator = RandomGenerator(seed: 4)
                let observations = generator.normalTensor(rows: 5, cols: 2)
                let particles = ParticleChain(policy: agent.prior, observations: observations, noise: generator.normalTensor(rows: 5, cols: 2))
                let loss = SWFPBlockLoss(policy: agent.policy, prior: agent.prior, critic: agent.core.softCritic!.critic, alpha: 0.5,
                                         tau: 0.1, w2Scale: 0.4, energyAtTerminal: energyAtTerminal, method: method)
                // Only θ is checked: the observations also feed the ReLU critic, whose kinks a finite
                // difference in s can straddle.
                let result = GradientCheck.check(inputs: [], parameters: agent.policy.parameters) { tape, _ in
                    tape.freeze(agent.core.softCritic!.critic)
                    tape.freeze(agent.prior)
                    var probes = RandomGenerator(seed: 11)   // the same Hutchinson probes in every evaluation
                    return loss(block: 1, observations: tape.constant(observations), particles: particles, generator: &probes).loss
                }
                XCTAssertTrue(result.passed, "\(solver) terminal=\(energyAtTerminal) \(method): \(result)")
            }
        }
    }

    func testTrustRegionAloneDropsOnlyTheMovementCost() throws {
        // w2_terms = "trust_region": L = energy + (ε/2τ)·trust region; the pair adds (ε/2τ)·movement.
        let agent = try smallAgent()
        var generator = RandomGenerator(seed: 4)
        let observations = generator.normalTensor(rows: 5, cols: 2)
        let particles = ParticleChain(policy: agent.prior, observations: observations, noise: generator.normalTensor(rows: 5, cols: 2))
        func evaluate(_ chargesMovement: Bool) -> (loss: Float, movement: Float, trustRegion: Float) {
            let tape = Tape()
            tape.freeze(agent.core.softCritic!.critic)
            tape.freeze(agent.prior)
            let loss = SWFPBlockLoss(policy: agent.policy, prior: agent.prior, critic: agent.core.softCritic!.critic, alpha: 0.5,
                                     tau: 0.1, w2Scale: 0.4, chargesMovement: chargesMovement, energyAtTerminal: false, method: .exact)
            var probes = RandomGenerator(seed: 11)
            let value = loss(block: 1, observations: tape.constant(observations), particles: particles, generator: &probes)
            return (value.loss.value.scalar, value.movement, value.trustRegion)
        }
        let (both, alone) = (evaluate(true), evaluate(false))
        XCTAssertGreaterThan(both.movement, 0)
        XCTAssertEqual(both.loss - alone.loss, 0.4 / (2 * 0.1) * both.movement, accuracy: 1e-4 * max(1, abs(both.loss)))
        XCTAssertEqual(alone.trustRegion, both.trustRegion)
        let result = GradientCheck.check(inputs: [], parameters: agent.policy.parameters) { tape, _ in
            tape.freeze(agent.core.softCritic!.critic)
            tape.freeze(agent.prior)
            var probes = RandomGenerator(seed: 11)
            return SWFPBlockLoss(policy: agent.policy, prior: agent.prior, critic: agent.core.softCritic!.critic, alpha: 0.5, tau: 0.1,
                                 w2Scale: 0.4, chargesMovement: false, energyAtTerminal: false, method: .exact)(
                block: 1, observations: tape.constant(observations), particles: particles, generator: &probes).loss
        }
        XCTAssertTrue(result.passed, "\(result)")
    }

    func testTrustRegionWeighedByTheEnergyScalesTheWassersteinTermsByMeanAbsQOverAlpha() throws {
        // trust_region_scale = "energy": the Wasserstein terms' weight ε/2τ times max(1, mean|Q|/α),
        // a constant of the step; with α small enough the factor is above 1 and the loss grows by
        // exactly (factor − 1)·(ε/2τ)·(movement + trust region).
        let agent = try smallAgent()
        var generator = RandomGenerator(seed: 4)
        let observations = generator.normalTensor(rows: 5, cols: 2)
        let particles = ParticleChain(policy: agent.prior, observations: observations, noise: generator.normalTensor(rows: 5, cols: 2))
        let critic = agent.core.softCritic!.critic
        let alpha: Float = 1e-3
        func blockLoss(_ weighs: Bool) -> SWFPBlockLoss {
            SWFPBlockLoss(policy: agent.policy, prior: agent.prior, critic: critic, alpha: alpha, tau: 0.1, w2Scale: 0.4,
                          energyAtTerminal: false, method: .exact, weighsTrustRegionByEnergy: weighs)
        }
        func evaluate(_ weighs: Bool) -> (loss: Float, movement: Float, trustRegion: Float, meanAbsQ: Float) {
            let tape = Tape()
            tape.freeze(critic)
            tape.freeze(agent.prior)
            var probes = RandomGenerator(seed: 11)
            let step = blockLoss(weighs).step(block: 1, observations: tape.constant(observations), particles: particles, generator: &probes)
            let q = critic.frozenMinimum(observations: tape.constant(observations), actions: step.energyPoint.tanh()).value
            let meanAbsQ = (0..<q.rows).map { abs(q[$0, 0]) }.reduce(0, +) / Float(q.rows)
            let value = blockLoss(weighs).loss(of: step)
            return (value.loss.value.scalar, value.movement, value.trustRegion, meanAbsQ)
        }
        let (fixed, weighed) = (evaluate(false), evaluate(true))
        let factor = fixed.meanAbsQ / alpha
        XCTAssertGreaterThan(factor, 1, "the test needs mean|Q|/α above the floor of 1")
        let terms = 0.4 / (2 * 0.1) * (fixed.movement + fixed.trustRegion)
        XCTAssertEqual(weighed.loss - fixed.loss, (factor - 1) * terms, accuracy: 1e-3 * max(1, abs(weighed.loss)))
        XCTAssertEqual(blockLoss(true).energyScale(Tensor(rows: 2, cols: 1, scalars: [1e-5, -1e-5])), 1, "floored at 1")
        // The factor is a constant of the step (no gradient through Q's scale): θ's gradient equals
        // that of the fixed weighting with ε multiplied by the factor, whose gradient the tests
        // above check by finite differences.
        func gradients(_ loss: SWFPBlockLoss) -> [Tensor] {
            let tape = Tape()
            tape.freeze(critic)
            tape.freeze(agent.prior)
            var probes = RandomGenerator(seed: 11)
            let value = loss(block: 1, observations: tape.constant(observations), particles: particles, generator: &probes).loss
            for parameter in agent.policy.parameters { parameter.zeroGradient() }
            tape.backward(from: value, seed: Tensor(rows: 1, cols: 1, scalars: [1]))
            return agent.policy.parameters.map(\.gradient)
        }
        let scaled = SWFPBlockLoss(policy: agent.policy, prior: agent.prior, critic: critic, alpha: alpha, tau: 0.1,
                                   w2Scale: 0.4 * factor, energyAtTerminal: false, method: .exact)
        for (weighedGradient, scaledGradient) in zip(gradients(blockLoss(true)), gradients(scaled)) {
            for index in 0..<weighedGradient.count {
                XCTAssertEqual(weighedGradient.scalars[index], scaledGradient.scalars[index],
                               accuracy: 1e-4 * max(1, abs(scaledGradient.scalars[index])))
            }
        }
    }

    func testLogDensityOfAOneDimensionalFlowMatchesTheNumericalDensity() throws {
        // In 1-D the flow x₀ ↦ a = tanh(x_N) is monotone, so log π(a) = log N(x₀) − log|da/dx₀|.
        // The derivative is taken by central differences in x₀ (step 1e-3). With "logdet" each
        // Euler step's volume change is exact, so the two agree up to the finite difference's
        // Float32 rounding (checked to 2e-2); the first-order divergence form differs by
        // O(dt² J²) per step (checked to 0.1).
        let agent = try smallAgent(#", "flow_steps": 4"#, observationSize: 1, actionSize: 1)
        // Give the field some shape: a short flow-matching fit to a bimodal target.
        var generator = RandomGenerator(seed: 3)
        let states = Tensor(rows: 256, cols: 1)
        let actions = Tensor(rows: 256, cols: 1, scalars: (0..<256).map { $0 % 2 == 0 ? 0.5 : -0.3 })
        _ = agent.pretrain(observations: states, actions: actions, steps: 200)
        let noise = Tensor(rows: 7, cols: 1, scalars: [-1.5, -0.8, -0.2, 0, 0.3, 0.9, 1.6])
        let s = Tensor(rows: 7, cols: 1)
        let (reached, logDensity) = agent.policy.actionsWithLogProbability(observations: s, noise: noise, method: .logDeterminant, generator: &generator)
        let firstOrder = agent.policy.actionsWithLogProbability(observations: s, noise: noise, method: .exact, generator: &generator).logProbability
        let h: Float = 1e-3
        func action(_ x0: Tensor) -> Tensor { agent.policy.chain(observations: s, noise: x0).last!.map(Elementwise.Tanh.self) }
        var plus = noise, minus = noise
        for i in 0..<7 { plus.scalars[i] += h; minus.scalars[i] -= h }
        let (up, down) = (action(plus), action(minus))
        for i in 0..<7 {
            let x0 = Double(noise.scalars[i])
            let derivative = (Double(up.scalars[i]) - Double(down.scalars[i])) / (2 * Double(h))
            let numeric = -0.5 * x0 * x0 - 0.5 * Foundation.log(2 * Double.pi) - Foundation.log(abs(derivative))
            XCTAssertEqual(Double(logDensity.scalars[i]), numeric, accuracy: 2e-2, "x0 = \(x0), a = \(reached.scalars[i])")
            XCTAssertEqual(Double(firstOrder.scalars[i]), numeric, accuracy: 0.1, "first order, x0 = \(x0)")
        }
    }

    func testParticleChainRunsOnlyTheStepsRead() throws {
        // The lazy chain gives the whole chain's particles, and reading x_n costs n steps' products.
        let agent = try smallAgent(#", "flow_steps": 4"#)
        var generator = RandomGenerator(seed: 5)
        let observations = generator.normalTensor(rows: 7, cols: 2)
        let noise = generator.normalTensor(rows: 7, cols: 2)
        let whole = agent.prior.chain(observations: observations, noise: noise)
        XCTAssertEqual(whole.count, 5)
        let lazy = ParticleChain(policy: agent.prior, observations: observations, noise: noise)
        let before = BLAS.productFLOPs
        XCTAssertEqual(lazy[0], noise)
        XCTAssertEqual(BLAS.productFLOPs, before, "x0 is the noise: no step runs")
        XCTAssertEqual(lazy[2], whole[2])
        let twoSteps = BLAS.productFLOPs - before
        XCTAssertGreaterThan(twoSteps, 0)
        XCTAssertEqual(lazy[1], whole[1])
        XCTAssertEqual(BLAS.productFLOPs - before, twoSteps, "a particle already computed is not recomputed")
        XCTAssertEqual(lazy.all, whole)
        XCTAssertEqual(BLAS.productFLOPs - before, 2 * twoSteps, "the last two steps cost as much as the first two")
        let known = ParticleChain(particles: whole)
        XCTAssertEqual(known[3], whole[3])
        XCTAssertEqual(known.count, 5)
    }

    func testActingPathMatchesTheTapedChain() throws {
        for separate in [false, true] {
            let agent = try smallAgent(separate ? #", "blocks": "separate""# : "")
            var generator = RandomGenerator(seed: 8), same = RandomGenerator(seed: 8)
            let observations = generator.normalTensor(rows: 6, cols: 2)
            let acted = agent.policy.sample(observations: observations, deterministic: false, generator: &generator)
            _ = same.normalTensor(rows: 6, cols: 2)   // the observations
            let noise = same.normalTensor(rows: 6, cols: 2)
            let taped = agent.policy.chain(observations: observations, noise: noise).last!.map(Elementwise.Tanh.self)
            XCTAssertLessThanOrEqual(closenessRatio(acted, taped, atol: 1e-6, rtol: 1e-5), 1, "separate blocks: \(separate)")
        }
    }
}
