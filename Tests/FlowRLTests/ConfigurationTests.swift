import FlowRL
import XCTest

final class ConfigurationTests: XCTestCase {
    typealias Configuration = FlowBehaviorCloning.Configuration

    func message(_ json: String) -> String {
        do {
            _ = try Configuration.decode(json: json, algorithm: "flow_bc")
            return "no error"
        } catch let error as FlowRLError {
            guard case .invalidArgument(let message) = error else { return "wrong error kind: \(error)" }
            return message
        } catch {
            return "unexpected: \(error)"
        }
    }

    func testDefaultsAndOverrides() throws {
        XCTAssertEqual(try Configuration.decode(json: nil, algorithm: "flow_bc"), Configuration())
        XCTAssertEqual(try Configuration.decode(json: "  {} ", algorithm: "flow_bc"), Configuration())
        let custom = try Configuration.decode(json: #"{"hidden_sizes": [32, 16], "learning_rate": 0.001, "activation": "tanh"}"#, algorithm: "flow_bc")
        XCTAssertEqual(custom.options.hiddenSizes, [32, 16])
        XCTAssertEqual(custom.common.learningRate, 0.001)
        XCTAssertEqual(custom.options.activation, .tanh)
        XCTAssertEqual(custom.options.flowSteps, Configuration().options.flowSteps)
        // The JSON form round-trips.
        XCTAssertEqual(try Configuration.decode(json: custom.jsonString(), algorithm: "flow_bc"), custom)
    }

    func testErrorsNameTheKey() {
        let unknown = message(#"{"learning_rat": 0.1}"#)
        XCTAssertTrue(unknown.contains("unknown config key 'learning_rat'") && unknown.contains("learning_rate"), unknown)
        XCTAssertTrue(message(#"{"flow_steps": 0}"#).contains("'flow_steps' must be in [1, 1000]"))
        XCTAssertTrue(message(#"{"learning_rate": -1}"#).contains("'learning_rate'"))
        XCTAssertTrue(message(#"{"hidden_sizes": []}"#).contains("'hidden_sizes'"))
        XCTAssertTrue(message(#"{"time_embedding_size": 7}"#).contains("must be even"))
        XCTAssertTrue(message(#"{"flow_steps": "x"}"#).contains("'flow_steps' has the wrong type"), message(#"{"flow_steps": "x"}"#))
        XCTAssertTrue(message(#"{"activation": "swish"}"#).contains("'activation'"), message(#"{"activation": "swish"}"#))
        XCTAssertTrue(message(#"{"batch_size": 3.5}"#).contains("config key 'batch_size'"), message(#"{"batch_size": 3.5}"#))
        XCTAssertTrue(message(#"{"seed": -1}"#).contains("config key 'seed'"), message(#"{"seed": -1}"#))
        XCTAssertTrue(message("[1, 2]").contains("must be a JSON object"))
        XCTAssertTrue(message("{").contains("not valid JSON"))
    }

    func testSharedGroupsStayFlatAndTheCriticLearningRateFollowsWhereItDid() throws {
        // Flat keys: every group's keys at the top level, none nested.
        guard case .object(let sac) = SAC.Configuration().jsonValue() else { return XCTFail("not an object") }
        XCTAssertTrue(sac.values.allSatisfy { if case .object = $0 { return false } else { return true } })
        for key in ["critic_hidden_sizes", "critic_learning_rate", "gamma", "critic_tau", "target_update_interval", "policy_delay",
                    "alpha", "initial_alpha", "target_entropy", "learning_starts", "train_freq", "gradient_steps",
                    "learning_rate", "seed", "buffer_size", "batch_size", "hidden_sizes"] {
            XCTAssertNotNil(sac[key], key)
        }
        // SAC and SAC Flow: one learning rate unless the critic's is given (as before the key).
        func criticRate(_ agent: SAC) -> Float { agent.core.softCritic!.optimizer.learningRate }
        XCTAssertEqual(criticRate(try SAC(configurationJSON: #"{"learning_rate": 0.001}"#, observationSize: 2, actionSize: 1)), 0.001)
        XCTAssertEqual(criticRate(try SAC(configurationJSON: #"{"learning_rate": 0.001, "critic_learning_rate": 0.002}"#,
                                          observationSize: 2, actionSize: 1)), 0.002)
        let flow = try SACFlow(configurationJSON: #"{"learning_rate": 0.001, "hidden_sizes": [8]}"#, observationSize: 2, actionSize: 1)
        XCTAssertEqual(flow.core.softCritic!.optimizer.learningRate, 0.001)
        // SWFP's has always been its own.
        let swfp = try SWFP(configurationJSON: #"{"learning_rate": 0.001, "hidden_sizes": [8]}"#, observationSize: 2, actionSize: 1)
        XCTAssertEqual(swfp.core.softCritic!.optimizer.learningRate, 3e-4)
        // SWFP keeps its own learning_starts default; SAC Flow's activation is configurable.
        XCTAssertEqual(SWFP.Configuration().trainingLoop.learningStarts, 1000)
        XCTAssertEqual(SAC.Configuration().trainingLoop.learningStarts, 100)
        let tanhFlow = try SACFlow.Configuration.decode(json: #"{"activation": "tanh"}"#, algorithm: "sac_flow")
        XCTAssertEqual(tanhFlow.options.activation, .tanh)
        // A following key with a bad source value names the key the user typed.
        XCTAssertThrowsError(try SAC.Configuration.decode(json: #"{"learning_rate": 2}"#, algorithm: "sac")) {
            XCTAssertTrue("\($0)".contains("'learning_rate'"), "\($0)")
        }
    }
}

/// The critic warm-up's length and target rate (docs/algorithms.md, "The start of fine-tuning").
final class CriticWarmupTests: XCTestCase {
    func steps(_ json: String) throws -> Int {
        try SAC.Configuration.decode(json: json, algorithm: "sac").critic.resolvedCriticWarmupSteps
    }

    func testAutoFollowsTheHorizonAndTheWarmupRate() throws {
        XCTAssertEqual(try steps("{}"), 2000)                                                        // the default
        XCTAssertEqual(try steps(#"{"critic_warmup_steps": "auto", "critic_warmup_tau": 0.05}"#), 6000)  // 3 / (0.05 · 0.01)
        XCTAssertEqual(try steps(#"{"critic_warmup_steps": "auto", "critic_warmup_tau": 0.05, "gamma": 0.8}"#), 300)
        XCTAssertEqual(try steps(#"{"critic_warmup_steps": "auto", "critic_warmup_tau": 0.1, "gamma": 0.98}"#), 1500)
        // τ_w "auto": the critic's own rate per step, critic_tau / target_update_interval.
        XCTAssertEqual(try steps(#"{"critic_warmup_steps": "auto", "gamma": 0.8}"#), 3000)             // 3 / (0.005 · 0.2)
        XCTAssertEqual(try steps(#"{"critic_warmup_steps": "auto", "gamma": 0.8, "critic_tau": 0.01, "target_update_interval": 2}"#), 3000)
        XCTAssertEqual(try steps(#"{"critic_warmup_steps": "auto", "critic_tau": 0}"#), 0)
        XCTAssertEqual(try steps(#"{"critic_warmup_steps": "auto"}"#), CriticSettings.autoWarmupStepsCap)
        XCTAssertEqual(try steps(#"{"critic_warmup_steps": "auto", "critic_warmup_tau": 0.05, "gamma": 1}"#), CriticSettings.autoWarmupStepsCap)
        XCTAssertEqual(try steps(#"{"critic_warmup_steps": 7}"#), 7)
        XCTAssertEqual(try steps(#"{"critic_warmup_steps": 0}"#), 0)
        for bad in [#"{"critic_warmup_steps": -1}"#, #"{"critic_warmup_steps": 2.5}"#, #"{"critic_warmup_steps": "some"}"#,
                    #"{"critic_warmup_tau": 0}"#, #"{"critic_warmup_tau": 2}"#] {
            XCTAssertThrowsError(try steps(bad), bad) { error in
                XCTAssertTrue("\(error)".contains("critic_warmup"), "\(bad): \(error)")
            }
        }
        // "auto" and a count both round-trip through the configuration's JSON.
        for json in ["{}", #"{"critic_warmup_steps": "auto", "critic_warmup_tau": 0.2}"#] {
            let configuration = try SAC.Configuration.decode(json: json, algorithm: "sac")
            XCTAssertEqual(try SAC.Configuration.decode(json: configuration.jsonString(), algorithm: "sac"), configuration)
        }
    }

    func testTheWarmupMovesTheTargetsAtItsOwnRate() throws {
        // τ_w = 1: after one warm-up step the targets equal the critic; with `critic_tau` (0.005)
        // every 1,000 updates they would not have moved at all.
        let agent = try SAC(configurationJSON: #"{"hidden_sizes": [8], "critic_hidden_sizes": [8], "batch_size": 4, "critic_warmup_steps": 1, "critic_warmup_tau": 1, "target_update_interval": 1000}"#,
                            observationSize: 3, actionSize: 2)
        var generator = RandomGenerator(seed: 1)
        let transitions = Transitions(observations: generator.normalTensor(rows: 8, cols: 3),
                                      actions: generator.uniformTensor(rows: 8, cols: 2, lower: -1, upper: 1),
                                      rewards: generator.normalTensor(rows: 8, cols: 1),
                                      nextObservations: generator.normalTensor(rows: 8, cols: 3),
                                      terminated: Tensor(rows: 8, cols: 1))
        let critic = agent.core.softCritic!
        let initial = critic.critic.parameters.map(\.value)
        XCTAssertEqual(initial, critic.target.parameters.map(\.value))
        let metrics = agent.storeDemonstrations(transitions).metrics
        XCTAssertEqual(metrics["critic_warmup/steps"], 1)
        XCTAssertEqual(agent.core.progress.updates, 1)
        XCTAssertNotEqual(critic.critic.parameters.map(\.value), initial, "the critic did not learn")
        XCTAssertEqual(critic.critic.parameters.map(\.value), critic.target.parameters.map(\.value), "the targets did not follow at τ_w = 1")
    }
}
