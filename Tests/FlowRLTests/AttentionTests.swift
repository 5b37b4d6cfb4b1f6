import FlowRL
import XCTest
import _FlowRLTestSupport

/// Multi-head attention: values against a direct softmax computation, and gradient checks.
final class AttentionTests: XCTestCase {
    func testValuesMatchADirectComputation() {
        var generator = RandomGenerator(seed: 1)
        let (batch, tq, tk, width, heads) = (2, 3, 4, 4, 2)
        let q = generator.normalTensor(rows: batch * tq, cols: width)
        let k = generator.normalTensor(rows: batch * tk, cols: width)
        let v = generator.normalTensor(rows: batch * tk, cols: width)
        let tape = Tape(recording: false)
        let out = multiHeadAttention(queries: tape.constant(q), keys: tape.constant(k), values: tape.constant(v), batch: batch, heads: heads).value
        let dh = width / heads
        for b in 0..<batch {
            for h in 0..<heads {
                for i in 0..<tq {
                    var scores = (0..<tk).map { j -> Double in
                        (0..<dh).reduce(0.0) { $0 + Double(q[b * tq + i, h * dh + $1]) * Double(k[b * tk + j, h * dh + $1]) } / Double(dh).squareRoot()
                    }
                    let largest = scores.max()!
                    scores = scores.map { Foundation.exp($0 - largest) }
                    let total = scores.reduce(0, +)
                    for c in 0..<dh {
                        let expected = (0..<tk).reduce(0.0) { $0 + scores[$1] / total * Double(v[b * tk + $1, h * dh + c]) }
                        XCTAssertEqual(Double(out[b * tq + i, h * dh + c]), expected, accuracy: 1e-5)
                    }
                }
            }
        }
    }

    func testAttentionOpGradients() {
        var generator = RandomGenerator(seed: 2)
        let inputs = [generator.normalTensor(rows: 6, cols: 4), generator.normalTensor(rows: 4, cols: 4), generator.normalTensor(rows: 4, cols: 4)]
        let result = GradientCheck.check(inputs: inputs) { _, v in
            multiHeadAttention(queries: v[0], keys: v[1], values: v[2], batch: 2, heads: 2)
        }
        XCTAssertTrue(result.passed, "\(result)")
    }

    func testSelfAndCrossAttentionLayerGradients() {
        var generator = RandomGenerator(seed: 3)
        let attention = MultiHeadAttention(width: 6, heads: 3, generator: &generator)
        let x = generator.normalTensor(rows: 4, cols: 6), context = generator.normalTensor(rows: 2, cols: 6)
        let crossResult = GradientCheck.check(inputs: [x, context], parameters: attention.parameters) { _, v in
            attention(v[0], context: v[1], batch: 2)
        }
        XCTAssertTrue(crossResult.passed, "cross: \(crossResult)")
        let selfResult = GradientCheck.check(inputs: [x], parameters: attention.parameters) { _, v in
            attention(v[0], context: v[0], batch: 2)
        }
        XCTAssertTrue(selfResult.passed, "self: \(selfResult)")
    }
}
