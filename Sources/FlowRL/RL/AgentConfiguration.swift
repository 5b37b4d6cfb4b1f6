#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An algorithm's hyperparameters: a `Codable` struct whose `init()` holds the defaults.
///
/// JSON keys are the snake_case forms of the property names (`learningRate` ↔ `learning_rate`),
/// which are also the Python keyword arguments. `decode(json:)` starts from the defaults,
/// overlays the given keys (over a named preset's values, when `"preset"` names one), rejects
/// unknown keys by name, and calls `validate()`.
public protocol AgentConfiguration: Codable, Equatable, Sendable {
    /// The defaults.
    init()
    /// Throws `FlowRLError.invalidArgument` naming the first key whose value is out of range.
    func validate() throws
    /// Keys that take another key's value when the caller gives that one and not them: key →
    /// source (see `AlgorithmOptions.followingKeys`).
    static var followingKeys: [String: String] { get }
    /// The values the preset `name` sets (the keys where it differs from the defaults), or nil
    /// when the configuration has no such preset. A configuration with presets has a `"preset"`
    /// key; `decode` applies the named preset's values under the caller's keys.
    static func presetValues(_ name: String) -> [String: JSONValue]?
    /// Keys renamed since checkpoints were first written: old name → new name. A checkpoint's
    /// configuration is read with them migrated (`migrated(json:)`); a caller's configuration that
    /// uses an old name is refused, naming the new one.
    static var renamedKeys: [String: String] { get }
    /// Keys added since checkpoints were first written → their legacy values (`ConfigKey.legacyValue`):
    /// what a stored configuration without the key means. `migrated(json:)` fills them in; a
    /// caller's new configuration without the key takes the default instead.
    static var legacyValues: [String: JSONValue] { get }
    /// The keys a live agent may change (`changing(json:algorithm:)`; the schema's `"settable"`).
    static var settableKeys: Set<String> { get }
}

extension AgentConfiguration {
    /// None by default.
    public static var followingKeys: [String: String] { [:] }
    /// No presets by default.
    public static func presetValues(_ name: String) -> [String: JSONValue]? { nil }
    /// None by default.
    public static var renamedKeys: [String: String] { [:] }
    /// None by default.
    public static var settableKeys: Set<String> { [] }
    /// None by default.
    public static var legacyValues: [String: JSONValue] { [:] }

    /// This configuration with the keys of the JSON object `json` changed, each checked exactly as
    /// `decode` checks a new configuration (types, ranges, relations between keys). Only
    /// `settableKeys` may be given; any other key is refused by name. Throws, leaving nothing
    /// changed, on the first problem.
    public func changing(json: String, algorithm: String) throws -> Self {
        guard case .object(let changes)? = try? JSONValue.parse(json) else {
            throw FlowRLError.invalidArgument("config must be a JSON object, got: \(json.prefix(200))")
        }
        guard case .object(var current) = jsonValue() else {
            throw FlowRLError.invalidArgument("config for \(algorithm): the configuration cannot be encoded")
        }
        let settable = Self.settableKeys.sorted().joined(separator: ", ")
        for key in changes.keys.sorted() where !Self.settableKeys.contains(key) {
            if current[key] != nil {
                throw FlowRLError.invalidArgument("config key '\(key)' of \(algorithm) is fixed when the agent is created; "
                                                  + "keys a live agent may change: \(settable)")
            }
            throw FlowRLError.invalidArgument("unknown config key '\(key)' for \(algorithm); keys a live agent may change: \(settable)")
        }
        for (key, value) in changes { current[key] = value }
        // Every key given: no preset or following key fills anything in, and each value passes the
        // checks a new configuration's would.
        return try Self.decode(json: JSONValue.object(current).text, algorithm: algorithm)
    }

    /// Decodes a JSON object of overrides (nil or empty for the defaults) and validates it.
    public static func decode(json: String?, algorithm: String) throws -> Self {
        let text = json ?? ""
        guard text.contains(where: { !$0.isWhitespace }) else { return Self() }
        let parsed: JSONValue
        do {
            parsed = try JSONValue.parse(text)
        } catch {
            throw FlowRLError.invalidArgument("config is not valid JSON: \(text.prefix(200))")
        }
        guard case .object(var overrides) = parsed else {
            throw FlowRLError.invalidArgument("config must be a JSON object, got: \(text.prefix(200))")
        }
        // A preset's values count as given, below the caller's own: explicit keys win, and a key
        // the preset sets does not follow its source key.
        if case .string(let name)? = overrides["preset"], let values = presetValues(name) {
            overrides = values.merging(overrides) { _, given in given }
        }
        guard case .object(var merged) = Self().jsonValue() else {
            throw FlowRLError.invalidArgument("config for \(algorithm): the defaults cannot be encoded")
        }
        let valid = merged.keys.sorted()
        for key in overrides.keys.sorted() where merged[key] == nil {
            if let new = renamedKeys[key] {
                throw FlowRLError.invalidArgument("config key '\(key)' for \(algorithm) has been renamed '\(new)'; "
                                                  + "checkpoints that store '\(key)' still load")
            }
            throw FlowRLError.invalidArgument("unknown config key '\(key)' for \(algorithm); valid keys: \(valid.joined(separator: ", "))")
        }
        var defaults = merged
        for (key, source) in followingKeys where overrides[key] == nil && defaults[key] != nil {
            if let value = overrides[source] { defaults[key] = value }
        }
        merged = defaults
        for (key, value) in overrides { merged[key] = value }
        let configuration: Self
        do {
            configuration = try decodeObject(merged)
        } catch {
            // Find the key responsible by applying the overrides one at a time, so the message
            // names it even where the decoder's own error does not.
            for key in overrides.keys.sorted() {
                var single = defaults
                single[key] = overrides[key]
                do {
                    _ = try decodeObject(single)
                } catch let keyError {
                    let detail = (keyError as? DecodingError).map(describe) ?? "\(keyError)"
                    throw FlowRLError.invalidArgument(
                        "config key '\(key)' for \(algorithm) has an invalid value \(overrides[key]!.text) "
                        + "(expected \(defaults[key]!.kindDescription), like the default \(defaults[key]!.text)); \(detail)")
                }
            }
            let detail = (error as? DecodingError).map(describe) ?? "\(error)"
            throw FlowRLError.invalidArgument("config for \(algorithm): \(detail)")
        }
        try configuration.validate()
        return configuration
    }

