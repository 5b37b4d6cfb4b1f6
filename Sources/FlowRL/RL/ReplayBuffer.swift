/// A batch of transitions `(s, a, r, s', terminated)`, row-aligned.
public struct Transitions {
    /// `[count, observationSize]`
    public var observations: Tensor
    /// `[count, actionSize]`, in [-1, 1].
    public var actions: Tensor
    /// `[count, 1]`
    public var rewards: Tensor
    /// `[count, observationSize]`
    public var nextObservations: Tensor
    /// `[count, 1]`: 1 for a true termination, 0 otherwise (time-limit truncation included).
    public var terminated: Tensor
    /// Each transition's particle chain of the acting policy at collection time, where the agent
    /// keeps one (SWFP's `old_particles = "stored"`); nil otherwise.
    public var particles: StoredParticles?

    public var count: Int { observations.rows }

    public init(observations: Tensor, actions: Tensor, rewards: Tensor, nextObservations: Tensor, terminated: Tensor,
                particles: StoredParticles? = nil) {
        self.observations = observations
        self.actions = actions
        self.rewards = rewards
        self.nextObservations = nextObservations
        self.terminated = terminated
        self.particles = particles
    }

    /// Checks shapes against the sizes and that every value is finite (actions also in [-1, 1],
    /// flags 0 or 1), so a bad batch is refused before anything is stored.
    public func validate(observationSize: Int, actionSize: Int) throws {
        let n = count
        func expect(_ tensor: Tensor, _ cols: Int, _ name: String) throws {
            guard tensor.rows == n, tensor.cols == cols else {
                throw FlowRLError.invalidArgument("\(name) has shape [\(tensor.rows), \(tensor.cols)], expected [\(n), \(cols)]")
            }
            guard tensor.isFinite else { throw FlowRLError.invalidArgument("\(name) contains NaN or Inf") }
        }
        try expect(observations, observationSize, "observations")
        try expect(actions, actionSize, "actions")
        try expect(rewards, 1, "rewards")
        try expect(nextObservations, observationSize, "next_observations")
        try expect(terminated, 1, "terminated")
        if let bad = actions.scalars.first(where: { abs($0) > 1 }) {
            throw FlowRLError.invalidArgument("actions must lie in [-1, 1] (flowrl's normalised action space); found \(bad)")
        }
        guard terminated.scalars.allSatisfy({ $0 == 0 || $0 == 1 }) else {
            throw FlowRLError.invalidArgument("terminated flags must be 0 or 1")
        }
    }
}

/// The pre-squash particle chains `x₀ … x_N` stored with transitions (SWFP, `old_particles =
/// "stored"`; docs/algorithms.md, "SWFP: stored particles"): one row per transition, the N + 1
/// particles side by side (`[count, (N + 1) · d]`, particle n in columns `n·d ..< (n+1)·d`), and
/// a flag per row: 1 where the chain is known, 0 where it is not (a transition observed without
/// one, such as a demonstration; its particles are then zero and the learner recomputes them).
public struct StoredParticles: Equatable {
    /// `[count, width]`
    public var chains: Tensor
    /// `[count, 1]`, 1 or 0.
    public var present: Tensor

    public init(chains: Tensor, present: Tensor) {
        self.chains = chains
        self.present = present
    }

    /// `count` absent chains of `width` floats.
    public init(absent count: Int, width: Int) {
        self.init(chains: Tensor(rows: count, cols: width), present: Tensor(rows: count, cols: 1))
    }

    /// The rows whose chain is known.
    public var presentRows: [Int] { (0..<present.rows).filter { present.scalars[$0] == 1 } }

    /// Checks the shape (`count` rows of `width`), that every value is finite and every flag 0 or
    /// 1, naming `what` in the message.
    public func validate(count: Int, width: Int, what: String) throws {
        guard chains.rows == count, chains.cols == width, present.rows == count, present.cols == 1 else {
            throw FlowRLError.invalidArgument("\(what): particles [\(chains.rows), \(chains.cols)] and flags [\(present.rows), \(present.cols)] "
                                              + "do not match \(count) transitions of \(width) floats")
        }
        guard chains.isFinite else { throw FlowRLError.invalidArgument("\(what): particles contain NaN or Inf") }
        guard present.scalars.allSatisfy({ $0 == 0 || $0 == 1 }) else {
            throw FlowRLError.invalidArgument("\(what): particle flags must be 0 or 1")
        }
    }
}

