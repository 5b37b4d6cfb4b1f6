import FlowRL
import XCTest
import _FlowRLTestSupport

/// SAC Flow's actor: gradient checks of the velocity fields and of the path log-density, and the
/// one-step rollout's density against the closed-form Gaussian.
final class SACFlowTests: XCTestCase {
    func policy(_ kind: FlowVelocityKind, steps: Int = 3, seed: UInt64 = 1) -> NoiseAugmentedFlowPolicy {
        var generator = RandomGenerator(seed: seed)
        return NoiseAugmentedFlowPolicy(kind: kind, observationSize: 3, actionSize: 2, steps: steps, hiddenSizes: [8, 8],
                                        sigmaHiddenSizes: [6], embeddingSize: 4, decoderShape: DecoderShape(width: 8, layers: 2, heads: 2),
                                        generator: &generator)
    }

    func testVelocityFieldGradients() {
        for kind in [FlowVelocityKind.gated, .mlp, .decoder] {
            let actor = policy(kind)
            // Move the gate off its initial saturation so its gradient is not vanishingly small.
            actor.gate?.layers.last!.bias!.value.fill(0.3)
            var generator = RandomGenerator(seed: 2)
            let s = generator.normalTensor(rows: 4, cols: 3), x = generator.normalTensor(rows: 4, cols: 2)
            let result = GradientCheck.check(inputs: [s, x], parameters: actor.parameters) { _, v in
                actor.velocity(observations: v[0], x: v[1], time: 0.4)
            }
            XCTAssertTrue(result.passed, "\(kind): \(result)")
        }
    }

    func testGateStartsOpen() {
        let actor = policy(.gated)
        let tape = Tape(recording: false)
        let s = tape.constant(Tensor(rows: 2, cols: 3, repeating: 0.5)), x = tape.constant(Tensor(rows: 2, cols: 2, repeating: 0.1))
        let input = concatenateColumns([s, x, actor.embedding(tape.constant(Tensor(rows: 2, cols: 1)))])
        for value in actor.gate!(input).sigmoid().value.scalars { XCTAssertEqual(value, 1 / (1 + exp(-5)), accuracy: 1e-6) }
    }

    func testPathLogDensityGradients() {
        for kind in [FlowVelocityKind.gated, .mlp, .decoder] {
            let actor = policy(kind)
            actor.gate?.layers.last!.bias!.value.fill(0.3)
            var generator = RandomGenerator(seed: 3)
            let s = generator.normalTensor(rows: 4, cols: 3)
            let noise = generator.normalTensor(rows: 4, cols: actor.noiseSize)
            let result = GradientCheck.check(inputs: [s], parameters: actor.parameters) { _, v in
                let (actions, logProbability) = actor.sample(observations: v[0], noise: noise)
                return concatenateColumns([actions, logProbability])
            }
            XCTAssertTrue(result.passed, "\(kind): \(result)")
        }
    }

    func testOneStepRolloutDensityIsTheClosedFormGaussian() {
        // K = 1: x₁ ~ N(x₀ + v(0, s, x₀), σ²) given x₀, so log π(a) = log N(x₀) + log N(x₁; μ, σ²) − log|tanh′(x₁)|,
        // computed here in Double from x₁ itself (not from the noise that made it).
        let actor = policy(.gated, steps: 1)
        var generator = RandomGenerator(seed: 4)
        let s = generator.normalTensor(rows: 5, cols: 3)
        let noise = generator.normalTensor(rows: 5, cols: actor.noiseSize)
        let tape = Tape(recording: false)
        let (actions, logProbability) = actor.sample(observations: tape.constant(s), noise: noise)
        let x0 = noise.columns(0..<2)
        let mean = (tape.constant(x0) + actor.velocity(observations: tape.constant(s), x: tape.constant(x0), time: 0)).value
        let sigma = actor.logSigma(observations: tape.constant(s)).value.map(Elementwise.Exp.self)
        for row in 0..<5 {
            var expected = 0.0
            for j in 0..<2 {
                let a = Double(actions.value[row, j])
                let x1 = atanh(a), z0 = Double(x0[row, j])
                let (mu, sd) = (Double(mean[row, j]), Double(sigma[row, j]))
                expected += -0.5 * z0 * z0 - 0.5 * log(2 * Double.pi)
                let standardized = (x1 - mu) / sd
                expected += -0.5 * standardized * standardized - log(sd) - 0.5 * log(2 * Double.pi)
                expected -= log(1 - a * a + 1e-6)
            }
            // atanh of a Float32 action near ±1 loses digits; 1e-3 covers it for these samples.
            XCTAssertEqual(Double(logProbability.value[row, 0]), expected, accuracy: 1e-3, "row \(row)")
        }
    }

    func testAnUnknownVelocityIsRefusedNamingTheKey() {
        XCTAssertThrowsError(try SACFlow(configurationJSON: #"{"velocity": "transformer"}"#, observationSize: 2, actionSize: 2)) {
            XCTAssertTrue("\($0)".contains("velocity"), "\($0)")
        }
    }

    func testDecoderRolloutDensityIsTheProductOfItsGaussianTransitions() {
        // Flow-T with K = 2 (dt = ½): x_{k+1} ~ N(x_k + dt μ_v, (dt σ_v)²). The density is rebuilt
        // here in Double from the decoder's outputs and the positions x₁, x₂ (not from the noise),
        // so a missing or wrong −log(dt σ_v) term would show (it is log 2 ≈ 0.69 per coordinate).
        let actor = policy(.decoder, steps: 2)
        var generator = RandomGenerator(seed: 6)
        let s = generator.normalTensor(rows: 3, cols: 3)
        let noise = generator.normalTensor(rows: 3, cols: actor.noiseSize)
        let tape = Tape(recording: false)
        let (actions, logProbability) = actor.sample(observations: tape.constant(s), noise: noise)
        let dt = 0.5
        func transition(_ x: Tensor, _ time: Float) -> (Tensor, Tensor) {
            let (mean, logSigma) = actor.decoder!(observations: tape.constant(s), x: tape.constant(x),
                                                  times: tape.constant(Tensor(rows: 3, cols: 1, repeating: time)))
            return (mean.value, logSigma.value)
        }
        var x = noise.columns(0..<2)
        var expected = [Double](repeating: 0, count: 3)
        for row in 0..<3 {
            for j in 0..<2 { expected[row] += -0.5 * Double(x[row, j] * x[row, j]) - 0.5 * log(2 * Double.pi) }
        }
        for k in 0..<2 {
            let (mean, logSigma) = transition(x, Float(k) * Float(dt))
            var next = x
            for row in 0..<3 {
                for j in 0..<2 {
                    let sigma = dt * exp(Double(logSigma[row, j]))
                    let centre = Double(x[row, j]) + dt * Double(mean[row, j])
                    let position = centre + sigma * Double(noise[row, 2 * (k + 1) + j])
                    next[row, j] = Float(position)
                    let z = (position - centre) / sigma
                    expected[row] += -0.5 * z * z - log(sigma) - 0.5 * log(2 * Double.pi)
                }
            }
            x = next
        }
        for row in 0..<3 {
            for j in 0..<2 {
                let a = Double(actions.value[row, j])
                XCTAssertEqual(a, tanh(Double(x[row, j])), accuracy: 1e-5)
                expected[row] -= log(1 - a * a + 1e-6)
            }
            XCTAssertEqual(Double(logProbability.value[row, 0]), expected[row], accuracy: 1e-3, "row \(row)")
        }
    }
}
