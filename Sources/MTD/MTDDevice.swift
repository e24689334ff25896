import CMTD
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// Errors from the MTD layer; each names the device, the erase block and libmtd's errno text.
public struct MTDError: FlashsmithError, Equatable {
    public var device: String
    public var operation: String
    public var block: Int?
    public var reason: String
    public var category: ErrorCategory
    public init(device: String, operation: String, block: Int?, reason: String, category: ErrorCategory = .io) {
        self.device = device
        self.operation = operation
        self.block = block
        self.reason = reason
        self.category = category
    }
    public var description: String {
        "\(device): \(operation)\(block.map { " of erase block \($0)" } ?? ""): \(reason)"
    }
}

/// An MTD character device (`/dev/mtdN`) opened through libmtd (mtd-utils `lib/libmtd.c`).
///
/// Owns the libmtd descriptor and the file descriptor; both are released in `deinit`. Reads,
/// erases and writes are per erase block, as the flash does them; callers skip bad blocks with
/// ``isBad(_:)``.
public final class MTDDevice {
    /// Flash technology, from `mtd_dev_info.type` (`MTD_NORFLASH`, `MTD_NANDFLASH`, …).
    public enum Kind: String, Sendable {
        case nor, nand, mlcNand, ram, rom, dataflash, ubiVolume, other
    }

    public let path: String
    public let name: String
    public let kind: Kind
    public let size: Int
    public let eraseBlockSize: Int
    public let eraseBlockCount: Int
    public let minIOSize: Int
    public let subpageSize: Int
    public let oobSize: Int
    public let writable: Bool
    public let badBlocksAllowed: Bool

    private let lib: libmtd_t
    private var info: mtd_dev_info
    private let fd: Int32

    public var isNAND: Bool { kind == .nand || kind == .mlcNand }

    /// Opens `path` if it is an MTD character device; returns nil if it is not one (or the system
    /// has no MTD subsystem), so callers can fall back to plain file access.
    public static func openIfMTD(_ path: String, writable: Bool) throws(MTDError) -> MTDDevice? {
        guard FileIO.kind(of: path) == .characterDevice else { return nil }
        errno = 0
        guard let lib = libmtd_open() else {
            if errno == 0 { return nil }  // libmtd.h: errno 0 means "MTD is not present"
            throw MTDError(device: path, operation: "libmtd_open", block: nil, reason: FileIO.errnoText())
        }
        var info = mtd_dev_info()
        guard mtd_get_dev_info(lib, path, &info) == 0 else {
            let e = errno
            libmtd_close(lib)
            if e == ENODEV { return nil }
            throw MTDError(device: path, operation: "mtd_get_dev_info", block: nil, reason: FileIO.errnoText(e))
        }
        let fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = FileIO.errnoText()
            libmtd_close(lib)
            throw MTDError(device: path, operation: "open", block: nil, reason: reason)
        }
        return MTDDevice(path: path, lib: lib, info: info, fd: fd)
    }

    private init(path: String, lib: libmtd_t, info: mtd_dev_info, fd: Int32) {
        self.path = path
        self.lib = lib
        self.info = info
        self.fd = fd
        self.name = withUnsafeBytes(of: info.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        switch info.type {
        case 1: kind = .ram  // MTD_RAM
        case 2: kind = .rom  // MTD_ROM
        case 3: kind = .nor  // MTD_NORFLASH
        case 4: kind = .nand  // MTD_NANDFLASH
        case 6: kind = .dataflash  // MTD_DATAFLASH
        case 7: kind = .ubiVolume  // MTD_UBIVOLUME
        case 8: kind = .mlcNand  // MTD_MLCNANDFLASH
        default: kind = .other
        }
        size = Int(info.size)
        eraseBlockSize = Int(info.eb_size)
        eraseBlockCount = Int(info.eb_cnt)
        minIOSize = Int(info.min_io_size)
        subpageSize = Int(info.subpage_size)
        oobSize = Int(info.oob_size)
        writable = info.writable != 0
        badBlocksAllowed = info.bb_allowed != 0
    }

    deinit {
        close(fd)
        libmtd_close(lib)
    }

    private func fail(_ op: String, _ block: Int?) -> MTDError {
        MTDError(device: path, operation: op, block: block, reason: FileIO.errnoText())
    }

    /// Whether erase block `block` is marked bad (always false on flash without bad blocks).
    public func isBad(_ block: Int) throws(MTDError) -> Bool {
        guard badBlocksAllowed else { return false }
        let r = mtd_is_bad(&info, fd, Int32(block))
        guard r >= 0 else { throw fail("mtd_is_bad", block) }
        return r == 1
    }

    public func erase(_ block: Int) throws(MTDError) {
        guard mtd_erase(lib, &info, fd, Int32(block)) == 0 else { throw fail("mtd_erase", block) }
    }

    /// `count` bytes from `offset` within erase block `block`.
    public func read(block: Int, offset: Int = 0, count: Int) throws(MTDError) -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: count)
        let r = buf.withUnsafeMutableBytes { mtd_read(&info, fd, Int32(block), Int32(offset), $0.baseAddress, Int32(count)) }
        guard r == 0 else { throw fail("mtd_read", block) }
        return buf
    }

    /// Writes `data` at `offset` within erase block `block` (no OOB). NAND needs whole pages:
    /// `data.count` and `offset` must be multiples of ``minIOSize``.
    public func write(block: Int, offset: Int = 0, _ data: [UInt8]) throws(MTDError) {
        var d = data
        let r = d.withUnsafeMutableBytes { mtd_write(lib, &info, fd, Int32(block), Int32(offset), $0.baseAddress, Int32($0.count), nil, 0, 0) }
        guard r == 0 else { throw fail("mtd_write", block) }
    }

    /// The OOB bytes of the page at byte `offset` of the device.
    public func readOOB(pageAt offset: Int) throws(MTDError) -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: oobSize)
        let r = buf.withUnsafeMutableBytes { mtd_read_oob(lib, &info, fd, UInt64(offset), UInt64(oobSize), $0.baseAddress) }
        guard r == 0 else { throw fail("mtd_read_oob", offset / max(1, eraseBlockSize)) }
        return buf
    }

    /// Marks `block` bad (used by tests on nandsim only).
    public func markBad(_ block: Int) throws(MTDError) {
        guard mtd_mark_bad(&info, fd, Int32(block)) == 0 else { throw fail("mtd_mark_bad", block) }
    }
}