/// A fixed-capacity ring of transitions, overwriting the oldest when full.
///
/// Storage is one preallocated block of `capacity × (2·observationSize + actionSize + 2)` floats
/// (observations, actions, rewards, next observations, flags), plus `particleWidth + 1` per
/// transition when it stores particle chains (`StoredParticles`); pages the buffer has not reached
/// yet are never touched, so a large capacity costs address space, not memory, until it fills.
/// The block comes from `malloc`, so when even the address space is short the initialiser throws
/// instead of aborting the process (it is the largest allocation a configuration asks for).
public final class ReplayBuffer {
    public let capacity: Int
    public let observationSize: Int
    public let actionSize: Int
    /// Floats of a stored particle chain per transition, or 0 for a buffer without them.
    public let particleWidth: Int
    /// Number of stored transitions (at most `capacity`).
    public private(set) var count = 0
    /// Slot the next transition goes to.
    public private(set) var nextIndex = 0

    private let storage: UnsafeMutablePointer<Float>
    private let observations: UnsafeMutablePointer<Float>
    private let actions: UnsafeMutablePointer<Float>
    private let rewards: UnsafeMutablePointer<Float>
    private let nextObservations: UnsafeMutablePointer<Float>
    private let terminated: UnsafeMutablePointer<Float>
    private let chains: UnsafeMutablePointer<Float>
    private let chainPresent: UnsafeMutablePointer<Float>

    /// Throws `FlowRLError.invalidArgument` for sizes that are not positive or storage larger than
    /// the machine's memory (see `checkCapacity`). With `particleWidth` > 0 every transition also
    /// keeps a particle chain of that many floats and its flag (`StoredParticles`).
    public init(capacity: Int, observationSize: Int, actionSize: Int, particleWidth: Int = 0) throws {
        guard capacity > 0, observationSize > 0, actionSize > 0, particleWidth >= 0 else {
            throw FlowRLError.invalidArgument("replay buffer sizes must be positive (capacity \(capacity))")
        }
        try ReplayBuffer.checkCapacity(capacity, observationSize: observationSize, actionSize: actionSize, particleWidth: particleWidth)
        let bytes = capacity * Self.floatsPerTransition(observationSize, actionSize, particleWidth) * MemoryLayout<Float>.size
        guard let raw = malloc(bytes) else {
            throw FlowRLError.invalidArgument("buffer_size \(capacity): cannot allocate \(bytes / 1_048_576) MiB of replay storage")
        }
        self.capacity = capacity
        self.observationSize = observationSize
        self.actionSize = actionSize
        self.particleWidth = particleWidth
        storage = raw.bindMemory(to: Float.self, capacity: bytes / MemoryLayout<Float>.size)
        observations = storage
        actions = observations + capacity * observationSize
        rewards = actions + capacity * actionSize
        nextObservations = rewards + capacity
        terminated = nextObservations + capacity * observationSize
        chains = terminated + capacity
        chainPresent = chains + capacity * particleWidth
    }

    deinit { free(storage) }

    /// Floats one transition occupies: observation, action, reward, next observation, flag, and
    /// with particles the chain and its flag.
    static func floatsPerTransition(_ observationSize: Int, _ actionSize: Int, _ particleWidth: Int) -> Int {
        2 * observationSize + actionSize + 2 + (particleWidth > 0 ? particleWidth + 1 : 0)
    }

    /// Refuses a capacity whose storage exceeds the machine's physical memory: such a buffer
    /// could not fill, and allocating it could fail outright.
    public static func checkCapacity(_ capacity: Int, observationSize: Int, actionSize: Int, particleWidth: Int = 0) throws {
        let floatsPerTransition = floatsPerTransition(observationSize, actionSize, particleWidth)
        let (floats, overflow) = capacity.multipliedReportingOverflow(by: floatsPerTransition)
        let physical = Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
        guard !overflow, floats <= Int.max / 4, physical <= 0 || floats * 4 <= physical else {
            throw FlowRLError.invalidArgument("buffer_size \(capacity) needs \(overflow ? "more than Int.max" : "\(floats / 262_144) MiB of") "
                + "replay storage (\(floatsPerTransition) floats per transition), more than this machine's memory")
        }
    }

    /// Bytes of transition data the buffer holds when full.
    public var rawBytes: Int { capacity * Self.floatsPerTransition(observationSize, actionSize, particleWidth) * MemoryLayout<Float>.size }

    /// Appends a validated batch (see `Transitions.validate`), overwriting the oldest entries when
    /// full. A buffer with particles stores the batch's (absent, flag 0, when it has none).
    public func add(_ batch: Transitions) {
        for row in 0..<batch.count {
            write(batch, row, to: nextIndex)
            nextIndex = (nextIndex + 1) % capacity
            count = min(count + 1, capacity)
        }
    }

