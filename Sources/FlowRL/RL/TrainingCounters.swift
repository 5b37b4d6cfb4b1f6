/// The progress counters every agent keeps: reported by `info`, saved in checkpoints, read by the
/// Python training loop (`updates`, `transitions_seen`).
public struct TrainingCounters: Equatable, Sendable {
    /// Gradient updates (critic updates for actor-critic agents).
    public var updates = 0
    /// Actor updates (fewer than `updates` with a policy delay).
    public var actorUpdates = 0
    public var pretrainSteps = 0
    public var transitionsSeen = 0

    /// The largest value any counter (and any optimiser's step count) may hold: 2⁵³, beyond any
    /// real run (a billion updates a second for 104 days) and exact as a double in JSON and
    /// Python. A checkpoint above it is refused, and `ManagedAgent` refuses a call that would pass
    /// it, so no increment can overflow and every counter flowrl writes reads back.
    public static let limit = 1 << 53

    public init() {}

    /// By their JSON names.
    public var dictionary: [String: Int] {
        ["updates": updates, "actor_updates": actorUpdates, "pretrain_steps": pretrainSteps, "transitions_seen": transitionsSeen]
    }

    public func capture(into state: inout AgentState) {
        for (key, value) in dictionary { state.integers["counters.\(key)"] = UInt64(value) }
    }

    /// The counters stored in `state`.
    public init(from state: AgentState) throws {
        updates = try state.counter("counters.updates")
        actorUpdates = try state.counter("counters.actor_updates")
        pretrainSteps = try state.counter("counters.pretrain_steps")
        transitionsSeen = try state.counter("counters.transitions_seen")
    }
}
