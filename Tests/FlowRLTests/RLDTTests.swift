import FlowRL
import XCTest
import _FlowRLTestSupport

/// RLDT: the transport field against a direct numpy computation, the gradients of each loss, the
/// expected target of a straight flow, the critic's pre-squash gradient and the critic targets
/// (its contract, determinism and checkpoints included, is `AlgorithmContractTests`; the bimodal
/// bandit it must keep both modes of is a Python test, python/tests/test_rldt.py, run on the
/// release build).
final class RLDTTests: XCTestCase {
    func smallAgent(_ extra: String = "", observationSize: Int = 2, actionSize: Int = 2) throws -> RLDT {
        try RLDT(configurationJSON: #"{"hidden_sizes": [16, 16], "critic_hidden_sizes": [16], "batch_size": 16, "buffer_size": 256\#(extra)}"#,
                 observationSize: observationSize, actionSize: actionSize)
    }

    func testTransportFieldMatchesTheNumpyReference() {
        for reference in RLDTReference.cases {
            let rows = reference.predicted.count / reference.width
            func tensor(_ values: [Float]) -> Tensor { Tensor(rows: rows, cols: reference.width, scalars: values) }
            let field = RLDTTransport.field(predicted: tensor(reference.predicted), particles: tensor(reference.particles),
                                            gradients: tensor(reference.gradients), particlesPerState: reference.particlesPerState,
                                            temperature: reference.temperature, kernel: .rbf)
            XCTAssertLessThanOrEqual(closenessRatio(field, tensor(reference.expected), atol: 1e-5, rtol: 1e-4), 1,
                                     "\(reference.name): \(field) vs \(reference.expected)")
        }
    }

    func testTheRepulsionAndTheDeltaKernel() {
        let reference = RLDTReference.cases[0]
        let rows = reference.predicted.count / reference.width
        func tensor(_ values: [Float]) -> Tensor { Tensor(rows: rows, cols: reference.width, scalars: values) }
        let (predicted, particles, gradients) = (tensor(reference.predicted), tensor(reference.particles), tensor(reference.gradients))
        // Delta kernel: the critic's gradient at each particle itself.
        XCTAssertEqual(RLDTTransport.field(predicted: predicted, particles: particles, gradients: gradients, particlesPerState: 4,
                                           temperature: 0.3, kernel: .delta), gradients)
        // With zero gradients only the repulsion is left (the gradient scale is clamped to 1e-3):
        // it points from the particles towards the predicted end.
        let zero = Tensor(rows: rows, cols: reference.width)
        let repulsion = RLDTTransport.field(predicted: predicted, particles: particles, gradients: zero, particlesPerState: 4,
                                            temperature: 1000, kernel: .rbf)
        let attraction = RLDTTransport.field(predicted: predicted, particles: particles, gradients: zero, particlesPerState: 4,
                                             temperature: 0, kernel: .rbf)
        XCTAssertEqual(attraction, zero)
        XCTAssertTrue(repulsion.scalars.contains { $0 != 0 } && repulsion.isFinite)
    }

