import FlowRL
import XCTest
import _FlowRLTestSupport

/// A finite-difference gradient check of every differentiable op (tolerances: see `GradientCheck`).
final class OpGradientTests: XCTestCase {
    var generator = RandomGenerator(seed: 42)

    func normal(_ rows: Int, _ cols: Int) -> Tensor { generator.normalTensor(rows: rows, cols: cols) }
    func uniform(_ rows: Int, _ cols: Int, _ lower: Float, _ upper: Float) -> Tensor {
        generator.uniformTensor(rows: rows, cols: cols, lower: lower, upper: upper)
    }
    /// Normal values kept at least `gap` away from zero, for ops with a kink at 0.
    func awayFromZero(_ rows: Int, _ cols: Int, gap: Float = 0.1) -> Tensor {
        var t = normal(rows, cols)
        for i in 0..<t.count where abs(t.scalars[i]) < gap { t.scalars[i] = t.scalars[i] < 0 ? -gap - 0.05 : gap + 0.05 }
        return t
    }

    func assertGradient(_ name: String, _ inputs: [Tensor], parameters: [Parameter] = [],
                        atol: Double = 2e-3, rtol: Double = 1e-2,
                        file: StaticString = #filePath, line: UInt = #line,
                        _ function: (Tape, [Variable]) -> Variable) {
        let result = GradientCheck.check(inputs: inputs, parameters: parameters, atol: atol, rtol: rtol, function)
        XCTAssertGreaterThan(result.entriesChecked, 0, name, file: file, line: line)
        XCTAssertTrue(result.passed, "\(name): \(result)", file: file, line: line)
    }

    /// SiLU's derivative as one op gives the floats of its five ops (`σ`, products, `1 − s`, sum)
    /// in value and in the gradient reaching x, with x also feeding SiLU itself (as in
    /// `MLP.exactDivergence`, where the slope's gradient and the activation's meet).
    func testSiLUDerivativeOpMatchesItsFiveOpsBitForBit() {
        var generator = RandomGenerator(seed: 91)
        let input = generator.normalTensor(rows: 37, cols: 29).map(Elementwise.Square.self)   // some large, for σ's tails
        let signs = generator.normalTensor(rows: 37, cols: 29)
        let (w1, w2) = (generator.normalTensor(rows: 37, cols: 29), generator.normalTensor(rows: 37, cols: 29))
        func run(_ slope: (Variable) -> Variable) -> (Tensor, Tensor) {
            let tape = Tape()
            let x = tape.input(Tensor.zip(input, signs, Elementwise.Multiply.self))
            let (h, s) = (x.silu(), slope(x))
            let loss = (h * tape.constant(w1)).sum() + (s * tape.constant(w2)).sum()
            tape.backward(from: loss)
            return (s.value, tape.gradient(of: x))
        }
        let fused = run { $0.siluDerivative() }
        let composite = run { x in
            let s = x.sigmoid()
            return s + x * s * (1 - s)
        }
        XCTAssertEqual(fused.0, composite.0)
        XCTAssertEqual(fused.1, composite.1)
    }

    func testBroadcastingArithmetic() {
        let shapes: [((Int, Int), (Int, Int))] = [((3, 4), (3, 4)), ((3, 4), (1, 4)), ((3, 4), (3, 1)),
                                                  ((3, 4), (1, 1)), ((1, 4), (3, 4)), ((3, 1), (1, 4))]
        for ((ar, ac), (br, bc)) in shapes {
            let a = normal(ar, ac), b = normal(br, bc)
            let positive = uniform(br, bc, 0.5, 2)
            assertGradient("add \(ar)×\(ac) \(br)×\(bc)", [a, b]) { _, v in v[0] + v[1] }
            assertGradient("sub \(ar)×\(ac) \(br)×\(bc)", [a, b]) { _, v in v[0] - v[1] }
            assertGradient("mul \(ar)×\(ac) \(br)×\(bc)", [a, b]) { _, v in v[0] * v[1] }
            assertGradient("div \(ar)×\(ac) \(br)×\(bc)", [a, positive]) { _, v in v[0] / v[1] }
            assertGradient("min \(ar)×\(ac) \(br)×\(bc)", [a, b]) { _, v in minimum(v[0], v[1]) }
        }
    }

