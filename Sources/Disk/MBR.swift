import FlashsmithCore

/// Master Boot Record partition table (the IBM PC layout; UEFI 2.10 §5.2.1 "Legacy Master Boot
/// Record"), with extended boot records (EBRs) for logical partitions, in 512-byte sectors:
///
/// ```
/// sector 0:   0  boot code            440       entry (16 bytes):  0  status (0x80 bootable)  1
///           440  disk signature (LE)    4                          1  first CHS               3
///           444  reserved 0             2                          4  system id (type)        1
///           446  4 entries × 16        64                          5  last CHS                3
///           510  0x55 0xAA              2                          8  first LBA (LE)          4
///                                                                 12  sectors (LE)            4
/// ```
/// More than four partitions: entries 1–3 are primary, entry 4 the extended partition (type 0x0F)
/// from the first EBR to the end of the last logical partition. Each logical partition has an EBR
/// in the sector right before it: entry 1 the partition (first LBA relative to the EBR), entry 2
/// the link to the next EBR (type 0x05, relative to the extended partition's start, covering that
/// EBR and its partition), the rest zero, 0x55AA at the end.
///
/// CHS fields are written as fdisk/sfdisk write them for LBA disks: 255 heads, 63 sectors per
/// track; past cylinder 1023, 1023/254/63 (bytes FE FF FF).
public enum MBR {
    enum Layout {
        static let diskSignature = 440, reserved = 444, entries = 446, entrySize = 16, bootSignature = 510
    }

    enum Entry {
        static let status = 0, firstCHS = 1, type = 4, lastCHS = 5, firstLBA = 8, sectors = 12
    }

    static let sector = PartitionTable.sectorSize
    static let bootable: UInt8 = 0x80
    static let heads = 255, sectorsPerTrack = 63
    static let extendedTypes: Set<UInt8> = [0x05, 0x0F, 0x85]
    /// Logical partitions read before the chain is given up as a loop.
    public static let maxLogical = 128

    // MARK: Writing

    /// A cylinder/head/sector triple for `lba`, as its three bytes.
    static func chs(_ lba: Int) -> [UInt8] {
        var c = lba / (heads * sectorsPerTrack), h = (lba / sectorsPerTrack) % heads, s = lba % sectorsPerTrack + 1
        if c > 1023 { (c, h, s) = (1023, heads - 1, sectorsPerTrack) }
        return [UInt8(h), UInt8(s | (c >> 2) & 0xC0), UInt8(c & 0xFF)]
    }

    /// One 16-byte entry.
    static func entry(status: UInt8, type: UInt8, firstLBA: Int, sectors: Int, chsFirst: [UInt8]? = nil, chsLast: [UInt8]? = nil) -> [UInt8] {
        var w = ByteWriter(filledWith: 0, count: Layout.entrySize)
        w.set(status, at: Entry.status, .little)
        w.set(bytes: chsFirst ?? chs(firstLBA), at: Entry.firstCHS)
        w.set(type, at: Entry.type, .little)
        w.set(bytes: chsLast ?? chs(firstLBA + sectors - 1), at: Entry.lastCHS)
        w.set(UInt32(firstLBA), at: Entry.firstLBA, .little)
        w.set(UInt32(sectors), at: Entry.sectors, .little)
        return w.bytes
    }

    /// GPT's protective entry: type 0xEE from LBA 1 over the disk (at most 0xFFFFFFFF sectors),
    /// last CHS 0xFFFFFF as UEFI §5.2.3 allows and sfdisk writes.
    static func protectiveEntry(sectors: Int) -> [UInt8] {
        entry(status: 0, type: 0xEE, firstLBA: 1, sectors: min(sectors - 1, Int(UInt32.max)), chsLast: [0xFF, 0xFF, 0xFF])
    }

    /// A sector with up to four entries and the boot signature.
    static func sector(signature: UInt32, entries: [[UInt8]]) -> [UInt8] {
        var w = ByteWriter(filledWith: 0, count: sector)
        w.set(signature, at: Layout.diskSignature, .little)
        for (i, e) in entries.enumerated() { w.set(bytes: e, at: Layout.entries + i * Layout.entrySize) }
        w.set(bytes: [0x55, 0xAA], at: Layout.bootSignature)
        return w.bytes
    }

    static func typeByte(_ p: Partition) -> UInt8 {
        guard case let .mbr(b) = p.type else { preconditionFailure("a resolved MBR partition has an MBR type") }
        return b
    }

