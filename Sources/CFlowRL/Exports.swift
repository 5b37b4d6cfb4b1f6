import FlowRL
import FlowRLHeader

// The C ABI of include/flowrl.h. `@c @implementation` makes the compiler check each function
// against its declaration in the header. Each function converts and checks its arguments,
// calls the core through `ManagedAgent`, and turns errors into a status (see `runCall`).

@c @implementation
public func flowrl_abi_version() -> Int32 { FLOWRL_ABI_VERSION }

@c @implementation
public func flowrl_version() -> UnsafePointer<CChar>? { Version.cString }

@c @implementation
public func flowrl_last_error() -> UnsafePointer<CChar>? { ThreadStrings.current.lastErrorMessage }

@c @implementation
public func flowrl_set_blas_threads(_ threadCount: Int32) -> Int32 {
    runCall {
        try Runtime.prepare(blasThreads: try threadSetting(threadCount))
    }
}

/// A thread count from the caller, checked: [1, 1024].
private func threadSetting(_ threadCount: Int32) throws -> Int {
    guard (1...1024).contains(threadCount) else {
        throw FlowRLError.invalidArgument("thread_count must be in [1, 1024], got \(threadCount)")
    }
    return Int(threadCount)
}

@c @implementation
public func flowrl_set_threads(_ threadCount: Int32) -> Int32 {
    runCall {
        try Runtime.prepare(threads: try threadSetting(threadCount))
    }
}

