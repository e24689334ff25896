import DeviceTree
import FlashsmithCore
import YAML
#if canImport(Glibc)
import Glibc
#endif

/// Flashsmith's YAML spec for a FIT: the same tree as an `.its`, without the dts syntax.
/// ```yaml
/// description: arm64 kernel, DTB and initramfs
/// address-cells: 1            # 1 (default): load/entry are 32-bit; 2: 64-bit
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
///     hash: [sha256, crc32]   # one hash-N node per algorithm (or hash-1: {algo: sha256}, …)
///     signature-1: {algo: "sha256,rsa2048", key-name-hint: dev}      # signed by `fit build -k KEYDIR`
///     properties: {phase: u-boot}                                    # any other property, as is
///   fdt-1: { type: flat_dt, arch: arm64, data: virt.dtb, hash: sha256 }
/// configurations:
///   default: conf-1
///   conf-1:
///     description: Boot Linux
///     kernel: kernel
///     fdt: fdt-1
///     signature-1: {algo: "sha256,rsa2048", key-name-hint: dev, sign-images: [kernel, fdt], padding: pss}
/// ```
/// Every key is checked: a typo (`lod:`) is an error naming the line and the nearest key. What an
/// `.its` may add beyond these goes under `properties:` (the root's, an image's, a configuration's,
/// a signature's): a string, a number (one u32 cell), a list of numbers (cells), a list of strings,
/// or nothing (`~`: an empty property). Images and configurations keep the order they are written in.
public enum FITSpec {
    /// The tree the spec describes, and for each image the file holding its data.
    public struct Parsed {
        public var tree: DeviceTree
        public var dataFiles: [(image: String, file: String)]
    }

    static let topKeys = ["description", "address-cells", "images", "configurations", "properties"]
    static let imageKeys = ["description", "type", "arch", "os", "compression", "load", "entry", "data", "hash", "properties"]
    /// The configuration properties that name images.
    static let references = ["kernel", "fdt", "ramdisk", "loadables", "firmware", "script", "fpga", "setup"]
    static let configurationKeys = ["description"] + references + ["compatible", "properties"]
    static let hashKeys = ["algo"]
    static let signatureKeys = ["algo", "key-name-hint", "padding", "properties"]

    /// Where an error is: the file and line, and the node's path in the tree.
    struct Reader {
        let path: String
        func bad(_ n: YAMLNode, _ where_: String, expected: String, found: String? = nil) -> FITError {
            .badValue(source: "\(path):\(n.line)", path: where_, expected: expected, found: found ?? n.kind)
        }
    }

    public static func parse(_ text: String, path: String) throws -> Parsed {
        let base = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        guard let root = try YAML.parse(text, source: path) else { throw FITError.missing(source: path, what: "a YAML mapping") }
        guard root.mapping != nil else { throw FITError.badValue(source: path, path: "/", expected: "a mapping", found: root.kind) }
        let r = Reader(path: path)
        try root.strictMapping(topKeys, in: "the FIT spec", source: path)
        var rootProps: [DeviceTree.Property] = []
        var cells = 1
        if let c = root["address-cells"] {
            guard let v = c.integer, v == 1 || v == 2 else { throw r.bad(c, "address-cells", expected: "1 (32-bit addresses) or 2 (64-bit)") }
            cells = Int(v)
        }
        if let d = root["description"] { rootProps.append(.string("description", try d.text("description", source: path))) }
        rootProps.append(.u32("#address-cells", UInt32(cells)))
        if let p = root["properties"] { rootProps += try properties(p, at: "properties", r) }
        var imageNodes: [DeviceTree.Node] = []
        var files: [(String, String)] = []
        guard let images = root["images"]?.entries, !images.isEmpty else { throw FITError.missing(source: path, what: "images: (a mapping of image names)") }
        for e in images {
            let (node, file) = try image(e.key, e.value, cells: cells, r)
            files.append((e.key, file.hasPrefix("/") ? file : "\(base)/\(file)"))
            imageNodes.append(node)
        }
        var confNode = DeviceTree.Node("configurations")
        if let c = root["configurations"] {
            guard let confs = c.entries else { throw r.bad(c, "configurations", expected: "a mapping of configuration names") }
            for e in confs {
                if e.key == "default" {
                    confNode.properties.append(.string("default", try e.value.text("configurations/default", expected: "a configuration name", source: path)))
                    continue
                }
                confNode.children.append(try configuration(e.key, e.value, images: imageNodes.map(\.name), r))
            }
        }
        let tree = DeviceTree(root: DeviceTree.Node("", properties: rootProps, children: [DeviceTree.Node("images", children: imageNodes), confNode]))
        return Parsed(tree: tree, dataFiles: files)
    }

