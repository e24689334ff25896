import FlashsmithCore

/// The superblock's fields a reader needs, checked as the kernel's `validate_sb` does.
public struct UBIFSSuperblock: Sendable {
    public var keyHash: UInt8 = 0
    public var flags: UInt32 = 0
    public var minIOSize = 1
    public var lebSize: Int
    public var lebCount: Int
    public var maxLEBCount = 0
    public var maxBudBytes: UInt64 = 0
    public var logLEBs = UBIFSMedia.minLogLEBs
    public var lptLEBs = UBIFSMedia.minLPTLEBs
    public var orphanLEBs = UBIFSMedia.minOrphanLEBs
    /// Journal heads: the superblock's data heads plus the GC and base heads.
    public var journalHeads = 3
    public var fanout = 8
    public var lsaveCount = 0
    public var formatVersion: UInt32 = 4
    public var defaultCompressor: UBIFSMedia.Compressor = .lzo
    public var reservedUID: UInt32 = 0
    public var reservedGID: UInt32 = 0
    public var reservedSize: UInt64 = 0
    public var timeGranularity: UInt32 = 1_000_000_000
    public var uuid: [UInt8] = []
    public var roCompatVersion: UInt32 = 0

    static let doubleHashFlag: UInt32 = 0x08, encryptionFlag: UInt32 = 0x10, authenticationFlag: UInt32 = 0x20
    /// `key_max_inode_size` for the simple key format: 2^29 blocks of 4 KiB.
    public let maxFileSize: UInt64 = UInt64(1) << 41

    init(lebSize: Int, lebCount: Int) {
        self.lebSize = lebSize
        self.lebCount = lebCount
    }

    public var mainFirst: Int { UBIFSMedia.logLEB + logLEBs + lptLEBs + orphanLEBs }
    public var bigLPT: Bool { flags & UBIFSMedia.bigLPTFlag != 0 }
    public var uuidText: String {
        let h = hexString(uuid)
        guard h.count == 32 else { return h }
        let c = Array(h)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(c[$0]) }.joined(separator: "-")
    }

    static func decode(_ b: [UInt8], source: UBIFSLEBSource, at: String) throws -> UBIFSSuperblock {
        var s = UBIFSSuperblock(lebSize: Int(UBIFSBytes.u32(b, 36)), lebCount: Int(UBIFSBytes.u32(b, 40)))
        s.keyHash = b[26]
        let keyFormat = b[27]
        s.flags = UBIFSBytes.u32(b, 28)
        s.minIOSize = Int(UBIFSBytes.u32(b, 32))
        s.maxLEBCount = Int(UBIFSBytes.u32(b, 44))
        s.maxBudBytes = UBIFSBytes.u64(b, 48)
        s.logLEBs = Int(UBIFSBytes.u32(b, 56))
        s.lptLEBs = Int(UBIFSBytes.u32(b, 60))
        s.orphanLEBs = Int(UBIFSBytes.u32(b, 64))
        let dataHeads = Int(UBIFSBytes.u32(b, 68))
        s.journalHeads = dataHeads + 2
        s.fanout = Int(UBIFSBytes.u32(b, 72))
        s.lsaveCount = Int(UBIFSBytes.u32(b, 76))
        s.formatVersion = UBIFSBytes.u32(b, 80)
        let compr = UBIFSBytes.u16(b, 84)
        s.reservedUID = UBIFSBytes.u32(b, 88)
        s.reservedGID = UBIFSBytes.u32(b, 92)
        s.reservedSize = UBIFSBytes.u64(b, 96)
        s.timeGranularity = UBIFSBytes.u32(b, 104)
        s.uuid = Array(b[108..<124])
        s.roCompatVersion = UBIFSBytes.u32(b, 124)
        func check(_ ok: Bool, _ what: @autoclosure () -> String) throws {
            if !ok { throw UBIFSFailure("\(at): superblock \(what())") }
        }
        try check(s.formatVersion == 4 || s.formatVersion == 5, "format version \(s.formatVersion): expected 4 or 5")
        try check(s.flags & (encryptionFlag | authenticationFlag) == 0, "flags \(hex(s.flags)): encrypted or authenticated UBIFS is not read")
        try check(s.lebSize == source.lebSize, "LEB size \(s.lebSize): expected \(source.lebSize) (the \(source.container.isEmpty ? "image's" : "UBI volume's"))")
        try check(s.minIOSize >= 1 && s.minIOSize <= s.lebSize && s.minIOSize.nonzeroBitCount == 1, "min I/O size \(s.minIOSize): expected a power of two up to the LEB size")
        try check(s.lebCount >= 1 && s.lebCount <= source.lebCount, "LEB count \(s.lebCount): expected 1…\(source.lebCount) (the LEBs there are)")
        try check(s.maxLEBCount >= s.lebCount, "max LEB count \(s.maxLEBCount): expected at least the LEB count \(s.lebCount)")
        try check(s.logLEBs >= UBIFSMedia.minLogLEBs && s.lptLEBs >= UBIFSMedia.minLPTLEBs && s.orphanLEBs >= UBIFSMedia.minOrphanLEBs,
            "log/LPT/orphan LEBs \(s.logLEBs)/\(s.lptLEBs)/\(s.orphanLEBs): expected at least \(UBIFSMedia.minLogLEBs)/\(UBIFSMedia.minLPTLEBs)/\(UBIFSMedia.minOrphanLEBs)")
        let (areas, o) = (s.logLEBs).addingReportingOverflow(s.lptLEBs &+ s.orphanLEBs)
        try check(!o && s.logLEBs <= 1 << 24 && s.lptLEBs <= 1 << 24 && s.orphanLEBs <= 1 << 24 && UBIFSMedia.logLEB + areas < s.lebCount,
            "log/LPT/orphan LEBs \(s.logLEBs)/\(s.lptLEBs)/\(s.orphanLEBs): expected a main area left of \(s.lebCount) LEBs")
        try check(dataHeads >= 1 && dataHeads <= 8, "journal heads \(dataHeads): expected 1")
        try check(s.fanout >= UBIFSMedia.minFanout && UBIFSMedia.indexNodeSize(children: min(s.fanout, 1 << 20)) <= s.lebSize, "fanout \(s.fanout): expected 3 or more, an index node that fits a LEB")
        try check(s.keyHash <= 1 && keyFormat == 0, "key hash \(s.keyHash), key format \(keyFormat): expected r5 (0) or test (1), simple keys (0)")
        guard let c = UBIFSMedia.Compressor(rawValue: compr) else { throw UBIFSFailure("\(at): superblock compressor \(compr): expected 0…3 (none, lzo, zlib, zstd)") }
        s.defaultCompressor = c
        try check(s.timeGranularity >= 1 && s.timeGranularity <= 1_000_000_000, "time granularity \(s.timeGranularity): expected 1…1000000000")
        return s
    }
}

