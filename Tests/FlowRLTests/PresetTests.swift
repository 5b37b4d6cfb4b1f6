import FlowRL
import XCTest

/// Every named configuration (`preset`) of every algorithm that has them: it is exactly the keys it
/// publishes, keywords given beside it win, and a configuration made with it decodes to itself.
final class PresetTests: XCTestCase {
    /// The algorithms with presets, each with the values it must set (so a changed preset fails
    /// here until the measurement behind it is re-run and this list follows).
    func testEachPresetIsTheKeysItPublishes() throws {
        try check(SWFP.Configuration.self, "swfp", "anchored",
                  #"{"w2_terms": "trust_region", "trust_region_scale": "energy", "prior_update": 5000}"#)
        try check(RLDT.Configuration.self, "rldt", "anchored", #"{"reference": "pretrained", "trust_region_weight": 20}"#)
    }

    /// The SWFP paper preset's values are checked one by one in `SWFPPaperOptionsTests`; here only
    /// the shared behaviour.
    func testThePaperPresetBehavesLikeEveryOther() throws {
        let values = try XCTUnwrap(SWFP.Configuration.presetValues("paper"))
        try check(SWFP.Configuration.self, "swfp", "paper", JSONValue.object(values).text)
    }

    func testAnUnknownPresetIsRefusedByName() {
        XCTAssertThrowsError(try RLDT.Configuration.decode(json: #"{"preset": "steady"}"#, algorithm: "rldt")) { error in
            XCTAssertTrue("\(error)".contains("preset"), "\(error)")
        }
        XCTAssertThrowsError(try SAC.Configuration.decode(json: #"{"preset": "anchored"}"#, algorithm: "sac"),
                             "SAC has no presets, so no preset key")
    }

    private func check<C: AgentConfiguration>(_ type: C.Type, _ algorithm: String, _ name: String, _ expected: String,
                                              file: StaticString = #filePath, line: UInt = #line) throws {
        guard case .object(let expectedValues) = try JSONValue.parse(expected) else { return XCTFail("not an object", file: file, line: line) }
        XCTAssertEqual(C.presetValues(name), expectedValues, "\(algorithm) \(name): its published values", file: file, line: line)
        // The preset is the same configuration as its keys given one by one (apart from the key naming it).
        let viaPreset = try C.decode(json: #"{"preset": "\#(name)"}"#, algorithm: algorithm)
        let viaKeys = try C.decode(json: expected, algorithm: algorithm)
        XCTAssertEqual(withoutPreset(viaPreset), withoutPreset(viaKeys), "\(algorithm) \(name)", file: file, line: line)
        guard case .object(let stored) = viaPreset.jsonValue() else { return XCTFail("not an object", file: file, line: line) }
        XCTAssertEqual(stored["preset"], .string(name), file: file, line: line)
        XCTAssertNotEqual(viaPreset, try C.decode(json: nil, algorithm: algorithm), "a preset changes something", file: file, line: line)
        // A keyword given beside the preset wins over each of its values, and the result decodes to itself.
        for (key, value) in expectedValues {
            let defaultValue: JSONValue
            guard case .object(let defaults) = try C.decode(json: nil, algorithm: algorithm).jsonValue(),
                  let found = defaults[key] else { return XCTFail("\(key) has no default", file: file, line: line) }
            defaultValue = found
            let mine = try C.decode(json: JSONValue.object(["preset": .string(name), key: defaultValue]).text, algorithm: algorithm)
            guard case .object(let mineValues) = mine.jsonValue() else { return XCTFail("not an object", file: file, line: line) }
            XCTAssertEqual(mineValues[key], defaultValue, "\(algorithm) \(name): \(key) given wins over \(value)", file: file, line: line)
            XCTAssertEqual(try C.decode(json: mine.jsonString(), algorithm: algorithm), mine, file: file, line: line)
        }
    }

    private func withoutPreset<C: AgentConfiguration>(_ configuration: C) -> JSONValue {
        guard case .object(var values) = configuration.jsonValue() else { return .null }
        values["preset"] = nil
        return .object(values)
    }
}
