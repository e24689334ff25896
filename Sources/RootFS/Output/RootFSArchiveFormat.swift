import Archive
import FlashsmithCore

/// The `inspect` registry entry for root filesystem archives: tar (ustar, pax, GNU) and cpio
/// (newc, crc, odc, binary), plain or compressed with gzip, xz, zstd, lz4 or bzip2. Recognised by
/// the magic (`ustar` at 257; `070701`/`070702`/`070707`; 0x71c7) or, for a compressed stream, by
/// what libarchive finds inside.
public enum RootFSArchiveFormat: InspectableFormat {
    public static let name = "archive"
    public static let summary = "tar or cpio archive (root filesystem)"

    static let compressedMagics: [[UInt8]] = [[0x1F, 0x8B], [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00], [0x28, 0xB5, 0x2F, 0xFD], [0x04, 0x22, 0x4D, 0x18], Array("BZh".utf8)]

    /// `1.8 MiB`, `512 KiB`, `100 bytes`.
    static func approximate(_ n: Int) -> String {
        for (name, unit) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where n >= unit {
            let tenths = (n * 10 + unit / 2) / unit
            return "\(tenths / 10).\(tenths % 10) \(name)"
        }
        return "\(n) bytes"
    }

    public static func probe(path: String, prefix: [UInt8], fileSize: Int) -> FormatDescription? {
        let tar = prefix.count >= 262 && Array(prefix[257..<262]) == Array("ustar".utf8)
        let cpio = prefix.starts(with: Array("0707".utf8)) || prefix.starts(with: [0xC7, 0x71]) || prefix.starts(with: [0x71, 0xC7])
        let compressed = compressedMagics.contains { prefix.starts(with: $0) }
        guard tar || cpio || compressed else { return nil }
        guard let r = try? ArchiveReader(path: path), let first = try? r.next() else { return nil }
        guard r.formatFamily == ArchiveReader.familyTar || r.formatFamily == ArchiveReader.familyCpio else { return nil }
        var counts: [String: Int] = [:]
        var data = 0
        var owners = Set<String>()
        var times: (Int64, Int64) = (first.mtime, first.mtime)
        var member: ArchiveMember? = first
        var entries = 0
        while let m = member {
            entries += 1
            counts[m.kind.rawValue, default: 0] += 1
            // Sizes come from the headers (each up to Int.max): their sum saturates rather than traps
            // (fuzzing finding: archive-compressed #506600).
            if m.kind == .file { data = data.addingReportingOverflow(m.size).overflow ? Int.max : data + m.size }
            owners.insert("\(m.uid):\(m.gid)")
            times = (min(times.0, m.mtime), max(times.1, m.mtime))
            do { member = try r.next() } catch { return nil }
        }
        let kinds = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        let ownerList = owners.sorted().prefix(8).joined(separator: " ") + (owners.count > 8 ? " …" : "")
        let lines: [(String, String)] = [
            ("format", r.formatName), ("compression", r.compressionName), ("entries", "\(entries) (\(kinds))"),
            ("file data", data == Int.max ? "more than \(Int.max) bytes (the headers' sizes overflow)" : "\(data) bytes (\(approximate(data)))"), ("owners", ownerList),
            ("times", times.0 == times.1 ? "\(times.0)" : "\(times.0) … \(times.1)"),
        ]
        let json = JSON.object([
            ("format", .string(r.formatFamily == ArchiveReader.familyTar ? "tar" : "cpio")), ("variant", .string(r.formatName)),
            ("compression", .string(r.compressionName)), ("entries", .int(entries)),
            ("kinds", .object(counts.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })), ("dataBytes", .int(data)),
            ("owners", .array(owners.sorted().map { .string($0) })), ("mtimeMin", .int(Int(times.0))), ("mtimeMax", .int(Int(times.1))),
        ])
        return FormatDescription(format: name, title: "\(path): \(r.formatFamily == ArchiveReader.familyTar ? "tar" : "cpio") archive", lines: lines, json: json)
    }
}
