import FlowRL
import XCTest

final class RandomGeneratorTests: XCTestCase {
    func testEqualSeedsGiveEqualStreamsAndDifferentSeedsDiffer() {
        var a = RandomGenerator(seed: 123), b = RandomGenerator(seed: 123), c = RandomGenerator(seed: 124)
        let streamA = (0..<100).map { _ in a.next() }
        XCTAssertEqual(streamA, (0..<100).map { _ in b.next() })
        XCTAssertNotEqual(streamA, (0..<100).map { _ in c.next() })
        XCTAssertEqual(a.normalTensor(rows: 3, cols: 3), b.normalTensor(rows: 3, cols: 3))
    }

    func testKnownFirstOutputs() {
        // Pins the algorithm (splitmix64 seeding + xoshiro256**): a change to either breaks
        // reproducibility of every saved experiment, so it must be deliberate. The numbers come
        // from an independent implementation: `python3 scripts/reference/xoshiro_reference.py 0 3`.
        var generator = RandomGenerator(seed: 0)
        let first = (0..<3).map { _ in generator.next() }
        var again = RandomGenerator(seed: 0)
        XCTAssertEqual(first, (0..<3).map { _ in again.next() })
        XCTAssertEqual(first, RandomGeneratorTests.seedZeroStream)
    }
    static let seedZeroStream: [UInt64] = [11091344671253066420, 13793997310169335082, 1900383378846508768]

    func testSavedStateResumesTheStreamExactly() {
        var generator = RandomGenerator(seed: 9)
        _ = generator.normal()  // leaves the second Box–Muller value cached
        guard var restored = RandomGenerator(savedState: generator.savedState) else { return XCTFail("restore failed") }
        XCTAssertEqual((0..<10).map { _ in generator.normal() }, (0..<10).map { _ in restored.normal() })
        XCTAssertNil(RandomGenerator(savedState: [0, 0, 0, 0, 0, 0]), "an all-zero state is invalid for xoshiro")
        XCTAssertNil(RandomGenerator(savedState: [1, 2]))
    }

    func testUniformAndNormalStatistics() {
        var generator = RandomGenerator(seed: 77)
        let count = 200_000
        let uniforms = (0..<count).map { _ in generator.uniform() }
        XCTAssertTrue(uniforms.allSatisfy { $0 >= 0 && $0 < 1 })
        let uniformMean = uniforms.reduce(0, +) / Float(count)
        XCTAssertEqual(uniformMean, 0.5, accuracy: 0.005)           // standard error 0.00065
        let normals = (0..<count).map { _ in Double(generator.normal()) }
        let mean = normals.reduce(0, +) / Double(count)
        let variance = normals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(count)
        XCTAssertEqual(mean, 0, accuracy: 0.01)                       // standard error 0.0022
        XCTAssertEqual(variance, 1, accuracy: 0.02)                   // standard error 0.0032
        let signs = generator.signTensor(rows: 100, cols: 100).scalars
        XCTAssertTrue(signs.allSatisfy { $0 == 1 || $0 == -1 })
        XCTAssertEqual(Double(signs.reduce(0, +)) / 10_000, 0, accuracy: 0.05)
    }
}
