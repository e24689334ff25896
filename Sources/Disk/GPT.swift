import FlashsmithCore

/// GUID Partition Table, UEFI Specification 2.10 §5.3 ("GUID Partition Table (GPT) Disk Layout"),
/// with 512-byte logical blocks:
///
/// ```
/// LBA 0            protective MBR: one entry of type 0xEE from LBA 1 over the disk (§5.2.3)
/// LBA 1            primary GPT header (92 bytes, rest of the block zero)
/// LBA E … E+31     primary entry array: 128 entries × 128 bytes (E = 2 unless gpt-location moves it)
/// LBA E+32 …       first usable LBA … partitions … last usable LBA
/// LBA N-33 … N-2   backup entry array
/// LBA N-1          backup GPT header (MyLBA and AlternateLBA swapped, entries at N-33)
///
/// header (little-endian)                       entry (little-endian, GUIDs mixed-endian)
///   0  Signature "EFI PART"        8             0  PartitionTypeGUID     16
///   8  Revision 0x00010000         4            16  UniquePartitionGUID   16
///  12  HeaderSize 92               4            32  StartingLBA            8
///  16  HeaderCRC32 (field zeroed)  4            40  EndingLBA (inclusive)  8
///  20  Reserved 0                  4            48  Attributes (bit 2: legacy BIOS bootable) 8
///  24  MyLBA                       8            56  PartitionName, UTF-16LE, 36 units   72
///  32  AlternateLBA                8
///  40  FirstUsableLBA              8
///  48  LastUsableLBA               8
///  56  DiskGUID                   16
///  72  PartitionEntryLBA           8
///  80  NumberOfPartitionEntries    4
///  84  SizeOfPartitionEntry        4
///  88  PartitionEntryArrayCRC32    4
/// ```
/// CRCs are zlib's CRC-32 (``CRC32/zlib(_:)``). Every field is written byte by byte at these
/// offsets; no Swift struct is ever written to disk.
public enum GPT {
    enum Header {
        static let signature = 0, revision = 8, headerSize = 12, headerCRC = 16, reserved = 20
        static let myLBA = 24, alternateLBA = 32, firstUsableLBA = 40, lastUsableLBA = 48
        static let diskGUID = 56, entriesLBA = 72, entryCount = 80, entrySize = 84, entriesCRC = 88
        static let size = 92
        static let magic = Array("EFI PART".utf8)
        static let revision10: UInt32 = 0x0001_0000
    }

    enum Entry {
        static let typeGUID = 0, uniqueGUID = 16, firstLBA = 32, lastLBA = 40, attributes = 48, name = 56
        static let nameUnits = 36
    }

    /// Entry arrays larger than this are refused before anything is allocated (the usual one is 16 KiB).
    public static let maxEntriesBytes = 4 << 20

    static let sector = PartitionTable.sectorSize

    // MARK: Writing

    /// The protective MBR, both headers and both entry arrays of a resolved table.
    static func chunks(_ t: PartitionTable) -> [(offset: Int, bytes: [UInt8])] {
        let lastLBA = t.sectors - 1
        let entriesBytes = PartitionTable.gptEntriesBytes
        let backupEntriesLBA = lastLBA - entriesBytes / sector
        let entries = entryArray(t)
        let entriesCRC = CRC32.zlib(entries)
        guard case let .guid(disk)? = t.diskID else { preconditionFailure("a resolved GPT has a disk GUID") }
        func header(my: Int, alternate: Int, entriesAt: Int) -> [UInt8] {
            var w = ByteWriter(filledWith: 0, count: sector)
            w.set(bytes: Header.magic, at: Header.signature)
            w.set(Header.revision10, at: Header.revision, .little)
            w.set(UInt32(Header.size), at: Header.headerSize, .little)
            w.set(UInt64(my), at: Header.myLBA, .little)
            w.set(UInt64(alternate), at: Header.alternateLBA, .little)
            w.set(UInt64(t.firstUsableLBA), at: Header.firstUsableLBA, .little)
            w.set(UInt64(t.lastUsableLBA), at: Header.lastUsableLBA, .little)
            w.set(bytes: disk.diskBytes, at: Header.diskGUID)
            w.set(UInt64(entriesAt), at: Header.entriesLBA, .little)
            w.set(UInt32(PartitionTable.gptEntryCount), at: Header.entryCount, .little)
            w.set(UInt32(PartitionTable.gptEntrySize), at: Header.entrySize, .little)
            w.set(entriesCRC, at: Header.entriesCRC, .little)
            w.set(CRC32.zlib(w.bytes[0..<Header.size]), at: Header.headerCRC, .little)
            return w.bytes
        }
        let protective = MBR.sector(signature: 0, entries: [MBR.protectiveEntry(sectors: t.sectors)])
        return [
            (0, protective + header(my: 1, alternate: lastLBA, entriesAt: t.entriesLBA)),
            (t.entriesLBA * sector, entries),
            (backupEntriesLBA * sector, entries + header(my: lastLBA, alternate: 1, entriesAt: backupEntriesLBA)),
        ]
    }

