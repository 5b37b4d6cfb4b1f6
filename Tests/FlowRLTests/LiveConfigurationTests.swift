import FlowRL
import XCTest

/// `ManagedAgent.setConfiguration` (`flowrl_agent_set_config`): a live agent's learning rates
/// change through it, checked as a new configuration's, all or nothing; every optimiser that uses
/// a key takes the new value, and `info` and checkpoints report it. And the keys renamed since
/// checkpoints were first written (SWFP's `tau` → `jko_step`): old checkpoints load as the same
/// agent, new configurations with the old name are refused naming the new one.
final class LiveConfigurationTests: XCTestCase {
    typealias List = AlgorithmList

    func bytes(_ agent: ManagedAgent) -> [UInt8] { agent.checkpoint(includeReplayBuffer: true).encoded() }

    func configuration(_ agent: ManagedAgent) throws -> [String: JSONValue] {
        guard case .object(let object) = try JSONValue.parse(agent.agent.configurationJSON) else { return [:] }
        return object
    }

    /// The message of the `FlowRLError.invalidArgument` `body` throws ("" if it throws none).
    func rejection(_ body: () throws -> Void) -> String {
        do {
            try body()
            return ""
        } catch let FlowRLError.invalidArgument(message) {
            return message
        } catch {
            return "unexpected error \(error)"
        }
    }

    /// The parameters an optimiser trains (the policy or actor, the critic, log α), by checkpoint
    /// name; lagged copies (targets, priors) move by Polyak steps whatever the rates.
    func trained(_ agent: ManagedAgent) -> [String: Tensor] {
        agent.checkpoint(includeReplayBuffer: false).state.tensors.filter { name, _ in
            ["policy", "actor", "critic", "temperature"].contains(String(name.prefix { $0 != "." })) && !name.contains("optimizer")
        }
    }

    /// The settable keys an algorithm's schema publishes.
    func settableKeys(_ algorithm: String) throws -> [String] {
        guard case .object(let schema) = try AgentRegistry.schema(algorithm: algorithm), case .array(let keys)? = schema["keys"] else {
            return []
        }
        return keys.compactMap { key in
            guard case .object(let fields) = key, fields["settable"] == .bool(true), case .string(let name)? = fields["name"] else { return nil }
            return name
        }
    }

    func testOnlyTheLearningRatesAreSettable() throws {
        for name in AgentRegistry.names {
            let expected: Set<String> = name == "flow_bc" ? ["learning_rate"] : ["learning_rate", "critic_learning_rate"]
            XCTAssertEqual(Set(try settableKeys(name)), expected, name)
        }
    }

