import FlowRL
import XCTest
import _FlowRLTestSupport

/// SWFP's `entropy_space = "action"`: the block loss adds exactly the tanh's log-Jacobian at its
/// energy point, its gradients match finite differences (with particles out where the tanh
/// saturates), and the key reaches the loss and survives a checkpoint. `tanhSquashPenalty` itself:
/// `TanhSquashPenaltyTests`; the contract over the option: `AlgorithmContractTests`
/// ("swfp entropy_space action").
final class SWFPEntropySpaceTests: XCTestCase {
    func smallAgent(_ extra: String = "") throws -> SWFP {
        try SWFP(configurationJSON: #"{"hidden_sizes": [16, 16], "critic_hidden_sizes": [16], "batch_size": 16, "buffer_size": 256, "flow_steps": 3\#(extra)}"#,
                 observationSize: 2, actionSize: 2)
    }

    /// Old particles from noise of standard deviation `spread`: 4 puts some of them where the tanh
    /// saturates, so the log-Jacobian's pull matters.
    func inputs(spread: Float) -> (observations: Tensor, particles: (SWFP) -> ParticleChain) {
        var generator = RandomGenerator(seed: 4)
        let observations = generator.normalTensor(rows: 5, cols: 2)
        var noise = generator.normalTensor(rows: 5, cols: 2)
        noise.scale(by: spread)
        return (observations, { ParticleChain(policy: $0.prior, observations: observations, noise: noise) })
    }

    func blockLoss(_ agent: SWFP, energyAtTerminal: Bool, actionEntropy: Bool) -> SWFPBlockLoss {
        SWFPBlockLoss(policy: agent.policy, prior: agent.prior, critic: agent.core.softCritic!.critic, alpha: 0.5, tau: 0.1,
                      w2Scale: 0.4, energyAtTerminal: energyAtTerminal, method: .exact, actionEntropy: actionEntropy)
    }

    func testTheLossGainsTheMeanLogJacobianAtTheEnergyPoint() throws {
        let agent = try smallAgent()
        let (observations, makeParticles) = inputs(spread: 4)
        let particles = makeParticles(agent)
        for energyAtTerminal in [false, true] {
            func loss(_ actionEntropy: Bool) -> (loss: Float, movement: Float, trustRegion: Float) {
                let tape = Tape()
                tape.freeze(agent.core.softCritic!.critic)
                tape.freeze(agent.prior)
                var unused = RandomGenerator(seed: 0)
                let value = blockLoss(agent, energyAtTerminal: energyAtTerminal, actionEntropy: actionEntropy)(
                    block: 1, observations: tape.constant(observations), particles: particles, generator: &unused)
                return (value.loss.value.scalar, value.movement, value.trustRegion)
            }
            // The energy point by hand: θ's block 1 from the old particle, then (terminal) θ̄'s block 2.
            let tape = Tape(recording: false)
            let s = tape.constant(observations)
            var y = agent.policy.step(observations: s, x: tape.constant(particles[1]), step: 1)
            if energyAtTerminal { y = agent.prior.step(observations: s, x: y, step: 2) }
            let meanPenalty = tanhSquashPenalty(y).value.sum() / 5
            XCTAssertGreaterThan(meanPenalty, 1, "the particles should reach the tanh's saturation")
            let (plain, action) = (loss(false), loss(true))
            XCTAssertEqual(action.loss - plain.loss, meanPenalty, accuracy: 1e-4 * max(1, abs(action.loss)), "terminal=\(energyAtTerminal)")
            // The Wasserstein terms do not change.
            XCTAssertEqual(action.movement, plain.movement)
            XCTAssertEqual(action.trustRegion, plain.trustRegion)
        }
    }

    func testBlockLossGradientsWithTheLogJacobian() throws {
        for energyAtTerminal in [false, true] {
            for spread: Float in [1, 4] {
                let agent = try smallAgent()
                let (observations, makeParticles) = inputs(spread: spread)
                let particles = makeParticles(agent)
                let loss = blockLoss(agent, energyAtTerminal: energyAtTerminal, actionEntropy: true)
                // Only θ is checked, as in `SWFPTests`: the ReLU critic's kinks lie in s too.
                let result = GradientCheck.check(inputs: [], parameters: agent.policy.parameters) { tape, _ in
                    tape.freeze(agent.core.softCritic!.critic)
                    tape.freeze(agent.prior)
                    var unused = RandomGenerator(seed: 0)
                    return loss(block: 1, observations: tape.constant(observations), particles: particles, generator: &unused).loss
                }
                XCTAssertTrue(result.passed, "terminal=\(energyAtTerminal) spread=\(spread): \(result)")
            }
        }
    }

    func testTheKeyReachesTheBlockLossAndSurvivesACheckpoint() throws {
        let json = #"{"hidden_sizes": [16], "critic_hidden_sizes": [16], "batch_size": 16, "buffer_size": 64, "flow_steps": 2, "critic_warmup_steps": 0, "seed": 3"#
        XCTAssertEqual(try smallAgent().configuration.options.entropySpace, .preSquash)
        var losses: [Double] = []
        for space in ["pre_squash", "action"] {
            let agent = try ManagedAgent(algorithm: "swfp", configurationJSON: json + #", "entropy_space": "\#(space)"}"#,
                                         observationSize: 2, actionSize: 2)
            var generator = RandomGenerator(seed: 6)
            try agent.observe(Transitions(observations: generator.normalTensor(rows: 32, cols: 2),
                                          actions: generator.uniformTensor(rows: 32, cols: 2, lower: -1, upper: 1),
                                          rewards: generator.normalTensor(rows: 32, cols: 1),
                                          nextObservations: generator.normalTensor(rows: 32, cols: 2),
                                          terminated: Tensor(rows: 32, cols: 1)))
            losses.append(try XCTUnwrap(try agent.update(gradientSteps: 1)["train/actor_loss"]))
            let restored = try ManagedAgent(checkpoint: try Checkpoint(decoding: agent.checkpoint(includeReplayBuffer: false).encoded()))
            XCTAssertTrue(restored.agent.configurationJSON.contains(#""entropy_space":"\#(space)""#), restored.agent.configurationJSON)
        }
        // Same seed, same draws: only the log-Jacobian (positive) separates the two losses.
        XCTAssertGreaterThan(losses[1], losses[0])
    }
}
