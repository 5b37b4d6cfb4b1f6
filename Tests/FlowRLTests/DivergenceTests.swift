import FlowRL
import XCTest
import _FlowRLTestSupport

/// The divergence of a velocity-field MLP on `[s, x, emb]` with respect to the action block `x`,
/// checked against finite-difference Jacobians, and differentiated with respect to the parameters.
final class DivergenceTests: XCTestCase {
    let stateSize = 3, actionSize = 3, embeddingSize = 2, batch = 4
    var actionColumns: Range<Int> { stateSize..<(stateSize + actionSize) }

    func makeField(_ activation: Activation, seed: UInt64) -> (MLP, Tensor) {
        var generator = RandomGenerator(seed: seed)
        let width = stateSize + actionSize + embeddingSize
        let field = MLP(sizes: [width, 16, 16, actionSize], activation: activation, generator: &generator)
        return (field, generator.normalTensor(rows: batch, cols: width))
    }

    /// Jacobian `J[b][i][j] = ∂v_i/∂x_j` by central differences, accumulated in Double.
    /// Step 1e-2 on inputs of order one: truncation ≈ 1e-5, Float32 rounding ≈ 1e-5.
    func finiteDifferenceJacobian(_ field: MLP, _ input: Tensor, step: Float = 1e-2) -> [[[Double]]] {
        let tape = Tape(recording: false)
        var jacobian = [[[Double]]](repeating: [[Double]](repeating: [Double](repeating: 0, count: actionSize), count: actionSize), count: batch)
        for j in 0..<actionSize {
            var plus = input, minus = input
            for b in 0..<batch {
                plus[b, actionColumns.lowerBound + j] += step
                minus[b, actionColumns.lowerBound + j] -= step
            }
            let (vp, vm) = (field(tape.constant(plus)).value, field(tape.constant(minus)).value)
            for b in 0..<batch {
                for i in 0..<actionSize { jacobian[b][i][j] = (Double(vp[b, i]) - Double(vm[b, i])) / (2 * Double(step)) }
            }
        }
        return jacobian
    }

    func testExactDivergenceMatchesFiniteDifferenceTrace() {
        for activation in [Activation.silu, .tanh, .gelu, .softplus, .sigmoid] {
            let (field, input) = makeField(activation, seed: 11)
            let tape = Tape(recording: false)
            let (output, divergence) = Divergence.exact(of: field, at: tape.constant(input), columns: actionColumns)
            XCTAssertEqual(output.value, field(tape.constant(input)).value, "\(activation): output differs from a plain forward pass")
            let jacobian = finiteDifferenceJacobian(field, input)
            for b in 0..<batch {
                let trace = (0..<actionSize).reduce(0.0) { $0 + jacobian[b][$1][$1] }
                // Tolerance 1e-3: the finite-difference error bound above with a margin of ten.
                XCTAssertEqual(Double(divergence.value[b, 0]), trace, accuracy: 1e-3, "\(activation) sample \(b)")
            }
        }
    }

    func testJacobianColumnsMatchFiniteDifferences() {
        let (field, input) = makeField(.silu, seed: 12)
        let tape = Tape(recording: false)
        let (_, columns) = Divergence.jacobianColumns(of: field, at: tape.constant(input), columns: actionColumns)
        XCTAssertEqual(columns.value.shape, [actionSize * batch, actionSize])
        let jacobian = finiteDifferenceJacobian(field, input)
        for b in 0..<batch {
            for i in 0..<actionSize {
                for j in 0..<actionSize {
                    XCTAssertEqual(Double(columns.value[j * batch + b, i]), jacobian[b][i][j], accuracy: 1e-3)
                }
            }
        }
    }

    func testDivergenceIsDifferentiableWithRespectToParameters() {
        for activation in [Activation.silu, .tanh, .gelu] {
            let (field, input) = makeField(activation, seed: 13)
            let result = GradientCheck.check(inputs: [input], parameters: field.parameters) { _, v in
                Divergence.exact(of: field, at: v[0], columns: self.actionColumns).divergence
            }
            XCTAssertTrue(result.passed, "\(activation): \(result)")
        }
    }

    func testLogDeterminantMatchesDirectDeterminantAndIsDifferentiable() {
        let (field, input) = makeField(.silu, seed: 14)
        let dt: Float = 0.2
        let tape = Tape(recording: false)
        let (_, logDet) = Divergence.logDeterminant(of: field, at: tape.constant(input), columns: actionColumns, scale: dt)
        let jacobian = finiteDifferenceJacobian(field, input)
        for b in 0..<batch {
            // det of the 3×3 matrix I + dt·J by the rule of Sarrus, in Double.
            var m = jacobian[b].map { $0.map { Double(dt) * $0 } }
            for i in 0..<3 { m[i][i] += 1 }
            let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
                - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
            XCTAssertEqual(Double(logDet.value[b, 0]), Foundation.log(abs(det)), accuracy: 1e-3)
        }
        let result = GradientCheck.check(inputs: [input], parameters: field.parameters) { _, v in
            Divergence.logDeterminant(of: field, at: v[0], columns: self.actionColumns, scale: dt).logDeterminant
        }
        XCTAssertTrue(result.passed, "\(result)")
    }

