import FlashsmithCore

/// UBIFS on-flash nodes (Linux `fs/ubifs/ubifs-media.h`, format version 4), all little-endian.
/// Every node starts with the common header and is 8-byte aligned; its CRC-32 (seed 0xffffffff, no
/// final inversion, as UBI's) covers the node from byte 8 to its length.
/// ```
/// Common header (24)          inode node (160 + data)           directory/xattr entry (56 + name + NUL)
///  0 magic 0x06101831 u32      24 key[16] (ino key)              24 key[16] (dent/xent key)
///  4 crc               u32     40 creat_sqnum u64                40 inum        u64
///  8 sqnum             u64     48 size        u64                48 padding1    u8
/// 16 len               u32     56 atime/ctime/mtime sec u64×3    49 type        u8 (UBIFS_ITYPE_*)
/// 20 node_type         u8      80 atime/ctime/mtime nsec u32×3   50 nlen        u16
/// 21 group_type        u8      92 nlink u32   96 uid   100 gid   52 cookie/pad  u32
/// 22 padding[2]               104 mode        108 flags          56 name[nlen] NUL
///                             112 data_len    116 xattr_cnt
/// data node (48 + data)       120 xattr_size  124 padding1[4]   index node (28 + branches)
/// 24 key[16] (data key)       128 xattr_names 132 compr_type u16  24 child_cnt u16
/// 40 size       u32 (bytes    134 padding2[26]                    26 level     u16
///    before compression)      160 data (symlink target, device)  28 branch: lnum u32, offs u32, len u32, key[8]
/// 44 compr_type u16
/// 46 padding[2]   48 data      padding node (28): 24 pad_len u32, then pad_len zero bytes
///
/// Keys ("simple" format, 8 bytes used of 16): u32 inode number, u32 (type << 29 | block or name hash)
/// ```
/// Superblock (LEB 0, 4096 bytes), master node (LEBs 1 and 2, 512 bytes), commit start and reference
/// nodes of the log are written by ``UBIFSWriter``; their field offsets are below.
public enum UBIFSMedia {
    public static let magic: UInt32 = 0x0610_1831
    public static let formatVersion: UInt32 = 4
    public static let crcInit: UInt32 = 0xFFFF_FFFF
    public static let minLEBSize = 15 * 1024
    public static let maxLEBSize = 2 * 1024 * 1024
    public static let minCompressLength = 128
    public static let rootInode: UInt64 = 1
    public static let firstInode: UInt64 = 64
    public static let maxNameLength = 255
    public static let blockSize = 4096
    public static let blockShift = 12
    public static let paddingByte: UInt8 = 0xCE
    public static let keyLength = 8
    public static let maxKeyLength = 16
    public static let minFanout = 3
    public static let maxInodeData = 4096
    public static let timeGranularity: UInt32 = 1_000_000_000

    // LEB areas.
    public static let superblockLEB = 0
    public static let masterLEB = 1
    public static let masterLEBs = 2
    public static let logLEB = 3
    public static let minLogLEBs = 2
    public static let minLPTLEBs = 2
    public static let minOrphanLEBs = 1
    public static let minMainLEBs = 9
    public static let minLEBCount = 1 + 2 + 2 + 2 + 1 + 9

    // Node sizes.
    public static let commonHeaderSize = 24
    public static let inodeNodeSize = 160
    public static let dataNodeSize = 48
    public static let dentNodeSize = 56
    public static let padNodeSize = 28
    public static let superblockNodeSize = 4096
    public static let masterNodeSize = 512
    public static let refNodeSize = 64
    public static let indexNodeSize = 28
    public static let commitStartNodeSize = 32
    public static let orphanNodeSize = 32
    public static let branchSize = 12
    public static let maxDataNodeSize = dataNodeSize + blockSize
    public static let maxNodeSize = inodeNodeSize + maxInodeData
    /// `MIN_WRITE_SZ`: the smallest node a LEB's free space must hold to count as usable.
    public static let minWriteSize = dataNodeSize + 8

    public enum NodeType: UInt8, Sendable, CaseIterable {
        case inode = 0, data, dent, xent, truncation, padding, superblock, master, reference, index, commitStart, orphan
        public var name: String {
            ["inode", "data", "dent", "xent", "trun", "pad", "sb", "mst", "ref", "idx", "cs", "orph"][Int(rawValue)]
        }
    }

