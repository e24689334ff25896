import Crypto
import FlashsmithCore

/// The hash algorithms of a FIT `hash-N` node (U-Boot `boot/image-fit.c` `calculate_hash`,
/// `common/hash.c`): the `algo` string, the digest it stores in `value`, big-endian for the CRCs.
public enum FITHashAlgorithm: String, Sendable, CaseIterable {
    case crc16ccitt = "crc16-ccitt"
    case crc32
    case md5
    case sha1
    case sha256
    case sha384
    case sha512

    /// Bytes of the stored value.
    public var digestSize: Int {
        switch self {
        case .crc16ccitt: return 2
        case .crc32: return 4
        case .md5: return 16
        case .sha1: return 20
        case .sha256: return 32
        case .sha384: return 48
        case .sha512: return 64
        }
    }

    /// An incremental hasher, so payloads can be streamed.
    public func hasher() -> FITHasher { FITHasher(self) }

    public func digest(_ data: some Collection<UInt8>) -> [UInt8] {
        var h = hasher()
        if let r = data.withContiguousStorageIfAvailable({ h.update(UnsafeRawBufferPointer($0)) }) { _ = r } else { Array(data).withUnsafeBytes { h.update($0) } }
        return h.finalize()
    }
}

/// Streams data into one of the FIT hash algorithms.
public struct FITHasher {
    private enum State {
        case crc16(UInt16)
        case crc32(UInt32)
        case md5(Insecure.MD5)
        case sha1(Insecure.SHA1)
        case sha256(SHA256)
        case sha384(SHA384)
        case sha512(SHA512)
    }

    private var state: State

    init(_ algorithm: FITHashAlgorithm) {
        switch algorithm {
        case .crc16ccitt: state = .crc16(0)
        case .crc32: state = .crc32(0)
        case .md5: state = .md5(Insecure.MD5())
        case .sha1: state = .sha1(Insecure.SHA1())
        case .sha256: state = .sha256(SHA256())
        case .sha384: state = .sha384(SHA384())
        case .sha512: state = .sha512(SHA512())
        }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case let .crc16(c): state = .crc16(CRC16CCITT.update(c, bytes))
        case let .crc32(c): state = .crc32(CRC32.zlib(bytes, previous: c))
        case var .md5(h): h.update(bufferPointer: bytes); state = .md5(h)
        case var .sha1(h): h.update(bufferPointer: bytes); state = .sha1(h)
        case var .sha256(h): h.update(bufferPointer: bytes); state = .sha256(h)
        case var .sha384(h): h.update(bufferPointer: bytes); state = .sha384(h)
        case var .sha512(h): h.update(bufferPointer: bytes); state = .sha512(h)
        }
    }

    public func finalize() -> [UInt8] {
        switch state {
        case let .crc16(c): return [UInt8(c >> 8), UInt8(c & 0xFF)]
        case let .crc32(c): return [UInt8(c >> 24), UInt8((c >> 16) & 0xFF), UInt8((c >> 8) & 0xFF), UInt8(c & 0xFF)]
        case let .md5(h): return Array(h.finalize())
        case let .sha1(h): return Array(h.finalize())
        case let .sha256(h): return Array(h.finalize())
        case let .sha384(h): return Array(h.finalize())
        case let .sha512(h): return Array(h.finalize())
        }
    }
}

/// CRC-16/CCITT as U-Boot's `lib/crc16-ccitt.c` (polynomial 0x1021, MSB first, initial 0, no final
/// xor; "XMODEM" in the CRC catalogue).
public enum CRC16CCITT {
    static let table: [UInt16] = (0..<256).map { i -> UInt16 in
        var c = UInt16(i) << 8
        for _ in 0..<8 { c = (c & 0x8000) != 0 ? (c << 1) ^ 0x1021 : c << 1 }
        return c
    }

    public static func update(_ crc: UInt16, _ bytes: UnsafeRawBufferPointer) -> UInt16 {
        var c = crc
        for b in bytes { c = (c << 8) ^ table[Int(((c >> 8) ^ UInt16(b)) & 0xFF)] }
        return c
    }
}
