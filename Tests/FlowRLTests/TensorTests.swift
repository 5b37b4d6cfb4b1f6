import FlowRL
import XCTest

/// Storage-level behaviour of `Tensor` that the update's roll-back relies on.
final class TensorTests: XCTestCase {
    /// Row sums, eight rows at a time, are the floats of one loop per row adding in column order
    /// (with and without a product), for row counts on and off a multiple of eight.
    func testTheSameBitsHoldsForNaNsWhereEqualityDoesNot() {
        let a = Tensor(rows: 1, cols: 3, scalars: [1, .nan, -.infinity])
        let copy = Tensor(rows: 1, cols: 3, scalars: a.scalars.map { $0 })  // its own storage: == compares the elements
        XCTAssertNotEqual(a, copy, "== follows IEEE: NaN is not equal to itself")
        XCTAssertTrue(a.hasTheSameBits(as: copy))
        XCTAssertTrue(a.hasTheSameBits(as: a))
        XCTAssertFalse(a.hasTheSameBits(as: Tensor(rows: 1, cols: 3, scalars: [1, .nan, .infinity])))
        XCTAssertFalse(a.hasTheSameBits(as: Tensor(rows: 3, cols: 1, scalars: [1, .nan, -.infinity])), "the shape counts")
        XCTAssertFalse(Tensor(scalar: 0).hasTheSameBits(as: Tensor(scalar: -0.0)), "signed zeros differ in bits")
    }

    func testRowSumsAreThoseOfAPlainLoopPerRow() {
        var generator = RandomGenerator(seed: 81)
        for (rows, cols) in [(256, 256), (13, 7), (5, 3), (9, 1)] {
            let a = generator.normalTensor(rows: rows, cols: cols), b = generator.normalTensor(rows: rows, cols: cols)
            var plain = Tensor(rows: rows, cols: 1), plainProduct = Tensor(rows: rows, cols: 1)
            for row in 0..<rows {
                var (total, product): (Float, Float) = (0, 0)
                for col in 0..<cols {
                    total += a[row, col]
                    product += a[row, col] * b[row, col]
                }
                (plain[row, 0], plainProduct[row, 0]) = (total, product)
            }
            XCTAssertEqual(a.sumOfEachRow(), plain, "\(rows)×\(cols)")
            XCTAssertEqual(Tensor.sumOfEachRow(ofProduct: a, b), plainProduct, "\(rows)×\(cols) product")
        }
    }

    func testIsFiniteFindsNaNAndInfinityAnywhere() {
        for count in [0, 1, 15, 16, 17, 40] {
            let finite = Tensor(rows: 1, cols: count, scalars: (0..<count).map { Float($0) * 5e36 - 1e38 })
            XCTAssertTrue(finite.isFinite, "\(count) finite values")
            for position in 0..<count {
                for bad in [Float.nan, .infinity, -.infinity] {
                    var tensor = finite
                    tensor.scalars[position] = bad
                    XCTAssertFalse(tensor.isFinite, "\(bad) at \(position) of \(count)")
                }
            }
        }
    }

    func testRewriteLeavesACapturedCopyUnchanged() {
        var tensor = Tensor([[1, 2], [3, 4]])
        let captured = tensor
        tensor.rewrite { old, new, count in
            for index in 0..<count { new[index] = 10 * old[index] }
        }
        XCTAssertEqual(tensor, Tensor([[10, 20], [30, 40]]))
        XCTAssertEqual(captured, Tensor([[1, 2], [3, 4]]))
    }

    func testAdamAndPolyakStepsLeaveACapturedStateUnchanged() {
        var generator = RandomGenerator(seed: 3)
        let (source, target) = (MLP(sizes: [2, 4, 1], activation: .relu, generator: &generator),
                                MLP(sizes: [2, 4, 1], activation: .relu, generator: &generator))
        let optimizer = Adam(parameters: source.parameters, learningRate: 0.1)
        for parameter in source.parameters { parameter.gradient = Tensor(rows: parameter.value.rows, cols: parameter.value.cols, repeating: 1) }
        optimizer.update()
        func state() -> [Tensor] {
            source.parameters.map(\.value) + target.parameters.map(\.value) + optimizer.firstMoments + optimizer.secondMoments
        }
        let captured = state()   // shares storage with the live tensors, as AgentState does
        let independent = captured.map { Tensor(rows: $0.rows, cols: $0.cols, scalars: $0.scalars.map { $0 }) }
        optimizer.update()
        target.polyakUpdate(towards: source, rate: 0.5)
        XCTAssertEqual(captured, independent, "the captured state must not see the later steps")
        for (live, before) in zip(state(), independent) {
            XCTAssertNotEqual(live, before, "every tensor moved in the second step")
        }
    }
}
