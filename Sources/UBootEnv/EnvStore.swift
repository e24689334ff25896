import FlashsmithCore
import MTD
#if canImport(Glibc)
import Glibc
#endif

/// Reads and writes environment copies where they live: a plain file (replaced whole: a temporary
/// copy, fsync'ed and renamed over it), a block device (written in place and fsync'ed), or an MTD
/// character device through libmtd (whole erase blocks, each erased, programmed and read back; on
/// NAND bad blocks within the configured range are skipped; on NOR the rest of a sector is kept).
///
/// Power cuts: the writes of an update are performed one after the other, each durable before the
/// next starts, in the order ``EnvBlob/writes(storing:)`` gives: the inactive copy of a redundant pair
/// with a flag that makes it the newer one, and only then (boolean scheme) the old copy's flag
/// cleared. A cut at any point leaves the old copy valid and chosen, or the new one: U-Boot and
/// libubootenv never see a mix. A single copy on a block device or MTD cannot be updated that way
/// (see ``powerCutWarning(_:open:)``).
public enum EnvStore {
    /// Reads the `envSize` bytes of one copy.
    public static func read(_ loc: FWEnvConfig.Location, open: EnvMedium.Opener = EnvMedium.open) throws -> [UInt8] {
        switch try open(loc.device, false) {
        case let .flash(dev): return try MTDEnvAccess(device: dev, location: loc).read()
        case let .file(path), let .inPlace(path): return try FileIO.read(path, offset: loc.offset, count: loc.envSize)
        }
    }

    /// One write: a whole copy at a location, or a single flag byte (boolean scheme, in place).
    public enum Write: Sendable {
        case copy(FWEnvConfig.Location, [UInt8])
        case obsoleteFlag(FWEnvConfig.Location)

        public var location: FWEnvConfig.Location {
            switch self {
            case let .copy(l, _), let .obsoleteFlag(l): return l
            }
        }

        /// Where the bytes go in the device, and which.
        var patch: (offset: Int, bytes: [UInt8]) {
            switch self {
            case let .copy(l, b): return (l.offset, b)
            case let .obsoleteFlag(l): return (l.offset + EnvLayout.flagsOffset, [EnvLayout.obsoleteFlag])
            }
        }
    }

    /// Performs `writes` in order, each one durable before the next starts. Every device is opened
    /// and every write checked first, so a write that cannot be made fails with nothing written.
    /// Consecutive writes to one regular file are applied in one atomic replacement of that file.
    /// `budget` is the tests' power switch (``EnvWriteBudget``); `open` how a device is reached.
    public static func perform(_ writes: [Write], budget: any EnvWriteBudget = NoPowerCut(), open: EnvMedium.Opener = EnvMedium.open) throws {
        var media: [String: EnvMedium] = [:]
        var steps: [(medium: EnvMedium, write: Write)] = []
        for w in writes {
            let device = w.location.device
            let m = try media[device] ?? open(device, true)
            media[device] = m
            switch m {
            case let .flash(dev): try MTDEnvAccess(device: dev, location: w.location).check(w)
            case let .file(path): _ = try placed(w.patch, in: path, size: FileIO.size(of: path))
            case let .inPlace(path):
                if FileIO.kind(of: path) == .blockDevice { _ = try placed(w.patch, in: path, size: FileIO.size(of: path)) }
            }
            steps.append((m, w))
        }
        var i = 0
        while i < steps.count {
            switch steps[i].medium {
            case let .file(path):
                var patches = [steps[i].write.patch]
                i += 1
                while i < steps.count, case let .file(next) = steps[i].medium, next == path {
                    patches.append(steps[i].write.patch)
                    i += 1
                }
                try replaceFile(path, patches: patches, budget: budget)
            case let .inPlace(path):
                try writeInPlace(path, steps[i].write.patch, budget: budget)
                i += 1
            case let .flash(dev):
                let access = MTDEnvAccess(device: dev, location: steps[i].write.location, budget: budget)
                switch steps[i].write {
                case let .copy(_, bytes): try access.write(bytes)
                case .obsoleteFlag: try access.writeObsoleteFlag()
                }
                i += 1
            }
        }
    }

