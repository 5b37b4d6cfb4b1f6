// Cost of one agent update per algorithm at Hopper-v5 sizes (11 observations, 3 actions, each
// algorithm's defaults: hidden [256, 256], batch 256), on a replay buffer of random transitions:
// no environment and no Python, so a profiler or callgrind sees the update and little else.
//
//     swift run -c release flowrl-update-bench [--algorithms sac,swfp,...] [--updates 20] [--rounds 5]
//                                              [--threads 1,blas2,2]
//
// Timing: the agents take turns, `--updates` single-step `update` calls each per round (as `learn`
// makes them), for `--rounds` rounds, so that the drifts of a shared machine fall on all alike; an
// algorithm's time is its median over rounds and its ratio is to SAC's median of the same run. It
// also prints the FLOPs of the matrix products per update (the core's exact count, `BLAS.productFLOPs`).
//
// `--threads 1,blas2,2` times each algorithm under each thread setting, interleaved too (within
// a round every setting takes its turn, every agent under it): `N` is `Runtime.prepare(threads: N)`
// (`flowrl.set_threads(N)`: BLAS threads and the concurrent branches of `ForkJoin`), `blasN`
// BLAS threads alone (`flowrl.set_blas_threads(N)`, branches off). Ratios are then also given to the
// first setting. The default, `1`, is one thread as before.
//
// `--rounds 0` times nothing: it builds the agents, takes `--warmup` updates and then `--updates`
// more, which is what scripts/measure_update_cost.py runs under callgrind twice (with `--updates 0`
// and with `--updates N`), so that the difference of the instruction counts is N updates alone.
import FlowRL
import Foundation

let arguments = CommandLine.arguments
func option(_ name: String, default value: String) -> String {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return value }
    return arguments[index + 1]
}

/// The algorithms by label: the C ABI's algorithm name and the configuration (defaults but the seed).
let catalogue: [String: (algorithm: String, configuration: String)] = [
    "sac": ("sac", #"{"seed": 0}"#),
    "swfp": ("swfp", #"{"seed": 0}"#),
    "sac_flow_gated": ("sac_flow", #"{"seed": 0, "velocity": "gated"}"#),
    "sac_flow_mlp": ("sac_flow", #"{"seed": 0, "velocity": "mlp"}"#),
    "rldt": ("rldt", #"{"seed": 0}"#),
]
let labels = option("--algorithms", default: "sac,swfp,sac_flow_gated,sac_flow_mlp,rldt").split(separator: ",").map(String.init)
let updates = Int(option("--updates", default: "20")) ?? 20
let rounds = Int(option("--rounds", default: "5")) ?? 5
let warmup = Int(option("--warmup", default: "5")) ?? 5
let observationSize = Int(option("--observation-size", default: "11")) ?? 11
let actionSize = Int(option("--action-size", default: "3")) ?? 3

/// A thread setting by its label: `N` threads for BLAS and branches, or `blasN` for BLAS alone.
func prepareThreads(_ setting: String) throws {
    let blasOnly = setting.hasPrefix("blas")
    guard let count = Int(blasOnly ? String(setting.dropFirst(4)) : setting), count >= 1 else {
        print("bad thread setting \(setting): give N or blasN, N ≥ 1")
        exit(2)
    }
    try Runtime.prepare(threads: blasOnly ? 1 : count)
    if blasOnly { try Runtime.prepare(blasThreads: count) }
}
let settings = option("--threads", default: "1").split(separator: ",").map(String.init)
for setting in settings { try prepareThreads(setting) }   // each checked before anything runs
try prepareThreads(settings[0])

var generator = RandomGenerator(seed: 0)
let count = 5_000
let transitions = Transitions(observations: generator.normalTensor(rows: count, cols: observationSize),
                              actions: generator.uniformTensor(rows: count, cols: actionSize, lower: -1, upper: 1),
                              rewards: generator.normalTensor(rows: count, cols: 1),
                              nextObservations: generator.normalTensor(rows: count, cols: observationSize),
                              terminated: Tensor(rows: count, cols: 1))
var agents: [(label: String, agent: ManagedAgent)] = []
for label in labels {
    guard let entry = catalogue[label] else {
        print("unknown algorithm \(label); choose from \(catalogue.keys.sorted())")
        exit(2)
    }
    let agent = try ManagedAgent(algorithm: entry.algorithm, configurationJSON: entry.configuration,
                                 observationSize: observationSize, actionSize: actionSize)
    try agent.observe(transitions)
    if warmup > 0 { _ = try agent.update(gradientSteps: warmup) }  // first-call allocations
    agents.append((label, agent))
}

if rounds == 0 {
    for (_, agent) in agents {
        for _ in 0..<updates { _ = try agent.update(gradientSteps: 1) }
    }
    exit(0)
}

/// Milliseconds per update by setting, then algorithm, one entry per round.
var milliseconds: [String: [String: [Double]]] = [:]
var flops: [String: Double] = [:]
for _ in 0..<rounds {
    for setting in settings {
        try prepareThreads(setting)
        for (label, agent) in agents {
            let before = BLAS.productFLOPs
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<updates { _ = try agent.update(gradientSteps: 1) }
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            milliseconds[setting, default: [:]][label, default: []].append(elapsed / Double(updates))
            flops[label] = Double(BLAS.productFLOPs - before) / Double(updates)
        }
    }
}
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
func cell(_ value: Double?, width: Int) -> String {
    value.map { String(format: "%\(width).2f", $0) } ?? String(repeating: " ", count: width - 1) + "-"
}
let first = milliseconds[settings[0]]!
print("update cost at \(observationSize) observations, \(actionSize) actions; \(rounds) interleaved rounds of \(updates) update(1) calls"
      + (settings.count > 1 ? " under each thread setting" : ""))
print("algorithm        ms/update  × SAC   MFLOP/update  × SAC" + (settings.count > 1 ? "   (threads \(settings[0]))" : ""))
for (label, _) in agents {
    let ms = median(first[label]!)
    print(label.padding(toLength: 16, withPad: " ", startingAt: 0) + String(format: " %9.2f  ", ms)
          + cell(first["sac"].map { ms / median($0) }, width: 5) + String(format: "   %12.1f  ", flops[label]! / 1e6)
          + cell(flops["sac"].map { flops[label]! / $0 }, width: 5))
}
if settings.count > 1 {
    print("\nms/update by thread setting (N: set_threads(N); blasN: set_blas_threads(N) alone), speed-up to \(settings[0])")
    print("algorithm       " + settings.map { $0.padding(toLength: 10, withPad: " ", startingAt: 0) }.joined()
          + settings.dropFirst().map { ("× " + $0).padding(toLength: 10, withPad: " ", startingAt: 0) }.joined())
    for (label, _) in agents {
        let times = settings.map { median(milliseconds[$0]![label]!) }
        print(label.padding(toLength: 16, withPad: " ", startingAt: 0)
              + times.map { cell($0, width: 8) + "  " }.joined()
              + times.dropFirst().map { cell(times[0] / $0, width: 8) + "  " }.joined())
    }
}