    /// The MBR (and the EBRs) of a resolved table.
    static func chunks(_ t: PartitionTable) -> [(offset: Int, bytes: [UInt8])] {
        guard case let .mbr(signature)? = t.diskID else { preconditionFailure("a resolved MBR table has a disk signature") }
        func primary(_ p: Partition) -> [UInt8] {
            entry(status: p.bootable ? bootable : 0, type: typeByte(p), firstLBA: p.offset / sector, sectors: p.size / sector)
        }
        let primaries = t.partitions.filter { !$0.logical }, logicals = t.partitions.filter(\.logical)
        var entries = primaries.map(primary)
        guard let firstLogical = logicals.first, let lastLogical = logicals.last else { return [(0, sector(signature: signature, entries: entries))] }
        let extStart = firstLogical.offset / sector - 1
        entries.append(entry(status: 0, type: 0x0F, firstLBA: extStart, sectors: lastLogical.end / sector - extStart))
        var out = [(offset: 0, bytes: sector(signature: signature, entries: entries))]
        for (k, p) in logicals.enumerated() {
            let ebr = p.offset / sector - 1
            var e = [entry(status: p.bootable ? bootable : 0, type: typeByte(p), firstLBA: 1, sectors: p.size / sector, chsFirst: chs(p.offset / sector))]
            e[0] = patchedCHS(e[0], last: chs(p.end / sector - 1))
            if k + 1 < logicals.count {
                let next = logicals[k + 1], nextEBR = next.offset / sector - 1
                e.append(entry(status: 0, type: 0x05, firstLBA: nextEBR - extStart, sectors: next.end / sector - nextEBR, chsFirst: chs(nextEBR), chsLast: chs(next.end / sector - 1)))
            }
            out.append((ebr * sector, sector(signature: 0, entries: e)))
        }
        return out
    }

    static func patchedCHS(_ e: [UInt8], last: [UInt8]) -> [UInt8] {
        var e = e
        e.replaceSubrange(Entry.lastCHS..<Entry.lastCHS + 3, with: last)
        return e
    }

    /// Logical partitions must follow each other in disk order, after the primary ones' extended
    /// area is clear of primaries.
    static func checkLogicals(_ t: PartitionTable) throws {
        let logicals = t.partitions.enumerated().filter { $0.element.logical }
        guard let first = logicals.first?.element, let last = logicals.last?.element else { return }
        for (a, b) in zip(logicals, logicals.dropFirst()) where b.element.offset <= a.element.offset {
            throw DiskError("partition \(b.offset + 1) '\(b.element.name)': logical partitions must be in disk order (it starts before '\(a.element.name)')")
        }
        let extStart = first.offset - sector
        for (i, p) in t.partitions.enumerated() where !p.logical && overlaps(p.offset, p.end, extStart, last.end) {
            throw DiskError("partition \(i + 1) '\(p.name)': a primary partition inside the extended area (\(hex(extStart))…\(hex(last.end))) of the logical partitions; place it before or after them")
        }
    }

    // MARK: Reading

    /// Whether sector 0 looks like a partition table: the boot signature, status bytes 0x00 or
    /// 0x80, at least one entry, and not a FAT or NTFS boot sector (which also ends in 0x55AA).
    public static func looksLikeMBR(_ prefix: [UInt8]) -> Bool {
        guard prefix.count >= sector, prefix[Layout.bootSignature] == 0x55, prefix[Layout.bootSignature + 1] == 0xAA else { return false }
        if looksLikeBootSector(prefix) { return false }
        var used = 0
        for i in 0..<4 {
            let e = Array(prefix[Layout.entries + i * Layout.entrySize..<Layout.entries + (i + 1) * Layout.entrySize])
            guard e[Entry.status] == 0 || e[Entry.status] == bootable else { return false }
            if e[Entry.type] != 0 {
                guard le32(e, Entry.sectors) > 0, le32(e, Entry.firstLBA) > 0 else { return false }
                used += 1
            }
        }
        return used > 0
    }

    /// A FAT (or NTFS, exFAT) volume boot record: a jump, a BPB with a power-of-two sector size.
    static func looksLikeBootSector(_ b: [UInt8]) -> Bool {
        let jump = b[0] == 0xEB && b[2] == 0x90 || b[0] == 0xE9
        let bytesPerSector = Int(b[11]) | Int(b[12]) << 8
        let spc = b[13]
        let bpb = [512, 1024, 2048, 4096].contains(bytesPerSector) && spc != 0 && spc.nonzeroBitCount == 1
        let names = [Array("FAT".utf8), Array("NTFS".utf8), Array("EXFAT".utf8)]
        let named = names.contains { n in [3, 0x36, 0x52].contains { Array(b[$0..<$0 + n.count]) == n } }
        return jump && (bpb || named)
    }

