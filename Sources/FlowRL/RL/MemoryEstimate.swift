/// The memory an agent needs, computed from its configuration before anything is allocated, so a
/// configuration the process cannot hold is refused with an error instead of aborting in the
/// allocator. Counts are in floats (as `Double`: the products of validated ranges can pass
/// `Int.max`).
///
/// `parameters` and `optimizerMoments` are exact (a test compares them with real agents), so a
/// checkpoint must hold at least that many floats; `workspace` is an upper bound on what one
/// update or pretraining step holds at once.
public struct MemoryEstimate: Equatable {
    /// One part of the estimate and the configuration keys that size it.
    public struct Part: Equatable {
        public var name: String
        public var floats: Double
        public var keys: [String]
    }

    /// Every network the agent keeps: trained, target and prior copies.
    public var parameters: Double = 0
    /// Adam's two moments per optimised parameter.
    public var optimizerMoments: Double = 0
    /// Other floats a checkpoint stores: an algorithm's running statistics (RLDT's reward scale).
    public var statistics: Double = 0
    /// The replay buffer when full.
    public var replay: Double = 0
    /// Activations, their gradients and tangents of one update or pretraining step (upper bound).
    public var workspace: Double = 0
    /// Keys sizing the networks, the replay buffer and the update workspace, for messages.
    public var networkKeys: [String] = []
    public var replayKeys = ["buffer_size"]
    public var workspaceKeys: [String] = []

    public init() {}

    /// An estimate of the given parts (the replay buffer added separately, by `addReplay`).
    public init(parameters: Double, optimizerMoments: Double, workspace: Double, networkKeys: [String], workspaceKeys: [String]) {
        self.parameters = parameters
        self.optimizerMoments = optimizerMoments
        self.workspace = workspace
        self.networkKeys = networkKeys
        self.workspaceKeys = workspaceKeys
    }

    /// Floats any checkpoint of this agent stores (every parameter, every moment, every statistic).
    public var checkpointFloats: Double { parameters + optimizerMoments + statistics }

    /// The parts, gradients counted with the parameters (one per parameter).
    public var parts: [Part] {
        [Part(name: "parameters, gradients and Adam state", floats: 2 * parameters + optimizerMoments + statistics, keys: networkKeys),
         Part(name: "replay buffer", floats: replay, keys: replayKeys),
         Part(name: "update workspace", floats: workspace, keys: workspaceKeys)]
    }

    public var bytes: Double { parts.reduce(0) { $0 + $1.floats } * Double(MemoryLayout<Float>.size) }

    // MARK: Shapes (mirroring the layers' initialisers; `MemoryEstimateTests` keeps them equal)

    /// Weights and bias of a `Linear`.
    static func linear(_ input: Int, _ output: Int) -> Double { Double(input) * Double(output) + Double(output) }

    /// Parameters of an `MLP` with these layer sizes.
    static func mlp(_ sizes: [Int]) -> Double { zip(sizes, sizes.dropFirst()).reduce(0) { $0 + linear($1.0, $1.1) } }

    /// Units of an `MLP` (its input and every layer's output), the activations one row passes through.
    static func units(_ sizes: [Int]) -> Double { Double(sizes.reduce(0, +)) }

    /// The part of an actor trained by one Adam optimiser and run twice per update (the actor
    /// step and the critic targets) on `batchSize` rows, each passing through `units` units.
    static func actor(parameters: Double, units: Double, keys: [String], batchSize: Int) -> MemoryEstimate {
        MemoryEstimate(parameters: parameters, optimizerMoments: 2 * parameters, workspace: 2 * floatsPerUnit * Double(batchSize) * units,
                       networkKeys: keys, workspaceKeys: ["batch_size"] + keys)
    }

    /// A twin critic, `[observation + action] + hidden + [1]` twice. With `layerNorm`, each hidden
    /// unit adds a norm's scale and offset, and two units of workspace (the taped norm keeps its
    /// standardised, scaled and shifted values and their gradients beside the unfused activation).
    static func twinCritic(observationSize: Int, actionSize: Int, hiddenSizes: [Int], layerNorm: Bool) -> (parameters: Double, units: Double) {
        let sizes = [observationSize + actionSize] + hiddenSizes + [1]
        let normalized = layerNorm ? 2 * Double(hiddenSizes.reduce(0, +)) : 0
        return (2 * (mlp(sizes) + normalized), 2 * (units(sizes) + normalized))
    }

    /// Floats an activation unit costs on a tape: the value, the pre-activation and their gradients.
    /// With it, measured peak memory of updates (SAC, SAC Flow gated and decoder, SWFP sampled and
    /// parallel, logdet and Hutchinson, FlowBC; batches 1k–16k) stayed 1.5–16× below the estimate.
    static let floatsPerUnit: Double = 4

