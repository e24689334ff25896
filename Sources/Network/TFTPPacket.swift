import FlashsmithCore

/// TFTP packets: RFC 1350 (the protocol), RFC 2347 (option extension, OACK), RFC 2348 (`blksize`),
/// RFC 2349 (`timeout`, `tsize`), RFC 7440 (`windowsize`). All integers are big-endian.
///
/// ```
///  RRQ/WRQ  | opcode 1/2 (2) | filename | 0 | mode | 0 | opt1 | 0 | value1 | 0 | … |
///  DATA     | opcode 3   (2) | block (2) | data (0…blksize bytes)                  |
///  ACK      | opcode 4   (2) | block (2) |
///  ERROR    | opcode 5   (2) | code  (2) | message | 0 |
///  OACK     | opcode 6   (2) | opt1 | 0 | value1 | 0 | …                          |
///             ^ offset 0       ^ offset 2  ^ offset 4
/// ```
/// The parser takes any datagram: it returns a packet or throws ``TFTPMalformed`` (never traps,
/// never allocates more than the datagram's own size).
public enum TFTPPacket: Equatable, Sendable {
    case request(TFTPRequest)
    case data(block: UInt16, payload: [UInt8])
    case ack(block: UInt16)
    case error(code: UInt16, message: String)
    case oack([TFTPOption])

    /// Byte offsets and sizes of the fixed fields.
    public enum Layout {
        public static let opcodeOffset = 0
        public static let opcodeSize = 2
        /// The block number (DATA, ACK) or error code (ERROR).
        public static let numberOffset = 2
        /// Strings of RRQ/WRQ/OACK start here.
        public static let stringsOffset = 2
        /// DATA payload, ERROR message.
        public static let payloadOffset = 4
        public static let headerSize = 4
    }

    /// The most options a request may carry before it is refused as malformed.
    public static let maxOptions = 64

    /// Parses one datagram.
    public static func parse(_ bytes: [UInt8]) throws(TFTPMalformed) -> TFTPPacket {
        guard bytes.count >= Layout.opcodeSize else { throw TFTPMalformed(offset: 0, reason: "\(bytes.count)-byte datagram, expected at least an opcode (2 bytes)") }
        let raw = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        guard let opcode = TFTPOpcode(rawValue: raw) else { throw TFTPMalformed(offset: 0, reason: "unknown opcode \(raw), expected 1…6") }
        switch opcode {
        case .readRequest, .writeRequest:
            return .request(try parseRequest(bytes, opcode: opcode))
        case .data:
            let block = try number(bytes, "DATA")
            guard bytes.count - Layout.payloadOffset <= TFTPOptionLimits.maxBlockSize else {
                throw TFTPMalformed(offset: Layout.payloadOffset, reason: "DATA payload of \(bytes.count - Layout.payloadOffset) bytes, expected at most \(TFTPOptionLimits.maxBlockSize)")
            }
            return .data(block: block, payload: Array(bytes[Layout.payloadOffset...]))
        case .ack:
            return .ack(block: try number(bytes, "ACK"))
        case .error:
            let code = try number(bytes, "ERROR")
            // The message's NUL is optional here: a peer's error is reported, not refused.
            let end = bytes[Layout.payloadOffset...].firstIndex(of: 0) ?? bytes.count
            return .error(code: code, message: String(decoding: bytes[Layout.payloadOffset..<end], as: UTF8.self))
        case .optionAck:
            var strings = StringReader(bytes: bytes, offset: Layout.stringsOffset)
            return .oack(try strings.options())
        }
    }

    static func number(_ bytes: [UInt8], _ kind: String) throws(TFTPMalformed) -> UInt16 {
        guard bytes.count >= Layout.headerSize else { throw TFTPMalformed(offset: bytes.count, reason: "\(kind) of \(bytes.count) bytes, expected at least \(Layout.headerSize)") }
        return UInt16(bytes[Layout.numberOffset]) << 8 | UInt16(bytes[Layout.numberOffset + 1])
    }

    static func parseRequest(_ bytes: [UInt8], opcode: TFTPOpcode) throws(TFTPMalformed) -> TFTPRequest {
        var strings = StringReader(bytes: bytes, offset: Layout.stringsOffset)
        guard let filename = strings.next() else { throw TFTPMalformed(offset: strings.offset, reason: "request without a NUL-terminated filename") }
        guard !filename.isEmpty else { throw TFTPMalformed(offset: Layout.stringsOffset, reason: "empty filename") }
        let modeOffset = strings.offset
        guard let mode = strings.next() else { throw TFTPMalformed(offset: modeOffset, reason: "request without a NUL-terminated mode") }
        let options = try strings.options()
        return TFTPRequest(isWrite: opcode == .writeRequest, filename: filename, mode: String(decoding: mode, as: UTF8.self).lowercased(), options: options)
    }