    /// Reads the four entries and the chain of EBRs; entries are numbered as Linux does (1–4,
    /// logical from 5). A protective 0xEE entry means the disk is GPT (read with ``GPT``).
    public static func read(path: String) throws -> DiskImageInfo {
        let fileSize = try FileIO.size(of: path)
        guard fileSize >= sector else { throw DiskError("\(path): \(fileSize) bytes: too small for an MBR (one sector of 512)") }
        let s0 = try FileIO.read(path, offset: 0, count: sector)
        guard s0[Layout.bootSignature] == 0x55, s0[Layout.bootSignature + 1] == 0xAA else {
            throw DiskError("\(path): offset 0x1fe: expected the MBR signature 55 aa, found \(hexString(s0[Layout.bootSignature...]))")
        }
        var problems: [String] = [], partitions: [Partition] = [], numbers: [Int] = []
        var extended: (start: Int, sectors: Int)?
        for i in 0..<4 {
            let e = Array(s0[Layout.entries + i * Layout.entrySize..<Layout.entries + (i + 1) * Layout.entrySize])
            guard e[Entry.type] != 0 else { continue }
            if e[Entry.status] != 0 && e[Entry.status] != bootable { problems.append("entry \(i + 1): status \(hex(e[Entry.status])), expected 0x00 or 0x80") }
            if extendedTypes.contains(e[Entry.type]) {
                if extended == nil { extended = (Int(le32(e, Entry.firstLBA)), Int(le32(e, Entry.sectors))) } else { problems.append("entry \(i + 1): a second extended partition (ignored)") }
                continue
            }
            partitions.append(partition(e, base: 0, name: String(i + 1)))
            numbers.append(i + 1)
        }
        if let extended { readLogicals(path: path, fileSize: fileSize, extended: extended, into: &partitions, numbers: &numbers, problems: &problems) }
        let signature = UInt32(s0[440]) | UInt32(s0[441]) << 8 | UInt32(s0[442]) << 16 | UInt32(s0[443]) << 24
        let table = PartitionTable(kind: .mbr, diskSize: fileSize / sector * sector, diskID: .mbr(signature), partitions: partitions)
        for (i, p) in partitions.enumerated() where p.end > table.diskSize {
            problems.append("partition \(numbers[i]): ends at \(hex(p.end)), past the end of the file (\(hex(table.diskSize)))")
        }
        if problems.isEmpty { do { try table.validate() } catch { problems.append("\(error)") } }
        return DiskImageInfo(path: path, table: table, numbers: numbers, gpt: nil, problems: problems)
    }

    static func partition(_ e: [UInt8], base: Int, name: String, logical: Bool = false) -> Partition {
        let first = base + Int(le32(e, Entry.firstLBA)), count = Int(le32(e, Entry.sectors))
        return Partition(name: name, offset: first * sector, size: count * sector, type: .mbr(e[Entry.type]), bootable: e[Entry.status] == bootable, logical: logical)
    }

    /// Follows the EBR chain: each EBR's first entry is a logical partition, its second the next EBR.
    static func readLogicals(path: String, fileSize: Int, extended: (start: Int, sectors: Int), into partitions: inout [Partition], numbers: inout [Int], problems: inout [String]) {
        var ebr = extended.start
        var seen = Set<Int>()
        var number = 5
        while true {
            guard seen.insert(ebr).inserted, seen.count <= maxLogical else {
                problems.append("EBR chain: loops or is longer than \(maxLogical) (at LBA \(ebr))")
                return
            }
            guard ebr * sector + sector <= fileSize else {
                problems.append("EBR at LBA \(ebr): past the end of the file")
                return
            }
            guard let s = try? FileIO.read(path, offset: ebr * sector, count: sector), s[Layout.bootSignature] == 0x55, s[Layout.bootSignature + 1] == 0xAA else {
                problems.append("EBR at LBA \(ebr): no 55 aa signature")
                return
            }
            let e1 = Array(s[Layout.entries..<Layout.entries + 16]), e2 = Array(s[Layout.entries + 16..<Layout.entries + 32])
            if e1[Entry.type] != 0 {
                partitions.append(partition(e1, base: ebr, name: String(number), logical: true))
                numbers.append(number)
                number += 1
            }
            guard extendedTypes.contains(e2[Entry.type]) else { return }
            ebr = extended.start + Int(le32(e2, Entry.firstLBA))
        }
    }

    static func le32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) | UInt32(b[at + 1]) << 8 | UInt32(b[at + 2]) << 16 | UInt32(b[at + 3]) << 24
    }
}
