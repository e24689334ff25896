import FlashsmithCore

/// Where a node sits: LEB, offset and length.
public struct UBIFSLocation: Sendable, Hashable, CustomStringConvertible {
    public var lnum: Int
    public var offset: Int
    public var length: Int
    public init(lnum: Int, offset: Int, length: Int) {
        self.lnum = lnum
        self.offset = offset
        self.length = length
    }
    public var description: String { "LEB \(lnum):\(offset)" }
}

/// The journal laid over the committed index, as the kernel's `fs/ubifs/replay.c` does at mount:
/// the nodes of every bud (the LEBs the log's reference nodes name) sorted by sequence number and
/// applied in that order. A newer inode, data or entry node replaces the indexed one with the same
/// key (and, for entries, the same name); an entry naming inode 0 deletes; an inode with nlink 0
/// removes every key of that inode (unless a newer inode node for it follows); a truncation node
/// removes the data blocks past the new size.
public struct UBIFSJournal: Sendable {
    public enum Change: Sendable, Equatable {
        /// An inode or data node (`location` nil: an inode node with nlink 0).
        case node(UBIFSMedia.Key, UBIFSLocation?)
        /// A directory or xattr entry (`target` 0: a deletion).
        case entry(UBIFSMedia.Key, name: [UInt8], target: UInt64, UBIFSLocation)
        /// A truncation node: inode, old and new size.
        case truncation(inode: UInt32, oldSize: UInt64, newSize: UInt64)
    }

    public struct Entry: Sendable, Equatable {
        public var sqnum: UInt64
        public var change: Change
        public init(sqnum: UInt64, _ change: Change) {
            self.sqnum = sqnum
            self.change = change
        }
    }

    public struct NamedKey: Sendable, Hashable {
        public var key: UBIFSMedia.Key
        public var name: [UInt8]
    }

    /// Inode and data keys the journal sets (nil: deleted).
    public private(set) var plain: [UBIFSMedia.Key: UBIFSLocation?] = [:]
    /// Entries the journal sets (nil: deleted).
    public private(set) var named: [NamedKey: UBIFSLocation?] = [:]
    /// Inodes whose every indexed key is gone.
    public private(set) var removedInodes: Set<UInt32> = []
    /// Indexed data blocks a truncation removed, per inode.
    public private(set) var truncated: [UInt32: [ClosedRange<UInt32>]] = [:]
    public private(set) var count = 0

    public init() {}

    /// Applies `entries` in sequence-number order (the kernel's `apply_replay_list`).
    public init(_ entries: [Entry]) {
        let sorted = entries.sorted { $0.sqnum < $1.sqnum }
        // The newest inode-key entry of each inode decides whether a deletion really removes it.
        var lastInode: [UInt32: Int] = [:]
        for (i, e) in sorted.enumerated() {
            if case let .node(k, _) = e.change, k.type == UBIFSMedia.KeyType.inode.rawValue { lastInode[k.inode] = i }
        }
        for (i, e) in sorted.enumerated() {
            switch e.change {
            case let .node(k, loc?):
                plain[k] = .some(loc)
            case let .node(k, nil):
                if k.type == UBIFSMedia.KeyType.inode.rawValue {
                    // `inode_still_linked`: a newer inode node for it is no deletion.
                    if let last = lastInode[k.inode], last != i, case .node(_, .some) = sorted[last].change { continue }
                    removeInode(k.inode)
                } else {
                    plain[k] = .some(nil)
                }
            case let .entry(k, name, target, loc):
                named[NamedKey(key: k, name: name)] = target == 0 ? .some(nil) : .some(loc)
            case let .truncation(inode, old, new):
                truncate(inode, oldSize: old, newSize: new)
            }
        }
        count = sorted.count
    }

    mutating func removeInode(_ n: UInt32) {
        removedInodes.insert(n)
        truncated[n] = nil
        plain = plain.filter { $0.key.inode != n }
        named = named.filter { $0.key.key.inode != n }
    }

