
/// An agent behind checks: every input is validated before the agent sees it, updates are
/// all-or-nothing, and checkpoints round-trip. This is the surface the C ABI exposes; each
/// method either succeeds or throws a `FlowRLError` having changed nothing.
public final class ManagedAgent {
    public let agent: any Agent
    /// A JSON object the caller attaches to the agent; saved in checkpoints and shown by `info`.
    public private(set) var metadataJSON = "{}"

    public init(_ agent: any Agent) {
        self.agent = agent
    }

    /// Replaces the metadata with `json`, which must be a JSON object.
    public func setMetadata(_ json: String) throws {
        guard case .object = try? JSONValue.parse(json) else {
            throw FlowRLError.invalidArgument("metadata must be a JSON object, got: \(json.prefix(200))")
        }
        metadataJSON = json
    }

    /// A new agent running `algorithm` (see `AgentRegistry.make`).
    public convenience init(algorithm: String, configurationJSON: String?, observationSize: Int, actionSize: Int) throws {
        self.init(try AgentRegistry.make(algorithm: algorithm, configurationJSON: configurationJSON,
                                         observationSize: observationSize, actionSize: actionSize))
    }

    /// An agent restored from a decoded checkpoint.
    public convenience init(checkpoint: Checkpoint) throws {
        let agent: any Agent
        do {
            // Keys renamed since the file was written take their new names (SWFP's `tau` is `jko_step`),
            // and keys added since their legacy values, not today's defaults (`ConfigKey.legacyValue`).
            let configurationJSON = try AgentRegistry.type(named: checkpoint.algorithm).migratedConfiguration(json: checkpoint.configurationJSON)
            // The sizes and configuration come from the file: check that it really holds an agent
            // that large before allocating one (a small file must not claim a huge agent).
            let (_, estimate) = try AgentRegistry.estimate(algorithm: checkpoint.algorithm, configurationJSON: configurationJSON,
                                                           observationSize: checkpoint.observationSize, actionSize: checkpoint.actionSize)
            let stored = checkpoint.state.tensors.values.reduce(0.0) { $0 + Double($1.count) }
            guard stored >= estimate.checkpointFloats else {
                throw FlowRLError.io("the file holds \(Int(stored)) floats, but its observation size \(checkpoint.observationSize), "
                                     + "action size \(checkpoint.actionSize) and configuration describe \(Int(estimate.checkpointFloats)) "
                                     + "parameters and optimiser moments")
            }
            agent = try AgentRegistry.make(algorithm: checkpoint.algorithm, configurationJSON: configurationJSON,
                                           observationSize: checkpoint.observationSize, actionSize: checkpoint.actionSize)
        } catch let error as FlowRLError {
            throw FlowRLError.io("checkpoint does not describe a valid agent: \(error.description)")
        }
        try agent.restoreState(checkpoint.state)
        self.init(agent)
        do {
            try setMetadata(checkpoint.metadataJSON)
        } catch let error as FlowRLError {
            throw FlowRLError.io("checkpoint: \(error.description)")
        }
    }

    public var observationSize: Int { agent.observationSize }
    /// The algorithm's name.
    public var algorithm: String { type(of: agent).algorithm }
    public var actionSize: Int { agent.actionSize }

    // MARK: Checked calls

    /// Calls to `act` and the time spent computing them (reported by `info`, so callers can tell
    /// the core's share of an act call from their own overhead).
    public private(set) var actCalls = 0
    public private(set) var actDuration = Duration.zero

    /// Actions in [-1, 1] for `[n, observationSize]` finite observations (n ≥ 1).
    public func act(observations: Tensor, deterministic: Bool) throws -> Tensor {
        try Self.check(observations, cols: observationSize, name: "observations")
        let clock = ContinuousClock()
        let start = clock.now
        let actions = try finiteOutput("act", observations) { agent.act(observations: observations, deterministic: deterministic) }
        actDuration += clock.now - start
        actCalls += 1
        return actions
    }

    /// The policy's particles `tanh(x₀) … tanh(x_N)` for `[n, observationSize]` observations.
    public func particleChain(observations: Tensor, deterministic: Bool) throws -> [Tensor] {
        try Self.check(observations, cols: observationSize, name: "observations")
        var chain: [Tensor]?
        _ = try finiteOutput("particle_chain", observations) {
            chain = agent.particleChain(observations: observations, deterministic: deterministic)
            return chain?.first { !$0.isFinite } ?? Tensor(rows: 0, cols: 0)
        }
        guard let chain else { throw FlowRLError.invalidState("\(type(of: agent).algorithm) has no particle chain") }
        return chain
    }

