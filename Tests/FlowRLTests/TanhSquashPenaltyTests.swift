import Foundation
import FlowRL
import XCTest
import _FlowRLTestSupport

/// `tanhSquashPenalty`, the tanh's log-Jacobian SWFP's block loss adds with
/// `entropy_space = "action"`: its value against `−log(1 − tanh²)` in double precision, its
/// gradient by finite differences, and both where the tanh saturates (its use in the block loss:
/// `SWFPEntropySpaceTests`).
final class TanhSquashPenaltyTests: XCTestCase {
    /// `Σ_j 2 log cosh x_j` per row in double precision, from `cosh` (finite for |x| < 710).
    func reference(_ x: Tensor) -> [Double] {
        (0..<x.rows).map { row in (0..<x.cols).reduce(0) { $0 + 2 * Foundation.log(Foundation.cosh(Double(x[row, $1]))) } }
    }

    func penalty(_ x: Tensor) -> Tensor { tanhSquashPenalty(Tape(recording: false).constant(x)).value }

    func testValuesAreMinusTheLogOfOneMinusTanhSquared() {
        var generator = RandomGenerator(seed: 3)
        var x = generator.normalTensor(rows: 6, cols: 3)
        x.scale(by: 2)
        let value = penalty(x)
        XCTAssertEqual(value.rows, 6)
        XCTAssertEqual(value.cols, 1)
        for (row, expected) in reference(x).enumerated() {
            // −log(1 − tanh²) directly, too (where 1 − tanh² is still far from rounding).
            let direct = (0..<3).reduce(0.0) { $0 - Foundation.log(1 - pow(Foundation.tanh(Double(x[row, $1])), 2)) }
            XCTAssertEqual(direct, expected, accuracy: 1e-9 * max(1, expected))
            XCTAssertEqual(Double(value.scalars[row]), expected, accuracy: 1e-5 * max(1, expected), "row \(row)")
        }
        // Zero at the origin, where the tanh is the identity to first order.
        XCTAssertEqual(penalty(Tensor(rows: 1, cols: 2)).scalar, 0, accuracy: 1e-6)
        // The block loss's term is the flow's density's correction with its sign turned: within
        // the 10⁻⁶ of `tanhSquashCorrection` (at most 10⁻⁶ / (1 − a²) ≤ 2·10⁻⁵ per component here).
        let moderate = generator.uniformTensor(rows: 5, cols: 2, lower: -2, upper: 2)
        let tape = Tape(recording: false)
        let correction = tanhSquashCorrection(tape.constant(moderate).tanh()).value
        for row in 0..<5 { XCTAssertEqual(penalty(moderate).scalars[row], -correction.scalars[row], accuracy: 5e-5) }
    }

    func testGradientMatchesFiniteDifferences() {
        var generator = RandomGenerator(seed: 5)
        var moderate = generator.normalTensor(rows: 4, cols: 3)
        moderate.scale(by: 2)
        let result = GradientCheck.check(inputs: [moderate]) { _, v in tanhSquashPenalty(v[0]) }
        XCTAssertTrue(result.passed, "\(result)")
        // Out where the tanh saturates: the value grows like 2|x| and the difference quotient is
        // ±2 (its rounding error, about 10⁻⁷ · 60 / 10⁻², stays within the tolerance).
        let saturated = Tensor([[-30, -12, -7.5], [7.5, 12, 30]])
        let far = GradientCheck.check(inputs: [saturated]) { _, v in tanhSquashPenalty(v[0]) }
        XCTAssertTrue(far.passed, "\(far)")
    }

    func testSaturatedValuesStayFiniteAndKeepTheGradientTwoTanh() {
        // Far beyond where tanh rounds to ±1 (|x| ≈ 9) and where cosh overflows in Float (|x| ≈ 89).
        let x = Tensor([[-1e4, -100, -9, 0.5], [9, 20, 100, 1e4]])
        let tape = Tape()
        let input = tape.input(x)
        let value = tanhSquashPenalty(input)
        tape.backward(from: value.sum())
        XCTAssertTrue(value.value.isFinite)
        for row in 0..<2 {
            // 2 log cosh x = 2|x| − 2 log 2 + 2 log(1 + e^{−2|x|}); the last term is 0 in Float beyond |x| ≈ 9.
            let expected = (0..<4).reduce(0.0) { total, col in
                let magnitude = abs(Double(x[row, col]))
                return total + 2 * magnitude - 2 * Foundation.log(2) + 2 * Foundation.log1p(Foundation.exp(-2 * magnitude))
            }
            XCTAssertEqual(Double(value.value.scalars[row]), expected, accuracy: 1e-6 * expected, "row \(row)")
        }
        let gradient = tape.gradient(of: input)
        for index in 0..<x.count {
            XCTAssertEqual(Double(gradient.scalars[index]), 2 * Foundation.tanh(Double(x.scalars[index])), accuracy: 1e-6,
                           "x = \(x.scalars[index])")
        }
    }
}
