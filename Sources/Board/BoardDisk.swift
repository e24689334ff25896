import FlashsmithCore
import YAML

/// A board that boots from a disk (SD card, eMMC, a virtio disk in QEMU): `flash: {type: disk}`.
/// ```yaml
/// flash:
///   type: disk
///   size: 256MiB                 # the disk image (written sparse)
///   partition-table: gpt         # gpt | mbr
///   align: 1MiB                  # automatic offsets are aligned to this (default 1MiB)
///   disk-id: 0x12345678          # MBR signature or GPT disk GUID; default derived from the board's name
///   gpt-location: 1KiB           # where the GPT entry array starts (default LBA 2, 1 KiB)
///   device: vda                  # the kernel's name of the disk (default vda with qemu:, else mmcblk0)
/// partitions:
///   - name: u-boot               # a raw region: not in the table, at a fixed offset a boot ROM reads
///     offset: 32KiB
///     size: 1MiB
///     in-table: false
///     content: {file: u-boot.bin}
///   - name: boot
///     size: 64MiB                # offset: automatic (aligned, after the previous) unless given
///     type: esp                  # GPT: a name (linux, esp, …) or GUID; MBR: a name (fat32, linux, …) or a byte
///     bootable: true
///     content: {vfat: {fit: {load: 0x40400000}, boot-script: true}}
///   - name: root
///     size: 128MiB
///     content: {squashfs: rootfs.yaml}
///   - name: data
///     size: rest
///     content: {ext4: {empty: true}}
/// ```
/// Sizes and offsets are whole 512-byte sectors; partitions may not overlap each other or the
/// table (the protective MBR, the GPT header and entries, the backup GPT at the end).
extension BoardLayout {
    /// The sectors the partition table itself takes at the start of the disk (bytes), and at its
    /// end (the backup GPT: 32 sectors of entries and the header).
    public var diskTableAreas: [(name: String, start: Int, end: Int)] {
        guard let d = flash.disk else { return [] }
        let sector = Disk.sector
        switch d.table {
        case .mbr:
            return [("the MBR", 0, sector)]
        case .gpt:
            let entries = d.gptLocation ?? 2 * sector
            var areas = [("the protective MBR and GPT header", 0, 2 * sector)]
            areas.append(("the GPT entries", entries, entries + 32 * sector))
            areas.append(("the backup GPT", flash.chipSize - 33 * sector, flash.chipSize))
            return areas
        }
    }

    /// Where automatic offsets may start and the last byte partitions may use.
    var diskUsable: (first: Int, end: Int) {
        let areas = diskTableAreas
        let first = areas.filter { $0.start < flash.chipSize / 2 }.map(\.end).max() ?? 0
        let end = flash.disk?.table == .gpt ? flash.chipSize - 33 * Disk.sector : flash.chipSize
        return (first, end)
    }

