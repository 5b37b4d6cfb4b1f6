/// Reading a *stored* configuration (a checkpoint's), which was written by the library of its
/// time, as opposed to a caller's new one: keys renamed since take their new names, and keys added
/// since take their legacy values (the behaviour before they existed), not today's defaults.
extension AgentConfiguration {
    /// A stored configuration in today's terms, for `decode`: each renamed key's value moved to its
    /// new name (unless that name is present too), then each key added since the file was written
    /// set to its legacy value (`legacyValues`). A key that follows another (`followingKeys`) has no
    /// legacy value: absent, it follows its source, as it did before it existed. Text that is not a
    /// JSON object is returned as it is, for `decode` to refuse.
    ///
    /// The legacy values are filled in here, before `decode` applies a stored `"preset"`, so a key
    /// added to a preset after the file was written keeps its old meaning too.
    public static func migrated(json: String) -> String {
        guard !renamedKeys.isEmpty || !legacyValues.isEmpty, case .object(var object)? = try? JSONValue.parse(json) else { return json }
        var changed = false
        for (old, new) in renamedKeys.sorted(by: { $0.key < $1.key }) where object[new] == nil {
            guard let value = object.removeValue(forKey: old) else { continue }
            object[new] = value
            changed = true
        }
        for (key, legacy) in legacyValues where object[key] == nil {
            object[key] = legacy
            changed = true
        }
        return changed ? JSONValue.object(object).text : json
    }
}
