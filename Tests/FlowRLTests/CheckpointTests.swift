import FlowRL
import XCTest

/// The checkpoint format: round trips, and every kind of damage rejected with an I/O error.
final class CheckpointTests: XCTestCase {
    func makeAgent(seed: UInt64 = 1) throws -> ManagedAgent {
        try ManagedAgent(algorithm: "flow_bc", configurationJSON: #"{"hidden_sizes": [8], "batch_size": 4, "buffer_size": 16, "seed": \#(seed)}"#,
                         observationSize: 2, actionSize: 1)
    }

    func sampleTransitions(_ count: Int) -> Transitions {
        var generator = RandomGenerator(seed: 3)
        return Transitions(observations: generator.normalTensor(rows: count, cols: 2),
                           actions: generator.uniformTensor(rows: count, cols: 1, lower: -1, upper: 1),
                           rewards: generator.normalTensor(rows: count, cols: 1),
                           nextObservations: generator.normalTensor(rows: count, cols: 2),
                           terminated: Tensor(rows: count, cols: 1))
    }

    func testRoundTripRestoresEverything() throws {
        let agent = try makeAgent()
        try agent.observe(sampleTransitions(20))  // wraps the 16-slot ring
        _ = try agent.update(gradientSteps: 3)
        try agent.setMetadata(#"{"note": "x"}"#)
        let bytes = agent.checkpoint(includeReplayBuffer: true).encoded()
        let restored = try ManagedAgent(checkpoint: try Checkpoint(decoding: bytes))
        XCTAssertEqual(restored.checkpoint(includeReplayBuffer: true).encoded(), bytes, "re-encoding gives the same bytes")
        XCTAssertEqual(restored.metadataJSON, #"{"note": "x"}"#)
        // Identical continued training: same metrics, same parameters.
        XCTAssertEqual(try agent.update(gradientSteps: 2), try restored.update(gradientSteps: 2))
        XCTAssertEqual(agent.checkpoint(includeReplayBuffer: true).encoded(), restored.checkpoint(includeReplayBuffer: true).encoded())
    }

    func testFileRoundTripIsAtomicAndLeavesNoTemporaryFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("flowrl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("agent.flowrl").path
        let checkpoint = try makeAgent().checkpoint(includeReplayBuffer: false)
        try checkpoint.write(to: path)
        try checkpoint.write(to: path)  // replacing an existing file
        XCTAssertEqual(try Checkpoint.read(from: path), checkpoint)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["agent.flowrl"])
        XCTAssertThrowsError(try checkpoint.write(to: directory.appendingPathComponent("missing/agent").path)) {
            XCTAssertTrue(($0 as? FlowRLError)?.description.contains("cannot write") ?? false)
        }
    }

    func testDamageIsRejected() throws {
        let bytes = try makeAgent().checkpoint(includeReplayBuffer: false).encoded()
        func rejects(_ damaged: [UInt8], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try Checkpoint(decoding: damaged), what, file: file, line: line) { error in
                guard case .io = error as? FlowRLError else { return XCTFail("\(what): \(error) is not an I/O error", file: file, line: line) }
            }
        }
        for cut in [0, 7, 12, 20, bytes.count / 2, bytes.count - 5, bytes.count - 1] { rejects(Array(bytes[0..<cut]), "cut at \(cut)") }
        rejects(bytes + [0], "trailing byte")
        for position in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 97)) {
            var flipped = bytes
            flipped[position] ^= 0x10
            rejects(flipped, "bit flipped at \(position)")
        }
        var version = bytes
        version[8] = 2
        XCTAssertThrowsError(try Checkpoint(decoding: version)) {
            XCTAssertTrue(($0 as? FlowRLError)?.description.contains("version 2") ?? false, "\($0)")
        }
        XCTAssertThrowsError(try Checkpoint.read(from: "/nonexistent/flowrl.ckpt"))
    }

    func testStructurallyValidButMismatchedStateIsRejectedBeforeAnythingChanges() throws {
        var checkpoint = try makeAgent().checkpoint(includeReplayBuffer: false)
        let key = checkpoint.state.tensors.keys.sorted().first { $0.hasPrefix("policy.") }!
        checkpoint.state.tensors[key] = Tensor(rows: 1, cols: 1)
        XCTAssertThrowsError(try ManagedAgent(checkpoint: try Checkpoint(decoding: checkpoint.encoded())))
        var unknown = try makeAgent().checkpoint(includeReplayBuffer: false)
        unknown.algorithm = "nope"
        XCTAssertThrowsError(try ManagedAgent(checkpoint: unknown)) {
            XCTAssertTrue(($0 as? FlowRLError)?.description.contains("unknown algorithm") ?? false, "\($0)")
        }
    }
}
