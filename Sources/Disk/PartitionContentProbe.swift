import FlashsmithCore

/// What a partition of a disk image holds, from its first bytes (for `inspect`): the filesystems a
/// disk board writes and the images boards put in raw partitions. Each check reads only fixed
/// offsets of the first 4 KiB, and every field it reports is bounded by the partition.
/// ```
/// squashfs    "hsqs" at 0 (SQUASHFS_MAGIC, little-endian), s_major at 28, bytes_used at 40
/// ext2/3/4    0xEF53 at 1024 + 0x38 (s_magic); s_log_block_size at +0x18, s_blocks_count_lo at +0x04,
///             s_feature_compat at +0x5C (has_journal 0x4), s_feature_incompat at +0x60
///             (extents 0x40, 64bit 0x80, flex_bg 0x200), s_volume_name at +0x78 (16 bytes)
/// FAT         0x55AA at 510, "FAT" at 0x36 (FAT12/16: label at 0x2B) or at 0x52 (FAT32: label at 0x47)
/// UBI         "UBI#" at 0 (the first PEB's EC header)
/// uImage      0x27051956 at 0 (big-endian)
/// FDT / FIT   0xD00DFEED at 0 (big-endian)
/// ```
public enum PartitionContentProbe {
    enum Squashfs {
        static let magic: [UInt8] = Array("hsqs".utf8)
        static let major = 28
        static let bytesUsed = 40
    }

    enum Ext {
        static let superblock = 1024
        static let blocksCountLo = 0x04
        static let logBlockSize = 0x18
        static let magic = 0x38
        static let featureCompat = 0x5C
        static let featureIncompat = 0x60
        static let volumeName = 0x78
        static let hasJournal: UInt32 = 0x4
        static let extents: UInt32 = 0x40
    }

    enum FAT {
        static let signature = 510
        static let type16 = 0x36
        static let label16 = 0x2B
        static let type32 = 0x52
        static let label32 = 0x47
    }

    /// How many bytes the probe reads.
    public static let window = 4096

    /// A short description of what `bytes` (a partition's first bytes) hold, or nil when none of the above.
    public static func identify(_ b: [UInt8], partitionSize: Int) -> String? {
        func le16(_ o: Int) -> Int { o + 2 <= b.count ? Int(b[o]) | Int(b[o + 1]) << 8 : 0 }
        func le32(_ o: Int) -> UInt32 { o + 4 <= b.count ? UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24 : 0 }
        func be32(_ o: Int) -> UInt32 { o + 4 <= b.count ? UInt32(b[o]) << 24 | UInt32(b[o + 1]) << 16 | UInt32(b[o + 2]) << 8 | UInt32(b[o + 3]) : 0 }
        func text(_ o: Int, _ n: Int) -> String {
            guard o + n <= b.count else { return "" }
            let raw = b[o..<(o + n)].prefix { $0 != 0 }
            guard raw.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return "" }
            return String(decoding: raw, as: UTF8.self).trimmingSpaces()
        }
        if b.count >= 48, Array(b[0..<4]) == Squashfs.magic {
            let used = UInt64(le32(Squashfs.bytesUsed)) | UInt64(le32(Squashfs.bytesUsed + 4)) << 32
            let fits = used <= UInt64(partitionSize) ? "" : ", larger than the partition"
            return "squashfs \(le16(Squashfs.major)).x, \(used) bytes\(fits)"
        }
        let sb = Ext.superblock
        if b.count >= sb + 0x88, le16(sb + Ext.magic) == 0xEF53 {
            let compat = le32(sb + Ext.featureCompat), incompat = le32(sb + Ext.featureIncompat)
            let kind = incompat & Ext.extents != 0 ? "ext4" : compat & Ext.hasJournal != 0 ? "ext3" : "ext2"
            let shift = le32(sb + Ext.logBlockSize)
            let block = shift <= 6 ? 1024 << Int(shift) : 0
            let bytes = UInt64(le32(sb + Ext.blocksCountLo)) * UInt64(block)
            let label = text(sb + Ext.volumeName, 16)
            return "\(kind)\(label.isEmpty ? "" : " '\(label)'"), \(block)-byte blocks, \(bytes) bytes\(bytes <= UInt64(partitionSize) ? "" : ", larger than the partition")"
        }
        if b.count >= 512, b[FAT.signature] == 0x55, b[FAT.signature + 1] == 0xAA {
            if text(FAT.type16, 3) == "FAT" {
                let label = text(FAT.label16, 11)
                return "\(text(FAT.type16, 8)) filesystem\(label.isEmpty || label == "NO NAME" ? "" : " '\(label)'")"
            }
            if text(FAT.type32, 5) == "FAT32" {
                let label = text(FAT.label32, 11)
                return "FAT32 filesystem\(label.isEmpty || label == "NO NAME" ? "" : " '\(label)'")"
            }
        }
        if b.count >= 4 {
            if Array(b[0..<4]) == Array("UBI#".utf8) { return "UBI image" }
            if be32(0) == 0x2705_1956 { return "uImage" }
            if be32(0) == 0xD00D_FEED { return "device tree or FIT" }
        }
        if !b.isEmpty, b.allSatisfy({ $0 == 0 }) { return "zeros" }
        return nil
    }

    /// The first ``window`` bytes of a partition of the image at `path` (fewer past the file's end).
    public static func identify(path: String, offset: Int, size: Int, fileSize: Int) -> String? {
        guard offset >= 0, offset < fileSize, size > 0 else { return nil }
        let n = min(window, size, fileSize - offset)
        guard let bytes = try? FileIO.read(path, offset: offset, count: n) else { return nil }
        return identify(bytes, partitionSize: size)
    }
}

/// `inspect` for a filesystem image on its own (a partition's image, `rootfs build -o x.ext4`):
/// squashfs, ext2/3/4 and FAT, as ``PartitionContentProbe`` recognises them. What is in them:
/// `flashsmith rootfs ls IMAGE` (squashfs, ext4).
public enum FilesystemImageFormat: InspectableFormat {
    public static let name = "filesystem"
    public static let summary = "squashfs, ext2/3/4 or FAT filesystem image"

    public static func probe(path: String, prefix: [UInt8], fileSize: Int) -> FormatDescription? {
        guard let what = PartitionContentProbe.identify(prefix, partitionSize: fileSize),
              what.hasPrefix("squashfs") || what.hasPrefix("ext") || what.hasPrefix("FAT")
        else { return nil }
        let kind = String(what.prefix { $0 != " " && $0 != "," })
        var lines: [(String, String)] = [("filesystem", what), ("file", "\(fileSize) bytes (\(ByteSize(bytes: fileSize)))")]
        var json: [(String, JSON)] = [("format", .string(name)), ("filesystem", .string(kind)), ("description", .string(what)), ("fileSize", .int(fileSize))]
        if kind == "squashfs" || kind.hasPrefix("ext") { lines.append(("contents", "flashsmith rootfs ls \(path)")) }
        if kind.hasPrefix("FAT") {
            // What is in it, as mtools reads it (FAT has no owners or modes to list).
            if let files = try? VFATImage.list(path: path, limit: 1000) {
                lines.append(("files", files.isEmpty ? "none" : "\(files.count)\(files.count == 1000 ? "+" : ""): " + files.prefix(20).joined(separator: ", ") + (files.count > 20 ? ", …" : "")))
                json.append(("files", .array(files.map { .string($0) })))
            } else {
                lines.append(("files", "unreadable by mdir (mtools)"))
            }
        }
        return FormatDescription(format: name, title: "\(path): \(kind) filesystem image", lines: lines, json: .object(json))
    }
}