    func testLogDeterminantApproachesScaledDivergenceForSmallSteps() {
        // log det(I + hJ) = h tr J + O(h²): at h = 1e-3 the two agree to about h² |J|².
        let (field, input) = makeField(.tanh, seed: 15)
        let tape = Tape(recording: false)
        let h: Float = 1e-3
        let logDet = Divergence.logDeterminant(of: field, at: tape.constant(input), columns: actionColumns, scale: h).logDeterminant.value
        let divergence = Divergence.exact(of: field, at: tape.constant(input), columns: actionColumns).divergence.value
        for b in 0..<batch { XCTAssertEqual(logDet[b, 0], h * divergence[b, 0], accuracy: 1e-5) }
    }

    func testHutchinsonEstimateIsUnbiasedAndSeeded() {
        let (field, input) = makeField(.silu, seed: 16)
        let tape = Tape(recording: false)
        let exact = Divergence.exact(of: field, at: tape.constant(input), columns: actionColumns).divergence.value
        var generator = RandomGenerator(seed: 17)
        let estimate = Divergence.hutchinson(of: field, at: tape.constant(input), columns: actionColumns,
                                             probes: 4000, generator: &generator).divergence.value
        // With Rademacher probes the variance per probe is 2 Σ_{i≠j} J_ij² (order 0.1 here), so the
        // mean of 4,000 probes has a standard error near 0.01; allow 0.05.
        for b in 0..<batch { XCTAssertEqual(estimate[b, 0], exact[b, 0], accuracy: 0.05) }

        var first = RandomGenerator(seed: 5), second = RandomGenerator(seed: 5)
        let a = Divergence.hutchinson(of: field, at: tape.constant(input), columns: actionColumns, probes: 3, generator: &first)
        let c = Divergence.hutchinson(of: field, at: tape.constant(input), columns: actionColumns, probes: 3, generator: &second)
        XCTAssertEqual(a.divergence.value, c.divergence.value)
        let gradient = GradientCheck.check(inputs: [input], parameters: field.parameters) { _, v in
            var g = RandomGenerator(seed: 9)   // the same probes in every evaluation
            return Divergence.hutchinson(of: field, at: v[0], columns: self.actionColumns, probes: 2, generator: &g).divergence
        }
        XCTAssertTrue(gradient.passed, "\(gradient)")
    }

    func testReLUFieldDivergenceMatchesFiniteDifferences() {
        // ReLU's derivative is a step; away from kinks the tangent pass is still exact.
        let (field, input) = makeField(.relu, seed: 18)
        let tape = Tape(recording: false)
        let divergence = Divergence.exact(of: field, at: tape.constant(input), columns: actionColumns).divergence.value
        let jacobian = finiteDifferenceJacobian(field, input, step: 1e-3)
        for b in 0..<batch {
            let trace = (0..<actionSize).reduce(0.0) { $0 + jacobian[b][$1][$1] }
            XCTAssertEqual(Double(divergence[b, 0]), trace, accuracy: 2e-3)
        }
    }

    // MARK: The MLP shortcuts (MLP.exactDivergence)

    /// Random MLPs with one, two (the bilinear form) and three hidden layers (the stacked tangents
    /// between the first and last layers), every activation, the action block away from column 0
    /// and one output more than it pairs with: the shortcut against the tangent pass it replaces
    /// (`Divergence.exactByTangents`, kept as the reference), in value and in every gradient. The
    /// velocity must be the same bit for bit; the divergence and the gradients differ only in the
    /// order of float additions.
    func testMLPShortcutEqualsTheTangentPassOnRandomNetworks() {
        let shapes: [[Int]] = [[9, 12, 4], [9, 24, 16, 4], [9, 16, 12, 10, 4], [9, 256, 256, 4]]
        let columns = 2..<5, rows = 7
        var seed: UInt64 = 30
        for sizes in shapes {
            for activation in Activation.allCases where activation != .identity {
                seed += 1
                var generator = RandomGenerator(seed: seed)
                let network = MLP(sizes: sizes, activation: activation, generator: &generator)
                let input = generator.normalTensor(rows: rows, cols: sizes[0])
                let weights = generator.uniformTensor(rows: rows, cols: 1, lower: 0.5, upper: 1.5)
                let label = "\(sizes) \(activation)"

                func run(_ body: (Variable) -> (output: Variable, divergence: Variable))
                    -> (output: Tensor, divergence: Tensor, input: Tensor, parameters: [Tensor]) {
                    let tape = Tape()
                    let x = tape.input(input)
                    let (output, divergence) = body(x)
                    network.zeroGradients()
                    tape.backward(from: divergence, seed: weights)
                    return (output.value, divergence.value, tape.gradient(of: x), network.parameters.map(\.gradient))
                }
                let shortcut = run { x in
                    guard let result = network.exactDivergence(x, columns: columns) else { fatalError("no shortcut for \(label)") }
                    return result
                }
                let reference = run { Divergence.exactByTangents(of: network, at: $0, columns: columns) }
                XCTAssertEqual(shortcut.output, reference.output, "\(label): the velocity changed")
                XCTAssertLessThanOrEqual(closenessRatio(shortcut.divergence, reference.divergence, atol: 1e-5, rtol: 1e-4), 1,
                                         "\(label): divergence \(shortcut.divergence.scalars) vs \(reference.divergence.scalars)")
                XCTAssertLessThanOrEqual(closenessRatio(shortcut.input, reference.input, atol: 1e-5, rtol: 1e-4), 1,
                                         "\(label): input gradient")
                for (index, (a, b)) in zip(shortcut.parameters, reference.parameters).enumerated() {
                    XCTAssertLessThanOrEqual(closenessRatio(a, b, atol: 1e-5, rtol: 1e-4), 1,
                                             "\(label): gradient of \(network.parameters[index].name)")
                }
            }
        }
    }

