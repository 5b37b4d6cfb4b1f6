/// A group of configuration keys several algorithms share, declared, defaulted, range-checked and
/// described here once. Groups are composed into an algorithm's configuration by
/// `OffPolicyConfiguration`; their keys stay flat in JSON (`"batch_size"`, not
/// `"replay": {"batch_size": …}`), so Python keywords and stored checkpoints keep their form.
/// Property names map to JSON keys by snake case (`criticTau` ↔ `critic_tau`); a property whose
/// key carries the group's name (`critic_hidden_sizes`) is renamed by its `CodingKeys`.
///
/// A key is its property (holding the default) and its entry in `keys` (name, range or choices,
/// one-line description, and for a key added after checkpoints were first written its legacy value,
/// `ConfigKey.addedLater`), side by side: `validate()` checks the entries, and the algorithm's
/// schema (`flowrl_algorithm_schema`), from which Python takes its keywords, defaults and
/// docstrings, publishes them.
public protocol ConfigurationGroup: Codable, Equatable, Sendable {
    /// The defaults.
    init()
    /// Every key of the group, in the order docstrings list them.
    static var keys: [ConfigKey<Self>] { get }
    /// Throws `FlowRLError.invalidArgument` naming the first key out of range. The default checks
    /// `keys`; a group with relations between its keys adds them after `validateKeys()`.
    func validate() throws
}

/// The policy's learning rate and the seed: keys every algorithm has.
public struct CommonSettings: ConfigurationGroup {
    public var learningRate: Float = 3e-4
    /// "auto": `learning_rate`. Its own value lets a small fine-tuning rate (SWFP's paper: 1e-5)
    /// follow a pretraining that still learns.
    public var pretrainLearningRate = AutoOrNumber.auto
    public var seed: UInt64 = 0

    public init() {}

    /// The policy's learning rate during `pretrain`.
    public var resolvedPretrainLearningRate: Float {
        if case .value(let rate) = pretrainLearningRate { return rate }
        return learningRate
    }

    public static var keys: [ConfigKey<Self>] {
        [.number("learning_rate", \.learningRate, in: 0...1, settable: true,
                 "Adam's learning rate for the policy (and for α when it is tuned); 0 freezes them."),
         .numberOrAuto("pretrain_learning_rate", \.pretrainLearningRate, in: 1e-8...1,
                       "The policy's learning rate in pretrain(); \"auto\" uses learning_rate.")
             .addedLater(legacyValue: .string("auto")),
         .unsigned("seed", \.seed, "Seeds every random choice: initial weights, noise, minibatches, the loop's random actions.")]
    }
}

/// The replay buffer and the minibatches drawn from it (and from demonstrations in pretraining).
public struct ReplaySettings: ConfigurationGroup {
    public var bufferSize = 1_000_000
    public var batchSize = 256

    public init() {}

    public static var keys: [ConfigKey<Self>] {
        [.integer("buffer_size", \.bufferSize, in: 1...100_000_000, "Replay capacity in transitions; the oldest are overwritten when full."),
         .integer("batch_size", \.batchSize, in: 1...1_000_000, "Rows per minibatch (of replay, or of demonstrations in pretraining).")]
    }
}

/// The twin soft critic, its targets and the update schedule around it (docs/algorithms.md,
/// "Soft twin critic", "Polyak averaging").
public struct CriticSettings: ConfigurationGroup {
    public var hiddenSizes = [256, 256]
    public var learningRate: Float = 3e-4
    public var gamma: Float = 0.99
    public var criticTau: Float = 0.005
    public var targetUpdateInterval = 1
    public var policyDelay = 1
    /// Measured on a 2-D reaching task (docs/finetuning-investigation.md): with a small α, 2,000
    /// critic-only updates on the demonstrations turned the fine-tuning dip into none. Longer and
    /// faster warm-ups ("auto", `criticWarmupTau`) calibrate the critic on Hopper but did not
    /// remove the dip there and deepened it on Pendulum (same document), so they are options.
    public var criticWarmupSteps = AutoOrCount.value(2000)
    /// The Polyak rate of the critic targets during the warm-up, on every warm-up step; "auto":
    /// the critic's own schedule (`criticTau` every `targetUpdateInterval` updates).
    public var criticWarmupTau = AutoOrNumber.auto
    /// Off until measured on the offline-to-online benchmark (docs/algorithms.md, "Soft twin critic").
    public var criticLayerNorm = false