    /// Why an update of the environment at `locations` can be lost to a power cut, or nil when it
    /// cannot: a single copy on MTD is erased before it is written, a single copy on a block device
    /// is rewritten in place, and a pair whose copies share an erase block loses both to one erase.
    public static func powerCutWarning(_ locations: [FWEnvConfig.Location], open: EnvMedium.Opener = EnvMedium.open) -> String? {
        guard let first = locations.first, let medium = try? open(first.device, false) else { return nil }
        let advice = "a redundant pair (a second line in fw_env.config, CONFIG_ENV_REDUNDANT in U-Boot) survives one"
        if locations.count == 1 {
            switch medium {
            case .file: return nil
            case let .flash(dev):
                return "\(dev.path) holds a single environment copy, which must be erased before it is written: a power cut in between leaves no valid environment (U-Boot then boots with its default one); \(advice)"
            case let .inPlace(path):
                return "\(path) holds a single environment copy, rewritten in place: a power cut during the write leaves no valid environment (U-Boot then boots with its default one); \(advice)"
            }
        }
        guard case let .flash(dev) = medium, locations[1].device == first.device,
            let a = try? MTDEnvAccess(device: dev, location: first).blockRange(),
            let b = try? MTDEnvAccess(device: dev, location: locations[1]).blockRange(),
            a.overlaps(b)
        else { return nil }
        let shared = max(a.lowerBound, b.lowerBound)
        return "copies 1 and 2 share erase block \(shared) of \(dev.path): writing one copy erases the other, so a power cut during the update can leave no valid environment; give each copy its own erase blocks"
    }

    /// The flag scheme a location implies: boolean on NOR/DataFlash MTD devices, counter elsewhere.
    public static func impliedScheme(_ loc: FWEnvConfig.Location, open: EnvMedium.Opener = EnvMedium.open) -> (FlagScheme, String)? {
        guard case let .flash(dev)? = try? open(loc.device, false) else { return nil }
        switch dev.kind {
        case .nor, .dataflash: return (.boolean, "\(loc.device) is \(dev.kind.rawValue.uppercased()) flash")
        default: return (.counter, "\(loc.device) is \(dev.isNAND ? "NAND" : dev.kind.rawValue) flash")
        }
    }

    // MARK: Files and block devices

    /// Replaces the regular file `path` (a symlink's target, so the link stays) by a copy with
    /// `patches` applied: streamed to a temporary file, fsync'ed, renamed over it.
    static func replaceFile(_ path: String, patches: [(offset: Int, bytes: [UInt8])], budget: any EnvWriteBudget) throws {
        let target = resolvedPath(path)
        let fileSize = try FileIO.size(of: target)
        let resolved = try patches.map { try placed($0, in: target, size: fileSize) }
        let src = try FileIO.openForReading(target)
        defer { close(src) }
        var out = try AtomicFile(destination: target)
        var chunk = [UInt8](repeating: 0, count: min(1 << 20, max(fileSize, 1)))
        var pos = 0
        while pos < fileSize {
            let want = min(chunk.count, fileSize - pos)
            let n = chunk.withUnsafeMutableBytes { pread(src, $0.baseAddress, want, off_t(pos)) }
            guard n > 0 else {
                throw n == 0 ? FileError.shortRead(path: target, offset: pos, expected: want, found: 0) : FileError.readFailed(path: target, offset: pos, reason: FileIO.errnoText())
            }
            for p in resolved where p.offset < pos + n && p.offset + p.bytes.count > pos {
                for k in max(p.offset, pos)..<min(p.offset + p.bytes.count, pos + n) { chunk[k - pos] = p.bytes[k - p.offset] }
            }
            let admitted = budget.admit(n)
            try out.write(Array(chunk[0..<admitted]))
            guard admitted == n else { throw EnvPowerCut(device: target, during: "writing the temporary copy") }
            pos += n
        }
        guard budget.admit(1) == 1 else { throw EnvPowerCut(device: target, during: "before the rename") }
        try out.commit()
    }

    /// A patch with a negative offset counted from the end, checked to lie inside the `size` bytes.
    static func placed(_ p: (offset: Int, bytes: [UInt8]), in path: String, size: Int) throws -> (offset: Int, bytes: [UInt8]) {
        let start = p.offset < 0 ? size + p.offset : p.offset
        guard start >= 0, start <= size - p.bytes.count else {
            throw FileError.shortRead(path: path, offset: start, expected: p.bytes.count, found: max(0, size - max(start, 0)))
        }
        return (start, p.bytes)
    }

