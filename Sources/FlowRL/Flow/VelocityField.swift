/// The time-conditioned velocity field `v_θ(t, s, x)`: an MLP on `[s, x, emb(t)]` with output
/// size `d` (docs/algorithms.md, "Velocity field"). Its last layer starts small (×0.1), so an untrained
/// flow moves its noise only a little.
public final class VelocityField: Layer {
    public let network: MLP
    public let embedding: TimeEmbedding
    public let observationSize: Int
    public let actionSize: Int

    public var parameters: [Parameter] { network.parameters }

    /// Input columns of the action block `x` inside `[s, x, emb(t)]`.
    public var actionColumns: Range<Int> { observationSize..<(observationSize + actionSize) }

    public init(observationSize: Int, actionSize: Int, hiddenSizes: [Int], activation: Activation,
                embeddingSize: Int, generator: inout RandomGenerator, name: String) {
        self.observationSize = observationSize
        self.actionSize = actionSize
        embedding = TimeEmbedding(size: embeddingSize)
        network = MLP(sizes: [observationSize + actionSize + embeddingSize] + hiddenSizes + [actionSize],
                      activation: activation, outputScale: 0.1, generator: &generator, name: name)
    }

    /// The network input `[s, x, emb(t)]` for a batch; `t` is one time for the whole batch.
    public func input(observations: Variable, x: Variable, time: Float) -> Variable {
        embedding.conditionedInput(observations: observations, x: x, time: time)
    }

    /// The network input with a time per row (`times` is `[batch, 1]`).
    public func input(observations: Variable, x: Variable, times: Variable) -> Variable {
        embedding.conditionedInput(observations: observations, x: x, times: times)
    }

    /// `v_θ(t, s, x)`.
    public func callAsFunction(observations: Variable, x: Variable, time: Float) -> Variable {
        network(input(observations: observations, x: x, time: time))
    }
}
