import Crypto
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// The shared model of a disk's partition table, GPT or MBR: what a board describes, what
/// ``GPT`` and ``MBR`` write, and what they read back. Offsets and sizes are in bytes and must be
/// whole sectors (512 bytes).
///
/// Unset identifiers are derived, never random: the disk GUID (or MBR disk signature) from the
/// table's `seed` (the board's name), each partition GUID from the disk id, the partition's name
/// and its index (``GUID/derived(_:)``, RFC 9562 version 8 over SHA-256). So two builds of one
/// board write the same bytes.
public struct PartitionTable: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case gpt, mbr }

    /// The disk identifier: a GUID (GPT) or the 32-bit disk signature at offset 440 (MBR).
    public enum DiskID: Sendable, Equatable, CustomStringConvertible {
        case guid(GUID)
        case mbr(UInt32)

        public var description: String {
            switch self {
            case let .guid(g): return g.description
            case let .mbr(v): return "0x" + hex8(v)
            }
        }
    }

    public static let sectorSize = 512

    public var kind: Kind
    /// The whole disk image, in bytes (a multiple of 512).
    public var diskSize: Int
    /// Given or derived (``resolved()``); the reader fills it.
    public var diskID: DiskID?
    /// GPT: where the primary entry array starts (genimage's `gpt-location`); nil is LBA 2 (1 KiB).
    public var entriesOffset: Int?
    /// The text unset identifiers are derived from (a board's name).
    public var seed: String
    public var partitions: [Partition]

    public init(kind: Kind, diskSize: Int, diskID: DiskID? = nil, entriesOffset: Int? = nil, seed: String = "", partitions: [Partition] = []) {
        self.kind = kind
        self.diskSize = diskSize
        self.diskID = diskID
        self.entriesOffset = entriesOffset
        self.seed = seed
        self.partitions = partitions
    }
}

/// One partition of the table.
public struct Partition: Sendable, Equatable {
    /// The board's name for it; the GPT partition name too (UTF-16LE, at most 36 units).
    public var name: String
    public var offset: Int
    public var size: Int
    public var type: PartitionType
    /// MBR boot flag (0x80) / GPT attribute bit 2 (legacy BIOS bootable).
    public var bootable: Bool
    /// GPT: the unique partition GUID; nil is derived.
    public var guid: GUID?
    /// GPT attribute bits other than bit 2 (the reader keeps what it found).
    public var attributes: UInt64
    /// MBR: a logical partition inside the extended one (set by the reader and by ``MBR`` when the
    /// table has more than four partitions).
    public var logical: Bool

    public init(name: String, offset: Int, size: Int, type: PartitionType, bootable: Bool = false, guid: GUID? = nil, attributes: UInt64 = 0, logical: Bool = false) {
        self.name = name
        self.offset = offset
        self.size = size
        self.type = type
        self.bootable = bootable
        self.guid = guid
        self.attributes = attributes
        self.logical = logical
    }

    public var end: Int { offset + size }
}

/// A region of the disk written outside the table (a bootloader at a fixed offset): not in the
/// table, but it must not overlap the table's own sectors (genimage's `in-partition-table: false`).
public struct RawRegion: Sendable, Equatable {
    public var name: String
    public var offset: Int
    public var size: Int

    public init(name: String, offset: Int, size: Int) {
        self.name = name
        self.offset = offset
        self.size = size
    }
}

/// A span of the disk that belongs to the table itself (protective MBR, GPT header, entry arrays).
public struct TableArea: Sendable, Equatable {
    public var name: String
    public var offset: Int
    public var size: Int
    public var end: Int { offset + size }
}

// MARK: - GUIDs

/// A GUID, kept in its text (RFC 9562) byte order: `00112233-4455-6677-8899-AABBCCDDEEFF` is bytes
/// 00 11 … FF. GPT stores the first three fields little-endian (``diskBytes``).
public struct GUID: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    public static let zero = GUID(bytes: [UInt8](repeating: 0, count: 16))

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 16, "a GUID is 16 bytes")
        self.bytes = bytes
    }

    /// `01234567-89ab-cdef-0123-456789abcdef`, any case; dashes where shown (or none).
    public init?(_ text: String) {
        let u = Array(text.utf8)
        let dashed = u.count == 36 && [8, 13, 18, 23].allSatisfy { u[$0] == UInt8(ascii: "-") }
        guard dashed || u.count == 32 else { return nil }
        let digits = u.filter { $0 != UInt8(ascii: "-") }
        guard digits.count == 32 else { return nil }
        var b: [UInt8] = []
        for i in stride(from: 0, to: 32, by: 2) {
            guard let hi = hexValue(digits[i]), let lo = hexValue(digits[i + 1]) else { return nil }
            b.append(hi << 4 | lo)
        }
        self.bytes = b
    }

    /// GPT's on-disk order: the first three fields little-endian, the rest as is.
    public init(diskBytes d: ArraySlice<UInt8>) {
        let a = Array(d)
        self.bytes = [a[3], a[2], a[1], a[0], a[5], a[4], a[7], a[6]] + a[8..<16]
    }

    public var diskBytes: [UInt8] {
        let b = bytes
        return [b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]] + b[8..<16]
    }

    public var description: String {
        let h = bytes.map { b -> String in
            let s = String(b, radix: 16, uppercase: true)
            return s.count == 1 ? "0" + s : s
        }
        return [h[0..<4], h[4..<6], h[6..<8], h[8..<10], h[10..<16]].map { $0.joined() }.joined(separator: "-")
    }

    /// A name-based GUID (RFC 9562 version 8): the first 16 bytes of SHA-256 over the parts, each
    /// followed by a zero byte, with the version and variant bits set.
    public static func derived(_ parts: [String]) -> GUID {
        GUID(bytes: nameBasedUUID(parts))
    }
}