/// The master node's fields a reader needs.
public struct UBIFSMaster: Sendable {
    public var sqnum: UInt64 = 0
    public var highestInode: UInt64 = 0
    public var commitNumber: UInt64 = 0
    public var flags: UInt32 = 0
    public var logLEB: UInt32 = 0
    public var rootLEB: UInt32 = 0
    public var rootOffset: UInt32 = 0
    public var rootLength: UInt32 = 0
    public var indexSize: UInt64 = 0
    public var totalFree: UInt64 = 0
    public var totalDirty: UInt64 = 0
    public var totalUsed: UInt64 = 0
    public var lebCount: UInt32 = 0
    public var emptyLEBs: UInt32 = 0
    public var indexLEBs: UInt32 = 0
    public var cleanlyUnmounted: Bool { flags & 1 == 0 }

    static func decode(_ b: [UInt8], _ sb: UBIFSSuperblock, lebs: Int, at: String) throws -> UBIFSMaster {
        var m = UBIFSMaster()
        m.sqnum = UBIFSBytes.u64(b, 8)
        m.highestInode = UBIFSBytes.u64(b, 24)
        m.commitNumber = UBIFSBytes.u64(b, 32)
        m.flags = UBIFSBytes.u32(b, 40)
        m.logLEB = UBIFSBytes.u32(b, 44)
        m.rootLEB = UBIFSBytes.u32(b, 48)
        m.rootOffset = UBIFSBytes.u32(b, 52)
        m.rootLength = UBIFSBytes.u32(b, 56)
        m.indexSize = UBIFSBytes.u64(b, 72)
        m.totalFree = UBIFSBytes.u64(b, 80)
        m.totalDirty = UBIFSBytes.u64(b, 88)
        m.totalUsed = UBIFSBytes.u64(b, 96)
        m.emptyLEBs = UBIFSBytes.u32(b, 156)
        m.indexLEBs = UBIFSBytes.u32(b, 160)
        m.lebCount = UBIFSBytes.u32(b, 164)
        let logRange = UBIFSMedia.logLEB..<(UBIFSMedia.logLEB + sb.logLEBs)
        guard logRange.contains(Int(m.logLEB)) else {
            throw UBIFSFailure("\(at): master node log LEB \(m.logLEB): expected \(logRange.lowerBound)…\(logRange.upperBound - 1)")
        }
        guard Int(m.rootLEB) >= sb.mainFirst, Int(m.rootLEB) < lebs, Int(m.rootOffset) % 8 == 0,
            Int(m.rootLength) >= UBIFSMedia.indexNodeSize(children: 1), Int(m.rootOffset) + Int(m.rootLength) <= sb.lebSize
        else {
            throw UBIFSFailure("\(at): master node index root LEB \(m.rootLEB):\(m.rootOffset) length \(m.rootLength): expected an index node inside the main area (LEB \(sb.mainFirst)…\(lebs - 1))")
        }
        return m
    }
}

