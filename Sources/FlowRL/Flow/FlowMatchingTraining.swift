/// Flow-matching updates of a flow policy, shared by every flow algorithm's `pretrain` (and by
/// flow behaviour cloning's `update`).
public struct FlowMatchingTrainer {
    public let policy: FlowPolicy
    public let optimizer: Adam
    private let tape = Tape()

    public init(policy: FlowPolicy, optimizer: Adam) {
        self.policy = policy
        self.optimizer = optimizer
    }

    /// One Adam step on the flow-matching loss of a minibatch; returns the loss.
    @discardableResult
    public func step(observations: Tensor, actions: Tensor, generator: inout RandomGenerator) -> Float {
        tape.reset()
        let loss = policy.flowMatchingLoss(observations: observations, actions: actions, tape: tape, generator: &generator)
        optimizer.zeroGradients()
        tape.backward(from: loss)
        optimizer.update()
        return loss.value.scalar
    }

    /// `steps` updates on minibatches of `batchSize` pairs drawn with replacement from the
    /// demonstrations; reports the mean loss over the last 100 steps.
    public func pretrain(observations: Tensor, actions: Tensor, steps: Int, batchSize: Int,
                         generator: inout RandomGenerator) -> [String: Double] {
        let loss = trainOnMinibatches(observations: observations, actions: actions, steps: steps, batchSize: batchSize,
                                      generator: &generator) { s, a, generator in
            step(observations: s, actions: a, generator: &generator)
        }
        return ["pretrain/flow_matching_loss": loss]
    }
}

/// Runs `step` on `steps` minibatches of `batchSize` (observation, action) pairs drawn with
/// replacement; returns the mean loss of the last 100 steps. The loop every `pretrain` shares.
public func trainOnMinibatches(observations: Tensor, actions: Tensor, steps: Int, batchSize: Int,
                               generator: inout RandomGenerator,
                               step: (_ observations: Tensor, _ actions: Tensor, _ generator: inout RandomGenerator) -> Float) -> Double {
    var total = 0.0
    let reported = min(steps, 100)
    for index in 0..<steps {
        let rows = (0..<batchSize).map { _ in Int(generator.next() % UInt64(observations.rows)) }
        let loss = step(observations.gathering(rows: rows), actions.gathering(rows: rows), &generator)
        if index >= steps - reported { total += Double(loss) }
    }
    return total / Double(max(reported, 1))
}

extension Tensor {
    /// Rows `indices` of this tensor, in that order.
    public func gathering(rows indices: [Int]) -> Tensor {
        Tensor(rows: indices.count, cols: cols) { out, _ in
            scalars.withUnsafeBufferPointer { source in
                for (row, index) in indices.enumerated() {
                    (out + row * cols).update(from: source.baseAddress! + index * cols, count: cols)
                }
            }
        }
    }
}
