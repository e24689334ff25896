import FlashsmithCore

/// The `inspect` registry entry for plain device tree blobs.
public enum DTBFormat: InspectableFormat {
    public static let name = "dtb"
    public static let summary = "Flattened device tree blob (DTB)"

    public static func probe(path: String, prefix: [UInt8], fileSize: Int) -> FormatDescription? {
        guard prefix.count >= 40, (try? ByteReader(prefix).get(UInt32.self, at: 0, .big)) == DeviceTree.magic else { return nil }
        guard let bytes = try? FileIO.readAll(path) else { return nil }
        do {
            return describe(try DeviceTree.decode(bytes, source: path), bytes: bytes, path: path)
        } catch {
            return FormatDescription(format: name, title: "\(path): \(summary), INVALID", lines: [("error", error.description)],
                                     json: .object([("format", .string(name)), ("source", .string(path)), ("valid", .bool(false)), ("error", .string(error.description))]))
        }
    }

    public static func describe(_ tree: DeviceTree, bytes: [UInt8], path: String) -> FormatDescription {
        let r = ByteReader(bytes)
        let field = { (o: Int) in Int((try? r.get(UInt32.self, at: o, .big)) ?? 0) }
        let (nodes, props) = tree.root.counts
        let model = tree.root.property("model")?.stringValue
        let compatible = tree.root.property("compatible")?.stringList ?? []
        let lines: [(String, String)] = [
            ("version", "\(field(20)) (last compatible \(field(24)))"),
            ("total size", "\(field(4)) bytes (structure \(field(36)), strings \(field(32)))"),
            ("nodes", "\(nodes), properties \(props)"),
            ("model", model ?? "-"),
            ("compatible", compatible.isEmpty ? "-" : compatible.joined(separator: ", ")),
            ("reservations", "\(tree.reservations.count)"),
            ("top-level nodes", tree.root.children.map(\.name).joined(separator: " ")),
        ]
        let json = JSON.object([
            ("format", .string(name)), ("source", .string(path)), ("valid", .bool(true)),
            ("version", .int(field(20))), ("totalSize", .int(field(4))), ("nodes", .int(nodes)), ("properties", .int(props)),
            ("model", model.map { .string($0) } ?? .null), ("compatible", .array(compatible.map { .string($0) })),
            ("topLevelNodes", .array(tree.root.children.map { .string($0.name) })),
        ])
        return FormatDescription(format: name, title: "\(path): \(summary)", lines: lines, json: json)
    }
}
