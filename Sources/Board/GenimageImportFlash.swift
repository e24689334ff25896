import FlashsmithCore

/// genimage's `flash` images (partition contents on a NAND or NOR chip, no table) and their `ubi`
/// and `ubifs` partitions, as a NAND/NOR board.
extension GenimageImport {
    /// The `flash NAME { … }` geometry an image's `flashtype` names.
    func flashType(_ image: Section) throws -> Section {
        guard let o = image.option("flashtype") else { throw Failure(image.at, "image '\(image.title ?? "")': a flash image needs flashtype = … (a flash section)") }
        guard let f = config.flashTypes.first(where: { $0.title == o.string }) else {
            throw Failure(o.at, "image '\(image.title ?? "")': flashtype '\(o.string)': no such flash section; \(Spelling.hint(for: o.string, among: config.flashTypes.compactMap(\.title)))")
        }
        return f
    }

    mutating func flashChip(_ image: Section) throws -> [String] {
        let label = "image '\(image.title ?? "")'"
        let f = try flashType(image)
        let peb = try GenimageDiskLayout.bytes(f, "pebsize"), count = try GenimageDiskLayout.bytes(f, "numpebs")
        let io = try GenimageDiskLayout.bytes(f, "minimum-io-unit-size"), sub = try GenimageDiskLayout.bytes(f, "sub-page-size")
        guard peb > 0, count > 0 else { throw Failure(f.at, "flash '\(f.title ?? "")': pebsize and numpebs are needed for a flash image") }
        let (chip, overflow) = peb.multipliedReportingOverflow(by: count)
        guard !overflow, chip <= BoardLayout.Limits.chipSize else { throw Failure(f.at, "flash '\(f.title ?? "")': pebsize × numpebs is larger than \(ByteSize(bytes: BoardLayout.Limits.chipSize))") }
        var y = ["flash:"]
        if io > 1 {
            let oob = max(16, io / 32)
            y += ["  type: nand", "  page: \(io)", "  oob: \(oob)", "  erase-block: \(ByteSize(bytes: peb))", "  chip: \(ByteSize(bytes: chip))"]
            if sub > 0, sub != io { y.append("  sub-page: \(sub)") }
            note(f.at, "flash '\(f.title ?? "")': genimage has no OOB size; \(oob) bytes (page/32) assumed, and Flashsmith's ECC (hamming): check them against the chip")
        } else {
            y += ["  type: nor", "  base: 0x0", "  erase-block: \(ByteSize(bytes: peb))", "  chip: \(ByteSize(bytes: chip))"]
            note(f.at, "flash '\(f.title ?? "")': genimage has no address for a NOR chip; base: 0x0 written: give the address U-Boot maps it at")
        }
        y.append("partitions:")
        var end = 0
        let parts = image.sections("partition")
        if parts.count > GenimageDiskLayout.maxPartitions { throw Failure(parts[GenimageDiskLayout.maxPartitions].at, "\(label): \(parts.count) partitions: expected at most \(GenimageDiskLayout.maxPartitions)") }
        for (i, p) in parts.enumerated() {
            let who = "\(label) partition '\(p.title ?? "")'"
            var size = try GenimageDiskLayout.bytes(p, "size")
            var offset = try GenimageDiskLayout.bytes(p, "offset")
            if size == 0 {
                guard i == parts.count - 1 else { throw Failure(p.at, "\(who): only the last partition may have size 0") }
                guard end <= chip else { throw Failure(p.at, "\(who): the partitions exceed the flash (\(chip) bytes)") }
                size = chip - end
            }
            guard size % peb == 0, offset % peb == 0 else { throw Failure(p.at, "\(who): offset and size must be multiples of the erase block (\(peb) bytes)") }
            if offset == 0 {
                offset = end
            } else if end > offset {
                throw Failure(p.at, "\(who): overlaps the previous partition")
            }
            if let name = p.string("image") {
                let child = try childSize(name, at: p.option("image")?.at ?? p.at)
                guard child <= size else { throw Failure(p.at, "\(who): size \(size) is too small for '\(name)' (\(child) bytes)") }
            }
            end = offset + size
            guard end <= chip else { throw Failure(p.at, "\(who): ends at \(hex(end)), past the flash (\(hex(chip)))") }
            y += ["  - name: \(Self.scalar(boardPartitionName(p.title ?? "", at: p.at, who: who)))", "    offset: \(ByteSize(bytes: offset))", "    size: \(ByteSize(bytes: size))"]
            if p.bool("read-only") { y.append("    read-only: true") }
            for key in ["partition-type", "partition-type-uuid", "partition-uuid", "bootable", "hidden", "autoresize", "holes", "imageoffset"] where p.option(key) != nil {
                note(p.option(key)?.at ?? p.at, "\(who) option '\(key)' is not mapped: a flash image has no partition table")
            }
            if let name = p.string("image") { y += try content(name, at: p.option("image")?.at ?? p.at, who: who, partitionSize: size, disk: false) }
        }
        return y
    }

    /// A `ubi` image's partitions as UBI volumes: ubifs images from rootfs specs, files, empty ones.
    mutating func ubi(_ img: Section, _ t: Section) throws -> [String] {
        let label = "image '\(img.title ?? "")'"
        extraArgs(t, label)
        var y = ["    content:", "      ubi:"]
        let volumes = img.sections("partition")
        if volumes.count > BoardLayout.Limits.ubiVolumes { throw Failure(volumes[BoardLayout.Limits.ubiVolumes].at, "\(label): \(volumes.count) UBI volumes: expected at most \(BoardLayout.Limits.ubiVolumes)") }
        for v in volumes {
            let who = "\(label) volume '\(v.title ?? "")'"
            y.append("        - name: \(Self.scalar(boardPartitionName(v.title ?? "", at: v.at, who: who)))")
            let size = try GenimageDiskLayout.bytes(v, "size")
            var volumeSize = size
            if let name = v.string("image") {
                let at = v.option("image")?.at ?? v.at
                if let child = image(named: name), let ct = Self.type(of: child), ct.kind == "ubifs" {
                    notMappedCommon(child)
                    extraArgs(ct, "image '\(name)'")
                    if let m = ct.option("max-size") { note(m.at, "image '\(name)' option 'max-size' is not mapped: Flashsmith sizes UBIFS for its volume") }
                    if ct.bool("space-fixup") { note(ct.option("space-fixup")?.at ?? ct.at, "image '\(name)' option 'space-fixup' is not mapped") }
                    if child.bool("empty") {
                        note(child.at, "image '\(name)': an empty UBIFS is not mapped: the volume is left empty")
                    } else {
                        y.append("          ubifs: \(Self.scalar(try spec(for: child)))")
                    }
                    if volumeSize == 0 { volumeSize = try childSize(name, at: at) }
                } else if let child = image(named: name), let ct = Self.type(of: child), ct.kind != "file" {
                    note(at, "\(who): image '\(name)' (type \(ct.kind)) is not mapped: a board's UBI volume holds UBIFS or a file")
                } else {
                    y.append("          file: \(Self.scalar(try input(image(named: name).flatMap { Self.type(of: $0)?.string("name") } ?? name, at: at)))")
                    if volumeSize == 0 { volumeSize = try childSize(name, at: at) }
                }
            }
            if volumeSize > 0 { y.append("          size: \(ByteSize(bytes: volumeSize))") }
            if v.bool("autoresize") { y.append("          autoresize: true") }
            if v.bool("read-only") { y.append("          type: static") }
        }
        return y
    }
}
