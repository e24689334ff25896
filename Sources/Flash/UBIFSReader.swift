import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// Reads a UBIFS image as Linux mounts it: the superblock, the newer master node, the index B-tree
/// from the master's root, then the journal (log and buds) replayed on top (``UBIFSJournal``), so an
/// image the kernel wrote and did not commit reads as the kernel sees it. Every node read has its
/// CRC checked; every length, count and offset is checked before it is used.
///
/// ```swift
/// let r = try UBIFSReader(path: "root.ubifs")            // or a UBI image; volume: "rootfs"
/// for e in try r.entries() { … }                          // UBIFSReader.Entry: path, type, mode, owner, …
/// try r.readFile(e) { chunk in sha.update(chunk) }        // streams the content, holes as zeros
/// ```
public final class UBIFSReader {
    public let source: UBIFSLEBSource
    public private(set) var superblock: UBIFSSuperblock
    public private(set) var master: UBIFSMaster
    /// What the journal holds: `buds` LEBs referred to by the log, `entries` nodes replayed.
    public private(set) var buds: [(lnum: Int, offset: Int, jhead: Int)] = []
    public private(set) var journal = UBIFSJournal()
    /// Problems that did not stop the read (a corrupt older master copy).
    public private(set) var problems: [String] = []
    var cache: [(lnum: Int, bytes: [UInt8])] = []
    let fd: Int32
    /// Index leaves other than data: inodes and entries, read in the first walk.
    var indexedInodes: [UInt32: UBIFSLocation] = [:]
    var indexedEntries: [(key: UBIFSMedia.Key, location: UBIFSLocation)] = []
    public private(set) var indexNodes = 0
    public private(set) var dataNodes = 0

    static let cachedLEBs = 8
    /// `UBIFS_MAX_LEVELS`.
    static let maxLevels = 512
    /// Node types the kernel defines beyond `NodeType` (authentication, signature).
    static let authNode: UInt8 = 12, sigNode: UInt8 = 13

    public convenience init(path: String, volume: String? = nil) throws {
        try self.init(try UBIFSLEBSource.open(path, volume: volume))
    }

    public init(_ source: UBIFSLEBSource) throws {
        self.source = source
        fd = try FileIO.openForReading(source.path, devices: true)
        // Set in order: the superblock's geometry is needed to read the rest.
        superblock = UBIFSSuperblock(lebSize: source.lebSize, lebCount: source.lebCount)
        master = UBIFSMaster()
        var masters: [UBIFSMaster] = []
        let sbBytes = try node(UBIFSLocation(lnum: 0, offset: 0, length: UBIFSMedia.superblockNodeSize), type: .superblock)
        superblock = try UBIFSSuperblock.decode(sbBytes, source: source, at: where_(0, 0))
        for lnum in UBIFSMedia.masterLEB..<(UBIFSMedia.masterLEB + UBIFSMedia.masterLEBs) {
            for n in try scan(lnum, from: 0, tolerant: true) where n.type == UBIFSMedia.NodeType.master.rawValue {
                let b = try node(n.location, type: .master)
                do { masters.append(try UBIFSMaster.decode(b, superblock, lebs: source.lebCount, at: where_(lnum, n.location.offset))) } catch let e as UBIFSFailure { problems.append(e.message) }
            }
        }
        guard let newest = masters.max(by: { $0.sqnum < $1.sqnum }) else {
            throw UBIFSFailure("\(name): LEB 1 and 2: expected a master node with a valid CRC, found none\(problems.isEmpty ? "" : " (\(problems[0]))")")
        }
        master = newest
        try walkIndex()
        try replayLog()
    }

    deinit { close(fd) }

    var name: String { source.container.isEmpty ? source.path : "\(source.path): \(source.container)" }

    func where_(_ lnum: Int, _ offset: Int) -> String { "\(name): LEB \(lnum):\(offset)" }

    // MARK: LEBs and nodes

