/// A velocity field built as an attention decoder: an action token `Linear(x) + Linear(emb(t))`
/// and a state token `Linear(s)`, then `layers` pre-norm decoder layers
///
///     h ← h + SelfAttention(LN(h)),  h ← h + CrossAttention(LN(h), state),  h ← h + FFN(LN(h))
///
/// with `FFN = Linear(4D) → GELU → Linear(D)`, a final LayerNorm, and heads for `μ_v` and `log σ_v`
/// (the latter mapped into `logSigmaRange` by a scaled tanh). One token per sample on each side.
/// Its parameter names start with the `name` its owner gives, so the layer knows nothing of the
/// checkpoints it ends up in.
public final class DecoderVelocityField: Layer {
    public struct DecoderLayer {
        let selfNorm: LayerNorm, selfAttention: MultiHeadAttention
        let crossNorm: LayerNorm, crossAttention: MultiHeadAttention
        let feedForwardNorm: LayerNorm, expand: Linear, contract: Linear

        var parameters: [Parameter] {
            selfNorm.parameters + selfAttention.parameters + crossNorm.parameters + crossAttention.parameters
                + feedForwardNorm.parameters + expand.parameters + contract.parameters
        }
    }

    public let embedding: TimeEmbedding
    let actionInput: Linear, timeInput: Linear, stateInput: Linear
    let layers: [DecoderLayer]
    let finalNorm: LayerNorm
    let meanHead: Linear, logSigmaHead: Linear
    /// The interval `log σ_v` is mapped into.
    public let logSigmaRange: ClosedRange<Float>

    public var parameters: [Parameter] {
        actionInput.parameters + timeInput.parameters + stateInput.parameters + layers.flatMap(\.parameters)
            + finalNorm.parameters + meanHead.parameters + logSigmaHead.parameters
    }

    public init(observationSize: Int, actionSize: Int, width: Int, layerCount: Int, heads: Int, embeddingSize: Int,
                logSigmaRange: ClosedRange<Float>, generator: inout RandomGenerator, name prefix: String) {
        embedding = TimeEmbedding(size: embeddingSize)
        self.logSigmaRange = logSigmaRange
        actionInput = Linear(inputSize: actionSize, outputSize: width, generator: &generator, name: prefix + ".action_in")
        timeInput = Linear(inputSize: embeddingSize, outputSize: width, generator: &generator, name: prefix + ".time_in")
        stateInput = Linear(inputSize: observationSize, outputSize: width, generator: &generator, name: prefix + ".state_in")
        layers = (0..<layerCount).map { index in
            let name = prefix + ".layers.\(index)"
            return DecoderLayer(selfNorm: LayerNorm(size: width, name: name + ".self_norm"),
                                selfAttention: MultiHeadAttention(width: width, heads: heads, generator: &generator, name: name + ".self"),
                                crossNorm: LayerNorm(size: width, name: name + ".cross_norm"),
                                crossAttention: MultiHeadAttention(width: width, heads: heads, generator: &generator, name: name + ".cross"),
                                feedForwardNorm: LayerNorm(size: width, name: name + ".ffn_norm"),
                                expand: Linear(inputSize: width, outputSize: 4 * width, generator: &generator, name: name + ".ffn_in"),
                                contract: Linear(inputSize: 4 * width, outputSize: width, generator: &generator, name: name + ".ffn_out"))
        }
        finalNorm = LayerNorm(size: width, name: prefix + ".final_norm")
        meanHead = Linear(inputSize: width, outputSize: actionSize, generator: &generator, name: prefix + ".mean")
        logSigmaHead = Linear(inputSize: width, outputSize: actionSize, generator: &generator, name: prefix + ".log_sigma")
    }

    /// `(μ_v, log σ_v)` at `(s, x, t)`, each `[batch, d]`; `times` is `[batch, 1]`.
    public func callAsFunction(observations: Variable, x: Variable, times: Variable) -> (mean: Variable, logSigma: Variable) {
        let batch = observations.rows
        var h = actionInput(x) + timeInput(embedding(times))
        let state = stateInput(observations)
        for layer in layers {
            let normed = layer.selfNorm(h)
            h = h + layer.selfAttention(normed, context: normed, batch: batch)
            h = h + layer.crossAttention(layer.crossNorm(h), context: state, batch: batch)
            h = h + layer.contract(layer.expand(layer.feedForwardNorm(h)).gelu())
        }
        let features = finalNorm(h)
        return (meanHead(features), logSigmaHead(features).squashed(into: logSigmaRange))
    }
}

extension Variable {
    /// `lo + (hi − lo)(tanh(x) + 1)/2`: a bounded `log σ` from an unbounded output.
    public func squashed(into range: ClosedRange<Float>) -> Variable {
        let (lo, hi) = (range.lowerBound, range.upperBound)
        return lo + (hi - lo) * 0.5 * (tanh() + 1)
    }
}