    /// Adds a soft critic (critic, target and the critic's Adam state) and its share of an update:
    /// the critic step plus the actor step's pass through the frozen critic and the target pass.
    mutating func addSoftCritic(observationSize: Int, actionSize: Int, hiddenSizes: [Int], layerNorm: Bool, batchSize: Int) {
        let critic = Self.twinCritic(observationSize: observationSize, actionSize: actionSize, hiddenSizes: hiddenSizes,
                                     layerNorm: layerNorm)
        parameters += 2 * critic.parameters
        optimizerMoments += 2 * critic.parameters
        workspace += 3 * Self.floatsPerUnit * Double(batchSize) * critic.units
        networkKeys.append("critic_hidden_sizes")
        workspaceKeys.append("critic_hidden_sizes")
    }

    /// Adds the learned temperature's log α (and its Adam state when tuned).
    mutating func addTemperature(_ setting: AutoOrNumber) {
        parameters += 1
        if case .auto = setting { optimizerMoments += 2 }
    }

    /// Adds a full replay buffer and one sampled batch of it.
    mutating func addReplay(capacity: Int, batchSize: Int, observationSize: Int, actionSize: Int) {
        let perTransition = Double(2 * observationSize + actionSize + 2)
        replay += Double(capacity) * perTransition
        workspace += Double(batchSize) * perTransition
    }
}

/// The memory a process may still use, and the check of an estimate against it.
public enum MemoryBudget {
    /// Environment variable overriding the limit, in bytes (e.g. to allow more than physical memory).
    public static let environmentVariable = "FLOWRL_MEMORY_LIMIT"

    /// Bytes still available and where the figure comes from. In order: `FLOWRL_MEMORY_LIMIT`;
    /// else the soft `RLIMIT_AS` / `RLIMIT_DATA` minus what the process already maps, when set;
    /// else physical memory.
    public static func available() throws -> (bytes: Double, source: String) {
        if let text = getenv(environmentVariable).map({ String(cString: $0) }) {
            guard let value = Double(text), value.isFinite, value > 0 else {
                throw FlowRLError.invalidArgument("\(environmentVariable) must be a positive number of bytes, got '\(text)'")
            }
            return (value, environmentVariable)
        }
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        var best = (bytes: Double(sysconf(Int32(_SC_PHYS_PAGES))) * page, source: "physical memory")
        // /proc/self/statm: total program size, …, data + stack, in pages (fields 1 and 6).
        let statm = (try? String(contentsOfProcFile: "/proc/self/statm"))?.split(separator: " ").compactMap { Double($0) } ?? []
        for (resource, field, name) in [(RLIMIT_AS, 0, "RLIMIT_AS"), (RLIMIT_DATA, 5, "RLIMIT_DATA")] {
            var limit = rlimit()
            guard getrlimit(__rlimit_resource_t(resource.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max /* RLIM_INFINITY */ else { continue }
            let used = field < statm.count ? statm[field] * page : 0
            let left = max(0, Double(limit.rlim_cur) - used)
            if left < best.bytes { best = (left, "\(name) minus what the process already uses") }
        }
        return best
    }

    /// Throws `FlowRLError.invalidArgument` naming the parts, their keys and the bytes when
    /// `estimate` does not fit the available memory.
    public static func check(_ estimate: MemoryEstimate, algorithm: String) throws {
        let (available, source) = try available()
        guard estimate.bytes > available else { return }
        let parts = estimate.parts.filter { $0.floats > 0 }.sorted { $0.floats > $1.floats }.map {
            "\($0.name) \(mebibytes($0.floats * 4)) (\($0.keys.joined(separator: ", ")))"
        }
        throw FlowRLError.invalidArgument(
            "config for \(algorithm) needs about \(mebibytes(estimate.bytes)) of memory, more than the \(mebibytes(available)) "
            + "available (\(source)): \(parts.joined(separator: "; ")). Reduce those keys, or set \(environmentVariable) (bytes) to allow more")
    }

    /// Throws `FlowRLError.io` when `bytes` more do not fit the available memory; `purpose` says
    /// what needs them (saving or loading a checkpoint).
    public static func require(bytes: Double, for purpose: String) throws {
        let (available, source) = try available()
        guard bytes > available else { return }
        throw FlowRLError.io("\(purpose) needs about \(mebibytes(bytes)) of memory, more than the \(mebibytes(available)) "
                             + "available (\(source)); set \(environmentVariable) (bytes) to allow more")
    }

    private static func mebibytes(_ bytes: Double) -> String {
        let value = bytes / 1_048_576
        return value < 10 ? "\((value * 10).rounded() / 10) MiB" : "\(Int(value.rounded())) MiB"
    }
}

extension String {
    /// The contents of a small /proc file (whose size `stat` reports as 0, so read to the end).
    init(contentsOfProcFile path: String) throws {
        guard let file = fopen(path, "r") else { throw FlowRLError.io("cannot read \(path)") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            bytes += buffer[0..<count]
        }
        self = String(decoding: bytes, as: UTF8.self)
    }
}
