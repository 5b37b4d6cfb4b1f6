/// The values a configuration key takes, as published in an algorithm's schema
/// (`flowrl_algorithm_schema`): its JSON type and its range or choices.
public struct ConfigDomain: Sendable, Equatable {
    /// "integer", "number", "string", "boolean", "integer_list", "number_or_auto" or "integer_or_auto".
    public var type: String
    /// Inclusive bounds of the value (of each item for "integer_list"), where there are some.
    public var minimum: JSONValue?
    public var maximum: JSONValue?
    /// True when `minimum` itself is excluded.
    public var exclusiveMinimum = false
    /// The allowed strings ("string": all of them; "number_or_auto": `["auto"]`).
    public var choices: [String] = []
    /// An integer that must divide the value (2 for an even width).
    public var multipleOf: Int?
    /// Bounds of a list's length.
    public var minimumLength: Int?
    public var maximumLength: Int?

    /// The domain as the schema's JSON fields (those that apply).
    var fields: [String: JSONValue] {
        var fields: [String: JSONValue] = ["type": .string(type)]
        if let minimum { fields["minimum"] = minimum }
        if let maximum { fields["maximum"] = maximum }
        if exclusiveMinimum { fields["exclusive_minimum"] = .bool(true) }
        if !choices.isEmpty { fields["choices"] = .array(choices.map(JSONValue.string)) }
        if let multipleOf { fields["multiple_of"] = .integer(Int64(multipleOf)) }
        if let minimumLength { fields["min_length"] = .integer(Int64(minimumLength)) }
        if let maximumLength { fields["max_length"] = .integer(Int64(maximumLength)) }
        return fields
    }
}

/// One configuration key of a group: its JSON name, the values it takes, a one-line description,
/// and the check `validate()` runs on it. A group lists its keys (`ConfigurationGroup.keys`) next
/// to the properties that hold their defaults, so a key is declared, defaulted, range-checked and
/// described in one place; the schema and Python's keywords, docstrings and defaults derive from it.
public struct ConfigKey<Group> {
    /// The JSON key (= the Python keyword).
    public let name: String
    /// One line for docstrings and `help()`.
    public let description: String
    /// Type and range or choices.
    public let domain: ConfigDomain
    /// Throws `FlowRLError.invalidArgument` naming the key when `group`'s value is out of its domain.
    public let check: (Group) throws -> Void
    /// True for a key a live agent may change (`flowrl_agent_set_config`; the schema's
    /// `"settable": true`): the learning rates, which Stable-Baselines3's schedules move during
    /// training. Every other key is fixed when the agent is created.
    public let settable: Bool
    /// What a *stored* configuration (a checkpoint's) without this key means: the value that gives
    /// the behaviour the library had before the key existed, for a key added after checkpoints were
    /// first written (nil for a key every stored configuration holds). Such a configuration loads
    /// with the key at this value, not at today's default (`AgentConfiguration.migrated`); a new
    /// configuration without the key still takes the default. So when you change a default, the
    /// legacy value keeps old checkpoints meaning what they meant. Declared with `addedLater`.
    public private(set) var legacyValue: JSONValue?

    public init(_ name: String, _ description: String, domain: ConfigDomain, settable: Bool = false,
                check: @escaping (Group) throws -> Void) {
        self.name = name
        self.description = description
        self.domain = domain
        self.settable = settable
        self.check = check
    }

    /// This key declared as added after checkpoints were first written, with `legacyValue` (see
    /// there): what a stored configuration without the key means. Every key added from now on needs
    /// one (CheckpointCompatibilityTests fails for a key the oldest stored checkpoints lack and that
    /// declares none); it equals the default the key is added with when that keeps the old behaviour.
    public func addedLater(legacyValue: JSONValue) -> Self {
        var key = self
        key.legacyValue = legacyValue
        return key
    }

    /// The same key read through `path` from a configuration that holds a `Group` (a group's key
    /// as its algorithm's configuration publishes it).
    func lifted<Whole>(_ path: KeyPath<Whole, Group>) -> ConfigKey<Whole> {
        var key = ConfigKey<Whole>(name, description, domain: domain, settable: settable) { [check] in try check($0[keyPath: path]) }
        key.legacyValue = legacyValue
        return key
    }