    /// `trun_remove_range`: blocks from the first one wholly past `newSize` to the last one `oldSize` reached.
    mutating func truncate(_ n: UInt32, oldSize: UInt64, newSize: UInt64) {
        let bs = UInt64(UBIFSMedia.blockSize)
        guard oldSize > newSize else { return }
        let first = newSize / bs + (newSize % bs == 0 ? 0 : 1)
        let last = oldSize / bs - (oldSize % bs == 0 ? 1 : 0)
        guard first <= last, first <= 0x1FFF_FFFF else { return }
        let range = UInt32(first)...UInt32(min(last, 0x1FFF_FFFF))
        truncated[n, default: []].append(range)
        plain = plain.filter { k, _ in !(k.inode == n && k.type == UBIFSMedia.KeyType.data.rawValue && range.contains(k.payload)) }
    }

    /// Whether the indexed node with key `k` still stands (no journal entry hides it).
    public func indexedStands(_ k: UBIFSMedia.Key) -> Bool {
        if removedInodes.contains(k.inode) { return false }
        if k.type == UBIFSMedia.KeyType.data.rawValue, let ranges = truncated[k.inode], ranges.contains(where: { $0.contains(k.payload) }) { return false }
        return true
    }

    /// The journal's word on an inode or data key: nil when it has none; .some(nil) when it deletes it.
    public func lookup(_ k: UBIFSMedia.Key) -> UBIFSLocation?? { plain[k] }

    /// The data blocks the journal writes for inode `n`, by block number.
    public func dataBlocks(of n: UInt32) -> [(block: UInt32, location: UBIFSLocation?)] {
        plain.compactMap { k, v in k.inode == n && k.type == UBIFSMedia.KeyType.data.rawValue ? (k.payload, v) : nil }.sorted { $0.block < $1.block }
    }

    /// Merges the indexed data blocks of one inode (ascending) with the journal's: the result is
    /// every block that stands, ascending, each at its newest location.
    public func mergeData(inode n: UInt32, indexed: some Sequence<(block: UInt32, location: UBIFSLocation)>) -> [(block: UInt32, location: UBIFSLocation)] {
        var out: [(block: UInt32, location: UBIFSLocation)] = []
        var m = DataMerge(self, inode: n)
        for (b, l) in indexed { m.indexed(b, l) { out.append(($0, $1)) } }
        m.finish { out.append(($0, $1)) }
        return out
    }

    /// The streaming form of ``mergeData(inode:indexed:)``: feed the indexed blocks in ascending
    /// order, then `finish`; each standing block is handed to `emit` once, ascending.
    public struct DataMerge {
        let journal: UBIFSJournal
        let inode: UInt32
        var pending: ArraySlice<(block: UInt32, location: UBIFSLocation?)>

        public init(_ journal: UBIFSJournal, inode: UInt32) {
            self.journal = journal
            self.inode = inode
            pending = journal.dataBlocks(of: inode)[...]
        }

        mutating func flush(before b: UInt32?, _ emit: (UInt32, UBIFSLocation) throws -> Void) rethrows {
            while let j = pending.first, b.map({ j.block < $0 }) ?? true {
                if let l = j.location { try emit(j.block, l) }
                pending = pending.dropFirst()
            }
        }

        public mutating func indexed(_ b: UInt32, _ l: UBIFSLocation, _ emit: (UInt32, UBIFSLocation) throws -> Void) rethrows {
            try flush(before: b, emit)
            if let j = pending.first, j.block == b {
                if let jl = j.location { try emit(b, jl) }
                pending = pending.dropFirst()
            } else if journal.indexedStands(.data(UInt64(inode), block: b)) {
                try emit(b, l)
            }
        }

        public mutating func finish(_ emit: (UInt32, UBIFSLocation) throws -> Void) rethrows { try flush(before: nil, emit) }
    }
}
