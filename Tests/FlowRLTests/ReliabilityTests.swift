#if canImport(Glibc)
import Glibc
#endif
import FlowRL
import XCTest

/// Issue 10, classes 1, 2, 3, 5 and 6, for every algorithm: values decoded from a CRC-valid
/// checkpoint are range-checked, sizes are checked before allocating, configurations too large for
/// the process are refused, and `act` never returns a silent NaN. Each damaged checkpoint is built
/// from a valid one and re-encoded, so its CRC is right and the deep checks are what reject it.
final class ReliabilityTests: XCTestCase {
    /// Small configurations of every algorithm (and each velocity kind of SAC Flow): the one list.
    static var configurations: [(algorithm: String, json: String)] { AlgorithmList.all.map { ($0.algorithm, $0.json) } }

    static let observationSize = 3, actionSize = 2

    func makeAgent(_ algorithm: String, _ json: String) throws -> ManagedAgent {
        try ManagedAgent(algorithm: algorithm, configurationJSON: json, observationSize: Self.observationSize, actionSize: Self.actionSize)
    }

    func transitions(_ count: Int) -> Transitions {
        var generator = RandomGenerator(seed: 3)
        return Transitions(observations: generator.normalTensor(rows: count, cols: Self.observationSize),
                           actions: generator.uniformTensor(rows: count, cols: Self.actionSize, lower: -1, upper: 1),
                           rewards: generator.normalTensor(rows: count, cols: 1),
                           nextObservations: generator.normalTensor(rows: count, cols: Self.observationSize),
                           terminated: Tensor(rows: count, cols: 1))
    }

    /// A trained agent's checkpoint (replay buffer included), for each configuration.
    func checkpoints() throws -> [(name: String, checkpoint: Checkpoint)] {
        try Self.configurations.map { algorithm, json in
            let agent = try makeAgent(algorithm, json)
            try agent.observe(transitions(8))
            _ = try agent.update(gradientSteps: 2)
            // A stochastic act, so that what an agent remembers of its acts (SWFP's stored particles) is in the state.
            _ = try agent.act(observations: transitions(3).observations, deterministic: false)
            return ("\(algorithm) \(json)", agent.checkpoint(includeReplayBuffer: true))
        }
    }

    /// Encodes `checkpoint` (a fresh CRC), decodes it and loads it.
    func load(_ checkpoint: Checkpoint) throws -> ManagedAgent {
        try ManagedAgent(checkpoint: try Checkpoint(decoding: checkpoint.encoded()))
    }