/// RFC 9562 version 8 from SHA-256 of `parts` (each part then a NUL), in text byte order.
func nameBasedUUID(_ parts: [String]) -> [UInt8] {
    var h = SHA256()
    h.update(data: Array("flashsmith-disk".utf8) + [0])
    for p in parts { h.update(data: Array(p.utf8) + [0]) }
    var u = Array(h.finalize().prefix(16))
    u[6] = u[6] & 0x0F | 0x80
    u[8] = u[8] & 0x3F | 0x80
    return u
}

func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
}

func hex8(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: 8 - s.count) + s
}

// MARK: - Errors

/// Everything wrong with a table, one line each, naming the partition.
public struct DiskError: FlashsmithError, Equatable {
    public var message: String
    public var category: ErrorCategory
    public var description: String { message }

    public init(_ message: String, category: ErrorCategory = .data) {
        self.message = message
        self.category = category
    }
}

// MARK: - Resolution and validation

extension PartitionTable {
    /// GPT's entry array: 128 entries of 128 bytes (16 KiB, 32 sectors), as every tool writes it.
    public static let gptEntryCount = 128
    public static let gptEntrySize = 128
    public static let gptEntriesBytes = gptEntryCount * gptEntrySize
    public static let defaultEntriesOffset = 1024

    /// The MBR's limit: start and size are 32-bit sector counts.
    public static let mbrLimit = Int(UInt32.max) * sectorSize

    /// The table with every unset identifier derived (the disk id from `seed`; partition GUIDs
    /// from the disk id, the partition's name and index), then checked (``validate(rawRegions:)``).
    public func resolved(rawRegions: [RawRegion] = []) throws -> PartitionTable {
        var t = self
        switch kind {
        case .gpt:
            if t.diskID == nil { t.diskID = .guid(.derived(["disk", seed])) }
            let id = t.diskID?.description ?? ""
            for i in t.partitions.indices where t.partitions[i].guid == nil {
                t.partitions[i].guid = .derived(["partition", id, t.partitions[i].name, String(i)])
            }
        case .mbr:
            if t.diskID == nil {
                let u = nameBasedUUID(["disk", seed])
                t.diskID = .mbr(UInt32(u[0]) << 24 | UInt32(u[1]) << 16 | UInt32(u[2]) << 8 | UInt32(u[3]))
            }
            for i in t.partitions.indices { t.partitions[i].logical = t.partitions.count > 4 && i >= 3 }
        }
        try t.validate(rawRegions: rawRegions)
        return t
    }

    var sectors: Int { diskSize / Self.sectorSize }

    /// The GPT entry array's first LBA.
    var entriesLBA: Int { (entriesOffset ?? Self.defaultEntriesOffset) / Self.sectorSize }
    /// GPT: the first and last LBA a partition may use.
    var firstUsableLBA: Int { entriesLBA + Self.gptEntriesBytes / Self.sectorSize }
    var lastUsableLBA: Int { sectors - 1 - Self.gptEntriesBytes / Self.sectorSize - 1 }

    /// The table's own sectors: nothing else may be written there.
    public var tableAreas: [TableArea] {
        let s = Self.sectorSize
        switch kind {
        case .gpt:
            let backup = Self.gptEntriesBytes + s
            return [
                TableArea(name: "the protective MBR", offset: 0, size: s),
                TableArea(name: "the GPT header", offset: s, size: s),
                TableArea(name: "the GPT entries", offset: entriesLBA * s, size: Self.gptEntriesBytes),
                TableArea(name: "the backup GPT (entries and header)", offset: max(0, diskSize - backup), size: min(backup, diskSize)),
            ]
        case .mbr:
            var areas = [TableArea(name: "the MBR", offset: 0, size: s)]
            for p in partitions where p.logical {
                areas.append(TableArea(name: "the EBR of '\(p.name)'", offset: p.offset - s, size: s))
            }
            return areas
        }
    }

