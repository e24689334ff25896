import Crypto
import Dispatch
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// A UBIFS image (Linux `fs/ubifs`, format 4) written from a list of entries, laid out as
/// mkfs.ubifs lays it out (`ubifs-utils/mkfs.ubifs`), without a staging folder or root:
/// ```
/// LEB 0        superblock
/// LEB 1, 2     master node (two copies)
/// LEB 3…       log: a commit-start node, then empty LEBs           (log_lebs)
/// …            LEB properties tree (UBIFSLPT), then empty LEBs      (lpt_lebs)
/// …            orphan area, empty                                  (orph_lebs)
/// main_first…  data, inode and entry nodes, 8-byte aligned, each LEB padded to the min. I/O unit;
///              one empty LEB for the garbage collector; the index B-tree, bottom level first,
///              the root last
/// ```
/// Reproducible: inode numbers follow the entries' order, sequence numbers the order nodes are
/// written in, the UUID (unless given) is a hash of every node's CRC, the geometry and
/// `SOURCE_DATE_EPOCH`. Data blocks are compressed on every core in batches and laid out in
/// order, so the bytes do not depend on the number of threads and memory is a batch, not a file.
public struct UBIFSOptions: Sendable, Equatable {
    public enum Compression: String, Sendable, CaseIterable {
        case none, lzo, zlib, zstd
        case favorLZO = "favor_lzo"
    }

    public var minIOSize: Int
    public var lebSize: Int
    public var maxLEBCount: Int
    public var compression: Compression = .lzo
    /// `-X`: how much better zlib must do for favor_lzo to take it (1…99).
    public var favorLZOPercent = 20
    /// `-j`: the journal's size in bytes (default: an eighth of the main area, 4 LEBs … 8 MiB).
    public var journalSize: Int?
    /// `-l`: log LEBs (default: what the journal needs, plus 2).
    public var logLEBs: Int?
    /// `-p`: orphan-area LEBs.
    public var orphanLEBs = 1
    /// `-f`: index fanout.
    public var fanout = 8
    /// `-k`.
    public var keyHash: UBIFSMedia.KeyHash = .r5
    /// `-F`: the kernel fixes free space up at the first mount (for images programmed raw, where
    /// the empty pages of a LEB were written rather than left erased).
    public var spaceFixup = false
    /// `-R`: space reserved for root, before UBIFS's overhead is added.
    public var reservedBytes = 0
    public var uuid: [UInt8]?
    public var sourceDateEpoch: Int64 = 0
    /// LPT save-table entries (`lsave_cnt`).
    public var lsaveCount = 256

    public init(minIOSize: Int, lebSize: Int, maxLEBCount: Int) {
        self.minIOSize = minIOSize
        self.lebSize = lebSize
        self.maxLEBCount = maxLEBCount
    }

    var compressorMode: UBIFSCompressor.Mode {
        switch compression {
        case .none: return .none
        case .lzo: return .lzo
        case .zlib: return .zlib
        case .zstd: return .zstd
        case .favorLZO: return .favorLZO(percent: favorLZOPercent)
        }
    }

    /// The superblock's default compressor (favor_lzo records LZO, as mkfs.ubifs does).
    var defaultCompressor: UBIFSMedia.Compressor {
        switch compression {
        case .none: return .none
        case .lzo, .favorLZO: return .lzo
        case .zlib: return .zlib
        case .zstd: return .zstd
        }
    }
}

/// One entry of the tree, as the writer takes it (RootFS turns a manifest into these).
public struct UBIFSEntry: Sendable {
    public enum Kind: Sendable { case file, directory, symlink, charDevice, blockDevice, fifo, socket, hardlink }
    /// Streams a file's bytes to `body` in chunks.
    public typealias Content = @Sendable (_ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Void

    /// Absolute and normalised; "/" is the root. Parents come before their children.
    public var path: String
    public var kind: Kind
    /// Permission bits (07777).
    public var mode: UInt32
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public var mtime: Int64 = 0
    /// Sorted by name.
    public var xattrs: [(name: String, value: [UInt8])] = []
    /// A symlink's target, or the path of the file a hard link shares its inode with.
    public var target: String = ""
    public var major: UInt32 = 0
    public var minor: UInt32 = 0
    public var size: Int = 0
    public var content: Content?

    public init(path: String, kind: Kind, mode: UInt32) {
        self.path = path
        self.kind = kind
        self.mode = mode
    }
}

/// What was written, for reports and `--json`.
public struct UBIFSSummary: Sendable, Equatable {
    public var lebCount: Int
    public var maxLEBCount: Int
    public var lebSize: Int
    public var mainFirst: Int
    public var bigLPT: Bool
    public var lptLEBs: Int
    public var logLEBs: Int
    public var inodes: Int
    public var dataNodes: Int
    public var indexNodes: Int
    public var uuid: [UInt8]
    public var imageSize: Int { lebCount * lebSize }
    public var uuidString: String {
        let hex = uuid.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
        return [hex[0..<4], hex[4..<6], hex[6..<8], hex[8..<10], hex[10..<16]].map { $0.joined() }.joined(separator: "-")
    }
}

public enum UBIFSWriter {
    public struct Failure: FlashsmithError, Equatable {
        public var message: String
        public var category: ErrorCategory
        public var description: String { message }
        init(_ message: String, _ category: ErrorCategory = .data) {
            self.message = message
            self.category = category
        }
    }

