/// A sinusoidal embedding of flow time `t ∈ [0, 1]`:
/// `emb(t) = [sin(ω₀t), …, sin(ω_{h−1}t), cos(ω₀t), …, cos(ω_{h−1}t)]` with `h = size / 2`
/// frequencies spaced geometrically from 1 to `maxFrequency` (the Transformer position code,
/// rescaled for a time in [0, 1]). No parameters; differentiable with respect to `t`.
public struct TimeEmbedding: Sendable {
    /// Output width (even).
    public let size: Int
    /// The frequencies `ω_k`, `[1, size / 2]`.
    public let frequencies: Tensor

    public init(size: Int = 16, maxFrequency: Float = 100) {
        precondition(size >= 2 && size % 2 == 0, "TimeEmbedding: size must be even and ≥ 2")
        let half = size / 2
        let frequencies = (0..<half).map { k -> Float in
            half == 1 ? 1 : exp(Float(k) / Float(half - 1) * log(maxFrequency))
        }
        self.size = size
        self.frequencies = Tensor(rows: 1, cols: half, scalars: frequencies)
    }

    /// The embedding of a batch of times `t` (`[batch, 1]`): `[batch, size]`.
    public func callAsFunction(_ t: Variable) -> Variable {
        precondition(t.cols == 1, "TimeEmbedding: times must be [batch, 1]")
        let phase = t * t.tape.constant(frequencies)
        return concatenateColumns([phase.sin(), phase.cos()])
    }

    /// A `[rows, 1]` constant holding `time` on `tape`.
    public static func times(_ time: Float, rows: Int, on tape: Tape) -> Variable {
        tape.constant(Tensor(rows: rows, cols: 1, repeating: time))
    }
}
