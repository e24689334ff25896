#if canImport(Glibc)
import Glibc
#endif

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org/specs/source-date-epoch): the one time every output
/// carries, read and checked in one place for every command.
///
/// The spec says a malformed value is an error, not a reason to fall back to the clock (which would
/// make a typo silently unreproducible). The range is what every format Flashsmith writes can hold:
/// uImage `ih_time`, the FIT `/timestamp` cell and the cpio newc `c_mtime` field are 32-bit unsigned,
/// so 0 … 4294967295 (2106-02-07).
public enum SourceDateEpoch {
    public static let maximum: Int64 = 0xFFFF_FFFF

    /// The variable's value, checked; nil when it is unset or empty.
    public static func fromEnvironment() throws -> UInt32? {
        guard let raw = getenv("SOURCE_DATE_EPOCH") else { return nil }
        let text = String(cString: raw)
        if text.isEmpty { return nil }
        return try parse(text, source: "SOURCE_DATE_EPOCH")
    }

    /// `text` as a time stamp, or an error naming `source` (the variable, an option, `file:line: key`).
    public static func parse(_ text: String, source: String) throws -> UInt32 {
        guard text.allSatisfy({ $0.isASCII && $0.isNumber }), let v = Int64(text) else {
            throw Invalid(source: source, found: "'\(text)'")
        }
        return try checked(v, source: source)
    }

    /// `value` if it fits every format's time field.
    public static func checked(_ value: Int64, source: String) throws -> UInt32 {
        guard value >= 0, value <= maximum else { throw Invalid(source: source, found: "\(value)") }
        return UInt32(value)
    }

    public struct Invalid: FlashsmithError, Equatable {
        public let source: String
        public let found: String
        public var category: ErrorCategory { .usage }
        public var description: String {
            "\(source): expected seconds since 1970, 0 to \(SourceDateEpoch.maximum) (uImage, FIT and cpio times are 32-bit), found \(found)"
        }
    }
}
