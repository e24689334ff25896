import FlashsmithCore

/// The `inspect` registry entry for U-Boot environment blobs (see ``EnvImage`` for the layout).
public enum EnvFormat: InspectableFormat {
    public static let name = "uboot-env"
    public static let summary = "U-Boot environment (single or redundant, CRC32)"

    public static func probe(path: String, prefix: [UInt8], fileSize: Int) -> FormatDescription? {
        guard fileSize >= 8, fileSize <= 64 << 20 else { return nil }
        guard let blob = try? EnvBlob.read(file: path, hints: EnvLayoutHints()), blob.selection.active != nil else { return nil }
        return describe(blob)
    }

    public static func describe(_ blob: EnvBlob) -> FormatDescription {
        let active = blob.activeCopy
        var lines: [(String, String)] = [
            ("layout", blob.copies.count == 2 ? "redundant, two copies" : (blob.redundant ? "redundant, one copy (flags byte)" : "single copy")),
            ("size", "\(hex(blob.size)) per copy (\(ByteSize(bytes: blob.size)))"),
            ("byte order", "\((active ?? blob.copies[0]).byteOrder.rawValue)-endian CRC"),
        ]
        for c in blob.copies {
            var s = "offset \(hex(c.offset)), CRC \(c.crcOK ? "ok" : "BAD") (stored \(crcText(c.storedCRC)), computed \(crcText(c.computedCRC)))"
            if let f = c.flag { s += ", flag \(f)" }
            lines.append(("copy \(c.index)", s))
        }
        if blob.redundant { lines.append(("flag scheme", blob.schemeReason)) }
        lines.append(("in use", blob.selection.active.map { "copy \($0): \(blob.selection.reason)" } ?? blob.selection.reason))
        if let a = active, let vars = a.variables {
            lines.append(("variables", "\(vars.count)"))
            lines.append(("used", "\(a.used) of \(a.size - EnvLayout.headerSize(redundant: a.redundant)) data bytes, pad byte \(hex(a.padByte))"))
        }
        return FormatDescription(format: name, title: "\(blob.source): \(summary)", lines: lines, json: json(blob, includeVariables: false))
    }

    /// The JSON form shared by `inspect --json` and `env print --json`.
    public static func json(_ blob: EnvBlob, includeVariables: Bool, only names: [[UInt8]] = []) -> JSON {
        var members: [(String, JSON)] = [
            ("format", .string(name)),
            ("source", .string(blob.source)),
            ("size", .int(blob.size)),
            ("redundant", .bool(blob.redundant)),
            ("copies", .array(blob.copies.map { c in
                var m: [(String, JSON)] = [
                    ("index", .int(c.index)), ("offset", .int(c.offset)), ("byteOrder", .string(c.byteOrder.rawValue)),
                    ("crc", .object([("stored", .string(crcText(c.storedCRC))), ("computed", .string(crcText(c.computedCRC))), ("ok", .bool(c.crcOK))])),
                ]
                if let f = c.flag { m.append(("flag", .int(Int(f)))) }
                m.append(("padByte", .int(Int(c.padByte))))
                m.append(("used", .int(c.used)))
                if let e = c.parseError { m.append(("error", .string(e.description))) }
                return .object(m)
            })),
        ]
        if blob.redundant { members.append(("flagScheme", .string(blob.scheme.rawValue))) }
        members.append(("active", blob.selection.active.map { .int($0) } ?? .null))
        members.append(("reason", .string(blob.selection.reason)))
        if includeVariables, let vars = (blob.activeCopy ?? blob.copies[0]).variables {
            let shown = names.isEmpty ? vars : vars.filter { names.contains($0.name) }
            members.append(("variables", .array(shown.map { .object([("name", jsonBytes($0.name)), ("value", jsonBytes($0.value))]) })))
        }
        return .object(members)
    }
}
