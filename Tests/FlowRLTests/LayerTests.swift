import FlowRL
import XCTest
import _FlowRLTestSupport

/// Gradient checks and behaviour of Linear, MLP, LayerNorm and the time embedding.
final class LayerTests: XCTestCase {
    func testLinearGradients() {
        var generator = RandomGenerator(seed: 3)
        let layer = Linear(inputSize: 4, outputSize: 3, generator: &generator)
        let result = GradientCheck.check(inputs: [generator.normalTensor(rows: 5, cols: 4)], parameters: layer.parameters) { _, v in
            layer(v[0])
        }
        XCTAssertTrue(result.passed, "\(result)")
    }

    func testMLPGradientsForEveryActivation() {
        for activation in Activation.allCases {
            var generator = RandomGenerator(seed: 4)
            let network = MLP(sizes: [3, 6, 5, 2], activation: activation, generator: &generator)
            let input = generator.normalTensor(rows: 4, cols: 3)
            // ReLU has kinks; with this seed no pre-activation lies within ε of 0 (checked by passing).
            let result = GradientCheck.check(inputs: [input], parameters: network.parameters) { _, v in network(v[0]) }
            XCTAssertTrue(result.passed, "\(activation): \(result)")
        }
    }

    /// An MLP with a layer norm after each hidden layer, the norms' scales and offsets moved away
    /// from their initial values (and from each other) so that their gradients and their place in
    /// the fast paths are really checked.
    func layerNormalizedMLP(_ sizes: [Int], _ activation: Activation, generator: inout RandomGenerator) -> MLP {
        let network = MLP(sizes: sizes, activation: activation, layerNorm: true, generator: &generator, name: "q")
        for norm in network.norms {
            norm.scale.value = generator.uniformTensor(rows: 1, cols: norm.scale.value.cols, lower: 0.5, upper: 1.5)
            norm.offset.value = generator.uniformTensor(rows: 1, cols: norm.offset.value.cols, lower: -0.5, upper: 0.5)
        }
        return network
    }

    func testLayerNormalizedMLPLayoutAndGradients() {
        var generator = RandomGenerator(seed: 4)
        // Linear → LayerNorm → activation on each hidden layer; the norms draw nothing from the
        // generator, so the Linear layers start as without them; parameters in layer order.
        var plainGenerator = RandomGenerator(seed: 4)
        let plain = MLP(sizes: [3, 6, 5, 2], activation: .relu, generator: &plainGenerator, name: "q")
        let network = MLP(sizes: [3, 6, 5, 2], activation: .relu, layerNorm: true, generator: &generator, name: "q")
        XCTAssertTrue(plain.norms.isEmpty && !plain.normalizesHiddenLayers && network.normalizesHiddenLayers)
        XCTAssertEqual(network.norms.map { $0.scale.value.cols }, [6, 5])
        XCTAssertEqual(network.parameters.map(\.name), ["q.layers.0.weight", "q.layers.0.bias", "q.norms.0.weight", "q.norms.0.bias",
                                                       "q.layers.1.weight", "q.layers.1.bias", "q.norms.1.weight", "q.norms.1.bias",
                                                       "q.layers.2.weight", "q.layers.2.bias"])
        XCTAssertEqual(plain.parameters.map(\.name), network.layers.flatMap(\.parameters).map(\.name))
        XCTAssertEqual(plain.parameters.map(\.value), network.layers.flatMap(\.parameters).map(\.value))
        XCTAssertEqual(network.parameterCount, plain.parameterCount + 2 * (6 + 5))
        // Finite differences in the input and every parameter, norms included.
        for activation in [Activation.relu, .tanh, .silu] {
            let normalized = layerNormalizedMLP([3, 6, 5, 2], activation, generator: &generator)
            let input = generator.normalTensor(rows: 4, cols: 3)
            let result = GradientCheck.check(inputs: [input], parameters: normalized.parameters) { _, v in normalized(v[0]) }
            XCTAssertTrue(result.passed, "\(activation): \(result)")
        }
    }

