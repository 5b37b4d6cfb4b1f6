import FlowRL
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Writing checkpoint files (`Checkpoint.write(to:)`): symbolic links, permissions, non-regular
/// targets and stale temporaries; and pretraining on whole transitions all-or-nothing.
final class CheckpointFileTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("flowrl-file-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func makeAgent() throws -> ManagedAgent {
        try ManagedAgent(algorithm: "flow_bc", configurationJSON: #"{"hidden_sizes": [8], "batch_size": 4, "buffer_size": 16}"#,
                         observationSize: 2, actionSize: 1)
    }

    func listing() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: directory).sorted() }

    func testSymbolicLinksAreWrittenThrough() throws {
        let checkpoint = try makeAgent().checkpoint(includeReplayBuffer: false)
        try Data("stale".utf8).write(to: URL(fileURLWithPath: directory + "/real"))
        XCTAssertEqual(symlink("real", directory + "/link"), 0)
        try checkpoint.write(to: directory + "/link")
        XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: directory + "/link"), "real")
        XCTAssertEqual(try Checkpoint.read(from: directory + "/real"), checkpoint)
        XCTAssertEqual(try listing(), ["link", "real"])
    }

    func testPermissionsAreKept() throws {
        let checkpoint = try makeAgent().checkpoint(includeReplayBuffer: false)
        let path = directory + "/agent"
        try checkpoint.write(to: path)
        XCTAssertEqual(chmod(path, 0o600), 0)
        try checkpoint.write(to: path)
        var status = stat()
        XCTAssertEqual(stat(path, &status), 0)
        XCTAssertEqual(status.st_mode & 0o7777, 0o600)
    }

    func testNonRegularTargetsAreRefused() throws {
        let checkpoint = try makeAgent().checkpoint(includeReplayBuffer: false)
        XCTAssertEqual(mkfifo(directory + "/fifo", 0o600), 0)
        XCTAssertThrowsError(try checkpoint.write(to: directory + "/fifo")) { error in
            guard case .io(let message) = error as? FlowRLError else { return XCTFail("\(error) is not an I/O error") }
            XCTAssertTrue(message.contains("FIFO"), message)
        }
        XCTAssertEqual(try listing(), ["fifo"])
    }

    func testStaleTemporariesOfDeadProcessesAreRemoved() throws {
        let checkpoint = try makeAgent().checkpoint(includeReplayBuffer: false)
        let dead = Int32.max  // above any pid_max: no such process
        let stale = ".agent.flowrl-tmp-\(dead)-0123abcd"
        let live = ".agent.flowrl-tmp-\(getpid())-0123abcd"
        for name in [stale, live, "notes"] {
            try Data("x".utf8).write(to: URL(fileURLWithPath: directory + "/" + name))
        }
        try checkpoint.write(to: directory + "/agent")
        XCTAssertEqual(try listing(), [live, "agent", "notes"].sorted())
    }

    func testPretrainingOnBadTransitionsChangesNothing() throws {
        let agent = try makeAgent()
        var generator = RandomGenerator(seed: 9)
        var rewards = generator.normalTensor(rows: 8, cols: 1)
        rewards.scalars[7] = .infinity
        let batch = Transitions(observations: generator.normalTensor(rows: 8, cols: 2),
                                actions: generator.uniformTensor(rows: 8, cols: 1, lower: -1, upper: 1),
                                rewards: rewards, nextObservations: generator.normalTensor(rows: 8, cols: 2),
                                terminated: Tensor(rows: 8, cols: 1))
        let before = agent.checkpoint(includeReplayBuffer: true).encoded()
        XCTAssertThrowsError(try agent.pretrain(transitions: batch, steps: 3))
        XCTAssertEqual(agent.checkpoint(includeReplayBuffer: true).encoded(), before)
    }
}