    func testEachLossHasTheGradientsOfItsFiniteDifferences() throws {
        let agent = try smallAgent(#", "flow_steps": 3"#)
        // Move the reference away from the policy so the trust region is not at its minimum.
        var generator = RandomGenerator(seed: 5)
        let data = AlgorithmList.transitions(32)
        _ = agent.pretrain(observations: data.observations.columns(0..<2), actions: data.actions, steps: 5)
        agent.reference.polyakUpdate(towards: try RLDT(configurationJSON: #"{"hidden_sizes": [16, 16], "seed": 9}"#, observationSize: 2,
                                                   actionSize: 2).policy, rate: 0.5)
        let rows = 6
        let ends = generator.normalTensor(rows: rows, cols: 2)
        let tau = generator.uniformTensor(rows: rows, cols: 1)
        var trustPoints = generator.normalTensor(rows: rows, cols: 2)
        for row in 0..<rows { for c in 0..<2 { trustPoints[row, c] = (1 - tau[row, 0]) * trustPoints[row, c] + tau[row, 0] * ends[row, c] } }
        let inputs = RLDTActorLoss.Inputs(observations: generator.normalTensor(rows: rows, cols: 2),
                                          intermediate: generator.normalTensor(rows: rows, cols: 2),
                                          times: Tensor(rows: rows, cols: 1, scalars: [0, 1.0 / 3, 2.0 / 3, 0, 1.0 / 3, 2.0 / 3]),
                                          ends: ends, trustPoints: trustPoints, trustTimes: tau)
        let field = generator.normalTensor(rows: rows, cols: 2)
        let loss = RLDTActorLoss(policy: agent.policy, reference: agent.reference, consistencyWeight: 0.5, trustRegionWeight: 0.2)
        for (name, pick) in [("transport", 0), ("consistency", 1), ("trust region", 2)] {
            let result = GradientCheck.check(inputs: [], parameters: agent.policy.parameters) { tape, _ in
                let terms = loss.terms(inputs, loss.passes(inputs, tape: tape), field: field)
                return [terms.transport, terms.consistency, terms.trustRegion][pick]
            }
            XCTAssertTrue(result.passed, "\(name): \(result)")
            XCTAssertGreaterThan(result.entriesChecked, 0)
        }
        // The reference receives no gradient.
        XCTAssertTrue(agent.reference.parameters.allSatisfy { $0.gradient.scalars.allSatisfy { $0 == 0 } })
    }

    /// The prediction replaying the chain's own pass at each particle's intermediate step (what
    /// an actor step does) gives the floats of running the field again: chain, points, velocity,
    /// loss and every parameter's gradient, bit for bit.
    func testThePredictionReplayingTheChainsPassGivesTheSameFloats() throws {
        let agent = try smallAgent(#", "flow_steps": 4"#)
        var generator = RandomGenerator(seed: 21)
        let rows = 9
        let observations = generator.normalTensor(rows: rows, cols: 2), noise = generator.normalTensor(rows: rows, cols: 2)
        let policy = agent.policy
        let (chain, forwards) = policy.chainKeepingForwards(observations: observations, noise: noise)
        XCTAssertEqual(chain, policy.chain(observations: observations, noise: noise))
        let steps = policy.intermediateSteps(rows: rows, in: 0..<policy.steps, generator: &generator)
        let (points, times) = policy.intermediatePoints(of: chain, at: steps)
        let field = generator.normalTensor(rows: rows, cols: 2)
        let loss = RLDTActorLoss(policy: policy, reference: agent.reference, consistencyWeight: 0.5, trustRegionWeight: 0.2)
        func run(_ forward: MLP.Forward?) -> (velocity: Tensor, loss: Float, gradients: [Tensor]) {
            let inputs = RLDTActorLoss.Inputs(observations: observations, intermediate: points, times: times, ends: chain[policy.steps],
                                              trustPoints: chain[policy.steps], trustTimes: times, intermediateForward: forward)
            let tape = Tape()
            let passes = loss.passes(inputs, tape: tape)
            let terms = loss.terms(inputs, passes, field: field)
            let total = terms.transport + terms.consistency + terms.trustRegion
            policy.zeroGradients()
            tape.backward(from: total)
            return (passes.velocity.value, total.value.scalar, policy.parameters.map(\.gradient))
        }
        let replayed = run(policy.intermediateForward(of: forwards, at: steps)), recomputed = run(nil)
        XCTAssertEqual(replayed.velocity, recomputed.velocity)
        XCTAssertEqual(replayed.loss.bitPattern, recomputed.loss.bitPattern)
        XCTAssertEqual(replayed.gradients, recomputed.gradients)
    }

    func testTheLossesAtHandComputedValues() throws {
        // A field v ≡ c (all weights zero, last bias c): every term has a closed form.
        let agent = try smallAgent(#", "flow_steps": 4"#, observationSize: 1, actionSize: 1)
        let c: Float = 0.5
        for parameter in agent.policy.parameters + agent.reference.parameters { parameter.value.fill(0) }
        agent.policy.fields[0].network.parameters.last!.value.fill(c)
        let inputs = RLDTActorLoss.Inputs(observations: Tensor([[0], [0]]), intermediate: Tensor([[1], [-2]]), times: Tensor([[0], [0.5]]),
                                          ends: Tensor([[1.2], [-1]]), trustPoints: Tensor([[0.3], [0.1]]), trustTimes: Tensor([[0.2], [0.9]]))
        let loss = RLDTActorLoss(policy: agent.policy, reference: agent.reference, consistencyWeight: 0.5, trustRegionWeight: 0.2)
        let tape = Tape()
        let passes = loss.passes(inputs, tape: tape)
        XCTAssertEqual(passes.predicted.value, Tensor([[1.5], [-1.75]]))   // x_k + (1 − t_k) c
        let terms = loss.terms(inputs, passes, field: Tensor([[2], [-4]]))
        // m = 4 and 2: transport −mean(c·2/4, c·(−4)/2) = −mean(0.25, −1) = 0.375.
        XCTAssertEqual(terms.transport.value.scalar, 0.375, accuracy: 1e-6)
        // consistency 0.5 · mean(0.3²/16, 0.75²/4)
        XCTAssertEqual(terms.consistency.value.scalar, 0.5 * (0.09 / 16 + 0.5625 / 4) / 2, accuracy: 1e-6)
        // trust region 0.2 · mean(c², c²) against a zero reference
        XCTAssertEqual(terms.trustRegion.value.scalar, 0.2 * c * c, accuracy: 1e-6)
    }

    func testTheExpectedTargetOfAStraightFlowIsTheChainsEnd() throws {
        // Zero the field's dependence on x and t: v = v(s), a straight flow from each x₀.
        let agent = try smallAgent(#", "flow_steps": 5"#, observationSize: 3, actionSize: 2)
        let network = agent.policy.fields[0].network
        let first = network.parameters[0]   // weight [hidden, observation + action + embedding]
        for row in 0..<first.value.rows { for column in 3..<first.value.cols { first.value[row, column] = 0 } }
        var generator = RandomGenerator(seed: 2)
        let observations = generator.normalTensor(rows: 7, cols: 3)
        let chain = agent.policy.chain(observations: observations, noise: generator.normalTensor(rows: 7, cols: 2))
        let loss = RLDTActorLoss(policy: agent.policy, reference: agent.reference, consistencyWeight: 0.5, trustRegionWeight: 0.2)
        for k in 0..<5 {
            let inputs = RLDTActorLoss.Inputs(observations: observations, intermediate: chain[k],
                                              times: Tensor(rows: 7, cols: 1, repeating: agent.policy.time(atStep: k)),
                                              ends: chain[5], trustPoints: chain[5], trustTimes: Tensor(rows: 7, cols: 1))
            let predicted = loss.prediction(inputs, tape: Tape(recording: false)).predicted.value
            XCTAssertLessThanOrEqual(closenessRatio(predicted, chain[5], atol: 1e-5, rtol: 1e-5), 1, "step \(k)")
        }
        // A curved flow's prediction from step 0 is not its end (the check above can fail).
        let curved = try smallAgent(#", "flow_steps": 5, "seed": 3"#, observationSize: 3, actionSize: 2)
        for parameter in curved.policy.parameters { parameter.value.scale(by: 10) }
        let curvedChain = curved.policy.chain(observations: observations, noise: generator.normalTensor(rows: 7, cols: 2))
        let inputs = RLDTActorLoss.Inputs(observations: observations, intermediate: curvedChain[0], times: Tensor(rows: 7, cols: 1),
                                          ends: curvedChain[5], trustPoints: curvedChain[5], trustTimes: Tensor(rows: 7, cols: 1))
        let predicted = RLDTActorLoss(policy: curved.policy, reference: curved.reference, consistencyWeight: 0, trustRegionWeight: 0)
            .prediction(inputs, tape: Tape(recording: false)).predicted.value
        XCTAssertGreaterThan(closenessRatio(predicted, curvedChain[5], atol: 1e-5, rtol: 1e-5), 1)
    }

    func testThePreSquashGradientOfTheCriticMatchesFiniteDifferences() throws {
        for extra in ["", #", "critic_layer_norm": true"#] {
            checkThePreSquashGradient(of: try smallAgent(extra).core.softCritic!.critic, extra)
        }
    }

    func checkThePreSquashGradient(of critic: TwinCritic, _ label: String) {
        var generator = RandomGenerator(seed: 6)
        let observations = generator.normalTensor(rows: 5, cols: 2)
        let x = generator.normalTensor(rows: 5, cols: 2)
        let gradient = critic.preSquashGradient(observations: observations, preSquashActions: x)
        func value(_ x: Tensor) -> [Double] {
            let noGrad = Tape(recording: false)
            let (q1, q2) = critic(observations: noGrad.constant(observations), actions: noGrad.constant(x.map(Elementwise.Tanh.self)))
            return (0..<5).map { 0.5 * Double(q1.value.scalars[$0] + q2.value.scalars[$0]) }
        }
        let h: Float = 1e-2
        for row in 0..<5 {
            for c in 0..<2 {
                var plus = x, minus = x
                plus[row, c] += h
                minus[row, c] -= h
                let numeric = (value(plus)[row] - value(minus)[row]) / (2 * Double(h))
                XCTAssertEqual(Double(gradient[row, c]), numeric, accuracy: 2e-3 + 1e-2 * abs(numeric), "\(label) row \(row), column \(c)")
            }
        }
    }

    func testCriticTargetsAverageTheTargetMinimumOverFreshSamples() throws {
        let agent = try smallAgent(#", "target_samples": 3, "gamma": 0.9"#)
        let batch = AlgorithmList.transitions(6, terminalEvery: 3)
        let data = Transitions(observations: batch.observations.columns(0..<2), actions: batch.actions, rewards: batch.rewards,
                               nextObservations: batch.nextObservations.columns(0..<2), terminated: batch.terminated)
        var replay = agent.core.generator
        let targets = agent.criticTargets(for: data)
        // The same draws by hand: 3 samples in one batch, the target critic's minimum averaged.
        let next = data.nextObservations.tiledRows(3)
        let actions = agent.policy.sample(observations: next, deterministic: false, generator: &replay)
        let minimum = agent.core.softCritic!.target.minimumValue(observations: next, actions: actions)
        for row in 0..<6 {
            let mean = (minimum[row, 0] + minimum[row + 6, 0] + minimum[row + 12, 0]) / 3
            let expected = data.rewards[row, 0] + 0.9 * (1 - data.terminated[row, 0]) * mean
            XCTAssertEqual(targets[row, 0], expected, accuracy: 1e-5, "row \(row)")
        }
        XCTAssertEqual(targets[0, 0], data.rewards[0, 0])   // terminal: no bootstrap
    }

    func testAPretrainedReferenceStaysAndALaggedOneFollows() throws {
        let data = AlgorithmList.transitions(32)
        for (setting, moves) in [("\"lagged\"", true), ("\"pretrained\"", false)] {
            let agent = try smallAgent(#", "reference": \#(setting)"#, observationSize: 3)
            _ = agent.pretrain(observations: data.observations, actions: data.actions, steps: 3)
            XCTAssertEqual(agent.reference.parameters.map(\.value), agent.policy.parameters.map(\.value), setting)
            let before = agent.reference.parameters.map(\.value)
            agent.observe(data)
            let metrics = agent.update(gradientSteps: 3)
            XCTAssertEqual(Set(metrics.keys), ["train/actor_loss", "train/transport_loss", "train/consistency_loss",
                                                "train/trust_region_loss", "train/field_norm", "train/particle_spread",
                                                "train/critic_loss", "train/q_mean"])
            XCTAssertEqual(agent.reference.parameters.map(\.value) != before, moves, setting)
        }
    }

    func testTheDefaultsAndTheKeysRangesAreChecked() throws {
        let agent = try RLDT(configurationJSON: nil, observationSize: 3, actionSize: 2)
        XCTAssertNil(agent.core.temperature)
        for key in ["\"flow_steps\":4", "\"particles\":8", "\"actor_batch_size\":32", "\"kernel\":\"rbf\"", "\"svgd_temperature\":0.001",
                    "\"consistency_weight\":0.5", "\"trust_region_weight\":0.2", "\"reference\":\"lagged\"", "\"reference_update\":0.01",
                    "\"target_samples\":2", "\"learning_starts\":100"] {
            XCTAssertTrue(agent.configurationJSON.contains(key), "\(key) in \(agent.configurationJSON)")
        }
        XCTAssertFalse(agent.configurationJSON.contains("alpha"))
        for (key, value) in [("particles", "0"), ("reference_update", "1.5"), ("reference_update", "0"), ("target_samples", "0"),
                             ("svgd_temperature", "-1"), ("kernel", "\"gaussian\""), ("reference", "\"previous\""), ("actor_batch_size", "0")] {
            XCTAssertThrowsError(try RLDT(configurationJSON: #"{"\#(key)": \#(value)}"#, observationSize: 3, actionSize: 2)) { error in
                XCTAssertTrue("\(error)".contains("'\(key)'"), "\(key): \(error)")
            }
        }
    }

    // MARK: Reward scaling

    func testTheRewardScaleIsTheMeanOfAbsoluteRewardsOverEveryObservedTransition() throws {
        let plain = try smallAgent()
        XCTAssertNil(plain.rewardStatistic)
        XCTAssertFalse(plain.captureState(includeReplayBuffer: false).tensors.keys.contains { $0.hasPrefix("reward_scaling") })
        let agent = try smallAgent(#", "reward_scaling": "running_abs_mean", "target_samples": 2, "gamma": 0.9"#)
        let statistic = try XCTUnwrap(agent.rewardStatistic)
        XCTAssertEqual(statistic.scale, 1)   // nothing seen yet
        var all: [Float] = []
        for (count, seed) in [(6, 1), (9, 2), (1, 3)] as [(Int, UInt64)] {
            let batch = AlgorithmList.transitions(count, seed: seed, terminalEvery: 3)
            var rewards = batch.rewards
            rewards.scale(by: 7)
            let data = Transitions(observations: batch.observations.columns(0..<2), actions: batch.actions, rewards: rewards,
                                   nextObservations: batch.nextObservations.columns(0..<2), terminated: batch.terminated)
            agent.observe(data)
            all += data.rewards.scalars
            // Directly: the mean of |r| over everything observed so far.
            let mean = all.reduce(0.0) { $0 + Double(abs($1)) } / Double(all.count)
            XCTAssertEqual(Double(statistic.mean), mean, accuracy: 1e-6 * mean)
            XCTAssertEqual(statistic.count, all.count)
        }
        XCTAssertEqual(statistic.scale, 1 / statistic.mean)
        // Updates sample the buffer but do not move the statistic.
        let before = (statistic.mean, statistic.count)
        let metrics = agent.update(gradientSteps: 2)
        XCTAssertTrue(before == (statistic.mean, statistic.count))
        XCTAssertEqual(metrics["train/reward_scale"], Double(statistic.scale))
        // The critic's targets use the scaled rewards: y = r / m + γ (1 − term) mean_m min_j Q̄_j.
        let batch = AlgorithmList.transitions(6, seed: 4, terminalEvery: 3)
        let data = Transitions(observations: batch.observations.columns(0..<2), actions: batch.actions, rewards: batch.rewards,
                               nextObservations: batch.nextObservations.columns(0..<2), terminated: batch.terminated)
        var replay = agent.core.generator
        let targets = agent.criticTargets(for: data)
        let next = data.nextObservations.tiledRows(2)
        let minimum = agent.core.softCritic!.target.minimumValue(
            observations: next, actions: agent.policy.sample(observations: next, deterministic: false, generator: &replay))
        for row in 0..<6 {
            let bootstrap = 0.9 * (1 - data.terminated[row, 0]) * (minimum[row, 0] + minimum[row + 6, 0]) / 2
            XCTAssertEqual(targets[row, 0], data.rewards[row, 0] / statistic.mean + bootstrap, accuracy: 1e-5, "row \(row)")
        }
        // All-zero rewards: the floor keeps the scale finite.
        let zeros = RunningAbsoluteMean()
        zeros.add(Tensor(rows: 3, cols: 1))
        XCTAssertEqual(zeros.scale, 1 / RunningAbsoluteMean.floor)
    }

    func testTheRewardStatisticRoundTripsInCheckpointsAndBadValuesAreRefused() throws {
        let json = #"{"hidden_sizes": [8], "critic_hidden_sizes": [8], "batch_size": 4, "buffer_size": 16, "flow_steps": 2, "particles": 3, "actor_batch_size": 2, "reward_scaling": "running_abs_mean", "seed": 5}"#
        let agent = try ManagedAgent(algorithm: "rldt", configurationJSON: json, observationSize: 3, actionSize: 2)
        try agent.observe(AlgorithmList.transitions(10))
        _ = try agent.update(gradientSteps: 2)
        let checkpoint = agent.checkpoint(includeReplayBuffer: true)
        XCTAssertEqual(checkpoint.state.integers["reward_scaling.count"], 10)
        let restored = try ManagedAgent(checkpoint: try Checkpoint(decoding: checkpoint.encoded()))
        XCTAssertEqual(restored.checkpoint(includeReplayBuffer: true).state, checkpoint.state)
        try agent.observe(AlgorithmList.transitions(5, seed: 8))
        try restored.observe(AlgorithmList.transitions(5, seed: 8))
        XCTAssertEqual(try agent.update(gradientSteps: 3), try restored.update(gradientSteps: 3))
        XCTAssertEqual(agent.checkpoint(includeReplayBuffer: true).encoded(), restored.checkpoint(includeReplayBuffer: true).encoded())

        // A rejected observe changes nothing, the statistic included.
        let unchanged = agent.checkpoint(includeReplayBuffer: true).encoded()
        var bad = AlgorithmList.transitions(3, seed: 9)
        bad.rewards[1, 0] = .nan
        XCTAssertThrowsError(try agent.observe(bad))
        XCTAssertEqual(agent.checkpoint(includeReplayBuffer: true).encoded(), unchanged)

        // Damaged statistics are refused before anything changes.
        let good = agent.checkpoint(includeReplayBuffer: true).state
        let damages: [(String, (inout AgentState) -> Void)] = [
            ("negative", { $0.tensors["reward_scaling.mean"] = Tensor([[-1]]) }),
            ("NaN", { $0.tensors["reward_scaling.mean"] = Tensor([[.nan]]) }),
            ("infinite", { $0.tensors["reward_scaling.mean"] = Tensor([[.infinity]]) }),
            ("shape", { $0.tensors["reward_scaling.mean"] = Tensor([[1, 2]]) }),
            ("missing mean", { $0.tensors["reward_scaling.mean"] = nil }),
            ("missing count", { $0.integers["reward_scaling.count"] = nil }),
            ("count above the transitions seen", { $0.integers["reward_scaling.count"] = 16 }),
            ("count above the counter limit", { $0.integers["reward_scaling.count"] = UInt64(TrainingCounters.limit) + 1 }),
            ("a mean with nothing counted", { $0.integers["reward_scaling.count"] = 0 }),
        ]
        for (name, damage) in damages {
            var state = good
            damage(&state)
            XCTAssertThrowsError(try restored.agent.restoreState(state), name) { error in
                XCTAssertTrue("\(error)".contains("reward_scaling"), "\(name): \(error)")
            }
            XCTAssertEqual(restored.checkpoint(includeReplayBuffer: true).encoded(), unchanged, name)
        }
    }

    // MARK: Exploration

    func testMinExtrapolationNoiseMatchesADirectComputation() throws {
        var draws = RandomGenerator(seed: 12)
        let observations = draws.normalTensor(rows: 5, cols: 2)
        let plain = try smallAgent(#", "flow_steps": 4, "seed": 3"#)
        let agent = try smallAgent(#", "flow_steps": 4, "seed": 3, "exploration": "min_extrp", "exploration_min_step": 1"#)
        // The deterministic action is the policy's, and draws nothing.
        let generator = agent.core.generator
        XCTAssertEqual(agent.act(observations: observations, deterministic: true), plain.act(observations: observations, deterministic: true))
        XCTAssertEqual(agent.core.generator, generator)

        // Directly: the chain from the first normal draw, j = 1 + next() % 3 per row, x̂₁(x_j), then
        // ε from the next normal draw and a = tanh(x_K + ‖x_K − x̂₁‖ ε).
        var replay = agent.core.generator
        let actions = agent.act(observations: observations, deterministic: false)
        let chain = agent.policy.chain(observations: observations, noise: replay.normalTensor(rows: 5, cols: 2))
        let steps = (0..<5).map { _ in 1 + Int(replay.next() % 3) }
        XCTAssertTrue(steps.allSatisfy { (1...3).contains($0) })
        var intermediate = Tensor(rows: 5, cols: 2), times = Tensor(rows: 5, cols: 1)
        for row in 0..<5 {
            times[row, 0] = Float(steps[row]) / 4
            for c in 0..<2 { intermediate[row, c] = chain[steps[row]][row, c] }
        }
        let loss = RLDTActorLoss(policy: agent.policy, reference: agent.reference, consistencyWeight: 0, trustRegionWeight: 0)
        let predicted = loss.prediction(RLDTActorLoss.Inputs(observations: observations, intermediate: intermediate, times: times,
                                                             ends: chain[4], trustPoints: chain[4], trustTimes: times),
                                        tape: Tape(recording: false)).predicted.value
        let epsilon = replay.normalTensor(rows: 5, cols: 2)
        var radii: [Float] = []
        for row in 0..<5 {
            let radius = (0..<2).map { pow(chain[4][row, $0] - predicted[row, $0], 2) }.reduce(0, +).squareRoot()
            radii.append(radius)
            for c in 0..<2 {
                XCTAssertEqual(actions[row, c], tanh(chain[4][row, c] + radius * epsilon[row, c]), accuracy: 1e-5, "row \(row)")
            }
        }
        XCTAssertEqual(agent.core.generator, replay)
        // From the last step the jump is the last Euler step: no noise there, some elsewhere.
        for row in 0..<5 where steps[row] == 3 { XCTAssertEqual(radii[row], 0, accuracy: 1e-5) }
        XCTAssertTrue(zip(steps, radii).contains { $0 < 3 && $1 > 1e-4 }, "\(steps) \(radii)")
        // exploration_min_step must lie below flow_steps.
        XCTAssertThrowsError(try smallAgent(#", "flow_steps": 2, "exploration_min_step": 2"#)) { error in
            XCTAssertTrue("\(error)".contains("'exploration_min_step'"), "\(error)")
        }
        XCTAssertThrowsError(try smallAgent(#", "exploration": "gaussian""#)) { error in
            XCTAssertTrue("\(error)".contains("'exploration'"), "\(error)")
        }
    }
}
