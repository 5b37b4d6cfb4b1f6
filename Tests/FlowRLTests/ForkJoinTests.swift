import Synchronization
import CBLAS
import FlowRL
import XCTest

/// `ForkJoin` and the thread setting (`Runtime.prepare(threads:)`): where branches run, what
/// OpenBLAS runs them with, and that a seeded agent learns the same bytes with one thread and two.
final class ForkJoinTests: XCTestCase {
    override func tearDown() {
        XCTAssertNoThrow(try Runtime.prepare(threads: 1))
    }

    func testOneThreadRunsTheBranchesInOrderOnTheCallingThread() throws {
        try Runtime.prepare(threads: 1)
        var order: [String] = []
        let caller = pthread_self()
        let (a, b) = ForkJoin.both({ order.append("first"); return pthread_equal(pthread_self(), caller) != 0 },
                                   { order.append("second"); return pthread_equal(pthread_self(), caller) != 0 })
        XCTAssertEqual(order, ["first", "second"])
        XCTAssertTrue(a && b)
    }

    func testTwoThreadsRunTheSecondBranchOnAnotherThreadAtOneBLASThread() throws {
        try Runtime.prepare(threads: 2)
        let caller = pthread_self()
        for _ in 0..<50 {   // the handshake, many times over
            // Each branch reads OpenBLAS's count while both run (the first to end gives it back).
            let arrived = Atomic<Int>(0)
            func branch() -> (Bool, Int32) {
                arrived.wrappingAdd(1, ordering: .relaxed)
                while arrived.load(ordering: .relaxed) < 2 {}
                let threads = flowrl_blas_threads()
                arrived.wrappingAdd(1, ordering: .relaxed)
                while arrived.load(ordering: .relaxed) < 4 {}
                return (pthread_equal(pthread_self(), caller) != 0, threads)
            }
            let (first, second) = ForkJoin.both(branch, branch)
            XCTAssertTrue(first.0)
            XCTAssertFalse(second.0)
            XCTAssertEqual([first.1, second.1], [1, 1])
        }
        XCTAssertEqual(flowrl_blas_threads(), 2, "the configured count is back after the branches")
        XCTAssertEqual(BLAS.threadCount, 2)
        XCTAssertEqual(ForkJoin.threadCount, 2)
    }

    func testTheFirstBranchToEndGivesOpenBLASItsThreadsBackForTheOther() throws {
        try Runtime.prepare(threads: 2)
        for _ in 0..<20 {
            let firstEnded = Atomic<Bool>(false)
            let (_, late) = ForkJoin.both({ firstEnded.store(true, ordering: .releasing) }, { () -> Int32 in
                while !firstEnded.load(ordering: .acquiring) {}
                // The caller's branch has ended and gives the threads back (waited for, up to 1 s).
                for _ in 0..<1000 where flowrl_blas_threads() != 2 { usleep(1000) }
                return flowrl_blas_threads()
            })
            XCTAssertEqual(late, 2)
        }
    }

    func testABranchThatForksAgainRunsItsOwnBranchesInOrder() throws {
        try Runtime.prepare(threads: 2)
        let ((x, y), (z, w)) = ForkJoin.both({ ForkJoin.both({ 1 }, { 2 }) }, { ForkJoin.both({ 3 }, { 4 }) })
        XCTAssertEqual([x, y, z, w], [1, 2, 3, 4])
    }

    func testProductFLOPsAreCountedFromBothBranches() throws {
        try Runtime.prepare(threads: 2)
        var generator = RandomGenerator(seed: 1)
        let (a, b) = (generator.normalTensor(rows: 64, cols: 32), generator.normalTensor(rows: 32, cols: 48))
        let before = BLAS.productFLOPs
        let (left, right) = ForkJoin.both({ (0..<200).map { _ in Tensor.matmul(a, b) }.count },
                                          { (0..<200).map { _ in Tensor.matmul(a, b) }.count })
        XCTAssertEqual(BLAS.productFLOPs - before, UInt64(left + right) * 2 * 64 * 32 * 48)
    }

    /// Every variant of the fingerprint tests (each algorithm and its less common branches, SWFP's
    /// and RLDT's concurrent chains among them), the layer-normalised critic, and SAC and SAC Flow
    /// at Hopper-v5's sizes, where OpenBLAS splits products over its threads: the state after
    /// pretraining, acting and updates is the same, byte for byte.
    func testSeededRunsAreIdenticalWithOneAndTwoThreads() throws {
        let hopper = #""batch_size": 256, "buffer_size": 1000, "seed": 1"#
        let variants = (SeededResultsTests.variants + SeededResultsTests.moreVariants).map { ($0.0, $0.1, $0.2) }
            + [("sac_hopper", "sac", "{\(hopper)}"), ("sac_flow_hopper", "sac_flow", "{\(hopper), \"flow_steps\": 2}"),
               ("rldt_layer_norm", "rldt", #"{"hidden_sizes": [16], "critic_hidden_sizes": [16], "critic_layer_norm": true, "batch_size": 16, "buffer_size": 128, "particles": 4, "actor_batch_size": 8, "seed": 2}"#),
               ("sac_layer_norm_hopper", "sac", "{\(hopper), \"critic_layer_norm\": true}")]
        for (label, algorithm, configuration) in variants {
            try Runtime.prepare(threads: 1)
            let one = try SeededResultsTests.run(algorithm: algorithm, configuration: configuration)
            try Runtime.prepare(threads: 2)
            let two = try SeededResultsTests.run(algorithm: algorithm, configuration: configuration)
            XCTAssertEqual(one.0, two.0, "\(label): state")
            XCTAssertEqual(one.2, two.2, "\(label): actions and metrics")
        }
    }
}