    /// An integer in `range` (and a multiple of `multipleOf`, when given).
    public static func integer(_ name: String, _ path: KeyPath<Group, Int>, in range: ClosedRange<Int>, multipleOf: Int? = nil,
                               _ description: String) -> Self {
        Self(name, description, domain: ConfigDomain(type: "integer", minimum: .integer(Int64(range.lowerBound)),
                                                     maximum: .integer(Int64(range.upperBound)), multipleOf: multipleOf)) {
            let value = $0[keyPath: path]
            try ConfigCheck.inRange(value, range, name)
            if let multipleOf, value % multipleOf != 0 {
                throw FlowRLError.invalidArgument(multipleOf == 2 ? "config key '\(name)' must be even, got \(value)"
                                                                 : "config key '\(name)' must be a multiple of \(multipleOf), got \(value)")
            }
        }
    }

    /// Any 64-bit unsigned integer (a seed); the decoder rejects the others.
    public static func unsigned(_ name: String, _ path: KeyPath<Group, UInt64>, _ description: String) -> Self {
        Self(name, description, domain: ConfigDomain(type: "integer", minimum: .integer(0), maximum: .unsigned(UInt64.max))) { _ in }
    }

    /// A finite number in `range`; `settable` when a live agent may change it (see `settable`).
    public static func number(_ name: String, _ path: KeyPath<Group, Float>, in range: ClosedRange<Float>, settable: Bool = false,
                              _ description: String) -> Self {
        Self(name, description, domain: ConfigDomain(type: "number", minimum: .float(range.lowerBound),
                                                     maximum: .float(range.upperBound)), settable: settable) {
            try ConfigCheck.finite($0[keyPath: path], name)
            try ConfigCheck.inRange($0[keyPath: path], range, name)
        }
    }

    /// "auto" or a number: in `range` when given, else any finite one.
    public static func numberOrAuto(_ name: String, _ path: KeyPath<Group, AutoOrNumber>, in range: ClosedRange<Float>? = nil,
                                    _ description: String) -> Self {
        Self(name, description, domain: ConfigDomain(type: "number_or_auto", minimum: range.map { .float($0.lowerBound) },
                                                     maximum: range.map { .float($0.upperBound) }, choices: ["auto"])) {
            guard case .value(let value) = $0[keyPath: path] else { return }
            if let range { try ConfigCheck.inRange(value, range, name) } else { try ConfigCheck.finite(value, name) }
        }
    }

    /// "auto" or an integer in `range`.
    public static func integerOrAuto(_ name: String, _ path: KeyPath<Group, AutoOrCount>, in range: ClosedRange<Int>,
                                     _ description: String) -> Self {
        Self(name, description, domain: ConfigDomain(type: "integer_or_auto", minimum: .integer(Int64(range.lowerBound)),
                                                     maximum: .integer(Int64(range.upperBound)), choices: ["auto"])) {
            guard case .value(let value) = $0[keyPath: path] else { return }
            try ConfigCheck.inRange(value, range, name)
        }
    }

    /// One of a string enumeration's cases (the decoder rejects the others).
    public static func choice<Choice: CaseIterable & RawRepresentable>(_ name: String, _ path: KeyPath<Group, Choice>,
                                                                       _ description: String) -> Self where Choice.RawValue == String {
        Self(name, description, domain: ConfigDomain(type: "string", choices: Choice.allCases.map(\.rawValue))) { _ in }
    }

    /// True or false (the decoder rejects anything else).
    public static func boolean(_ name: String, _ path: KeyPath<Group, Bool>, _ description: String) -> Self {
        Self(name, description, domain: ConfigDomain(type: "boolean")) { _ in }
    }

    /// The width of a time embedding emb(t): even, in `ConfigCheck.timeEmbeddingWidths`.
    public static func timeEmbeddingSize(_ path: KeyPath<Group, Int>) -> Self {
        integer("time_embedding_size", path, in: ConfigCheck.timeEmbeddingWidths, multipleOf: 2,
                "Width of the time embedding emb(t) (even: sines and cosines in pairs).")
    }

