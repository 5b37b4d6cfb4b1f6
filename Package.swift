// swift-tools-version:6.0
import PackageDescription
import Foundation

// The core's own loops (Adam, activations, reductions, the skinny product) are compiled for the
// building machine's CPU (AVX2 and FMA where present), since `pip install ./python` builds on the
// machine that runs it. FLOWRL_TARGET_CPU names another LLVM CPU instead; set it to `x86-64` for a
// build that must run on any x86-64 machine. Floating-point results are the same either way (no
// contraction into FMA): only the vector width changes.
let targetCPU = ProcessInfo.processInfo.environment["FLOWRL_TARGET_CPU"] ?? "native"

// OpenBLAS is loaded at run time (Sources/CBLAS/blas_loader.c says why). Where a development
// build looks for it when no copy sits beside the binary: FLOWRL_BLAS_DIR, or the copy that
// scripts/install-system-deps.sh puts in .deps/ (the pinned scipy-openblas32 wheel's library).
let blasDirectory = ProcessInfo.processInfo.environment["FLOWRL_BLAS_DIR"]
    ?? Context.packageDirectory + "/.deps/scipy-openblas32/lib"

// Both Swift library targets' flags. Without errno semantics, `squareRoot()` lowers to the vector
// sqrt instruction instead of a libm call guarded by a branch, so loops such as Adam's update
// vectorise.
let librarySwiftSettings: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-fno-math-errno", "-target-cpu", targetCPU])]

let package = Package(
    name: "flowrl",
    products: [
        // libflowrl.so: the C ABI declared in include/flowrl.h.
        .library(name: "flowrl", type: .dynamic, targets: ["CFlowRL"]),
        .executable(name: "flowrl-bench", targets: ["FlowRLBenchmarks"]),
        .executable(name: "flowrl-update-bench", targets: ["FlowRLUpdateBenchmark"]),
    ],
    targets: [
        // The BLAS routines flowrl uses, bound at run time to OpenBLAS (no link-time dependency).
        .target(
            name: "CBLAS",
            cSettings: [
                .define("FLOWRL_BLAS_DEFAULT_DIRECTORY", to: "\"\(blasDirectory)\""),
                // Internal to libflowrl.so: its exports are the C ABI of include/flowrl.h only.
                .unsafeFlags(["-fvisibility=hidden"]),
            ]
        ),
        // The numerical core: tensors, autodiff, layers, optimisers, randomness, divergences. It
        // depends on BLAS only, so it cannot name a flow, an agent, a checkpoint, C or Python.
        .target(
            name: "FlowRLCore",
            dependencies: ["CBLAS"],
            swiftSettings: librarySwiftSettings
        ),
        // Flows and agents on the core: flow policies, the replay buffer, critic, temperature, the
        // algorithms, checkpoints and `ManagedAgent`. Re-exports FlowRLCore, so `import FlowRL`
        // gives the whole library. No C ABI, no Python.
        .target(
            name: "FlowRL",
            dependencies: ["FlowRLCore"],
            swiftSettings: librarySwiftSettings
        ),
        // The C ABI's header as a Clang module (include/module.modulemap).
        .systemLibrary(name: "FlowRLHeader", path: "include"),
        // The @c layer: converts and checks arguments, maps errors to status codes. No maths.
        .target(
            name: "CFlowRL",
            dependencies: ["FlowRL", "FlowRLHeader"]
        ),
        // Helpers shared by every test file (finite-difference gradient checker, closeness).
        .target(
            name: "_FlowRLTestSupport",
            dependencies: ["FlowRLCore"]
        ),
        // Speed benchmarks; kept out of the library product.
        .executableTarget(
            name: "FlowRLBenchmarks",
            dependencies: ["FlowRLCore", "CBLAS"],
            swiftSettings: [.swiftLanguageMode(.v5)]  // a top-level script, not concurrent code
        ),
        // One update per algorithm at Hopper sizes, timed or under callgrind (scripts/measure_update_cost.py).
        .executableTarget(
            name: "FlowRLUpdateBenchmark",
            dependencies: ["FlowRL"],
            swiftSettings: [.swiftLanguageMode(.v5)]  // a top-level script, not concurrent code
        ),
        .testTarget(
            name: "FlowRLTests",
            dependencies: ["FlowRL", "_FlowRLTestSupport"]
        ),
    ]
)