    /// The most warm-up steps "auto" asks for.
    public static let autoWarmupStepsCap = 20_000

    /// `critic_warmup_tau` when given (applied on every warm-up step), nil for "auto".
    public var givenWarmupTargetRate: Float? {
        if case .value(let rate) = criticWarmupTau { return rate }
        return nil
    }

    /// The targets' mean Polyak rate per warm-up step.
    public var warmupTargetRate: Float { givenWarmupTargetRate ?? criticTau / Float(targetUpdateInterval) }

    /// The warm-up's length: the value given, or for "auto" enough target steps for the Bellman
    /// error to shrink by e⁻³. With the actor held the warm-up is a policy evaluation; the
    /// targets move by the rate τ_w per step, so about 1/τ_w steps make one Bellman iteration,
    /// and an iteration shrinks the error by γ, so 3/(1 − γ) iterations are needed:
    /// 3 / (τ_w (1 − γ)) steps, rounded, capped at `autoWarmupStepsCap` (and 0 when τ_w is 0).
    public var resolvedCriticWarmupSteps: Int {
        if case .value(let steps) = criticWarmupSteps { return steps }
        guard warmupTargetRate > 0 else { return 0 }
        let needed = 3 / (Double(warmupTargetRate) * max(1 - Double(gamma), 1e-9))
        return needed >= Double(Self.autoWarmupStepsCap) ? Self.autoWarmupStepsCap : Int(needed.rounded())
    }

    public init() {}

    enum CodingKeys: String, CodingKey {
        // The decoder converts snake-case JSON keys to camel case before matching these.
        case hiddenSizes = "criticHiddenSizes", learningRate = "criticLearningRate"
        case gamma, criticTau, targetUpdateInterval, policyDelay, criticWarmupSteps, criticWarmupTau, criticLayerNorm
    }

    public static var keys: [ConfigKey<Self>] {
        [.layerSizes("critic_hidden_sizes", \.hiddenSizes, "Hidden widths of each of the two Q-networks."),
         .number("critic_learning_rate", \.learningRate, in: 0...1, settable: true, "Adam's learning rate for the critic; 0 freezes it."),
         .number("gamma", \.gamma, in: 0...1, "Discount factor γ."),
         .number("critic_tau", \.criticTau, in: 0...1, "Polyak rate τ_Q of the critic's target networks."),
         // SAC's from the start; SWFP's targets moved on every update before it had the key.
         .integer("target_update_interval", \.targetUpdateInterval, in: 1...1_000_000, "Updates between Polyak steps of the critic targets.")
             .addedLater(legacyValue: .integer(1)),
         .integer("policy_delay", \.policyDelay, in: 1...1_000_000, "Critic updates per actor (and α) update; 1 updates the actor every time."),
         .integerOrAuto("critic_warmup_steps", \.criticWarmupSteps, in: 0...10_000_000,
                        "Critic-only updates pretrain() runs on whole transitions once they are stored (actor, α and lagged copies held); 0 for none; \"auto\" for 3 / (τ_w·(1 − γ)) rounded, at most 20,000, τ_w being the warm-up's target rate.")
             // Before the key there was no warm-up (0), but the key was added with a warm-up for
             // every agent, old checkpoints included, and they have loaded with 2000 since.
             .addedLater(legacyValue: .integer(2000)),
         .numberOrAuto("critic_warmup_tau", \.criticWarmupTau, in: 1e-6...1,
                       "Polyak rate of the critic targets on every step of the critic warm-up; \"auto\" keeps the critic's own schedule (critic_tau every target_update_interval updates).")
             .addedLater(legacyValue: .string("auto")),
         .boolean("critic_layer_norm", \.criticLayerNorm,
                  "A layer norm (learned scale and offset) after each hidden layer of both Q-networks and their targets, before the activation (as RLPD, arXiv 2302.02948): bounds how far Q extrapolates to actions outside the data.")
             .addedLater(legacyValue: .bool(false))]
    }
}

