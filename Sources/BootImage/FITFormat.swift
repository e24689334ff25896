import DeviceTree
import FlashsmithCore

/// The `inspect` registry entry for FIT images (tried before plain DTBs), and `fit inspect`'s
/// description: what `mkimage -l` shows, plus where each image's data lie and every hash checked.
public enum FITFormat: InspectableFormat {
    public static let name = "fit"
    public static let summary = "Flat Image Tree (FIT)"

    public static func probe(path: String, prefix: [UInt8], fileSize: Int) -> FormatDescription? {
        guard prefix.count >= 40, (try? ByteReader(prefix).get(UInt32.self, at: 0, .big)) == DeviceTree.magic,
              let info = try? FITInfo.read(path) else { return nil }
        return describe(info, checks: (try? info.checkHashes()) ?? [])
    }

    static func longName(_ table: [UImageName], _ short: String?) -> String {
        guard let short else { return "-" }
        return UImageTables.lookup(table, short)?.long ?? short
    }

    static func signatureJSON(_ s: FITInfo.Signature) -> JSON {
        .object([("node", .string(s.node)), ("algo", .string(s.algo)), ("keyNameHint", .string(s.keyNameHint)), ("signed", .bool(s.signed)),
                 ("padding", .string(s.padding ?? "pkcs-1.5"))])
    }

    public static func describe(_ info: FITInfo, checks: [FITInfo.HashCheck]) -> FormatDescription {
        var lines: [(String, String)] = [
            ("description", info.description ?? "-"),
            ("created", info.timestamp.map { "\(UImageFormat.utc($0)) (\($0))" } ?? "-"),
            ("tree size", "\(info.treeSize) bytes of \(info.fileSize)"),
        ]
        var imagesJSON: [JSON] = []
        for (i, img) in info.images.enumerated() {
            var parts = ["\(longName(UImageTables.fitTypes, img.string("type")))", "\(longName(UImageTables.comp, img.string("compression")))",
                         "\(img.dataSize) bytes \(img.external ? "external" : "embedded") at \(hex(img.dataOffset))"]
            if let a = img.string("arch") { parts.append(longName(UImageTables.arch, a)) }
            if let o = img.string("os") { parts.append(longName(UImageTables.os, o)) }
            if let l = img.address("load") { parts.append("load 0x" + String(l, radix: 16)) }
            if let e = img.address("entry") { parts.append("entry 0x" + String(e, radix: 16)) }
            lines.append(("image \(i) (\(img.name))", parts.joined(separator: ", ")))
            var hashesJSON: [JSON] = []
            for c in checks where c.image == img.name {
                let state = c.computed == nil ? "unknown algo" : (c.ok ? "ok" : "BAD (computed \(hexString(c.computed ?? [])))")
                lines.append(("  \(c.hash.node.split(separator: "/").last ?? "")", "\(c.hash.algo) \(hexString(c.hash.value)) \(state)"))
                hashesJSON.append(.object([("node", .string(c.hash.node)), ("algo", .string(c.hash.algo)), ("value", .string(hexString(c.hash.value))),
                                           ("computed", c.computed.map { .string(hexString($0)) } ?? .null), ("ok", .bool(c.ok))]))
            }
            for sig in img.signatures {
                lines.append(("  \(sig.node.split(separator: "/").last ?? "")", "\(sig.algo) key \(sig.keyNameHint)\(sig.signed ? "" : " (not signed yet)")"))
            }
            imagesJSON.append(.object([
                ("name", .string(img.name)), ("description", img.string("description").map { .string($0) } ?? .null),
                ("type", img.string("type").map { .string($0) } ?? .null), ("compression", img.string("compression").map { .string($0) } ?? .null),
                ("arch", img.string("arch").map { .string($0) } ?? .null), ("os", img.string("os").map { .string($0) } ?? .null),
                ("load", img.address("load").map { .string("0x" + String($0, radix: 16)) } ?? .null),
                ("entry", img.address("entry").map { .string("0x" + String($0, radix: 16)) } ?? .null),
                ("external", .bool(img.external)), ("dataOffset", .int(img.dataOffset)), ("dataSize", .int(img.dataSize)),
                ("hashes", .array(hashesJSON)),
                ("signatures", .array(img.signatures.map(signatureJSON))),
            ]))
        }
        lines.append(("default configuration", info.defaultConfiguration ?? "-"))
        var confsJSON: [JSON] = []
        for (i, c) in info.configurations.enumerated() {
            let keys = ["kernel", "firmware", "fdt", "ramdisk", "loadables", "script", "compatible"]
            let text = keys.compactMap { k -> String? in
                let v = c.strings(k)
                return v.isEmpty ? nil : "\(k) \(v.joined(separator: ","))"
            }.joined(separator: ", ")
            lines.append(("configuration \(i) (\(c.name))", text))
            for sig in c.signatures {
                lines.append(("  \(sig.node.split(separator: "/").last ?? "")", "\(sig.algo) key \(sig.keyNameHint)\(sig.signed ? "" : " (not signed yet)")"))
            }
            confsJSON.append(.object([("name", .string(c.name))] + keys.map { k in (k, JSON.array(c.strings(k).map { .string($0) })) }
                + [("signatures", .array(c.signatures.map(signatureJSON)))]))
        }
        let json = JSON.object([
            ("format", .string(name)), ("source", .string(info.path)), ("description", info.description.map { .string($0) } ?? .null),
            ("timestamp", info.timestamp.map { .int(Int($0)) } ?? .null), ("treeSize", .int(info.treeSize)), ("fileSize", .int(info.fileSize)),
            ("images", .array(imagesJSON)), ("defaultConfiguration", info.defaultConfiguration.map { .string($0) } ?? .null),
            ("configurations", .array(confsJSON)), ("hashesOK", .bool(checks.allSatisfy(\.ok))),
        ])
        return FormatDescription(format: name, title: "\(info.path): \(summary)", lines: lines, json: json)
    }
}
