// Speed benchmark of the core (a benchmark, not a test): an MLP 32 → 256 → 256 → 8 at batch 256,
// forward, forward + backward and Adam-step times and GFLOP/s, beside bare BLAS sgemm on the same
// shapes and this machine's single-core float32 peak; then resident memory over 10,000 training
// steps. Run in release mode with one OpenBLAS thread:
//
//     swift run -c release flowrl-bench [--activation relu|silu|...] [--steps 10000]
import CBLAS
import FlowRLCore
import Foundation

let arguments = CommandLine.arguments
func option(_ name: String, default value: String) -> String {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return value }
    return arguments[index + 1]
}
guard let activation = Activation(rawValue: option("--activation", default: "relu")) else {
    print("unknown activation; choose one of \(Activation.allCases.map(\.rawValue))")
    exit(2)
}
let memorySteps = Int(option("--steps", default: "10000")) ?? 10000
let sizes = [32, 256, 256, 8]
let batch = 256

try Runtime.prepare(blasThreads: 1)
let blas = try BLAS.describe()

// MARK: Machine

func cpuInfo(_ key: String) -> String? {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(key) {
        return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) }
    }
    return nil
}
let model = cpuInfo("model name") ?? "unknown CPU"
let megahertz = Double(cpuInfo("cpu MHz") ?? "") ?? 0
// Two FMA units of the widest vectors, 2 FLOP per lane: 64 FLOP/cycle with AVX-512 on Intel, 32 with
// AVX2 or on AMD (whose first AVX-512 cores split 512-bit operations in two). /proc/cpuinfo's clock
// is nominal: under turbo or a hypervisor the real peak differs.
let flopsPerCycle = blas.cpuVectorLevel == "avx512" && !model.contains("AMD") ? 64.0 : 32.0
let peak = flopsPerCycle * megahertz / 1000
print("machine: \(model), \(String(format: "%.0f", megahertz)) MHz, vector level \(blas.cpuVectorLevel)")
print("BLAS: \(blas.configuration); core \(blas.core) (\(blas.coreSource.rawValue)); threads \(blas.threadCount); \(blas.path)")
print("single-core float32 peak (\(Int(flopsPerCycle)) FLOP/cycle × clock): \(String(format: "%.1f", peak)) GFLOP/s")
print("MLP \(sizes.map(String.init).joined(separator: " → ")), batch \(batch), activation \(activation.rawValue)")

// MARK: Timing helper

