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
        var total = 0.0
        let reported = min(steps, 100)
        for index in 0..<steps {
            let rows = (0..<batchSize).map { _ in Int(generator.next() % UInt64(observations.rows)) }
            let loss = step(observations: observations.gathering(rows: rows), actions: actions.gathering(rows: rows),
                            generator: &generator)
            if index >= steps - reported { total += Double(loss) }
        }
        return ["pretrain/flow_matching_loss": total / Double(reported)]
    }
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