    /// Checks the table (and the raw regions written beside it): sizes and alignment, the disk's
    /// end, the table's own areas, overlaps, counts, names, identifiers. The first problem is thrown.
    public func validate(rawRegions: [RawRegion] = []) throws {
        try checkEntriesLocation()
        try checkDisk()
        for (i, p) in partitions.enumerated() { try check(p, index: i) }
        try checkOverlaps(rawRegions: rawRegions)
        if kind == .mbr { try MBR.checkLogicals(self) }
        if kind == .gpt { try checkUsableRange() }
        try checkIdentifiers()
    }

    func checkDisk() throws {
        let s = Self.sectorSize
        guard diskSize > 0, diskSize % s == 0 else {
            throw DiskError("disk size \(diskSize): expected a positive multiple of \(s) bytes")
        }
        switch kind {
        case .gpt:
            let minimum = (firstUsableLBA + 1 + Self.gptEntriesBytes / s + 1) * s
            guard diskSize >= minimum else {
                throw DiskError("disk size \(ByteSize(bytes: diskSize)): a GPT with its entries at \(hex(entriesLBA * s)) needs at least \(ByteSize(bytes: minimum))")
            }
            guard partitions.count <= Self.gptEntryCount else {
                throw DiskError("\(partitions.count) partitions: a GPT holds at most \(Self.gptEntryCount)")
            }
        case .mbr:
            guard partitions.count <= 4 + 60 else { throw DiskError("\(partitions.count) partitions: expected at most 64 (4 primary, or 3 primary and logical ones)") }
        }
    }

    func checkEntriesLocation() throws {
        guard kind == .gpt, let o = entriesOffset else { return }
        let s = Self.sectorSize
        guard o % s == 0, o >= 2 * s else {
            throw DiskError("gpt-location \(hex(o)): expected a multiple of \(s) bytes, at least \(hex(2 * s)) (after the protective MBR and the GPT header)")
        }
        guard o <= diskSize / 2 else { throw DiskError("gpt-location \(hex(o)): beyond the first half of the \(ByteSize(bytes: diskSize)) disk") }
    }

    func check(_ p: Partition, index i: Int) throws {
        let s = Self.sectorSize
        let what = "partition \(i + 1) '\(p.name)'"
        guard p.offset >= 0, p.offset % s == 0 else { throw DiskError("\(what): offset \(hex(p.offset)) is not a multiple of \(s) bytes") }
        guard p.size > 0, p.size % s == 0 else { throw DiskError("\(what): size \(p.size) is not a positive multiple of \(s) bytes") }
        let (end, overflow) = p.offset.addingReportingOverflow(p.size)
        guard !overflow, end <= diskSize else {
            throw DiskError("\(what): ends at \(overflow ? "beyond 2^63" : hex(end)), past the disk's end at \(hex(diskSize))")
        }
        switch kind {
        case .gpt:
            guard case let .gpt(type) = p.type, type != .zero else { throw DiskError("\(what): expected a GPT type (a name or a GUID), found \(p.type)") }
            let units = p.name.utf16.count
            guard units <= 36 else { throw DiskError("\(what): the name is \(units) UTF-16 units long; GPT names hold at most 36") }
        case .mbr:
            guard case let .mbr(type) = p.type, type != 0 else { throw DiskError("\(what): expected an MBR type (a name or a byte 0x01…0xff), found \(p.type)") }
            guard end <= Self.mbrLimit else { throw DiskError("\(what): ends at \(hex(end)), beyond the MBR's 2 TiB limit (32-bit sectors); use a GPT") }
            if p.logical, p.offset < 2 * s { throw DiskError("\(what): a logical partition needs its EBR in the sector before it") }
        }
    }

    /// GPT partitions lie between the first and last usable LBA (after overlaps, which say more).
    func checkUsableRange() throws {
        let s = Self.sectorSize
        for (i, p) in partitions.enumerated() {
            let what = "partition \(i + 1) '\(p.name)'"
            guard p.offset / s >= firstUsableLBA else {
                throw DiskError("\(what): starts at \(hex(p.offset)), before the first usable byte \(hex(firstUsableLBA * s)) (after the GPT entries at \(hex(entriesLBA * s)))")
            }
            guard p.end / s - 1 <= lastUsableLBA else {
                throw DiskError("\(what): ends at \(hex(p.end)), inside the backup GPT (the last usable byte is \(hex((lastUsableLBA + 1) * s - 1)))")
            }
        }
    }

