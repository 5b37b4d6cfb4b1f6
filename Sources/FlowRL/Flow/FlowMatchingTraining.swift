/// Runs `step` on `steps` minibatches of `batchSize` (observation, action) pairs drawn with
/// replacement; returns the mean loss of the last 100 steps. The loop every `pretrain` shares
/// (`OffPolicyCore.pretrain`).
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
