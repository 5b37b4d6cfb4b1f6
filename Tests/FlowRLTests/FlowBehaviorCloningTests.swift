import FlowRL
import XCTest

/// Flow behaviour cloning must visibly solve a small imitation problem, and the managed agent
/// must roll back an update that goes non-finite.
final class FlowBehaviorCloningTests: XCTestCase {
    func testPretrainingImitatesAStateDependentBimodalExpert() throws {
        // Expert: for state s ∈ [-1, 1], the action is ±0.6 with equal odds when s > 0 and
        // −0.2 · s (unimodal) when s ≤ 0. A good flow policy reproduces both modes for s > 0
        // (a Gaussian policy would put its mass between them) and the line for s ≤ 0.
        var generator = RandomGenerator(seed: 5)
        let count = 2048
        var states: [Float] = [], actions: [Float] = []
        for _ in 0..<count {
            let s = generator.uniform(-1, 1)
            states.append(s)
            actions.append(s > 0 ? (generator.uniform() < 0.5 ? 0.6 : -0.6) : -0.2 * s)
        }
        let agent = try ManagedAgent(algorithm: "flow_bc",
                                     configurationJSON: #"{"hidden_sizes": [64, 64], "batch_size": 128, "learning_rate": 0.003, "flow_steps": 8, "seed": 2}"#,
                                     observationSize: 1, actionSize: 1)
        let metrics = try agent.pretrain(observations: Tensor(rows: count, cols: 1, scalars: states),
                                         actions: Tensor(rows: count, cols: 1, scalars: actions), steps: 1500)
        XCTAssertTrue(metrics["pretrain/flow_matching_loss"]!.isFinite)

        let samples = try agent.act(observations: Tensor(rows: 400, cols: 1, repeating: 0.5), deterministic: false).scalars
        let nearModes = samples.filter { abs(abs($0) - 0.6) < 0.15 }.count
        let positive = samples.filter { $0 > 0 }.count
        XCTAssertGreaterThan(nearModes, 300, "only \(nearModes)/400 samples near ±0.6")
        XCTAssertTrue((120...280).contains(positive), "modes unbalanced: \(positive)/400 positive")

        let line = try agent.act(observations: Tensor(rows: 3, cols: 1, scalars: [-0.9, -0.5, -0.1]), deterministic: true).scalars
        for (action, state) in zip(line, [Float(-0.9), -0.5, -0.1]) {
            XCTAssertEqual(action, -0.2 * state, accuracy: 0.06)
        }
    }

    func testNonFiniteUpdateIsRolledBack() throws {
        let agent = try ManagedAgent(algorithm: "flow_bc", configurationJSON: #"{"hidden_sizes": [8], "batch_size": 4}"#,
                                     observationSize: 2, actionSize: 1)
        let probe = Tensor([[0.1, 0.2]])
        let before = agent.checkpoint(includeReplayBuffer: false).encoded()
        let actionBefore = try agent.act(observations: probe, deterministic: true)
        // Finite but huge observations overflow the loss to infinity.
        let huge = Tensor(rows: 8, cols: 2, repeating: 1e30)
        XCTAssertThrowsError(try agent.pretrain(observations: huge, actions: Tensor(rows: 8, cols: 1), steps: 3)) {
            guard case .numerical = $0 as? FlowRLError else { return XCTFail("\($0)") }
        }
        XCTAssertEqual(agent.checkpoint(includeReplayBuffer: false).encoded(), before)
        XCTAssertEqual(try agent.act(observations: probe, deterministic: true), actionBefore)
    }

    func testSameSeedGivesBitwiseEqualTraining() throws {
        func train() throws -> [UInt8] {
            let agent = try ManagedAgent(algorithm: "flow_bc", configurationJSON: #"{"hidden_sizes": [16], "batch_size": 8, "seed": 9}"#,
                                         observationSize: 2, actionSize: 2)
            var generator = RandomGenerator(seed: 1)
            _ = try agent.pretrain(observations: generator.normalTensor(rows: 32, cols: 2),
                                   actions: generator.uniformTensor(rows: 32, cols: 2, lower: -1, upper: 1), steps: 20)
            return agent.checkpoint(includeReplayBuffer: false).encoded()
        }
        XCTAssertEqual(try train(), try train())
    }
}