    func checkOverlaps(rawRegions: [RawRegion]) throws {
        let s = Self.sectorSize
        for r in rawRegions {
            let (end, overflow) = r.offset.addingReportingOverflow(r.size)
            guard r.offset >= 0, r.size >= 0, !overflow, end <= diskSize else {
                throw DiskError("raw region '\(r.name)': \(hex(r.offset))…\(overflow ? "?" : hex(end)) lies past the disk's end at \(hex(diskSize))")
            }
        }
        for a in tableAreas {
            for (i, p) in partitions.enumerated() where overlaps(p.offset, p.end, a.offset, a.end) {
                throw DiskError("partition \(i + 1) '\(p.name)' (\(hex(p.offset))…\(hex(p.end))) overlaps \(a.name) (\(hex(a.offset))…\(hex(a.end)))")
            }
            for r in rawRegions where overlaps(r.offset, r.offset + r.size, a.offset, a.end) {
                var hint = ""
                if kind == .gpt, a.name == "the GPT entries" {
                    let after = (r.offset + r.size + s - 1) / s * s
                    hint = "; move the entries with gpt-location (e.g. \(hex(max(after, 2 * s))) or later) or move the region"
                }
                throw DiskError("raw region '\(r.name)' (\(hex(r.offset))…\(hex(r.offset + r.size))) overlaps \(a.name) (\(hex(a.offset))…\(hex(a.end)))\(hint)")
            }
        }
        let spans = partitions.enumerated().map { ("partition \($0.offset + 1) '\($0.element.name)'", $0.element.offset, $0.element.end) }
            + rawRegions.map { ("raw region '\($0.name)'", $0.offset, $0.offset + $0.size) }
        for i in spans.indices {
            for j in spans.indices where j > i && overlaps(spans[i].1, spans[i].2, spans[j].1, spans[j].2) {
                throw DiskError("\(spans[i].0) (\(hex(spans[i].1))…\(hex(spans[i].2))) overlaps \(spans[j].0) (\(hex(spans[j].1))…\(hex(spans[j].2)))")
            }
        }
    }

    func checkIdentifiers() throws {
        guard kind == .gpt else {
            if case .guid = diskID { throw DiskError("disk-id \(diskID!): an MBR disk id is a 32-bit number (0x12345678)") }
            return
        }
        if case .mbr = diskID { throw DiskError("disk-id \(diskID!): a GPT disk id is a GUID") }
        var seen: [GUID: String] = [:]
        if case let .guid(g)? = diskID { seen[g] = "the disk" }
        for (i, p) in partitions.enumerated() {
            guard let g = p.guid else { continue }
            let what = "partition \(i + 1) '\(p.name)'"
            if g == .zero { throw DiskError("\(what): the partition GUID is all zeros") }
            if let other = seen[g] { throw DiskError("\(what): GUID \(g) is also \(other)'s") }
            seen[g] = what
        }
    }
}

func overlaps(_ a0: Int, _ a1: Int, _ b0: Int, _ b1: Int) -> Bool { a0 < b1 && b0 < a1 && a0 < a1 && b0 < b1 }

// MARK: - Writing and reading

extension PartitionTable {
    /// The bytes to write, as `(offset, bytes)` chunks (the start of the disk, and for GPT its end),
    /// after ``resolved(rawRegions:)``. Everything else of the disk is left as it is.
    public func chunks(rawRegions: [RawRegion] = []) throws -> [(offset: Int, bytes: [UInt8])] {
        let t = try resolved(rawRegions: rawRegions)
        switch kind {
        case .gpt: return GPT.chunks(t)
        case .mbr: return MBR.chunks(t)
        }
    }

    /// Writes the table into an open disk image (`fd`, named `path` in errors), which should be
    /// `diskSize` bytes long (the GPT backup is written at its end).
    public func write(toDescriptor fd: Int32, path: String, rawRegions: [RawRegion] = []) throws {
        for c in try chunks(rawRegions: rawRegions) { try FileIO.pwriteAll(fd, c.bytes, at: c.offset, path: path) }
    }

    /// Writes a disk image holding only the table (zeros elsewhere), `diskSize` bytes, atomically.
    public func write(to path: String) throws {
        let c = try chunks()
        let out = try AtomicFile(destination: path, durable: false)
        guard ftruncate(out.descriptor, off_t(diskSize)) == 0 else {
            throw FileError.writeFailed(path: path, offset: 0, reason: "ftruncate to \(diskSize): \(FileIO.errnoText())")
        }
        for chunk in c { try FileIO.pwriteAll(out.descriptor, chunk.bytes, at: chunk.offset, path: path) }
        try out.commit()
    }

    /// Reads the table of a disk image: GPT when the protective MBR and the GPT header say so,
    /// else MBR.
    public static func read(path: String) throws -> PartitionTable {
        try DiskImageInfo.read(path: path).table
    }
}
