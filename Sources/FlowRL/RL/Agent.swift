/// An RL algorithm as the rest of flowrl sees it. Inputs arrive already checked by
/// `ManagedAgent` (shapes match, values finite, actions in [-1, 1]), so implementations hold
/// only their own maths.
public protocol Agent: AnyObject {
    /// The name used to create it (`"flow_bc"`, `"swfp"`, …).
    static var algorithm: String { get }
    /// What it is, in one line (the schema's and Python's docstring's first line).
    static var summary: String { get }
    /// Its configuration's schema: every key with its group, type, default, range or choices and
    /// description (see `flowrl_algorithm_schema` in include/flowrl.h).
    static func configurationSchema() -> JSONValue
    /// Creates an agent from a configuration JSON (see `AgentConfiguration.decode`).
    init(configurationJSON: String?, observationSize: Int, actionSize: Int) throws
    /// The memory an agent of this configuration needs, computed without allocating it (the
    /// configuration is decoded and validated as `init` does).
    static func memoryEstimate(configurationJSON: String?, observationSize: Int, actionSize: Int) throws -> MemoryEstimate

    var observationSize: Int { get }
    var actionSize: Int { get }
    /// The full configuration in use, defaults included, as JSON (stored in checkpoints).
    var configurationJSON: String { get }
    /// Changes the keys a live agent may change (the schema's `"settable"` keys: the learning
    /// rates), given as a JSON object; every value is checked as a new configuration's before any
    /// changes, so a refused call changes nothing. Other keys are refused by name.
    func setConfiguration(json: String) throws
    /// A configuration read from a checkpoint, with keys renamed since it was written given their
    /// new names and keys added since given their legacy values, so that it decodes to what it
    /// meant when it was written (`AgentConfiguration.migrated`).
    static func migratedConfiguration(json: String) -> String
    /// Progress counters reported by `info` (updates, transitions seen, …).
    var counters: [String: Int] { get }
    /// Transitions currently in the replay buffer (update needs at least one).
    var storedTransitionCount: Int { get }

    /// Actions in [-1, 1] for `[n, observationSize]` observations.
    func act(observations: Tensor, deterministic: Bool) -> Tensor
    /// Stores transitions in the replay buffer.
    func observe(_ transitions: Transitions)
    /// `gradientSteps` updates; returns metrics averaged over them.
    func update(gradientSteps: Int) -> [String: Double]
    /// Flow-matching pretraining on demonstrations for `steps` minibatch updates.
    func pretrain(observations: Tensor, actions: Tensor, steps: Int) -> [String: Double]
    /// After pretraining on whole transitions: stores them in the replay buffer and prepares
    /// fine-tuning (α, critic warm-up); returns metrics and a closure that takes the transitions
    /// back out of the buffer (for a call that must be undone).
    func storeDemonstrations(_ transitions: Transitions) -> (metrics: [String: Double], rewind: () -> Void)
    /// Critic-only updates `storeDemonstrations` runs (nil: no critic).
    var criticWarmupSteps: Int? { get }
    /// Replaces the random generator's stream.
    func reseed(_ seed: UInt64)
    /// The random generator `act` draws from (saved and put back by a call that fails).
    var generator: RandomGenerator { get set }

    /// Everything needed to resume; the replay buffer only when asked (it can be large).
    func captureState(includeReplayBuffer: Bool) -> AgentState
    /// Restores a captured state. Checks every entry first, so a bad state changes nothing.
    func restoreState(_ state: AgentState) throws
    /// Every trainable parameter, for the finiteness check after updates.
    var allParameters: [Parameter] { get }
    /// The squashed particles `tanh(x₀) … tanh(x_N)` of the policy's sampling chain, or nil for an
    /// algorithm without one.
    func particleChain(observations: Tensor, deterministic: Bool) -> [Tensor]?
}

extension Agent {
    /// None: a registered algorithm gives one (ConfigurationSchemaTests checks).
    public static var summary: String { "" }

    public func particleChain(observations: Tensor, deterministic: Bool) -> [Tensor]? { nil }
}


/// The algorithms flowrl can create by name.
public enum AgentRegistry {
    /// Every algorithm type, in the order `names` lists them.
    public static var types: [any Agent.Type] { [FlowBehaviorCloning.self, SWFP.self, SAC.self, SACFlow.self, RLDT.self] }

    /// The algorithm names.
    public static var names: [String] { types.map { $0.algorithm } }

    /// The configuration schema of `algorithm` (`Agent.configurationSchema`).
    public static func schema(algorithm: String) throws -> JSONValue {
        try type(named: algorithm).configurationSchema()
    }

    /// A new agent running `algorithm`, refused before any allocation if the process cannot hold it.
    public static func make(algorithm: String, configurationJSON: String?, observationSize: Int, actionSize: Int) throws -> any Agent {
        let (type, estimate) = try estimate(algorithm: algorithm, configurationJSON: configurationJSON,
                                            observationSize: observationSize, actionSize: actionSize)
        try MemoryBudget.check(estimate, algorithm: algorithm)
        return try type.init(configurationJSON: configurationJSON, observationSize: observationSize, actionSize: actionSize)
    }

    /// The type running `algorithm` and its memory estimate, with the name, sizes and configuration
    /// checked; nothing is allocated.
    public static func estimate(algorithm: String, configurationJSON: String?, observationSize: Int,
                                actionSize: Int) throws -> (any Agent.Type, MemoryEstimate) {
        let type = try type(named: algorithm)
        guard (1...1_000_000).contains(observationSize) else {
            throw FlowRLError.invalidArgument("observation_size must be in [1, 1000000], got \(observationSize)")
        }
        guard (1...10_000).contains(actionSize) else {
            throw FlowRLError.invalidArgument("action_size must be in [1, 10000], got \(actionSize)")
        }
        return (type, try type.memoryEstimate(configurationJSON: configurationJSON, observationSize: observationSize, actionSize: actionSize))
    }

    /// The type running `algorithm`; an unknown name is an error listing the known ones.
    static func type(named algorithm: String) throws -> any Agent.Type {
        guard let type = types.first(where: { $0.algorithm == algorithm }) else {
            throw FlowRLError.invalidArgument("unknown algorithm '\(algorithm)'; available: \(names.joined(separator: ", "))")
        }
        return type
    }
}