func seconds(_ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// Median time per call over `rounds` rounds of `repeats` calls, after a warm-up.
func timePerCall(repeats: Int = 50, rounds: Int = 7, _ body: () -> Void) -> Double {
    for _ in 0..<repeats { body() }
    var samples: [Double] = []
    for _ in 0..<rounds { samples.append(seconds { for _ in 0..<repeats { body() } } / Double(repeats)) }
    return samples.sorted()[rounds / 2]
}

// MARK: Network

var generator = RandomGenerator(seed: 0)
let network = MLP(sizes: sizes, activation: activation, generator: &generator)
let optimizer = Adam(parameters: network.parameters, learningRate: 1e-4)
let input = generator.normalTensor(rows: batch, cols: sizes[0])
let target = generator.normalTensor(rows: batch, cols: sizes[sizes.count - 1])
let tape = Tape()
let noGrad = Tape(recording: false)

func forward() {
    noGrad.reset()
    _ = network(noGrad.constant(input))
}
func forwardBackward() {
    tape.reset()
    let output = network(tape.constant(input))
    let loss = (output - tape.constant(target)).squared().mean()
    tape.backward(from: loss)
}
func trainingStep() {
    optimizer.zeroGradients()
    forwardBackward()
    optimizer.update()
}

// Multiply-add count of the matrix products: forward x·Wᵀ per layer; backward ∂W per layer and
// ∂x per layer except the first (its input needs no gradient).
var forwardFlops = 0.0, backwardFlops = 0.0
for index in 0..<(sizes.count - 1) {
    let products = 2.0 * Double(batch * sizes[index] * sizes[index + 1])
    forwardFlops += products
    backwardFlops += products * (index == 0 ? 1 : 2)
}

// MARK: Bare sgemm on the same shapes

struct Product { var a: Tensor; var transposeA: Bool; var b: Tensor; var transposeB: Bool; var c: Tensor }
var forwardProducts: [Product] = []
var backwardProducts: [Product] = []
for index in 0..<(sizes.count - 1) {
    let (inSize, outSize) = (sizes[index], sizes[index + 1])
    let x = Tensor(rows: batch, cols: inSize, repeating: 0.5)
    let w = Tensor(rows: outSize, cols: inSize, repeating: 0.01)
    let g = Tensor(rows: batch, cols: outSize, repeating: 0.1)
    forwardProducts.append(Product(a: x, transposeA: false, b: w, transposeB: true, c: Tensor(rows: batch, cols: outSize)))
    backwardProducts.append(Product(a: g, transposeA: true, b: x, transposeB: false, c: Tensor(rows: outSize, cols: inSize)))
    if index > 0 {
        backwardProducts.append(Product(a: g, transposeA: false, b: w, transposeB: false, c: Tensor(rows: batch, cols: inSize)))
    }
}
func run(_ products: inout [Product]) {
    for index in products.indices {
        Tensor.gemm(products[index].a, transposeA: products[index].transposeA,
                    products[index].b, transposeB: products[index].transposeB, into: &products[index].c)
    }
}

let sgemmForward = timePerCall { run(&forwardProducts) }
let sgemmForwardBackward = timePerCall { run(&forwardProducts); run(&backwardProducts) }
let timeForward = timePerCall(forward)
let timeForwardBackward = timePerCall(forwardBackward)
let timeStep = timePerCall(trainingStep)
let timeAdam = timePerCall { optimizer.update() }

func row(_ name: String, _ time: Double, _ flops: Double) -> String {
    let gflops = flops / time / 1e9
    return name.padding(toLength: 34, withPad: " ", startingAt: 0)
        + String(format: "%9.1f µs %8.1f GFLOP/s %6.1f%% of peak", time * 1e6, gflops, peak > 0 ? 100 * gflops / peak : 0)
}
print("")
print(row("sgemm, forward shapes", sgemmForward, forwardFlops))
print(row("sgemm, forward + backward shapes", sgemmForwardBackward, forwardFlops + backwardFlops))
print(row("MLP forward (no-grad tape)", timeForward, forwardFlops))
print(row("MLP forward + backward", timeForwardBackward, forwardFlops + backwardFlops))
print(row("MLP forward + backward + Adam", timeStep, forwardFlops + backwardFlops))
print("Adam step alone".padding(toLength: 34, withPad: " ", startingAt: 0)
      + String(format: "%9.1f µs  (%d parameters)", timeAdam * 1e6, network.parameterCount))
print(String(format: "forward + backward at %.1f%% of bare sgemm's speed on the same shapes (target ≥ 50%%)",
             100 * sgemmForwardBackward / timeForwardBackward))
print(String(format: "forward at %.1f%% of bare sgemm's speed on the same shapes", 100 * sgemmForward / timeForward))

// MARK: Products of small heads: Tensor.gemm's skinny kernel beside bare sgemm

/// BLAS sgemm itself, bypassing Tensor.gemm's routing (row-major, beta 0).
func bareSgemm(_ a: Tensor, _ transposeA: Bool, _ b: Tensor, _ transposeB: Bool, into c: inout Tensor) {
    let (m, n, k) = (c.rows, c.cols, transposeA ? a.rows : a.cols)
    a.scalars.withUnsafeBufferPointer { pa in
        b.scalars.withUnsafeBufferPointer { pb in
            c.scalars.withUnsafeMutableBufferPointer { pc in
                let (transpose, keep) = (Int32(FLOWRL_BLAS_TRANS), Int32(FLOWRL_BLAS_NO_TRANS))
                flowrl_sgemm(transposeA ? transpose : keep, transposeB ? transpose : keep,
                             Int32(m), Int32(n), Int32(k), 1, pa.baseAddress, Int32(a.cols), pb.baseAddress, Int32(b.cols),
                             0, pc.baseAddress, Int32(n))
            }
        }
    }
}
print("")
print("products of small heads at batch \(batch) (a dimension ≤ \(Tensor.skinnyLimit), op(b) untransposed: Tensor.gemm's skinny kernel):")
// (name, transposeA, transposeB, m, n, k): the head shapes of a 256-wide SAC actor (3 actions)
// and critic (1 output), forward and backward.
let headShapes: [(String, Bool, Bool, Int, Int, Int)] = [
    ("head input gradient g·W, 1 output", false, false, batch, 256, 1),
    ("head input gradient g·W, 3 outputs", false, false, batch, 256, 3),
    ("head weight gradient gᵀ·x, 3 outputs", true, false, 3, 256, batch),
]
for (name, transposeA, transposeB, m, n, k) in headShapes {
    let a = generator.normalTensor(rows: transposeA ? k : m, cols: transposeA ? m : k)
    let b = generator.normalTensor(rows: transposeB ? n : k, cols: transposeB ? k : n)
    var c = Tensor(rows: m, cols: n)
    let skinny = timePerCall(repeats: 200) { Tensor.gemm(a, transposeA: transposeA, b, transposeB: transposeB, into: &c) }
    let bare = timePerCall(repeats: 200) { bareSgemm(a, transposeA, b, transposeB, into: &c) }
    print(name.padding(toLength: 40, withPad: " ", startingAt: 0)
          + String(format: "skinny kernel %6.1f µs   bare sgemm %6.1f µs", skinny * 1e6, bare * 1e6))
}

// MARK: Memory over many steps

func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
}
var checkpoints: [(Int, Int)] = []
for step in 1...memorySteps {
    trainingStep()
    if step == 1_000 || step == memorySteps { checkpoints.append((step, residentBytes())) }
}
print("")
for (step, bytes) in checkpoints {
    print(String(format: "resident memory after %6d training steps: %.2f MiB", step, Double(bytes) / 1_048_576))
}
if checkpoints.count == 2 {
    print(String(format: "growth from step 1,000 to %d: %+.2f MiB", memorySteps, Double(checkpoints[1].1 - checkpoints[0].1) / 1_048_576))
}