    /// Runs a policy evaluation; if its output is not finite (finite inputs so large, or weights so
    /// large, that the network overflows Float32), puts the random generator back and throws a
    /// numerical error naming both magnitudes, so the call changes nothing.
    private func finiteOutput(_ name: String, _ observations: Tensor, _ body: () -> Tensor) throws -> Tensor {
        let generator = agent.generator
        let output = body()
        guard output.isFinite else {
            agent.generator = generator
            let largestInput = observations.scalars.lazy.map(abs).max() ?? 0
            let largestWeight = agent.allParameters.lazy.flatMap { $0.value.scalars.lazy.map(abs) }.max() ?? 0
            throw FlowRLError.numerical("\(name) produced non-finite actions: the policy network overflowed Float32 "
                                        + "(largest |observation| \(largestInput), largest |parameter| \(largestWeight)); "
                                        + "the agent is unchanged")
        }
        return output
    }

    /// Number of tensors `particleChain` returns (N + 1), or nil without a chain.
    public var chainLength: Int? {
        agent.particleChain(observations: Tensor(rows: 1, cols: observationSize), deterministic: true)?.count
    }

    /// Stores a batch after checking all of it.
    public func observe(_ transitions: Transitions) throws {
        guard transitions.count >= 1 else { throw FlowRLError.invalidArgument("observe: the batch is empty") }
        try transitions.validate(observationSize: observationSize, actionSize: actionSize)
        try checkCounterRoom(["transitions_seen"], adding: transitions.count, call: "observe")
        agent.observe(transitions)
    }

    /// `gradientSteps` updates, rolled back entirely if any produces a non-finite value.
    public func update(gradientSteps: Int) throws -> [String: Double] {
        guard (1...1_000_000).contains(gradientSteps) else {
            throw FlowRLError.invalidArgument("gradient_steps must be in [1, 1000000], got \(gradientSteps)")
        }
        guard agent.storedTransitionCount > 0 else {
            throw FlowRLError.invalidState("update: the replay buffer is empty; observe transitions first")
        }
        try checkCounterRoom(["updates", "actor_updates"], adding: gradientSteps, call: "update")
        return try allOrNothing("update") { agent.update(gradientSteps: gradientSteps) }
    }

    /// Flow-matching pretraining on demonstrations, rolled back entirely on a non-finite value.
    public func pretrain(observations: Tensor, actions: Tensor, steps: Int) throws -> [String: Double] {
        try Self.check(observations, cols: observationSize, name: "observations")
        try Self.check(actions, cols: actionSize, name: "actions")
        guard observations.rows == actions.rows else {
            throw FlowRLError.invalidArgument("pretrain: \(observations.rows) observations but \(actions.rows) actions")
        }
        if let bad = actions.scalars.first(where: { abs($0) > 1 }) {
            throw FlowRLError.invalidArgument("actions must lie in [-1, 1] (flowrl's normalised action space); found \(bad)")
        }
        guard (1...100_000_000).contains(steps) else {
            throw FlowRLError.invalidArgument("steps must be in [1, 100000000], got \(steps)")
        }
        try checkCounterRoom(["pretrain_steps"], adding: steps, call: "pretrain")
        return try allOrNothing("pretrain") { agent.pretrain(observations: observations, actions: actions, steps: steps) }
    }

    /// Pretraining on whole transitions, which are then stored in the replay buffer. Everything
    /// (the transitions included) is checked before training, so a rejected call changes nothing.
    /// The critic warm-up that follows (`Agent.storeDemonstrations`) is part of the call: if it
    /// produces a non-finite value, the pretraining is undone too and the transitions are taken
    /// back out of the buffer.
    public func pretrain(transitions: Transitions, steps: Int) throws -> [String: Double] {
        guard transitions.count >= 1 else { throw FlowRLError.invalidArgument("pretrain: the batch is empty") }
        try transitions.validate(observationSize: observationSize, actionSize: actionSize)
        try checkCounterRoom(["transitions_seen"], adding: transitions.count, call: "pretrain")
        try checkCounterRoom(["updates"], adding: agent.criticWarmupSteps ?? 0, call: "pretrain")
        let before = agent.captureState(includeReplayBuffer: false)
        var metrics = try pretrain(observations: transitions.observations, actions: transitions.actions, steps: steps)
        var rewind: (() -> Void)?
        do {
            let warmup = try allOrNothing("pretrain (critic warm-up)") {
                let stored = agent.storeDemonstrations(transitions)
                rewind = stored.rewind
                return stored.metrics
            }
            metrics.merge(warmup) { _, new in new }
        } catch {
            rewind?()
            try agent.restoreState(before)
            throw error
        }
        return metrics
    }

