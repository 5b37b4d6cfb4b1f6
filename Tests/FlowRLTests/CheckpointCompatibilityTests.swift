import FlowRL
import XCTest

/// Checkpoints written before the shared off-policy core and the configuration groups (one per
/// variant of `SeededResultsTests`, made by its `FLOWRL_WRITE_COMPAT_CHECKPOINTS` writer on the
/// code of that time and kept in `Tests/CheckpointData/`; `rldt.flowrl` was written later, before
/// RLDT's `reward_scaling` and `exploration` options, `rldt_options.flowrl` with them, and
/// `swfp_paper.flowrl` with SWFP's paper options and stored particle chains) still load, with every stored tensor and
/// integer taken over unchanged, the configuration keys added since at their declared legacy values
/// (the values that reproduce the old behaviour, whatever today's defaults), and training
/// continuing from them.
final class CheckpointCompatibilityTests: XCTestCase {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("CheckpointData")

    func testCheckpointsFromBeforeTheSharedCoreLoadAndContinue() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path).filter { $0.hasSuffix(".flowrl") }.sorted()
        XCTAssertEqual(files.count, SeededResultsTests.variants.count, "one checkpoint per seeded variant")
        for file in files {
            let stored = try Checkpoint.read(from: Self.directory.appendingPathComponent(file).path)
            let agent = try ManagedAgent(checkpoint: stored)
            // Nothing stored is dropped or changed: the loaded agent captures the same tensors and
            // integers, under the same names.
            let state = agent.checkpoint(includeReplayBuffer: true).state
            XCTAssertEqual(state, stored.state, file)
            XCTAssertEqual(agent.metadataJSON, stored.metadataJSON, file)
            // Keys added since take the values that keep the old behaviour; keys renamed since
            // (SWFP's `tau`, now `jko_step`) keep their values under the new names.
            guard case .object(let old) = try JSONValue.parse(stored.configurationJSON),
                  case .object(let new) = try JSONValue.parse(agent.agent.configurationJSON),
                  case .object(let renamed)? = try AgentRegistry.schema(algorithm: stored.algorithm).objectField("renamed_keys")
            else { return XCTFail(file) }
            for (key, value) in old {
                guard case .string(let newName)? = renamed[key] else { XCTAssertEqual(new[key], value, "\(file): '\(key)'"); continue }
                XCTAssertEqual(new[newName], value, "\(file): '\(key)' renamed '\(newName)'")
                XCTAssertNil(new[key], "\(file): '\(key)'")
            }
            try checkAddedKeys(file: file, algorithm: stored.algorithm, old: old, new: new, renamed: renamed)
            if stored.algorithm == "swfp" { XCTAssertNotNil(old["tau"], "\(file): written before the rename") }
            if stored.algorithm == "sac" || stored.algorithm == "sac_flow" {
                // One learning rate for actor and critic, as before `critic_learning_rate` existed.
                XCTAssertEqual(new["critic_learning_rate"], old["learning_rate"], file)
            }
            if stored.algorithm == "swfp" { XCTAssertEqual(new["target_update_interval"]?.text, "1", file) }
            if stored.algorithm == "swfp", old["actor_batch_size"] == nil {
                // Before the paper's options: the actor learns on the critic's batch, with our own choices.
                XCTAssertEqual(new["actor_batch_size"], old["batch_size"], file)
                for (key, value) in ["act_with": "policy", "old_particles": "recomputed", "value_target": "soft", "solver": "euler"] {
                    XCTAssertEqual(new[key], .string(value), "\(file): '\(key)'")
                }
            }
            if stored.algorithm == "swfp" {
                // Every stored file predates `entropy_space`: the block loss's entropy stays pre-squash.
                XCTAssertNil(old["entropy_space"], file)
                XCTAssertEqual(new["entropy_space"], .string("pre_squash"), file)
            }
            if stored.algorithm == "sac_flow" { XCTAssertEqual(new["activation"]?.text, #""silu""#, file) }
            let metrics = try agent.update(gradientSteps: 2)
            XCTAssertTrue(metrics.values.allSatisfy(\.isFinite), "\(file): \(metrics)")
        }
    }
}

extension CheckpointCompatibilityTests {
    /// Every key the stored file lacks (added since it was written) declares what its absence
    /// means, and the file loads with it: its legacy value (`ConfigKey.addedLater`), or, for a key
    /// that follows another, that key's stored value. A key added from now on is absent from every
    /// file here, so it cannot be added without a legacy value.
    func checkAddedKeys(file: String, algorithm: String, old: [String: JSONValue], new: [String: JSONValue],
                        renamed: [String: JSONValue]) throws {
        guard case .array(let keys)? = try AgentRegistry.schema(algorithm: algorithm).objectField("keys") else { return XCTFail(file) }
        let storedNames = Set(old.keys.map { key in
            guard case .string(let newName)? = renamed[key] else { return key }
            return newName
        })
        for key in keys {
            guard case .string(let name)? = key.objectField("name"), !storedNames.contains(name) else { continue }
            let legacy = key.objectField("legacy_value")
            if case .string(let source)? = key.objectField("follows") {
                XCTAssertNil(legacy, "\(algorithm).\(name) follows \(source): its absence means following it, not a legacy value")
                XCTAssertEqual(new[name], old[source], "\(file): '\(name)' follows '\(source)'")
            } else if let legacy {
                XCTAssertEqual(new[name], legacy, "\(file): '\(name)' loads with its legacy value")
            } else {
                XCTFail("\(algorithm).\(name) was added after \(file) was written and declares no legacy value "
                        + "(ConfigKey.addedLater(legacyValue:): what a stored configuration without it means)")
            }
        }
    }
}

private extension JSONValue {
    /// The field `name` of an object (nil for anything else).
    func objectField(_ name: String) -> JSONValue? {
        guard case .object(let fields) = self else { return nil }
        return fields[name]
    }
}