    /// One image node and its data file.
    static func image(_ name: String, _ value: YAMLNode, cells: Int, _ r: Reader) throws -> (DeviceTree.Node, String) {
        let at = "images/\(name)"
        try value.strictMapping(imageKeys, prefixes: ["hash-", "signature-"], in: at, source: r.path)
        var props: [DeviceTree.Property] = []
        var children: [DeviceTree.Node] = []
        var file: String?
        if value["hash"] != nil, let numbered = value.entries?.first(where: { $0.key.hasPrefix("hash-") }) {
            throw r.bad(numbered.value, "\(at)/\(numbered.key)", expected: "hash: [algorithms] or hash-N: nodes, not both")
        }
        for e in value.entries ?? [] {
            let (k, v) = (e.key, e.value)
            let where_ = "\(at)/\(k)"
            switch k {
            case "data":
                // Empty here, filled from the file by ``blob(_:source:)`` in this place: the
                // property order (and the strings table) is the one an .its in this order gives.
                file = try v.text(where_, expected: "a file name", source: r.path)
                props.append(.empty("data"))
            case "description":
                props.append(.string(k, try v.text(where_, source: r.path)))
            case "hash":
                for (i, a) in (v.sequence ?? [v]).enumerated() {
                    children.append(DeviceTree.Node("hash-\(i + 1)", properties: [.string("algo", try hashAlgorithm(a, where_, r))]))
                }
            case "load", "entry":
                guard let n = v.integer, cells == 2 || n <= UInt64(UInt32.max) else {
                    throw r.bad(v, where_, expected: cells == 2 ? "an address (0x… or decimal)" : "a 32-bit address (0x… or decimal; address-cells: 2 for 64-bit)")
                }
                props.append(cells == 2 ? .cells(k, [UInt32(truncatingIfNeeded: n >> 32), UInt32(truncatingIfNeeded: n)]) : .u32(k, UInt32(n)))
            case "type", "arch", "os", "compression":
                let s = try v.text(where_, expected: "a name", source: r.path)
                let table = k == "type" ? UImageTables.fitTypes : k == "arch" ? UImageTables.arch : k == "os" ? UImageTables.os : UImageTables.comp
                guard UImageTables.lookup(table, s) != nil else {
                    throw r.bad(v, where_, expected: table.map(\.short).filter { $0 != "invalid" }.joined(separator: ", "), found: s)
                }
                props.append(.string(k, s))
            case "properties":
                props += try properties(v, at: where_, r)
            default:
                if k.hasPrefix("hash-") {
                    try v.strictMapping(hashKeys, in: where_, source: r.path)
                    guard let a = v["algo"] else { throw r.bad(v, "\(where_)/algo", expected: "a hash algorithm", found: "nothing") }
                    children.append(DeviceTree.Node(k, properties: [.string("algo", try hashAlgorithm(a, "\(where_)/algo", r))]))
                } else {
                    children.append(try signature(k, v, at: where_, configuration: nil, r: r))
                }
            }
        }
        if !props.contains(where: { $0.name == "compression" }) { props.append(.string("compression", "none")) }
        guard let file else { throw FITError.missing(source: "\(r.path):\(value.line)", what: "\(at)/data (the file holding the image)") }
        return (DeviceTree.Node(name, properties: props, children: children), file)
    }

    static func hashAlgorithm(_ n: YAMLNode, _ where_: String, _ r: Reader) throws -> String {
        guard let a = n.string, FITHashAlgorithm(rawValue: a) != nil else {
            throw r.bad(n, where_, expected: FITHashAlgorithm.allCases.map(\.rawValue).joined(separator: ", "), found: n.string)
        }
        return a
    }