    private static func decodeObject(_ object: [String: JSONValue]) throws -> Self {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(Self.self, from: Data(JSONValue.object(object).text.utf8))
    }

    /// The configuration as a JSON object with snake_case keys.
    public func jsonValue() -> JSONValue { snakeCaseJSON(self) }

    /// The configuration as compact JSON text with sorted keys.
    public func jsonString() -> String { jsonValue().text }
}

/// `value` encoded as JSON with snake_case keys (an empty object if it cannot be encoded).
func snakeCaseJSON(_ value: some Encodable) -> JSONValue {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    guard let data = try? encoder.encode(value), let decoded = try? JSONDecoder().decode(JSONValue.self, from: data) else {
        return .object([:])
    }
    return decoded
}

private func snakeCase(_ key: CodingKey) -> String {
    var result = ""
    for character in key.stringValue {
        if character.isUppercase { result += "_" + character.lowercased() } else { result.append(character) }
    }
    return result
}

private func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
        let keys = context.codingPath.filter { $0.intValue == nil }.map(snakeCase)
        return keys.isEmpty ? "the config" : "key '\(keys.joined(separator: "."))'"
    }
    switch error {
    case .typeMismatch(let type, let context): return "\(path(context)) has the wrong type (expected \(type))"
    case .valueNotFound(let type, let context): return "\(path(context)) is null (expected \(type))"
    case .keyNotFound(let key, _): return "key '\(snakeCase(key))' is missing"
    case .dataCorrupted(let context): return "\(path(context)): \(context.debugDescription)"
    @unknown default: return "\(error)"
    }
}

/// Range checks for `validate()`: each throws an error that names the key and the limit.
public enum ConfigCheck {
    public static func positive<T: Comparable & Numeric>(_ value: T, _ key: String) throws {
        guard value > 0 else { throw FlowRLError.invalidArgument("config key '\(key)' must be > 0, got \(value)") }
    }

    public static func nonNegative<T: Comparable & Numeric>(_ value: T, _ key: String) throws {
        guard value >= 0 else { throw FlowRLError.invalidArgument("config key '\(key)' must be ≥ 0, got \(value)") }
    }

    public static func inRange<T: Comparable>(_ value: T, _ range: ClosedRange<T>, _ key: String) throws {
        guard range.contains(value) else {
            throw FlowRLError.invalidArgument("config key '\(key)' must be in [\(range.lowerBound), \(range.upperBound)], got \(value)")
        }
    }

    public static func finite(_ value: Float, _ key: String) throws {
        guard value.isFinite else { throw FlowRLError.invalidArgument("config key '\(key)' must be finite, got \(value)") }
    }

    /// The widths a time embedding may have (and it must be even: sines and cosines in pairs).
    public static let timeEmbeddingWidths = 2...1024

    /// A time-embedding width: even (sines and cosines in pairs) and in [2, 1024].
    public static func timeEmbeddingSize(_ size: Int, _ key: String = "time_embedding_size") throws {
        try inRange(size, timeEmbeddingWidths, key)
        guard size % 2 == 0 else { throw FlowRLError.invalidArgument("config key '\(key)' must be even, got \(size)") }
    }

    /// The widths a hidden layer may have.
    public static let layerWidths = 1...16_384
    /// The numbers of hidden layers a network may have.
    public static let layerCounts = 1...64

    public static func layerSizes(_ sizes: [Int], _ key: String) throws {
        guard layerCounts.contains(sizes.count), sizes.allSatisfy({ layerWidths.contains($0) }) else {
            throw FlowRLError.invalidArgument("config key '\(key)' must be a list of 1 to 64 sizes in [1, 16384], got \(sizes)")
        }
        // Hidden-to-hidden weights alone; past this a network would not fit in memory sensibly.
        let weights = zip(sizes, sizes.dropFirst()).reduce(0) { $0 + $1.0 * $1.1 }
        guard weights <= 100_000_000 else {
            throw FlowRLError.invalidArgument("config key '\(key)': \(sizes) needs \(weights) weights between hidden layers; the limit is 100,000,000")
        }
    }
}