    /// The tape-free paths a critic uses (`inference`, `inferenceKeeping`, `inputGradient`)
    /// through layer norms: the same values as the tape, the input gradient the tape's and the
    /// finite differences'.
    func testLayerNormalizedMLPFastPathsMatchTheTape() {
        for activation in [Activation.relu, .tanh, .silu] {   // slopes kept from outputs and from inputs
            for hidden in [[16], [16, 12, 8]] {
                let label = "\(activation) \(hidden)"
                var generator = RandomGenerator(seed: 13)
                let network = layerNormalizedMLP([5] + hidden + [1], activation, generator: &generator)
                let x = generator.normalTensor(rows: 9, cols: 5)
                let g = generator.normalTensor(rows: 9, cols: 1)
                let tape = Tape()
                tape.freeze(network)
                let input = tape.input(x)
                let output = network(input)
                tape.backward(from: (output * tape.constant(g)).sum())
                XCTAssertEqual(network.inference(x), output.value, label)
                let (keptOutput, kept) = network.inferenceKeeping(x)
                XCTAssertEqual(keptOutput, output.value, label)
                XCTAssertEqual(kept.norms.count, hidden.count, label)
                let fast = network.inputGradient(outputGradient: g, kept: kept)
                XCTAssertLessThanOrEqual(closenessRatio(fast, tape.gradient(of: input), atol: 1e-6, rtol: 1e-5), 1, label)
                // On a subset of rows, as the frozen minimum differentiates each network.
                let rows = [7, 2, 4]
                let subset = network.inputGradient(outputGradient: g.gathering(rows: rows), kept: kept.gathering(rows: rows))
                XCTAssertLessThanOrEqual(closenessRatio(subset, fast.gathering(rows: rows), atol: 1e-6, rtol: 1e-5), 1, label)
                // And against finite differences, through an op whose backward is the fast path
                // (not across ReLU's kinks: each norm couples every unit of its layer).
                guard activation != .relu else { continue }
                let result = GradientCheck.check(inputs: [x]) { tape, v in
                    let forward = network.inferenceKeeping(v[0].value)
                    return tape.record(forward.output, tracked: v[0].isTracked) { upstream, tape in
                        tape.accumulate(network.inputGradient(outputGradient: upstream, kept: forward.kept), into: v[0].node)
                    }
                }
                XCTAssertTrue(result.passed, "\(label): \(result)")
            }
        }
    }

    func testInferencePathMatchesTheTapedForwardPass() {
        for activation in Activation.allCases {
            var generator = RandomGenerator(seed: 12)
            let network = MLP(sizes: [5, 16, 16, 3], activation: activation, generator: &generator)
            for rows in [1, 7] {
                let x = generator.normalTensor(rows: rows, cols: 5)
                let taped = network(Tape(recording: false).constant(x)).value
                XCTAssertLessThanOrEqual(closenessRatio(network.inference(x), taped, atol: 1e-6, rtol: 1e-5), 1, "\(activation), \(rows) rows")
            }
        }
    }

    func testLayerNormGradientsAndStatistics() {
        let norm = LayerNorm(size: 6)
        var generator = RandomGenerator(seed: 5)
        // Non-trivial scale and offset so their gradients are checked away from the initial values.
        norm.scale.value = generator.uniformTensor(rows: 1, cols: 6, lower: 0.5, upper: 1.5)
        norm.offset.value = generator.normalTensor(rows: 1, cols: 6)
        let input = generator.normalTensor(rows: 4, cols: 6)
        let result = GradientCheck.check(inputs: [input], parameters: norm.parameters) { _, v in norm(v[0]) }
        XCTAssertTrue(result.passed, "\(result)")

        let fresh = LayerNorm(size: 6)
        let y = fresh(Tape(recording: false).constant(input)).value
        for row in 0..<4 {
            let values = y.row(row)
            let mean = values.reduce(0, +) / 6
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 6
            XCTAssertEqual(mean, 0, accuracy: 1e-5)
            XCTAssertEqual(variance, 1, accuracy: 1e-3)
        }
    }

