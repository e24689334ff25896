/// What kind of failure an error is. The CLI maps each category to one exit code, in one place
/// (`FlashsmithCLI/ExitCodes.swift`); library code only says which kind of failure it had.
public enum ErrorCategory: Sendable, Equatable {
    /// The command line itself is wrong (a bad option value, a missing argument).
    case usage
    /// An input's contents are wrong: bad CRC, bad magic, a text that does not fit.
    case data
    /// An input could not be found or opened.
    case noInput
    /// An output could not be created or replaced.
    case cannotCreate
    /// A read or write failed part-way (short read, EIO, device error).
    case io
    /// A program or facility the command needs is not there (no MTD subsystem, a peer tool missing).
    case unavailable
    /// Something awaited did not happen in time (`boot --timeout`: the text never appeared).
    case timeout
}

/// Every error Flashsmith's libraries throw conforms to this: a one-line, lower-case message that
/// names the file, offset or key, what was expected and what was found; and a category.
public protocol FlashsmithError: Error, CustomStringConvertible, Sendable {
    var category: ErrorCategory { get }
}

/// Errors of the shared file helpers.
public enum FileError: FlashsmithError, Equatable {
    case cannotOpen(path: String, reason: String)
    case cannotCreate(path: String, reason: String)
    case readFailed(path: String, offset: Int, reason: String)
    case writeFailed(path: String, offset: Int, reason: String)
    case shortRead(path: String, offset: Int, expected: Int, found: Int)
    case notARegularFile(path: String, kind: String)

    public var category: ErrorCategory {
        switch self {
        case .cannotOpen: return .noInput
        case .cannotCreate: return .cannotCreate
        case .readFailed, .writeFailed: return .io
        case .shortRead: return .data
        case .notARegularFile: return .noInput
        }
    }

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "\(path): cannot open: \(reason)"
        case let .cannotCreate(path, reason): return "\(path): cannot create: \(reason)"
        case let .readFailed(path, offset, reason): return "\(path): read failed at offset \(hex(offset)): \(reason)"
        case let .writeFailed(path, offset, reason): return "\(path): write failed at offset \(hex(offset)): \(reason)"
        case let .shortRead(path, offset, expected, found):
            return "\(path): truncated at offset \(hex(offset)): expected \(expected) bytes, found \(found)"
        case let .notARegularFile(path, kind): return "\(path): expected a regular file, found \(kind)"
        }
    }
}

/// `0x…` spelling used in every message that names an offset or a size.
public func hex<T: BinaryInteger>(_ value: T) -> String {
    value < 0 ? "-0x" + String(-Int64(value), radix: 16) : "0x" + String(value, radix: 16)
}