@c @implementation
public func flowrl_runtime_info(_ jsonOut: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32 {
    runCall {
        try Runtime.prepareOnce()  // so that "threads" shows flowrl's setting, not OpenBLAS's default
        let blas = try BLAS.describe()
        let info = JSONValue.object([
            "version": .string(FlowRLVersion.string),
            "abi_version": .integer(Int64(FLOWRL_ABI_VERSION)),
            "blas": .object([
                "path": .string(blas.path), "configuration": .string(blas.configuration),
                "core": .string(blas.core), "detected_core": .string(blas.detectedCore),
                "core_source": .string(blas.coreSource.rawValue), "cpu_vector_level": .string(blas.cpuVectorLevel),
                "threads": .integer(Int64(blas.threadCount)),
            ]),
            "threads": .integer(Int64(ForkJoin.threadCount)),
            "product_flops": .integer(Int64(clamping: BLAS.productFLOPs)),
        ])
        try returnString(info.text, through: jsonOut, name: "json_out")
    }
}

@c @implementation
public func flowrl_algorithms(_ jsonOut: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32 {
    runCall {
        let names = AgentRegistry.names.map { "\"\($0)\"" }.joined(separator: ",")
        try returnString("[\(names)]", through: jsonOut, name: "json_out")
    }
}

@c @implementation
public func flowrl_algorithm_schema(_ algorithm: UnsafePointer<CChar>?, _ jsonOut: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32 {
    runCall {
        let name = try Arrays.string(algorithm, "algorithm")
        try returnString(try AgentRegistry.schema(algorithm: name).text, through: jsonOut, name: "json_out")
    }
}

@c @implementation
public func flowrl_agent_create(_ algorithm: UnsafePointer<CChar>?, _ configJSON: UnsafePointer<CChar>?,
                                _ observationSize: Int64, _ actionSize: Int64,
                                _ agentOut: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    agentOut?.pointee = nil
    return runCall {
        guard let agentOut else { throw FlowRLError.invalidArgument("agent_out is NULL") }
        let name = try Arrays.string(algorithm, "algorithm")
        let config = configJSON == nil ? nil : try Arrays.string(configJSON, "config_json")
        try Runtime.prepareOnce()
        let agent = try ManagedAgent(algorithm: name, configurationJSON: config,
                                     observationSize: Int(clamping: observationSize), actionSize: Int(clamping: actionSize))
        agentOut.pointee = Handles.register(agent)
    }
}

@c @implementation
public func flowrl_agent_free(_ agent: OpaquePointer?) -> Int32 {
    runCall { try Handles.release(agent) }
}

@c @implementation
public func flowrl_agent_act(_ agent: OpaquePointer?, _ observations: UnsafePointer<Float>?, _ count: Int64,
                             _ observationSize: Int64, _ deterministic: Int32, _ actionsOut: UnsafeMutablePointer<Float>?,
                             _ actionsCapacity: Int64) -> Int32 {
    runCall {
        try Handles.withAgent(agent) { agent in
            let rows = try Arrays.count(count, "count")
            try Arrays.expectWidth(observationSize, agent.observationSize, "observation_size")
            guard let actionsOut else { throw FlowRLError.invalidArgument("actions_out is NULL") }
            let needed = rows * agent.actionSize
            guard actionsCapacity >= Int64(needed) else {
                throw FlowRLError.invalidArgument("actions_capacity is \(actionsCapacity), need \(needed) (count × action_size)")
            }
            let input = try Arrays.tensor(observations, rows: rows, cols: agent.observationSize, name: "observations")
            let actions = try agent.act(observations: input, deterministic: deterministic != 0)
            actions.scalars.withUnsafeBufferPointer { actionsOut.update(from: $0.baseAddress!, count: needed) }
        }
    }
}

@c @implementation
public func flowrl_agent_particle_chain(_ agent: OpaquePointer?, _ observations: UnsafePointer<Float>?, _ count: Int64,
                                        _ observationSize: Int64, _ deterministic: Int32, _ particlesOut: UnsafeMutablePointer<Float>?,
                                        _ particlesCapacity: Int64, _ sizeOut: UnsafeMutablePointer<Int64>?) -> Int32 {
    runCall {
        guard let sizeOut else { throw FlowRLError.invalidArgument("size_out is NULL") }
        try Handles.withAgent(agent) { agent in
            let rows = try Arrays.count(count, "count")
            try Arrays.expectWidth(observationSize, agent.observationSize, "observation_size")
            guard let length = agent.chainLength else {
                throw FlowRLError.invalidState("\(agent.algorithm) has no particle chain")
            }
            let needed = length * rows * agent.actionSize
            sizeOut.pointee = Int64(needed)
            guard let particlesOut else { return }  // size query
            guard particlesCapacity >= Int64(needed) else {
                throw FlowRLError.invalidArgument("particles_capacity is \(particlesCapacity), need \(needed)")
            }
            let input = try Arrays.tensor(observations, rows: rows, cols: agent.observationSize, name: "observations")
            let chain = try agent.particleChain(observations: input, deterministic: deterministic != 0)
            var offset = 0
            for particles in chain {
                particles.scalars.withUnsafeBufferPointer { (particlesOut + offset).update(from: $0.baseAddress!, count: $0.count) }
                offset += particles.count
            }
        }
    }
}

@c @implementation
public func flowrl_agent_observe(_ agent: OpaquePointer?, _ observations: UnsafePointer<Float>?, _ actions: UnsafePointer<Float>?,
                                 _ rewards: UnsafePointer<Float>?, _ nextObservations: UnsafePointer<Float>?,
                                 _ terminated: UnsafePointer<UInt8>?, _ count: Int64, _ observationSize: Int64,
                                 _ actionSize: Int64) -> Int32 {
    runCall {
        try Handles.withAgent(agent) { agent in
            try agent.observe(try Arrays.transitions(observations, actions, rewards, nextObservations, terminated, count: count,
                                                     observationSize: observationSize, actionSize: actionSize, for: agent))
        }
    }
}

@c @implementation
public func flowrl_agent_update(_ agent: OpaquePointer?, _ gradientSteps: Int32,
                                _ metricsJSONOut: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32 {
    runCall {
        guard metricsJSONOut != nil else { throw FlowRLError.invalidArgument("metrics_json_out is NULL") }
        let metrics = try Handles.withAgent(agent) { try $0.update(gradientSteps: Int(gradientSteps)) }
        try returnString(metricsJSON(metrics), through: metricsJSONOut, name: "metrics_json_out")
    }
}

@c @implementation
public func flowrl_agent_pretrain(_ agent: OpaquePointer?, _ observations: UnsafePointer<Float>?, _ actions: UnsafePointer<Float>?,
                                  _ count: Int64, _ observationSize: Int64, _ actionSize: Int64, _ steps: Int64,
                                  _ metricsJSONOut: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32 {
    runCall {
        guard metricsJSONOut != nil else { throw FlowRLError.invalidArgument("metrics_json_out is NULL") }
        let metrics = try Handles.withAgent(agent) { agent in
            let rows = try Arrays.count(count, "count")
            try Arrays.expectWidth(observationSize, agent.observationSize, "observation_size")
            try Arrays.expectWidth(actionSize, agent.actionSize, "action_size")
            return try agent.pretrain(
                observations: try Arrays.tensor(observations, rows: rows, cols: agent.observationSize, name: "observations"),
                actions: try Arrays.tensor(actions, rows: rows, cols: agent.actionSize, name: "actions"),
                steps: Int(clamping: steps))
        }
        try returnString(metricsJSON(metrics), through: metricsJSONOut, name: "metrics_json_out")
    }
}

@c @implementation
public func flowrl_agent_pretrain_transitions(_ agent: OpaquePointer?, _ observations: UnsafePointer<Float>?,
                                              _ actions: UnsafePointer<Float>?, _ rewards: UnsafePointer<Float>?,
                                              _ nextObservations: UnsafePointer<Float>?, _ terminated: UnsafePointer<UInt8>?,
                                              _ count: Int64, _ observationSize: Int64, _ actionSize: Int64, _ steps: Int64,
                                              _ metricsJSONOut: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32 {
    runCall {
        guard metricsJSONOut != nil else { throw FlowRLError.invalidArgument("metrics_json_out is NULL") }
        let metrics = try Handles.withAgent(agent) { agent in
            let batch = try Arrays.transitions(observations, actions, rewards, nextObservations, terminated, count: count,
                                               observationSize: observationSize, actionSize: actionSize, for: agent)
            return try agent.pretrain(transitions: batch, steps: Int(clamping: steps))
        }
        try returnString(metricsJSON(metrics), through: metricsJSONOut, name: "metrics_json_out")
    }
}

@c @implementation
public func flowrl_agent_set_metadata(_ agent: OpaquePointer?, _ metadataJSON: UnsafePointer<CChar>?) -> Int32 {
    runCall {
        let json = try Arrays.string(metadataJSON, "metadata_json")
        try Handles.withAgent(agent) { try $0.setMetadata(json) }
    }
}

@c @implementation
public func flowrl_agent_set_config(_ agent: OpaquePointer?, _ configJSON: UnsafePointer<CChar>?) -> Int32 {
    runCall {
        let json = try Arrays.string(configJSON, "config_json")
        try Handles.withAgent(agent) { try $0.setConfiguration(json) }
    }
}

@c @implementation
public func flowrl_agent_seed(_ agent: OpaquePointer?, _ seed: UInt64) -> Int32 {
    runCall { try Handles.withAgent(agent) { $0.reseed(seed) } }
}

@c @implementation
public func flowrl_agent_info(_ agent: OpaquePointer?, _ jsonOut: UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32 {
    runCall {
        let json = try Handles.withAgent(agent) { $0.infoJSON() }
        try returnString(json, through: jsonOut, name: "json_out")
    }
}

@c @implementation
public func flowrl_agent_save(_ agent: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ includeReplayBuffer: Int32) -> Int32 {
    runCall {
        let target = try Arrays.string(path, "path")
        guard !target.isEmpty else { throw FlowRLError.invalidArgument("path is empty") }
        let checkpoint = try Handles.withAgent(agent) { $0.checkpoint(includeReplayBuffer: includeReplayBuffer != 0) }
        try checkpoint.write(to: target)
    }
}

@c @implementation
public func flowrl_agent_load(_ path: UnsafePointer<CChar>?, _ agentOut: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    agentOut?.pointee = nil
    return runCall {
        guard let agentOut else { throw FlowRLError.invalidArgument("agent_out is NULL") }
        let source = try Arrays.string(path, "path")
        try Runtime.prepareOnce()
        let agent = try ManagedAgent(checkpoint: try Checkpoint.read(from: source))
        agentOut.pointee = Handles.register(agent)
    }
}

@c @implementation
public func flowrl_agent_save_bytes(_ agent: OpaquePointer?, _ includeReplayBuffer: Int32, _ buffer: UnsafeMutablePointer<UInt8>?,
                                    _ capacity: Int64, _ sizeOut: UnsafeMutablePointer<Int64>?) -> Int32 {
    runCall {
        guard let sizeOut else { throw FlowRLError.invalidArgument("size_out is NULL") }
        let bytes = try Handles.withAgent(agent) { try $0.checkpoint(includeReplayBuffer: includeReplayBuffer != 0).checkedEncoding() }
        sizeOut.pointee = Int64(bytes.count)
        guard let buffer else { return }  // size query
        guard capacity >= Int64(bytes.count) else {
            throw FlowRLError.invalidArgument("buffer capacity \(capacity) is smaller than the \(bytes.count) bytes needed")
        }
        bytes.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: bytes.count) }
    }
}

@c @implementation
public func flowrl_agent_load_bytes(_ data: UnsafePointer<UInt8>?, _ size: Int64,
                                    _ agentOut: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    agentOut?.pointee = nil
    return runCall {
        guard let agentOut else { throw FlowRLError.invalidArgument("agent_out is NULL") }
        guard let data else { throw FlowRLError.invalidArgument("data is NULL") }
        let count = try Arrays.count(size, "size", minimum: 0)
        try Runtime.prepareOnce()
        let checkpoint = try Checkpoint(decoding: UnsafeRawBufferPointer(start: data, count: count))
        agentOut.pointee = Handles.register(try ManagedAgent(checkpoint: checkpoint))
    }
}

/// The version string as a static C string.
enum Version {
    nonisolated(unsafe) static let cString: UnsafePointer<CChar> = UnsafePointer(ThreadStrings.copy(FlowRLVersion.string))
}