    /// The shortcut at every depth against the trace of a central-difference Jacobian (the
    /// velocity-field layout `[s, x, emb]`, as in `testExactDivergenceMatchesFiniteDifferenceTrace`).
    func testMLPShortcutMatchesFiniteDifferenceTraceAtEveryDepth() {
        let width = stateSize + actionSize + embeddingSize
        for (offset, hidden) in [[16], [16, 16], [16, 12, 16]].enumerated() {
            for activation in [Activation.silu, .tanh, .gelu] {
                var generator = RandomGenerator(seed: 40 + UInt64(offset))
                let field = MLP(sizes: [width] + hidden + [actionSize], activation: activation, generator: &generator)
                let input = generator.normalTensor(rows: batch, cols: width)
                let tape = Tape(recording: false)
                let divergence = field.exactDivergence(tape.constant(input), columns: actionColumns)!.divergence
                let jacobian = finiteDifferenceJacobian(field, input)
                for b in 0..<batch {
                    let trace = (0..<actionSize).reduce(0.0) { $0 + jacobian[b][$1][$1] }
                    XCTAssertEqual(Double(divergence.value[b, 0]), trace, accuracy: 1e-3, "\(hidden) \(activation) sample \(b)")
                }
            }
        }
    }

    /// Without a recording tape a network with two hidden layers takes the tape-free path
    /// (`MLP.exactDivergenceValue`, a critic target's chain): the same floats, bit for bit, as the
    /// recorded ops give, for every activation (SiLU's fused slope and the others' ops) and at the
    /// velocity fields' width.
    func testTapeFreeShortcutGivesTheRecordedFloats() {
        let columns = 2..<5, rows = 37
        for (offset, sizes) in [[9, 16, 12, 4], [30, 256, 256, 3]].enumerated() {
            for activation in Activation.allCases where activation != .identity {
                var generator = RandomGenerator(seed: 60 + UInt64(offset))
                let network = MLP(sizes: sizes, activation: activation, generator: &generator)
                let input = generator.normalTensor(rows: rows, cols: sizes[0])
                let recording = Tape()
                let recorded = network.exactDivergence(recording.input(input), columns: columns)!
                let free = Tape(recording: false)
                let tapeFree = network.exactDivergence(free.constant(input), columns: columns)!
                XCTAssertEqual(tapeFree.output.value, recorded.output.value, "\(sizes) \(activation): velocity")
                XCTAssertEqual(tapeFree.divergence.value, recorded.divergence.value, "\(sizes) \(activation): divergence")
            }
        }
    }

    /// Fields the shortcut does not cover (no hidden layer; the identity activation) fall back to
    /// the tangent pass, so `Divergence.exact` still answers for them.
    func testExactDivergenceFallsBackWhereTheShortcutDoesNotApply() {
        let width = stateSize + actionSize + embeddingSize
        var generator = RandomGenerator(seed: 50)
        let linear = MLP(sizes: [width, actionSize], activation: .silu, generator: &generator)
        let identity = MLP(sizes: [width, 8, actionSize], activation: .identity, generator: &generator)
        let input = generator.normalTensor(rows: batch, cols: width)
        let tape = Tape(recording: false)
        for field in [linear, identity] {
            XCTAssertNil(field.exactDivergence(tape.constant(input), columns: actionColumns))
            let divergence = Divergence.exact(of: field, at: tape.constant(input), columns: actionColumns).divergence
            let jacobian = finiteDifferenceJacobian(field, input)
            for b in 0..<batch {
                let trace = (0..<actionSize).reduce(0.0) { $0 + jacobian[b][$1][$1] }
                XCTAssertEqual(Double(divergence.value[b, 0]), trace, accuracy: 1e-3)
            }
        }
    }
}