    /// Writes `entries` as a UBIFS image to `path` (written beside and renamed).
    @discardableResult
    public static func write(_ entries: [UBIFSEntry], options: UBIFSOptions, to path: String) throws -> UBIFSSummary {
        let geometry = try Geometry(options)
        let plan = try Plan(entries, keyHash: options.keyHash)
        let out = try AtomicFile(destination: path, durable: false)
        var layout = Layout(geometry: geometry, fd: out.descriptor, path: path)
        let summary = try layout.run(plan, entries: entries)
        try out.commit()
        return summary
    }
}

// MARK: - Geometry

extension UBIFSWriter {
    /// The options checked as mkfs.ubifs checks them, and the areas they give.
    struct Geometry {
        let o: UBIFSOptions
        let maxBudBytes: Int
        let logLEBs: Int
        let lpt: UBIFSLPT
        let reserved: Int
        var lptFirst: Int { UBIFSMedia.logLEB + logLEBs }
        var orphanFirst: Int { lptFirst + lpt.lptLEBs }
        var mainFirst: Int { orphanFirst + o.orphanLEBs }
        var deadWatermark: Int { UBIFSMedia.align(UBIFSMedia.minWriteSize, o.minIOSize) }
        var darkWatermark: Int { UBIFSMedia.align(UBIFSMedia.maxNodeSize, o.minIOSize) }

        init(_ o: UBIFSOptions) throws {
            self.o = o
            func fail(_ m: String) -> Failure { Failure(m, .usage) }
            guard o.minIOSize > 0, o.minIOSize & (o.minIOSize - 1) == 0 else { throw fail("min. I/O unit \(o.minIOSize): expected a power of 2") }
            guard o.lebSize >= UBIFSMedia.minLEBSize, o.lebSize <= UBIFSMedia.maxLEBSize else {
                throw fail("LEB size \(o.lebSize): expected \(UBIFSMedia.minLEBSize)…\(UBIFSMedia.maxLEBSize) bytes")
            }
            guard o.lebSize % o.minIOSize == 0, o.lebSize % 8 == 0 else { throw fail("LEB size \(o.lebSize): expected a multiple of the min. I/O unit \(o.minIOSize) and of 8") }
            guard o.maxLEBCount >= UBIFSMedia.minLEBCount, o.maxLEBCount <= 1 << 24 else {
                throw fail("max. LEB count \(o.maxLEBCount): expected \(UBIFSMedia.minLEBCount)…\(1 << 24)")
            }
            let maxFanout = (o.lebSize - UBIFSMedia.indexNodeSize) / (UBIFSMedia.branchSize + UBIFSMedia.maxKeyLength)
            guard o.fanout >= UBIFSMedia.minFanout, o.fanout <= maxFanout else { throw fail("fanout \(o.fanout): expected \(UBIFSMedia.minFanout)…\(maxFanout)") }
            guard o.orphanLEBs >= UBIFSMedia.minOrphanLEBs else { throw fail("orphan LEBs \(o.orphanLEBs): expected at least \(UBIFSMedia.minOrphanLEBs)") }
            guard o.orphanLEBs < o.maxLEBCount - UBIFSMedia.minLEBCount else {
                throw fail("max. LEB count \(o.maxLEBCount): too few for \(o.orphanLEBs) orphan LEB(s): expected at least \(UBIFSMedia.minLEBCount + o.orphanLEBs + 1)")
            }
            guard (1...99).contains(o.favorLZOPercent) else { throw fail("favor-LZO percent \(o.favorLZOPercent): expected 1…99") }
            guard o.reservedBytes >= 0, o.reservedBytes < o.lebSize * o.maxLEBCount / 2 else { throw fail("reserved space \(o.reservedBytes): expected less than half the volume") }
            if let u = o.uuid, u.count != 16 { throw fail("UUID: expected 16 bytes, found \(u.count)") }
            var bud = o.journalSize ?? -1
            if bud < 0 {
                // An eighth of the main area (the LPT's size assumed minimal), 4 LEBs … 8 MiB.
                let lebs = o.maxLEBCount - 1 - UBIFSMedia.masterLEBs - o.orphanLEBs - (o.logLEBs ?? UBIFSMedia.minLogLEBs) - UBIFSMedia.minLPTLEBs
                bud = min(lebs / 8 * o.lebSize, 8 << 20)
                bud = max(bud, 4 * o.lebSize)
            }
            guard bud > 0, bud <= o.lebSize * o.maxLEBCount else { throw fail("journal size \(bud): expected 1 … the volume's size") }
            maxBudBytes = bud
            let minLog = Self.minLogLEBs(maxBudBytes: bud, lebSize: o.lebSize, minIOSize: max(o.minIOSize, 8))
            let log = o.logLEBs ?? minLog + 2
            guard log >= UBIFSMedia.minLogLEBs else { throw fail("log LEBs \(log): expected at least \(UBIFSMedia.minLogLEBs)") }
            guard log < o.maxLEBCount - UBIFSMedia.minLEBCount else {
                throw fail("max. LEB count \(o.maxLEBCount): too few for \(log) log LEBs: expected at least \(UBIFSMedia.minLEBCount + log + 1)")
            }
            guard log >= minLog else { throw fail("log LEBs \(log): a \(bud)-byte journal needs at least \(minLog)") }
            logLEBs = log
            let lebsForLPTAndMain = o.maxLEBCount - 1 - UBIFSMedia.masterLEBs - log - o.orphanLEBs
            guard let lpt = UBIFSLPT(lebSize: o.lebSize, minIOSize: max(o.minIOSize, 8), maxLEBCount: o.maxLEBCount, lsaveCount: o.lsaveCount, lebsForLPTAndMain: lebsForLPTAndMain) else {
                throw fail("max. LEB count \(o.maxLEBCount): too few LEBs for the LEB properties tree")
            }
            self.lpt = lpt
            guard 1 + UBIFSMedia.masterLEBs + log + lpt.lptLEBs + o.orphanLEBs + 4 <= o.maxLEBCount else {
                throw fail("max. LEB count \(o.maxLEBCount): expected at least \(1 + UBIFSMedia.masterLEBs + log + lpt.lptLEBs + o.orphanLEBs + 4)")
            }
            reserved = Self.withOverhead(o.reservedBytes, fanout: o.fanout)
        }

