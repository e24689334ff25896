import BootImage
import FlashsmithCore
import YAML

/// What goes into a partition (`content:` in board.yaml; paths relative to the board's folder):
/// ```yaml
/// content: {file: u-boot.bin}                       # a file, as is
/// content: {env: uboot-env.txt, redundant: true}    # U-Boot environment; bootargs, bootcmd, mtdparts derived
/// content:                                          # a UBI image
///   ubi:
///     - name: rootfs
///       ubifs: rootfs.yaml        # UBIFS from a rootfs spec (Flashsmith's writer, everything from the manifest)
///       autoresize: true          # or size: 64MiB
///     - name: data
///       size: 16MiB               # empty; or file: data.img; type: static for read-only data
/// content:                                          # a FIT of the board's kernel, device trees and rootfs
///   fit:
///     load: 0x40400000            # the kernel's load address and entry point
///     compression: none           # or gzip: Flashsmith compresses the kernel, U-Boot unpacks it
///     ramdisk: true               # the board's rootfs as a cpio.gz initramfs (default: when no UBI rootfs)
///     hash: sha256                # on every image
/// content: {fit: boot.its}                          # or a FIT from its own spec (.its or .yaml)
/// content: {uimage: {load: 0x30008000}}             # a legacy uImage of the board's kernel
/// ```
public enum PartitionContent: Sendable, Equatable {
    case none
    case file(String)
    case env(text: String, redundant: Bool, size: Int?)
    case ubi([UBIVolumeContent])
    case fit(FITContent)
    case uimage(UImageContent)

    /// A FIT: from its own spec, or the board's kernel (+ device trees, + rootfs initramfs).
    public struct FITContent: Sendable, Equatable {
        public var spec: String?
        public var load: Int = 0
        public var entry: Int = 0
        public var gzip = false
        /// nil: the rootfs goes in when the board has one and no UBI rootfs.
        public var ramdisk: Bool?
        public var hashes: [String] = ["sha256"]
    }

    /// A legacy uImage of the board's kernel.
    public struct UImageContent: Sendable, Equatable {
        public var load: Int
        public var entry: Int
        public var gzip: Bool
    }

    public struct UBIVolumeContent: Sendable, Equatable {
        public enum Source: Sendable, Equatable {
            case empty
            case file(String)
            case ubifs(spec: String)
        }
        public var name: String
        public var isStatic: Bool
        public var size: Int?
        public var autoresize: Bool
        public var source: Source
        public var line: Int
    }

    static let kinds = ["file", "env", "ubi", "fit", "uimage"]
    /// The keys each kind of content takes besides its own.
    static let extraKeys: [String: [String]] = ["file": [], "env": ["redundant", "size"], "ubi": [], "fit": [], "uimage": []]
    static let volumeKeys = ["name", "type", "size", "autoresize", "ubifs", "file"]
    static let fitKeys = ["load", "entry", "compression", "ramdisk", "hash"]
    static let uimageKeys = ["load", "entry", "compression"]

    /// `content:` of a partition: exactly one of file:, env:, ubi:, fit:, uimage:, with only the keys it takes.
    static func parse(_ n: YAMLNode, partition: String, source: String) throws -> PartitionContent {
        func fail(_ node: YAMLNode, _ m: String) -> BoardLayout.Failure { BoardLayout.Failure(message: "\(source):\(node.line): partition '\(partition)' content: \(m)") }
        let context = "partition '\(partition)' content"
        let entries = try n.strictMapping(kinds + ["redundant", "size"], in: context, source: source)
        let given = entries.filter { kinds.contains($0.key) }
        guard let kind = given.first else { throw fail(n, "expected one of file:, env:, ubi:, fit:, uimage:, found none") }
        guard given.count == 1 else { throw fail(n, "expected one of file:, env:, ubi:, fit:, uimage:, found \(given.map { "\($0.key):" }.joined(separator: " and "))") }
        for e in entries where e.key != kind.key && !(extraKeys[kind.key] ?? []).contains(e.key) {
            throw YAMLError(source: source, line: e.keyLine, message: "\(context): '\(e.key)' goes with env:, not \(kind.key):")
        }
        let v = kind.value
        switch kind.key {
        case "file":
            return .file(try v.text("file", expected: "a path", source: source))
        case "env":
            var size: Int?
            if let s = n["size"] {
                guard let t = s.string, let b = try? ByteSize(parsing: t, in: 16...BoardLayout.Limits.eraseBlock) else {
                    throw fail(s, "env size: expected a size of 16 bytes…\(ByteSize(bytes: BoardLayout.Limits.eraseBlock)), found \(s.kind)")
                }
                size = b.bytes
            }
            return .env(text: try v.text("env", expected: "a path (the environment as text)", source: source), redundant: try n["redundant"]?.bool("redundant", source: source) ?? false, size: size)
        case "ubi":
            return .ubi(try volumes(v, partition: partition, source: source))
        case "fit":
            return .fit(try fit(v, partition: partition, fail: fail, source: source))
        default:
            try v.strictMapping(uimageKeys, in: "partition '\(partition)' uimage:", source: source)
            guard let load = try address(v["load"], "uimage: load", fail: fail) else { throw fail(v, "uimage: the kernel's load address (load: 0x…) is missing") }
            return .uimage(UImageContent(load: load, entry: try address(v["entry"], "uimage: entry", fail: fail) ?? load, gzip: try compression(v["compression"], fail: fail)))
        }
    }