/// The entropy temperature α (docs/algorithms.md, "Temperature").
public struct TemperatureSettings: ConfigurationGroup {
    public var alpha = AutoOrNumber.auto
    public var initialAlpha: Float = 1
    public var targetEntropy = AutoOrNumber.auto
    /// "auto": see `Temperature.alphaAfterPretraining`.
    public var alphaAfterPretraining = AutoOrNumber.auto

    public init() {}

    public static var keys: [ConfigKey<Self>] {
        [.numberOrAuto("alpha", \.alpha, in: 1e-8...1e8, "Entropy temperature α: a fixed value, or \"auto\" to tune it towards target_entropy."),
         .number("initial_alpha", \.initialAlpha, in: 1e-8...1e8, "α at the start when it is tuned."),
         .numberOrAuto("target_entropy", \.targetEntropy, "The entropy α is tuned towards; \"auto\" is −(action size), as Stable-Baselines3."),
         .numberOrAuto("alpha_after_pretraining", \.alphaAfterPretraining, in: 1e-8...1e8,
                       "α when pretrain() on whole transitions ends and α is tuned: a value, or \"auto\" for min(α, 0.1·mean|r|/action size) from the demonstrations' rewards.")
             // Before the key α was left as it was, which no value says; old checkpoints have
             // loaded with "auto" since the key was added with it for every agent.
             .addedLater(legacyValue: .string("auto"))]
    }

    /// The target entropy for `actionSize` action dimensions ("auto": −d, Stable-Baselines3's).
    public func resolvedTargetEntropy(actionSize: Int) -> Float {
        if case .value(let value) = targetEntropy { return value }
        return -Float(actionSize)
    }
}

/// The Python training loop's schedule (`learn`): random actions before `learning_starts` (unless
/// the agent was pretrained), then `gradient_steps` updates every `train_freq` environment steps.
/// The core does not read it.
public struct TrainingLoopSettings: ConfigurationGroup {
    /// What `learn` does before `learning_starts` transitions are in the replay buffer.
    public enum WarmupActions: String, Codable, Sendable, CaseIterable {
        /// Uniform random actions, unless the agent was pretrained: then the policy's.
        case auto
        /// Uniform random actions, as Stable-Baselines3.
        case random
        /// The policy's actions.
        case policy
    }

    public var learningStarts = 100
    public var trainFreq = 1
    public var gradientSteps = 1
    /// A pretrained policy acts from the first step: uniform random actions would throw it away
    /// and fill the buffer with data unlike the demonstrations (docs/finetuning-investigation.md, §1).
    public var warmupActions = WarmupActions.auto

    public init() {}

