import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// The `inspect` registry entry for legacy uImages, and the description `uimage inspect` prints.
public enum UImageFormat: InspectableFormat {
    public static let name = "uimage"
    public static let summary = "U-Boot legacy image (uImage)"

    public static func probe(path: String, prefix: [UInt8], fileSize: Int) -> FormatDescription? {
        guard prefix.count >= UImage.headerSize, (try? ByteReader(prefix).get(UInt32.self, at: 0, .big)) == UImage.magic,
              let p = try? UImage.read(path) else { return nil }
        return describe(p)
    }

    /// "2023-11-14 22:13:20 UTC".
    static func utc(_ t: UInt32) -> String {
        var tt = time_t(t)
        var tmv = tm()
        gmtime_r(&tt, &tmv)
        var buf = [CChar](repeating: 0, count: 64)
        let n = strftime(&buf, buf.count, "%Y-%m-%d %H:%M:%S UTC", &tmv)
        return String(decoding: buf.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Script text of a script image's first part (printable when it is UTF-8).
    public static func scriptText(_ p: UImage.Parsed) -> String? {
        guard p.header.type == UImageTables.scriptType, let first = p.parts.first,
              let bytes = try? FileIO.read(p.path, offset: first.offset, count: min(first.size, 1 << 20)) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    public static func describe(_ p: UImage.Parsed) -> FormatDescription {
        let h = p.header
        var lines: [(String, String)] = [
            ("name", String(decoding: h.name, as: UTF8.self)),
            ("created", "\(utc(h.time)) (\(h.time))"),
            ("type", h.typeDescription),
            ("data size", "\(h.size) bytes (\(ByteSize(bytes: Int(h.size))))"),
            ("load address", hex32(h.load)),
            ("entry point", hex32(h.entry)),
            ("header CRC", p.headerCRCOK ? "ok (\(hex32(h.headerCRC)))" : "BAD: stored \(hex32(h.headerCRC)), computed \(hex32(p.computedHeaderCRC))"),
            ("data CRC", p.dataCRCOK ? "ok (\(hex32(h.dataCRC)))" : "BAD: stored \(hex32(h.dataCRC)), computed \(hex32(p.computedDataCRC))"),
        ]
        if h.hasPartTable {
            for (i, part) in p.parts.enumerated() {
                lines.append(("part \(i)", "\(part.size) bytes at offset \(hex(part.offset))"))
            }
        }
        if p.fileSize > UImage.headerSize + Int(h.size) {
            lines.append(("trailing", "\(p.fileSize - UImage.headerSize - Int(h.size)) bytes after the data"))
        }
        let t = { (table: [UImageName], id: UInt8) in UImageTables.name(table, id).short }
        var json: [(String, JSON)] = [
            ("format", .string(name)), ("source", .string(p.path)),
            ("name", jsonBytes(h.name)), ("time", .int(Int(h.time))), ("created", .string(utc(h.time))),
            ("arch", .string(t(UImageTables.arch, h.arch))), ("os", .string(t(UImageTables.os, h.os))),
            ("type", .string(t(UImageTables.type, h.type))), ("compression", .string(t(UImageTables.comp, h.comp))),
            ("description", .string(h.typeDescription)),
            ("dataSize", .int(Int(h.size))), ("load", .string(hex32(h.load))), ("entry", .string(hex32(h.entry))),
            ("headerCRC", .object([("stored", .string(hex32(h.headerCRC))), ("computed", .string(hex32(p.computedHeaderCRC))), ("ok", .bool(p.headerCRCOK))])),
            ("dataCRC", .object([("stored", .string(hex32(h.dataCRC))), ("computed", .string(hex32(p.computedDataCRC))), ("ok", .bool(p.dataCRCOK))])),
            ("parts", .array(p.parts.map { .object([("offset", .int($0.offset)), ("size", .int($0.size))]) })),
        ]
        if let s = scriptText(p) { json.append(("script", .string(s))) }
        return FormatDescription(format: name, title: "\(p.path): \(summary)", lines: lines, json: .object(json))
    }
}
