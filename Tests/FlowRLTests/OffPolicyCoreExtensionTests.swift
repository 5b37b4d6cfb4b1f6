import FlowRL
import XCTest

/// A toy algorithm written the way RLDT (issue 13) will be: one type on the shared core that the
/// core was not changed for. Its policy is a `FlowPolicy` with a lagged reference copy, its critic
/// has no entropy term (targets averaged over fresh policy samples, given to
/// `OffPolicyCore.criticStep(on:targets:metrics:)`), its actor step reads the critic's action
/// gradients `∇_a mean_j Q_j(s, a)` through a frozen critic, and it keeps a running statistic as
/// an extra state part. The tests check that the core carries all of it: updates, counters,
/// checkpoints (reference and statistic included) and the all-or-nothing restore.
final class ReferenceFlowToy: OffPolicyAgent {
    static let algorithm = "reference_flow_toy"
    static let summary = "A toy flow policy with a lagged reference, written as RLDT will be."

    struct Options: AlgorithmOptions {
        var flowSteps = 3
        var hiddenSizes = [8]
        var targetSamples = 2
        var referenceRate: Float = 0.05
        init() {}
        static var groups: ConfigurationGroups { [.critic, .trainingLoop] }
        static var keys: [ConfigKey<Self>] {
            [.integer("flow_steps", \.flowSteps, in: 1...100, "Euler steps of the flow."),
             .layerSizes("hidden_sizes", \.hiddenSizes, "Hidden widths of the velocity MLP."),
             .integer("target_samples", \.targetSamples, in: 1...16, "Fresh policy samples per critic target."),
             .number("reference_rate", \.referenceRate, in: 0...1, "Polyak rate of the reference.")]
        }
    }

    /// A running mean of |r| (RLDT's optional reward scale), kept as a `[1, 2]` tensor (sum, count).
    final class RunningMean { var value = Tensor(rows: 1, cols: 2) }

    let configuration: OffPolicyConfiguration<Options>
    let policy: FlowPolicy, reference: FlowPolicy
    let optimizer: Adam
    let rewardScale = RunningMean()
    let core: OffPolicyCore

    init(configurationJSON: String?, observationSize: Int, actionSize: Int) throws {
        let (configuration, seeded) = try Self.start(configurationJSON)
        var generator = seeded
        func flow(_ generator: inout RandomGenerator) -> FlowPolicy {
            FlowPolicy(observationSize: observationSize, actionSize: actionSize, steps: configuration.options.flowSteps,
                       hiddenSizes: configuration.options.hiddenSizes, activation: .silu, embeddingSize: 4,
                       separateBlocks: false, generator: &generator, name: "velocity")
        }
        let policy = flow(&generator), reference = flow(&generator)
        reference.copyParameters(from: policy)
        let optimizer = Adam(parameters: policy.parameters, learningRate: configuration.common.learningRate)
        let scale = rewardScale
        let statistic = OffPolicyCore.StatePart(capture: { $0.tensors["reward_scale"] = scale.value }, restorer: { state in
            guard let value = state.tensors["reward_scale"], value.shape == [1, 2] else { throw FlowRLError.io("missing reward_scale") }
            return { scale.value = value }
        })
        self.configuration = configuration
        self.policy = policy
        self.reference = reference
        self.optimizer = optimizer
        core = try OffPolicyCore(configuration: configuration, observationSize: observationSize, actionSize: actionSize,
                                 policy: policy, networks: [("policy", policy), ("reference", reference)],
                                 optimizers: [("policy_optimizer", optimizer)], extraState: [statistic], generator: generator)
    }

    static func actorMemory(_ configuration: OffPolicyConfiguration<Options>, observationSize: Int, actionSize: Int) -> MemoryEstimate {
        MemoryEstimate()
    }