    public static var keys: [ConfigKey<Self>] {
        [.integer("learning_starts", \.learningStarts, in: 0...1_000_000_000,
                  "Transitions collected before learning starts (after pretrain() they include the stored demonstrations)."),
         .integer("train_freq", \.trainFreq, in: 1...1_000_000, "Environment steps between update calls of learn()."),
         .integer("gradient_steps", \.gradientSteps, in: 1...1_000_000, "Gradient updates per update call of learn()."),
         .choice("warmup_actions", \.warmupActions,
                 "Actions before learning starts: uniform random, the policy's, or \"auto\" (random unless the agent was pretrained).")
             // Before the key the warm-up was random ("random"), but the key was added with "auto"
             // for every agent, old checkpoints included, and they have loaded with it since.
             .addedLater(legacyValue: .string("auto"))]
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
    /// before it existed (SAC's `critic_learning_rate` follows `learning_rate`); such a key declares
    /// no legacy value (`ConfigKey.legacyValue`), as following is what its absence means.
    static var followingKeys: [String: String] { get }
    /// Named configurations (`preset`): name → the change it makes to the defaults, written in
    /// Swift so that the values are typed and checked; the schema publishes each as the JSON keys
    /// it changes. An algorithm with presets declares a `"preset"` choice key whose cases are
    /// `"none"` and these names.
    static var presets: [String: (inout OffPolicyConfiguration<Self>) -> Void] { get }
    /// The algorithm's keys renamed since checkpoints were first written: old name → new name
    /// (SWFP's `tau` → `jko_step`). Checkpoints that store an old name load with it migrated; a new
    /// configuration that uses it is refused, naming the new one. The schema publishes them
    /// (`"renamed_keys"`).
    static var renamedKeys: [String: String] { get }
}

extension AlgorithmOptions {
    /// No adjustment: the groups' defaults.
    public static func adjustDefaults(_ configuration: inout OffPolicyConfiguration<Self>) {}
    /// No following keys.
    public static var followingKeys: [String: String] { [:] }
    /// No presets.
    public static var presets: [String: (inout OffPolicyConfiguration<Self>) -> Void] { [:] }
    /// No renamed keys.
    public static var renamedKeys: [String: String] { [:] }
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
    /// The algorithm's renamed keys.
    public static var renamedKeys: [String: String] { Options.renamedKeys }
    /// The keys of the groups the algorithm uses that are marked `settable` (the learning rates).
    public static var settableKeys: Set<String> { Set(keyTable.filter { $0.key.settable }.map { $0.key.name }) }
    /// The legacy values the keys of the groups the algorithm uses declare (`ConfigKey.addedLater`).
    public static var legacyValues: [String: JSONValue] {
        Dictionary(uniqueKeysWithValues: keyTable.compactMap { entry in entry.key.legacyValue.map { (entry.key.name, $0) } })
    }

    /// The keys the algorithm's preset `name` changes, with their values (JSON, as the
    /// configuration encodes them), or nil for an unknown name.
    public static func presetValues(_ name: String) -> [String: JSONValue]? {
        guard let apply = Options.presets[name] else { return nil }
        var configuration = Self()
        apply(&configuration)
        guard case .object(let values) = configuration.jsonValue(), case .object(let defaults) = Self().jsonValue() else { return nil }
        return values.filter { defaults[$0.key] != $0.value }
    }

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

    /// Each group's checks, then the algorithm's: an algorithm key that follows a group's key
    /// (SWFP's `actor_batch_size` follows `batch_size`) takes a bad value from it, and the error
    /// must name the key the user typed.
    public func validate() throws {
        try common.validate()
        try replay.validate()
        let groups = Options.groups
        if groups.contains(.critic) { try critic.validate() }
        if groups.contains(.temperature) { try temperature.validate() }
        if groups.contains(.trainingLoop) { try trainingLoop.validate() }
        try options.validate()
    }

    /// The memory of an agent of this configuration: the algorithm's own part (`actor`: its
    /// networks, their optimiser state and workspace) plus the shared parts the groups imply.
    public func memoryEstimate(actor: MemoryEstimate, observationSize: Int, actionSize: Int) -> MemoryEstimate {
        var estimate = actor
        if Options.groups.contains(.critic) {
            estimate.addSoftCritic(observationSize: observationSize, actionSize: actionSize, hiddenSizes: critic.hiddenSizes,
                                   layerNorm: critic.criticLayerNorm, batchSize: replay.batchSize)
        }
        if Options.groups.contains(.temperature) { estimate.addTemperature(temperature.alpha) }
        estimate.addReplay(capacity: replay.bufferSize, batchSize: replay.batchSize, observationSize: observationSize,
                           actionSize: actionSize)
        return estimate
    }
}
