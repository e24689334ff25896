import FlashsmithCore

/// A partition table as read from a disk image: the model, the entry numbers (GPT entry index,
/// MBR 1–4 and logical from 5), the GPT header, and what is wrong that did not stop the read.
public struct DiskImageInfo: Sendable {
    public var path: String
    public var table: PartitionTable
    public var numbers: [Int]
    public var gpt: GPT.HeaderInfo?
    public var problems: [String]

    /// GPT when the protective MBR is followed by a GPT header, else MBR.
    public static func read(path: String) throws -> DiskImageInfo {
        let size = try FileIO.size(of: path)
        let prefix = try FileIO.read(path, offset: 0, count: min(size, 2 * PartitionTable.sectorSize))
        return GPT.looksLikeGPT(prefix) ? try GPT.read(path: path) : try MBR.read(path: path)
    }

    /// Lines and JSON for `inspect`: the disk, then one line per partition (start, end, size,
    /// type, GUID, name, flags).
    public func describe() -> (lines: [(String, String)], json: JSON) {
        let t = table
        var lines: [(String, String)] = [("disk", "\(t.diskSize) bytes (\(ByteSize(bytes: t.diskSize))), \(t.diskSize / PartitionTable.sectorSize) sectors of 512")]
        lines.append(("disk id", t.diskID?.description ?? "none"))
        var json: [(String, JSON)] = [("format", .string(t.kind.rawValue)), ("diskSize", .int(t.diskSize)), ("sectorSize", .int(PartitionTable.sectorSize))]
        json.append(("diskId", .string(t.diskID?.description ?? "")))
        if let h = gpt {
            lines.append(("GPT", "entries at LBA \(h.entriesLBA) (\(h.entryCount) × \(h.entrySize) bytes), usable LBAs \(h.firstUsableLBA)…\(h.lastUsableLBA), backup header at LBA \(h.alternateLBA)"))
            json += [("entriesLBA", .int(Int(clamping: h.entriesLBA))), ("entryCount", .int(h.entryCount)), ("entrySize", .int(h.entrySize)),
                     ("firstUsableLBA", .int(Int(clamping: h.firstUsableLBA))), ("lastUsableLBA", .int(Int(clamping: h.lastUsableLBA))),
                     ("backupLBA", .int(Int(clamping: h.alternateLBA)))]
        }
        var parts: [JSON] = []
        let fileSize = (try? FileIO.size(of: path)) ?? 0
        for (i, p) in t.partitions.enumerated() {
            let n = numbers.indices.contains(i) ? numbers[i] : i + 1
            var flags: [String] = []
            if p.bootable { flags.append(t.kind == .gpt ? "legacy-bios-bootable" : "bootable") }
            if p.logical { flags.append("logical") }
            if p.attributes != 0 { flags.append("attributes \(hex(p.attributes))") }
            var text = "start \(hex(p.offset)) (LBA \(p.offset / 512)), end \(hex(p.end)), size \(p.size) (\(ByteSize(bytes: p.size))), type \(p.type)"
            if let g = p.guid { text += ", GUID \(g)" }
            if t.kind == .gpt { text += ", name '\(p.name)'" }
            if !flags.isEmpty { text += ", " + flags.joined(separator: ", ") }
            let content = PartitionContentProbe.identify(path: path, offset: p.offset, size: p.size, fileSize: fileSize)
            if let content { text += "; holds \(content)" }
            var files: [String]?
            if content?.hasPrefix("FAT") == true, let f = try? VFATImage.list(path: path, offset: p.offset, limit: 1000) {
                files = f
                text += f.isEmpty ? ", no files" : ": " + f.prefix(8).joined(separator: ", ") + (f.count > 8 ? ", … (\(f.count))" : "")
            }
            lines.append(("partition \(n)", text))
            var o: [(String, JSON)] = [("number", .int(n)), ("start", .int(p.offset)), ("end", .int(p.end)), ("size", .int(p.size))]
            switch p.type {
            case let .gpt(g): o.append(("type", .string(g.description)))
            case let .mbr(b): o.append(("type", .int(Int(b))))
            }
            o.append(("typeName", p.type.name.map { .string($0) } ?? .null))
            if let g = p.guid { o.append(("guid", .string(g.description))) }
            if t.kind == .gpt { o.append(("name", .string(p.name))) }
            o += [("bootable", .bool(p.bootable)), ("logical", .bool(p.logical)), ("attributes", .int(Int(clamping: p.attributes)))]
            o.append(("content", content.map { .string($0) } ?? .null))
            if let files { o.append(("files", .array(files.map { .string($0) }))) }
            parts.append(.object(o))
        }
        lines.append(("check", problems.isEmpty ? "all good" : "\(problems.count) problem(s): \(problems.prefix(3).joined(separator: "; "))"))
        json += [("partitions", .array(parts)), ("problems", .array(problems.map { .string($0) }))]
        return (lines, .object(json))
    }
}

/// `inspect` for GPT disk images (a GPT header after the protective MBR).
public enum GPTFormat: InspectableFormat {
    public static let name = "gpt"
    public static let summary = "GPT disk image"

    public static func probe(path: String, prefix: [UInt8], fileSize: Int) -> FormatDescription? {
        guard GPT.looksLikeGPT(prefix) else { return nil }
        return describe(name: name, title: "GPT disk image", path: path) { try GPT.read(path: path) }
    }

    static func describe(name: String, title: String, path: String, _ read: () throws -> DiskImageInfo) -> FormatDescription {
        do {
            let d = try read().describe()
            return FormatDescription(format: name, title: "\(path): \(title)", lines: d.lines, json: d.json)
        } catch {
            return FormatDescription(format: name, title: "\(path): \(title) (unreadable)", lines: [("error", "\(error)")],
                                     json: .object([("format", .string(name)), ("error", .string("\(error)"))]))
        }
    }
}

/// `inspect` for MBR disk images (partition entries and 0x55AA, not a FAT boot sector).
public enum MBRFormat: InspectableFormat {
    public static let name = "mbr"
    public static let summary = "MBR disk image"

    public static func probe(path: String, prefix: [UInt8], fileSize: Int) -> FormatDescription? {
        guard MBR.looksLikeMBR(prefix) else { return nil }
        return GPTFormat.describe(name: name, title: "MBR disk image", path: path) { try MBR.read(path: path) }
    }
}