    public enum KeyType: UInt32, Sendable { case inode = 0, data, dent, xent }

    /// `UBIFS_ITYPE_*`: the type a directory entry records.
    public enum InodeType: UInt8, Sendable { case regular = 0, directory, symlink, block, char, fifo, socket }

    public enum Compressor: UInt16, Sendable, CaseIterable {
        case none = 0, lzo, zlib, zstd
        public var name: String { ["none", "lzo", "zlib", "zstd"][Int(rawValue)] }
    }

    // Inode flags.
    public static let compressFlag: UInt32 = 0x01
    public static let xattrFlag: UInt32 = 0x20
    // Superblock flags.
    public static let bigLPTFlag: UInt32 = 0x02
    public static let spaceFixupFlag: UInt32 = 0x04
    // Master node flags.
    public static let masterNoOrphans: UInt32 = 0x02
    // LEB properties flag of an index LEB (`LPROPS_INDEX`).
    public static let lpropsIndex: UInt32 = 0x20

    // Common header fields.
    static let chMagic = 0, chCRC = 4, chSqnum = 8, chLen = 16, chType = 20, chGroup = 21
    // Keyed nodes: the key is at 24 in every one.
    public static let keyOffset = 24
    // Inode node fields.
    static let inoCreatSqnum = 40, inoSize = 48, inoAtimeSec = 56, inoCtimeSec = 64, inoMtimeSec = 72
    static let inoAtimeNsec = 80, inoCtimeNsec = 84, inoMtimeNsec = 88, inoNlink = 92, inoUID = 96, inoGID = 100
    static let inoMode = 104, inoFlags = 108, inoDataLen = 112, inoXattrCnt = 116, inoXattrSize = 120
    static let inoXattrNames = 128, inoComprType = 132
    // Directory / xattr entry fields.
    static let dentInum = 40, dentType = 49, dentNlen = 50, dentName = 56
    // Data node fields.
    static let dataSize = 40, dataComprType = 44
    // Index node fields.
    static let idxChildCount = 24, idxLevel = 26, idxBranches = 28
    // Padding node field.
    static let padLen = 24

    /// The CRC every node carries: over bytes 8..<len.
    public static func crc(_ buffer: UnsafeRawBufferPointer) -> UInt32 { CRC32.raw(buffer, seed: crcInit) }

    /// `ALIGN(x, a)` for a power-of-two or any positive `a`.
    @inlinable public static func align(_ x: Int, _ a: Int) -> Int { (x + a - 1) / a * a }

    /// `CALC_DENT_SIZE`: what one entry adds to its directory's size (and an xattr's name to its host's xattr_size).
    public static func dentSize(nameLength: Int) -> Int { align(dentNodeSize + nameLength + 1, 8) }
    /// `CALC_XATTR_BYTES`: what one xattr's value adds to its host's xattr_size.
    public static func xattrBytes(dataLength: Int) -> Int { align(inodeNodeSize + dataLength + 1, 8) }
    /// An index node with `children` branches.
    public static func indexNodeSize(children: Int) -> Int { indexNodeSize + (branchSize + keyLength) * children }

    // MARK: Keys

    /// A UBIFS key: the inode number and the type with the block number or the name's hash.
    public struct Key: Sendable, Hashable, Comparable {
        public var inode: UInt32
        public var low: UInt32
        public init(inode: UInt32, low: UInt32) {
            self.inode = inode
            self.low = low
        }
        public static func inode(_ n: UInt64) -> Key { Key(inode: UInt32(truncatingIfNeeded: n), low: KeyType.inode.rawValue << 29) }
        public static func data(_ n: UInt64, block: UInt32) -> Key { Key(inode: UInt32(truncatingIfNeeded: n), low: block & 0x1FFF_FFFF | KeyType.data.rawValue << 29) }
        public static func entry(_ n: UInt64, hash: UInt32, type: KeyType) -> Key { Key(inode: UInt32(truncatingIfNeeded: n), low: hash | type.rawValue << 29) }
        public var type: UInt32 { low >> 29 }
        public var payload: UInt32 { low & 0x1FFF_FFFF }
        public static func < (a: Key, b: Key) -> Bool { (a.inode, a.low) < (b.inode, b.low) }
    }