    /// A `signature-N` node: what mkimage and `fit build -k` read (algo, key-name-hint, padding,
    /// and for a configuration sign-images); the signature itself is added when signing.
    static func signature(_ name: String, _ v: YAMLNode, at where_: String, configuration: [String]?, r: Reader) throws -> DeviceTree.Node {
        try v.strictMapping(signatureKeys + (configuration == nil ? [] : ["sign-images"]), in: where_, source: r.path)
        var props: [DeviceTree.Property] = []
        guard v["algo"] != nil else { throw r.bad(v, "\(where_)/algo", expected: "a signature algorithm (sha256,rsa2048, …)", found: "nothing") }
        guard v["key-name-hint"] != nil else { throw r.bad(v, "\(where_)/key-name-hint", expected: "the key's name (KEYDIR/NAME.key)", found: "nothing") }
        for e in v.entries ?? [] {
            let at = "\(where_)/\(e.key)"
            switch e.key {
            case "algo":
                let s = try e.value.text(at, expected: "a signature algorithm", source: r.path)
                do { _ = try FITSignatureAlgorithm(parsing: s) } catch {
                    throw r.bad(e.value, at, expected: "sha1|sha256|sha384|sha512,rsa2048|rsa3072|rsa4096|ecdsa256", found: s)
                }
                props.append(.string("algo", s))
            case "padding":
                let s = try e.value.text(at, source: r.path)
                guard s == "pkcs-1.5" || s == "pss" else { throw r.bad(e.value, at, expected: "pkcs-1.5 or pss", found: s) }
                props.append(.string("padding", s))
            case "sign-images":
                let list = try (e.value.sequence ?? [e.value]).map { try $0.text(at, expected: "a property of the configuration (kernel, fdt, …)", source: r.path) }
                for p in list where !(configuration ?? []).contains(p) {
                    throw r.bad(e.value, at, expected: "properties of this configuration (\((configuration ?? []).joined(separator: ", ")))", found: p)
                }
                props.append(.strings("sign-images", list))
            case "properties":
                props += try properties(e.value, at: at, r)
            default:
                props.append(.string(e.key, try e.value.text(at, source: r.path)))
            }
        }
        return DeviceTree.Node(name, properties: props)
    }

    static func configuration(_ name: String, _ value: YAMLNode, images: [String], _ r: Reader) throws -> DeviceTree.Node {
        let at = "configurations/\(name)"
        try value.strictMapping(configurationKeys, prefixes: ["signature-"], in: at, source: r.path)
        var props: [DeviceTree.Property] = []
        var children: [DeviceTree.Node] = []
        let present = (value.entries ?? []).map(\.key).filter { references.contains($0) }
        for e in value.entries ?? [] {
            let (k, v) = (e.key, e.value)
            let where_ = "\(at)/\(k)"
            switch k {
            case "description":
                props.append(.string(k, try v.text(where_, source: r.path)))
            case "properties":
                props += try properties(v, at: where_, r)
            case _ where k.hasPrefix("signature-"):
                children.append(try signature(k, v, at: where_, configuration: present, r: r))
            default:
                // An image reference (or compatible): one name or a list of names, always strings.
                let list = try (v.sequence ?? [v]).map { try $0.text(where_, expected: "a name", source: r.path) }
                if k != "compatible" {
                    for ref in list where !images.contains(ref) {
                        throw r.bad(v, where_, expected: "an image name (\(images.joined(separator: ", ")))", found: ref)
                    }
                }
                props.append(list.count == 1 && v.sequence == nil ? .string(k, list[0]) : .strings(k, list))
            }
        }
        return DeviceTree.Node(name, properties: props, children: children)
    }

    /// `properties:` (at `where_`): any other property, as an `.its` would write it.
    static func properties(_ n: YAMLNode, at where_: String, _ r: Reader) throws -> [DeviceTree.Property] {
        guard let entries = n.entries else { throw r.bad(n, where_, expected: "a mapping of property names to values") }
        return try entries.map { try property($0.key, $0.value, at: "\(where_)/\($0.key)", r) }
    }

