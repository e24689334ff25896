/// Sizes as people write them for flash: `131072`, `0x20000`, `128KiB`, `128k`, `128K`, `2MiB`, `2M`,
/// `1GiB`. Suffixes are binary (k = KiB = 1024); a hex number takes no suffix. `KB`/`MB` are read as
/// KiB/MiB too, as genimage and U-Boot's own `mtdparts` do.
public struct ByteSize: Sendable, Equatable, CustomStringConvertible {
    public var bytes: Int

    public init(bytes: Int) { self.bytes = bytes }

    public struct ParseError: FlashsmithError, Equatable {
        public var text: String
        public var reason: String
        /// Whether the message lists the spellings (not for a size that was read but is out of range).
        public var listsSpellings = true
        public var category: ErrorCategory { .usage }
        public var description: String {
            "size '\(text)': \(reason)" + (listsSpellings ? " (expected e.g. 131072, 0x20000, 128KiB, 128k, 2MiB)" : "")
        }

        public init(text: String, reason: String, listsSpellings: Bool = true) {
            self.text = text
            self.reason = reason
            self.listsSpellings = listsSpellings
        }
    }

    private static let suffixes: [(String, Int)] = [
        ("kib", 1 << 10), ("kb", 1 << 10), ("k", 1 << 10),
        ("mib", 1 << 20), ("mb", 1 << 20), ("m", 1 << 20),
        ("gib", 1 << 30), ("gb", 1 << 30), ("g", 1 << 30),
        ("b", 1), ("", 1),
    ]

    /// Parses `text`; throws a ``ParseError`` naming the text and what was wrong.
    public init(parsing text: String) throws(ParseError) {
        let t = text.trimmingSpaces()
        guard !t.isEmpty else { throw ParseError(text: text, reason: "empty") }
        let lower = t.lowercased()
        if lower.hasPrefix("0x") {
            // Digits only: Int(_:radix:) would also take a sign ("0x-10").
            let digits = lower.dropFirst(2)
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isHexDigit }) else { throw ParseError(text: text, reason: "not a hexadecimal number") }
            guard let v = Int(digits, radix: 16) else { throw ParseError(text: text, reason: "too large") }
            self.bytes = v
            return
        }
        let digitEnd = lower.firstIndex { !$0.isASCII || !$0.isNumber } ?? lower.endIndex
        let number = lower[..<digitEnd]
        let suffix = String(lower[digitEnd...])
        guard !number.isEmpty else { throw ParseError(text: text, reason: "no number") }
        guard let n = Int(number) else { throw ParseError(text: text, reason: "too large") }
        guard let mult = Self.suffixes.first(where: { $0.0 == suffix })?.1 else {
            throw ParseError(text: text, reason: "unknown suffix '\(t[t.index(t.startIndex, offsetBy: number.count)...])'")
        }
        let (v, overflow) = n.multipliedReportingOverflow(by: mult)
        guard !overflow else { throw ParseError(text: text, reason: "too large") }
        self.bytes = v
    }

    /// Parses `text` and checks it lies in `range` (a size from a command line or a config: every
    /// consumer's arithmetic then stays far from overflow, and nothing is allocated from it
    /// unchecked).
    public init(parsing text: String, in range: ClosedRange<Int>) throws(ParseError) {
        try self.init(parsing: text)
        guard range.contains(bytes) else {
            throw ParseError(text: text, reason: "expected \(Self.describe(range)), found \(self)", listsSpellings: false)
        }
    }

    /// `at least 1`, `at most 16MiB`, `4KiB…2MiB`.
    public static func describe(_ range: ClosedRange<Int>) -> String {
        if range.upperBound == Int.max { return "at least \(ByteSize(bytes: range.lowerBound))" }
        if range.lowerBound <= 0 { return "at most \(ByteSize(bytes: range.upperBound))" }
        return "\(ByteSize(bytes: range.lowerBound))…\(ByteSize(bytes: range.upperBound))"
    }

    /// `128KiB`, `2MiB` when exact, else `0x…`.
    public var description: String {
        for (name, unit) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where bytes >= unit && bytes % unit == 0 {
            return "\(bytes / unit)\(name)"
        }
        return "\(bytes)"
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs (no Foundation needed).
    public func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