    /// Name hashes (`-k r5`, the default, and `-k test`), masked so 0…2 stay reserved for `.`,
    /// `..` and the end-of-readdir marker.
    public enum KeyHash: UInt8, Sendable, CaseIterable {
        case r5 = 0, test = 1
        public var name: String { self == .r5 ? "r5" : "test" }

        public func hash(_ name: some Collection<UInt8>) -> UInt32 {
            var a: UInt32 = 0
            switch self {
            case .r5:
                // reiserfs's r5 over *signed* chars, as the kernel computes it.
                for byte in name {
                    let s = Int32(Int8(bitPattern: byte))
                    a = a &+ UInt32(bitPattern: s << 4)
                    a = a &+ UInt32(bitPattern: s >> 4)
                    a = a &* 11
                }
            case .test:
                for (i, byte) in name.prefix(4).enumerated() { a |= UInt32(byte) << (8 * UInt32(i)) }
            }
            a &= 0x1FFF_FFFF
            return a <= 2 ? a + 3 : a
        }
    }

    // MARK: Writing nodes

    /// Stores `value` little-endian at `offset` of `p`.
    @inlinable static func put<T: FixedWidthInteger>(_ p: UnsafeMutableRawBufferPointer, _ offset: Int, _ value: T) {
        p.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    }

    static func putKey(_ p: UnsafeMutableRawBufferPointer, _ offset: Int, _ key: Key) {
        put(p, offset, key.inode)
        put(p, offset + 4, key.low)
    }

    /// Fills the common header of the node in `p[0..<len]` and its CRC.
    public static func seal(_ p: UnsafeMutableRawBufferPointer, type: NodeType, length len: Int, sqnum: UInt64) {
        put(p, chMagic, magic)
        put(p, chSqnum, sqnum)
        put(p, chLen, UInt32(len))
        p[chType] = type.rawValue
        p[chGroup] = 0
        p[22] = 0
        p[23] = 0
        put(p, chCRC, crc(UnsafeRawBufferPointer(rebasing: p[8..<len])))
    }

    /// `ubifs_pad`: `count` bytes at `p` made a padding node (or padding bytes when fewer than a
    /// padding node's 28 fit), so a scan steps over them.
    public static func pad(_ p: UnsafeMutableRawBufferPointer, count: Int) {
        guard count > 0 else { return }
        guard count >= padNodeSize else {
            for i in 0..<count { p[i] = paddingByte }
            return
        }
        for i in 0..<count { p[i] = 0 }
        put(p, padLen, UInt32(count - padNodeSize))
        seal(p, type: .padding, length: padNodeSize, sqnum: 0)
    }

    /// The fields of an inode node the writer sets.
    public struct Inode: Sendable {
        public var number: UInt64
        public var creationSqnum: UInt64 = 0
        public var size: UInt64 = 0
        public var mtime: Int64 = 0
        public var nlink: UInt32 = 1
        public var uid: UInt32 = 0
        public var gid: UInt32 = 0
        /// `st_mode`: type and permission bits.
        public var mode: UInt32
        public var flags: UInt32 = 0
        public var xattrCount: UInt32 = 0
        public var xattrSize: UInt32 = 0
        public var xattrNames: UInt32 = 0
        public var compressor: Compressor = .none
        /// Symlink target, device number, or an xattr's value.
        public var data: [UInt8] = []
        public init(number: UInt64, mode: UInt32) {
            self.number = number
            self.mode = mode
        }
    }

