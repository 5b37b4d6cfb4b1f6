/// How a lagged copy of a network follows it: SWFP's prior θ̄ and RLDT's lagged reference. One
/// setting, a number: a rate in (0, 1) is Polyak averaging at every actor update; a whole number
/// K ≥ 1 is a hard copy every K actor updates.
public enum LaggedCopy {
    /// Moves `lagged` towards `source` after actor update number `actorUpdates` (counted from 0).
    public static func follow<L: Layer>(_ lagged: L, towards source: L, setting: Float, actorUpdates: Int) {
        if setting < 1 {
            lagged.polyakUpdate(towards: source, rate: setting)
        } else if (actorUpdates + 1) % Int(setting) == 0 {
            lagged.copyParameters(from: source)
        }
    }
}

extension ConfigKey {
    /// The `LaggedCopy` setting: a rate in (0, 1), or a whole number of actor updates in [1, 1e9].
    public static func laggedCopy(_ name: String, _ path: KeyPath<Group, Float>, _ description: String) -> Self {
        Self(name, description, domain: ConfigDomain(type: "number", minimum: .integer(0), maximum: .float(1e9), exclusiveMinimum: true)) {
            let value = $0[keyPath: path]
            guard value >= 1 else { return try ConfigCheck.positive(value, name) }
            guard value == value.rounded(), value <= 1e9 else {
                throw FlowRLError.invalidArgument("config key '\(name)' must be a rate in (0, 1) or a whole number of updates ≥ 1, got \(value)")
            }
        }
    }
}

/// A flow policy θ, a lagged copy of it and θ's optimiser: the trained and the anchoring networks
/// of SWFP (its prior θ̄) and RLDT (its reference). The copy is drawn second from the same
/// generator, then set equal to θ, so both algorithms consume the random stream alike.
public struct LaggedFlowPolicy {
    /// θ, trained and acting.
    public let policy: FlowPolicy
    /// The lagged copy, moved by `LaggedCopy.follow`.
    public let lagged: FlowPolicy
    /// Adam on θ's parameters.
    public let optimizer: Adam

    public init(_ options: some VelocityNetworkOptions, observationSize: Int, actionSize: Int, separateBlocks: Bool,
                learningRate: Float, generator: inout RandomGenerator) {
        policy = FlowPolicy(options, observationSize: observationSize, actionSize: actionSize, separateBlocks: separateBlocks,
                            generator: &generator)
        lagged = FlowPolicy(options, observationSize: observationSize, actionSize: actionSize, separateBlocks: separateBlocks,
                            generator: &generator)
        lagged.copyParameters(from: policy)
        optimizer = Adam(parameters: policy.parameters, learningRate: learningRate)
    }
}