extension UBIFSReader {
/// One entry of a UBIFS tree as read, independent of any listing model: what `rootfs ls` shows.
public struct Entry: Sendable, Equatable {
    public enum Kind: String, Sendable { case file, directory, symlink, charDevice = "char", blockDevice = "block", fifo, socket }
    public struct Xattr: Sendable, Equatable {
        public var name: String
        public var value: [UInt8]
    }

    /// `/` for the root, `/a/b` below it.
    public var path: String
    public var inode: UInt64
    public var kind: Kind
    /// Permission bits with setuid, setgid and sticky (`mode & 07777`).
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var mtime: Int64
    public var mtimeNanoseconds: UInt32
    public var size: UInt64
    public var nlink: UInt32
    /// A symlink's target.
    public var target: String = ""
    public var major: UInt32 = 0
    public var minor: UInt32 = 0
    public var xattrs: [Xattr] = []
}
}

/// An inode node, decoded and checked.
struct UBIFSInode {
    var number: UInt32
    var kind: UBIFSReader.Entry.Kind
    var mode: UInt32
    var uid: UInt32, gid: UInt32
    var mtime: Int64, mtimeNsec: UInt32
    var size: UInt64
    var nlink: UInt32
    var flags: UInt32
    var data: [UInt8]

    static func decode(_ b: [UInt8], at: String, maxSize: UInt64) throws -> UBIFSInode {
        let key = UBIFSBytes.key(b, UBIFSMedia.keyOffset)
        let dataLen = Int(UBIFSBytes.u32(b, UBIFSMedia.inoDataLen))
        guard dataLen <= UBIFSMedia.maxInodeData, UBIFSMedia.inodeNodeSize + dataLen == b.count else {
            throw UBIFSFailure("\(at): inode \(key.inode) data length \(dataLen) in a \(b.count)-byte node: expected 0…\(UBIFSMedia.maxInodeData) filling the node")
        }
        let mode = UBIFSBytes.u32(b, UBIFSMedia.inoMode)
        let kinds: [UInt32: UBIFSReader.Entry.Kind] = [0o100000: .file, 0o040000: .directory, 0o120000: .symlink, 0o020000: .charDevice, 0o060000: .blockDevice, 0o010000: .fifo, 0o140000: .socket]
        guard let kind = kinds[mode & 0o170000] else { throw UBIFSFailure("\(at): inode \(key.inode) mode \(String(mode, radix: 8)): expected a file type") }
        let size = UBIFSBytes.u64(b, UBIFSMedia.inoSize)
        guard size <= maxSize else { throw UBIFSFailure("\(at): inode \(key.inode) size \(size): expected at most \(maxSize)") }
        return UBIFSInode(
            number: key.inode, kind: kind, mode: mode & 0o7777, uid: UBIFSBytes.u32(b, UBIFSMedia.inoUID), gid: UBIFSBytes.u32(b, UBIFSMedia.inoGID),
            mtime: Int64(bitPattern: UBIFSBytes.u64(b, UBIFSMedia.inoMtimeSec)), mtimeNsec: UBIFSBytes.u32(b, UBIFSMedia.inoMtimeNsec), size: size,
            nlink: UBIFSBytes.u32(b, UBIFSMedia.inoNlink), flags: UBIFSBytes.u32(b, UBIFSMedia.inoFlags), data: Array(b[UBIFSMedia.inodeNodeSize...]))
    }
}