    func trainStep(_ step: OffPolicyCore.UpdateStep, metrics: inout OffPolicyCore.Metrics) {
        let (batch, critic) = (step.batch, core.softCritic!)
        rewardScale.value.scalars[0] += batch.rewards.scalars.reduce(0) { $0 + abs($1) }
        rewardScale.value.scalars[1] += Float(batch.count)
        // y = r + γ (1 − term) mean_m min_j Q̄_j(s', a'_m): no log-density.
        var next = Tensor(rows: batch.count, cols: 1)
        let samples = configuration.options.targetSamples
        for _ in 0..<samples {
            let actions = policy.sample(observations: batch.nextObservations, deterministic: false, generator: &core.generator)
            next.add(critic.target.minimumValue(observations: batch.nextObservations, actions: actions), scaledBy: 1 / Float(samples))
        }
        var targets = batch.rewards
        for row in 0..<batch.count {
            targets.scalars[row] += critic.discount * (1 - batch.terminated.scalars[row]) * next.scalars[row]
        }
        core.criticStep(on: batch, targets: targets, metrics: &metrics)
        guard step.actorTurn else { return }
        // The critic's action gradients at the policy's own actions, through the frozen critic.
        let actions = policy.sample(observations: batch.observations, deterministic: false, generator: &core.generator)
        let tape = core.tape
        tape.reset()
        tape.freeze(critic.critic)
        let a = tape.input(actions)
        let (q1, q2) = critic.critic(observations: tape.constant(batch.observations), actions: a)
        tape.backward(from: (0.5 * (q1 + q2)).mean())
        let improved = Tensor.zip(actions, tape.gradient(of: a), Elementwise.Add.self).map(Clip.self)
        // Flow matching towards the improved actions, on a fresh tape.
        tape.reset()
        let loss = policy.flowMatchingLoss(observations: batch.observations, actions: improved, tape: tape, generator: &core.generator)
        optimizer.minimize(loss, on: tape)
        reference.polyakUpdate(towards: policy, rate: configuration.options.referenceRate)
        metrics.addPerActorStep("train/actor_loss", Double(loss.value.scalar))
        metrics.countActorStep()
    }

    enum Clip: UnaryFunction { static func apply(_ x: Float) -> Float { Swift.min(Swift.max(x, -0.99), 0.99) } }

    func pretrain(observations: Tensor, actions: Tensor, steps: Int) -> [String: Double] {
        let metrics = core.pretrainFlowMatching(policy, optimizer: optimizer, observations: observations, actions: actions, steps: steps)
        reference.copyParameters(from: policy)
        return metrics
    }
}

final class OffPolicyCoreExtensionTests: XCTestCase {
    func make(seed: UInt64 = 1) throws -> ReferenceFlowToy {
        try ReferenceFlowToy(configurationJSON: #"{"critic_hidden_sizes": [8], "batch_size": 4, "buffer_size": 32, "seed": \#(seed)}"#,
                             observationSize: 3, actionSize: 2)
    }

    func testAnAlgorithmWithAReferenceAndNoEntropyRunsOnTheUnchangedCore() throws {
        let agent = try make()
        XCTAssertNil(agent.core.temperature)
        XCTAssertTrue(agent.configurationJSON.contains("\"target_samples\":2") && !agent.configurationJSON.contains("alpha"),
                      agent.configurationJSON)
        let data = AlgorithmList.transitions(16)
        _ = agent.pretrain(observations: data.observations, actions: data.actions, steps: 3)
        agent.observe(data)
        let metrics = agent.update(gradientSteps: 4)
        XCTAssertEqual(Set(metrics.keys), ["train/actor_loss", "train/critic_loss", "train/q_mean"])
        XCTAssertTrue(metrics.values.allSatisfy(\.isFinite), "\(metrics)")
        XCTAssertEqual(agent.counters, ["updates": 4, "actor_updates": 4, "pretrain_steps": 3, "transitions_seen": 16])

        // The checkpoint carries the reference and the statistic, and continues exactly.
        let state = agent.captureState(includeReplayBuffer: true)
        XCTAssertNotNil(state.tensors["reward_scale"])
        XCTAssertTrue(state.tensors.keys.contains { $0.hasPrefix("reference.") })
        let copy = try make(seed: 99)
        try copy.restoreState(state)
        XCTAssertEqual(copy.captureState(includeReplayBuffer: true), state)
        XCTAssertEqual(agent.update(gradientSteps: 3), copy.update(gradientSteps: 3))
        XCTAssertEqual(agent.captureState(includeReplayBuffer: true), copy.captureState(includeReplayBuffer: true))

        // A state without the extra part is refused before anything changes.
        var damaged = agent.captureState(includeReplayBuffer: true)
        damaged.tensors["reward_scale"] = nil
        let before = copy.captureState(includeReplayBuffer: true)
        XCTAssertThrowsError(try copy.restoreState(damaged))
        XCTAssertEqual(copy.captureState(includeReplayBuffer: true), before)
    }
}
