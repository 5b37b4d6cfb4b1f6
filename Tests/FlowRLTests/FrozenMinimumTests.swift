import FlowRL
import XCTest
import _FlowRLTestSupport

/// `TwinCritic.frozenMinimum`, the actor losses' `min_j Q_j(s, a)` with its row-split backward.
final class FrozenMinimumTests: XCTestCase {
    /// A critic whose layer norms (with `layerNorm`) have scales and offsets away from their initial
    /// ones and from each other, so that a backward pass that skipped or misplaced them would show.
    static func critic(observationSize: Int, hiddenSizes: [Int], activation: Activation, layerNorm: Bool,
                       generator: inout RandomGenerator) -> TwinCritic {
        let critic = TwinCritic(observationSize: observationSize, actionSize: 2, hiddenSizes: hiddenSizes, activation: activation,
                                layerNorm: layerNorm, generator: &generator)
        for norm in critic.first.norms + critic.second.norms {
            norm.scale.value = generator.uniformTensor(rows: 1, cols: norm.scale.value.cols, lower: 0.5, upper: 1.5)
            norm.offset.value = generator.uniformTensor(rows: 1, cols: norm.offset.value.cols, lower: -0.5, upper: 0.5)
        }
        return critic
    }

    func testMatchesTheTapedMinimumInValueAndActionGradient() {
        // Slopes kept from outputs (relu, tanh) and inputs (silu); with and without layer norms.
        for (activation, layerNorm) in [Activation.relu, .tanh, .silu].flatMap({ [($0, false), ($0, true)] }) {
            let label = "\(activation), layer norm \(layerNorm)"
            var generator = RandomGenerator(seed: 5)
            let critic = Self.critic(observationSize: 3, hiddenSizes: [16, 16], activation: activation, layerNorm: layerNorm,
                                     generator: &generator)
            XCTAssertEqual(critic.first.norms.count, layerNorm ? 2 : 0, label)
            let observations = generator.normalTensor(rows: 40, cols: 3)
            let actions = generator.normalTensor(rows: 40, cols: 2)
            let weights = generator.normalTensor(rows: 40, cols: 1)   // a non-uniform upstream gradient
            // Shift Q₂ by the median of Q₁ − Q₂ so that each network attains the minimum on about
            // half of the rows, exercising the row split.
            let probe = Tape(recording: false)
            let (q1, q2) = critic(observations: probe.constant(observations), actions: probe.constant(actions))
            let median = zip(q1.value.scalars, q2.value.scalars).map { $0 - $1 }.sorted()[20]
            critic.second.layers.last!.bias!.value.scalars[0] += median

            let reference = Tape()
            reference.freeze(critic)
            let referenceActions = reference.input(actions)
            let referenceQ = critic.minimum(observations: reference.constant(observations), actions: referenceActions)
            reference.backward(from: (referenceQ * reference.constant(weights)).sum())

            let tape = Tape()
            let tapeActions = tape.input(actions)
            let q = critic.frozenMinimum(observations: tape.constant(observations), actions: tapeActions)
            tape.backward(from: (q * tape.constant(weights)).sum())

            XCTAssertEqual(q.value, referenceQ.value, label)
            let (fast, slow) = (tape.gradient(of: tapeActions), reference.gradient(of: referenceActions))
            for index in 0..<fast.count {
                XCTAssertEqual(fast.scalars[index], slow.scalars[index], accuracy: 1e-5 * max(1, abs(slow.scalars[index])), label)
            }
            let (shifted1, shifted2) = critic(observations: probe.constant(observations), actions: probe.constant(actions))
            let firstWins = zip(shifted1.value.scalars, shifted2.value.scalars).filter { $0 <= $1 }.count
            XCTAssertTrue(firstWins > 0 && firstWins < 40, "\(label): Q₁ attains the minimum on \(firstWins) of 40 rows")
            // No parameter gradient: the critic is held fixed.
            XCTAssertTrue(critic.parameters.allSatisfy { $0.gradient.scalars.allSatisfy { $0 == 0 } }, label)
        }
    }

    func testFiniteDifferenceGradientInTheActions() {
        for layerNorm in [false, true] {
            var generator = RandomGenerator(seed: 6)
            let critic = Self.critic(observationSize: 2, hiddenSizes: [8, 8], activation: .tanh, layerNorm: layerNorm,
                                     generator: &generator)
            let observations = generator.normalTensor(rows: 6, cols: 2)
            let result = GradientCheck.check(inputs: [generator.normalTensor(rows: 6, cols: 2)]) { tape, variables in
                critic.frozenMinimum(observations: tape.constant(observations), actions: variables[0]).squared().sum()
            }
            XCTAssertTrue(result.passed, "layer norm \(layerNorm): \(result)")
        }
    }
}