extension UBIFSReader {
    /// Inode numbers and where each stands (index and journal merged).
    func effectiveInodes() -> [UInt32: UBIFSLocation] {
        var out: [UInt32: UBIFSLocation] = [:]
        for (n, loc) in indexedInodes where journal.indexedStands(.inode(UInt64(n))) && journal.lookup(.inode(UInt64(n))) == nil { out[n] = loc }
        for (k, v) in journal.plain where k.type == UBIFSMedia.KeyType.inode.rawValue {
            if let loc = v { out[k.inode] = loc } else { out[k.inode] = nil }
        }
        return out
    }

    /// Directory and xattr entries that stand, by the inode they belong to.
    func effectiveEntries() throws -> (dents: [UInt32: [UBIFSEntryNode]], xents: [UInt32: [UBIFSEntryNode]]) {
        var dents: [UInt32: [UBIFSEntryNode]] = [:], xents: [UInt32: [UBIFSEntryNode]] = [:]
        func add(_ e: UBIFSEntryNode) {
            if e.key.type == UBIFSMedia.KeyType.dent.rawValue { dents[e.key.inode, default: []].append(e) } else { xents[e.key.inode, default: []].append(e) }
        }
        for (k, loc) in indexedEntries where journal.indexedStands(k) {
            let e = try UBIFSEntryNode.decode(try node(loc), at: where_(loc.lnum, loc.offset))
            if journal.named[.init(key: k, name: e.name)] == nil, e.target != 0 { add(e) }
        }
        for (k, v) in journal.named {
            guard let loc = v else { continue }
            let e = try UBIFSEntryNode.decode(try node(loc), at: where_(loc.lnum, loc.offset))
            if e.key == k.key { add(e) }
        }
        return (dents, xents)
    }

    func inode(_ n: UInt32, _ inodes: [UInt32: UBIFSLocation], for path: String) throws -> UBIFSInode {
        guard let loc = inodes[n] else { throw UBIFSFailure("\(name): \(path) names inode \(n): expected an inode node for it, found none") }
        let at = where_(loc.lnum, loc.offset)
        return try UBIFSInode.decode(try node(loc, type: .inode), at: at, maxSize: superblock.maxFileSize)
    }

    /// Every entry from the root down, each directory's children in name order.
    public func entries() throws -> [UBIFSReader.Entry] {
        let inodes = effectiveInodes()
        let (dents, xents) = try effectiveEntries()
        var out: [UBIFSReader.Entry] = []
        var seenDirs = Set<UInt32>()
        var stack: [(path: String, inode: UInt32)] = [("/", UInt32(UBIFSMedia.rootInode))]
        while let (path, n) = stack.popLast() {
            let ino = try inode(n, inodes, for: path)
            var e = UBIFSReader.Entry(
                path: path, inode: UInt64(n), kind: ino.kind, mode: ino.mode, uid: ino.uid, gid: ino.gid, mtime: ino.mtime, mtimeNanoseconds: ino.mtimeNsec,
                size: ino.kind == .file ? ino.size : 0, nlink: ino.nlink)
            if path == "/" && ino.kind != .directory { throw UBIFSFailure("\(name): the root inode is a \(ino.kind.rawValue): expected a directory") }
            switch ino.kind {
            case .symlink: e.target = String(decoding: ino.data, as: UTF8.self)
            case .charDevice, .blockDevice:
                guard let d = UBIFSMedia.decodeDevice(ino.data) else {
                    throw UBIFSFailure("\(name): \(path): device number of \(ino.data.count) bytes: expected 4 or 8")
                }
                (e.major, e.minor) = d
            default: break
            }
            for x in (xents[n] ?? []).sorted(by: { $0.name.lexicographicallyPrecedes($1.name) }) {
                let xi = try inode(UInt32(truncatingIfNeeded: x.target), inodes, for: "\(path) xattr \(String(decoding: x.name, as: UTF8.self))")
                e.xattrs.append(.init(name: String(decoding: x.name, as: UTF8.self), value: xi.data))
            }
            out.append(e)
            guard ino.kind == .directory else { continue }
            guard seenDirs.insert(n).inserted else { throw UBIFSFailure("\(name): \(path): directory inode \(n) reached a second time: expected a tree") }
            let children = (dents[n] ?? []).sorted { $0.name.lexicographicallyPrecedes($1.name) }
            for c in children.reversed() {
                guard c.target <= UInt64(UInt32.max) else { throw UBIFSFailure("\(name): \(path): entry names inode \(c.target): expected a 32-bit inode number") }
                let child = (path == "/" ? "/" : path + "/") + String(decoding: c.name, as: UTF8.self)
                stack.append((child, UInt32(c.target)))
            }
        }
        return out
    }