    /// Offsets filled in (aligned after the previous partition in the table; raw regions need
    /// theirs), `rest` resolved, and every partition checked against the disk and the table.
    mutating func resolveDisk() throws {
        guard let d = flash.disk else { return }
        let sector = Disk.sector
        func fail(_ p: Partition, _ m: String) -> Failure { Failure(message: "\(source):\(p.line): partition '\(p.name)': \(m)") }
        let usable = diskUsable
        var next = usable.first
        for i in partitions.indices {
            var p = partitions[i]
            if p.offset < 0 {
                guard p.inTable else { throw fail(p, "in-table: false needs offset: (where the boot ROM reads it)") }
                p.offset = (next + d.align - 1) / d.align * d.align
            }
            guard p.offset % sector == 0 else { throw fail(p, "offset \(hex(p.offset)) is not a whole number of 512-byte sectors") }
            if p.size < 0 {
                guard i == partitions.count - 1 else { throw fail(p, "only the last partition can be 'rest'") }
                guard p.offset < usable.end else { throw fail(p, "starts at \(hex(p.offset)), where no room is left for 'rest' (the disk's usable space ends at \(hex(usable.end)))") }
                p.size = usable.end - p.offset
            }
            guard p.size > 0, p.size % sector == 0 else { throw fail(p, "size \(hex(p.size)) is not a whole number of 512-byte sectors") }
            guard p.offset <= flash.chipSize, p.size <= flash.chipSize - p.offset else { throw fail(p, "ends at \(hex(p.offset + p.size)), past the \(hex(flash.chipSize)) disk") }
            for a in diskTableAreas where p.offset < a.end && a.start < p.offset + p.size {
                var hint = ""
                if a.name == "the GPT entries" { hint = " (move the entries with gpt-location:, or the partition)" }
                throw fail(p, "\(hex(p.offset))…\(hex(p.offset + p.size)) overlaps \(a.name) at \(hex(a.start))…\(hex(a.end))\(hint)")
            }
            for q in partitions[..<i] where p.offset < q.offset + q.size && q.offset < p.offset + p.size {
                throw fail(p, "\(hex(p.offset))…\(hex(p.offset + p.size)) overlaps '\(q.name)' (\(hex(q.offset))…\(hex(q.offset + q.size)), line \(q.line))")
            }
            if d.table == .mbr, p.inTable, p.offset + p.size > 0xFFFF_FFFF * sector {
                throw fail(p, "ends past 2 TiB, beyond what an MBR entry can say: use partition-table: gpt")
            }
            p.blocks = p.size / sector
            if p.inTable { next = max(next, p.offset + p.size) }
            partitions[i] = p
        }
        if d.table == .mbr, partitions.filter(\.inTable).count > 4 {
            throw Failure(message: "\(source): partition-table: mbr holds 4 partitions, the board has \(partitions.filter(\.inTable).count) in the table: use gpt")
        }
        for p in partitions where p.bootable && d.table == .gpt && !p.inTable {
            throw fail(p, "bootable: is a flag in the table, and in-table: false keeps the partition out of it")
        }
    }

    /// The partition holding the root filesystem: the first whose content is ext4 or squashfs
    /// built from a rootfs spec.
    public var diskRootIndex: Int? {
        guard flash.kind == .disk else { return nil }
        return partitions.firstIndex { $0.inTable && $0.content.rootSpec != nil }
    }

    /// The table's number of a partition (1-based, in order, raw regions skipped): vda2, mmcblk0p2.
    public func diskPartitionNumber(_ index: Int) -> Int {
        partitions[...index].filter(\.inTable).count
    }

    /// The root= the kernel (or the block-root initramfs) mounts: PARTLABEL on GPT (independent of
    /// the disk's name), the device node on MBR.
    public func diskRootArgument(_ index: Int) -> String {
        let p = partitions[index]
        if flash.disk?.table == .gpt { return "root=PARTLABEL=\(p.name)" }
        let dev = flash.disk?.device ?? (qemu != nil ? "vda" : "mmcblk0")
        let sep = dev.last?.isNumber == true ? "p" : ""
        return "root=/dev/\(dev)\(sep)\(diskPartitionNumber(index))"
    }
}

