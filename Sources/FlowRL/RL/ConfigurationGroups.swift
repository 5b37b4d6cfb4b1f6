/// A group of configuration keys several algorithms share, declared, defaulted and range-checked
/// here once. Groups are composed into an algorithm's configuration by
/// `OffPolicyConfiguration`; their keys stay flat in JSON (`"batch_size"`, not
/// `"replay": {"batch_size": …}`), so Python keywords and stored checkpoints keep their form.
/// Property names map to JSON keys by snake case (`criticTau` ↔ `critic_tau`); a property whose
/// key carries the group's name (`critic_hidden_sizes`) is renamed by its `CodingKeys`.
public protocol ConfigurationGroup: Codable, Equatable, Sendable {
    /// The defaults.
    init()
    /// Throws `FlowRLError.invalidArgument` naming the first key out of range.
    func validate() throws
}

/// The policy's learning rate and the seed: keys every algorithm has.
public struct CommonSettings: ConfigurationGroup {
    /// Adam's learning rate for the policy (and for α when it is tuned).
    public var learningRate: Float = 3e-4
    /// Seed of the agent's random generator (initial weights, minibatches, sampling).
    public var seed: UInt64 = 0

    public init() {}

    /// `learning_rate` finite and in [1e-8, 1].
    public func validate() throws {
        try ConfigCheck.finite(learningRate, "learning_rate")
        try ConfigCheck.inRange(learningRate, 1e-8...1, "learning_rate")
    }
}

/// The replay buffer and the minibatches drawn from it (and from demonstrations in pretraining).
public struct ReplaySettings: ConfigurationGroup {
    /// Capacity in transitions; the oldest are overwritten when full.
    public var bufferSize = 1_000_000
    /// Rows per minibatch.
    public var batchSize = 256

    public init() {}

    /// `batch_size` in [1, 10⁶], `buffer_size` in [1, 10⁸].
    public func validate() throws {
        try ConfigCheck.inRange(batchSize, 1...1_000_000, "batch_size")
        try ConfigCheck.inRange(bufferSize, 1...100_000_000, "buffer_size")
    }
}

/// The twin soft critic, its targets and the update schedule around it (docs/algorithms.md,
/// "Soft twin critic", "Polyak averaging").
public struct CriticSettings: ConfigurationGroup {
    /// Hidden widths of each Q-network (`critic_hidden_sizes`).
    public var hiddenSizes = [256, 256]
    /// Adam's learning rate for the critic (`critic_learning_rate`).
    public var learningRate: Float = 3e-4
    /// Discount γ.
    public var gamma: Float = 0.99
    /// Polyak rate τ_Q of the critic targets.
    public var criticTau: Float = 0.005
    /// Updates between Polyak steps of the targets.
    public var targetUpdateInterval = 1
    /// Critic updates per actor (and α) update; 1 updates the actor every time.
    public var policyDelay = 1

    public init() {}

    enum CodingKeys: String, CodingKey {
        // The decoder converts snake-case JSON keys to camel case before matching these.
        case hiddenSizes = "criticHiddenSizes", learningRate = "criticLearningRate"
        case gamma, criticTau, targetUpdateInterval, policyDelay
    }

    /// Each key's range, named as the user typed it.
    public func validate() throws {
        try ConfigCheck.layerSizes(hiddenSizes, "critic_hidden_sizes")
        try ConfigCheck.inRange(learningRate, 1e-8...1, "critic_learning_rate")
        try ConfigCheck.inRange(gamma, 0...1, "gamma")
        try ConfigCheck.inRange(criticTau, 0...1, "critic_tau")
        try ConfigCheck.inRange(targetUpdateInterval, 1...1_000_000, "target_update_interval")
        try ConfigCheck.inRange(policyDelay, 1...1_000_000, "policy_delay")
    }
}

/// The entropy temperature α (docs/algorithms.md, "Temperature").
public struct TemperatureSettings: ConfigurationGroup {
    /// α fixed, or "auto" to tune it towards `target_entropy`.
    public var alpha = AutoOrNumber.auto
    /// α at the start when tuned.
    public var initialAlpha: Float = 1
    /// The entropy α is tuned towards; "auto" means −d.
    public var targetEntropy = AutoOrNumber.auto

    public init() {}

    /// A fixed α and `initial_alpha` in [1e-8, 1e8], a given target entropy finite.
    public func validate() throws {
        if case .value(let value) = alpha { try ConfigCheck.inRange(value, 1e-8...1e8, "alpha") }
        try ConfigCheck.inRange(initialAlpha, 1e-8...1e8, "initial_alpha")
        if case .value(let value) = targetEntropy { try ConfigCheck.finite(value, "target_entropy") }
    }

    /// The target entropy for `actionSize` action dimensions ("auto": −d, Stable-Baselines3's).
    public func resolvedTargetEntropy(actionSize: Int) -> Float {
        if case .value(let value) = targetEntropy { return value }
        return -Float(actionSize)
    }
}

/// The Python training loop's schedule (`learn`): random actions before `learning_starts`, then
/// `gradient_steps` updates every `train_freq` environment steps. The core does not read it.
public struct TrainingLoopSettings: ConfigurationGroup {
    /// Environment steps with uniform random actions before learning.
    public var learningStarts = 100
    /// Environment steps between update calls.
    public var trainFreq = 1
    /// Updates per update call.
    public var gradientSteps = 1

    public init() {}