    /// With every settable rate at 0, updates leave every parameter as it was (so every optimiser
    /// took the new rate, α's and the critic's included); back at a positive rate they learn again.
    func testAZeroRateFreezesEveryOptimiserAndAPositiveOneUnfreezesThem() throws {
        for model in List.all {
            let agent = try List.agent(model, #""seed": 4"#)
            try agent.observe(List.transitions(12))
            _ = try agent.update(gradientSteps: 2)
            let keys = try settableKeys(model.algorithm)
            try agent.setConfiguration(JSONValue.object(Dictionary(uniqueKeysWithValues: keys.map { ($0, JSONValue.integer(0)) })).text)
            for key in keys { XCTAssertEqual(try configuration(agent)[key]?.text, "0", "\(model.label): \(key)") }
            let frozen = trained(agent)
            XCTAssertGreaterThanOrEqual(frozen.count, model.algorithm == "flow_bc" ? 2 : 5, model.label)
            _ = try agent.update(gradientSteps: 3)
            XCTAssertEqual(trained(agent), frozen, "\(model.label): a parameter moved at rate 0")
            try agent.setConfiguration(#"{"learning_rate": 0.001}"#)
            _ = try agent.update(gradientSteps: 3)
            let moved = trained(agent).filter { frozen[$0.key] != $0.value }.keys
            XCTAssertTrue(moved.contains { $0.hasPrefix("policy.") || $0.hasPrefix("actor.") }, "\(model.label): the policy did not learn")
            XCTAssertFalse(moved.contains { $0.hasPrefix("critic.") }, "\(model.label): the critic learned at its rate 0")
            if model.algorithm != "flow_bc" {
                try agent.setConfiguration(#"{"critic_learning_rate": 0.001}"#)
                _ = try agent.update(gradientSteps: 3)
                XCTAssertTrue(trained(agent).contains { $0.key.hasPrefix("critic.") && frozen[$0.key] != $0.value }, model.label)
            }
        }
    }

    /// The new rates are what `info` reports, what checkpoints store and what the loaded agent's
    /// optimisers use: it continues exactly as the agent that was changed.
    func testACheckpointAfterAChangeRecordsTheRateInUse() throws {
        for model in List.all {
            let agent = try List.agent(model, #""seed": 5"#)
            try agent.observe(List.transitions(12))
            _ = try agent.update(gradientSteps: 1)
            let change = model.algorithm == "flow_bc" ? #"{"learning_rate": 0.0125}"# : #"{"learning_rate": 0.0125, "critic_learning_rate": 0.0625}"#
            try agent.setConfiguration(change)
            XCTAssertTrue(agent.infoJSON().contains(#""learning_rate":0.0125"#), "\(model.label): \(agent.infoJSON())")
            let checkpoint = agent.checkpoint(includeReplayBuffer: true)
            guard case .object(let stored) = try JSONValue.parse(checkpoint.configurationJSON) else { return XCTFail(model.label) }
            XCTAssertEqual(stored["learning_rate"], .number(0.0125), model.label)
            if model.algorithm != "flow_bc" { XCTAssertEqual(stored["critic_learning_rate"], .number(0.0625), model.label) }
            let loaded = try ManagedAgent(checkpoint: Checkpoint(decoding: checkpoint.encoded()))
            XCTAssertEqual(try agent.update(gradientSteps: 2), try loaded.update(gradientSteps: 2), model.label)
            XCTAssertEqual(bytes(agent), bytes(loaded), model.label)
        }
    }

    func testARefusedChangeNamesTheKeyAndChangesNothing() throws {
        for model in List.all {
            let agent = try List.agent(model, #""seed": 6"#)
            try agent.observe(List.transitions(12))
            _ = try agent.update(gradientSteps: 1)
            let before = bytes(agent), info = agent.infoJSON()
            let critic = model.algorithm == "flow_bc" ? "" : #""critic_learning_rate": 0.01, "#
            let cases: [(json: String, expected: String)] = [
                ("{" + critic + #""learning_rate": 1.5}"#, "config key 'learning_rate' must be in [0.0, 1.0], got 1.5"),
                ("{" + critic + #""learning_rate": -1e-9}"#, "'learning_rate'"),
                ("{" + critic + #""learning_rate": 1e300}"#, "'learning_rate'"),
                (#"{"learning_rate": "fast"}"#, "'learning_rate'"),
                (#"{"learning_rate": null}"#, "'learning_rate'"),
                (#"{"learning_rate": 0.01, "batch_size": 8}"#, "config key 'batch_size' of \(model.algorithm) is fixed when the agent is created"),
                (#"{"learning_rate": 0.01, "learning_rat": 0.1}"#, "unknown config key 'learning_rat'"),
                (#"{"seed": 1}"#, "'seed'"),
                ("[0.01]", "must be a JSON object"),
                (#"{"learning_rate": 0.01"#, "must be a JSON object"),
            ] + (model.algorithm == "flow_bc" ? [(#"{"critic_learning_rate": 0.01}"#, "unknown config key 'critic_learning_rate'")]
                                              : [(#"{"learning_rate": 0.01, "critic_learning_rate": 2}"#, "'critic_learning_rate'")])
            for (json, expected) in cases {
                let message = rejection { try agent.setConfiguration(json) }
                XCTAssertTrue(message.contains(expected), "\(model.label) \(json): \(message)")
                XCTAssertEqual(bytes(agent), before, "\(model.label) \(json) changed the agent")
                XCTAssertEqual(agent.infoJSON(), info, "\(model.label) \(json) changed the configuration")
            }
            // An empty change is no change; the same call with good values goes through.
            try agent.setConfiguration("{}")
            XCTAssertEqual(bytes(agent), before, model.label)
            try agent.setConfiguration(#"{"learning_rate": 0.01}"#)
            XCTAssertEqual(try configuration(agent)["learning_rate"], .number(0.01), model.label)
        }
    }

    /// pretrain_learning_rate "auto" follows the learning rate in use; a value of its own stays.
    func testPretrainingWithAnAutomaticRateUsesTheRateInUse() throws {
        let model = List.all[0]  // flow_bc
        let demonstrations = List.transitions(8)
        func pretrained(_ extra: String, change: String?) throws -> [Tensor] {
            let agent = try List.agent(model, extra)
            if let change { try agent.setConfiguration(change) }
            _ = try agent.pretrain(observations: demonstrations.observations, actions: demonstrations.actions, steps: 3)
            return agent.agent.allParameters.map(\.value)
        }
        let initial = try List.agent(model, #""seed": 2"#).agent.allParameters.map(\.value)
        XCTAssertEqual(try pretrained(#""seed": 2"#, change: #"{"learning_rate": 0}"#), initial)
        XCTAssertNotEqual(try pretrained(#""seed": 2, "pretrain_learning_rate": 0.001"#, change: #"{"learning_rate": 0}"#), initial)
    }

    // MARK: Renamed keys

    func testSWFPsJKOStepIsNamedJKOStepAndTheOldNameIsRefusedNamingTheNewOne() throws {
        guard case .object(let schema) = try AgentRegistry.schema(algorithm: "swfp") else { return XCTFail() }
        XCTAssertEqual(schema["renamed_keys"], .object(["tau": .string("jko_step")]))
        XCTAssertEqual(try AgentRegistry.schema(algorithm: "sac").text.contains(#""renamed_keys":{}"#), true)
        let message = rejection { _ = try ManagedAgent(algorithm: "swfp", configurationJSON: #"{"tau": 0.05}"#, observationSize: 2, actionSize: 1) }
        XCTAssertTrue(message.contains("config key 'tau' for swfp has been renamed 'jko_step'"), message)
        let agent = try ManagedAgent(algorithm: "swfp", configurationJSON: #"{"jko_step": 0.05}"#, observationSize: 2, actionSize: 1)
        XCTAssertEqual(try configuration(agent)["jko_step"], .number(0.05))
        XCTAssertNil(try configuration(agent)["tau"])
    }

    /// A checkpoint written before the rename stores `tau` as the JKO step: it loads as the same
    /// agent (the same state, `jko_step` = the stored `tau`), and continues exactly as the agent that
    /// wrote it would have.
    func testAnSWFPCheckpointStoringTauLoadsWithItsJKOStep() throws {
        for model in List.all where model.algorithm == "swfp" {
            let agent = try List.agent(model, #""seed": 7, "jko_step": 0.03, "w2_scale": 2.0"#)
            try agent.observe(List.transitions(12))
            _ = try agent.update(gradientSteps: 2)
            var old = agent.checkpoint(includeReplayBuffer: true)
            guard case .object(var stored) = try JSONValue.parse(old.configurationJSON), let step = stored.removeValue(forKey: "jko_step") else {
                return XCTFail(model.label)
            }
            stored["tau"] = step
            old.configurationJSON = JSONValue.object(stored).text
            XCTAssertTrue(old.configurationJSON.contains(#""tau":0.03"#), old.configurationJSON)
            let loaded = try ManagedAgent(checkpoint: Checkpoint(decoding: old.encoded()))
            XCTAssertEqual(loaded.agent.configurationJSON, agent.agent.configurationJSON, model.label)
            XCTAssertEqual(try loaded.update(gradientSteps: 3), try agent.update(gradientSteps: 3), model.label)
            XCTAssertEqual(bytes(loaded), bytes(agent), model.label)
            // A different JKO step would have given a different update: the stored tau was used.
            let other = try List.agent(model, #""seed": 7, "jko_step": 0.1, "w2_scale": 2.0"#)
            try other.observe(List.transitions(12))
            XCTAssertNotEqual(try other.update(gradientSteps: 5), try List.agent(model, #""seed": 7, "jko_step": 0.03, "w2_scale": 2.0"#)
                .observeThenUpdate(List.transitions(12), 5), model.label)
        }
    }

    func testMigrationLeavesOtherConfigurationsAlone() throws {
        typealias Configuration = SWFP.Configuration
        XCTAssertEqual(try renamed(Configuration.self, #"{"jko_step":0.2}"#), #"{"jko_step":0.2}"#)
        XCTAssertEqual(try renamed(Configuration.self, #"{"tau":0.2}"#), #"{"jko_step":0.2}"#)
        // Both names: the new one wins, the old one stays for decoding to refuse.
        XCTAssertEqual(try renamed(Configuration.self, #"{"jko_step":0.2,"tau":0.3}"#), #"{"jko_step":0.2,"tau":0.3}"#)
        XCTAssertEqual(Configuration.migrated(json: "not json"), "not json")
        XCTAssertEqual(try renamed(SAC.Configuration.self, #"{"tau":0.2}"#), #"{"tau":0.2}"#)
    }

    /// `migrated(json:)` without the legacy values it also fills in (LegacyValueTests).
    func renamed<Configuration: AgentConfiguration>(_ type: Configuration.Type, _ json: String) throws -> String {
        guard case .object(var object) = try JSONValue.parse(Configuration.migrated(json: json)) else { return "not an object" }
        for (key, legacy) in Configuration.legacyValues where object[key] == legacy { object.removeValue(forKey: key) }
        return JSONValue.object(object).text
    }
}

private extension ManagedAgent {
    /// Observes `transitions`, then runs `steps` updates; returns their metrics.
    func observeThenUpdate(_ transitions: Transitions, _ steps: Int) throws -> [String: Double] {
        try observe(transitions)
        return try update(gradientSteps: steps)
    }
}