    /// Asserts that loading fails with an I/O (checkpoint) error whose message contains `fragment`.
    func assertRefused(_ checkpoint: Checkpoint, naming fragment: String, _ context: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try load(checkpoint), context, file: file, line: line) { error in
            guard case .io(let message) = error as? FlowRLError else {
                return XCTFail("\(context): \(error) is not a checkpoint error", file: file, line: line)
            }
            XCTAssertTrue(message.contains(fragment), "\(context): '\(message)' does not name '\(fragment)'", file: file, line: line)
        }
    }

    // MARK: Class 1: counters and optimiser steps

    func testCountersAboveTheLimitAreRefusedOnLoad() throws {
        for (name, checkpoint) in try checkpoints() {
            for key in checkpoint.state.integers.keys where key.hasPrefix("counters.") {
                for value in [UInt64(Int.max), UInt64(TrainingCounters.limit) + 1] {
                    var damaged = checkpoint
                    damaged.state.integers[key] = value
                    assertRefused(damaged, naming: key, "\(name): \(key) = \(value)")
                }
            }
        }
    }

    func testCallsThatWouldPassTheCounterLimitAreRefusedAndChangeNothing() throws {
        for (name, checkpoint) in try checkpoints() {
            var full = checkpoint
            for key in full.state.integers.keys where key.hasPrefix("counters.") { full.state.integers[key] = UInt64(TrainingCounters.limit) }
            let agent = try load(full)  // the limit itself is accepted
            let before = agent.checkpoint(includeReplayBuffer: true).encoded()
            let calls: [(String, () throws -> Void)] = [
                ("transitions_seen", { try agent.observe(self.transitions(1)) }),
                ("updates", { _ = try agent.update(gradientSteps: 1) }),
                ("pretrain_steps", { _ = try agent.pretrain(observations: Tensor(rows: 2, cols: Self.observationSize),
                                                            actions: Tensor(rows: 2, cols: Self.actionSize), steps: 1) }),
            ]
            for (counter, call) in calls {
                XCTAssertThrowsError(try call(), "\(name): \(counter)") { error in
                    guard case .invalidState(let message) = error as? FlowRLError else { return XCTFail("\(name): \(error)") }
                    XCTAssertTrue(message.contains(counter), "\(name): \(message)")
                }
            }
            XCTAssertEqual(agent.checkpoint(includeReplayBuffer: true).encoded(), before, "\(name): a refused call changed the agent")
        }
    }

    /// What flowrl writes it reads back: an optimiser step at 2³¹ − 1 or at the limit survives an
    /// update and a save; one past the limit is refused naming the entry.
    func testOptimizerStepsReadBackAfterUpdates() throws {
        XCTAssertEqual(Adam.stepLimit, TrainingCounters.limit, "the optimiser (core) and the counters (agents) share one limit")
        for (name, checkpoint) in try checkpoints() {
            let steps = checkpoint.state.integers.keys.filter { $0.hasSuffix(".step") }
            XCTAssertFalse(steps.isEmpty, name)
            for value in [UInt64(Int32.max), UInt64(TrainingCounters.limit)] {
                var large = checkpoint
                for key in steps { large.state.integers[key] = value }
                let agent = try load(large)
                _ = try agent.update(gradientSteps: 2)
                XCTAssertNoThrow(try load(agent.checkpoint(includeReplayBuffer: false)), "\(name): step \(value) + 2")
            }
            for key in steps {
                var damaged = checkpoint
                damaged.state.integers[key] = UInt64(TrainingCounters.limit) + 1
                assertRefused(damaged, naming: key, "\(name): \(key)")
            }
        }
    }

    // MARK: Class 6: tensor contents

    func testNonFiniteWeightsAndBadMomentsAreRefusedNamingTheTensor() throws {
        for (name, checkpoint) in try checkpoints() {
            for key in checkpoint.state.tensors.keys.sorted() where !key.hasPrefix("replay.") {
                let isSecondMoment = key.contains("_optimizer.v.")
                for bad: Float in isSecondMoment ? [-1, .nan, .infinity] : [.nan, .infinity] {
                    var damaged = checkpoint
                    damaged.state.tensors[key]!.scalars[0] = bad
                    assertRefused(damaged, naming: key, "\(name): \(key)[0] = \(bad)")
                }
            }
        }
    }

    // MARK: Class 2: sizes checked before allocating

    func testSizesTheFileCannotHoldAreRefusedBeforeAllocating() throws {
        for (name, checkpoint) in try checkpoints() {
            var wide = checkpoint
            wide.observationSize = 1_000_000  // an 8 GB replay buffer and GBs of weights, from a few KB
            assertRefused(wide, naming: "floats", "\(name): observation size")
            var actions = checkpoint
            actions.actionSize = 10_000
            assertRefused(actions, naming: "floats", "\(name): action size")
            var config = checkpoint
            config.configurationJSON = config.configurationJSON.replacingOccurrences(of: #""critic_hidden_sizes":[8]"#,
                                                                                     with: #""critic_hidden_sizes":[16384,4096]"#)
                .replacingOccurrences(of: #""hidden_sizes":[8]"#, with: #""hidden_sizes":[16384,4096]"#)
                .replacingOccurrences(of: #""decoder_width":8"#, with: #""decoder_width":4096"#)
            XCTAssertNotEqual(config.configurationJSON, checkpoint.configurationJSON, name)
            assertRefused(config, naming: "floats", "\(name): network sizes")
        }
    }

    // MARK: Class 3: memory estimate

    /// The estimate's parameters and moments are exact: they are what a checkpoint must hold.
    func testEstimateCountsExactlyTheStoredParametersAndMoments() throws {
        let variants = (AlgorithmList.all + AlgorithmList.withCriticLayerNorm).map { ($0.algorithm, $0.json) } + [
            ("swfp", #"{"hidden_sizes": [8, 5], "critic_hidden_sizes": [7], "flow_steps": 3, "blocks": "separate", "alpha": 0.2, "buffer_size": 16}"#),
            ("sac_flow", #"{"velocity": "mlp", "hidden_sizes": [6], "sigma_hidden_sizes": [5, 3], "flow_steps": 3, "buffer_size": 16}"#),
            ("sac", #"{"hidden_sizes": [6, 4], "critic_hidden_sizes": [5], "alpha": 0.1, "buffer_size": 16}"#),
            ("sac_flow", #"{"velocity": "decoder", "decoder_width": 12, "decoder_layers": 3, "decoder_heads": 3, "time_embedding_size": 6, "buffer_size": 16}"#),
            ("flow_bc", #"{"hidden_sizes": [9, 4, 3], "time_embedding_size": 4, "buffer_size": 16}"#),
        ]
        for (algorithm, json) in variants {
            let (_, estimate) = try AgentRegistry.estimate(algorithm: algorithm, configurationJSON: json,
                                                           observationSize: Self.observationSize, actionSize: Self.actionSize)
            let agent = try makeAgent(algorithm, json)
            let stored = agent.checkpoint(includeReplayBuffer: false).state.tensors.values.reduce(0) { $0 + $1.count }
            XCTAssertEqual(estimate.checkpointFloats, Double(stored), "\(algorithm) \(json)")
            XCTAssertEqual(estimate.parameters, Double(agent.agent.allParameters.reduce(0) { $0 + $1.value.count }), "\(algorithm) \(json)")
        }
    }

    /// Runs `body` with `FLOWRL_MEMORY_LIMIT` set to `value`.
    func withMemoryLimit(_ value: String, _ body: () throws -> Void) rethrows {
        setenv(MemoryBudget.environmentVariable, value, 1)
        defer { unsetenv(MemoryBudget.environmentVariable) }
        try body()
    }

    func testConfigurationsTooLargeForTheProcessAreRefusedNamingTheKeys() throws {
        let cases: [(String, String, [String])] = [
            ("sac", #"{"critic_hidden_sizes": [10000, 10000]}"#, ["critic_hidden_sizes"]),
            ("swfp", #"{"critic_hidden_sizes": [10000, 10000]}"#, ["critic_hidden_sizes"]),
            ("flow_bc", #"{"batch_size": 1000000, "hidden_sizes": [4096]}"#, ["batch_size", "hidden_sizes"]),
            ("sac", #"{"batch_size": 1000000, "hidden_sizes": [4096]}"#, ["batch_size", "hidden_sizes"]),
            ("sac_flow", #"{"velocity": "decoder", "decoder_width": 4096, "decoder_layers": 64, "decoder_heads": 64}"#, ["decoder_width", "decoder_layers"]),
            ("flow_bc", #"{"buffer_size": 100000000}"#, ["buffer_size"]),
        ]
        try withMemoryLimit("2000000000") {  // 2 GB: each case needs more, none is allocated
            for (algorithm, json, keys) in cases {
                XCTAssertThrowsError(try makeAgent(algorithm, json), "\(algorithm) \(json)") { error in
                    guard case .invalidArgument(let message) = error as? FlowRLError else { return XCTFail("\(algorithm): \(error)") }
                    for key in keys + ["MiB", MemoryBudget.environmentVariable] {
                        XCTAssertTrue(message.contains(key), "\(algorithm) \(json): '\(message)' does not name \(key)")
                    }
                }
            }
            for (algorithm, json) in Self.configurations { XCTAssertNoThrow(try makeAgent(algorithm, json), algorithm) }
        }
        try withMemoryLimit("lots") {
            XCTAssertThrowsError(try makeAgent("sac", "{}")) {
                XCTAssertTrue(($0 as? FlowRLError)?.description.contains(MemoryBudget.environmentVariable) ?? false, "\($0)")
            }
        }
        // Without the override the limit is physical memory or an rlimit: the defaults fit.
        for algorithm in AgentRegistry.names { XCTAssertNoThrow(try makeAgent(algorithm, "{}"), algorithm) }
        XCTAssertGreaterThan(try MemoryBudget.available().bytes, 0)
    }

    // MARK: Class 5: act never returns a silent NaN

    func testActRefusesNonFiniteActionsAndChangesNothing() throws {
        var refusals = 0
        for (name, checkpoint) in try checkpoints() {
            var huge = checkpoint  // finite weights so large the networks overflow
            // The networks only: not the replay, the optimisers, α or what an agent remembers of its acts.
            for key in huge.state.tensors.keys where !key.hasPrefix("replay.") && !key.hasPrefix("acted.") && !key.contains("_optimizer.")
                && key != "temperature.log_alpha" {
                huge.state.tensors[key]!.scalars = huge.state.tensors[key]!.scalars.map { $0 >= 0 ? 1e30 : -1e30 }
            }
            for (agent, observation): (ManagedAgent, Float) in [(try load(checkpoint), 1e38), (try load(huge), 1)] {
                let observations = Tensor(rows: 3, cols: Self.observationSize, repeating: observation)
                for deterministic in [true, false] {
                    let before = agent.checkpoint(includeReplayBuffer: true).encoded()
                    do {
                        let actions = try agent.act(observations: observations, deterministic: deterministic)
                        XCTAssertTrue(actions.isFinite, "\(name): act returned non-finite actions without an error")
                    } catch FlowRLError.numerical(let message) {
                        refusals += 1
                        XCTAssertTrue(message.contains("act") && message.contains("observation") && message.contains("parameter"), message)
                        XCTAssertEqual(agent.checkpoint(includeReplayBuffer: true).encoded(), before, "\(name): a refused act changed the agent")
                    }
                }
            }
        }
        XCTAssertGreaterThan(refusals, 0, "the cases of the issue overflow")
    }
}
