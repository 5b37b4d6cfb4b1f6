/// An agent that acts with a `FlowPolicy` and stores transitions in a `ReplayBuffer`: the acting,
/// storing and reseeding every such algorithm shares, written once.
public protocol FlowPolicyAgent: Agent {
    /// The policy that acts.
    var policy: FlowPolicy { get }
    var buffer: ReplayBuffer { get }
    var generator: RandomGenerator { get set }
    var progress: TrainingCounters { get set }
}

extension FlowPolicyAgent {
    public var storedTransitionCount: Int { buffer.count }
    public var counters: [String: Int] { progress.dictionary }

    public func act(observations: Tensor, deterministic: Bool) -> Tensor {
        policy.sample(observations: observations, deterministic: deterministic, generator: &generator)
    }

    public func particleChain(observations: Tensor, deterministic: Bool) -> [Tensor]? {
        let noise = policy.noise(rows: observations.rows, deterministic: deterministic, generator: &generator)
        return policy.chain(observations: observations, noise: noise).map { $0.map(Elementwise.Tanh.self) }
    }

    public func observe(_ transitions: Transitions) {
        buffer.add(transitions)
        progress.transitionsSeen += transitions.count
    }

    public func reseed(_ seed: UInt64) { generator = RandomGenerator(seed: seed) }
}