    public func reseed(_ seed: UInt64) { agent.reseed(seed) }

    /// Changes the settable configuration keys (the learning rates) given in the JSON object
    /// `json`; each value is checked as a new configuration's, and a refused call changes nothing
    /// (`Agent.setConfiguration`). The new values are what `info` reports and checkpoints store.
    public func setConfiguration(_ json: String) throws {
        try agent.setConfiguration(json: json)
    }

    /// Algorithm, sizes, configuration and counters as a JSON object.
    public func infoJSON() -> String {
        let configuration = (try? JSONValue.parse(agent.configurationJSON)) ?? .object([:])
        let info: JSONValue = .object([
            "algorithm": .string(type(of: agent).algorithm),
            "observation_size": .integer(Int64(observationSize)),
            "action_size": .integer(Int64(actionSize)),
            "config": configuration,
            "metadata": (try? JSONValue.parse(metadataJSON)) ?? .object([:]),
            "counters": .object(agent.counters.mapValues { .integer(Int64($0)) }),
            "replay_size": .integer(Int64(agent.storedTransitionCount)),
            "timing": .object([
                "act_calls": .integer(Int64(actCalls)),
                "act_seconds": .number(Double(actDuration.components.seconds) + Double(actDuration.components.attoseconds) * 1e-18),
            ]),
            "version": .string(FlowRLVersion.string),
        ])
        return info.text
    }

    // MARK: Checkpoints

    /// The agent as a checkpoint.
    public func checkpoint(includeReplayBuffer: Bool) -> Checkpoint {
        Checkpoint(algorithm: type(of: agent).algorithm, observationSize: observationSize, actionSize: actionSize,
                   configurationJSON: agent.configurationJSON, metadataJSON: metadataJSON,
                   state: agent.captureState(includeReplayBuffer: includeReplayBuffer))
    }

    // MARK: Helpers

    /// Refuses a call that would carry a counter past `TrainingCounters.limit` (so it cannot
    /// overflow, and the checkpoint written after it reads back).
    private func checkCounterRoom(_ names: [String], adding amount: Int, call: String) throws {
        let counters = agent.counters
        for name in names where counters[name, default: 0] > TrainingCounters.limit - amount {
            throw FlowRLError.invalidState("\(call): counter '\(name)' is \(counters[name]!); adding \(amount) would pass "
                                           + "the limit 2^53 = \(TrainingCounters.limit)")
        }
    }

    static func check(_ tensor: Tensor, cols: Int, name: String) throws {
        guard tensor.rows >= 1 else { throw FlowRLError.invalidArgument("\(name): the batch is empty") }
        guard tensor.cols == cols else {
            throw FlowRLError.invalidArgument("\(name) have \(tensor.cols) features per row, the agent expects \(cols)")
        }
        guard tensor.isFinite else { throw FlowRLError.invalidArgument("\(name) contain NaN or Inf") }
    }

    /// Runs `body`; if a metric or any tensor of the state (parameters, optimiser moments, targets)
    /// comes out non-finite, restores the state from before and throws. Every tensor is checked,
    /// not only the parameters, because loading refuses a non-finite one: an Adam second moment
    /// can overflow to infinity while the step it scales stays finite, and the agent would then
    /// save a checkpoint it cannot read. Both snapshots share storage with the live tensors
    /// (copy-on-write).
    private func allOrNothing(_ name: String, _ body: () -> [String: Double]) throws -> [String: Double] {
        let before = agent.captureState(includeReplayBuffer: false)
        let metrics = body()
        let badMetric = metrics.first { !$0.value.isFinite }
        let badTensor = badMetric == nil ? agent.captureState(includeReplayBuffer: false).tensors.first { !$0.value.isFinite } : nil
        if badMetric != nil || badTensor != nil {
            try agent.restoreState(before)
            let what = badMetric.map { "metric '\($0.key)' = \($0.value)" } ?? "tensor '\(badTensor!.key)'"
            throw FlowRLError.numerical("\(name) produced a non-finite value (\(what)); the agent was restored to its state before the call")
        }
        return metrics
    }
}

/// The library version.
public enum FlowRLVersion {
    public static let string = "0.1.0"
}
