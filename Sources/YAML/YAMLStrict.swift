import FlashsmithCore

/// Reading a spec strictly: every mapping names the keys it takes, so a typo is an error that
/// names the file, the line and the nearest valid key, never a default silently used.
/// ```
/// board.yaml:3: unknown key 'consle' in the board; did you mean 'console'?
/// board.yaml:9: unknown key 'netdev' in qemu:; expected one of: system, machine, cpu, memory, firmware, pflash
/// ```
extension YAMLNode {
    /// The mapping's entries, each key checked against `allowed` (or starting with one of
    /// `prefixes`, for numbered nodes such as `signature-1`). `context` says where the mapping is,
    /// for the message ("the board", "flash:", "partition 'env' content").
    @discardableResult
    public func strictMapping(_ allowed: [String], prefixes: [String] = [], in context: String, source: String) throws(YAMLError) -> [Entry] {
        guard let entries else {
            throw YAMLError(source: source, line: line, message: "\(context): expected a mapping (\((allowed + prefixes.map { $0 + "N" }).joined(separator: ", "))), found \(kind)")
        }
        for e in entries where !allowed.contains(e.key) && !prefixes.contains(where: { e.key.hasPrefix($0) && e.key.count > $0.count }) {
            let hint = Spelling.nearest(to: e.key, among: allowed + prefixes.map { $0 + "1" }).map { "did you mean '\($0)'?" }
                ?? "expected one of: " + (allowed + prefixes.map { $0 + "N" }).joined(separator: ", ")
            throw YAMLError(source: source, line: e.keyLine, message: "unknown key '\(e.key)' in \(context); \(hint)")
        }
        return entries
    }

    /// The line a key is written on (the mapping's own line when the key is absent).
    public func keyLine(_ key: String) -> Int { entries?.first { $0.key == key }?.keyLine ?? line }

    /// A YAML 1.1 boolean (true/false, yes/no, on/off, any case), else an error naming the key.
    public func bool(_ key: String, source: String) throws(YAMLError) -> Bool {
        switch string?.lowercased() {
        case "true", "yes", "on": if isPlainScalar { return true }
        case "false", "no", "off": if isPlainScalar { return false }
        default: break
        }
        throw YAMLError(source: source, line: line, message: "\(key): expected true or false, found \(kind)")
    }

    /// A scalar, else an error naming the key and what was expected.
    public func text(_ key: String, expected: String = "a string", source: String) throws(YAMLError) -> String {
        guard let string else { throw YAMLError(source: source, line: line, message: "\(key): expected \(expected), found \(kind)") }
        return string
    }
}