    static func entryArray(_ t: PartitionTable) -> [UInt8] {
        var w = ByteWriter(filledWith: 0, count: PartitionTable.gptEntriesBytes)
        for (i, p) in t.partitions.enumerated() {
            guard case let .gpt(type) = p.type, let guid = p.guid else { preconditionFailure("a resolved GPT partition has a type GUID and a GUID") }
            let base = i * PartitionTable.gptEntrySize
            w.set(bytes: type.diskBytes, at: base + Entry.typeGUID)
            w.set(bytes: guid.diskBytes, at: base + Entry.uniqueGUID)
            w.set(UInt64(p.offset / sector), at: base + Entry.firstLBA, .little)
            w.set(UInt64(p.end / sector - 1), at: base + Entry.lastLBA, .little)
            let attributes = p.attributes & ~PartitionTypes.legacyBIOSBootable | (p.bootable ? PartitionTypes.legacyBIOSBootable : 0)
            w.set(attributes, at: base + Entry.attributes, .little)
            for (k, unit) in p.name.utf16.prefix(Entry.nameUnits).enumerated() { w.set(unit, at: base + Entry.name + 2 * k, .little) }
        }
        return w.bytes
    }

    // MARK: Reading

    /// A header's fields, as read.
    public struct HeaderInfo: Sendable, Equatable {
        public var myLBA: UInt64, alternateLBA: UInt64, firstUsableLBA: UInt64, lastUsableLBA: UInt64
        public var diskGUID: GUID
        public var entriesLBA: UInt64, entryCount: Int, entrySize: Int, entriesCRC: UInt32
    }

    /// Whether the block after the protective MBR starts with the GPT signature.
    public static func looksLikeGPT(_ prefix: [UInt8]) -> Bool {
        prefix.count >= 2 * sector && Array(prefix[sector..<sector + 8]) == Header.magic
    }

    /// Reads and checks the primary header and entries (a bad CRC there is an error), then the
    /// backup header and entries (what is wrong with them is listed in ``DiskImageInfo/problems``).
    public static func read(path: String) throws -> DiskImageInfo {
        let fileSize = try FileIO.size(of: path)
        guard fileSize >= 2 * sector else { throw DiskError("\(path): \(fileSize) bytes: too small for a GPT (2 blocks of 512)") }
        let block = try FileIO.read(path, offset: sector, count: sector)
        let h = try header(block, path: path, at: sector)
        guard h.myLBA == 1 else { throw DiskError("\(path): GPT header at \(hex(sector)): MyLBA is \(h.myLBA), expected 1") }
        let entries = try entryBytes(h, path: path, fileSize: fileSize, which: "primary")
        var problems: [String] = []
        let (partitions, numbers) = parseEntries(entries, h, path: path, problems: &problems)
        problems += checkBackup(h, path: path, fileSize: fileSize)
        let diskSize = fileSize / sector * sector
        let entriesOffset = Int(h.entriesLBA) * sector
        var table = PartitionTable(
            kind: .gpt, diskSize: diskSize, diskID: .guid(h.diskGUID), entriesOffset: entriesOffset == PartitionTable.defaultEntriesOffset ? nil : entriesOffset,
            partitions: partitions)
        table.partitions = partitions
        if h.entryCount * h.entrySize == PartitionTable.gptEntriesBytes, h.entrySize == PartitionTable.gptEntrySize {
            do { try table.validate() } catch { problems.append("\(error)") }
        }
        return DiskImageInfo(path: path, table: table, numbers: numbers, gpt: h, problems: problems)
    }