        /// `calc_min_log_lebs`.
        static func minLogLEBs(maxBudBytes: Int, lebSize: Int, minIOSize: Int) -> Int {
            let buds = (maxBudBytes + lebSize - 1) / lebSize
            var size = UBIFSMedia.align(UBIFSMedia.refNodeSize, minIOSize) * buds
            size += UBIFSMedia.align(UBIFSMedia.commitStartNodeSize + UBIFSMedia.refNodeSize * (1 + 2), minIOSize)
            return (size + lebSize - 1) / lebSize + 1
        }

        /// `add_space_overhead`: the flash that gives `size` bytes to files.
        static func withOverhead(_ size: Int, fanout: Int) -> Int {
            let maxIndexNode = UBIFSMedia.indexNodeSize(children: fanout)
            let f = fanout > 3 ? fanout >> 1 : 2
            let factor = UBIFSMedia.maxDataNodeSize + maxIndexNode * 3 / (f - 1)
            return size.multipliedReportingOverflow(by: factor).overflow ? Int.max / UBIFSMedia.blockSize : size * factor / UBIFSMedia.blockSize
        }
    }
}

// MARK: - Plan: inode numbers, links, directory sizes

extension UBIFSWriter {
    struct Plan {
        /// Per entry: its inode number (a hard link: its file's), its parent's index, its name.
        var inode: [UInt64]
        var parent: [Int]
        var name: [[UInt8]]
        /// Per entry that owns an inode: link count and (directories) size.
        var nlink: [UInt32]
        var dirSize: [Int]
        /// Per entry: the inode numbers of its xattrs.
        var xattrInodes: [[UInt64]]
        var highestInode: UInt64
        /// Per hard link: the kind of the file it names.
        var linkKind: [UBIFSEntry.Kind]

        init(_ entries: [UBIFSEntry], keyHash: UBIFSMedia.KeyHash) throws {
            let n = entries.count
            guard n > 0, entries[0].path == "/", entries[0].kind == .directory else {
                throw Failure("the tree: expected the root folder '/' first, found \(entries.first.map { "'\($0.path)'" } ?? "nothing")")
            }
            var index: [String: Int] = [:]
            index.reserveCapacity(n)
            inode = [UInt64](repeating: 0, count: n)
            parent = [Int](repeating: -1, count: n)
            name = [[UInt8]](repeating: [], count: n)
            nlink = [UInt32](repeating: 1, count: n)
            dirSize = [Int](repeating: 0, count: n)
            xattrInodes = [[UInt64]](repeating: [], count: n)
            linkKind = [UBIFSEntry.Kind](repeating: .file, count: n)
            var next = UBIFSMedia.firstInode
            inode[0] = UBIFSMedia.rootInode
            nlink[0] = 2
            dirSize[0] = UBIFSMedia.inodeNodeSize
            index["/"] = 0
            for i in 1..<n {
                let e = entries[i]
                guard index[e.path] == nil else { throw Failure("\(e.path): listed twice") }
                let slash = e.path.utf8.lastIndex(of: UInt8(ascii: "/"))!
                let parentPath = slash == e.path.utf8.startIndex ? "/" : String(e.path[..<slash])
                guard let p = index[parentPath], entries[p].kind == .directory else {
                    throw Failure("\(e.path): expected its folder \(parentPath) before it")
                }
                let leaf = Array(e.path.utf8[e.path.utf8.index(after: slash)...])
                guard !leaf.isEmpty, leaf.count <= UBIFSMedia.maxNameLength else {
                    throw Failure("\(e.path): name of \(leaf.count) bytes: expected 1…\(UBIFSMedia.maxNameLength)")
                }
                parent[i] = p
                name[i] = leaf
                index[e.path] = i
                dirSize[p] += UBIFSMedia.dentSize(nameLength: leaf.count)
                switch e.kind {
                case .hardlink:
                    guard let t = index[e.target] ?? entries.firstIndex(where: { $0.path == e.target }) else {
                        throw Failure("\(e.path): hard link to \(e.target), which is not in the tree")
                    }
                    guard entries[t].kind != .directory, entries[t].kind != .hardlink else {
                        throw Failure("\(e.path): hard link to \(e.target): expected a file, found a \(entries[t].kind == .directory ? "folder" : "hard link")")
                    }
                case .directory:
                    next += 1
                    inode[i] = next
                    nlink[i] = 2
                    dirSize[i] = UBIFSMedia.inodeNodeSize
                    nlink[p] += 1
                default:
                    next += 1
                    inode[i] = next
                }
                if e.kind == .symlink {
                    let t = e.target.utf8.count
                    guard t > 0, t <= UBIFSMedia.maxInodeData else { throw Failure("\(e.path): symlink target of \(t) bytes: expected 1…\(UBIFSMedia.maxInodeData)") }
                }
                if e.kind == .file, e.size < 0 || e.size > (1 << 29) * UBIFSMedia.blockSize {
                    throw Failure("\(e.path): \(e.size) bytes: expected at most 2 TiB (UBIFS's 29-bit block numbers)")
                }
            }
            // Hard links: the file's inode, one more link.
            for i in 1..<n where entries[i].kind == .hardlink {
                let t = index[entries[i].target]!
                inode[i] = inode[t]
                nlink[t] += 1
                linkKind[i] = entries[t].kind
            }
            for i in 0..<n where entries[i].kind != .hardlink {
                for x in entries[i].xattrs {
                    let nameLength = x.name.utf8.count
                    guard nameLength > 0, nameLength <= UBIFSMedia.maxNameLength, x.value.count <= UBIFSMedia.maxInodeData else {
                        throw Failure("\(entries[i].path): xattr '\(x.name)': expected a name of 1…255 bytes and a value of at most 4096, found \(nameLength) and \(x.value.count)")
                    }
                    next += 1
                    xattrInodes[i].append(next)
                }
            }
            highestInode = next
        }
    }
}

// MARK: - Layout: nodes into LEBs

extension UBIFSWriter {
    struct IndexEntry {
        var key: UBIFSMedia.Key
        var name: [UInt8]?
        var lnum: Int32
        var offset: Int32
        var length: Int32
    }

