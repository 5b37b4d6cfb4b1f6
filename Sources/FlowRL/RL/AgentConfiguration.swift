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
}

extension AgentConfiguration {
    /// None by default.
    public static var followingKeys: [String: String] { [:] }
    /// No presets by default.
    public static func presetValues(_ name: String) -> [String: JSONValue]? { nil }

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