    /// LEB `lnum`, whole (erased where nothing is mapped or the file ends).
    func leb(_ lnum: Int) throws -> [UInt8] {
        if let i = cache.firstIndex(where: { $0.lnum == lnum }) {
            let hit = cache.remove(at: i)
            cache.append(hit)
            return hit.bytes
        }
        guard lnum >= 0, lnum < source.lebCount else { throw UBIFSFailure("\(name): LEB \(lnum): expected a LEB below \(source.lebCount)") }
        var bytes = [UInt8](repeating: 0xFF, count: source.lebSize)
        if let base = source.offset(of: lnum) {
            var got = 0
            while got < bytes.count {
                let r = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, $0.count - got, off_t(base + got)) }
                if r < 0 && errno == EINTR { continue }
                if r < 0 { throw FileError.readFailed(path: source.path, offset: base + got, reason: FileIO.errnoText()) }
                if r == 0 {
                    // Past the end of the file: erased, as mkfs.ubifs leaves the tail unwritten.
                    for i in got..<bytes.count { bytes[i] = 0xFF }
                    break
                }
                got += r
            }
        }
        if cache.count >= Self.cachedLEBs { cache.removeFirst() }
        cache.append((lnum, bytes))
        return bytes
    }

    /// What is wrong with the node header at `offset` of `b` (magic, length, CRC), or nil.
    func headerProblem(_ b: [UInt8], _ offset: Int, length expected: Int? = nil) -> String? {
        guard offset >= 0, offset + UBIFSMedia.commonHeaderSize <= b.count else { return "expected a node header, found the end of the LEB" }
        let magic = UBIFSBytes.u32(b, offset)
        guard magic == UBIFSMedia.magic else { return "expected node magic 0x06101831, found \(hex(magic))" }
        let len = Int(UBIFSBytes.u32(b, offset + 16))
        guard len >= UBIFSMedia.commonHeaderSize, len <= b.count - offset else { return "node length \(len): expected \(UBIFSMedia.commonHeaderSize)…\(b.count - offset)" }
        if let expected, expected != len { return "node length \(len): expected \(expected) (as the index says)" }
        let type = b[offset + 20]
        if let r = Self.lengthRange(type), !r.contains(len) { return "\(Self.typeName(type)) node length \(len): expected \(r.lowerBound)…\(r.upperBound)" }
        let crc = b.withUnsafeBytes { UBIFSMedia.crc(UnsafeRawBufferPointer(rebasing: $0[(offset + 8)..<(offset + len)])) }
        let stored = UBIFSBytes.u32(b, offset + 4)
        guard crc == stored else { return "\(Self.typeName(type)) node CRC \(hex(stored)): expected \(hex(crc))" }
        return nil
    }

    static func typeName(_ t: UInt8) -> String {
        if let n = UBIFSMedia.NodeType(rawValue: t) { return n.name }
        return t == authNode ? "auth" : t == sigNode ? "sig" : "type-\(t)"
    }

    /// The lengths each node type may have (`ubifs_check_node`'s table).
    static func lengthRange(_ t: UInt8) -> ClosedRange<Int>? {
        guard let type = UBIFSMedia.NodeType(rawValue: t) else { return nil }
        switch type {
        case .inode: return UBIFSMedia.inodeNodeSize...UBIFSMedia.maxNodeSize
        case .data: return UBIFSMedia.dataNodeSize...UBIFSMedia.maxDataNodeSize
        case .dent, .xent: return (UBIFSMedia.dentNodeSize + 2)...(UBIFSMedia.dentNodeSize + UBIFSMedia.maxNameLength + 1)
        case .truncation: return 56...56
        case .padding: return UBIFSMedia.padNodeSize...UBIFSMedia.padNodeSize
        case .superblock: return UBIFSMedia.superblockNodeSize...UBIFSMedia.superblockNodeSize
        case .master: return UBIFSMedia.masterNodeSize...UBIFSMedia.masterNodeSize
        case .reference: return UBIFSMedia.refNodeSize...UBIFSMedia.refNodeSize
        case .index: return UBIFSMedia.indexNodeSize(children: 1)...Int.max
        case .commitStart: return UBIFSMedia.commitStartNodeSize...UBIFSMedia.commitStartNodeSize
        case .orphan: return UBIFSMedia.orphanNodeSize...Int.max
        }
    }

    /// The node at `loc`, checked (magic, length, type, CRC), as its own bytes.
    func node(_ loc: UBIFSLocation, type: UBIFSMedia.NodeType? = nil) throws -> [UInt8] {
        guard loc.lnum >= 0, loc.lnum < source.lebCount, loc.offset >= 0, loc.length >= UBIFSMedia.commonHeaderSize,
            loc.offset <= source.lebSize - loc.length, loc.offset % 8 == 0
        else {
            throw UBIFSFailure("\(where_(loc.lnum, loc.offset)): a node of \(loc.length) bytes: expected it inside a \(source.lebSize)-byte LEB of \(source.lebCount), 8-byte aligned")
        }
        let b = try leb(loc.lnum)
        if let p = headerProblem(b, loc.offset, length: loc.length) {
            let end = Int(lseek(fd, 0, SEEK_END))
            if let base = source.offset(of: loc.lnum), base + loc.offset >= end {
                throw UBIFSFailure("\(where_(loc.lnum, loc.offset)): expected a node, found the end of the file (\(end) bytes): truncated?")
            }
            throw UBIFSFailure("\(where_(loc.lnum, loc.offset)): \(p)")
        }
        if let type, b[loc.offset + 20] != type.rawValue {
            throw UBIFSFailure("\(where_(loc.lnum, loc.offset)): expected a \(type.name) node, found \(Self.typeName(b[loc.offset + 20]))")
        }
        return Array(b[loc.offset..<(loc.offset + loc.length)])
    }

    struct Scanned {
        var location: UBIFSLocation
        var type: UInt8
        var sqnum: UInt64
    }

    /// `ubifs_scan`: the nodes of LEB `lnum` from `from` up to the erased space (padding skipped).
    /// `tolerant`: a corrupt node ends the scan instead of failing it (the tail a power cut may leave).
    func scan(_ lnum: Int, from: Int, tolerant: Bool = false) throws -> [Scanned] {
        let b = try leb(lnum)
        var out: [Scanned] = []
        var offs = from
        while offs + 8 <= b.count {
            let magic = UBIFSBytes.u32(b, offs)
            if magic == 0xFFFF_FFFF { break }
            if magic != UBIFSMedia.magic {
                var n = 0
                while offs + n < b.count, b[offs + n] == UBIFSMedia.paddingByte { n += 1 }
                if n > 0 && n % 8 == 0 || offs + n == b.count && n > 0 {
                    offs += n
                    continue
                }
                if tolerant { break }
                throw UBIFSFailure("\(where_(lnum, offs)): expected a node (magic 0x06101831), padding or erased space, found \(hex(magic))")
            }
            if let p = headerProblem(b, offs) {
                if tolerant { break }
                throw UBIFSFailure("\(where_(lnum, offs)): \(p)")
            }
            let len = Int(UBIFSBytes.u32(b, offs + 16))
            let type = b[offs + 20]
            if type == UBIFSMedia.NodeType.padding.rawValue {
                let pad = Int(UBIFSBytes.u32(b, offs + 24))
                guard pad >= 0, pad <= b.count - offs - len, (len + pad) % 8 == 0 else {
                    if tolerant { break }
                    throw UBIFSFailure("\(where_(lnum, offs)): padding node of \(pad) bytes: expected it to end 8-byte aligned inside the LEB")
                }
                offs += len + pad
                continue
            }
            out.append(Scanned(location: UBIFSLocation(lnum: lnum, offset: offs, length: len), type: type, sqnum: UBIFSBytes.u64(b, offs + 8)))
            offs += UBIFSMedia.align(len, 8)
        }
        return out
    }

    // MARK: The index

    /// The first walk: every index node from the master's root (each reached once, levels going
    /// down one by one) and every leaf's CRC; inodes and entries are remembered.
    func walkIndex() throws {
        var seen = Set<UBIFSLocation>()
        let root = UBIFSLocation(lnum: Int(master.rootLEB), offset: Int(master.rootOffset), length: Int(master.rootLength))
        try walk(root, level: nil, seen: &seen, range: nil) { key, loc in
            let b = try self.node(loc)
            let t = b[20]
            let keyed: Set<UInt8> = [UBIFSMedia.NodeType.inode.rawValue, UBIFSMedia.NodeType.data.rawValue, UBIFSMedia.NodeType.dent.rawValue, UBIFSMedia.NodeType.xent.rawValue]
            guard keyed.contains(t) else { throw UBIFSFailure("\(self.where_(loc.lnum, loc.offset)): the index points to a \(Self.typeName(t)) node: expected an inode, data or entry node") }
            let own = UBIFSBytes.key(b, UBIFSMedia.keyOffset)
            guard own == key else {
                throw UBIFSFailure("\(self.where_(loc.lnum, loc.offset)): node key \(Self.describe(own)): expected \(Self.describe(key)) (as the index says)")
            }
            switch UBIFSMedia.KeyType(rawValue: key.type) {
            case .inode: self.indexedInodes[key.inode] = loc
            case .data: self.dataNodes += 1
            case .dent, .xent: self.indexedEntries.append((key, loc))
            case nil: throw UBIFSFailure("\(self.where_(loc.lnum, loc.offset)): key type \(key.type): expected 0…3")
            }
        }
    }

    static func describe(_ k: UBIFSMedia.Key) -> String {
        let t = ["inode", "data", "dent", "xent", "trun"].indices.contains(Int(k.type)) ? ["inode", "data", "dent", "xent", "trun"][Int(k.type)] : "type \(k.type)"
        return "(\(k.inode), \(t), \(hex(k.payload)))"
    }

    /// Visits the leaves under the index node at `loc` in key order; with `range`, only the
    /// branches that can hold keys in it. `seen` guards against an index node reached twice.
    func walk(
        _ loc: UBIFSLocation, level expected: Int?, seen: inout Set<UBIFSLocation>, range: ClosedRange<UBIFSMedia.Key>?,
        _ leaf: (UBIFSMedia.Key, UBIFSLocation) throws -> Void
    ) throws {
        guard loc.lnum >= superblock.mainFirst else {
            throw UBIFSFailure("\(where_(loc.lnum, loc.offset)): an index node: expected it in the main area (LEB \(superblock.mainFirst) on)")
        }
        let b = try node(loc, type: .index)
        if range == nil {
            guard seen.insert(loc).inserted else { throw UBIFSFailure("\(where_(loc.lnum, loc.offset)): index node reached twice: expected a tree") }
            indexNodes += 1
        }
        let count = Int(UBIFSBytes.u16(b, UBIFSMedia.idxChildCount))
        let level = Int(UBIFSBytes.u16(b, UBIFSMedia.idxLevel))
        let branch = UBIFSMedia.branchSize + UBIFSMedia.keyLength
        guard count >= 1, count <= superblock.fanout, UBIFSMedia.indexNodeSize + count * branch <= b.count else {
            throw UBIFSFailure("\(where_(loc.lnum, loc.offset)): index node with \(count) branches in \(b.count) bytes: expected 1…\(superblock.fanout) that fit")
        }
        guard level < Self.maxLevels, expected == nil || expected == level else {
            throw UBIFSFailure("\(where_(loc.lnum, loc.offset)): index node level \(level): expected \(expected.map(String.init) ?? "below \(Self.maxLevels)")")
        }
        var branches: [(UBIFSMedia.Key, UBIFSLocation)] = []
        for i in 0..<count {
            let at = UBIFSMedia.idxBranches + i * branch
            let l = UBIFSLocation(lnum: Int(UBIFSBytes.u32(b, at)), offset: Int(UBIFSBytes.u32(b, at + 4)), length: Int(UBIFSBytes.u32(b, at + 8)))
            let k = UBIFSBytes.key(b, at + 12)
            if let prev = branches.last?.0, k < prev {
                throw UBIFSFailure("\(where_(loc.lnum, loc.offset)): branch \(i) key \(Self.describe(k)): expected at least \(Self.describe(prev)) (keys in order)")
            }
            branches.append((k, l))
        }
        for (i, (k, l)) in branches.enumerated() {
            if let range {
                // Branch i holds keys from its own up to the next branch's (equal keys may straddle).
                if k > range.upperBound { break }
                if i + 1 < branches.count, branches[i + 1].0 < range.lowerBound { continue }
            }
            if level == 0 {
                if let range, !range.contains(k) { continue }
                try leaf(k, l)
            } else {
                try walk(l, level: level - 1, seen: &seen, range: range, leaf)
            }
        }
    }

    // MARK: The journal

    /// `ubifs_replay_journal`: the log from the master's log LEB (a commit-start node first, then
    /// reference nodes naming buds), then every bud's nodes, applied by sequence number.
    func replayLog() throws {
        let sb = superblock
        let head = Int(master.logLEB)
        var lnum = head
        var csSqnum: UInt64 = 0
        repeat {
            let nodes = try scan(lnum, from: 0)
            guard let first = nodes.first else {
                if lnum == head { throw UBIFSFailure("\(where_(lnum, 0)): expected the log's commit-start node, found erased space") }
                break
            }
            if csSqnum == 0 {
                guard first.type == UBIFSMedia.NodeType.commitStart.rawValue else {
                    throw UBIFSFailure("\(where_(lnum, first.location.offset)): expected the log's commit-start node, found a \(Self.typeName(first.type)) node")
                }
                let cs = try node(first.location, type: .commitStart)
                let cmt = UBIFSBytes.u64(cs, 24)
                guard cmt == master.commitNumber else {
                    throw UBIFSFailure("\(where_(lnum, 0)): commit-start node commit number \(cmt): expected \(master.commitNumber) (the master's)")
                }
                csSqnum = first.sqnum
            }
            if first.sqnum < csSqnum { break }
            guard first.location.offset == 0 else { throw UBIFSFailure("\(where_(lnum, first.location.offset)): expected the first log node at offset 0") }
            for n in nodes {
                guard n.sqnum >= csSqnum else {
                    throw UBIFSFailure("\(where_(lnum, n.location.offset)): log node sequence number \(n.sqnum): expected at least \(csSqnum) (the commit start's)")
                }
                switch UBIFSMedia.NodeType(rawValue: n.type) {
                case .reference: try addBud(n)
                case .commitStart:
                    guard n.location.offset == 0 else { throw UBIFSFailure("\(where_(lnum, n.location.offset)): a commit-start node: expected it at offset 0") }
                default:
                    throw UBIFSFailure("\(where_(lnum, n.location.offset)): expected a reference or commit-start node in the log, found a \(Self.typeName(n.type)) node")
                }
            }
            lnum = lnum + 1 == UBIFSMedia.logLEB + sb.logLEBs ? UBIFSMedia.logLEB : lnum + 1
        } while lnum != head
        var entries: [UBIFSJournal.Entry] = []
        for (i, bud) in buds.enumerated() {
            let last = !buds[(i + 1)...].contains { $0.jhead == bud.jhead }
            try replayBud(bud.lnum, from: bud.offset, tolerant: last && master.flags & Self.masterDirty != 0, into: &entries)
        }
        journal = UBIFSJournal(entries)
    }

    /// `UBIFS_MST_DIRTY`: the volume was not unmounted cleanly (its last buds may end torn).
    static let masterDirty: UInt32 = 1

    /// `validate_ref` and `add_replay_bud`.
    func addBud(_ n: Scanned) throws {
        let ref = try node(n.location, type: .reference)
        let lnum = Int(UBIFSBytes.u32(ref, 24)), offs = Int(UBIFSBytes.u32(ref, 28)), jhead = Int(UBIFSBytes.u32(ref, 32))
        guard jhead < superblock.journalHeads, lnum >= superblock.mainFirst, lnum < source.lebCount, offs <= superblock.lebSize, offs % superblock.minIOSize == 0 else {
            throw UBIFSFailure(
                "\(where_(n.location.lnum, n.location.offset)): reference to bud LEB \(lnum):\(offs) head \(jhead): expected a main-area LEB (\(superblock.mainFirst)…\(source.lebCount - 1)), an offset aligned to \(superblock.minIOSize) inside it, a head below \(superblock.journalHeads)"
            )
        }
        if let b = buds.first(where: { $0.lnum == lnum }) {
            if b.jhead == jhead && b.offset <= offs { return }
            throw UBIFSFailure("\(where_(n.location.lnum, n.location.offset)): bud LEB \(lnum):\(offs) referred to twice")
        }
        buds.append((lnum, offs, jhead))
    }

    /// `replay_bud`: the bud's inode, data, entry and truncation nodes as journal entries.
    func replayBud(_ lnum: Int, from offs: Int, tolerant: Bool, into entries: inout [UBIFSJournal.Entry]) throws {
        for n in try scan(lnum, from: offs, tolerant: tolerant) {
            let b = try node(n.location)
            let at = where_(lnum, n.location.offset)
            switch UBIFSMedia.NodeType(rawValue: n.type) {
            case .inode:
                let k = UBIFSBytes.key(b, UBIFSMedia.keyOffset)
                guard k.type == UBIFSMedia.KeyType.inode.rawValue else { throw UBIFSFailure("\(at): inode node key \(Self.describe(k)): expected an inode key") }
                entries.append(.init(sqnum: n.sqnum, .node(k, UBIFSBytes.u32(b, UBIFSMedia.inoNlink) == 0 ? nil : n.location)))
            case .data:
                let k = UBIFSBytes.key(b, UBIFSMedia.keyOffset)
                guard k.type == UBIFSMedia.KeyType.data.rawValue else { throw UBIFSFailure("\(at): data node key \(Self.describe(k)): expected a data key") }
                entries.append(.init(sqnum: n.sqnum, .node(k, n.location)))
            case .dent, .xent:
                let e = try UBIFSEntryNode.decode(b, at: at)
                entries.append(.init(sqnum: n.sqnum, .entry(e.key, name: e.name, target: e.target, n.location)))
            case .truncation:
                let inode = UBIFSBytes.u32(b, 24), old = UBIFSBytes.u64(b, 40), new = UBIFSBytes.u64(b, 48)
                guard old > new, old <= superblock.maxFileSize else {
                    throw UBIFSFailure("\(at): truncation of inode \(inode) from \(old) to \(new) bytes: expected a smaller new size, sizes up to \(superblock.maxFileSize)")
                }
                entries.append(.init(sqnum: n.sqnum, .truncation(inode: inode, oldSize: old, newSize: new)))
            default:
                if n.type == Self.authNode { continue }
                throw UBIFSFailure("\(at): expected an inode, data, entry or truncation node in a bud, found a \(Self.typeName(n.type)) node")
            }
        }
    }
}