    /// Totals the master node records (`struct ubifs_lp_stats`).
    struct Totals {
        var free = 0, dirty = 0, used = 0, dead = 0, dark = 0, emptyLEBs = 0, indexLEBs = 0
    }

    struct Layout {
        let g: UBIFSWriter.Geometry
        let fd: Int32
        let path: String
        var leb: [UInt8]
        var head = 0
        var headLEB: Int
        var indexHead = false
        var sqnum: UInt64 = 0
        var index: [IndexEntry] = []
        var properties: [UBIFSLPT.LEBProperties] = []
        var totals = Totals()
        var hasher = SHA256()
        var dataNodes = 0
        var indexNodes = 0
        var inodes = 0

        init(geometry: UBIFSWriter.Geometry, fd: Int32, path: String) {
            g = geometry
            self.fd = fd
            self.path = path
            leb = [UInt8](repeating: 0xFF, count: geometry.o.lebSize)
            headLEB = geometry.mainFirst
        }

        mutating func nextSqnum() -> UInt64 {
            sqnum += 1
            return sqnum
        }

        func writeLEB(_ lnum: Int, _ bytes: [UInt8]) throws {
            try FileIO.pwriteAll(fd, bytes, at: lnum * g.o.lebSize, path: path)
        }

        // MARK: Heads

        /// `reserve_space`: where a node of `length` bytes goes, a new LEB when it does not fit.
        mutating func reserve(_ length: Int) throws -> Int {
            if length > g.o.lebSize - head { try flush() }
            let at = head
            head += UBIFSMedia.align(length, 8)
            return at
        }

        /// `flush_nodes`: the head LEB padded to the min. I/O unit and written; its properties kept.
        mutating func flush() throws {
            guard head > 0 else { return }
            guard headLEB < g.o.maxLEBCount else {
                throw Failure("the tree does not fit: more than the \(g.o.maxLEBCount) LEBs of -c/max-leb-cnt", .usage)
            }
            let aligned = UBIFSMedia.align(head, g.o.minIOSize)
            leb.withUnsafeMutableBytes { UBIFSMedia.pad(UnsafeMutableRawBufferPointer(rebasing: $0[head..<aligned]), count: aligned - head) }
            try writeLEB(headLEB, leb)
            setProperties(end: head, index: indexHead)
            for i in 0..<leb.count { leb[i] = 0xFF }
            headLEB += 1
            head = 0
        }

        /// `set_lprops`.
        mutating func setProperties(end offset: Int, index: Bool) {
            let lebSize = g.o.lebSize
            let free = lebSize - UBIFSMedia.align(offset, max(g.o.minIOSize, 8))
            let dirty = lebSize - free - UBIFSMedia.align(offset, 8)
            properties.append(.init(free: free, dirty: dirty, index: index))
            totals.free += free
            totals.dirty += dirty
            if index {
                totals.indexLEBs += 1
            } else {
                let space = free + dirty
                if space < g.deadWatermark {
                    totals.dead += space
                } else {
                    totals.dark += space < g.darkWatermark ? space : (space - g.darkWatermark < UBIFSMedia.minWriteSize ? space - UBIFSMedia.minWriteSize : g.darkWatermark)
                }
                totals.used += lebSize - space
            }
        }

        /// Places an already sealed node and indexes it.
        mutating func place(_ node: UnsafeRawBufferPointer, key: UBIFSMedia.Key, name: [UInt8]?) throws {
            let at = try reserve(node.count)
            leb.withUnsafeMutableBytes { p in
                p.baseAddress!.advanced(by: at).copyMemory(from: node.baseAddress!, byteCount: node.count)
            }
            index.append(IndexEntry(key: key, name: name, lnum: Int32(headLEB), offset: Int32(at), length: Int32(node.count)))
            withUnsafeBytes(of: node.loadUnaligned(fromByteOffset: 4, as: UInt32.self)) { hasher.update(bufferPointer: $0) }
        }

        /// Seals `node` with the next sequence number and places it.
        mutating func add(_ node: inout [UInt8], type: UBIFSMedia.NodeType, key: UBIFSMedia.Key, name: [UInt8]? = nil) throws {
            let sq = nextSqnum()
            let n = node.count
            node.withUnsafeMutableBytes { UBIFSMedia.seal($0, type: type, length: n, sqnum: sq) }
            try node.withUnsafeBytes { try place($0, key: key, name: name) }
        }

        // MARK: The whole image

        mutating func run(_ plan: Plan, entries: [UBIFSEntry]) throws -> UBIFSSummary {
            var batch = Batch(options: g.o)
            for (i, e) in entries.enumerated() { try addEntry(i, e, plan: plan, batch: &batch) }
            try batch.finish(into: &self)
            try flush()
            // The garbage collector's LEB: empty.
            let gcLEB = headLEB
            guard gcLEB < g.o.maxLEBCount else { throw Failure("the tree does not fit: more than the \(g.o.maxLEBCount) LEBs of -c/max-leb-cnt", .usage) }
            try writeLEB(gcLEB, [UInt8](repeating: 0xFF, count: g.o.lebSize))
            setProperties(end: 0, index: false)
            totals.emptyLEBs += 1
            headLEB += 1
            let (root, indexSize, indexHeadAt) = try writeIndex(plan: plan)
            let lebCount = headLEB
            let main = properties
            let lpt = g.lpt.write(properties: main, firstLPTLEB: g.lptFirst, firstMainLEB: g.mainFirst)
            for (k, bytes) in lpt.lebs.enumerated() { try writeLEB(g.lptFirst + k, bytes) }
            let uuid = g.o.uuid ?? derivedUUID(lebCount: lebCount)
            try writeMaster(plan: plan, root: root, indexSize: indexSize, indexHead: indexHeadAt, gcLEB: gcLEB, lpt: lpt, lebCount: lebCount)
            try writeSuperblock(lebCount: lebCount, uuid: uuid)
            try writeLog()
            for k in 0..<g.o.orphanLEBs { try writeLEB(g.orphanFirst + k, [UInt8](repeating: 0xFF, count: g.o.lebSize)) }
            return UBIFSSummary(
                lebCount: lebCount, maxLEBCount: g.o.maxLEBCount, lebSize: g.o.lebSize, mainFirst: g.mainFirst, bigLPT: g.lpt.bigModel,
                lptLEBs: g.lpt.lptLEBs, logLEBs: g.logLEBs, inodes: inodes, dataNodes: dataNodes, indexNodes: indexNodes, uuid: uuid)
        }

