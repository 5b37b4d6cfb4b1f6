import FlowRL
import XCTest

final class ReplayBufferTests: XCTestCase {
    func batch(_ values: [Float]) -> Transitions {
        let n = values.count
        return Transitions(observations: Tensor(rows: n, cols: 1, scalars: values),
                           actions: Tensor(rows: n, cols: 1, scalars: values.map { $0 / 100 }),
                           rewards: Tensor(rows: n, cols: 1, scalars: values.map { -$0 }),
                           nextObservations: Tensor(rows: n, cols: 1, scalars: values.map { $0 + 1 }),
                           terminated: Tensor(rows: n, cols: 1, scalars: values.map { $0 == 3 ? 1 : 0 }))
    }

    func testRingOverwritesOldestAndKeepsRowsAligned() throws {
        let buffer = try ReplayBuffer(capacity: 4, observationSize: 1, actionSize: 1)
        buffer.add(batch([1, 2, 3]))
        XCTAssertEqual(buffer.count, 3)
        buffer.add(batch([4, 5, 6]))
        XCTAssertEqual(buffer.count, 4)
        XCTAssertEqual(buffer.nextIndex, 2)
        let stored = buffer.storedTransitions()
        XCTAssertEqual(stored.observations.scalars, [5, 6, 3, 4])   // slots 0, 1 overwritten by 5, 6
        XCTAssertEqual(stored.rewards.scalars, [-5, -6, -3, -4])
        XCTAssertEqual(stored.nextObservations.scalars, [6, 7, 4, 5])
        XCTAssertEqual(stored.terminated.scalars, [0, 0, 1, 0])
        XCTAssertEqual(stored.actions.scalars, [0.05, 0.06, 0.03, 0.04])
    }

    func testRewindUndoesAnAddThatOverwrites() throws {
        // Not full, full without wrapping, wrapping past the oldest rows, larger than the capacity.
        for (first, second) in [([1, 2], [3]), ([1, 2], [3, 4]), ([1, 2, 3], [4, 5, 6]), ([1, 2, 3, 4], [5, 6, 7, 8, 9, 10])] as [([Float], [Float])] {
            let buffer = try ReplayBuffer(capacity: 4, observationSize: 1, actionSize: 1)
            buffer.add(batch(first))
            let (stored, count, next) = (buffer.storedTransitions(), buffer.count, buffer.nextIndex)
            let mark = buffer.mark(beforeAdding: second.count)
            buffer.add(batch(second))
            buffer.rewind(to: mark)
            XCTAssertEqual(buffer.count, count, "\(first) + \(second)")
            XCTAssertEqual(buffer.nextIndex, next, "\(first) + \(second)")
            let restored = buffer.storedTransitions()
            for (a, b) in [(restored.observations, stored.observations), (restored.actions, stored.actions), (restored.rewards, stored.rewards),
                           (restored.nextObservations, stored.nextObservations), (restored.terminated, stored.terminated)] {
                XCTAssertEqual(a.scalars, b.scalars, "\(first) + \(second)")
            }
        }
    }

    func testSamplingIsUniformOverStoredRowsAndSeeded() throws {
        let buffer = try ReplayBuffer(capacity: 100, observationSize: 1, actionSize: 1)
        buffer.add(batch([1, 2, 3, 4]))
        var generator = RandomGenerator(seed: 1), again = RandomGenerator(seed: 1)
        let sample = buffer.sample(4000, generator: &generator)
        XCTAssertEqual(sample.observations, buffer.sample(4000, generator: &again).observations)
        for value: Float in [1, 2, 3, 4] {
            let share = Float(sample.observations.scalars.filter { $0 == value }.count) / 4000
            XCTAssertEqual(share, 0.25, accuracy: 0.04)          // standard error 0.007
        }
        XCTAssertEqual(sample.nextObservations.scalars, sample.observations.scalars.map { $0 + 1 })
    }

    func testValidationRejectsBadBatches() {
        var bad = batch([1, 2])
        bad.rewards.scalars[1] = .nan
        XCTAssertThrowsError(try bad.validate(observationSize: 1, actionSize: 1))
        var outside = batch([1, 2])
        outside.actions.scalars[0] = 1.5
        XCTAssertThrowsError(try outside.validate(observationSize: 1, actionSize: 1))
        XCTAssertThrowsError(try batch([1]).validate(observationSize: 2, actionSize: 1))
    }

    func testLargeCapacityCostsNoMemoryUntilUsed() throws {
        // 10 million transitions of 20 + 20 + 6 + 2 floats reserve 1.9 GB of address space.
        let before = residentBytes()
        let buffer = try ReplayBuffer(capacity: 10_000_000, observationSize: 20, actionSize: 6)
        buffer.add(batch20(1000))
        let growth = residentBytes() - before
        XCTAssertLessThan(growth, 64 << 20, "resident memory grew by \(growth) bytes")
        XCTAssertEqual(buffer.rawBytes, 10_000_000 * 48 * 4)
    }

    func testFullBufferUsesItsRawBytesWithinTenPercent() throws {
        // 500,000 Pendulum-sized transitions (3 + 1 + 1 + 3 + 1 floats = 18 MB of data).
        let before = residentBytes()
        let buffer = try ReplayBuffer(capacity: 500_000, observationSize: 3, actionSize: 1)
        let chunk = Transitions(observations: Tensor(rows: 10_000, cols: 3, repeating: 0.5), actions: Tensor(rows: 10_000, cols: 1),
                                rewards: Tensor(rows: 10_000, cols: 1), nextObservations: Tensor(rows: 10_000, cols: 3),
                                terminated: Tensor(rows: 10_000, cols: 1))
        for _ in 0..<50 { buffer.add(chunk) }
        let growth = Double(residentBytes() - before)
        XCTAssertEqual(buffer.count, 500_000)
        XCTAssertLessThanOrEqual(growth, 1.1 * Double(buffer.rawBytes), "grew \(growth) bytes for \(buffer.rawBytes) raw")
    }

    func testCapacityBeyondMemoryIsRefused() {
        XCTAssertThrowsError(try ReplayBuffer(capacity: 100_000_000, observationSize: 100_000, actionSize: 1)) {
            XCTAssertTrue("\($0)".contains("more than this machine's memory"), "\($0)")
        }
        XCTAssertThrowsError(try ReplayBuffer(capacity: 0, observationSize: 1, actionSize: 1))
    }

    private func batch20(_ n: Int) -> Transitions {
        Transitions(observations: Tensor(rows: n, cols: 20), actions: Tensor(rows: n, cols: 6), rewards: Tensor(rows: n, cols: 1),
                    nextObservations: Tensor(rows: n, cols: 20), terminated: Tensor(rows: n, cols: 1))
    }

    private func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        return (Int(text.split(separator: " ")[1]) ?? 0) * 4096
    }
}
