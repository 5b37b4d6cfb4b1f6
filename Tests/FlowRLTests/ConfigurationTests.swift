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
