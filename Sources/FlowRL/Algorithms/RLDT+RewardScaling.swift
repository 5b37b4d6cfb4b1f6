/// RLDT's optional reward scale (`reward_scaling = "running_abs_mean"`; docs/algorithms.md,
/// "RLDT: reward scaling"): the critic learns from `r / max(m, floor)`, with `m` the mean of `|r|`
/// over every transition the agent has observed, so that the critic's values, and with them the
/// transport field's gradients, have a scale of order one whatever the environment's rewards.
///
/// The statistic moves in `observe` (each environment reward counted once, when it arrives), never
/// in `update`: a statistic of sampled minibatches would count a transition as often as the replay
/// draws it, depend on `gradient_steps`, and drift while the buffer's contents stay the same. The
/// buffer keeps the raw rewards; the scale is applied when the critic's targets are formed, so a
/// transition's scaled reward follows the statistic as it moves (as in the authors' code, which
/// stores raw rewards and scales them at critic-training time).
///
/// Its state, `(m, count)`, is a checkpoint part (`statePart`): `m` as a `[1, 1]` tensor, `count`
/// as a counter. Stored as exactly these two values and updated from them alone, a restored agent
/// continues bit for bit.
public final class RunningAbsoluteMean {
    /// `m`, the mean of `|r|` over the `count` rewards added.
    public private(set) var mean: Float = 0
    /// Rewards added so far.
    public private(set) var count = 0
    /// The smallest divisor: rewards that have all been (near) zero are not blown up.
    public static let floor: Float = 1e-6

    /// A statistic that has seen nothing (scale 1).
    public init() {}

    /// The factor applied to rewards: `1 / max(m, floor)`, or 1 before any reward was added.
    public var scale: Float { count == 0 ? 1 : 1 / Swift.max(mean, Self.floor) }

    /// Adds every reward of `rewards` (finite, as `ManagedAgent.observe` checked): the mean is
    /// recomputed in double precision from the stored mean and count, then rounded once.
    public func add(_ rewards: Tensor) {
        guard rewards.count > 0 else { return }
        let sum = rewards.scalars.reduce(0.0) { $0 + Double(abs($1)) }
        let total = count + rewards.count
        mean = Float((Double(mean) * Double(count) + sum) / Double(total))
        count = total
    }

    /// The checkpoint entries' names.
    static let meanKey = "reward_scaling.mean", countKey = "reward_scaling.count"

    /// Captures `(m, count)`; restores them after checking that `m` is a finite non-negative
    /// `[1, 1]` tensor, `count` a counter no larger than the state's `transitions_seen` (every
    /// counted reward was observed), and `m` zero when nothing was counted.
    public var statePart: OffPolicyCore.StatePart {
        OffPolicyCore.StatePart(capture: { state in
            state.tensors[Self.meanKey] = Tensor(rows: 1, cols: 1, scalars: [self.mean])
            state.integers[Self.countKey] = UInt64(self.count)
        }, restorer: { state in
            guard let stored = state.tensors[Self.meanKey] else { throw FlowRLError.io("checkpoint: missing tensor '\(Self.meanKey)'") }
            guard stored.rows == 1, stored.cols == 1 else {
                throw FlowRLError.io("checkpoint: tensor '\(Self.meanKey)' is [\(stored.rows), \(stored.cols)], expected [1, 1]")
            }
            let mean = stored.scalars[0]
            guard mean.isFinite, mean >= 0 else {
                throw FlowRLError.io("checkpoint: '\(Self.meanKey)' is \(mean); a mean of |r| must be finite and non-negative")
            }
            let count = try state.counter(Self.countKey)
            let seen = try state.counter("counters.transitions_seen")
            guard count <= seen else {
                throw FlowRLError.io("checkpoint: '\(Self.countKey)' is \(count), more rewards than the \(seen) transitions seen")
            }
            guard count > 0 || mean == 0 else {
                throw FlowRLError.io("checkpoint: '\(Self.meanKey)' is \(mean) with no rewards counted")
            }
            return {
                self.mean = mean
                self.count = count
            }
        })
    }
}
