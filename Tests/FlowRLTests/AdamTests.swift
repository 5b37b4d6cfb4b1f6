import FlowRL
import XCTest
import _FlowRLTestSupport

/// Adam and AdamW against reference trajectories of PyTorch's update rule
/// (`AdamReferenceData.swift`, made by `scripts/reference/adam_reference.py`).
final class AdamTests: XCTestCase {
    func trajectory(weightDecay: Float) -> [[Float]] {
        let parameter = Parameter(Tensor(rows: 1, cols: adamInitial.count, scalars: adamInitial), name: "p")
        let optimizer = Adam(parameters: [parameter], learningRate: 0.05, beta1: 0.9, beta2: 0.999,
                             epsilon: 1e-8, weightDecay: weightDecay)
        var result: [[Float]] = []
        for gradient in adamGradients {
            parameter.gradient = Tensor(rows: 1, cols: gradient.count, scalars: gradient)
            optimizer.update()
            result.append(parameter.value.scalars)
        }
        return result
    }

    /// Every parameter value, and every per-step update, within 1e-5 relative of the reference.
    func assertMatches(_ actual: [[Float]], _ expected: [[Double]], _ name: String) {
        XCTAssertEqual(actual.count, expected.count)
        var previousActual = adamInitial.map(Double.init), previousExpected = adamInitial.map(Double.init)
        for (step, (a, e)) in zip(actual, expected).enumerated() {
            for i in 0..<a.count {
                let value = Double(a[i])
                XCTAssertEqual(value, e[i], accuracy: 1e-5 * abs(e[i]) + 1e-7, "\(name) step \(step + 1) value \(i)")
                let update = value - previousActual[i], expectedUpdate = e[i] - previousExpected[i]
                XCTAssertEqual(update, expectedUpdate, accuracy: 1e-5 * abs(expectedUpdate) + 2e-7,
                               "\(name) step \(step + 1) update \(i)")
            }
            previousActual = a.map(Double.init)
            previousExpected = e
        }
    }

    func testAdamMatchesPyTorchReference() {
        assertMatches(trajectory(weightDecay: 0), adamExpected, "Adam")
    }

    func testAdamWMatchesPyTorchReference() {
        assertMatches(trajectory(weightDecay: 0.1), adamWExpected, "AdamW")
    }

    func testGradientNormClipping() {
        let a = Parameter(Tensor([[3, 0]]), name: "a"), b = Parameter(Tensor([[0, 4]]), name: "b")
        a.gradient = Tensor([[3, 0]])
        b.gradient = Tensor([[0, 4]])
        let norm = clipGradientNorm([a, b], maxNorm: 1)
        XCTAssertEqual(norm, 5, accuracy: 1e-6)
        XCTAssertEqual(a.gradient[0, 0], 0.6, accuracy: 1e-5)
        XCTAssertEqual(b.gradient[0, 1], 0.8, accuracy: 1e-5)
        // Below the limit nothing changes.
        XCTAssertEqual(clipGradientNorm([a, b], maxNorm: 10), 1, accuracy: 1e-5)
        XCTAssertEqual(a.gradient[0, 0], 0.6, accuracy: 1e-5)
    }

    func testRestoreRejectsMismatchedMoments() {
        let optimizer = Adam(parameters: [Parameter(Tensor(rows: 2, cols: 2), name: "p")])
        XCTAssertThrowsError(try optimizer.restore(step: 1, firstMoments: [Tensor(rows: 1, cols: 2)], secondMoments: [Tensor(rows: 2, cols: 2)]))
        XCTAssertNoThrow(try optimizer.restore(step: 3, firstMoments: [Tensor(rows: 2, cols: 2)], secondMoments: [Tensor(rows: 2, cols: 2)]))
        XCTAssertEqual(optimizer.step, 3)
    }
}
