import FlowRL
import XCTest
import _FlowRLTestSupport

/// flowrl's Gaussian SAC against Stable-Baselines3's formulas evaluated with PyTorch on a fixed
/// batch with fixed weights and noise (`SACReferenceData.swift`, made by
/// `scripts/reference/sac_reference.py`). Float32 against float64: 1e-4 relative + 1e-5 absolute.
final class SACReferenceTests: XCTestCase {
    func tensor(_ values: [Float], _ rows: Int, _ cols: Int) -> Tensor { Tensor(rows: rows, cols: cols, scalars: values) }

    func assign(_ values: [[Float]], to layer: some Layer) {
        XCTAssertEqual(values.count, layer.parameters.count)
        for (parameter, value) in zip(layer.parameters, values) {
            parameter.value = Tensor(rows: parameter.value.rows, cols: parameter.value.cols, scalars: value)
        }
    }

    func assertClose(_ actual: Float, _ expected: Double, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Double(actual), expected, accuracy: 1e-4 * abs(expected) + 1e-5, name, file: file, line: line)
    }

    func testLossesMatchThePyTorchReference() throws {
        let (obs, act, batch) = (SACReference.observationSize, SACReference.actionSize, 4)
        let agent = try SAC(configurationJSON: """
            {"hidden_sizes": \(SACReference.hiddenSizes), "critic_hidden_sizes": \(SACReference.hiddenSizes),
             "initial_alpha": \(SACReference.alpha), "gamma": \(SACReference.gamma), "buffer_size": 16}
            """, observationSize: obs, actionSize: act)
        assign(SACReference.actor, to: agent.gaussian)
        assign(SACReference.critic, to: agent.core.softCritic!.critic)
        assign(SACReference.target, to: agent.core.softCritic!.target)
        XCTAssertEqual(agent.core.temperature!.alpha, SACReference.alpha, accuracy: 1e-6)
        XCTAssertEqual(agent.core.temperature!.targetEntropy, SACReference.targetEntropy)

        let transitions = Transitions(observations: tensor(SACReference.observations, batch, obs),
                                      actions: tensor(SACReference.actions, batch, act),
                                      rewards: tensor(SACReference.rewards, batch, 1),
                                      nextObservations: tensor(SACReference.nextObservations, batch, obs),
                                      terminated: tensor(SACReference.terminated, batch, 1))
        let next = agent.gaussian.sampleWithoutGradient(observations: transitions.nextObservations, noise: tensor(SACReference.nextNoise, batch, act))
        let targets = agent.core.softCritic!.targets(for: transitions, nextActions: next.actions, nextLogProbability: next.logProbability,
                                               alpha: SACReference.alpha)
        for row in 0..<batch { assertClose(targets.scalars[row], SACReference.expectedTargets[row], "target \(row)") }

        let criticLoss = agent.core.softCritic!.loss(on: transitions, targets: targets, tape: Tape(recording: false)).loss.value.scalar
        assertClose(criticLoss, SACReference.expectedCriticLoss, "critic loss")

        let (actorLoss, logProbability) = agent.actorStep.loss(observations: transitions.observations, noise: tensor(SACReference.noise, batch, act),
                                                          alpha: SACReference.alpha, tape: Tape(recording: false))
        assertClose(actorLoss.value.scalar, SACReference.expectedActorLoss, "actor loss")
        for row in 0..<batch { assertClose(logProbability.value.scalars[row], SACReference.expectedLogProbability[row], "log π \(row)") }
        assertClose(agent.core.temperature!.loss(logProbability: logProbability.value), SACReference.expectedAlphaLoss, "α loss")
    }

    func testActorGradientsIncludingTheSquashedGaussianLogDensity() throws {
        var generator = RandomGenerator(seed: 3)
        let agent = try SAC(configurationJSON: #"{"hidden_sizes": [6], "critic_hidden_sizes": [6], "buffer_size": 16}"#,
                            observationSize: 3, actionSize: 2)
        let observations = generator.normalTensor(rows: 5, cols: 3)
        let noise = generator.normalTensor(rows: 5, cols: 2)
        // The critic is frozen (only the actor is checked); with this seed no ReLU input lies within ε of 0.
        let result = GradientCheck.check(inputs: [], parameters: agent.gaussian.parameters) { tape, _ in
            agent.actorStep.loss(observations: observations, noise: noise, alpha: 0.3, tape: tape).loss
        }
        XCTAssertTrue(result.passed, "\(result)")
    }
}