    /// A plain number becomes one u32 cell, a list of numbers cells, a list of strings a string
    /// list, `~` (or nothing) an empty property, anything else a string.
    static func property(_ name: String, _ v: YAMLNode, at where_: String, _ r: Reader) throws -> DeviceTree.Property {
        if let list = v.sequence {
            if !list.isEmpty, list.allSatisfy({ $0.integer.map { $0 <= UInt64(UInt32.max) } ?? false }) {
                return .cells(name, list.map { UInt32($0.integer ?? 0) })
            }
            return .strings(name, try list.map { try $0.text(where_, expected: "a string or a number", source: r.path) })
        }
        guard let s = v.string else { throw r.bad(v, where_, expected: "a string, number or list") }
        if v.isPlainScalar, s.isEmpty || s == "~" || s == "null" { return .empty(name) }
        if let n = v.integer {
            guard n <= UInt64(UInt32.max) else { throw r.bad(v, where_, expected: "a 32-bit number (a list of numbers for more cells)", found: s) }
            return .u32(name, UInt32(n))
        }
        return .string(name, s)
    }

    /// Builds the FIT tree of a spec with each image's data read from its file straight into the blob.
    public static func blob(_ parsed: Parsed, source: String) throws -> FDTBlob {
        var blob = try FDTBlob(validating: dtcStringOrder(try parsed.tree.encoded()), source: source)
        // Room for every image at once: one allocation as large as the output, no regrowing copies.
        var total = 0
        for (_, file) in parsed.dataFiles {
            if case let .regular(size) = FileIO.kind(of: file) { total += size + 64 }
        }
        try blob.reserve(total)
        for (image, file) in parsed.dataFiles { try blob.setProperty("\(FIT.images)/\(image)", "data", fromFile: file) }
        return blob
    }

    /// The tree's strings table in dtc's order: each property name where the tree first uses it, a
    /// name that ends an earlier one pointing into it (dtc's `stringtable_insert`). libfdt's
    /// sequential writer lays the table out backwards; in dtc's order a spec builds the same bytes
    /// as the same tree in an .its (signatures over the strings included). Anything unexpected in
    /// the blob: returned as it is.
    static func dtcStringOrder(_ fdt: [UInt8]) -> [UInt8] {
        func u32(_ o: Int) -> Int? {
            guard o >= 0, o <= fdt.count - 4 else { return nil }
            return Int(fdt[o]) << 24 | Int(fdt[o + 1]) << 16 | Int(fdt[o + 2]) << 8 | Int(fdt[o + 3])
        }
        guard fdt.count >= 40, let structOffset = u32(8), let stringsOffset = u32(12), let stringsSize = u32(32), let structSize = u32(36),
              structOffset + structSize <= stringsOffset, stringsOffset + stringsSize == fdt.count else { return fdt }
        var out = Array(fdt[0..<stringsOffset])
        var table: [UInt8] = []
        func insert(_ name: ArraySlice<UInt8>) -> Int {
            let n = name.count
            var i = 0
            while i + n < table.count {
                if table[i + n] == 0, table[i..<(i + n)].elementsEqual(name) { return i }
                i += 1
            }
            table += name
            table.append(0)
            return table.count - n - 1
        }
        func put(_ v: Int, at o: Int) {
            for k in 0..<4 { out[o + k] = UInt8(truncatingIfNeeded: v >> (24 - 8 * k)) }
        }
        let end = structOffset + structSize
        var o = structOffset
        walk: while o + 4 <= end, let token = u32(o) {
            o += 4
            switch token {
            case 1:
                guard let nul = fdt[o..<end].firstIndex(of: 0) else { return fdt }
                o = (nul + 4) & ~3
            case 2, 4: continue
            case 3:
                guard o + 8 <= end, let len = u32(o), let nameoff = u32(o + 4), nameoff < stringsSize,
                      let nul = fdt[(stringsOffset + nameoff)...].firstIndex(of: 0) else { return fdt }
                put(insert(fdt[(stringsOffset + nameoff)..<nul]), at: o + 4)
                o = (o + 8 + len + 3) & ~3
            case 9: break walk
            default: return fdt
            }
        }
        out += table
        put(table.count, at: 32)
        put(out.count, at: 4)
        return out
    }
}