        /// An entry's nodes, in this order: its data blocks, its xattrs (entry and inode each), its
        /// inode, its entry in its folder. A hard link is only the entry.
        mutating func addEntry(_ i: Int, _ e: UBIFSEntry, plan: Plan, batch: inout Batch) throws {
            let number = plan.inode[i]
            if e.kind != .hardlink {
                if e.kind == .file, e.size > 0, let content = e.content {
                    batch.takeCreationNumber(inode: number)
                    try batch.addFile(e, inode: number, content: content, layout: &self)
                }
                var inode = UBIFSMedia.Inode(number: number, mode: Self.typeBits(e.kind) | (e.mode & 0o7777))
                inode.mtime = e.mtime
                inode.uid = e.uid
                inode.gid = e.gid
                inode.nlink = plan.nlink[i]
                inode.compressor = g.o.defaultCompressor
                inode.flags = g.o.defaultCompressor == .none ? 0 : UBIFSMedia.compressFlag
                switch e.kind {
                case .file: inode.size = UInt64(e.size)
                case .directory: inode.size = UInt64(plan.dirSize[i])
                case .symlink:
                    inode.data = Array(e.target.utf8)
                    inode.size = UInt64(inode.data.count)
                case .charDevice, .blockDevice: inode.data = UBIFSMedia.encodeDevice(major: e.major, minor: e.minor)
                default: break
                }
                for (k, x) in e.xattrs.enumerated() {
                    let nameBytes = Array(x.name.utf8)
                    let xNumber = plan.xattrInodes[i][k]
                    inode.xattrCount += 1
                    inode.xattrSize += UInt32(UBIFSMedia.dentSize(nameLength: nameBytes.count) + UBIFSMedia.xattrBytes(dataLength: x.value.count))
                    inode.xattrNames += UInt32(nameBytes.count)
                    let key = UBIFSMedia.Key.entry(number, hash: g.o.keyHash.hash(nameBytes), type: .xent)
                    var xent = UBIFSMedia.entryNode(key: key, name: nameBytes, target: xNumber, type: .regular)
                    try batch.add(&xent, type: .xent, key: key, name: nameBytes, layout: &self)
                    var xi = UBIFSMedia.Inode(number: xNumber, mode: 0o100000)
                    xi.mtime = e.mtime
                    xi.uid = e.uid
                    xi.gid = e.gid
                    xi.flags = UBIFSMedia.xattrFlag
                    xi.compressor = g.o.defaultCompressor
                    xi.size = UInt64(x.value.count)
                    xi.data = x.value
                    try batch.addInode(xi, layout: &self)
                }
                try batch.addInode(inode, layout: &self)
            }
            if i > 0 {
                let nameBytes = plan.name[i]
                let key = UBIFSMedia.Key.entry(plan.inode[plan.parent[i]], hash: g.o.keyHash.hash(nameBytes), type: .dent)
                let kind = e.kind == .hardlink ? plan.linkKind[i] : e.kind
                var dent = UBIFSMedia.entryNode(key: key, name: nameBytes, target: number, type: Self.inodeType(kind))
                try batch.add(&dent, type: .dent, key: key, name: nameBytes, layout: &self)
            }
        }

        static func typeBits(_ k: UBIFSEntry.Kind) -> UInt32 {
            switch k {
            case .file, .hardlink: return 0o100000
            case .directory: return 0o040000
            case .symlink: return 0o120000
            case .charDevice: return 0o020000
            case .blockDevice: return 0o060000
            case .fifo: return 0o010000
            case .socket: return 0o140000
            }
        }

        static func inodeType(_ kind: UBIFSEntry.Kind) -> UBIFSMedia.InodeType {
            switch kind {
            case .file, .hardlink: return .regular
            case .directory: return .directory
            case .symlink: return .symlink
            case .charDevice: return .char
            case .blockDevice: return .block
            case .fifo: return .fifo
            case .socket: return .socket
            }
        }

        // MARK: Index

        /// `write_index`: the nodes' keys sorted (entries with the same hash by name), level 0
        /// holding `fanout` branches per node, each level above pointing at the one below; the
        /// last node written is the root. Returns the root, the index's size and the index head.
        mutating func writeIndex(plan: Plan) throws -> (UBIFSMedia.Branch, Int, (Int, Int)) {
            indexHead = true
            index.sort { a, b in
                if a.key != b.key { return a.key < b.key }
                return Self.nameOrder(a.name ?? [], b.name ?? [])
            }
            let fanout = g.o.fanout
            var level: [UBIFSMedia.Branch] = index.map { UBIFSMedia.Branch(key: $0.key, lnum: UInt32($0.lnum), offset: UInt32($0.offset), length: UInt32($0.length)) }
            index = []
            var indexSize = 0
            var depth = 0
            var root: UBIFSMedia.Branch?
            repeat {
                var above: [UBIFSMedia.Branch] = []
                above.reserveCapacity(level.count / fanout + 1)
                var start = 0
                while start < level.count {
                    let children = Array(level[start..<min(start + fanout, level.count)])
                    var node = UBIFSMedia.indexNode(level: depth, branches: children)
                    let sq = nextSqnum()
                    let n = node.count
                    node.withUnsafeMutableBytes { UBIFSMedia.seal($0, type: .index, length: n, sqnum: sq) }
                    let at = try reserve(n)
                    leb.replaceSubrange(at..<(at + n), with: node)
                    indexSize += UBIFSMedia.align(n, 8)
                    indexNodes += 1
                    let placed = UBIFSMedia.Branch(key: children[0].key, lnum: UInt32(headLEB), offset: UInt32(at), length: UInt32(n))
                    above.append(placed)
                    root = placed
                    start += fanout
                }
                level = above
                depth += 1
            } while level.count > 1
            let indexHeadAt = (headLEB, UBIFSMedia.align(head, g.o.minIOSize))
            try flush()
            return (root!, indexSize, indexHeadAt)
        }

