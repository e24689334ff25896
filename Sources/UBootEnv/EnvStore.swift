import FlashsmithCore
import MTD
#if canImport(Glibc)
import Glibc
#endif

/// Reads and writes environment copies where they live: a plain file (written atomically: a
/// temporary copy renamed over it), a block device (written in place and fsync'ed), or an MTD
/// character device through libmtd (whole erase blocks; on NAND erase before write and skip bad
/// blocks within the configured range; on NOR read-modify-write of the sector).
public enum EnvStore {
    /// Reads the `envSize` bytes of one copy.
    public static func read(_ loc: FWEnvConfig.Location) throws -> [UInt8] {
        if let mtd = try MTDDevice.openIfMTD(loc.device, writable: false) {
            return try MTDEnvAccess(device: mtd, location: loc).read()
        }
        let kind = FileIO.kind(of: loc.device)
        switch kind {
        case .regular, .blockDevice, .characterDevice: break
        case .missing: throw FileError.cannotOpen(path: loc.device, reason: "No such file or directory")
        default: throw FileError.notARegularFile(path: loc.device, kind: kind.name)
        }
        return try FileIO.read(loc.device, offset: loc.offset, count: loc.envSize)
    }

    /// One write: a whole copy at a location, or a single flag byte (boolean scheme, in place).
    public enum Write: Sendable {
        case copy(FWEnvConfig.Location, [UInt8])
        case obsoleteFlag(FWEnvConfig.Location)
    }

    /// Performs `writes` in order. Writes that go to the same regular file are applied in one
    /// atomic replacement of that file.
    public static func perform(_ writes: [Write]) throws {
        var fileGroups: [(path: String, patches: [(offset: Int, bytes: [UInt8])])] = []
        for w in writes {
            let loc: FWEnvConfig.Location
            let bytes: [UInt8]
            let offset: Int
            switch w {
            case let .copy(l, b): (loc, bytes, offset) = (l, b, l.offset)
            case let .obsoleteFlag(l): (loc, bytes, offset) = (l, [EnvLayout.obsoleteFlag], l.offset + EnvLayout.flagsOffset)
            }
            if let mtd = try MTDDevice.openIfMTD(loc.device, writable: true) {
                let access = MTDEnvAccess(device: mtd, location: loc)
                switch w {
                case let .copy(_, b): try access.write(b)
                case .obsoleteFlag: try access.writeObsoleteFlag()
                }
                continue
            }
            switch FileIO.kind(of: loc.device) {
            case .regular:
                if let i = fileGroups.firstIndex(where: { $0.path == loc.device }) {
                    fileGroups[i].patches.append((offset, bytes))
                } else {
                    fileGroups.append((loc.device, [(offset, bytes)]))
                }
            case .blockDevice, .characterDevice:
                let fd = open(loc.device, O_WRONLY | O_CLOEXEC)
                guard fd >= 0 else { throw FileError.cannotOpen(path: loc.device, reason: FileIO.errnoText()) }
                defer { close(fd) }
                try FileIO.pwriteAll(fd, bytes, at: offset, path: loc.device)
                guard fsync(fd) == 0 else { throw FileError.writeFailed(path: loc.device, offset: offset, reason: "fsync: \(FileIO.errnoText())") }
            case .missing:
                throw FileError.cannotOpen(path: loc.device, reason: "No such file or directory")
            case let k:
                throw FileError.notARegularFile(path: loc.device, kind: k.name)
            }
        }
        for g in fileGroups { try AtomicFile.patch(g.path, patches: g.patches) }
    }

    /// The flag scheme a location implies: boolean on NOR/DataFlash MTD devices, counter elsewhere.
    public static func impliedScheme(_ loc: FWEnvConfig.Location) -> (FlagScheme, String)? {
        guard let mtd = try? MTDDevice.openIfMTD(loc.device, writable: false) else { return nil }
        switch mtd.kind {
        case .nor, .dataflash: return (.boolean, "\(loc.device) is \(mtd.kind.rawValue.uppercased()) flash")
        default: return (.counter, "\(loc.device) is \(mtd.kind == .nand || mtd.kind == .mlcNand ? "NAND" : mtd.kind.rawValue) flash")
        }
    }
}

/// The environment's bytes on one MTD device, following the config's sector size and count.
struct MTDEnvAccess {
    let device: MTDDevice
    let location: FWEnvConfig.Location

    private var eb: Int { device.eraseBlockSize }

    private func fail(_ message: String) -> EnvError { .mtd(device: device.path, message: message) }

    /// Erase blocks the environment may occupy: the configured sectors, or as many as the size needs.
    private func blockRange() throws(EnvError) -> Range<Int> {
        guard location.offset >= 0 else { throw fail("negative offsets are for block devices and files, found \(location.offset)") }
        if let s = location.sectorSize, s != eb {
            throw fail("sector size \(hex(s)) in the config does not match the erase block size \(hex(eb)); expected \(hex(eb))")
        }
        let first = location.offset / eb
        let needed = (location.offset % eb + location.envSize + eb - 1) / eb
        let count = max(location.sectorCount ?? 1, needed)
        guard first + count <= device.eraseBlockCount else {
            throw fail("environment range \(hex(location.offset))+\(count) erase blocks runs past the end of the device (\(hex(device.size)))")
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
            out += try device.read(block: b, count: min(eb, location.envSize - out.count))
        }
        guard out.count == location.envSize else {
            throw fail("not enough good erase blocks in the configured range to hold \(hex(location.envSize)) bytes (found \(out.count / eb) good)")
        }
        return out
    }

    func write(_ bytes: [UInt8]) throws {
        guard device.writable else { throw fail("device is read-only") }
        if !device.isNAND {
            // NOR: read-modify-write every sector the copy touches, so neighbouring data survives.
            let first = location.offset / eb, last = (location.offset + bytes.count - 1) / eb
            for b in first...last {
                var sector = try device.read(block: b, count: eb)
                let lo = max(location.offset, b * eb), hi = min(location.offset + bytes.count, (b + 1) * eb)
                for i in lo..<hi { sector[i - b * eb] = bytes[i - location.offset] }
                try device.erase(b)
                try device.write(block: b, sector)
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
            try device.erase(b)
            try device.write(block: b, chunk)
            pos += n
        }
        guard pos >= bytes.count else {
            throw fail("not enough good erase blocks in the configured range to write \(hex(bytes.count)) bytes")
        }
    }

    /// Boolean scheme: clears the old copy's flag byte in place (NOR can program 1→0 without erase).
    func writeObsoleteFlag() throws {
        guard !device.isNAND else { throw fail("the boolean flag scheme needs NOR flash; NAND uses the counter scheme") }
        let pos = location.offset + EnvLayout.flagsOffset
        try device.write(block: pos / eb, offset: pos % eb, [EnvLayout.obsoleteFlag])
    }
}
