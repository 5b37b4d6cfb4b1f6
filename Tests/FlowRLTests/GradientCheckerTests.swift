import FlowRL
import XCTest
import _FlowRLTestSupport

/// The checker must be able to fail: an op with a deliberately wrong backward rule is caught.
final class GradientCheckerTests: XCTestCase {
    func testWrongBackwardRuleIsDetected() {
        let result = GradientCheck.check(inputs: [Tensor([[0.5, -1, 2]])]) { tape, v in
            let x = v[0]
            // Forward x², backward claims 3x instead of 2x.
            let y = x.value.scalars.map { $0 * $0 }
            return tape.record(Tensor(rows: 1, cols: 3, scalars: y), tracked: x.isTracked) { g, tape in
                tape.accumulate(Tensor(rows: 1, cols: 3, scalars: zip(g.scalars, x.value.scalars).map { 3 * $0 * $1 }), into: x.node)
            }
        }
        XCTAssertFalse(result.passed, "a wrong gradient passed the check: \(result)")
        XCTAssertGreaterThan(result.worstRatio, 10)
    }

    func testMissingGradientIsDetected() {
        // A detached path makes the tape's gradient zero while the function still depends on x.
        let result = GradientCheck.check(inputs: [Tensor([[0.5, -1]])]) { _, v in v[0].detached().exp() }
        XCTAssertFalse(result.passed)
    }
}
