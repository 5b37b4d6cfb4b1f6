import FlowRL
import XCTest

/// The schema every algorithm publishes (`flowrl_algorithm_schema`; Python derives its keywords,
/// defaults and docstrings from it) agrees with what the configuration decodes and validates.
/// Each test runs over `AgentRegistry.types` (and the extension test's toy algorithm), so a new
/// algorithm is covered by being registered.
final class ConfigurationSchemaTests: XCTestCase {
    static let groups: Set<String> = ["algorithm", "common", "replay", "critic", "temperature", "training_loop"]
    static let valueTypes: Set<String> = ["integer", "number", "string", "boolean", "integer_list", "number_or_auto", "integer_or_auto"]

    /// One key's schema entry.
    struct Entry {
        let fields: [String: JSONValue]
        var name: String { string("name") ?? "" }
        func string(_ field: String) -> String? { if case .string(let value)? = fields[field] { return value } else { return nil } }
        var type: String { string("type") ?? "" }
        var exclusiveMinimum: Bool { fields["exclusive_minimum"] == .bool(true) }
        var choices: [String] {
            guard case .array(let values)? = fields["choices"] else { return [] }
            return values.compactMap { if case .string(let text) = $0 { return text } else { return nil } }
        }
        func integer(_ field: String) -> Int64? { if case .integer(let value)? = fields[field] { return value } else { return nil } }
        func number(_ field: String) -> Double? {
            switch fields[field] {
            case .integer(let value)?: return Double(value)
            case .number(let value)?: return value
            default: return nil
            }
        }
    }

    static var algorithms: [any Agent.Type] { AgentRegistry.types + [ReferenceFlowToy.self] }

    /// Each algorithm's schema as (type, top-level fields, key entries).
    func schemas() throws -> [(type: any Agent.Type, top: [String: JSONValue], keys: [Entry])] {
        try Self.algorithms.map { type in
            let name = type.algorithm
            guard case .object(let top) = type.configurationSchema(), case .array(let keys)? = top["keys"] else {
                throw FlowRLError.invalidState("\(name): the schema is not an object with a list of keys")
            }
            let entries = try keys.map { key -> Entry in
                guard case .object(let fields) = key else { throw FlowRLError.invalidState("\(name): a key is not an object") }
                return Entry(fields: fields)
            }
            return (type, top, entries)
        }
    }

    /// The full default configuration of `type`, as an agent built with no configuration reports it.
    func defaultConfiguration(_ type: any Agent.Type) throws -> [String: JSONValue] {
        let agent = try type.init(configurationJSON: nil, observationSize: 2, actionSize: 1)
        guard case .object(let configuration) = try JSONValue.parse(agent.configurationJSON) else { return [:] }
        return configuration
    }

    /// The error `type` gives for `json` (nil if it is accepted); decodes and validates only.
    func rejection(_ type: any Agent.Type, _ json: String) -> String? {
        do {
            _ = try type.memoryEstimate(configurationJSON: json, observationSize: 2, actionSize: 1)
            return nil
        } catch let FlowRLError.invalidArgument(message) {
            return message
        } catch {
            return "unexpected error \(error)"
        }
    }

    func testEverySchemaIsWellFormedAndListsExactlyTheConfigurationsKeys() throws {
        let schemas = try schemas()
        XCTAssertEqual(schemas.map { $0.type.algorithm }, AgentRegistry.names + [ReferenceFlowToy.algorithm])
        XCTAssertEqual(try AgentRegistry.schema(algorithm: "sac"), SAC.configurationSchema())
        for (type, top, keys) in schemas {
            let algorithm = type.algorithm
            XCTAssertEqual(top["algorithm"], .string(algorithm))
            guard case .string(let summary)? = top["description"] else { XCTFail("\(algorithm): no description"); continue }
            XCTAssertFalse(summary.isEmpty || summary.contains("\n"), "\(algorithm): the description must be one line")
            let defaults = try defaultConfiguration(type)
            XCTAssertEqual(keys.map(\.name).count, Set(keys.map(\.name)).count, "\(algorithm): a key is listed twice")
            XCTAssertEqual(Set(keys.map(\.name)), Set(defaults.keys), "\(algorithm): the schema's keys differ from the configuration's")
            for key in keys {
                let label = "\(algorithm).\(key.name)"
                let description = key.string("description") ?? ""
                XCTAssertFalse(description.isEmpty, "\(label) has no description")
                XCTAssertFalse(description.contains("\n"), "\(label): the description must be one line")
                XCTAssertTrue(Self.groups.contains(key.string("group") ?? ""), "\(label): group \(key.fields["group"] ?? .null)")
                XCTAssertTrue(Self.valueTypes.contains(key.type), "\(label): type \(key.type)")
                XCTAssertEqual(key.fields["default"], defaults[key.name], "\(label): the schema's default is not the configuration's")
                if let source = key.string("follows") { XCTAssertNotNil(defaults[source], "\(label) follows an unknown key") }
                if key.type == "string" { XCTAssertFalse(key.choices.isEmpty, "\(label) lists no choices") }
                if ["integer", "number", "integer_list", "integer_or_auto"].contains(key.type) {
                    XCTAssertNotNil(key.fields["minimum"], "\(label) has no minimum")
                }
            }
            // The loop's schedule: the configuration's own where it has the keys.
            guard case .object(let loop)? = top["training_loop_defaults"] else { XCTFail("\(algorithm): no training_loop_defaults"); continue }
            XCTAssertEqual(Set(loop.keys), ["learning_starts", "train_freq", "gradient_steps", "warmup_actions"])
            for (key, value) in loop where defaults[key] != nil { XCTAssertEqual(defaults[key], value, "\(algorithm).\(key)") }
        }
    }