extension BoardFileReader {
    func disk(_ f: YAMLNode) throws -> BoardLayout.Flash {
        try f.strictMapping(BoardLayout.diskKeys, in: "flash: (type: disk)", source: path)
        let sizeNode = try required(f, "size")
        let total = try size(sizeNode, "size", in: 1...Limits.diskSize)
        guard total % BoardLayout.Disk.sector == 0, total >= 64 * BoardLayout.Disk.sector else {
            throw fail(sizeNode, "size \(hex(total)): expected a whole number of 512-byte sectors, at least 32 KiB")
        }
        var d = BoardLayout.Disk()
        if let t = f["partition-table"] {
            guard let v = BoardLayout.Disk.Table(rawValue: t.string ?? "") else { throw fail(t, "partition-table: expected gpt or mbr, found \(t.kind)") }
            d.table = v
        }
        if let a = f["align"] {
            d.align = try size(a, "align", in: 512...(1 << 30))
            guard d.align % BoardLayout.Disk.sector == 0 else { throw fail(a, "align \(hex(d.align)): expected a whole number of 512-byte sectors") }
        }
        if let i = f["disk-id"] {
            let t = try i.text("disk-id", expected: "a GUID or a 32-bit number", source: path)
            if d.table == .gpt {
                guard PartitionContent.isUUID(t) else { throw fail(i, "disk-id: a GPT disk's id is a GUID (8-4-4-4-12 hex digits), found '\(t)'") }
                d.diskID = t.lowercased()
            } else {
                guard let v = try? ByteSize(parsing: t), v.bytes <= 0xFFFF_FFFF else { throw fail(i, "disk-id: an MBR disk's id is a 32-bit number (0x12345678), found '\(t)'") }
                d.diskID = hex(v.bytes)
            }
        }
        if let g = f["gpt-location"] {
            guard d.table == .gpt else { throw fail(g, "gpt-location: is for partition-table: gpt") }
            let v = try size(g, "gpt-location", in: 2 * BoardLayout.Disk.sector...(total / 2))
            guard v % BoardLayout.Disk.sector == 0 else { throw fail(g, "gpt-location \(hex(v)): expected a whole number of 512-byte sectors") }
            d.gptLocation = v
        }
        if let n = f["device"] {
            let t = try n.text("device", expected: "a kernel disk name (vda, mmcblk0, sda)", source: path)
            guard !t.isEmpty, t.count <= 32, t.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber) }) else {
                throw fail(n, "device: expected the kernel's name of the disk (vda, mmcblk0, sda), found '\(t)'")
            }
            d.device = t
        }
        var flash = BoardLayout.Flash(pageSize: 1, oobSize: 0, eraseBlockSize: BoardLayout.Disk.sector, chipSize: total, subpageSize: 1, ecc: .none, badBlocksPer1024: 0, mtdID: "disk", idBytes: [])
        flash.kind = .disk
        flash.disk = d
        return flash
    }

    func diskPartition(_ p: YAMLNode) throws -> BoardLayout.Partition {
        let context = p["name"]?.string.map { "partition '\($0)'" } ?? "a partition"
        for e in p.entries ?? [] where e.key == "read-only" {
            throw Failure(message: "\(path):\(e.keyLine): \(context): read-only: is for flash partitions (mtdparts' ro); a disk partition has no such flag")
        }
        try p.strictMapping(BoardLayout.diskPartitionKeys, in: context, source: path)
        guard let nameNode = p["name"] else { throw fail(p, "a partition needs a name") }
        let name = try name(nameNode, "partition name")
        guard name.utf16.count <= 36 else { throw fail(nameNode, "partition name '\(name)': a GPT name holds 36 characters") }
        guard let sizeNode = p["size"] else { throw fail(p, "partition '\(name)': size: is missing (a size, or rest for the rest of the disk)") }
        var part = BoardLayout.Partition(name: name, offset: -1, size: -1, readOnly: false, line: p.line)
        if sizeNode.string != "rest" { part.size = try size(sizeNode, "partition '\(name)' size", in: 1...Limits.diskSize) }
        if let o = p["offset"] { part.offset = try size(o, "partition '\(name)' offset", in: 0...Limits.diskSize) }
        if let t = p["type"] { part.type = try t.text("partition '\(name)' type", expected: "a type name or GUID/byte", source: path) }
        part.bootable = try p["bootable"]?.bool("bootable", source: path) ?? false
        if let u = p["uuid"] {
            let t = try u.text("partition '\(name)' uuid", expected: "a GUID", source: path)
            guard PartitionContent.isUUID(t) else { throw fail(u, "partition '\(name)' uuid: expected a GUID (8-4-4-4-12 hex digits), found '\(t)'") }
            part.uuid = t.lowercased()
        }
        part.inTable = try p["in-table"]?.bool("in-table", source: path) ?? true
        if !part.inTable {
            for key in ["type", "bootable", "uuid"] where p[key] != nil {
                throw fail(p[key]!, "partition '\(name)': \(key): is a table field, and in-table: false keeps the partition out of the table")
            }
        }
        if let c = p["content"] { part.content = try PartitionContent.parse(c, partition: name, source: path, disk: true) }
        return part
    }
}