    /// The header in `block` (at byte `offset` of the file), its signature, size and CRC checked.
    static func header(_ block: [UInt8], path: String, at offset: Int) throws -> HeaderInfo {
        let r = ByteReader(block, baseOffset: offset)
        let what = "\(path): GPT header at \(hex(offset))"
        guard Array(block.prefix(8)) == Header.magic else { throw DiskError("\(what): expected the signature 'EFI PART', found \(hexString(block.prefix(8)))") }
        let size = Int(try r.get(UInt32.self, at: Header.headerSize, .little))
        guard size >= Header.size, size <= sector else { throw DiskError("\(what): HeaderSize is \(size), expected \(Header.size)…\(sector)") }
        var zeroed = Array(block[0..<size])
        for i in Header.headerCRC..<Header.headerCRC + 4 { zeroed[i] = 0 }
        let stored = try r.get(UInt32.self, at: Header.headerCRC, .little), computed = CRC32.zlib(zeroed)
        guard stored == computed else { throw DiskError("\(what): header CRC32 is \(hex(stored)), computed \(hex(computed))") }
        let count = try r.get(UInt32.self, at: Header.entryCount, .little), entrySize = try r.get(UInt32.self, at: Header.entrySize, .little)
        guard entrySize >= 128, entrySize <= 4096, entrySize.nonzeroBitCount == 1 else {
            throw DiskError("\(what): SizeOfPartitionEntry is \(entrySize), expected 128 × 2^n (128…4096)")
        }
        let (bytes, overflow) = Int(count).multipliedReportingOverflow(by: Int(entrySize))
        guard count > 0, !overflow, bytes <= maxEntriesBytes else {
            throw DiskError("\(what): \(count) entries of \(entrySize) bytes: expected 1 to \(maxEntriesBytes) bytes of entries")
        }
        return HeaderInfo(
            myLBA: try r.get(UInt64.self, at: Header.myLBA, .little), alternateLBA: try r.get(UInt64.self, at: Header.alternateLBA, .little),
            firstUsableLBA: try r.get(UInt64.self, at: Header.firstUsableLBA, .little), lastUsableLBA: try r.get(UInt64.self, at: Header.lastUsableLBA, .little),
            diskGUID: GUID(diskBytes: try r.get(bytesAt: Header.diskGUID, count: 16)), entriesLBA: try r.get(UInt64.self, at: Header.entriesLBA, .little),
            entryCount: Int(count), entrySize: Int(entrySize), entriesCRC: try r.get(UInt32.self, at: Header.entriesCRC, .little))
    }

    /// The entry array a header points at, bounds and CRC checked.
    static func entryBytes(_ h: HeaderInfo, path: String, fileSize: Int, which: String) throws -> [UInt8] {
        let bytes = h.entryCount * h.entrySize
        guard let lba = Int(exactly: h.entriesLBA), case let (start, false) = lba.multipliedReportingOverflow(by: sector),
              case let (end, false) = start.addingReportingOverflow(bytes), end <= fileSize
        else {
            throw DiskError("\(path): \(which) GPT entries at LBA \(h.entriesLBA) (\(bytes) bytes) lie past the end of the file (\(fileSize) bytes)")
        }
        let entries = try FileIO.read(path, offset: start, count: bytes)
        let computed = CRC32.zlib(entries)
        guard computed == h.entriesCRC else {
            throw DiskError("\(path): \(which) GPT entries at \(hex(start)): CRC32 is \(hex(h.entriesCRC)) in the header, computed \(hex(computed))")
        }
        return entries
    }

