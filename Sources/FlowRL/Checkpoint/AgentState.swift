/// Everything an agent needs to resume exactly where it was: named tensors (parameters,
/// optimiser moments, replay buffer) and named 64-bit integers (counters, random state).
///
/// Capturing is cheap: tensors are copy-on-write, so a captured state shares storage with the
/// live agent until the agent changes, and the optimisers and target updates then write new
/// storage (`Tensor.rewrite`) instead of copying the old. The same structure serves checkpoints
/// and the roll-back of an update that produced a non-finite value.
public struct AgentState: Equatable {
    public var tensors: [String: Tensor] = [:]
    public var integers: [String: UInt64] = [:]

    public init() {}

    /// Adds every parameter of `layer` under `prefix + "." + parameter.name`.
    public mutating func capture(_ layer: some Layer, as prefix: String) {
        for (index, parameter) in layer.parameters.enumerated() { tensors["\(prefix).\(index).\(parameter.name)"] = parameter.value }
    }

    /// Adds the step count and both moment estimates of `optimizer`.
    public mutating func capture(_ optimizer: Adam, as prefix: String) {
        integers["\(prefix).step"] = UInt64(optimizer.step)
        for index in optimizer.parameters.indices {
            tensors["\(prefix).m.\(index)"] = optimizer.firstMoments[index]
            tensors["\(prefix).v.\(index)"] = optimizer.secondMoments[index]
        }
    }

    /// Adds the full state of a random generator.
    public mutating func capture(_ generator: RandomGenerator, as prefix: String) {
        for (index, word) in generator.savedState.enumerated() { integers["\(prefix).\(index)"] = word }
    }

    /// Adds the stored transitions and write position of a replay buffer.
    public mutating func capture(_ buffer: ReplayBuffer, as prefix: String) {
        let stored = buffer.storedTransitions()
        tensors["\(prefix).observations"] = stored.observations
        tensors["\(prefix).actions"] = stored.actions
        tensors["\(prefix).rewards"] = stored.rewards
        tensors["\(prefix).next_observations"] = stored.nextObservations
        tensors["\(prefix).terminated"] = stored.terminated
        if let particles = stored.particles {
            tensors["\(prefix).particles"] = particles.chains
            tensors["\(prefix).particles_present"] = particles.present
        }
        integers["\(prefix).next_index"] = UInt64(buffer.nextIndex)
    }

    // MARK: Reading back. Each `values` call checks everything before the caller changes anything.

    func tensor(_ key: String, rows: Int, cols: Int) throws -> Tensor {
        guard let tensor = tensors[key] else { throw FlowRLError.io("checkpoint: missing tensor '\(key)'") }
        guard tensor.rows == rows, tensor.cols == cols else {
            throw FlowRLError.io("checkpoint: tensor '\(key)' is [\(tensor.rows), \(tensor.cols)], expected [\(rows), \(cols)]")
        }
        return tensor
    }

    func integer(_ key: String) throws -> UInt64 {
        guard let value = integers[key] else { throw FlowRLError.io("checkpoint: missing integer '\(key)'") }
        return value
    }

    /// A counter stored under `key`, at most `TrainingCounters.limit` (so later increments cannot overflow).
    public func counter(_ key: String) throws -> Int {
        let value = try integer(key)
        guard value <= UInt64(TrainingCounters.limit) else {
            throw FlowRLError.io("checkpoint: counter '\(key)' is \(value), above the limit 2^53 = \(TrainingCounters.limit)")
        }
        return Int(value)
    }

    /// The parameter values stored for `layer`, shape-checked, in the layer's order.
    public func parameterValues(for layer: some Layer, as prefix: String) throws -> [Tensor] {
        try layer.parameters.enumerated().map { index, parameter in
            let value = try tensor("\(prefix).\(index).\(parameter.name)", rows: parameter.value.rows, cols: parameter.value.cols)
            guard value.isFinite else { throw FlowRLError.io("checkpoint: tensor '\(prefix).\(index).\(parameter.name)' is not finite") }
            return value
        }
    }

