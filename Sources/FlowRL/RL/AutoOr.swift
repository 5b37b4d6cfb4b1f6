/// A configuration value that may also be `"auto"`: the library then derives it (α, the target
/// entropy, the critic warm-up's length). JSON: the value itself, or the string `"auto"`.
public enum AutoOr<Value: Codable & Equatable & Sendable>: Codable, Equatable, Sendable, CustomStringConvertible {
    case auto
    case value(Value)

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Value.self) {
            self = .value(value)
        } else if let text = try? container.decode(String.self), text == "auto" {
            self = .auto
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected \(Value.self == Int.self ? "an integer" : "a number") or \"auto\"")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .auto: try container.encode("auto")
        case .value(let value): try container.encode(value)
        }
    }

    public var description: String {
        switch self {
        case .auto: return "auto"
        case .value(let value): return "\(value)"
        }
    }
}

/// A number that may be `"auto"`.
public typealias AutoOrNumber = AutoOr<Float>
/// A count that may be `"auto"`.
public typealias AutoOrCount = AutoOr<Int>