    /// Row `row` of `batch` into `slot`.
    private func write(_ batch: Transitions, _ row: Int, to slot: Int) {
        copyRow(batch.observations, row, into: observations, slot, observationSize)
        copyRow(batch.actions, row, into: actions, slot, actionSize)
        rewards[slot] = batch.rewards.scalars[row]
        copyRow(batch.nextObservations, row, into: nextObservations, slot, observationSize)
        terminated[slot] = batch.terminated.scalars[row]
        guard particleWidth > 0 else { return }
        if let particles = batch.particles {
            copyRow(particles.chains, row, into: chains, slot, particleWidth)
            chainPresent[slot] = particles.present.scalars[row]
        } else {
            (chains + slot * particleWidth).update(repeating: 0, count: particleWidth)
            chainPresent[slot] = 0
        }
    }

    /// What `rewind(to:)` needs to undo the next `add` of `incoming` transitions: the write
    /// position, the count and the rows that add will overwrite (at most `incoming` rows, so the
    /// mark costs no more than the batch it guards).
    public struct Mark {
        let count: Int
        let nextIndex: Int
        let overwrittenSlots: [Int]
        let overwritten: Transitions
    }

    /// A mark taken before adding `incoming` transitions.
    public func mark(beforeAdding incoming: Int) -> Mark {
        let slots = (0..<min(incoming, capacity)).map { (nextIndex + $0) % capacity }.filter { $0 < count }
        return Mark(count: count, nextIndex: nextIndex, overwrittenSlots: slots, overwritten: gather(slots))
    }

    /// Puts back the contents and position of `mark` (taken just before the last `add`).
    public func rewind(to mark: Mark) {
        for (row, slot) in mark.overwrittenSlots.enumerated() { write(mark.overwritten, row, to: slot) }
        (count, nextIndex) = (mark.count, mark.nextIndex)
    }

    private func copyRow(_ source: Tensor, _ row: Int, into target: UnsafeMutablePointer<Float>, _ slot: Int, _ width: Int) {
        source.scalars.withUnsafeBufferPointer { s in
            (target + slot * width).update(from: s.baseAddress! + row * width, count: width)
        }
    }

    /// `batchSize` transitions drawn uniformly with replacement. The buffer must not be empty.
    public func sample(_ batchSize: Int, generator: inout RandomGenerator) -> Transitions {
        precondition(count > 0, "ReplayBuffer.sample: the buffer is empty")
        let indices = (0..<batchSize).map { _ in Int(generator.next() % UInt64(count)) }
        return gather(indices)
    }

    /// The transitions at `indices` (each in `0..<count`), in that order.
    public func gather(_ indices: [Int]) -> Transitions {
        func rows(_ source: UnsafeMutablePointer<Float>, _ width: Int) -> Tensor {
            Tensor(gatheringRows: indices, of: source, cols: width)
        }
        return Transitions(observations: rows(observations, observationSize), actions: rows(actions, actionSize),
                           rewards: rows(rewards, 1), nextObservations: rows(nextObservations, observationSize),
                           terminated: rows(terminated, 1),
                           particles: particleWidth > 0 ? StoredParticles(chains: rows(chains, particleWidth), present: rows(chainPresent, 1)) : nil)
    }

    /// The stored transitions in slot order, for checkpoints.
    public func storedTransitions() -> Transitions { gather(Array(0..<count)) }

    /// Checks that `stored` (slot order) and `nextIndex` fit this buffer, without changing it.
    public func validateRestore(_ stored: Transitions, nextIndex: Int) throws {
        guard stored.count <= capacity, nextIndex >= 0, nextIndex < capacity,
              stored.count == capacity || nextIndex == stored.count % capacity else {
            throw FlowRLError.io("replay buffer: \(stored.count) entries and next index \(nextIndex) do not fit capacity \(capacity)")
        }
        do {
            try stored.validate(observationSize: observationSize, actionSize: actionSize)
            if particleWidth > 0 {
                guard let particles = stored.particles else {
                    throw FlowRLError.invalidArgument("the particle chains the agent stores with each transition are missing")
                }
                try particles.validate(count: stored.count, width: particleWidth, what: "stored chains")
            } else if stored.particles != nil {
                throw FlowRLError.invalidArgument("it holds particle chains, which this agent does not store")
            }
        } catch let error as FlowRLError {
            throw FlowRLError.io("replay buffer in checkpoint: \(error.description)")
        }
    }

    /// Replaces the contents with `stored` and the write position (checked by `validateRestore`).
    public func restore(_ stored: Transitions, nextIndex: Int) {
        count = 0
        self.nextIndex = 0
        if stored.count > 0 { add(stored) }
        self.nextIndex = nextIndex
    }
}
