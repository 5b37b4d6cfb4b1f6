import FlowRL
import XCTest

/// Fingerprints of seeded training, for refactors that must not change results.
///
/// Each variant trains from a fixed seed on fixed synthetic data (pretraining, transitions,
/// updates, acting) and prints three CRC-32s: of the agent's state (every tensor and integer of a
/// checkpoint with the configuration left out, so adding a configuration key with its old
/// behaviour as default does not count as a change), of the whole checkpoint, and of the actions
/// and metrics. Run `swift test --filter SeededResultsTests` before and after a change and compare
/// the lines. With `FLOWRL_SEEDED_DUMP=<directory>` the raw bytes are written there too, for
/// `sha256sum`. Nothing is asserted against stored numbers: OpenBLAS picks its kernels by CPU, so
/// the fingerprints are only comparable on one machine.
///
/// With `FLOWRL_WRITE_COMPAT_CHECKPOINTS=<directory>` it also writes one small checkpoint per
/// variant, as `CheckpointCompatibilityTests` reads them (how the committed ones were made).
final class SeededResultsTests: XCTestCase {
    /// (label, algorithm, configuration): every algorithm and every SAC Flow velocity field, plus
    /// variants that take the less common branches (policy delay, target interval, SWFP and RLDT options).
    static let variants: [(String, String, String)] = [
        ("sac", "sac", #"{"hidden_sizes": [16, 16], "critic_hidden_sizes": [16], "batch_size": 16, "buffer_size": 128, "seed": 3}"#),
        ("sac_delay", "sac", #"{"hidden_sizes": [16], "critic_hidden_sizes": [16], "batch_size": 16, "buffer_size": 128, "policy_delay": 2, "target_update_interval": 3, "learning_rate": 0.001, "seed": 4}"#),
        ("sac_flow_gated", "sac_flow", #"{"hidden_sizes": [16], "sigma_hidden_sizes": [8], "critic_hidden_sizes": [16], "batch_size": 16, "buffer_size": 128, "flow_steps": 3, "seed": 5}"#),
        ("sac_flow_mlp", "sac_flow", #"{"velocity": "mlp", "hidden_sizes": [16], "sigma_hidden_sizes": [8], "critic_hidden_sizes": [16], "batch_size": 16, "buffer_size": 128, "bc_coef": 0.1, "seed": 6}"#),
        ("sac_flow_decoder", "sac_flow", #"{"velocity": "decoder", "decoder_width": 8, "decoder_heads": 2, "decoder_layers": 1, "critic_hidden_sizes": [16], "batch_size": 16, "buffer_size": 128, "flow_steps": 2, "seed": 7}"#),
        ("swfp", "swfp", #"{"hidden_sizes": [16, 16], "critic_hidden_sizes": [16], "batch_size": 16, "buffer_size": 128, "seed": 8}"#),
        ("swfp_options", "swfp", #"{"hidden_sizes": [16], "critic_hidden_sizes": [16], "batch_size": 16, "buffer_size": 128, "flow_steps": 3, "blocks": "separate", "block_training": "parallel", "energy_at": "terminal", "divergence": "hutchinson", "hutchinson_probes": 2, "prior_update": 3, "policy_delay": 2, "critic_learning_rate": 0.001, "alpha": 0.5, "seed": 9}"#),
        ("swfp_paper", "swfp", #"{"preset": "paper", "hidden_sizes": [16], "critic_hidden_sizes": [16], "batch_size": 16, "actor_batch_size": 24, "buffer_size": 128, "flow_steps": 3, "value_samples": 3, "seed": 13}"#),
        ("flow_bc", "flow_bc", #"{"hidden_sizes": [16], "batch_size": 16, "buffer_size": 128, "flow_steps": 4, "seed": 10}"#),
        ("rldt", "rldt", #"{"hidden_sizes": [16], "critic_hidden_sizes": [16], "batch_size": 16, "buffer_size": 128, "particles": 4, "actor_batch_size": 8, "seed": 11}"#),
        ("rldt_options", "rldt", #"{"hidden_sizes": [16], "critic_hidden_sizes": [16], "batch_size": 16, "buffer_size": 128, "flow_steps": 3, "particles": 3, "actor_batch_size": 8, "kernel": "delta", "reference": "pretrained", "reward_scaling": "running_abs_mean", "exploration": "min_extrp", "exploration_min_step": 1, "seed": 12}"#),
    ]

    /// Further variants, fingerprinted and compared across thread counts (`ForkJoinTests`) but
    /// without a compatibility checkpoint: the SWFP and RLDT branches their updates run concurrently.
    static let moreVariants: [(String, String, String)] = [
        ("swfp_parallel", "swfp", #"{"hidden_sizes": [16], "critic_hidden_sizes": [16], "batch_size": 16, "buffer_size": 128, "flow_steps": 3, "block_training": "parallel", "solver": "midpoint", "energy_at": "terminal", "policy_delay": 2, "actor_batch_size": 24, "seed": 14}"#),
        ("swfp_stored", "swfp", #"{"hidden_sizes": [16], "critic_hidden_sizes": [16], "batch_size": 16, "buffer_size": 128, "flow_steps": 3, "old_particles": "stored", "act_with": "prior", "blocks": "separate", "divergence": "logdet", "actor_batch_size": 8, "value_samples": 2, "seed": 15}"#),
        ("swfp_hopper", "swfp", #"{"batch_size": 256, "buffer_size": 1000, "flow_steps": 2, "seed": 16}"#),
        ("rldt_concurrent", "rldt", #"{"hidden_sizes": [16], "critic_hidden_sizes": [16], "batch_size": 16, "buffer_size": 128, "flow_steps": 3, "particles": 5, "actor_batch_size": 24, "target_samples": 3, "kernel": "delta", "exploration": "min_extrp", "policy_delay": 2, "reference_update": 2, "seed": 17}"#),
        ("rldt_hopper", "rldt", #"{"batch_size": 256, "buffer_size": 1000, "flow_steps": 2, "target_samples": 1, "seed": 18}"#),
    ]

    static let observationSize = 3, actionSize = 2

    /// The fixed data every variant sees.
    static func syntheticTransitions(count: Int, seed: UInt64) -> Transitions {
        var generator = RandomGenerator(seed: seed)
        return Transitions(observations: generator.normalTensor(rows: count, cols: observationSize),
                           actions: generator.uniformTensor(rows: count, cols: actionSize, lower: -1, upper: 1),
                           rewards: generator.normalTensor(rows: count, cols: 1),
                           nextObservations: generator.normalTensor(rows: count, cols: observationSize),
                           terminated: Tensor(rows: count, cols: 1, scalars: (0..<count).map { $0 % 7 == 0 ? 1 : 0 }))
    }

    /// Trains one variant; returns (state bytes, checkpoint bytes, action and metric bytes).
    static func run(algorithm: String, configuration: String) throws -> ([UInt8], [UInt8], [UInt8]) {
        let agent = try ManagedAgent(algorithm: algorithm, configurationJSON: configuration,
                                     observationSize: observationSize, actionSize: actionSize)
        var trace: [UInt8] = []
        func record(_ metrics: [String: Double]) {
            for key in metrics.keys.sorted() {
                trace += Array(key.utf8)
                withUnsafeBytes(of: metrics[key]!.bitPattern.littleEndian) { trace += $0 }
            }
        }
        func record(_ tensor: Tensor) {
            for value in tensor.scalars { withUnsafeBytes(of: value.bitPattern.littleEndian) { trace += $0 } }
        }
        let demonstrations = syntheticTransitions(count: 40, seed: 21)
        record(try agent.pretrain(observations: demonstrations.observations, actions: demonstrations.actions, steps: 6))
        try agent.observe(syntheticTransitions(count: 150, seed: 22))   // wraps the 128-slot ring
        let probe = syntheticTransitions(count: 4, seed: 23).observations
        record(try agent.act(observations: probe, deterministic: true))
        record(try agent.act(observations: probe, deterministic: false))
        record(try agent.update(gradientSteps: 5))
        record(try agent.update(gradientSteps: 4))
        record(try agent.act(observations: probe, deterministic: true))
        record(try agent.act(observations: probe, deterministic: false))
        let checkpoint = agent.checkpoint(includeReplayBuffer: true)
        let stateOnly = Checkpoint(algorithm: checkpoint.algorithm, observationSize: observationSize, actionSize: actionSize,
                                   configurationJSON: "{}", state: checkpoint.state)
        return (stateOnly.encoded(), checkpoint.encoded(), trace)
    }

    /// Asserts that a seeded run repeats byte for byte, and prints the fingerprints to compare across a change.
    func testSeededRunsRepeatExactlyAndPrintTheirFingerprints() throws {
        let dump = ProcessInfo.processInfo.environment["FLOWRL_SEEDED_DUMP"]
        for (label, algorithm, configuration) in Self.variants + Self.moreVariants {
            let (state, file, trace) = try Self.run(algorithm: algorithm, configuration: configuration)
            // The same seed twice gives the same bytes (the fingerprints are worth comparing).
            let again = try Self.run(algorithm: algorithm, configuration: configuration)
            XCTAssertEqual(state, again.0, label)
            XCTAssertEqual(trace, again.2, label)
            let hex = { (value: UInt32) in String(value, radix: 16) }
            // A checkpoint ends with its own CRC-32, so the CRC-32 of the whole file is a constant:
            // fingerprint what precedes it.
            print("seeded \(label): state \(hex(CRC32.checksum(Array(state.dropLast(4))))) "
                  + "checkpoint \(hex(CRC32.checksum(Array(file.dropLast(4))))) "
                  + "actions \(hex(CRC32.checksum(trace)))")
            if let dump {
                for (suffix, bytes) in [("state", state), ("checkpoint", file), ("actions", trace)] {
                    try Data(bytes).write(to: URL(fileURLWithPath: dump).appendingPathComponent("\(label).\(suffix)"))
                }
            }
        }
    }

    /// Writes the compatibility checkpoints when asked (see the type's comment) and reads each back;
    /// skipped otherwise.
    func testWriteCompatibilityCheckpointsWhenAsked() throws {
        guard let directory = ProcessInfo.processInfo.environment["FLOWRL_WRITE_COMPAT_CHECKPOINTS"] else {
            throw XCTSkip("set FLOWRL_WRITE_COMPAT_CHECKPOINTS=<directory> to write the compatibility checkpoints")
        }
        for (label, algorithm, configuration) in Self.variants {
            let agent = try ManagedAgent(algorithm: algorithm, configurationJSON: configuration,
                                         observationSize: Self.observationSize, actionSize: Self.actionSize)
            let demonstrations = Self.syntheticTransitions(count: 40, seed: 21)
            _ = try agent.pretrain(observations: demonstrations.observations, actions: demonstrations.actions, steps: 3)
            try agent.observe(Self.syntheticTransitions(count: 24, seed: 22))
            _ = try agent.update(gradientSteps: 3)
            try agent.setMetadata(#"{"written_by": "SeededResultsTests before the shared core"}"#)
            try agent.checkpoint(includeReplayBuffer: true).write(to: directory + "/\(label).flowrl")
            XCTAssertEqual(try Checkpoint.read(from: directory + "/\(label).flowrl").state,
                           agent.checkpoint(includeReplayBuffer: true).state, label)
        }
    }
}