    /// Writes one patch in place (block devices) and fsyncs it before returning.
    static func writeInPlace(_ path: String, _ patch: (offset: Int, bytes: [UInt8]), budget: any EnvWriteBudget) throws {
        let fd = Glibc.open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError.cannotOpen(path: path, reason: FileIO.errnoText()) }
        defer { close(fd) }
        let admitted = budget.admit(patch.bytes.count)
        try FileIO.pwriteAll(fd, Array(patch.bytes[0..<admitted]), at: patch.offset, path: path)
        guard fsync(fd) == 0 else { throw FileError.writeFailed(path: path, offset: patch.offset, reason: "fsync: \(FileIO.errnoText())") }
        guard admitted == patch.bytes.count else { throw EnvPowerCut(device: path, during: "an in-place write") }
    }

    /// The file a path names, symlinks followed (the path itself when that fails).
    static func resolvedPath(_ path: String) -> String {
        guard let p = realpath(path, nil) else { return path }
        defer { free(p) }
        return String(cString: p)
    }
}

/// How the store reaches a device.
public enum EnvMedium {
    /// A regular file: replaced whole through a temporary file and rename.
    case file(String)
    /// A block device (or another non-MTD device): written in place and fsync'ed.
    case inPlace(String)
    /// MTD flash: erased and programmed by erase block.
    case flash(any EnvFlashDevice)

    /// Opens a device for reading, or for writing when the flag is set.
    public typealias Opener = (_ device: String, _ writable: Bool) throws -> EnvMedium

    /// What `device` is on this system: an MTD character device, a regular file, or another device.
    public static func open(_ device: String, writable: Bool) throws -> EnvMedium {
        if let mtd = try MTDDevice.openIfMTD(device, writable: writable) { return .flash(mtd) }
        let kind = FileIO.kind(of: device)
        switch kind {
        case .regular: return .file(device)
        case .blockDevice, .characterDevice: return .inPlace(device)
        case .missing: throw FileError.cannotOpen(path: device, reason: "No such file or directory")
        default: throw FileError.notARegularFile(path: device, kind: kind.name)
        }
    }
}

/// Flash as the environment store drives it: erase blocks that read 0xff once erased, programming
/// that can only clear bits (NAND: whole pages, once per erase), bad blocks on NAND. ``MTDDevice``
/// (libmtd) is the real one; tests use a file-backed fake.
public protocol EnvFlashDevice: AnyObject {
    var path: String { get }
    var kind: MTDDevice.Kind { get }
    var isNAND: Bool { get }
    var eraseBlockSize: Int { get }
    var eraseBlockCount: Int { get }
    /// The programming unit (NAND page; 1 on most NOR).
    var minIOSize: Int { get }
    var writable: Bool { get }
    func isBad(_ block: Int) throws -> Bool
    func erase(_ block: Int) throws
    func read(block: Int, offset: Int, count: Int) throws -> [UInt8]
    func write(block: Int, offset: Int, _ data: [UInt8]) throws
}

extension MTDDevice: EnvFlashDevice {}

/// The tests' power switch: the store asks it before each byte it writes or programs (in one call
/// per write), each erase and each rename, and stops with ``EnvPowerCut`` at the first event it is
/// refused, after writing what was admitted. The default, ``NoPowerCut``, admits everything.
public protocol EnvWriteBudget: AnyObject {
    /// `count` events are about to happen; returns how many of them do before the power goes
    /// (`count`: all of them).
    func admit(_ count: Int) -> Int
}

/// The budget of every real update: nothing is ever cut.
public final class NoPowerCut: EnvWriteBudget {
    public init() {}
    public func admit(_ count: Int) -> Int { count }
}

/// The power was cut by an ``EnvWriteBudget`` (tests only).
public struct EnvPowerCut: Error, CustomStringConvertible {
    public var device: String
    public var during: String
    public var description: String { "\(device): power cut \(during)" }
}

/// The environment's bytes on one flash device, following the config's sector size and count.
struct MTDEnvAccess {
    let device: any EnvFlashDevice
    let location: FWEnvConfig.Location
    var budget: any EnvWriteBudget = NoPowerCut()

    private var eb: Int { device.eraseBlockSize }

    private func fail(_ message: String) -> EnvError { .mtd(device: device.path, message: message) }

    /// Erase blocks the environment may occupy: the configured sectors, or as many as the size needs.
    func blockRange() throws(EnvError) -> Range<Int> {
        guard location.offset >= 0 else { throw fail("negative offsets are for block devices and files, found \(location.offset)") }
        if let s = location.sectorSize, s != eb {
            throw fail("sector size \(hex(s)) in the config does not match the erase block size \(hex(eb)); expected \(hex(eb))")
        }
        let first = location.offset / eb
        let needed = (location.offset % eb + location.envSize + eb - 1) / eb
        let count = max(location.sectorCount ?? 1, needed)
        guard count <= device.eraseBlockCount - first else {
            throw fail("environment range \(hex(location.offset))+\(count) erase blocks runs past the end of the device (\(hex(device.eraseBlockCount * eb)))")
        }
        return first..<first + count
    }

