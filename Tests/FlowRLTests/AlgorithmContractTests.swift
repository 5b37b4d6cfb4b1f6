import FlowRL
import XCTest

/// The algorithms every contract test runs on: one entry per algorithm (and per SAC Flow velocity
/// field), each a small configuration. A new algorithm gets the whole contract suite, and the
/// reliability suite, by one entry here; `testTheListCoversEveryRegisteredAlgorithm` fails until
/// it has one.
enum AlgorithmList {
    struct Model {
        /// How failures name it.
        let label: String
        let algorithm: String
        /// A small configuration (without `seed`, which the tests add where they need one; a short
        /// critic warm-up, for speed: CriticWarmupTests checks the default and "auto").
        let json: String
    }

    static let all: [Model] = [
        Model(label: "flow_bc", algorithm: "flow_bc", json: #"{"hidden_sizes": [8], "batch_size": 4, "buffer_size": 16, "flow_steps": 2}"#),
        Model(label: "swfp", algorithm: "swfp",
              json: #"{"hidden_sizes": [8], "critic_hidden_sizes": [8], "critic_warmup_steps": 40, "batch_size": 4, "buffer_size": 16, "flow_steps": 2}"#),
        // The paper's choices (docs/algorithms.md, "SWFP: differences from the paper"): stored chains
        // add replay columns and a state part, the prior acts, and the actor's batch is larger.
        Model(label: "swfp paper options", algorithm: "swfp",
              json: #"{"hidden_sizes": [8], "critic_hidden_sizes": [8], "critic_warmup_steps": 40, "batch_size": 4, "buffer_size": 16, "flow_steps": 2, "act_with": "prior", "old_particles": "stored", "value_target": "logsumexp", "value_samples": 3, "solver": "midpoint", "actor_batch_size": 6}"#),
        // The block loss's entropy in the action space (`entropy_space`), with Q read after the prior's
        // remaining blocks, so the log-Jacobian is taken at both energy points across the suite.
        Model(label: "swfp entropy_space action", algorithm: "swfp",
              json: #"{"hidden_sizes": [8], "critic_hidden_sizes": [8], "critic_warmup_steps": 40, "batch_size": 4, "buffer_size": 16, "flow_steps": 2, "entropy_space": "action", "energy_at": "terminal"}"#),
        Model(label: "sac", algorithm: "sac", json: #"{"hidden_sizes": [8], "critic_hidden_sizes": [8], "critic_warmup_steps": 40, "batch_size": 4, "buffer_size": 16}"#),
        Model(label: "sac_flow gated", algorithm: "sac_flow",
              json: #"{"hidden_sizes": [8], "sigma_hidden_sizes": [8], "critic_hidden_sizes": [8], "critic_warmup_steps": 40, "batch_size": 4, "buffer_size": 16, "flow_steps": 2}"#),
        Model(label: "sac_flow mlp", algorithm: "sac_flow",
              json: #"{"velocity": "mlp", "hidden_sizes": [8], "sigma_hidden_sizes": [8], "critic_hidden_sizes": [8], "critic_warmup_steps": 40, "batch_size": 4, "buffer_size": 16, "flow_steps": 2}"#),
        Model(label: "sac_flow decoder", algorithm: "sac_flow",
              json: #"{"velocity": "decoder", "decoder_width": 8, "decoder_heads": 2, "critic_hidden_sizes": [8], "critic_warmup_steps": 40, "batch_size": 4, "buffer_size": 16, "flow_steps": 2}"#),
        Model(label: "rldt", algorithm: "rldt",
              json: #"{"hidden_sizes": [8], "critic_hidden_sizes": [8], "critic_warmup_steps": 40, "batch_size": 4, "buffer_size": 16, "flow_steps": 2, "particles": 3, "actor_batch_size": 2}"#),
        // Reward scaling adds a state part, and the extrapolation noise its own draws in `act`.
        Model(label: "rldt options", algorithm: "rldt",
              json: #"{"hidden_sizes": [8], "critic_hidden_sizes": [8], "critic_warmup_steps": 40, "batch_size": 4, "buffer_size": 16, "flow_steps": 2, "particles": 3, "actor_batch_size": 2, "reward_scaling": "running_abs_mean", "exploration": "min_extrp"}"#),
    ]

    /// Each entry whose algorithm has the shared twin critic, with `critic_layer_norm` on: the
    /// contract tests of what the option changes (the seed fixes everything, a checkpoint continues
    /// exactly, the warm-up moves only the critic) run on them too. An algorithm without the critic
    /// refuses the key, which is how the entries are chosen.
    static let withCriticLayerNorm: [Model] = all.compactMap { model in
        let extended = json(model, #""critic_layer_norm": true"#)
        guard (try? ManagedAgent(algorithm: model.algorithm, configurationJSON: extended, observationSize: observationSize,
                                 actionSize: actionSize)) != nil else { return nil }
        return Model(label: model.label + ", critic_layer_norm", algorithm: model.algorithm, json: extended)
    }

    static let observationSize = 3, actionSize = 2

    /// `json` with the keys of `extra` (like `"seed": 4`) set, replacing those it already has.
    static func json(_ model: Model, _ extra: String) -> String {
        guard case .object(var object) = try? JSONValue.parse(model.json),
              case .object(let added) = try? JSONValue.parse("{" + extra + "}") else { return model.json }
        object.merge(added) { $1 }
        return JSONValue.object(object).text
    }

    static func agent(_ model: Model, _ extra: String = "") throws -> ManagedAgent {
        try ManagedAgent(algorithm: model.algorithm, configurationJSON: json(model, extra), observationSize: observationSize,
                         actionSize: actionSize)
    }

    /// `count` transitions drawn from `seed`; every `terminalEvery`-th one (from the first) terminal.
    static func transitions(_ count: Int, seed: UInt64 = 3, terminalEvery: Int = 5) -> Transitions {
        var generator = RandomGenerator(seed: seed)
        return Transitions(observations: generator.normalTensor(rows: count, cols: observationSize),
                           actions: generator.uniformTensor(rows: count, cols: actionSize, lower: -1, upper: 1),
                           rewards: generator.normalTensor(rows: count, cols: 1),
                           nextObservations: generator.normalTensor(rows: count, cols: observationSize),
                           terminated: Tensor(rows: count, cols: 1, scalars: (0..<count).map { $0 % terminalEvery == 0 ? 1 : 0 }))
    }
}

/// The contract every algorithm keeps, checked on each entry of `AlgorithmList.all`: defaults
/// construct, act gives bounded actions of the right shape, observe and update give finite metrics,
/// a seed fixes everything, a checkpoint continues exactly, every refused call changes nothing, and
/// pretraining leads into fine-tuning.
final class AlgorithmContractTests: XCTestCase {
    typealias List = AlgorithmList

    func bytes(_ agent: ManagedAgent) -> [UInt8] { agent.checkpoint(includeReplayBuffer: true).encoded() }

    func testTheListCoversEveryRegisteredAlgorithm() {
        XCTAssertEqual(Set(List.all.map(\.algorithm)), Set(AgentRegistry.names))
    }

    func testDefaultsConstructAndTheConfigurationRoundTrips() throws {
        for algorithm in AgentRegistry.names {
            let agent = try ManagedAgent(algorithm: algorithm, configurationJSON: nil, observationSize: 3, actionSize: 2)
            let stored = agent.agent.configurationJSON
            // The stored configuration (what a checkpoint keeps) builds the same agent again.
            let again = try ManagedAgent(algorithm: algorithm, configurationJSON: stored, observationSize: 3, actionSize: 2)
            XCTAssertEqual(again.agent.configurationJSON, stored, algorithm)
            XCTAssertTrue(bytes(again) == bytes(agent), "\(algorithm): the defaults are not deterministic")
            XCTAssertEqual(agent.agent.counters, ["updates": 0, "actor_updates": 0, "pretrain_steps": 0, "transitions_seen": 0])
        }
    }

    func testActGivesBoundedActionsOfTheRightShape() throws {
        for model in List.all {
            let agent = try List.agent(model)
            let observations = List.transitions(5).observations
            for deterministic in [true, false] {
                let actions = try agent.act(observations: observations, deterministic: deterministic)
                XCTAssertEqual(actions.shape, [5, List.actionSize], model.label)
                XCTAssertTrue(actions.scalars.allSatisfy { $0.isFinite && abs($0) <= 1 }, "\(model.label): \(actions)")
            }
            // The deterministic action draws no noise and does not depend on the batch.
            XCTAssertEqual(try agent.act(observations: observations, deterministic: true),
                           try agent.act(observations: observations, deterministic: true), model.label)
            let single = try agent.act(observations: observations.gathering(rows: [2]), deterministic: true)
            let batched = try agent.act(observations: observations, deterministic: true).gathering(rows: [2])
            for (a, b) in zip(single.scalars, batched.scalars) { XCTAssertEqual(a, b, accuracy: 1e-5, model.label) }
            if let length = agent.chainLength {
                let chain = try agent.particleChain(observations: observations, deterministic: false)
                XCTAssertEqual(chain.count, length, model.label)
                XCTAssertTrue(chain.allSatisfy { $0.shape == [5, List.actionSize] }, model.label)
            }
        }
    }

    func testObserveAndUpdateGiveFiniteMetricsAndCount() throws {
        for model in List.all {
            let agent = try List.agent(model)
            try agent.observe(List.transitions(20))   // wraps the 16-slot ring
            let metrics = try agent.update(gradientSteps: 3)
            XCTAssertFalse(metrics.isEmpty, model.label)
            XCTAssertTrue(metrics.values.allSatisfy(\.isFinite), "\(model.label): \(metrics)")
            let counters = agent.agent.counters
            XCTAssertEqual(counters["updates"], 3, model.label)
            XCTAssertEqual(counters["transitions_seen"], 20, model.label)
            XCTAssertEqual(agent.agent.storedTransitionCount, 16, model.label)
            XCTAssertLessThanOrEqual(counters["actor_updates"]!, 3, model.label)
        }
    }

    /// Pretrain, store, update and act from a seed; returns the checkpoint and the actions.
    func train(_ model: List.Model, seed: UInt64) throws -> [UInt8] {
        let agent = try List.agent(model, #""seed": \#(seed)"#)
        let demonstrations = List.transitions(12, seed: 5)
        _ = try agent.pretrain(observations: demonstrations.observations, actions: demonstrations.actions, steps: 4)
        try agent.observe(List.transitions(12))
        _ = try agent.update(gradientSteps: 4)
        let actions = try agent.act(observations: demonstrations.observations, deterministic: false)
        return bytes(agent) + actions.scalars.flatMap { withUnsafeBytes(of: $0.bitPattern) { Array($0) } }
    }

    func testTheSeedFixesEverything() throws {
        for model in List.all + List.withCriticLayerNorm {
            let first = try train(model, seed: 7)
            XCTAssertTrue(first == (try train(model, seed: 7)), "\(model.label): the same seed gave different bytes")
            XCTAssertTrue(first != (try train(model, seed: 8)), "\(model.label): another seed gave the same bytes")
        }
    }

    func testACheckpointContinuesExactly() throws {
        for model in List.all + List.withCriticLayerNorm {
            let agent = try List.agent(model, #""seed": 2"#)
            try agent.observe(List.transitions(20))
            _ = try agent.update(gradientSteps: 3)
            try agent.setMetadata(#"{"note": "contract"}"#)
            let saved = bytes(agent)
            let restored = try ManagedAgent(checkpoint: try Checkpoint(decoding: saved))
            XCTAssertTrue(bytes(restored) == saved, "\(model.label): re-encoding changed the bytes")
            // Both continue identically: metrics, sampled actions and every byte of the state.
            XCTAssertEqual(try agent.update(gradientSteps: 3), try restored.update(gradientSteps: 3), model.label)
            let probe = List.transitions(4, seed: 9).observations
            XCTAssertEqual(try agent.act(observations: probe, deterministic: false),
                           try restored.act(observations: probe, deterministic: false), model.label)
            XCTAssertTrue(bytes(agent) == bytes(restored), "\(model.label): the states differ after continuing")
        }
    }

    func testAStateOfTheOtherCriticLayerNormIsRefusedNamingTheKey() throws {
        XCTAssertEqual(List.withCriticLayerNorm.count, List.all.filter { $0.algorithm != "flow_bc" }.count)
        for normalized in List.withCriticLayerNorm {
            let plain = try XCTUnwrap(List.all.first { normalized.label.hasPrefix($0.label + ",") })
            for (from, into) in [(normalized, plain), (plain, normalized)] {
                let source = try List.agent(from, #""seed": 1"#), target = try List.agent(into, #""seed": 2"#)
                try source.observe(List.transitions(8))
                _ = try source.update(gradientSteps: 2)
                let before = bytes(target)
                XCTAssertThrowsError(try target.agent.restoreState(source.agent.captureState(includeReplayBuffer: true)), into.label) { error in
                    guard case .io(let message) = error as? FlowRLError else { return XCTFail("\(into.label): \(error)") }
                    XCTAssertTrue(message.contains("critic_layer_norm"), "\(into.label): \(message)")
                }
                XCTAssertTrue(bytes(target) == before, "\(into.label): a refused state changed the agent")
                // A file whose configuration was edited to the other value does not load either.
                var edited = source.checkpoint(includeReplayBuffer: false)
                edited.configurationJSON = List.json(into, #""seed": 1"#)
                XCTAssertThrowsError(try ManagedAgent(checkpoint: try Checkpoint(decoding: edited.encoded())), into.label)
            }
        }
    }

    func testEveryRefusedCallLeavesTheAgentByteIdentical() throws {
        for model in List.all {
            let fresh = try List.agent(model)
            XCTAssertThrowsError(try fresh.update(gradientSteps: 1), "\(model.label): update with an empty buffer")
            let agent = try List.agent(model, #""seed": 3"#)
            try agent.observe(List.transitions(10))
            _ = try agent.update(gradientSteps: 2)
            let before = bytes(agent)
            let good = List.transitions(3)
            func bad(_ change: (inout Transitions) -> Void) -> Transitions {
                var copy = good
                change(&copy)
                return copy
            }
            let nan = Float.nan
            let calls: [(String, () throws -> Any)] = [
                ("act: wrong width", { try agent.act(observations: Tensor(rows: 2, cols: 4), deterministic: false) }),
                ("act: empty", { try agent.act(observations: Tensor(rows: 0, cols: 3), deterministic: false) }),
                ("act: NaN", { try agent.act(observations: Tensor(rows: 1, cols: 3, repeating: nan), deterministic: false) }),
                ("observe: action outside [-1, 1]", { try agent.observe(bad { $0.actions[1, 0] = 1.5 }) }),
                ("observe: NaN reward", { try agent.observe(bad { $0.rewards[2, 0] = nan }) }),
                ("observe: flag 0.5", { try agent.observe(bad { $0.terminated[0, 0] = 0.5 }) }),
                ("observe: ragged", { try agent.observe(bad { $0.rewards = Tensor(rows: 2, cols: 1) }) }),
                ("observe: wrong width", { try agent.observe(bad { $0.nextObservations = Tensor(rows: 3, cols: 2) }) }),
                ("update: 0 steps", { try agent.update(gradientSteps: 0) }),
                ("pretrain: rows differ", { try agent.pretrain(observations: good.observations, actions: Tensor(rows: 2, cols: 2), steps: 1) }),
                ("pretrain: action outside", { try agent.pretrain(observations: good.observations, actions: Tensor(rows: 3, cols: 2, repeating: -2), steps: 1) }),
                ("pretrain: 0 steps", { try agent.pretrain(observations: good.observations, actions: good.actions, steps: 0) }),
                ("pretrain: overflowing loss rolled back", {
                    // Finite, but no network passes it without overflowing (Flow-T's layer norms absorb 1e30).
                    try agent.pretrain(observations: Tensor(rows: 8, cols: 3, repeating: .greatestFiniteMagnitude),
                                       actions: Tensor(rows: 8, cols: 2), steps: 3)
                }),
                ("pretrain transitions: bad batch", { try agent.pretrain(transitions: bad { $0.actions[0, 1] = 3 }, steps: 1) }),
            ] + (agent.agent.criticWarmupSteps == nil ? [] : [
                ("pretrain transitions: critic warm-up overflow rolled back", {
                    // Pretraining succeeds; the warm-up's targets overflow. 12 rows into a buffer of
                    // 16 holding 10 also overwrite stored rows, which must come back.
                    // Huge next observations as well: rewards alone are normalised away by RLDT's reward scaling.
                    var huge = List.transitions(12, seed: 8)
                    huge.rewards = Tensor(rows: 12, cols: 1, repeating: .greatestFiniteMagnitude)
                    huge.nextObservations = Tensor(rows: 12, cols: 3, repeating: .greatestFiniteMagnitude)
                    return try agent.pretrain(transitions: huge, steps: 2)
                }),
            ])
            for (name, call) in calls {
                XCTAssertThrowsError(try call(), "\(model.label): \(name) was accepted")
                XCTAssertTrue(bytes(agent) == before, "\(model.label): \(name) changed the agent")
            }
        }
    }

    func testPretrainingThenFineTuning() throws {
        for model in List.all {
            let agent = try List.agent(model, #""seed": 4"#)
            let demonstrations = List.transitions(16, seed: 6)
            let pretraining = try agent.pretrain(transitions: demonstrations, steps: 10)
            XCTAssertTrue(pretraining.keys.allSatisfy { $0.hasPrefix("pretrain/") || $0.hasPrefix("critic_warmup/") }
                          && pretraining.keys.contains { $0.hasPrefix("pretrain/") }, "\(model.label): \(pretraining)")
            XCTAssertTrue(pretraining.values.allSatisfy(\.isFinite), "\(model.label): \(pretraining)")
            XCTAssertEqual(agent.agent.counters["pretrain_steps"], 10, model.label)
            XCTAssertEqual(agent.agent.storedTransitionCount, 16, "\(model.label): the demonstrations seed the buffer")
            // The critic warm-up: critic-only updates, counted as updates, no actor update.
            let warmup = agent.agent.criticWarmupSteps ?? 0
            XCTAssertEqual(agent.agent.counters["updates"], warmup, model.label)
            XCTAssertEqual(agent.agent.counters["actor_updates"], 0, model.label)
            XCTAssertEqual(pretraining["critic_warmup/critic_loss"] != nil, warmup > 0, "\(model.label): \(pretraining)")
            let metrics = try agent.update(gradientSteps: 5)
            XCTAssertTrue(metrics.values.allSatisfy(\.isFinite), "\(model.label): \(metrics)")
            XCTAssertTrue(try agent.act(observations: demonstrations.observations, deterministic: true).isFinite, model.label)
        }
    }

    func testTheCriticWarmUpMovesOnlyTheCritic() throws {
        for model in List.all + List.withCriticLayerNorm {
            let agent = try List.agent(model, #""seed": 5"#)
            guard agent.agent.criticWarmupSteps != nil else { continue }
            let before = agent.agent.captureState(includeReplayBuffer: false).tensors
            _ = agent.agent.storeDemonstrations(List.transitions(12, seed: 2))
            let after = agent.agent.captureState(includeReplayBuffer: false).tensors
            XCTAssertEqual(Set(before.keys), Set(after.keys), model.label)
            let changed = Set(before.keys.filter { before[$0] != after[$0] })
            // The critic, α, and what storing the transitions updates (RLDT's reward statistic).
            let expected = changed.filter { $0.hasPrefix("critic") || $0.hasPrefix("temperature") || $0.hasPrefix("reward_scaling") }
            XCTAssertEqual(changed, expected, "\(model.label): the warm-up changed \(changed.subtracting(expected).sorted())")
            XCTAssertTrue(changed.contains { $0.hasPrefix("critic.") || $0.hasPrefix("critic_") }, "\(model.label): the critic did not learn")
        }
    }

    func testPretrainLearningRateAppliesToPretrainingOnly() throws {
        let demonstrations = List.transitions(16, seed: 6)
        for model in List.all {
            // Pretraining at pretrain_learning_rate equals pretraining at that learning_rate ...
            let fast = try List.agent(model, #""seed": 4, "learning_rate": 0.001"#)
            let split = try List.agent(model, #""seed": 4, "learning_rate": 0.0001, "pretrain_learning_rate": 0.001"#)
            _ = try fast.pretrain(observations: demonstrations.observations, actions: demonstrations.actions, steps: 5)
            _ = try split.pretrain(observations: demonstrations.observations, actions: demonstrations.actions, steps: 5)
            XCTAssertEqual(fast.agent.captureState(includeReplayBuffer: false).tensors,
                           split.agent.captureState(includeReplayBuffer: false).tensors, model.label)
            // ... and fine-tuning then runs at learning_rate: as an agent of that rate given the same state.
            let slow = try List.agent(model, #""seed": 4, "learning_rate": 0.0001"#)
            try slow.agent.restoreState(fast.agent.captureState(includeReplayBuffer: false))
            for agent in [split, slow] { try agent.observe(demonstrations) }
            XCTAssertEqual(try split.update(gradientSteps: 3), try slow.update(gradientSteps: 3), model.label)
            XCTAssertEqual(split.agent.captureState(includeReplayBuffer: false).tensors,
                           slow.agent.captureState(includeReplayBuffer: false).tensors, model.label)
        }
    }

    func testAlphaAfterPretrainingFollowsTheRewardScale() throws {
        for model in List.all where model.algorithm == "sac" || model.algorithm == "sac_flow" || model.algorithm == "swfp" {
            // "auto": min(α, 0.1 · mean|r| / d) with d = 2; |r| = 0.4 gives 0.02.
            var demonstrations = List.transitions(8)
            demonstrations.rewards = Tensor(rows: 8, cols: 1, scalars: [0.4, -0.4, 0.4, -0.4, 0.4, -0.4, 0.4, -0.4])
            let agent = try List.agent(model, #""critic_warmup_steps": 0"#)
            let metrics = try agent.pretrain(transitions: demonstrations, steps: 1)
            XCTAssertEqual(metrics["pretrain/alpha"] ?? -1, 0.02, accuracy: 1e-6, model.label)
            // Never raised above the current α, and a value sets it.
            let small = try List.agent(model, #""critic_warmup_steps": 0, "initial_alpha": 0.001"#)
            XCTAssertEqual(try small.pretrain(transitions: demonstrations, steps: 1)["pretrain/alpha"] ?? -1, 0.001, accuracy: 1e-7, model.label)
            let set = try List.agent(model, #""critic_warmup_steps": 0, "alpha_after_pretraining": 0.3"#)
            XCTAssertEqual(try set.pretrain(transitions: demonstrations, steps: 1)["pretrain/alpha"] ?? -1, 0.3, accuracy: 1e-6, model.label)
            // A fixed α is the user's: unchanged.
            let fixed = try List.agent(model, #""critic_warmup_steps": 0, "alpha": 0.5"#)
            XCTAssertEqual(try fixed.pretrain(transitions: demonstrations, steps: 1)["pretrain/alpha"] ?? -1, 0.5, accuracy: 1e-6, model.label)
        }
    }

    func testConfigurationErrorsNameTheKeyTheUserTyped() throws {
        func message(_ model: List.Model, _ extra: String) -> String {
            do {
                _ = try List.agent(model, extra)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        for model in List.all {
            let unknown = message(model, #""learning_rat": 0.1"#)
            XCTAssertTrue(unknown.contains("'learning_rat'") && unknown.contains(model.algorithm), "\(model.label): \(unknown)")
            // (a learning rate of 0 is valid: it freezes the networks it drives)
            for (key, value) in [("batch_size", "0"), ("buffer_size", "0"), ("learning_rate", "-0.001")] {
                XCTAssertTrue(message(model, #""\#(key)": \#(value)"#).contains("'\(key)'"), "\(model.label): \(key)")
            }
            let hasCritic = model.algorithm != "flow_bc"
            for key in ["critic_learning_rate", "target_update_interval", "policy_delay", "critic_tau"] {
                let text = message(model, #""\#(key)": -1"#)
                XCTAssertTrue(text.contains(hasCritic ? "'\(key)'" : "unknown config key '\(key)'"), "\(model.label): \(text)")
            }
        }
    }
}
