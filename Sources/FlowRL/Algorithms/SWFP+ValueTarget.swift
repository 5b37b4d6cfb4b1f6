/// SWFP's critic targets over several policy samples per next state (`value_samples`), with the
/// soft value or the paper's Eq. 18 (`value_target`; docs/algorithms.md, "SWFP: the value target").
extension SWFP {
    /// `y = r + γ (1 − term) V(s')`, with `V` from M = `value_samples` draws `a'_m ~ π_θ(·|s')`
    /// (their `log π` by the `divergence` method) and the target critics' `min_j Q̄_j(s', a'_m)`
    /// (`stateValue`); returns the targets and the M·batch `log π` (rows `m · batch + b`), which
    /// the α step uses.
    public func criticTargets(for batch: Transitions, alpha: Float) -> (targets: Tensor, logProbability: Tensor) {
        let next = valueTargetObservations(batch)
        let sample = policy.sampleWithLogProbability(observations: next, method: configuration.options.divergenceMethod,
                                                     generator: &core.generator)
        return (criticTargets(for: batch, next: next, sample: sample, alpha: alpha), sample.logProbability)
    }

    /// The next states the value target samples at: each of the batch's M times (rows `m · batch + b`).
    func valueTargetObservations(_ batch: Transitions) -> Tensor {
        batch.nextObservations.tiledRows(configuration.options.valueSamples)
    }

    /// The targets from the M samples at `next` (`valueTargetObservations(batch)`) and their `log π`.
    func criticTargets(for batch: Transitions, next: Tensor, sample: (actions: Tensor, logProbability: Tensor), alpha: Float) -> Tensor {
        let options = configuration.options
        let samples = options.valueSamples, rows = batch.count
        let (actions, logProbability) = sample
        let critic = core.softCritic!
        let q = critic.target.minimumValue(observations: next, actions: actions)
        var targets = Tensor(rows: rows, cols: 1)
        for row in 0..<rows {
            let indices = (0..<samples).map { $0 * rows + row }
            let value = Self.stateValue(q: indices.map { Double(q.scalars[$0]) },
                                        logProbability: indices.map { Double(logProbability.scalars[$0]) },
                                        alpha: Double(alpha), target: options.valueTarget)
            let continuing = 1 - Double(batch.terminated.scalars[row])
            targets.scalars[row] = Float(Double(batch.rewards.scalars[row]) + Double(critic.discount) * continuing * value)
        }
        return targets
    }

    /// `V(s')` from M samples with values `q_m = min_j Q̄_j(s', a'_m)` and densities `log π(a'_m|s')`:
    ///
    /// - `soft`: `mean_m (q_m − α log π_m)`, SAC's soft value (M = 1 is the usual one-sample target).
    /// - `logsumexp`: Eq. 18 with Q read as Q/α and the result returned in Q's units,
    ///   `α · log mean_m exp(q_m/α − log π_m) + α · mean_m log π_m`: an importance-sampled
    ///   `α log ∫ exp(Q/α) da` minus `α H(π)`, with the entropy estimated by `−mean_m log π_m`.
    ///   The log-mean-exp subtracts the largest exponent first (in double precision), so no
    ///   exponential overflows. With M = 1 it is `q_1`: the entropy terms cancel.
    public static func stateValue(q: [Double], logProbability: [Double], alpha: Double, target: ValueTarget) -> Double {
        let count = Double(q.count)
        let meanLogProbability = logProbability.reduce(0, +) / count
        switch target {
        case .soft:
            return q.reduce(0, +) / count - alpha * meanLogProbability
        case .logsumexp:
            let exponents = zip(q, logProbability).map { $0 / alpha - $1 }
            let largest = exponents.max() ?? 0
            let logMeanExp = largest + log(exponents.reduce(0) { $0 + exp($1 - largest) } / count)
            return alpha * (logMeanExp + meanLogProbability)
        }
    }
}