    /// Each key's range, named as the user typed it.
    public func validate() throws {
        try ConfigCheck.inRange(learningStarts, 0...1_000_000_000, "learning_starts")
        try ConfigCheck.inRange(trainFreq, 1...1_000_000, "train_freq")
        try ConfigCheck.inRange(gradientSteps, 1...1_000_000, "gradient_steps")
    }
}

/// Which shared groups an algorithm's configuration carries beyond `CommonSettings` and
/// `ReplaySettings` (which every one has).
public struct ConfigurationGroups: OptionSet, Sendable {
    /// The bits of the set.
    public let rawValue: Int
    /// The set with these bits.
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// `CriticSettings`: a twin soft critic with targets.
    public static let critic = ConfigurationGroups(rawValue: 1)
    /// `TemperatureSettings`: an entropy temperature α.
    public static let temperature = ConfigurationGroups(rawValue: 2)
    /// `TrainingLoopSettings`: the Python loop's schedule keys.
    public static let trainingLoop = ConfigurationGroups(rawValue: 4)
}

/// An algorithm's own hyperparameters: the keys no other algorithm shares. Its synthesised
/// `Codable` reads them from the same flat JSON object as the shared groups.
public protocol AlgorithmOptions: ConfigurationGroup {
    /// The shared groups the algorithm uses; the others' keys are unknown to it.
    static var groups: ConfigurationGroups { get }
    /// Where the algorithm's defaults for shared keys differ from the groups' (e.g. SWFP's
    /// `learning_starts` of 1000).
    static func adjustDefaults(_ configuration: inout OffPolicyConfiguration<Self>)
    /// Keys that, when the user gives only their source key, take its value: key → source. How a
    /// key added later keeps the old behaviour of configurations (and stored checkpoints) written
    /// before it existed (SAC's `critic_learning_rate` follows `learning_rate`).
    static var followingKeys: [String: String] { get }
}

extension AlgorithmOptions {
    /// No adjustment: the groups' defaults.
    public static func adjustDefaults(_ configuration: inout OffPolicyConfiguration<Self>) {}
    /// No following keys.
    public static var followingKeys: [String: String] { [:] }
}

/// An algorithm's configuration: its own `Options` composed with the shared groups it declares.
///
/// JSON stays flat: encoding writes every group's keys into one object and decoding reads each
/// group from it, so `{"batch_size": 64, "flow_steps": 3}` sets `replay.batchSize` and
/// `options.flowSteps`. `decode(json:algorithm:)` (`AgentConfiguration`) starts from `init()`,
/// rejects keys of groups the algorithm does not use, and validates every group (each check names
/// the key the user typed).
public struct OffPolicyConfiguration<Options: AlgorithmOptions>: AgentConfiguration {
    /// The algorithm's own keys.
    public var options = Options()
    /// `learning_rate`, `seed`.
    public var common = CommonSettings()
    /// `buffer_size`, `batch_size`.
    public var replay = ReplaySettings()
    /// Read only when `Options.groups` contains `.critic`.
    public var critic = CriticSettings()
    /// Read only when `Options.groups` contains `.temperature`.
    public var temperature = TemperatureSettings()
    /// Read only when `Options.groups` contains `.trainingLoop`.
    public var trainingLoop = TrainingLoopSettings()

    /// The defaults: every group's, adjusted by the algorithm.
    public init() { Options.adjustDefaults(&self) }

    /// The algorithm's following keys.
    public static var followingKeys: [String: String] { Options.followingKeys }

    /// Each group read from the one flat object (keyed decoding ignores the other groups' keys).
    public init(from decoder: Decoder) throws {
        self.init()
        options = try Options(from: decoder)
        common = try CommonSettings(from: decoder)
        replay = try ReplaySettings(from: decoder)
        let groups = Options.groups
        if groups.contains(.critic) { critic = try CriticSettings(from: decoder) }
        if groups.contains(.temperature) { temperature = try TemperatureSettings(from: decoder) }
        if groups.contains(.trainingLoop) { trainingLoop = try TrainingLoopSettings(from: decoder) }
    }

    /// Every group the algorithm uses written into the one flat object.
    public func encode(to encoder: Encoder) throws {
        try options.encode(to: encoder)
        try common.encode(to: encoder)
        try replay.encode(to: encoder)
        let groups = Options.groups
        if groups.contains(.critic) { try critic.encode(to: encoder) }
        if groups.contains(.temperature) { try temperature.encode(to: encoder) }
        if groups.contains(.trainingLoop) { try trainingLoop.encode(to: encoder) }
    }

    /// The algorithm's checks, then each group's.
    public func validate() throws {
        try options.validate()
        try common.validate()
        try replay.validate()
        let groups = Options.groups
        if groups.contains(.critic) { try critic.validate() }
        if groups.contains(.temperature) { try temperature.validate() }
        if groups.contains(.trainingLoop) { try trainingLoop.validate() }
    }

    /// The memory of an agent of this configuration: the algorithm's own part (`actor`: its
    /// networks, their optimiser state and workspace) plus the shared parts the groups imply.
    public func memoryEstimate(actor: MemoryEstimate, observationSize: Int, actionSize: Int) -> MemoryEstimate {
        var estimate = actor
        if Options.groups.contains(.critic) {
            estimate.addSoftCritic(observationSize: observationSize, actionSize: actionSize, hiddenSizes: critic.hiddenSizes,
                                   batchSize: replay.batchSize)
        }
        if Options.groups.contains(.temperature) { estimate.addTemperature(temperature.alpha) }
        estimate.addReplay(capacity: replay.bufferSize, batchSize: replay.batchSize, observationSize: observationSize,
                           actionSize: actionSize)
        return estimate
    }
}