    /// Good blocks in the range, in order, for NAND; the plain range for NOR.
    private func goodBlocks() throws -> [Int] {
        let range = try blockRange()
        guard device.isNAND else { return Array(range) }
        if location.offset % eb != 0 { throw fail("on NAND the environment must start on an erase block boundary, found offset \(hex(location.offset))") }
        return try range.filter { try !device.isBad($0) }
    }

    /// Refuses, before anything is written, a write this device cannot take.
    func check(_ write: EnvStore.Write) throws {
        guard device.writable else { throw fail("device is read-only") }
        let good = try goodBlocks()
        switch write {
        case let .copy(_, bytes):
            guard good.count * eb >= bytes.count || !device.isNAND else {
                throw fail("not enough good erase blocks in the configured range to write \(hex(bytes.count)) bytes (found \(good.count) good)")
            }
        case .obsoleteFlag:
            guard !device.isNAND else { throw fail("the boolean flag scheme needs NOR flash (a NAND page cannot be programmed twice); NAND uses the counter scheme") }
        }
    }

    func read() throws -> [UInt8] {
        if !device.isNAND {
            var out: [UInt8] = []
            var pos = location.offset
            while out.count < location.envSize {
                let b = pos / eb, o = pos % eb
                let n = min(eb - o, location.envSize - out.count)
                out += try device.read(block: b, offset: o, count: n)
                pos += n
            }
            return out
        }
        var out: [UInt8] = []
        for b in try goodBlocks() where out.count < location.envSize {
            out += try device.read(block: b, offset: 0, count: min(eb, location.envSize - out.count))
        }
        guard out.count == location.envSize else {
            throw fail("not enough good erase blocks in the configured range to hold \(hex(location.envSize)) bytes (found \(out.count / eb) good)")
        }
        return out
    }

    private func erase(_ block: Int) throws {
        guard budget.admit(1) == 1 else { throw EnvPowerCut(device: device.path, during: "before erasing block \(block)") }
        try device.erase(block)
    }

    /// Programs `data` at `offset` of `block` and reads it back.
    private func program(_ block: Int, offset: Int = 0, _ data: [UInt8]) throws {
        let admitted = budget.admit(data.count)
        if admitted > 0 { try device.write(block: block, offset: offset, Array(data[0..<admitted])) }
        guard admitted == data.count else { throw EnvPowerCut(device: device.path, during: "programming block \(block)") }
        guard try device.read(block: block, offset: offset, count: data.count) == data else {
            throw fail("erase block \(block) reads back different bytes than were programmed at \(hex(offset))")
        }
    }

    func write(_ bytes: [UInt8]) throws {
        guard device.writable else { throw fail("device is read-only") }
        if !device.isNAND {
            // NOR: read-modify-write every sector the copy touches, so neighbouring data survives.
            let first = location.offset / eb, last = (location.offset + bytes.count - 1) / eb
            for b in first...last {
                var sector = try device.read(block: b, offset: 0, count: eb)
                let lo = max(location.offset, b * eb), hi = min(location.offset + bytes.count, (b + 1) * eb)
                for i in lo..<hi { sector[i - b * eb] = bytes[i - location.offset] }
                try erase(b)
                try program(b, sector)
            }
            return
        }
        let page = max(device.minIOSize, 1)
        var pos = 0
        for b in try goodBlocks() where pos < bytes.count {
            let n = min(eb, bytes.count - pos)
            var chunk = Array(bytes[pos..<pos + n])
            let padded = (n + page - 1) / page * page
            chunk += [UInt8](repeating: 0xFF, count: padded - n)
            try erase(b)
            try program(b, chunk)
            pos += n
        }
        guard pos >= bytes.count else {
            throw fail("not enough good erase blocks in the configured range to write \(hex(bytes.count)) bytes")
        }
    }

    /// Boolean scheme: clears the old copy's flag byte in place (NOR can program 1→0 without erase).
    func writeObsoleteFlag() throws {
        guard !device.isNAND else { throw fail("the boolean flag scheme needs NOR flash (a NAND page cannot be programmed twice); NAND uses the counter scheme") }
        let pos = location.offset + EnvLayout.flagsOffset
        try program(pos / eb, offset: pos % eb, [EnvLayout.obsoleteFlag])
    }
}