/// A directory or xattr entry node, decoded and checked (`ubifs_validate_entry`).
struct UBIFSEntryNode {
    var key: UBIFSMedia.Key
    var name: [UInt8]
    var target: UInt64
    var type: UInt8

    static func decode(_ b: [UInt8], at: String) throws -> UBIFSEntryNode {
        let key = UBIFSBytes.key(b, UBIFSMedia.keyOffset)
        let nlen = Int(UBIFSBytes.u16(b, UBIFSMedia.dentNlen))
        let type = b[UBIFSMedia.dentType]
        guard nlen >= 1, nlen <= UBIFSMedia.maxNameLength, UBIFSMedia.dentNodeSize + nlen + 1 == b.count, b[UBIFSMedia.dentName + nlen] == 0 else {
            throw UBIFSFailure("\(at): entry name of \(nlen) bytes in a \(b.count)-byte node: expected 1…255 bytes, NUL-terminated, filling the node")
        }
        let name = Array(b[UBIFSMedia.dentName..<(UBIFSMedia.dentName + nlen)])
        guard !name.contains(0), !name.contains(UInt8(ascii: "/")) || key.type == UBIFSMedia.KeyType.xent.rawValue else {
            throw UBIFSFailure("\(at): entry name \(String(decoding: name, as: UTF8.self).debugDescription): expected no NUL or '/'")
        }
        guard key.type == UBIFSMedia.KeyType.dent.rawValue || key.type == UBIFSMedia.KeyType.xent.rawValue, type <= UBIFSMedia.InodeType.socket.rawValue else {
            throw UBIFSFailure("\(at): entry key type \(key.type), inode type \(type): expected an entry key and a type 0…6")
        }
        return UBIFSEntryNode(key: key, name: name, target: UBIFSBytes.u64(b, UBIFSMedia.dentInum), type: type)
    }
}