    /// The optimiser state stored for `optimizer`, shape- and range-checked (see `Adam.checkState`).
    public func optimizerValues(for optimizer: Adam, as prefix: String) throws -> (step: Int, first: [Tensor], second: [Tensor]) {
        let step = try integer("\(prefix).step")
        var first: [Tensor] = [], second: [Tensor] = []
        for (index, parameter) in optimizer.parameters.enumerated() {
            first.append(try tensor("\(prefix).m.\(index)", rows: parameter.value.rows, cols: parameter.value.cols))
            second.append(try tensor("\(prefix).v.\(index)", rows: parameter.value.rows, cols: parameter.value.cols))
        }
        if let problem = Adam.checkState(step: step, firstMoments: first, secondMoments: second, names: (
            step: "\(prefix).step", first: { "\(prefix).m.\($0)" }, second: { "\(prefix).v.\($0)" })) {
            throw FlowRLError.io("checkpoint: \(problem)")
        }
        return (Int(step), first, second)
    }

    /// The random generator stored under `prefix`.
    public func generator(as prefix: String) throws -> RandomGenerator {
        let words = try (0..<6).map { try integer("\(prefix).\($0)") }
        guard let generator = RandomGenerator(savedState: words) else { throw FlowRLError.io("checkpoint: invalid random state '\(prefix)'") }
        return generator
    }

    /// The replay-buffer contents stored under `prefix`, or nil when the checkpoint has none; with
    /// the particle chains when it holds them (both tensors, or neither).
    public func bufferContents(as prefix: String) -> (Transitions, nextIndex: Int)? {
        guard let observations = tensors["\(prefix).observations"], let actions = tensors["\(prefix).actions"],
              let rewards = tensors["\(prefix).rewards"], let next = tensors["\(prefix).next_observations"],
              let terminated = tensors["\(prefix).terminated"], let nextIndex = integers["\(prefix).next_index"],
              nextIndex <= UInt64(Int.max) else { return nil }
        let (chains, present) = (tensors["\(prefix).particles"], tensors["\(prefix).particles_present"])
        // One of the two alone is a damaged file: pair it with an empty tensor so validation refuses it.
        let particles = chains == nil && present == nil ? nil
            : StoredParticles(chains: chains ?? Tensor(rows: 0, cols: 0), present: present ?? Tensor(rows: 0, cols: 0))
        return (Transitions(observations: observations, actions: actions, rewards: rewards, nextObservations: next,
                            terminated: terminated, particles: particles), Int(nextIndex))
    }
}

// MARK: Check first, change after

extension AgentState {
    /// Checks `layer`'s stored parameters now; the returned closure assigns them.
    public func restorer(for layer: some Layer, as prefix: String) throws -> () -> Void {
        let values = try parameterValues(for: layer, as: prefix)
        return { layer.assignParameters(values) }
    }

    /// Checks `optimizer`'s stored moments and step now; the returned closure sets them.
    public func restorer(for optimizer: Adam, as prefix: String) throws -> () -> Void {
        let (step, first, second) = try optimizerValues(for: optimizer, as: prefix)
        return { optimizer.assign(step: step, firstMoments: first, secondMoments: second) }
    }

    /// Checks the stored replay buffer now (if the state has one); the closure restores it.
    public func restorer(for buffer: ReplayBuffer, as prefix: String) throws -> () -> Void {
        guard let (stored, nextIndex) = bufferContents(as: prefix) else { return {} }
        try buffer.validateRestore(stored, nextIndex: nextIndex)
        return { buffer.restore(stored, nextIndex: nextIndex) }
    }
}

extension Layer {
    /// Sets the parameter values (already shape-checked by `AgentState.parameterValues`).
    public func assignParameters(_ values: [Tensor]) {
        for (parameter, value) in zip(parameters, values) { parameter.value = value }
    }
}
