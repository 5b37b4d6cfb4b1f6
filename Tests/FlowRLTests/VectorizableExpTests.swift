import FlowRL
import XCTest

final class VectorizableExpTests: XCTestCase {
    func testRelativeErrorAgainstLibm() {
        var worst: Double = 0
        var x: Float = -87.3
        while x <= 88.0 {
            let exact = Foundation.exp(Double(x))
            worst = max(worst, abs(Double(vectorizableExp(x)) - exact) / exact)
            x += 0.0137
        }
        XCTAssertLessThan(worst, 3e-7)
    }

    func testClampsAndPropagatesNaN() {
        XCTAssertTrue(vectorizableExp(-1000) > 0 && vectorizableExp(-1000) < 1e-37)
        XCTAssertTrue(vectorizableExp(1000).isFinite && vectorizableExp(1000) > 1e38)
        XCTAssertTrue(vectorizableExp(.nan).isNaN)
        XCTAssertEqual(vectorizableExp(0), 1)
    }
}