        /// mkfs.ubifs's `namecmp`: bytes, then the shorter first.
        static func nameOrder(_ a: [UInt8], _ b: [UInt8]) -> Bool {
            for (x, y) in zip(a, b) where x != y { return x < y }
            return a.count < b.count
        }

        // MARK: Fixed areas

        /// `write_node`: a node at the start of a LEB, padded to the min. I/O unit, the rest erased.
        func writeNodeLEB(_ lnum: Int, _ node: [UInt8]) throws {
            var b = [UInt8](repeating: 0xFF, count: g.o.lebSize)
            b.replaceSubrange(0..<node.count, with: node)
            let aligned = UBIFSMedia.align(node.count, 8)
            let end = UBIFSMedia.align(aligned, g.o.minIOSize)
            b.withUnsafeMutableBytes { UBIFSMedia.pad(UnsafeMutableRawBufferPointer(rebasing: $0[aligned..<end]), count: end - aligned) }
            try writeLEB(lnum, b)
        }

        mutating func writeMaster(plan: Plan, root: UBIFSMedia.Branch, indexSize: Int, indexHead: (Int, Int), gcLEB: Int, lpt: UBIFSLPT.Written, lebCount: Int) throws {
            var m = [UInt8](repeating: 0, count: UBIFSMedia.masterNodeSize)
            m.withUnsafeMutableBytes { p in
                UBIFSMedia.put(p, 24, plan.highestInode)
                UBIFSMedia.put(p, 32, UInt64(0))  // commit number
                UBIFSMedia.put(p, 40, UBIFSMedia.masterNoOrphans)
                let u32: [(Int, Int)] = [
                    (44, UBIFSMedia.logLEB), (48, Int(root.lnum)), (52, Int(root.offset)), (56, Int(root.length)), (60, gcLEB),
                    (64, indexHead.0), (68, indexHead.1), (120, lpt.root.lnum), (124, lpt.root.offset), (128, lpt.nodeHead.lnum),
                    (132, lpt.nodeHead.offset), (136, lpt.ltab.lnum), (140, lpt.ltab.offset), (144, lpt.lsave.lnum), (148, lpt.lsave.offset),
                    (152, g.mainFirst), (156, totals.emptyLEBs), (160, totals.indexLEBs), (164, lebCount),
                ]
                for (at, v) in u32 { UBIFSMedia.put(p, at, UInt32(v)) }
                let u64: [(Int, Int)] = [(72, indexSize), (80, totals.free), (88, totals.dirty), (96, totals.used), (104, totals.dead), (112, totals.dark)]
                for (at, v) in u64 { UBIFSMedia.put(p, at, UInt64(v)) }
            }
            for copy in 0..<UBIFSMedia.masterLEBs {
                var node = m
                let sq = nextSqnum()
                node.withUnsafeMutableBytes { UBIFSMedia.seal($0, type: .master, length: UBIFSMedia.masterNodeSize, sqnum: sq) }
                try writeNodeLEB(UBIFSMedia.masterLEB + copy, node)
            }
        }

        mutating func writeSuperblock(lebCount: Int, uuid: [UInt8]) throws {
            let o = g.o
            var s = [UInt8](repeating: 0, count: UBIFSMedia.superblockNodeSize)
            s.withUnsafeMutableBytes { p in
                p[26] = o.keyHash.rawValue
                p[27] = 0  // simple key format
                var flags: UInt32 = 0
                if g.lpt.bigModel { flags |= UBIFSMedia.bigLPTFlag }
                if o.spaceFixup { flags |= UBIFSMedia.spaceFixupFlag }
                UBIFSMedia.put(p, 28, flags)
                let u32: [(Int, Int)] = [
                    (32, o.minIOSize), (36, o.lebSize), (40, lebCount), (44, o.maxLEBCount), (56, g.logLEBs), (60, g.lpt.lptLEBs),
                    (64, o.orphanLEBs), (68, 1), (72, o.fanout), (76, o.lsaveCount), (80, Int(UBIFSMedia.formatVersion)),
                ]
                for (at, v) in u32 { UBIFSMedia.put(p, at, UInt32(v)) }
                UBIFSMedia.put(p, 48, UInt64(g.maxBudBytes))
                UBIFSMedia.put(p, 84, o.defaultCompressor.rawValue)
                UBIFSMedia.put(p, 96, UInt64(g.reserved))
                UBIFSMedia.put(p, 104, UBIFSMedia.timeGranularity)
                for (k, b) in uuid.enumerated() { p[108 + k] = b }
            }
            let sq = nextSqnum()
            s.withUnsafeMutableBytes { UBIFSMedia.seal($0, type: .superblock, length: UBIFSMedia.superblockNodeSize, sqnum: sq) }
            try writeNodeLEB(UBIFSMedia.superblockLEB, s)
        }

