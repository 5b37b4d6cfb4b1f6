import FlowRL
import XCTest
import _FlowRLTestSupport

/// Behaviour of the tape itself: no-grad mode, stop-gradient, input gradients, reuse.
final class TapeTests: XCTestCase {
    func testNoGradModeRecordsNothing() {
        var generator = RandomGenerator(seed: 1)
        let network = MLP(sizes: [3, 8, 2], activation: .tanh, generator: &generator)
        let tape = Tape(recording: false)
        let output = network(tape.input(generator.normalTensor(rows: 4, cols: 3)))
        XCTAssertEqual(tape.nodeCount, 0)
        XCTAssertFalse(output.isTracked)
        XCTAssertEqual(output.value.shape, [4, 2])
    }

    func testDetachedStopsGradient() {
        let tape = Tape()
        let x = tape.input(Tensor([[1, 2, 3]]))
        // y = x² + detach(x²): only the first term carries a gradient, 2x.
        let y = (x.squared() + x.squared().detached()).sum()
        tape.backward(from: y)
        XCTAssertEqual(tape.gradient(of: x), Tensor([[2, 4, 6]]))
    }

    func testGradientWithRespectToInputsOfAFrozenCritic() {
        // ∇_a Q(s, a) for a linear critic Q = w·[s, a]: the gradient is the action part of w.
        let tape = Tape()
        let s = tape.constant(Tensor([[0.5, -1]]))
        let a = tape.input(Tensor([[0.2, 0.3]]))
        let w = tape.constant(Tensor([[1, 2, 3, 4]]))
        let q = matmul(concatenateColumns([s, a]), w, transposeB: true)
        tape.backward(from: q)
        XCTAssertEqual(tape.gradient(of: a), Tensor([[3, 4]]))
    }

    func testFrozenLayerPassesGradientToInputsOnly() {
        var generator = RandomGenerator(seed: 2)
        let critic = MLP(sizes: [2, 4, 1], activation: .tanh, generator: &generator)
        let tape = Tape()
        tape.freeze(critic)
        let action = tape.input(Tensor([[0.3, -0.2]]))
        tape.backward(from: critic(action).sum())
        XCTAssertTrue(critic.parameters.allSatisfy { $0.gradient == Tensor(rows: $0.value.rows, cols: $0.value.cols) })
        XCTAssertNotEqual(tape.gradient(of: action), Tensor(rows: 1, cols: 2))
        // After reset the layer trains again.
        tape.reset()
        tape.backward(from: critic(tape.constant(Tensor([[0.3, -0.2]]))).sum())
        XCTAssertFalse(critic.parameters.allSatisfy { $0.gradient == Tensor(rows: $0.value.rows, cols: $0.value.cols) })
    }

    func testParameterGradientsAccumulateAcrossUses() {
        // Using the same parameter twice adds both contributions: d/dp (p·x + p·y) = x + y.
        let parameter = Parameter(Tensor([[2]]), name: "p")
        let tape = Tape()
        let p1 = tape.parameter(parameter), p2 = tape.parameter(parameter)
        let loss = p1 * tape.constant(Tensor([[3]])) + p2 * tape.constant(Tensor([[5]]))
        tape.backward(from: loss)
        XCTAssertEqual(parameter.gradient, Tensor([[8]]))
    }

    func testResetAllowsReuseWithSameResult() {
        let tape = Tape()
        var results: [Tensor] = []
        for _ in 0..<2 {
            tape.reset()
            let x = tape.input(Tensor([[1, -2]]))
            tape.backward(from: (x.tanh() * x).sum())
            results.append(tape.gradient(of: x))
        }
        XCTAssertEqual(results[0], results[1])
        XCTAssertNotEqual(results[0], Tensor([[0, 0]]))
    }
}