    func testTimeEmbeddingGradientAndShape() {
        let embedding = TimeEmbedding(size: 8, maxFrequency: 20)
        let times = Tensor([[0], [0.25], [0.6], [1]])
        // Frequencies up to 20 make the sines curve quickly; a smaller step keeps the
        // finite difference accurate.
        let result = GradientCheck.check(inputs: [times], epsilon: 1e-3, atol: 5e-3) { _, v in embedding(v[0]) }
        XCTAssertTrue(result.passed, "\(result)")
        let value = embedding(Tape(recording: false).constant(times)).value
        XCTAssertEqual(value.shape, [4, 8])
        XCTAssertEqual(value[0, 0], 0)      // sin(0)
        XCTAssertEqual(value[0, 4], 1)      // cos(0)
    }

    func testLinearInitialisationFollowsPyTorchBounds() {
        var generator = RandomGenerator(seed: 6)
        let layer = Linear(inputSize: 64, outputSize: 32, generator: &generator)
        let bound: Float = 1 / 8
        for parameter in layer.parameters {
            XCTAssertLessThanOrEqual(parameter.value.scalars.map(abs).max()!, bound)
        }
        // Uniform on ±1/8: the spread fills most of the interval.
        XCTAssertGreaterThan(layer.weight.value.scalars.max()!, 0.9 * bound)
        XCTAssertLessThan(layer.weight.value.scalars.min()!, -0.9 * bound)
    }

    func testCopyAndPolyakAveraging() {
        var generator = RandomGenerator(seed: 7)
        let online = MLP(sizes: [2, 4, 1], activation: .relu, generator: &generator)
        let target = MLP(sizes: [2, 4, 1], activation: .relu, generator: &generator)
        let before = target.parameters.map(\.value)
        target.polyakUpdate(towards: online, rate: 0.25)
        for ((after, old), source) in zip(zip(target.parameters.map(\.value), before), online.parameters.map(\.value)) {
            for i in 0..<after.count {
                XCTAssertEqual(after.scalars[i], 0.75 * old.scalars[i] + 0.25 * source.scalars[i], accuracy: 1e-6)
            }
        }
        target.copyParameters(from: online)
        XCTAssertEqual(target.parameters.map(\.value), online.parameters.map(\.value))
        // A copy is independent: changing the source afterwards leaves the target alone.
        online.layers[0].weight.value.scale(by: 2)
        XCTAssertNotEqual(target.layers[0].weight.value, online.layers[0].weight.value)
    }

    func testSmallMLPFitsANonlinearFunction() {
        // y = sin(3x) on [-1, 1]: a 1 → 32 → 32 → 1 tanh network trained with Adam.
        var generator = RandomGenerator(seed: 8)
        let network = MLP(sizes: [1, 32, 32, 1], activation: .tanh, generator: &generator)
        let optimizer = Adam(parameters: network.parameters, learningRate: 1e-2)
        let inputs = Tensor(rows: 64, cols: 1, scalars: (0..<64).map { -1 + 2 * Float($0) / 63 })
        let targets = Tensor(rows: 64, cols: 1, scalars: inputs.scalars.map { Foundation.sin(3 * $0) })
        let tape = Tape()
        func loss() -> Float {
            tape.reset()
            let l = (network(tape.constant(inputs)) - tape.constant(targets)).squared().mean()
            optimizer.zeroGradients()
            tape.backward(from: l)
            return l.value.scalar
        }
        let initial = loss()
        for _ in 0..<800 { _ = loss(); optimizer.update() }
        let final = loss()
        // The targets have variance ≈ 0.5; a fit leaves a small fraction of it.
        XCTAssertLessThan(final, 5e-3, "final mean squared error \(final)")
        XCTAssertLessThan(final, initial / 20, "initial \(initial), final \(final)")
    }
}