    /// `ubi:` volumes: names unique and usable as file names, one autoresize volume at most.
    static func volumes(_ list: YAMLNode, partition: String, source: String) throws -> [UBIVolumeContent] {
        func fail(_ node: YAMLNode, _ m: String) -> BoardLayout.Failure { BoardLayout.Failure(message: "\(source):\(node.line): partition '\(partition)' content: \(m)") }
        guard let vols = list.sequence, !vols.isEmpty else { throw fail(list, "ubi: expected a list of volumes, found \(list.kind)") }
        guard vols.count <= BoardLayout.Limits.ubiVolumes else { throw fail(list, "ubi: \(vols.count) volumes, expected at most \(BoardLayout.Limits.ubiVolumes)") }
        var out: [UBIVolumeContent] = []
        for v in vols {
            try v.strictMapping(volumeKeys, in: "UBI volume\(v["name"]?.string.map { " '\($0)'" } ?? "")", source: source)
            guard let nameNode = v["name"] else { throw fail(v, "a UBI volume needs a name") }
            let name = try nameNode.text("UBI volume name", expected: "a name", source: source)
            if let problem = BoardLayout.nameProblem(name) { throw fail(nameNode, "UBI volume name '\(name)': expected \(BoardLayout.nameRule), and \(problem)") }
            if let first = out.first(where: { $0.name == name }) { throw fail(nameNode, "UBI volume name '\(name)' is already used on line \(first.line)") }
            var size: Int?
            if let s = v["size"] {
                guard let t = s.string, let b = try? ByteSize(parsing: t, in: 1...BoardLayout.Limits.chipSize) else {
                    throw fail(s, "volume \(name) size: expected a size of at most \(ByteSize(bytes: BoardLayout.Limits.chipSize)), found \(s.kind)")
                }
                size = b.bytes
            }
            if v["ubifs"] != nil && v["file"] != nil { throw fail(v, "volume \(name): give ubifs: or file:, not both") }
            let src: UBIVolumeContent.Source
            if let u = v["ubifs"] {
                src = .ubifs(spec: try u.text("ubifs", expected: "a rootfs spec", source: source))
            } else if let f = v["file"] {
                src = .file(try f.text("file", expected: "a path", source: source))
            } else {
                src = .empty
            }
            if case .empty = src, size == nil { throw fail(v, "volume \(name): an empty volume needs a size") }
            var isStatic = false
            if let t = v["type"] {
                guard let s = t.string, s == "static" || s == "dynamic" else { throw fail(t, "volume \(name) type: expected dynamic or static, found \(t.kind)") }
                isStatic = s == "static"
            }
            let autoresize = try v["autoresize"]?.bool("autoresize", source: source) ?? false
            if autoresize, let first = out.first(where: \.autoresize) {
                throw fail(v, "volume \(name): autoresize: volume '\(first.name)' already has it (UBI grows one volume)")
            }
            out.append(UBIVolumeContent(name: name, isStatic: isStatic, size: size, autoresize: autoresize, source: src, line: v.line))
        }
        return out
    }

    static func address(_ node: YAMLNode?, _ key: String, fail: (YAMLNode, String) -> BoardLayout.Failure) throws -> Int? {
        guard let node else { return nil }
        guard let t = node.string, let v = try? ByteSize(parsing: t), v.bytes <= 0xFFFF_FFFF else { throw fail(node, "\(key): expected a 32-bit address (0x40400000), found \(node.kind)") }
        return v.bytes
    }

    static func compression(_ node: YAMLNode?, fail: (YAMLNode, String) -> BoardLayout.Failure) throws -> Bool {
        guard let node else { return false }
        switch node.string {
        case "none": return false
        case "gzip": return true
        default: throw fail(node, "compression: expected none or gzip, found \(node.kind)")
        }
    }

    /// `fit: SPEC` or `fit: {load, entry, compression, ramdisk, hash}`.
    static func fit(_ f: YAMLNode, partition: String, fail: (YAMLNode, String) -> BoardLayout.Failure, source: String) throws -> FITContent {
        if let spec = f.string { return FITContent(spec: spec) }
        guard f.mapping != nil else { throw fail(f, "fit: expected a spec file or a mapping (\(fitKeys.joined(separator: ", "))), found \(f.kind)") }
        try f.strictMapping(fitKeys, in: "partition '\(partition)' fit:", source: source)
        guard let load = try address(f["load"], "fit: load", fail: fail) else { throw fail(f, "fit: the kernel's load address (load: 0x…) is missing") }
        var c = FITContent(spec: nil, load: load, entry: try address(f["entry"], "fit: entry", fail: fail) ?? load, gzip: try compression(f["compression"], fail: fail))
        if let r = f["ramdisk"] { c.ramdisk = try r.bool("fit: ramdisk", source: source) }
        if let h = f["hash"] {
            let names = h.sequence ?? [h]
            c.hashes = []
            for n in names {
                guard let a = n.string, FITHashAlgorithm(rawValue: a) != nil else {
                    throw fail(n, "fit: hash: expected \(FITHashAlgorithm.allCases.map(\.rawValue).joined(separator: ", ")), found \(n.kind)")
                }
                c.hashes.append(a)
            }
        }
        return c
    }
}
