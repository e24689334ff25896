import DeviceTree
import FlashsmithCore
import YAML
#if canImport(Glibc)
import Glibc
#endif

/// Flashsmith's YAML spec for a FIT: the same tree as an `.its`, without the dts syntax.
/// ```yaml
/// description: arm64 kernel, DTB and initramfs
/// images:
///   kernel:
///     description: Linux
///     type: kernel            # U-Boot's type names (kernel, flat_dt, ramdisk, script, firmware, …)
///     arch: arm64
///     os: linux
///     compression: none       # default none
///     load: 0x40400000
///     entry: 0x40400000
///     data: Image             # a file, relative to the spec
///     hash: [sha256, crc32]   # one hash-N node per algorithm
///   fdt-1: { type: flat_dt, arch: arm64, data: virt.dtb, hash: sha256 }
/// configurations:
///   default: conf-1
///   conf-1: { description: Boot Linux, kernel: kernel, fdt: fdt-1, ramdisk: initrd }
/// ```
/// Any other key of an image or configuration becomes a property: a string, a number (one u32
/// cell), or a list of strings. Images and configurations keep the order they are written in.
public enum FITSpec {
    /// The tree the spec describes, and for each image the file holding its data.
    public struct Parsed {
        public var tree: DeviceTree
        public var dataFiles: [(image: String, file: String)]
    }

    public static func parse(_ text: String, path: String) throws -> Parsed {
        let base = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        guard let root = try YAML.parse(text, source: path) else { throw FITError.missing(source: path, what: "a YAML mapping") }
        guard let top = root.mapping else { throw FITError.badValue(source: path, path: "/", expected: "a mapping", found: root.kind) }
        func at(_ n: YAMLNode, _ p: String) -> String { "\(p) (line \(n.line))" }
        var rootProps: [DeviceTree.Property] = []
        let cells = Int(root["address-cells"]?.integer ?? 1)
        if let d = root["description"]?.string { rootProps.append(.string("description", d)) }
        rootProps.append(.u32("#address-cells", UInt32(cells)))
        var imageNodes: [DeviceTree.Node] = []
        var files: [(String, String)] = []
        guard let images = root["images"]?.mapping, !images.isEmpty else { throw FITError.missing(source: path, what: "images: (a mapping of image names)") }
        for (name, value) in images {
            guard let m = value.mapping else { throw FITError.badValue(source: path, path: at(value, "images/\(name)"), expected: "a mapping", found: value.kind) }
            var props: [DeviceTree.Property] = []
            var children: [DeviceTree.Node] = []
            var sawCompression = false
            for (k, v) in m {
                let where_ = at(v, "images/\(name)/\(k)")
                switch k {
                case "data":
                    guard let f = v.string else { throw FITError.badValue(source: path, path: where_, expected: "a file name", found: v.kind) }
                    files.append((name, f.hasPrefix("/") ? f : "\(base)/\(f)"))
                case "hash":
                    let algos = v.sequence?.compactMap(\.string) ?? v.string.map { [$0] } ?? []
                    for (i, a) in algos.enumerated() {
                        guard FITHashAlgorithm(rawValue: a) != nil else {
                            throw FITError.badValue(source: path, path: where_, expected: FITHashAlgorithm.allCases.map(\.rawValue).joined(separator: ", "), found: a)
                        }
                        children.append(DeviceTree.Node("hash-\(i + 1)", properties: [.string("algo", a)]))
                    }
                case "load", "entry":
                    guard let n = v.integer else { throw FITError.badValue(source: path, path: where_, expected: "an address (0x… or decimal)", found: v.kind) }
                    props.append(cells == 2 ? .cells(k, [UInt32(truncatingIfNeeded: n >> 32), UInt32(truncatingIfNeeded: n)]) : .u32(k, UInt32(truncatingIfNeeded: n)))
                case "type", "arch", "os", "compression":
                    guard let s = v.string else { throw FITError.badValue(source: path, path: where_, expected: "a name", found: v.kind) }
                    let table = k == "type" ? UImageTables.fitTypes : k == "arch" ? UImageTables.arch : k == "os" ? UImageTables.os : UImageTables.comp
                    guard UImageTables.lookup(table, s) != nil else {
                        throw FITError.badValue(source: path, path: where_, expected: table.map(\.short).filter { $0 != "invalid" }.joined(separator: ", "), found: s)
                    }
                    if k == "compression" { sawCompression = true }
                    props.append(.string(k, s))
                default:
                    props.append(try property(k, v, at: where_, source: path))
                }
            }
            if !sawCompression { props.append(.string("compression", "none")) }
            guard files.contains(where: { $0.0 == name }) else { throw FITError.missing(source: path, what: "images/\(name)/data") }
            imageNodes.append(DeviceTree.Node(name, properties: props, children: children))
        }
        var confNode = DeviceTree.Node("configurations")
        if let confs = root["configurations"]?.mapping {
            for (name, value) in confs {
                if name == "default" {
                    confNode.properties.append(.string("default", value.string ?? ""))
                    continue
                }
                guard let m = value.mapping else { throw FITError.badValue(source: path, path: at(value, "configurations/\(name)"), expected: "a mapping", found: value.kind) }
                var props: [DeviceTree.Property] = []
                for (k, v) in m {
                    let p = try property(k, v, at: at(v, "configurations/\(name)/\(k)"), source: path)
                    if ["kernel", "fdt", "ramdisk", "loadables", "script", "firmware", "fpga"].contains(k) {
                        for ref in p.stringList ?? [] where !imageNodes.contains(where: { $0.name == ref }) {
                            throw FITError.badValue(source: path, path: "configurations/\(name)/\(k)", expected: "an image name (\(imageNodes.map(\.name).joined(separator: ", ")))", found: ref)
                        }
                    }
                    props.append(p)
                }
                confNode.children.append(DeviceTree.Node(name, properties: props))
            }
        }
        _ = top
        let tree = DeviceTree(root: DeviceTree.Node("", properties: rootProps, children: [DeviceTree.Node("images", children: imageNodes), confNode]))
        return Parsed(tree: tree, dataFiles: files)
    }

    /// A plain number becomes one u32 cell, a list a string list, anything else a string.
    static func property(_ name: String, _ v: YAMLNode, at where_: String, source: String) throws -> DeviceTree.Property {
        if let list = v.sequence { return .strings(name, list.compactMap(\.string)) }
        guard let s = v.string else { throw FITError.badValue(source: source, path: where_, expected: "a string, number or list", found: v.kind) }
        if let n = v.integer, n <= UInt64(UInt32.max) { return .u32(name, UInt32(n)) }
        return .string(name, s)
    }

    /// Builds the FIT tree of a spec with each image's data read from its file straight into the blob.
    public static func blob(_ parsed: Parsed, source: String) throws -> FDTBlob {
        var blob = try FDTBlob(validating: try parsed.tree.encoded(), source: source)
        // Room for every image at once: one allocation as large as the output, no regrowing copies.
        var total = 0
        for (_, file) in parsed.dataFiles {
            if case let .regular(size) = FileIO.kind(of: file) { total += size + 64 }
        }
        try blob.reserve(total)
        for (image, file) in parsed.dataFiles { try blob.setProperty("\(FIT.images)/\(image)", "data", fromFile: file) }
        return blob
    }
}
