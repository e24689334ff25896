/// One entry of the table behind `flashsmith inspect`: a format that can recognise its own bytes and
/// describe them. Each format file conforms one type to this; `FlashsmithCLI/Formats.swift` lists
/// them (one line per format), in the order they are tried.
public protocol InspectableFormat: Sendable {
    /// Short name, e.g. `uboot-env`.
    static var name: String { get }
    /// One-line human name, e.g. "U-Boot environment".
    static var summary: String { get }
    /// Looks at a file and returns a description when the bytes are this format, `nil` when they are
    /// clearly not. `prefix` holds the file's first bytes (up to ``FormatRegistry/probeSize``).
    static func probe(path: String, prefix: [UInt8], fileSize: Int) -> FormatDescription?
}

/// What `inspect` prints: a title, key/value lines for people, and a JSON object for `--json`.
public struct FormatDescription: Sendable {
    public var format: String
    public var title: String
    public var lines: [(String, String)]
    public var json: JSON

    public init(format: String, title: String, lines: [(String, String)], json: JSON) {
        self.format = format
        self.title = title
        self.lines = lines
        self.json = json
    }

    public var text: String {
        let width = lines.map(\.0.count).max() ?? 0
        return ([title] + lines.map { k, v in "  " + k + ":" + String(repeating: " ", count: width - k.count + 1) + v })
            .joined(separator: "\n")
    }
}

/// Tries each registered format in turn.
public struct FormatRegistry: Sendable {
    /// Bytes read from the start of a file for detection (formats may read more themselves).
    public static let probeSize = 1 << 20
    public let formats: [any InspectableFormat.Type]

    public init(_ formats: [any InspectableFormat.Type]) { self.formats = formats }

    public struct Unrecognised: FlashsmithError {
        public var path: String
        public var tried: [String]
        public var category: ErrorCategory { .data }
        public var description: String { "\(path): not a recognised format (tried: \(tried.joined(separator: ", ")))" }
    }

    public func inspect(path: String) throws -> FormatDescription {
        let kind = FileIO.kind(of: path)
        guard case let .regular(size) = kind else {
            if kind == .missing { throw FileError.cannotOpen(path: path, reason: "No such file or directory") }
            throw FileError.notARegularFile(path: path, kind: kind.name)
        }
        let prefix = try FileIO.read(path, offset: 0, count: min(size, Self.probeSize))
        for f in formats {
            if let d = f.probe(path: path, prefix: prefix, fileSize: size) { return d }
        }
        throw Unrecognised(path: path, tried: formats.map { $0.name })
    }
}
