import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// The one place where errors become exit codes (sysexits.h values).
///
/// | category     | code | meaning                                        |
/// |--------------|------|------------------------------------------------|
/// | usage        | 64   | EX_USAGE: bad option or argument               |
/// | data         | 65   | EX_DATAERR: bad input contents (CRC, syntax)   |
/// | noInput      | 66   | EX_NOINPUT: an input is missing or unreadable  |
/// | unavailable  | 69   | EX_UNAVAILABLE: no MTD subsystem, tool missing |
/// | cannotCreate | 73   | EX_CANTCREAT: an output cannot be written      |
/// | io           | 74   | EX_IOERR: a read or write failed part-way      |
/// | timeout      | 124  | as timeout(1): what was awaited did not come   |
/// Anything else is 70 (EX_SOFTWARE). `env diff` exits 1 when the environments differ, like diff(1).
public enum ExitCodes {
    public static let differences: Int32 = 1

    public static func code(for category: ErrorCategory) -> Int32 {
        switch category {
        case .usage: return 64
        case .data: return 65
        case .noInput: return 66
        case .unavailable: return 69
        case .cannotCreate: return 73
        case .io: return 74
        case .timeout: return 124
        }
    }

    public static func code(for error: any Error) -> Int32 {
        if let e = error as? any FlashsmithError { return code(for: e.category) }
        return 70
    }
}

/// Writes to standard error without buffering.
func printError(_ text: String) {
    var t = text
    if !t.hasSuffix("\n") { t += "\n" }
    let bytes = Array(t.utf8)
    bytes.withUnsafeBytes { p in _ = try? FileIO.writeAll(STDERR_FILENO, p, path: "<stderr>") }
}

/// Writes bytes to standard output.
func output(_ bytes: [UInt8]) throws {
    try FileIO.writeStdout(bytes)
}

func output(_ text: String) throws {
    try FileIO.writeStdout(Array(text.utf8))
}

/// The bytes the user typed for `argument`: Swift decodes `argv` as UTF-8 and replaces invalid
/// bytes with U+FFFD, so an argument holding such a replacement is looked up in the raw `argv` and
/// its original bytes are used (values that are not UTF-8 are kept verbatim).
func rawBytes(ofArgument argument: String) -> [UInt8] {
    guard argument.unicodeScalars.contains("\u{FFFD}") else { return Array(argument.utf8) }
    for i in 0..<Int(CommandLine.argc) {
        guard let p = CommandLine.unsafeArgv[i] else { continue }
        let raw = Array(UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p)))
        if String(decoding: raw, as: UTF8.self) == argument { return raw }
    }
    return Array(argument.utf8)
}
