import FlowRLCore

/// The outcome of comparing tape gradients with central finite differences.
public struct GradientCheckResult: CustomStringConvertible {
    /// The largest `|analytic − numeric| / (atol + rtol · |numeric|)` over all checked entries;
    /// at most 1 means every entry is within tolerance.
    public let worstRatio: Double
    /// Where the worst entry is, with both values.
    public let worstEntry: String
    /// Number of entries compared.
    public let entriesChecked: Int

    public var passed: Bool { worstRatio <= 1 }
    public var description: String { "worst ratio \(worstRatio) at \(worstEntry) (\(entriesChecked) entries)" }
}

/// A finite-difference gradient checker for Float32 computations.
///
/// The checked scalar is `L = Σ wᵢ yᵢ` with fixed random weights `w` (so every output element
/// matters with a different weight), accumulated in Double. Each input and parameter entry is
/// moved by `±epsilon` and `∂L/∂θ ≈ (L(θ + ε) − L(θ − ε)) / 2ε` is compared with the tape's
/// gradient: an entry passes when `|analytic − numeric| ≤ atol + rtol · |numeric|`.
/// With Float32 forward passes, `epsilon = 1e-2` balances truncation error (O(ε²)) against
/// rounding error (about 1e-7 · |L| / ε); the default tolerances `atol = 2e-3`, `rtol = 1e-2`
/// leave room for both on values of order one.
public enum GradientCheck {
    public static func check(inputs: [Tensor], parameters: [Parameter] = [],
                             epsilon: Float = 1e-2, atol: Double = 2e-3, rtol: Double = 1e-2, seed: UInt64 = 7,
                             _ function: (Tape, [Variable]) -> Variable) -> GradientCheckResult {
        // Analytic gradients.
        let tape = Tape()
        let variables = inputs.map { tape.input($0) }
        let output = function(tape, variables)
        var generator = RandomGenerator(seed: seed)
        let weights = generator.uniformTensor(rows: output.rows, cols: output.cols, lower: 0.5, upper: 1.5)
        for parameter in parameters { parameter.zeroGradient() }
        tape.backward(from: output, seed: weights)
        let inputGradients = variables.map { tape.gradient(of: $0) }
        let parameterGradients = parameters.map(\.gradient)

        func loss(_ values: [Tensor]) -> Double {
            let noGrad = Tape(recording: false)
            let y = function(noGrad, values.map { noGrad.constant($0) }).value
            var total = 0.0
            for index in 0..<y.count { total += Double(weights.scalars[index]) * Double(y.scalars[index]) }
            return total
        }

        var worst = 0.0, worstEntry = "none", checked = 0
        func compare(_ analytic: Float, _ numeric: Double, _ label: String) {
            let ratio = abs(Double(analytic) - numeric) / (atol + rtol * abs(numeric))
            checked += 1
            if ratio > worst || ratio.isNaN {
                worst = ratio.isNaN ? .infinity : ratio
                worstEntry = "\(label): analytic \(analytic), numeric \(numeric)"
            }
        }
        var values = inputs
        for (which, input) in inputs.enumerated() {
            for index in 0..<input.count {
                let original = values[which].scalars[index]
                values[which].scalars[index] = original + epsilon
                let plus = loss(values)
                values[which].scalars[index] = original - epsilon
                let minus = loss(values)
                values[which].scalars[index] = original
                compare(inputGradients[which].scalars[index], (plus - minus) / (2 * Double(epsilon)), "input \(which)[\(index)]")
            }
        }
        for (which, parameter) in parameters.enumerated() {
            for index in 0..<parameter.value.count {
                let original = parameter.value.scalars[index]
                parameter.value.scalars[index] = original + epsilon
                let plus = loss(values)
                parameter.value.scalars[index] = original - epsilon
                let minus = loss(values)
                parameter.value.scalars[index] = original
                compare(parameterGradients[which].scalars[index], (plus - minus) / (2 * Double(epsilon)), parameter.name + "[\(index)]")
            }
        }
        return GradientCheckResult(worstRatio: worst, worstEntry: worstEntry, entriesChecked: checked)
    }
}

/// The largest `|a − b| / (atol + rtol · |b|)` over two equally shaped tensors (≤ 1 means close).
public func closenessRatio(_ a: Tensor, _ b: Tensor, atol: Float = 1e-6, rtol: Float = 1e-5) -> Float {
    precondition(a.hasShape(of: b), "closenessRatio: shapes differ")
    var worst: Float = 0
    for index in 0..<a.count {
        let ratio = abs(a.scalars[index] - b.scalars[index]) / (atol + rtol * abs(b.scalars[index]))
        worst = ratio.isNaN ? .infinity : max(worst, ratio)
    }
    return worst
}