    /// The used entries (a type GUID not zero) as partitions, with their entry numbers (from 1).
    static func parseEntries(_ entries: [UInt8], _ h: HeaderInfo, path: String, problems: inout [String]) -> ([Partition], [Int]) {
        var partitions: [Partition] = [], numbers: [Int] = []
        for i in 0..<h.entryCount {
            let e = Array(entries[i * h.entrySize..<(i + 1) * h.entrySize])
            let type = GUID(diskBytes: e[Entry.typeGUID..<Entry.typeGUID + 16])
            guard type != .zero else { continue }
            let first = le64(e, Entry.firstLBA), last = le64(e, Entry.lastLBA)
            guard first <= last, let f = Int(exactly: first), let l = Int(exactly: last), case let (endLBA, false) = l.addingReportingOverflow(1),
                  case let (offset, false) = f.multipliedReportingOverflow(by: sector), case let (end, false) = endLBA.multipliedReportingOverflow(by: sector)
            else {
                problems.append("entry \(i + 1): LBAs \(first)…\(last) are not a range on a disk")
                continue
            }
            var units: [UInt16] = []
            for k in 0..<Entry.nameUnits {
                let u = UInt16(e[Entry.name + 2 * k]) | UInt16(e[Entry.name + 2 * k + 1]) << 8
                if u == 0 { break }
                units.append(u)
            }
            let attributes = le64(e, Entry.attributes)
            partitions.append(Partition(
                name: String(decoding: units, as: UTF16.self), offset: offset, size: end - offset, type: .gpt(type),
                bootable: attributes & PartitionTypes.legacyBIOSBootable != 0, guid: GUID(diskBytes: e[Entry.uniqueGUID..<Entry.uniqueGUID + 16]),
                attributes: attributes & ~PartitionTypes.legacyBIOSBootable))
            numbers.append(i + 1)
        }
        return (partitions, numbers)
    }

    /// What is wrong with the backup header and entries, and with where they are.
    static func checkBackup(_ h: HeaderInfo, path: String, fileSize: Int) -> [String] {
        var problems: [String] = []
        let lastLBA = UInt64(fileSize / sector) - 1
        if h.alternateLBA != lastLBA { problems.append("the backup header is at LBA \(h.alternateLBA), not at the disk's last LBA \(lastLBA)") }
        guard let alt = Int(exactly: h.alternateLBA), case let (offset, false) = alt.multipliedReportingOverflow(by: sector), offset <= fileSize - sector else {
            problems.append("the backup header at LBA \(h.alternateLBA) lies past the end of the file")
            return problems
        }
        do {
            let b = try header(try FileIO.read(path, offset: offset, count: sector), path: path, at: offset)
            if b.myLBA != h.alternateLBA || b.alternateLBA != 1 { problems.append("backup header: MyLBA \(b.myLBA), AlternateLBA \(b.alternateLBA); expected \(h.alternateLBA) and 1") }
            if b.diskGUID != h.diskGUID || b.firstUsableLBA != h.firstUsableLBA || b.lastUsableLBA != h.lastUsableLBA || b.entryCount != h.entryCount || b.entrySize != h.entrySize {
                problems.append("backup header: disk GUID, usable LBAs or entry geometry differ from the primary header's")
            }
            _ = try entryBytes(b, path: path, fileSize: fileSize, which: "backup")
            if b.entriesCRC != h.entriesCRC { problems.append("backup entries differ from the primary entries (CRC32 \(hex(b.entriesCRC)), primary \(hex(h.entriesCRC)))") }
        } catch {
            problems.append("backup: \(error)")
        }
        return problems
    }

    static func le64(_ b: [UInt8], _ at: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in (0..<8).reversed() { v = v << 8 | UInt64(b[at + i]) }
        return v
    }
}