    /// Streams the content of the regular file `entry` to `body` in pieces of at most 64 KiB, holes
    /// as zeros; every data node's CRC, key and compressed stream are checked.
    public func readFile(_ entry: UBIFSReader.Entry, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard entry.kind == .file, entry.size > 0 else { return }
        let n = UInt32(truncatingIfNeeded: entry.inode)
        let size = entry.size
        let bs = UInt64(UBIFSMedia.blockSize)
        var next: UInt64 = 0  // the next byte to hand out
        let zeros = [UInt8](repeating: 0, count: 1 << 16)
        var block = [UInt8](repeating: 0, count: UBIFSMedia.blockSize)
        func zeroFill(to end: UInt64) throws {
            while next < end {
                let c = Int(min(UInt64(zeros.count), end - next))
                try zeros.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<c])) }
                next += UInt64(c)
            }
        }
        func emit(_ b: UInt32, _ loc: UBIFSLocation) throws {
            let start = UInt64(b) * bs
            guard start >= next, start < size else { return }
            try zeroFill(to: start)
            let got = try dataBlock(loc, inode: n, block: b, into: &block)
            let count = Int(min(bs, size - start))
            // A node may hold more than the file's size leaves of its block (the kernel ignores it).
            if got < count { for i in got..<count { block[i] = 0 } }
            try block.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            next = start + UInt64(count)
        }
        var merge = UBIFSJournal.DataMerge(journal, inode: n)
        if !journal.removedInodes.contains(n) {
            var seen = Set<UBIFSLocation>()
            let root = UBIFSLocation(lnum: Int(master.rootLEB), offset: Int(master.rootOffset), length: Int(master.rootLength))
            let range = UBIFSMedia.Key.data(UInt64(n), block: 0)...UBIFSMedia.Key.data(UInt64(n), block: 0x1FFF_FFFF)
            try walk(root, level: nil, seen: &seen, range: range) { k, loc in try merge.indexed(k.payload, loc, emit) }
        }
        try merge.finish(emit)
        try zeroFill(to: size)
    }

    /// Reads the data node at `loc` (block `b` of inode `n`) into `block`; returns its byte count.
    func dataBlock(_ loc: UBIFSLocation, inode n: UInt32, block b: UInt32, into block: inout [UInt8]) throws -> Int {
        let d = try node(loc, type: .data)
        let at = where_(loc.lnum, loc.offset)
        let key = UBIFSBytes.key(d, UBIFSMedia.keyOffset)
        guard key == .data(UInt64(n), block: b) else { throw UBIFSFailure("\(at): data node key \(Self.describe(key)): expected \(Self.describe(.data(UInt64(n), block: b)))") }
        let size = Int(UBIFSBytes.u32(d, UBIFSMedia.dataSize))
        let ct = UBIFSBytes.u16(d, UBIFSMedia.dataComprType)
        guard size <= UBIFSMedia.blockSize else { throw UBIFSFailure("\(at): data node size \(size): expected at most \(UBIFSMedia.blockSize)") }
        guard let c = UBIFSMedia.Compressor(rawValue: ct) else { throw UBIFSFailure("\(at): data node compressor \(ct): expected 0…3 (none, lzo, zlib, zstd)") }
        let problem = d.withUnsafeBytes { src in
            block.withUnsafeMutableBytes { dst in
                UBIFSDecompress.decompress(c, UnsafeRawBufferPointer(rebasing: src[UBIFSMedia.dataNodeSize...]), into: UnsafeMutableRawBufferPointer(rebasing: dst[0..<size]))
            }
        }
        if let problem { throw UBIFSFailure("\(at): data node (inode \(n) block \(b), \(c.name)): \(problem)") }
        return size
    }
}
