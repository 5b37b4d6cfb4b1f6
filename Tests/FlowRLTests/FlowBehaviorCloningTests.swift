import FlowRL
import XCTest

/// Flow behaviour cloning must visibly solve a small imitation problem (its contract, roll-back
/// and determinism included, is `AlgorithmContractTests`).
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
}