    /// The inode node for `i` (unsealed: ``seal(_:type:length:sqnum:)`` fills its header).
    public static func inodeNode(_ i: Inode) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: inodeNodeSize + i.data.count)
        b.withUnsafeMutableBytes { p in
            putKey(p, keyOffset, .inode(i.number))
            put(p, inoCreatSqnum, i.creationSqnum)
            put(p, inoSize, i.size)
            for field in [inoAtimeSec, inoCtimeSec, inoMtimeSec] { put(p, field, i.mtime) }
            put(p, inoNlink, i.nlink)
            put(p, inoUID, i.uid)
            put(p, inoGID, i.gid)
            put(p, inoMode, i.mode)
            put(p, inoFlags, i.flags)
            put(p, inoDataLen, UInt32(i.data.count))
            put(p, inoXattrCnt, i.xattrCount)
            put(p, inoXattrSize, i.xattrSize)
            put(p, inoXattrNames, i.xattrNames)
            put(p, inoComprType, i.compressor.rawValue)
            if !i.data.isEmpty { p.baseAddress!.advanced(by: inodeNodeSize).copyMemory(from: i.data, byteCount: i.data.count) }
        }
        return b
    }

    /// A directory entry (or, with an xent key, an xattr entry) naming `target`.
    public static func entryNode(key: Key, name: [UInt8], target: UInt64, type: InodeType) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: dentNodeSize + name.count + 1)
        b.withUnsafeMutableBytes { p in
            putKey(p, keyOffset, key)
            put(p, dentInum, target)
            p[dentType] = type.rawValue
            put(p, dentNlen, UInt16(name.count))
            p.baseAddress!.advanced(by: dentName).copyMemory(from: name, byteCount: name.count)
        }
        return b
    }

    /// A data node header for block `key` holding `size` bytes before compression; the stored
    /// bytes follow it.
    public static func dataNodeHeader(_ p: UnsafeMutableRawBufferPointer, key: Key, size: Int, compressor: Compressor) {
        for i in 0..<dataNodeSize { p[i] = 0 }
        putKey(p, keyOffset, key)
        put(p, dataSize, UInt32(size))
        put(p, dataComprType, compressor.rawValue)
    }

    /// A branch of an index node: where the child is and its first key.
    public struct Branch: Sendable {
        public var key: Key
        public var lnum: UInt32
        public var offset: UInt32
        public var length: UInt32
        public init(key: Key, lnum: UInt32, offset: UInt32, length: UInt32) {
            self.key = key
            self.lnum = lnum
            self.offset = offset
            self.length = length
        }
    }

    public static func indexNode(level: Int, branches: [Branch]) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: indexNodeSize(children: branches.count))
        b.withUnsafeMutableBytes { p in
            put(p, idxChildCount, UInt16(branches.count))
            put(p, idxLevel, UInt16(level))
            var at = idxBranches
            for br in branches {
                put(p, at, br.lnum)
                put(p, at + 4, br.offset)
                put(p, at + 8, br.length)
                putKey(p, at + 12, br.key)
                at += branchSize + keyLength
            }
        }
        return b
    }

    /// The device number an inode of a device node carries: Linux's `huge_encode_dev`, 8 bytes,
    /// as mkfs.ubifs writes it (the kernel also reads the 4-byte `new_encode_dev` form it writes
    /// itself, but ubi_reader reads only this one).
    public static func encodeDevice(major: UInt32, minor: UInt32) -> [UInt8] {
        let v = UInt64((minor & 0xFF) | (major & 0xFFF) << 8 | (minor & ~0xFF) << 12)
        return withUnsafeBytes(of: v.littleEndian) { Array($0) }
    }

    /// `new_decode_dev`/`huge_decode_dev` for a 4- or 8-byte device number.
    public static func decodeDevice(_ b: some Collection<UInt8>) -> (major: UInt32, minor: UInt32)? {
        guard b.count == 4 || b.count == 8 else { return nil }
        var v: UInt32 = 0
        for (i, byte) in b.prefix(4).enumerated() { v |= UInt32(byte) << (8 * UInt32(i)) }
        return ((v & 0xFFF00) >> 8, (v & 0xFF) | ((v >> 12) & 0xFFF00))
    }
}

/// The CRC-16 the LPT's nodes carry (Linux `lib/crc16.c`: polynomial 0x8005 reflected, seed 0xffff,
/// no final inversion). Written here: zlib has no CRC-16, and the table is 256 constants.
public enum CRC16 {
    static let table: [UInt16] = (0..<256).map { n in
        var c = UInt16(n)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xA001 : c >> 1 }
        return c
    }

    public static func compute(_ bytes: UnsafeRawBufferPointer, seed: UInt16 = 0xFFFF) -> UInt16 {
        var crc = seed
        for byte in bytes { crc = (crc >> 8) ^ table[Int((crc ^ UInt16(byte)) & 0xFF)] }
        return crc
    }
}
