/// Option negotiation for a read request (RFC 2347): what the server accepts of what the client asked.
///
/// - `blksize` (RFC 2348): 8…65464; a larger request is answered with the server's maximum, a smaller
///   or non-numeric one is ignored (RFC 2348 lets the server reply with a smaller size).
/// - `timeout` (RFC 2349): 1…255 seconds, else ignored.
/// - `tsize` (RFC 2349): any number in a read request; the reply carries the file's size.
/// - `windowsize` (RFC 7440): 1…65535; more than the server's maximum is answered with the maximum.
/// - Unknown options are ignored (not in the OACK); of a repeated option the first counts.
/// The OACK lists the accepted options in the client's order; no accepted option means no OACK.
public struct TFTPOptionLimits: Sendable, Equatable {
    public static let minBlockSize = 8
    public static let maxBlockSize = 65464
    public static let defaultBlockSize = 512
    public static let maxTimeoutSeconds = 255
    public static let maxWindowSizeRFC = 65535

    /// The largest `blksize` the server grants (≤ 65464).
    public var maxBlockSize = TFTPOptionLimits.maxBlockSize
    /// The largest `windowsize` the server grants: a window is sent in one burst, so a large one
    /// starves the other transfers of this single-threaded server.
    public var maxWindowSize = 64

    public init(maxBlockSize: Int = TFTPOptionLimits.maxBlockSize, maxWindowSize: Int = 64) {
        self.maxBlockSize = min(max(maxBlockSize, Self.minBlockSize), Self.maxBlockSize)
        self.maxWindowSize = min(max(maxWindowSize, 1), Self.maxWindowSizeRFC)
    }
}

public struct TFTPNegotiation: Equatable, Sendable {
    public var blockSize = TFTPOptionLimits.defaultBlockSize
    public var windowSize = 1
    /// Seconds, when the client asked for a timeout.
    public var timeoutSeconds: Int?
    /// The options of the OACK, empty when none is sent.
    public var reply: [TFTPOption] = []

    public init() {}

    /// What the server answers to `options` for a file of `fileSize` bytes.
    public static func negotiate(_ options: [TFTPOption], fileSize: Int, limits: TFTPOptionLimits = TFTPOptionLimits()) -> TFTPNegotiation {
        var n = TFTPNegotiation()
        var seen = Set<String>()
        for option in options where !seen.contains(option.name) {
            seen.insert(option.name)
            switch option.name {
            case "blksize":
                guard let v = decimal(option.value), v >= TFTPOptionLimits.minBlockSize else { continue }
                n.blockSize = min(v, limits.maxBlockSize)
                n.reply.append(TFTPOption("blksize", String(n.blockSize)))
            case "timeout":
                guard let v = decimal(option.value), (1...TFTPOptionLimits.maxTimeoutSeconds).contains(v) else { continue }
                n.timeoutSeconds = v
                n.reply.append(TFTPOption("timeout", String(v)))
            case "tsize":
                guard decimal(option.value) != nil else { continue }
                n.reply.append(TFTPOption("tsize", String(fileSize)))
            case "windowsize":
                guard let v = decimal(option.value), (1...TFTPOptionLimits.maxWindowSizeRFC).contains(v) else { continue }
                n.windowSize = min(v, limits.maxWindowSize)
                n.reply.append(TFTPOption("windowsize", String(n.windowSize)))
            default:
                continue
            }
        }
        return n
    }

    /// A non-negative decimal number; a huge one saturates at Int.max (it is out of every range anyway).
    static func decimal(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        var value = 0
        for d in text.utf8 {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int(d - UInt8(ascii: "0")))
            if o1 || o2 { return Int.max }
            value = s
        }
        return value
    }
}
