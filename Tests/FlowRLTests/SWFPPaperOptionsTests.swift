import FlowRL
import XCTest
import _FlowRLTestSupport

/// SWFP's options for the paper's own choices (docs/algorithms.md, "SWFP: differences from the
/// paper"): the midpoint solver and its log-volume (its block-loss gradients are checked with the
/// Euler step's in `SWFPTests`), the Eq. 18 value target, acting with the
/// prior, stored particle chains (matching, recomputation, checkpoints), the actor's batch and the
/// paper preset. The contract over these options together is `AlgorithmContractTests`
/// ("swfp paper options").
final class SWFPPaperOptionsTests: XCTestCase {
    func smallAgent(_ extra: String = "", observationSize: Int = 2, actionSize: Int = 2) throws -> SWFP {
        try SWFP(configurationJSON: #"{"hidden_sizes": [16, 16], "critic_hidden_sizes": [16], "batch_size": 16, "buffer_size": 256, "critic_warmup_steps": 0\#(extra)}"#,
                 observationSize: observationSize, actionSize: actionSize)
    }

    /// `count` transitions on `observationSize` 2 and `actionSize` 2.
    func transitions(_ count: Int, seed: UInt64) -> Transitions {
        var generator = RandomGenerator(seed: seed)
        return Transitions(observations: generator.normalTensor(rows: count, cols: 2),
                           actions: generator.uniformTensor(rows: count, cols: 2, lower: -1, upper: 1),
                           rewards: generator.normalTensor(rows: count, cols: 1), nextObservations: generator.normalTensor(rows: count, cols: 2),
                           terminated: Tensor(rows: count, cols: 1, scalars: (0..<count).map { $0 % 4 == 0 ? 1 : 0 }))
    }