        /// The log: a commit-start node (commit 0) in its first LEB, the others erased.
        mutating func writeLog() throws {
            var cs = [UInt8](repeating: 0, count: UBIFSMedia.commitStartNodeSize)
            let sq = nextSqnum()
            cs.withUnsafeMutableBytes { UBIFSMedia.seal($0, type: .commitStart, length: UBIFSMedia.commitStartNodeSize, sqnum: sq) }
            try writeNodeLEB(UBIFSMedia.logLEB, cs)
            for k in 1..<g.logLEBs { try writeLEB(UBIFSMedia.logLEB + k, [UInt8](repeating: 0xFF, count: g.o.lebSize)) }
        }

        /// A name-based UUID (RFC 9562 version 8): SHA-256 of every node's CRC in order (so of
        /// every byte they hold), the geometry and SOURCE_DATE_EPOCH.
        func derivedUUID(lebCount: Int) -> [UInt8] {
            var h = hasher
            let o = g.o
            for v in [o.minIOSize, o.lebSize, o.maxLEBCount, lebCount, o.fanout, Int(o.sourceDateEpoch)] {
                withUnsafeBytes(of: Int64(v).littleEndian) { h.update(bufferPointer: $0) }
            }
            var u = Array(h.finalize().prefix(16))
            u[6] = u[6] & 0x0F | 0x80
            u[8] = u[8] & 0x3F | 0x80
            return u
        }
    }
}

// MARK: - Batches: data blocks compressed on every core, laid out in order

extension UBIFSWriter {
    /// Nodes waiting to be placed, in order. Data blocks are read into a batch's input and
    /// compressed (and sealed) on every core when the batch is full or the tree ends; inodes and
    /// entries wait their turn, so the order (and so every sequence number and position) does not
    /// depend on the batching. Two batches are in flight: while one compresses, the previous one
    /// is placed and the next one read, so reading and writing overlap the compression.
    struct Batch {
        enum Item {
            case node([UInt8], UBIFSMedia.NodeType, UBIFSMedia.Key, [UInt8]?)
            case inode(UBIFSMedia.Inode)
            case block(inode: UInt64, number: UInt32, offset: Int, count: Int)
            /// Takes the inode's creation sequence number before its data nodes are written:
            /// Linux asserts every data node's number is above it (`fs/ubifs/file.c`), as
            /// mkfs.ubifs's `creat_sqnum = ++max_sqnum` before `add_file` gives.
            case creation(UInt64)
        }

        static let capacity = 1024  // blocks per batch: 4 MiB in, about 4 MiB out
        static let slot = UBIFSMedia.maxDataNodeSize + 1024

        /// A batch's input blocks and output nodes.
        final class Buffers: @unchecked Sendable {
            let input = UnsafeMutableRawBufferPointer.allocate(byteCount: Batch.capacity * UBIFSMedia.blockSize, alignment: 64)
            let output = UnsafeMutableRawBufferPointer.allocate(byteCount: Batch.capacity * Batch.slot, alignment: 64)
            /// Per block: its node's length, 0 for a hole.
            let lengths = UnsafeMutableBufferPointer<Int>.allocate(capacity: Batch.capacity)
            deinit {
                input.deallocate()
                output.deallocate()
                lengths.deallocate()
            }
        }

        /// A batch handed to the workers: placed once `done` is signalled.
        struct InFlight {
            var items: [Item]
            var sqnums: [UInt64]
            /// Per inode item: its creation sequence number.
            var creations: [UInt64]
            var buffers: Buffers
            var done: DispatchGroup
        }

        let options: UBIFSOptions
        var items: [Item] = []
        var buffers = Buffers()
        var spare: Buffers?
        var used = 0
        var blocks = 0
        var inFlight: InFlight?
        /// The last sequence number given to a started batch's items.
        var sqnum: UInt64 = 0
        /// Creation numbers taken (``Item/creation``) for inodes not started yet.
        var creations: [UInt64: UInt64] = [:]
        let pool: CompressorPool

        init(options: UBIFSOptions) {
            self.options = options
            pool = CompressorPool(mode: options.compressorMode)
        }

        mutating func add(_ node: inout [UInt8], type: UBIFSMedia.NodeType, key: UBIFSMedia.Key, name: [UInt8]?, layout: inout Layout) throws {
            items.append(.node(node, type, key, name))
        }

        mutating func addInode(_ i: UBIFSMedia.Inode, layout: inout Layout) throws {
            items.append(.inode(i))
        }

        mutating func takeCreationNumber(inode: UInt64) {
            items.append(.creation(inode))
        }

        /// Streams the file's bytes into 4 KiB blocks; a full batch goes to the workers mid-file.
        mutating func addFile(_ e: UBIFSEntry, inode: UInt64, content: UBIFSEntry.Content, layout: inout Layout) throws {
            var block: UInt32 = 0
            var filled = 0  // bytes in the current block
            var total = 0
            try content { chunk in
                var rest = chunk
                while !rest.isEmpty {
                    if filled == 0, blocks == Self.capacity { try rotate(into: &layout) }
                    let n = min(UBIFSMedia.blockSize - filled, rest.count)
                    (buffers.input.baseAddress! + used + filled).copyMemory(from: rest.baseAddress!, byteCount: n)
                    filled += n
                    total += n
                    rest = UnsafeRawBufferPointer(rebasing: rest[n...])
                    if filled == UBIFSMedia.blockSize {
                        items.append(.block(inode: inode, number: block, offset: used, count: filled))
                        used += filled
                        blocks += 1
                        block += 1
                        filled = 0
                    }
                }
            }
            if filled > 0 {
                items.append(.block(inode: inode, number: block, offset: used, count: filled))
                used += UBIFSMedia.blockSize
                blocks += 1
            }
            guard total == e.size else { throw Failure("\(e.path): expected \(e.size) bytes, read \(total)") }
        }

        /// The current batch to the workers; the one before it placed meanwhile; reading goes on
        /// into its buffers.
        mutating func rotate(into layout: inout Layout) throws {
            let previous = inFlight
            inFlight = start()
            if let previous {
                try place(previous, into: &layout)
                spare = previous.buffers
            }
            buffers = spare ?? Buffers()
            spare = nil
        }