    func testEveryDefaultPassesItsOwnValidation() throws {
        for (type, _, keys) in try schemas() {
            let algorithm = type.algorithm
            for key in keys {
                let json = JSONValue.object([key.name: key.fields["default"] ?? .null]).text
                XCTAssertNil(rejection(type, json), "\(algorithm): the default of \(key.name)")
            }
            let all = JSONValue.object(Dictionary(uniqueKeysWithValues: keys.map { ($0.name, $0.fields["default"] ?? .null) })).text
            XCTAssertNil(rejection(type, all), "\(algorithm): every default given at once")
        }
    }

    /// A legacy value (what a stored configuration without the key means) is a value the key
    /// takes, and no key that follows another declares one (its absence means following it).
    func testEveryLegacyValuePassesItsOwnValidation() throws {
        for (type, _, keys) in try schemas() {
            for key in keys {
                guard let legacy = key.fields["legacy_value"] else { continue }
                XCTAssertNil(rejection(type, JSONValue.object([key.name: legacy]).text), "\(type.algorithm): the legacy value of \(key.name)")
                XCTAssertNil(key.fields["follows"], "\(type.algorithm).\(key.name) follows a key and declares a legacy value")
            }
        }
    }

    /// Values just outside each published range (and a string outside the choices) are rejected
    /// with a message naming the key; every published choice is accepted.
    func testValuesJustOutsideEachRangeAreRejectedNamingTheKey() throws {
        var checked = 0
        for (type, _, keys) in try schemas() {
            let algorithm = type.algorithm
            for key in keys {
                var outside: [String] = []
                switch key.type {
                case "integer", "integer_or_auto":
                    if key.type == "integer_or_auto" { outside += [#""automatic""#, "1.5"] }
                    if let minimum = key.integer("minimum") { outside.append("\(key.exclusiveMinimum ? minimum : minimum - 1)") }
                    if let maximum = key.integer("maximum") { outside.append("\(maximum + 1)") }
                    if let step = key.integer("multiple_of"), let minimum = key.integer("minimum") { outside.append("\(minimum + step - 1)") }
                case "number", "number_or_auto":
                    if let minimum = key.number("minimum") {
                        outside.append("\(key.exclusiveMinimum ? Float(minimum) : Float(minimum).nextDown)")
                    }
                    if let maximum = key.number("maximum") { outside.append("\(Float(maximum).nextUp)") }
                    outside.append(#""automatic""#)
                case "integer_list":
                    if let minimum = key.integer("minimum") { outside.append("[\(minimum - 1)]") }
                    if let maximum = key.integer("maximum") { outside.append("[\(maximum + 1)]") }
                    if let length = key.integer("min_length"), length > 0 {
                        outside.append("[" + Array(repeating: "1", count: Int(length) - 1).joined(separator: ",") + "]")
                    }
                    if let length = key.integer("max_length") {
                        outside.append("[" + Array(repeating: "1", count: Int(length) + 1).joined(separator: ",") + "]")
                    }
                case "boolean":
                    outside += [#""true""#, "1", "null", "[true]"]
                    for value in ["true", "false"] {
                        XCTAssertNil(rejection(type, #"{"\#(key.name)": \#(value)}"#), "\(algorithm).\(key.name) = \(value)")
                    }
                case "string":
                    outside.append(#""not-a-choice""#)
                    for choice in key.choices {
                        XCTAssertNil(rejection(type, #"{"\#(key.name)": "\#(choice)"}"#), "\(algorithm).\(key.name) = \(choice)")
                    }
                default:
                    XCTFail("\(algorithm).\(key.name): type \(key.type)")
                }
                for value in outside {
                    let message = rejection(type, #"{"\#(key.name)": \#(value)}"#)
                    XCTAssertNotNil(message, "\(algorithm).\(key.name) = \(value) was accepted")
                    if let message { XCTAssertTrue(message.contains("'\(key.name)'"), "\(algorithm).\(key.name) = \(value): \(message)") }
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThan(checked, 100)
    }

    func testAnUnknownAlgorithmHasNoSchema() {
        XCTAssertThrowsError(try AgentRegistry.schema(algorithm: "nope")) { error in
            XCTAssertTrue("\(error)".contains("unknown algorithm 'nope'"), "\(error)")
        }
    }

    func testTheSeedsRangeIsTheWholeUnsignedRange() throws {
        let seed = try XCTUnwrap(try schemas().first?.keys.first { $0.name == "seed" })
        XCTAssertEqual(seed.fields["maximum"]?.text, "18446744073709551615")
        XCTAssertEqual(seed.fields["minimum"], .integer(0))
    }
}
