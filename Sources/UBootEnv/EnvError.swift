import FlashsmithCore

/// Everything that can be wrong with an environment, each carrying the file, copy, offset or key.
public enum EnvError: FlashsmithError, Equatable {
    /// A copy's stored CRC does not match the data (names the copy, the expected and the found CRC).
    case crcMismatch(source: String, copy: Int, offset: Int, expected: UInt32, found: UInt32)
    /// Neither copy of a redundant environment has a valid CRC.
    case noValidCopy(source: String, details: String)
    /// The encoded text is larger than the data area.
    case doesNotFit(needed: Int, capacity: Int, size: Int)
    /// A line of input text that is not `name=value` (or `name value`).
    case badLine(source: String, line: Int, expected: String, found: String)
    case emptyName(source: String)
    case nameContainsEquals(source: String, name: String)
    case nameContainsWhitespace(source: String, name: String)
    /// The data area has no terminating empty entry (double NUL).
    case unterminated(source: String, copy: Int, offset: Int)
    /// An entry with no `=` in the data area.
    case malformedEntry(source: String, copy: Int, offset: Int, found: String)
    /// A file whose size cannot hold the environment as configured.
    case wrongSize(source: String, expected: String, found: Int)
    case sizeTooSmall(size: Int, minimum: Int)
    case notFound(source: String, name: String)
    case valueNotRepresentable(name: String, syntax: String, reason: String)
    case noDefaultEnvironment(source: String, reason: String)
    case config(path: String, line: Int, message: String)
    case mtd(device: String, message: String)

    public var category: ErrorCategory {
        switch self {
        case .doesNotFit, .crcMismatch, .noValidCopy, .badLine, .unterminated, .malformedEntry, .wrongSize,
             .noDefaultEnvironment, .config, .notFound, .valueNotRepresentable:
            return .data
        case .emptyName, .nameContainsEquals, .nameContainsWhitespace, .sizeTooSmall: return .usage
        case .mtd: return .io
        }
    }

    public var description: String {
        switch self {
        case let .crcMismatch(source, copy, offset, expected, found):
            return "\(source): copy \(copy) at offset \(hex(offset)): CRC mismatch: expected \(crcText(expected)) (computed over the data), found \(crcText(found)) (stored); --force prints it anyway"
        case let .noValidCopy(source, details):
            return "\(source): no copy has a valid CRC (\(details)); --force prints them anyway"
        case let .doesNotFit(needed, capacity, size):
            return "environment does not fit: \(needed) bytes of text for a \(capacity)-byte data area (size \(hex(size))): \(needed - capacity) bytes over"
        case let .badLine(source, line, expected, found):
            return "\(source):\(line): expected \(expected), found '\(found)'"
        case let .emptyName(source): return "\(source): empty variable name"
        case let .nameContainsEquals(source, name): return "\(source): variable name '\(name)' contains '='"
        case let .nameContainsWhitespace(source, name): return "\(source): variable name '\(name)' contains whitespace"
        case let .unterminated(source, copy, offset):
            return "\(source): copy \(copy) at offset \(hex(offset)): expected an empty entry (double NUL) ending the variables, found none before the end of the data area"
        case let .malformedEntry(source, copy, offset, found):
            return "\(source): copy \(copy): entry at offset \(hex(offset)): expected name=value, found '\(found)'"
        case let .wrongSize(source, expected, found):
            return "\(source): expected \(expected), found \(found) bytes"
        case let .sizeTooSmall(size, minimum):
            return "environment size \(size) is too small: at least \(minimum) bytes are needed"
        case let .notFound(source, name): return "\(source): no variable named '\(name)'"
        case let .valueNotRepresentable(name, syntax, reason):
            return "variable '\(name)' cannot be written in \(syntax) syntax: \(reason)"
        case let .noDefaultEnvironment(source, reason): return "\(source): no built-in default environment found: \(reason)"
        case let .config(path, line, message): return "\(path):\(line): \(message)"
        case let .mtd(device, message): return "\(device): \(message)"
        }
    }
}

func crcText(_ v: UInt32) -> String {
    let h = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - h.count) + h
}

/// Text for messages: valid UTF-8 as is, otherwise with `\xNN` escapes.
func printable(_ bytes: some Collection<UInt8>, limit: Int = 60) -> String {
    var out = ""
    for b in bytes.prefix(limit) {
        if b >= 0x20 && b < 0x7F { out.unicodeScalars.append(Unicode.Scalar(b)) } else if b == 0x0A { out += "\\n" } else {
            out += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
        }
    }
    return bytes.count > limit ? out + "…" : out
}