    /// The datagram for this packet.
    public func encoded() -> [UInt8] {
        switch self {
        case let .request(r):
            var out = Self.header(r.isWrite ? .writeRequest : .readRequest)
            out += r.filename + [0] + Array(r.mode.utf8) + [0]
            for o in r.options { out += Array(o.name.utf8) + [0] + Array(o.value.utf8) + [0] }
            return out
        case let .data(block, payload):
            return Self.header(.data, number: block) + payload
        case let .ack(block):
            return Self.header(.ack, number: block)
        case let .error(code, message):
            return Self.header(.error, number: code) + Array(message.utf8.filter { $0 != 0 }) + [0]
        case let .oack(options):
            var out = Self.header(.optionAck)
            for o in options { out += Array(o.name.utf8) + [0] + Array(o.value.utf8) + [0] }
            return out
        }
    }

    static func header(_ opcode: TFTPOpcode, number: UInt16? = nil) -> [UInt8] {
        var out: [UInt8] = [UInt8(opcode.rawValue >> 8), UInt8(opcode.rawValue & 0xFF)]
        if let number { out += [UInt8(number >> 8), UInt8(number & 0xFF)] }
        return out
    }

    /// Writes a DATA header (opcode and block number) into the first 4 bytes of `buffer`.
    static func writeDataHeader(block: UInt16, into buffer: UnsafeMutableRawBufferPointer) {
        buffer[0] = 0
        buffer[1] = UInt8(TFTPOpcode.data.rawValue)
        buffer[Layout.numberOffset] = UInt8(block >> 8)
        buffer[Layout.numberOffset + 1] = UInt8(block & 0xFF)
    }
}

public enum TFTPOpcode: UInt16, Sendable {
    case readRequest = 1, writeRequest = 2, data = 3, ack = 4, error = 5
    /// RFC 2347.
    case optionAck = 6
}

/// RFC 1350 error codes (and RFC 2347's 8).
public enum TFTPErrorCode: UInt16, Sendable {
    case notDefined = 0, fileNotFound = 1, accessViolation = 2, diskFull = 3, illegalOperation = 4
    case unknownTransferID = 5, fileExists = 6, noSuchUser = 7, optionRefused = 8
}

/// A read or write request: the filename as sent (bytes), the mode lower-cased, the options in order.
public struct TFTPRequest: Equatable, Sendable {
    public var isWrite: Bool
    public var filename: [UInt8]
    public var mode: String
    public var options: [TFTPOption]

    public init(isWrite: Bool = false, filename: [UInt8], mode: String = "octet", options: [TFTPOption] = []) {
        self.isWrite = isWrite
        self.filename = filename
        self.mode = mode
        self.options = options
    }

    /// The filename for logs: UTF-8, other bytes as `\xNN`, control characters escaped.
    public var displayName: String {
        var out = ""
        for b in filename {
            if b >= 0x20 && b < 0x7F && b != UInt8(ascii: "\\") {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += "\\x" + (b < 16 ? "0" : "") + String(b, radix: 16)
            }
        }
        return out
    }
}

/// One option (RFC 2347): the name lower-cased (option names are case-insensitive), the value as sent.
public struct TFTPOption: Equatable, Sendable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name.lowercased()
        self.value = value
    }
}

/// A datagram that is not a TFTP packet: the offset where it went wrong and why.
public struct TFTPMalformed: FlashsmithError, Equatable {
    public let offset: Int
    public let reason: String
    public var category: ErrorCategory { .data }
    public var description: String { "malformed TFTP packet at offset \(offset): \(reason)" }
}

/// NUL-terminated strings from `offset` on.
struct StringReader {
    let bytes: [UInt8]
    var offset: Int

    /// The next string without its NUL, or nil when no NUL ends it (the offset stays).
    mutating func next() -> [UInt8]? {
        guard offset < bytes.count, let end = bytes[offset...].firstIndex(of: 0) else { return nil }
        defer { offset = end + 1 }
        return Array(bytes[offset..<end])
    }

    /// Name/value pairs up to the end. A trailing name without a value, or a string without its NUL,
    /// is ignored (some clients pad requests); more than ``TFTPPacket/maxOptions`` pairs is malformed.
    mutating func options() throws(TFTPMalformed) -> [TFTPOption] {
        var out: [TFTPOption] = []
        while let name = next() {
            guard let value = next() else { break }
            guard out.count < TFTPPacket.maxOptions else { throw TFTPMalformed(offset: offset, reason: "more than \(TFTPPacket.maxOptions) options") }
            if name.isEmpty { continue }  // NUL padding
            out.append(TFTPOption(String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
        return out
    }
}