    func testScalarForms() {
        let x = normal(3, 5), positive = uniform(3, 5, 0.5, 2)
        assertGradient("x + c", [x]) { _, v in v[0] + 1.5 }
        assertGradient("c + x", [x]) { _, v in 1.5 + v[0] }
        assertGradient("x - c", [x]) { _, v in v[0] - 0.5 }
        assertGradient("c - x", [x]) { _, v in 0.5 - v[0] }
        assertGradient("x * c", [x]) { _, v in v[0] * -2 }
        assertGradient("c * x", [x]) { _, v in 3 * v[0] }
        assertGradient("x / c", [x]) { _, v in v[0] / 4 }
        assertGradient("c / x", [positive]) { _, v in 2 / v[0] }
        assertGradient("-x", [x]) { _, v in -v[0] }
    }

    func testMatrixProducts() {
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                let a = transposeA ? normal(4, 3) : normal(3, 4)
                let b = transposeB ? normal(5, 4) : normal(4, 5)
                assertGradient("matmul tA=\(transposeA) tB=\(transposeB)", [a, b]) { _, v in
                    matmul(v[0], transposeA: transposeA, v[1], transposeB: transposeB)
                }
            }
        }
        // Parameter leaves take their product gradients straight into `Parameter.gradient`.
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                let a = Parameter(transposeA ? normal(4, 3) : normal(3, 4), name: "a")
                let b = Parameter(transposeB ? normal(5, 4) : normal(4, 5), name: "b")
                assertGradient("matmul of parameters tA=\(transposeA) tB=\(transposeB)", [], parameters: [a, b]) { tape, _ in
                    let (pa, pb) = (tape.parameter(a), tape.parameter(b))
                    return matmul(pa, transposeA: transposeA, pb, transposeB: transposeB) + matmul(pa, transposeA: transposeA, pb, transposeB: transposeB)
                }
            }
        }
        assertGradient("affine with bias", [normal(3, 4), normal(5, 4), normal(1, 5)]) { _, v in
            affine(v[0], weight: v[1], bias: v[2])
        }
        assertGradient("affine without bias", [normal(3, 4), normal(5, 4)]) { _, v in affine(v[0], weight: v[1], bias: nil) }
        for activation in Activation.allCases where activation != .relu {  // ReLU's kink: compared exactly below
            assertGradient("affine + \(activation)", [normal(3, 4), normal(5, 4), normal(1, 5)]) { _, v in
                affine(v[0], weight: v[1], bias: v[2], activation: activation)
            }
        }
    }

    /// The fused `affine(…, activation:)` (in-place activation and in-place backward scaling)
    /// against the two ops it replaces, for every activation.
    func testFusedAffineActivationMatchesTheTwoOps() {
        let (x, w, b, weights) = (normal(6, 4), normal(5, 4), normal(1, 5), normal(6, 5))
        for activation in Activation.allCases {
            func run(fused: Bool) -> (value: Tensor, gradients: [Tensor]) {
                let tape = Tape()
                let inputs = [tape.input(x), tape.input(w), tape.input(b)]
                let y = fused ? affine(inputs[0], weight: inputs[1], bias: inputs[2], activation: activation)
                              : activation(affine(inputs[0], weight: inputs[1], bias: inputs[2]))
                tape.backward(from: (y * tape.constant(weights)).sum())
                return (y.value, inputs.map { tape.gradient(of: $0) })
            }
            let (fused, separate) = (run(fused: true), run(fused: false))
            XCTAssertEqual(fused.value, separate.value, "\(activation)")
            for (a, b) in zip(fused.gradients, separate.gradients) {
                XCTAssertEqual(a.shape, b.shape)
                for index in 0..<a.count {
                    XCTAssertEqual(a.scalars[index], b.scalars[index], accuracy: 1e-6 * max(1, abs(b.scalars[index])), "\(activation)")
                }
            }
            let noGrad = Tape(recording: false)
            XCTAssertEqual(affine(noGrad.constant(x), weight: noGrad.constant(w), bias: noGrad.constant(b), activation: activation).value,
                           separate.value, "\(activation) without recording")
        }
    }

    func testBroadcastRepeatsRowsColumnsAndScalars() {
        let row = Tensor([[1, 2, 3]]), column = Tensor([[4], [5]]), scalar = Tensor(scalar: 7)
        XCTAssertEqual(row.broadcast(toRows: 2, cols: 3), Tensor([[1, 2, 3], [1, 2, 3]]))
        XCTAssertEqual(column.broadcast(toRows: 2, cols: 3), Tensor([[4, 4, 4], [5, 5, 5]]))
        XCTAssertEqual(scalar.broadcast(toRows: 2, cols: 2), Tensor([[7, 7], [7, 7]]))
        XCTAssertEqual(row.broadcast(toRows: 1, cols: 3), row)
    }

    func testMatrixProductsMatchNaiveReferenceIncludingVectorShapes() {
        // (m, k, n) including the single-row and single-column cases that go through sgemv, and
        // the skinny kernel's: k or m ≤ Tensor.skinnyLimit, n across its 32-column blocks and tail.
        let skinny = [(40, 1, 70), (40, 3, 33), (3, 50, 70), (4, 37, 64), (2, 5, 31), (40, 5, 70)]
        for (m, k, n) in [(1, 5, 4), (4, 5, 1), (1, 5, 1), (3, 1, 4), (3, 5, 4)] + skinny {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    let a = transposeA ? normal(k, m) : normal(m, k)
                    let b = transposeB ? normal(n, k) : normal(k, n)
                    for beta: Float in [0, 2] {
                        var c = normal(m, n)
                        let original = c
                        Tensor.gemm(a, transposeA: transposeA, b, transposeB: transposeB, alpha: 0.5, beta: beta, into: &c)
                        for i in 0..<m {
                            for j in 0..<n {
                                var dot: Float = 0
                                for p in 0..<k { dot += (transposeA ? a[p, i] : a[i, p]) * (transposeB ? b[j, p] : b[p, j]) }
                                XCTAssertEqual(c[i, j], 0.5 * dot + beta * original[i, j], accuracy: 1e-4,
                                               "m=\(m) k=\(k) n=\(n) tA=\(transposeA) tB=\(transposeB) beta=\(beta)")
                            }
                        }
                    }
                    if m * n * k > 100 { continue }  // the gradient check's cost grows with every entry
                    assertGradient("matmul \(m)×\(k)×\(n) tA=\(transposeA) tB=\(transposeB)", [a, b]) { _, v in
                        matmul(v[0], transposeA: transposeA, v[1], transposeB: transposeB)
                    }
                }
            }
        }
    }

    func testUnaryFunctions() {
        let x = normal(4, 5), positive = uniform(4, 5, 0.3, 3), kinked = awayFromZero(4, 5)
        assertGradient("exp", [x]) { _, v in v[0].exp() }
        assertGradient("log", [positive]) { _, v in v[0].log() }
        assertGradient("square", [x]) { _, v in v[0].squared() }
        assertGradient("sqrt", [positive]) { _, v in v[0].squareRoot() }
        assertGradient("tanh", [x]) { _, v in v[0].tanh() }
        assertGradient("sigmoid", [x]) { _, v in v[0].sigmoid() }
        assertGradient("relu", [kinked]) { _, v in v[0].relu() }
        assertGradient("silu", [x]) { _, v in v[0].silu() }
        assertGradient("gelu", [x]) { _, v in v[0].gelu() }
        assertGradient("softplus", [x]) { _, v in v[0].softplus() }
        assertGradient("logSigmoid", [x]) { _, v in v[0].logSigmoid() }
        assertGradient("erf", [x]) { _, v in v[0].erf() }
        assertGradient("sin", [x]) { _, v in v[0].sin() }
        assertGradient("cos", [x]) { _, v in v[0].cos() }
        // Keep entries away from the clamp bounds (the kinks) by construction.
        var clampInput = awayFromZero(4, 5)
        for i in 0..<clampInput.count where abs(abs(clampInput.scalars[i]) - 1) < 0.1 { clampInput.scalars[i] *= 1.3 }
        assertGradient("clamp", [clampInput]) { _, v in v[0].clamped(lower: -1, upper: 1) }
    }

    func testReductions() {
        let x = normal(4, 6)
        assertGradient("sum", [x]) { _, v in v[0].sum() }
        assertGradient("mean", [x]) { _, v in v[0].mean() }
        assertGradient("sumOfEachRow", [x]) { _, v in v[0].sumOfEachRow() }
        assertGradient("meanOfEachRow", [x]) { _, v in v[0].meanOfEachRow() }
        assertGradient("sumOfEachColumn", [x]) { _, v in v[0].sumOfEachColumn() }
        assertGradient("meanOfEachColumn", [x]) { _, v in v[0].meanOfEachColumn() }
    }

    func testShapeOps() {
        let x = normal(4, 6), y = normal(4, 2), z = normal(3, 6)
        assertGradient("columns", [x]) { _, v in v[0].columns(1..<4) }
        assertGradient("rows", [x]) { _, v in v[0].rows(1..<3) }
        assertGradient("concatenateColumns", [x, y]) { _, v in concatenateColumns([v[0], v[1], v[0]]) }
        assertGradient("concatenateRows", [x, z]) { _, v in concatenateRows([v[0], v[1]]) }
        assertGradient("tiledRows", [x]) { _, v in v[0].tiledRows(3) }
        assertGradient("sumOfRowBlocks", [normal(6, 3)]) { _, v in v[0].sumOfRowBlocks(blockRows: 2) }
        assertGradient("standardizedRows", [normal(3, 7)]) { _, v in v[0].standardizedRows() }
    }

    func testMLPExactDivergenceShortcut() {
        // `MLP.exactDivergence` at each depth its code distinguishes: one hidden layer and three
        // (stacked tangents between the shortcuts) and two (the bilinear form), in the input and
        // every parameter, with the action block inside the input and an extra unpaired output.
        for hidden in [[6], [6, 5], [5, 6, 4]] {
            for activation in [Activation.silu, .tanh] {
                let network = MLP(sizes: [7] + hidden + [4], activation: activation, generator: &generator)
                assertGradient("MLP.exactDivergence \(hidden) \(activation)", [normal(3, 7)], parameters: network.parameters) { _, v in
                    network.exactDivergence(v[0], columns: 2..<5)!.divergence
                }
            }
        }
    }

    func testLogAbsDeterminant() {
        // Stacked Jacobian columns of 3 samples with d = 2 and d = 4.
        for d in [2, 4] {
            assertGradient("log|det(I + 0.3 J)| d=\(d)", [normal(3 * d, d)]) { _, v in
                logAbsDeterminantOfIdentityPlus(v[0], scale: 0.3)
            }
        }
    }

    func testLogAbsDeterminantValues() {
        // A 2×2 case by hand: J_b columns are rows b and batch + b.
        let tape = Tape(recording: false)
        let stacked = Tensor([[1, 2], [0.5, -1], [3, 4], [2, 0]])  // batch 2: J_0 = [[1,3],[2,4]], J_1 = [[0.5,2],[-1,0]]
        let result = logAbsDeterminantOfIdentityPlus(tape.constant(stacked), scale: 0.5).value
        // M_0 = I + 0.5 J_0 = [[1.5, 1.5], [1, 3]] → det 3.0; M_1 = [[1.25, 1], [-0.5, 1]] → det 1.75.
        XCTAssertEqual(result[0, 0], Float(Foundation.log(3.0)), accuracy: 1e-6)
        XCTAssertEqual(result[1, 0], Float(Foundation.log(1.75)), accuracy: 1e-6)
    }

    func testElementwiseValues() {
        let tape = Tape(recording: false)
        let x = tape.constant(Tensor([[-100, -1, 0, 1, 100]]))
        XCTAssertEqual(x.gelu().value.scalars[3], 0.8413447, accuracy: 1e-6)      // 1 · Φ(1)
        XCTAssertEqual(x.silu().value.scalars[3], 0.7310586, accuracy: 1e-6)      // 1 · σ(1)
        XCTAssertEqual(x.softplus().value.scalars[4], 100, accuracy: 1e-4)         // no overflow
        XCTAssertEqual(x.softplus().value.scalars[0], 0, accuracy: 1e-30)
        XCTAssertEqual(x.logSigmoid().value.scalars[0], -100, accuracy: 1e-4)      // no −inf
        XCTAssertEqual(x.sigmoid().value.scalars[0], 0, accuracy: 1e-30)
        XCTAssertTrue(x.sigmoid().value.isFinite && x.logSigmoid().value.isFinite && x.softplus().value.isFinite)
    }
}
