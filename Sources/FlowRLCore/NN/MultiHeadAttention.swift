/// Multi-head attention with learned projections (`multiHeadAttention` between them):
/// `Attention(x, c) = W_o · attention(W_q x, W_k c, W_v c)`, self-attention when `c = x`.
/// Token rows are sample-major (see `multiHeadAttention`).
public final class MultiHeadAttention: Layer {
    public let query: Linear
    public let key: Linear
    public let value: Linear
    public let output: Linear
    public let heads: Int

    public var parameters: [Parameter] { query.parameters + key.parameters + value.parameters + output.parameters }

    public init(width: Int, heads: Int, generator: inout RandomGenerator, name: String = "attention") {
        precondition(heads >= 1 && width % heads == 0, "MultiHeadAttention: width \(width) is not a multiple of \(heads) heads")
        query = Linear(inputSize: width, outputSize: width, generator: &generator, name: name + ".query")
        key = Linear(inputSize: width, outputSize: width, generator: &generator, name: name + ".key")
        value = Linear(inputSize: width, outputSize: width, generator: &generator, name: name + ".value")
        output = Linear(inputSize: width, outputSize: width, generator: &generator, name: name + ".output")
        self.heads = heads
    }

    /// `x` is `[batch · Tq, width]`, `context` `[batch · Tk, width]`.
    public func callAsFunction(_ x: Variable, context: Variable, batch: Int) -> Variable {
        output(multiHeadAttention(queries: query(x), keys: key(context), values: value(context), batch: batch, heads: heads))
    }
}
