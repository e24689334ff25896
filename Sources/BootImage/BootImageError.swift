import FlashsmithCore

/// What can be wrong with a boot image; each names the file, the field or offset, what was expected
/// and what was found.
public enum BootImageError: FlashsmithError, Equatable {
    case badMagic(path: String, expected: UInt32, found: UInt32)
    case truncated(path: String, what: String, offset: Int, expected: Int, found: Int)
    case headerCRC(path: String, expected: UInt32, found: UInt32)
    case dataCRC(path: String, expected: UInt32, found: UInt32)
    case nameTooLong(name: String, bytes: Int, limit: Int)
    case unknownName(kind: String, found: String, valid: [String])
    case noParts(path: String, type: String)
    case noSuchPart(path: String, index: Int, count: Int)
    case badPartTable(path: String, offset: Int, reason: String)
    case badInput(path: String, reason: String)

    public var category: ErrorCategory {
        switch self {
        case .nameTooLong, .unknownName: return .usage
        default: return .data
        }
    }

    public var description: String {
        switch self {
        case let .badMagic(path, expected, found):
            return "\(path): offset 0x0 (ih_magic): expected \(hex32(expected)), found \(hex32(found)): not a legacy U-Boot image"
        case let .truncated(path, what, offset, expected, found):
            return "\(path): \(what) at offset \(hex(offset)): expected \(expected) bytes, found \(found)"
        case let .headerCRC(path, expected, found):
            return "\(path): offset 0x4 (ih_hcrc): header CRC mismatch: expected \(hex32(expected)) (computed), found \(hex32(found)) (stored)"
        case let .dataCRC(path, expected, found):
            return "\(path): offset 0x18 (ih_dcrc): data CRC mismatch: expected \(hex32(expected)) (computed), found \(hex32(found)) (stored)"
        case let .nameTooLong(name, bytes, limit):
            return "image name '\(name)' is \(bytes) bytes: expected at most \(limit) (ih_name)"
        case let .unknownName(kind, found, valid):
            return "\(kind) '\(found)': expected one of \(valid.joined(separator: ", "))"
        case let .noParts(path, type):
            return "\(path): a \(type) image has no part table (only multi and script images do)"
        case let .noSuchPart(path, index, count):
            return "\(path): part \(index): expected 0…\(count - 1), found \(count) part(s)"
        case let .badPartTable(path, offset, reason):
            return "\(path): part table at offset \(hex(offset)): \(reason)"
        case let .badInput(path, reason):
            return "\(path): \(reason)"
        }
    }
}

func hex32(_ v: UInt32) -> String {
    let h = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - h.count) + h
}
