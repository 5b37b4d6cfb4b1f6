import FlowRL
import XCTest

/// What a key missing from a configuration means: in a *stored* configuration (a checkpoint's,
/// read through `migrated(json:)` as `ManagedAgent(checkpoint:)` reads it) the key's legacy value,
/// the behaviour before the key existed; in a caller's new configuration its current default. The
/// library's own keys all have legacy values equal to their defaults today, so a test-only group
/// whose default has moved away from its legacy value tells the two apart.
final class LegacyValueTests: XCTestCase {
    /// An algorithm's options after a change of default: `window` was added with 2 (the old
    /// behaviour) and its default is now 5; `actor_window` follows `window`; the preset sets
    /// `window` to 7.
    struct Options: AlgorithmOptions {
        enum Preset: String, Codable, Sendable, CaseIterable { case none, wide }
        var steps = 3
        var window = 5
        var actorWindow = 5
        var preset = Preset.none
        init() {}
        static var groups: ConfigurationGroups { [] }
        static var followingKeys: [String: String] { ["actor_window": "window"] }
        static var presets: [String: (inout OffPolicyConfiguration<Self>) -> Void] { ["wide": { $0.options.window = 7 }] }
        static var keys: [ConfigKey<Self>] {
            [.integer("steps", \.steps, in: 1...100, "A key every stored configuration holds."),
             .integer("window", \.window, in: 1...100, "A key added later whose default has changed since.")
                .addedLater(legacyValue: .integer(2)),
             .integer("actor_window", \.actorWindow, in: 1...100, "A key added later that follows window."),
             .choice("preset", \.preset, "A named configuration.").addedLater(legacyValue: .string("none"))]
        }
    }
    typealias Configuration = OffPolicyConfiguration<Options>

    /// `json` read as a stored configuration is.
    func stored(_ json: String) throws -> Configuration {
        try Configuration.decode(json: Configuration.migrated(json: json), algorithm: "legacy_toy")
    }

    func testAStoredConfigurationWithoutTheKeyLoadsItsLegacyValueNotTheDefault() throws {
        XCTAssertEqual(Configuration.legacyValues["window"], .integer(2))
        XCTAssertNil(Configuration.legacyValues["actor_window"])
        let old = try stored(#"{"steps": 4, "seed": 9, "batch_size": 16, "buffer_size": 64, "learning_rate": 0.001}"#)
        XCTAssertEqual(old.options.window, 2)
        XCTAssertEqual(old.options.steps, 4)
        XCTAssertEqual(old.common.seed, 9)
        // A following key has no legacy value: absent, it follows its source as it did before it existed.
        XCTAssertEqual(old.options.actorWindow, 2)
        // A value the file holds is kept.
        XCTAssertEqual(try stored(#"{"steps": 4, "window": 9}"#).options.window, 9)
    }

    func testANewConfigurationWithoutTheKeyTakesTheCurrentDefault() throws {
        let new = try Configuration.decode(json: #"{"steps": 4}"#, algorithm: "legacy_toy")
        XCTAssertEqual(new.options.window, 5)
        XCTAssertEqual(new.options.actorWindow, 5)
        XCTAssertEqual(try Configuration.decode(json: nil, algorithm: "legacy_toy").options.window, 5)
    }

    /// A stored preset was applied when the file was written, with the keys of that time: a key
    /// it sets today but the file lacks keeps its legacy value.
    func testAStoredPresetDoesNotOverrideTheLegacyValue() throws {
        XCTAssertEqual(try Configuration.decode(json: #"{"preset": "wide"}"#, algorithm: "legacy_toy").options.window, 7)
        XCTAssertEqual(try stored(#"{"steps": 4, "preset": "wide"}"#).options.window, 2)
    }

    func testTheSchemaPublishesTheLegacyValue() throws {
        guard case .object(let top) = Configuration.schema(algorithm: "legacy_toy", summary: "A toy."),
              case .array(let keys)? = top["keys"] else { return XCTFail("no keys") }
        var published: [String: JSONValue] = [:]
        for case .object(let fields) in keys {
            if case .string(let name)? = fields["name"], let legacy = fields["legacy_value"] { published[name] = legacy }
        }
        XCTAssertEqual(published, Configuration.legacyValues)
    }
}