    /// Hidden-layer widths (`ConfigCheck.layerSizes`).
    public static func layerSizes(_ name: String, _ path: KeyPath<Group, [Int]>, _ description: String) -> Self {
        Self(name, description, domain: ConfigDomain(type: "integer_list", minimum: .integer(Int64(ConfigCheck.layerWidths.lowerBound)),
                                                     maximum: .integer(Int64(ConfigCheck.layerWidths.upperBound)),
                                                     minimumLength: ConfigCheck.layerCounts.lowerBound,
                                                     maximumLength: ConfigCheck.layerCounts.upperBound)) {
            try ConfigCheck.layerSizes($0[keyPath: path], name)
        }
    }
}

extension ConfigurationGroup {
    /// None: a group must list its keys to publish them (ConfigurationSchemaTests fails for a
    /// registered algorithm whose schema misses a key of its configuration).
    public static var keys: [ConfigKey<Self>] { [] }

    /// Every key's own check, in the order of `keys`.
    public func validateKeys() throws {
        for key in Self.keys { try key.check(self) }
    }

    /// The keys' checks: the whole validation of a group without relations between its keys.
    public func validate() throws { try validateKeys() }
}

extension JSONValue {
    /// A `Float` as the JSON number it prints as (`1e-08`, not `9.99999993922529e-09`), as the
    /// configuration's encoder writes it.
    static func float(_ value: Float) -> JSONValue { .number(Double("\(value)") ?? Double(value)) }
}

extension OffPolicyConfiguration {
    /// The groups' keys the algorithm uses, each with its group's name, in the order of the schema:
    /// the algorithm's own, then the shared groups.
    static var keyTable: [(group: String, key: ConfigKey<Self>)] {
        func lift<Group>(_ group: String, _ keys: [ConfigKey<Group>], _ path: KeyPath<Self, Group>) -> [(group: String, key: ConfigKey<Self>)] {
            keys.map { (group, $0.lifted(path)) }
        }
        let groups = Options.groups
        return lift("algorithm", Options.keys, \.options) + lift("common", CommonSettings.keys, \.common)
            + lift("replay", ReplaySettings.keys, \.replay)
            + (groups.contains(.critic) ? lift("critic", CriticSettings.keys, \.critic) : [])
            + (groups.contains(.temperature) ? lift("temperature", TemperatureSettings.keys, \.temperature) : [])
            + (groups.contains(.trainingLoop) ? lift("training_loop", TrainingLoopSettings.keys, \.trainingLoop) : [])
    }

    /// The configuration's schema (see `flowrl_algorithm_schema` in include/flowrl.h): every key
    /// with its group, type, default (the algorithm's, from `init()`), range or choices and
    /// description (and, for a key added after checkpoints were first written, its `legacy_value`:
    /// what a stored configuration without it means), the values each preset sets (`presets`: name
    /// → the keys it changes), and the schedule the Python loop uses when the configuration has no
    /// such keys.
    public static func schema(algorithm: String, summary: String) -> JSONValue {
        let defaults = Self()
        guard case .object(let values) = defaults.jsonValue() else { return .null }
        let keys: [JSONValue] = keyTable.map { entry in
            var fields = entry.key.domain.fields
            fields["name"] = .string(entry.key.name)
            fields["group"] = .string(entry.group)
            fields["description"] = .string(entry.key.description)
            fields["default"] = values[entry.key.name] ?? .null
            if let source = followingKeys[entry.key.name] { fields["follows"] = .string(source) }
            if entry.key.settable { fields["settable"] = .bool(true) }
            if let legacy = entry.key.legacyValue { fields["legacy_value"] = legacy }
            return .object(fields)
        }
        guard case .object(let loop) = snakeCaseJSON(defaults.trainingLoop) else { return .null }
        let presets = Options.presets.keys.sorted().map { ($0, JSONValue.object(presetValues($0) ?? [:])) }
        return .object([
            "algorithm": .string(algorithm),
            "description": .string(summary),
            "keys": .array(keys),
            "presets": .object(Dictionary(uniqueKeysWithValues: presets)),
            "renamed_keys": .object(Options.renamedKeys.mapValues(JSONValue.string)),
            "training_loop_defaults": .object(loop),
        ])
    }
}
