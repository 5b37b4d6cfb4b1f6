import FlowRL

/// Conversions from C arrays to tensors, checking every size first.
enum Arrays {
    /// Largest number of floats one array argument may hold (16 GiB); beyond is surely a bad size.
    static let maximumCount = 1 << 32

    static func count(_ value: Int64, _ name: String, minimum: Int64 = 1) throws -> Int {
        guard value >= minimum else { throw FlowRLError.invalidArgument("\(name) must be ≥ \(minimum), got \(value)") }
        guard value <= Int64(maximumCount) else { throw FlowRLError.invalidArgument("\(name) = \(value) is too large") }
        return Int(value)
    }

    /// `rows × cols` floats from `pointer` as a tensor.
    static func tensor(_ pointer: UnsafePointer<Float>?, rows: Int, cols: Int, name: String) throws -> Tensor {
        guard let pointer else { throw FlowRLError.invalidArgument("\(name) is NULL") }
        let (total, overflow) = rows.multipliedReportingOverflow(by: cols)
        guard !overflow, total <= maximumCount else { throw FlowRLError.invalidArgument("\(name): \(rows) × \(cols) floats is too large") }
        return Tensor(rows: rows, cols: cols, scalars: Array(UnsafeBufferPointer(start: pointer, count: total)))
    }

    /// `count` flags from `pointer` as a `[count, 1]` tensor of 0 and 1 (any non-zero byte is 1).
    static func flags(_ pointer: UnsafePointer<UInt8>?, count: Int, name: String) throws -> Tensor {
        guard let pointer else { throw FlowRLError.invalidArgument("\(name) is NULL") }
        return Tensor(rows: count, cols: 1, scalars: UnsafeBufferPointer(start: pointer, count: count).map { $0 == 0 ? 0 : 1 })
    }

    /// Checks that the caller's declared row width matches the agent's.
    static func expectWidth(_ given: Int64, _ expected: Int, _ name: String) throws {
        guard given == Int64(expected) else {
            throw FlowRLError.invalidArgument("\(name) is \(given), but the agent was created with \(expected)")
        }
    }

    /// A batch of `count` transitions from the five C arrays of `observe` and
    /// `pretrain_transitions`, the declared widths checked against the agent's.
    static func transitions(_ observations: UnsafePointer<Float>?, _ actions: UnsafePointer<Float>?,
                            _ rewards: UnsafePointer<Float>?, _ nextObservations: UnsafePointer<Float>?,
                            _ terminated: UnsafePointer<UInt8>?, count: Int64, observationSize: Int64, actionSize: Int64,
                            for agent: ManagedAgent) throws -> Transitions {
        let rows = try Arrays.count(count, "count")
        try expectWidth(observationSize, agent.observationSize, "observation_size")
        try expectWidth(actionSize, agent.actionSize, "action_size")
        return Transitions(
            observations: try tensor(observations, rows: rows, cols: agent.observationSize, name: "observations"),
            actions: try tensor(actions, rows: rows, cols: agent.actionSize, name: "actions"),
            rewards: try tensor(rewards, rows: rows, cols: 1, name: "rewards"),
            nextObservations: try tensor(nextObservations, rows: rows, cols: agent.observationSize, name: "next_observations"),
            terminated: try flags(terminated, count: rows, name: "terminated"))
    }

    /// A C string as a Swift string.
    static func string(_ pointer: UnsafePointer<CChar>?, _ name: String) throws -> String {
        guard let pointer else { throw FlowRLError.invalidArgument("\(name) is NULL") }
        guard let string = String(validatingCString: pointer) else { throw FlowRLError.invalidArgument("\(name) is not valid UTF-8") }
        return string
    }
}
