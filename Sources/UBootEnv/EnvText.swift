import FlashsmithCore

/// The text syntaxes an environment is written in.
///
/// - ``equals``: mkenvimage's input and `printenv`'s output: `name=value` lines, blank lines skipped,
///   `#` in the first column starts a comment, a backslash before the newline embeds a newline in the
///   value. This is also libubootenv's `fw_setenv -s` script syntax.
/// - ``uboot``: U-Boot's `fw_setenv -s` script syntax (`tools/env/fw_env.c` `fw_parse_script`):
///   `name value` split at the first blank, leading blanks skipped, `#` lines and blank lines
///   skipped; a name alone deletes the variable. No way to embed a newline.
public enum EnvTextSyntax: String, Sendable, CaseIterable {
    case equals
    case uboot
}

/// One operation from a text: set a variable, or delete it (`name` alone in U-Boot script syntax).
public enum EnvAssignment: Sendable, Equatable {
    case set(EnvVariable)
    case unset([UInt8])
}

public enum EnvText {
    private static let nl = UInt8(ascii: "\n"), backslash = UInt8(ascii: "\\"), hash = UInt8(ascii: "#")
    private static let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), cr = UInt8(ascii: "\r")

    /// Parses mkenvimage syntax exactly as `mkenvimage` reads it, so that encoding the result gives
    /// mkenvimage's bytes; lines that are not `name=value` are refused with their line number.
    ///
    /// mkenvimage works byte by byte; line by line its rules are: an empty line is skipped, a line
    /// starting with `#` is skipped, a line ending in a backslash continues the entry with a newline
    /// in place of the backslash (blank and comment lines inside a continuation are skipped too),
    /// any other line ends the entry. A final line without a newline ends the entry as it is.
    public static func parseEquals(_ text: [UInt8], source: String) throws(EnvError) -> [EnvVariable] {
        var vars: [EnvVariable] = []
        var pending: [UInt8] = []  // an entry continued over backslash-newlines
        var pendingLine = 0
        var lineNo = 0
        var pos = 0
        let n = text.count
        while pos < n {
            lineNo += 1
            var end = pos
            while end < n && text[end] != nl { end += 1 }
            defer { pos = end + 1 }
            if end == pos || text[pos] == hash { continue }
            let hasNewline = end < n
            if hasNewline && text[end - 1] == backslash {
                if pending.isEmpty { pendingLine = lineNo }
                pending.append(contentsOf: text[pos..<(end - 1)])
                pending.append(nl)
                continue
            }
            if pending.isEmpty {
                vars.append(try variable(text[pos..<end], line: lineNo, source: source))
            } else {
                pending.append(contentsOf: text[pos..<end])
                vars.append(try variable(pending[...], line: pendingLine, source: source))
                pending.removeAll(keepingCapacity: true)
            }
        }
        if !pending.isEmpty { vars.append(try variable(pending[...], line: pendingLine, source: source)) }
        return vars
    }

    /// `name=value` from one entry, or an error naming its line.
    private static func variable(_ entry: ArraySlice<UInt8>, line: Int, source: String) throws(EnvError) -> EnvVariable {
        guard let eq = entry.firstIndex(of: UInt8(ascii: "=")) else {
            throw .badLine(source: source, line: line, expected: "name=value", found: printable(entry))
        }
        let name = Array(entry[entry.startIndex..<eq])
        try EnvVariable.validate(name: name, source: "\(source):\(line)")
        return EnvVariable(name: name, value: Array(entry[(eq + 1)...]))
    }

    /// Parses U-Boot script syntax (`name value`; `name` alone deletes).
    public static func parseUBoot(_ text: [UInt8], source: String, firstLine: Int = 1) throws(EnvError) -> [EnvAssignment] {
        var out: [EnvAssignment] = []
        for (i, rawLine) in text.split(separator: nl, omittingEmptySubsequences: false).enumerated() {
            var l = rawLine
            while let last = l.last, last == cr { l = l.dropLast() }
            guard let start = l.firstIndex(where: { $0 != space && $0 != tab }) else { continue }
            if l[start] == hash { continue }
            let rest = l[start...]
            let nameEnd = rest.firstIndex(where: { $0 == space || $0 == tab }) ?? rest.endIndex
            let name = Array(rest[..<nameEnd])
            try EnvVariable.validate(name: name, source: "\(source):\(i + firstLine)")
            let valueStart = rest[nameEnd...].firstIndex(where: { $0 != space && $0 != tab })
            if let valueStart {
                out.append(.set(EnvVariable(name: name, value: Array(rest[valueStart...]))))
            } else {
                out.append(.unset(name))
            }
        }
        return out
    }

    /// A script for `env set --script`: each line may be `name=value` or `name value` (a name cannot
    /// contain `=`, so the first blank-or-`=` decides); `name` alone, or `name=`, deletes.
    public static func parseScript(_ text: [UInt8], source: String, syntax: EnvTextSyntax? = nil) throws(EnvError) -> [EnvAssignment] {
        switch syntax {
        case .equals?:
            return try parseEqualsAssignments(text, source: source)
        case .uboot?:
            return try parseUBoot(text, source: source)
        case nil:
            // Per line: if a '=' comes before the first blank it is name=value.
            var out: [EnvAssignment] = []
            var pending: [UInt8] = []
            var pendingLine = 0
            let lines = text.split(separator: nl, omittingEmptySubsequences: false)
            for (i, l) in lines.enumerated() {
                let firstBlank = l.firstIndex(where: { $0 == space || $0 == tab }) ?? l.endIndex
                let firstEq = l.firstIndex(of: UInt8(ascii: "=")) ?? l.endIndex
                if !pending.isEmpty || firstEq < firstBlank {
                    if pending.isEmpty { pendingLine = i }
                    pending.append(contentsOf: l)
                    pending.append(nl)
                    if l.last == backslash { continue }
                    out += try parseEqualsAssignments(pending, source: source, firstLine: pendingLine + 1)
                    pending = []
                } else {
                    out += try parseUBoot(Array(l), source: source, firstLine: i + 1)
                }
            }
            if !pending.isEmpty { out += try parseEqualsAssignments(pending, source: source, firstLine: pendingLine + 1) }
            return out
        }
    }

    /// `name=value` lines as assignments; `name=` (empty value) deletes, as `fw_setenv name` does.
    static func parseEqualsAssignments(_ text: [UInt8], source: String, firstLine: Int = 1) throws(EnvError) -> [EnvAssignment] {
        let vars: [EnvVariable]
        do throws(EnvError) {
            vars = try parseEquals(text, source: source)
        } catch let .badLine(s, line, expected, found) {
            throw .badLine(source: s, line: line + firstLine - 1, expected: expected, found: found)
        }
        return vars.map { $0.value.isEmpty ? .unset($0.name) : .set($0) }
    }

    /// Writes variables as mkenvimage input: `name=value\n`, embedded newlines as backslash-newline.
    /// Feeding the result to `mkenvimage` or `env create` gives back the same variables, except that a
    /// value ending in a backslash cannot be told from a continuation and is refused.
    public static func writeEquals(_ variables: [EnvVariable]) throws(EnvError) -> [UInt8] {
        var out: [UInt8] = []
        for v in variables {
            if v.value.last == backslash || v.value.contains(0) || hasCommentLine(v.value) {
                throw .valueNotRepresentable(name: printable(v.name), syntax: "name=value", reason: "it ends in a backslash, holds a NUL, or has a line starting with '#'")
            }
            out.append(contentsOf: v.name)
            out.append(UInt8(ascii: "="))
            for b in v.value {
                if b == nl { out.append(backslash) }
                out.append(b)
            }
            out.append(nl)
        }
        return out
    }

    /// Whether a newline in `value` is followed by `#` (mkenvimage would read that line as a comment).
    private static func hasCommentLine(_ value: [UInt8]) -> Bool {
        var prev: UInt8 = 0
        for b in value {
            if prev == nl && b == hash { return true }
            prev = b
        }
        return false
    }

    /// Writes variables as a U-Boot script (`name value`); values with newlines are refused.
    public static func writeUBoot(_ variables: [EnvVariable]) throws(EnvError) -> [UInt8] {
        var out: [UInt8] = []
        for v in variables {
            if v.value.contains(nl) || v.value.contains(cr) {
                throw .valueNotRepresentable(name: printable(v.name), syntax: "U-Boot script (name value)", reason: "its value contains a newline")
            }
            if v.value.isEmpty || v.value.first == space || v.value.first == tab {
                throw .valueNotRepresentable(name: printable(v.name), syntax: "U-Boot script (name value)", reason: "its value is empty or starts with a blank")
            }
            out.append(contentsOf: v.name)
            out.append(space)
            out.append(contentsOf: v.value)
            out.append(nl)
        }
        return out
    }

    /// Applies assignments in order, with ``EnvImage/set(_:_:)`` and ``EnvImage/unset(_:)``
    /// semantics (replace where it stands and drop later duplicates, or append; delete every
    /// occurrence), in one pass over the variables.
    public static func apply(_ assignments: [EnvAssignment], to image: inout EnvImage) {
        guard !assignments.isEmpty else { return }
        var vars: [EnvVariable?] = image.variables
        var positions: [[UInt8]: [Int]] = [:]
        for (i, v) in image.variables.enumerated() { positions[v.name, default: []].append(i) }
        for a in assignments {
            switch a {
            case let .set(v):
                if let p = positions[v.name], let first = p.first {
                    vars[first] = v
                    for j in p.dropFirst() { vars[j] = nil }
                    positions[v.name] = [first]
                } else {
                    positions[v.name] = [vars.count]
                    vars.append(v)
                }
            case let .unset(n):
                for j in positions[n] ?? [] { vars[j] = nil }
                positions[n] = nil
            }
        }
        image.variables = vars.compactMap { $0 }
    }
}