    /// A flow with some shape: a short flow-matching fit to two modes, so that its Jacobians are
    /// far from zero (an untrained field barely moves its noise).
    func shapedAgent(_ extra: String) throws -> SWFP {
        let agent = try smallAgent(#", "flow_steps": 2"# + extra)
        var generator = RandomGenerator(seed: 3)
        let states = generator.normalTensor(rows: 256, cols: 2)
        let actions = Tensor(rows: 256, cols: 2, scalars: (0..<512).map { $0 % 4 < 2 ? 0.8 : -0.6 })
        _ = agent.pretrain(observations: states, actions: actions, steps: 300)
        // Larger output weights, so that the step's Jacobian is of order one and the midpoint's
        // second-order term Δ² J₁J₀/2 is visible.
        for parameter in agent.policy.parameters.suffix(2) { parameter.value.scale(by: 20) }
        return agent
    }

    // MARK: The midpoint solver

    func testMidpointLogVolumeIsThatOfTheMidpointMap() throws {
        // The step map Φ(x) = x + Δ v(t + Δ/2, m(x)), m(x) = x + (Δ/2) v(t, x): its Jacobian A by
        // central differences (h = 1e-2; Φ is smooth, so the error is O(h²) plus Float32 rounding).
        // "logdet" must be log|det A| and "exact" tr(A − I), both per row.
        let agent = try shapedAgent(#", "solver": "midpoint""#)
        let policy = agent.policy
        var generator = RandomGenerator(seed: 5)
        let s = generator.normalTensor(rows: 6, cols: 2), x = generator.normalTensor(rows: 6, cols: 2)
        func map(_ points: Tensor, solver: FlowSolver = .midpoint) -> Tensor {
            policy.solver = solver
            defer { policy.solver = .midpoint }
            let tape = Tape(recording: false)
            return policy.step(observations: tape.constant(s), x: tape.constant(points), step: 1).value
        }
        let tape = Tape(recording: false)
        var probes = RandomGenerator(seed: 1)
        let (next, logDeterminant) = policy.stepWithLogVolume(observations: tape.constant(s), x: tape.constant(x), step: 1,
                                                              method: .logDeterminant, generator: &probes)
        let trace = policy.stepWithLogVolume(observations: tape.constant(s), x: tape.constant(x), step: 1, method: .exact,
                                             generator: &probes).logVolume
        XCTAssertLessThanOrEqual(closenessRatio(next.value, map(x)), 1)
        let h: Float = 1e-2
        var columns: [Tensor] = []
        for j in 0..<2 {
            var plus = x, minus = x
            for row in 0..<6 { plus[row, j] += h; minus[row, j] -= h }
            let (up, down) = (map(plus), map(minus))
            columns.append(Tensor(rows: 6, cols: 2, scalars: zip(up.scalars, down.scalars).map { ($0 - $1) / (2 * h) }))
        }
        for row in 0..<6 {
            let a = [[columns[0][row, 0], columns[1][row, 0]], [columns[0][row, 1], columns[1][row, 1]]].map { $0.map(Double.init) }
            let determinant = a[0][0] * a[1][1] - a[0][1] * a[1][0]
            XCTAssertEqual(Double(logDeterminant.value.scalars[row]), log(abs(determinant)), accuracy: 3e-4, "row \(row)")
            XCTAssertEqual(Double(trace.value.scalars[row]), a[0][0] - 1 + a[1][1] - 1, accuracy: 3e-4, "row \(row)")
        }
        // The test can tell the solvers apart: the Euler step lands elsewhere.
        XCTAssertGreaterThan(zip(map(x).scalars, map(x, solver: .euler).scalars).map { abs($0 - $1) }.max()!, 1e-3)
    }

    func testMidpointSamplerMatchesTheTapedChain() throws {
        let agent = try shapedAgent(#", "solver": "midpoint""#)
        var generator = RandomGenerator(seed: 8), same = RandomGenerator(seed: 8)
        let observations = generator.normalTensor(rows: 6, cols: 2)
        let acted = agent.policy.sample(observations: observations, deterministic: false, generator: &generator)
        _ = same.normalTensor(rows: 6, cols: 2)   // the observations
        let taped = agent.policy.chain(observations: observations, noise: same.normalTensor(rows: 6, cols: 2)).last!.map(Elementwise.Tanh.self)
        XCTAssertLessThanOrEqual(closenessRatio(acted, taped, atol: 1e-6, rtol: 1e-5), 1)
    }

    // MARK: The value target

    func testStateValueFormulas() {
        let q = [1.0, 2.0, -0.5], logProbability = [-1.2, 0.3, -2.0], alpha = 0.7
        let meanLogProbability = logProbability.reduce(0, +) / 3
        XCTAssertEqual(SWFP.stateValue(q: q, logProbability: logProbability, alpha: alpha, target: .soft),
                       q.reduce(0, +) / 3 - alpha * meanLogProbability, accuracy: 1e-12)
        let naive = alpha * log(zip(q, logProbability).map { exp($0 / alpha - $1) }.reduce(0, +) / 3) + alpha * meanLogProbability
        XCTAssertEqual(SWFP.stateValue(q: q, logProbability: logProbability, alpha: alpha, target: .logsumexp), naive, accuracy: 1e-12)
        // One sample: the entropy terms cancel, V = Q̄.
        XCTAssertEqual(SWFP.stateValue(q: [3.5], logProbability: [-0.8], alpha: 2, target: .logsumexp), 3.5, accuracy: 1e-12)
        // Exponents of order 1e7 (Q/α with α = 1e-3): no overflow; the larger term dominates.
        let large = SWFP.stateValue(q: [1e4, 1e4 + 1], logProbability: [0.5, -0.5], alpha: 1e-3, target: .logsumexp)
        // exponents q/α − log π: 1e7 − 0.5 and 1e7 + 1000.5; the second dominates, so
        // V = α (1e7 + 1000.5 − log 2) + α · 0 = 1e4 + 1.0005 − α log 2.
        let expected: Double = 10_001.0005 - 1e-3 * log(2.0)
        XCTAssertEqual(large, expected, accuracy: 1e-4)
    }

    func testTheCriticTargetsReduceToTheOneSampleTargets() throws {
        for (target, entropy) in [("soft", true), ("logsumexp", false)] {
            let agent = try smallAgent(#", "value_target": "\#(target)", "value_samples": 1"#)
            agent.observe(transitions(40, seed: 2))
            let batch = agent.core.buffer.sample(16, generator: &agent.core.generator)
            let start = agent.core.generator
            let (targets, _) = agent.criticTargets(for: batch, alpha: 0.3)
            var generator = start
            let (actions, logProbability) = agent.policy.sampleWithLogProbability(
                observations: batch.nextObservations, method: .exact, generator: &generator)
            // soft: SAC's target; logsumexp with one sample: r + γ(1 − term) min Q̄ (no entropy term).
            let expected = agent.core.softCritic!.targets(for: batch, nextActions: actions,
                                                          nextLogProbability: entropy ? logProbability : Tensor(rows: 16, cols: 1), alpha: 0.3)
            XCTAssertLessThanOrEqual(closenessRatio(targets, expected, atol: 1e-5, rtol: 1e-5), 1, target)
        }
    }

    func testSeveralValueSamplesAverageOverThemAndFeedTheTemperature() throws {
        let agent = try smallAgent(#", "value_target": "logsumexp", "value_samples": 3"#)
        agent.observe(transitions(40, seed: 2))
        let batch = agent.core.buffer.sample(16, generator: &agent.core.generator)
        let start = agent.core.generator
        let (targets, logProbability) = agent.criticTargets(for: batch, alpha: 0.3)
        XCTAssertEqual(logProbability.shape, [48, 1])
        var generator = start
        let next = batch.nextObservations.tiledRows(3)
        let (actions, again) = agent.policy.sampleWithLogProbability(observations: next, method: .exact, generator: &generator)
        XCTAssertEqual(again, logProbability)
        let q = agent.core.softCritic!.target.minimumValue(observations: next, actions: actions)
        for row in [0, 7, 15] {
            let samples = [row, 16 + row, 32 + row]
            let value = SWFP.stateValue(q: samples.map { Double(q.scalars[$0]) }, logProbability: samples.map { Double(logProbability.scalars[$0]) },
                                        alpha: 0.3, target: .logsumexp)
            let y = Double(batch.rewards.scalars[row]) + 0.99 * (1 - Double(batch.terminated.scalars[row])) * value
            XCTAssertEqual(Double(targets.scalars[row]), y, accuracy: 1e-4 * max(1, abs(y)))
        }
    }

    // MARK: Acting with the prior

    func testActWithPriorSamplesFromThePriorAndActsDeterministicallyWithThePolicy() throws {
        let agent = try smallAgent(#", "act_with": "prior", "learning_rate": 0.01"#)
        agent.observe(transitions(40, seed: 2))
        _ = agent.update(gradientSteps: 5)   // θ moves; θ̄ follows at rate 0.01
        let observations = transitions(4, seed: 9).observations
        var generator = agent.core.generator
        XCTAssertEqual(agent.act(observations: observations, deterministic: false),
                       agent.prior.sample(observations: observations, deterministic: false, generator: &generator))
        let deterministic = agent.act(observations: observations, deterministic: true)
        XCTAssertEqual(deterministic, agent.policy.sample(observations: observations, deterministic: true, generator: &generator))
        XCTAssertNotEqual(deterministic, agent.prior.sample(observations: observations, deterministic: true, generator: &generator))
    }

    // MARK: Stored particles

    func testObserveStoresTheChainThatActedAndNoChainElsewhere() throws {
        for actWith in ["policy", "prior"] {
            let agent = try smallAgent(#", "old_particles": "stored", "act_with": "\#(actWith)""#)
            let acted = agent.acted!
            let observed = transitions(6, seed: 4)
            let observations = observed.observations.rows(0..<4)
            let actions = agent.act(observations: observations, deterministic: false)
            // The remembered chain produced the action.
            XCTAssertEqual(acted.chains.columns(10..<12).map(Elementwise.Tanh.self), actions, actWith)   // x₅ of 5 steps
            var batch = observed
            for row in 0..<4 { for c in 0..<2 { batch.actions[row, c] = actions[row, c] } }
            batch.actions[2, 1] += 3e-5                                                 // rounding in the caller's units: still a match
            for c in 0..<2 { batch.observations[4, c] = observations[0, c] }          // an acted state, another action: no match
            for c in 0..<2 { batch.actions[5, c] = actions[1, c] }                    // an acted action at another state: no match
            // Evaluation between act and observe does not touch what was acted.
            _ = agent.act(observations: transitions(3, seed: 8).observations, deterministic: true)
            agent.observe(batch)
            let stored = agent.core.buffer.gather(Array(0..<6)).particles!
            XCTAssertEqual(stored.present.scalars, [1, 1, 1, 1, 0, 0], actWith)
            XCTAssertEqual(stored.chains.rows(0..<4), acted.chains, actWith)
            XCTAssertEqual(stored.chains.rows(4..<6), Tensor(rows: 2, cols: 12), actWith)
            // Demonstrations are stored without chains.
            _ = agent.storeDemonstrations(transitions(3, seed: 5))
            XCTAssertEqual(agent.core.buffer.gather([6, 7, 8]).particles!.present.scalars, [0, 0, 0], actWith)
        }
    }

    func testOldParticlesUseTheStoredChainsAndRecomputeTheOthers() throws {
        let agent = try smallAgent(#", "old_particles": "stored", "flow_steps": 3"#)
        var generator = RandomGenerator(seed: 6)
        let observations = generator.normalTensor(rows: 4, cols: 2)
        let stored = StoredParticles(chains: generator.normalTensor(rows: 4, cols: 8), present: Tensor(rows: 4, cols: 1, scalars: [1, 0, 1, 0]))
        var copy = agent.core.generator
        let particles = agent.oldParticles(observations: observations, stored: stored)
        let fresh = agent.prior.chain(observations: observations.gathering(rows: [1, 3]), noise: copy.normalTensor(rows: 2, cols: 2))
        XCTAssertEqual(particles.count, 4)
        for n in 0...3 {
            XCTAssertEqual(particles[n].gathering(rows: [0, 2]), stored.chains.gathering(rows: [0, 2]).columns((2 * n)..<(2 * n + 2)), "x\(n)")
            XCTAssertEqual(particles[n].gathering(rows: [1, 3]), fresh[n], "x\(n)")
        }
        XCTAssertEqual(agent.core.generator.savedState, copy.savedState)
    }

    func testTheActorBatchIsAPrefixOrTheCriticBatchAndMoreRows() throws {
        let small = try smallAgent(#", "actor_batch_size": 8"#)
        small.observe(transitions(40, seed: 2))
        let batch = small.core.buffer.sample(16, generator: &small.core.generator)
        let before = small.core.generator.savedState
        XCTAssertEqual(small.actorBatch(batch).observations, batch.observations.rows(0..<8))
        XCTAssertEqual(small.core.generator.savedState, before, "a prefix draws nothing")

        let large = try smallAgent(#", "actor_batch_size": 24, "old_particles": "stored""#)
        large.observe(transitions(40, seed: 2))
        let critic = large.core.buffer.sample(16, generator: &large.core.generator)
        var copy = large.core.generator
        let (observations, particles) = large.actorBatch(critic)
        let extra = large.core.buffer.sample(8, generator: &copy)
        XCTAssertEqual(observations, Tensor.concatenatingRows([critic.observations, extra.observations]))
        XCTAssertEqual(particles?.present.rows, 24)
        // Following: batch_size alone sets the actor's batch too.
        XCTAssertEqual(try smallAgent().configuration.options.actorBatchSize, 16)
    }

    func testCheckpointsKeepStoredChainsAndRefuseDamagedOnes() throws {
        let agent = try ManagedAgent(algorithm: "swfp", configurationJSON: #"{"hidden_sizes": [8], "critic_hidden_sizes": [8], "batch_size": 4, "buffer_size": 16, "flow_steps": 2, "old_particles": "stored", "seed": 1}"#,
                                     observationSize: 2, actionSize: 2)
        var batch = transitions(5, seed: 3)
        batch.actions = try agent.act(observations: batch.observations, deterministic: false)
        try agent.observe(batch)
        _ = try agent.act(observations: transitions(3, seed: 7).observations, deterministic: false)   // acted, not yet observed
        _ = try agent.update(gradientSteps: 2)
        let saved = agent.checkpoint(includeReplayBuffer: true)
        XCTAssertEqual(saved.state.tensors["replay.particles_present"]?.scalars, [1, 1, 1, 1, 1])
        XCTAssertEqual(saved.state.tensors["acted.particles"]?.shape, [3, 6])
        let restored = try ManagedAgent(checkpoint: try Checkpoint(decoding: saved.encoded()))
        XCTAssertEqual(restored.checkpoint(includeReplayBuffer: true).encoded(), saved.encoded())

        let before = saved.encoded()
        func damaged(_ change: (inout AgentState) -> Void) -> AgentState {
            var state = saved.state
            change(&state)
            return state
        }
        let cases: [(String, AgentState)] = [
            ("NaN in a stored chain", damaged { $0.tensors["replay.particles"]![1, 2] = .nan }),
            ("chain flags missing", damaged { $0.tensors["replay.particles_present"] = nil }),
            ("chains missing", damaged { $0.tensors["replay.particles"] = nil; $0.tensors["replay.particles_present"] = nil }),
            ("chain width", damaged { $0.tensors["replay.particles"] = Tensor(rows: 5, cols: 4) }),
            ("flag 0.5", damaged { $0.tensors["replay.particles_present"]![0, 0] = 0.5 }),
            ("acted chains missing", damaged { $0.tensors["acted.particles"] = nil }),
            ("acted rows differ", damaged { $0.tensors["acted.actions"] = Tensor(rows: 2, cols: 2) }),
            ("acted action outside [-1, 1]", damaged { $0.tensors["acted.actions"]![0, 0] = 1.5 }),
            ("acted chain not finite", damaged { $0.tensors["acted.particles"]![0, 0] = .infinity }),
        ]
        for (name, state) in cases {
            XCTAssertThrowsError(try agent.agent.restoreState(state), name)
            XCTAssertEqual(agent.checkpoint(includeReplayBuffer: true).encoded(), before, "\(name) changed the agent")
        }
        // An agent that stores no chains refuses a replay that holds them.
        let plain = try ManagedAgent(algorithm: "swfp", configurationJSON: #"{"hidden_sizes": [8], "critic_hidden_sizes": [8], "batch_size": 4, "buffer_size": 16, "flow_steps": 2, "seed": 1}"#,
                                     observationSize: 2, actionSize: 2)
        var foreign = plain.checkpoint(includeReplayBuffer: true).state
        for key in ["observations", "actions", "rewards", "next_observations", "terminated", "particles", "particles_present"] {
            foreign.tensors["replay.\(key)"] = saved.state.tensors["replay.\(key)"]
        }
        foreign.integers["replay.next_index"] = saved.state.integers["replay.next_index"]
        XCTAssertThrowsError(try plain.agent.restoreState(foreign))
    }

    func testTheMemoryEstimateCountsTheStoredChains() throws {
        let json = #"{"buffer_size": 1000, "flow_steps": 4"#
        let stored = try SWFP.memoryEstimate(configurationJSON: json + #", "old_particles": "stored"}"#, observationSize: 3, actionSize: 2)
        let recomputed = try SWFP.memoryEstimate(configurationJSON: json + "}", observationSize: 3, actionSize: 2)
        XCTAssertEqual(stored.replay - recomputed.replay, 1000 * Double(5 * 2 + 1))
        XCTAssertEqual(stored.checkpointFloats, recomputed.checkpointFloats)
    }

    // MARK: The paper preset

    func testThePaperPresetSetsItsValuesUnderTheKeysGiven() throws {
        let paper = try SWFP.Configuration.decode(json: #"{"preset": "paper"}"#, algorithm: "swfp")
        XCTAssertEqual(paper.common.learningRate, 1e-5)
        XCTAssertEqual(paper.replay.batchSize, 256)
        XCTAssertEqual(paper.options.actorBatchSize, 1024)
        XCTAssertEqual(paper.temperature.alpha, .value(4))
        XCTAssertEqual(paper.options.hiddenSizes, [256, 256, 256])
        XCTAssertEqual(paper.options.actWith, .prior)
        XCTAssertEqual(paper.options.oldParticles, .stored)
        XCTAssertEqual(paper.options.valueTarget, .logsumexp)
        XCTAssertEqual(paper.options.solver, .midpoint)
        XCTAssertEqual(paper.options.flowSteps, 5)
        // Keys given explicitly win; the preset's actor batch does not follow a given batch_size.
        let mine = try SWFP.Configuration.decode(json: #"{"preset": "paper", "learning_rate": 0.001, "batch_size": 64, "solver": "euler"}"#,
                                                 algorithm: "swfp")
        XCTAssertEqual(mine.common.learningRate, 0.001)
        XCTAssertEqual(mine.replay.batchSize, 64)
        XCTAssertEqual(mine.options.actorBatchSize, 1024)
        XCTAssertEqual(mine.options.solver, .euler)
        XCTAssertEqual(mine.options.oldParticles, .stored)
        // The stored configuration (what a checkpoint keeps) decodes to itself.
        XCTAssertEqual(try SWFP.Configuration.decode(json: mine.jsonString(), algorithm: "swfp"), mine)
        // The schema publishes the preset as the keys it changes, and the "preset" key names it.
        guard case .object(let schema) = SWFP.configurationSchema(), case .object(let presets)? = schema["presets"],
              case .object(let values)? = presets["paper"], case .array(let keys)? = schema["keys"] else { return XCTFail("no presets") }
        XCTAssertEqual(values, SWFP.Configuration.presetValues("paper"))
        XCTAssertEqual(values["actor_batch_size"], .integer(1024))
        XCTAssertNil(values["batch_size"], "the preset's batch_size is the default, so it is not listed")
        let preset = keys.first { if case .object(let key) = $0 { return key["name"] == .string("preset") } else { return false } }
        guard case .object(let key)? = preset else { return XCTFail("no preset key") }
        XCTAssertEqual(key["choices"], .array([.string("none"), .string("paper"), .string("anchored")]))
    }

    // MARK: The anchored preset

    func testTheAnchoredPresetSetsTheAnchoredTrustRegionAndNothingElse() throws {
        let anchored = try SWFP.Configuration.decode(json: #"{"preset": "anchored"}"#, algorithm: "swfp")
        XCTAssertEqual(anchored.options.w2Terms, .trustRegion)
        XCTAssertEqual(anchored.options.trustRegionScale, .energy)
        XCTAssertEqual(anchored.options.priorUpdate, 5000)
        // Everything else is the default: the same configuration with those three keys given.
        var expected = try SWFP.Configuration.decode(
            json: #"{"w2_terms": "trust_region", "trust_region_scale": "energy", "prior_update": 5000}"#, algorithm: "swfp")
        expected.options.preset = .anchored
        XCTAssertEqual(anchored, expected)
        XCTAssertEqual(Set(SWFP.Configuration.presetValues("anchored")?.keys ?? [:].keys),
                       ["w2_terms", "trust_region_scale", "prior_update"])
        // A key given explicitly wins over the preset's.
        let mine = try SWFP.Configuration.decode(json: #"{"preset": "anchored", "prior_update": 0.01}"#, algorithm: "swfp")
        XCTAssertEqual(mine.options.priorUpdate, 0.01)
        XCTAssertEqual(mine.options.trustRegionScale, .energy)
        XCTAssertEqual(try SWFP.Configuration.decode(json: mine.jsonString(), algorithm: "swfp"), mine)
    }
}