        /// Every batch placed.
        mutating func finish(into layout: inout Layout) throws {
            let previous = inFlight
            inFlight = items.isEmpty ? nil : start()
            if let previous { try place(previous, into: &layout) }
            if let last = inFlight { try place(last, into: &layout) }
            inFlight = nil
            layout.sqnum = sqnum
        }

        /// Gives the items their sequence numbers (an inode takes two: its creation number, then
        /// its node's) and compresses and seals the data blocks on every core, in the background.
        mutating func start() -> InFlight {
            var sqnums = [UInt64](repeating: 0, count: items.count)
            var creationNumbers = [UInt64](repeating: 0, count: items.count)
            var blockItems: [(k: Int, inode: UInt64, number: UInt32, offset: Int, count: Int)] = []
            for k in 0..<items.count {
                switch items[k] {
                case let .creation(n):
                    sqnum += 1
                    creations[n] = sqnum
                case let .inode(i):
                    if let c = creations.removeValue(forKey: i.number) {
                        creationNumbers[k] = c
                    } else {
                        sqnum += 1
                        creationNumbers[k] = sqnum
                    }
                    sqnum += 1
                case let .block(inode, number, offset, count):
                    sqnum += 1
                    blockItems.append((k, inode, number, offset, count))
                case .node: sqnum += 1
                }
                sqnums[k] = sqnum
            }
            let b = buffers, pool = pool, numbers = sqnums, work = blockItems
            let done = DispatchGroup()
            done.enter()
            DispatchQueue.global().async {
                let per = 8
                DispatchQueue.concurrentPerform(iterations: (work.count + per - 1) / per) { chunk in
                    let c = pool.take()
                    defer { pool.give(c) }
                    for j in (chunk * per)..<min(chunk * per + per, work.count) {
                        let x = work[j]
                        b.lengths[j] = Self.seal(block: x, sqnum: numbers[x.k], compressor: c, buffers: b, slot: j)
                    }
                }
                done.leave()
            }
            let flight = InFlight(items: items, sqnums: sqnums, creations: creationNumbers, buffers: b, done: done)
            items.removeAll(keepingCapacity: true)
            used = 0
            blocks = 0
            return flight
        }

        /// One data node, compressed and sealed in its slot; 0 for a block of zeros (a hole).
        static func seal(block x: (k: Int, inode: UInt64, number: UInt32, offset: Int, count: Int), sqnum: UInt64, compressor c: UBIFSCompressor, buffers b: Buffers, slot j: Int) -> Int {
            let data = UnsafeRawBufferPointer(rebasing: b.input[x.offset..<(x.offset + x.count)])
            if allZero(data) { return 0 }
            let node = UnsafeMutableRawBufferPointer(rebasing: b.output[(j * slot)..<((j + 1) * slot)])
            let (compressor, stored) = c.compress(data, into: UnsafeMutableRawBufferPointer(rebasing: node[UBIFSMedia.dataNodeSize...]))
            UBIFSMedia.dataNodeHeader(node, key: .data(x.inode, block: x.number), size: x.count, compressor: compressor)
            let length = UBIFSMedia.dataNodeSize + stored
            UBIFSMedia.seal(node, type: .data, length: length, sqnum: sqnum)
            return length
        }

        /// Waits for a batch's workers, then places its items in order.
        func place(_ f: InFlight, into layout: inout Layout) throws {
            f.done.wait()
            var j = 0
            for k in 0..<f.items.count {
                switch f.items[k] {
                case let .node(bytes, type, key, name):
                    var node = bytes
                    layout.sqnum = f.sqnums[k] - 1
                    try layout.add(&node, type: type, key: key, name: name)
                case .creation:
                    layout.sqnum = f.sqnums[k]
                case var .inode(i):
                    i.creationSqnum = f.creations[k]
                    layout.sqnum = f.sqnums[k] - 1
                    var node = UBIFSMedia.inodeNode(i)
                    try layout.add(&node, type: .inode, key: .inode(i.number))
                    layout.inodes += 1
                case let .block(inode, number, _, _):
                    let length = f.buffers.lengths[j]
                    if length > 0 {
                        let at = j * Self.slot
                        try layout.place(UnsafeRawBufferPointer(rebasing: f.buffers.output[at..<(at + length)]), key: .data(inode, block: number), name: nil)
                        layout.dataNodes += 1
                    }
                    layout.sqnum = f.sqnums[k]
                    j += 1
                }
            }
        }

        static func allZero(_ b: UnsafeRawBufferPointer) -> Bool {
            var i = 0
            while i + 8 <= b.count {
                if b.loadUnaligned(fromByteOffset: i, as: UInt64.self) != 0 { return false }
                i += 8
            }
            while i < b.count {
                if b[i] != 0 { return false }
                i += 1
            }
            return true
        }
    }

    /// One compressor per thread at work, reused across batches.
    final class CompressorPool: @unchecked Sendable {
        let mode: UBIFSCompressor.Mode
        var free: [UBIFSCompressor] = []
        let lock = NSLockLite()

        init(mode: UBIFSCompressor.Mode) {
            self.mode = mode
        }

        func take() -> UBIFSCompressor {
            lock.locked { free.popLast() } ?? UBIFSCompressor(mode: mode)
        }

        func give(_ c: UBIFSCompressor) { lock.locked { free.append(c) } }
    }

    /// A pthread mutex (Flash has no Foundation).
    final class NSLockLite: @unchecked Sendable {
        private var m = pthread_mutex_t()
        init() { pthread_mutex_init(&m, nil) }
        deinit { pthread_mutex_destroy(&m) }
        func locked<T>(_ body: () -> T) -> T {
            pthread_mutex_lock(&m)
            defer { pthread_mutex_unlock(&m) }
            return body()
        }
    }
}
