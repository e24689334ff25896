import BootImage
import FlashsmithCore
import RootFS
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
/// On a disk board (`type: disk`, BoardDisk.swift) also:
/// ```yaml
/// content: {squashfs: rootfs.yaml}                  # or {squashfs: {spec: rootfs.yaml, compression: xz}}
/// content: {ext4: rootfs.yaml}                      # or {ext4: {spec: …, label: root, uuid: …}}; {ext4: {empty: true}}
/// content:
///   vfat:                                           # a FAT boot partition
///     label: BOOT
///     fit: {load: 0x40400000}     # the board's FIT as /image.fit (the keys of fit: above)
///     boot-script: true           # /boot.scr for U-Boot's distro boot: loads the FIT from here, bootm
///     files: [extra.txt, {dtbs/board.dtb: path/to/board.dtb}]
/// ```
public enum PartitionContent: Sendable, Equatable {
    case none
    case file(String)
    case env(text: String, redundant: Bool, size: Int?)
    case ubi([UBIVolumeContent])
    case fit(FITContent)
    case uimage(UImageContent)
    case vfat(VFATContent)
    case ext4(FilesystemContent)
    case squashfs(FilesystemContent)

    /// ext4 or squashfs from a rootfs spec (or empty).
    public struct FilesystemContent: Sendable, Equatable {
        /// nil: an empty filesystem (ext4 `empty: true`).
        public var spec: String?
        public var label: String?
        public var uuid: String?
        /// squashfs: the compressor (gzip, xz, zstd, lz4, lzo); nil: the writer's default.
        public var compression: String?
    }

    /// A FAT partition: the board's boot image and boot script, and files.
    public struct VFATContent: Sendable, Equatable {
        public var label: String?
        public var volumeID: UInt32?
        public var fit: FITContent?
        public var uimage: UImageContent?
        public var bootScript = false
        /// (name in the filesystem, path relative to the board's folder), in order.
        public var files: [File] = []
        public struct File: Sendable, Equatable {
            public var name: String
            public var path: String
            public var line: Int
        }
        /// The boot image's name in the filesystem.
        public var imageName: String { fit != nil ? "image.fit" : "uImage" }
    }

    /// Whether the content is a filesystem image built from a rootfs spec (the board's root, when it is the first).
    public var rootSpec: String? {
        switch self {
        case let .ext4(c), let .squashfs(c): return c.spec
        default: return nil
        }
    }

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

    static let kinds = ["file", "env", "ubi", "fit", "uimage", "vfat", "ext4", "squashfs"]
    /// The kinds that go only on a disk board, and those that go only on a flash chip.
    static let diskOnly: Set<String> = ["vfat", "ext4", "squashfs"]
    /// (A U-Boot environment on a disk, CONFIG_ENV_IS_IN_MMC at a raw offset, is not done yet.)
    static let flashOnly: Set<String> = ["ubi", "env"]
    /// The keys each kind of content takes besides its own.
    static let extraKeys: [String: [String]] = ["file": [], "env": ["redundant", "size"], "ubi": [], "fit": [], "uimage": [], "vfat": [], "ext4": [], "squashfs": []]
    static let vfatKeys = ["label", "volume-id", "fit", "uimage", "boot-script", "files"]
    static let ext4Keys = ["spec", "empty", "label", "uuid"]
    static let squashfsKeys = ["spec", "compression"]
    static let squashfsCompressors = SquashfsOptions.Compression.allCases.map(\.rawValue)
    static let volumeKeys = ["name", "type", "size", "autoresize", "ubifs", "file"]
    static let fitKeys = ["load", "entry", "compression", "ramdisk", "hash"]
    static let uimageKeys = ["load", "entry", "compression"]

    /// `content:` of a partition: exactly one of file:, env:, ubi:, fit:, uimage:, with only the keys it takes.
    static func parse(_ n: YAMLNode, partition: String, source: String, disk: Bool = false) throws -> PartitionContent {
        func fail(_ node: YAMLNode, _ m: String) -> BoardLayout.Failure { BoardLayout.Failure(message: "\(source):\(node.line): partition '\(partition)' content: \(m)") }
        let context = "partition '\(partition)' content"
        let entries = try n.strictMapping(kinds + ["redundant", "size"], in: context, source: source)
        let given = entries.filter { kinds.contains($0.key) }
        let allowed = kinds.filter { disk ? !flashOnly.contains($0) : !diskOnly.contains($0) }.map { "\($0):" }.joined(separator: ", ")
        guard let kind = given.first else { throw fail(n, "expected one of \(allowed), found none") }
        guard given.count == 1 else { throw fail(n, "expected one of \(allowed), found \(given.map { "\($0.key):" }.joined(separator: " and "))") }
        if disk, flashOnly.contains(kind.key) { throw fail(kind.value, "\(kind.key): goes on a NAND or NOR flash board, not on a disk (type: disk)") }
        if !disk, diskOnly.contains(kind.key) { throw fail(kind.value, "\(kind.key): goes on a disk board (flash: type: disk)") }
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
        case "vfat":
            return .vfat(try vfat(v, partition: partition, fail: fail, source: source))
        case "ext4", "squashfs":
            let c = try filesystem(kind.key, v, partition: partition, fail: fail, source: source)
            return kind.key == "ext4" ? .ext4(c) : .squashfs(c)
        default:
            return .uimage(try uimage(v, partition: partition, fail: fail, source: source))
        }
    }

    static func uimage(_ v: YAMLNode, partition: String, fail: (YAMLNode, String) -> BoardLayout.Failure, source: String) throws -> UImageContent {
        try v.strictMapping(uimageKeys, in: "partition '\(partition)' uimage:", source: source)
        guard let load = try address(v["load"], "uimage: load", fail: fail) else { throw fail(v, "uimage: the kernel's load address (load: 0x…) is missing") }
        return UImageContent(load: load, entry: try address(v["entry"], "uimage: entry", fail: fail) ?? load, gzip: try compression(v["compression"], fail: fail))
    }

    /// `ext4: SPEC` / `squashfs: SPEC`, or their mappings.
    static func filesystem(_ kind: String, _ v: YAMLNode, partition: String, fail: (YAMLNode, String) -> BoardLayout.Failure, source: String) throws -> FilesystemContent {
        if let spec = v.string { return FilesystemContent(spec: spec) }
        guard v.mapping != nil else { throw fail(v, "\(kind): expected a rootfs spec or a mapping (\((kind == "ext4" ? ext4Keys : squashfsKeys).joined(separator: ", "))), found \(v.kind)") }
        try v.strictMapping(kind == "ext4" ? ext4Keys : squashfsKeys, in: "partition '\(partition)' \(kind):", source: source)
        var c = FilesystemContent(spec: try v["spec"].map { try $0.text("\(kind): spec", expected: "a rootfs spec", source: source) })
        let empty = try v["empty"]?.bool("\(kind): empty", source: source) ?? false
        if empty && c.spec != nil { throw fail(v, "\(kind): give spec: or empty: true, not both") }
        if !empty && c.spec == nil { throw fail(v, "\(kind): spec: (a rootfs spec) is missing\(kind == "ext4" ? "; or empty: true for an empty filesystem" : "")") }
        if let l = v["label"] {
            let t = try l.text("ext4: label", expected: "a label", source: source)
            guard (1...16).contains(t.utf8.count), t.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw fail(l, "ext4: label: expected 1…16 printable ASCII characters, found '\(t)'") }
            c.label = t
        }
        if let u = v["uuid"] {
            let t = try u.text("ext4: uuid", expected: "a UUID", source: source)
            guard isUUID(t) else { throw fail(u, "ext4: uuid: expected a UUID (8-4-4-4-12 hex digits), found '\(t)'") }
            c.uuid = t.lowercased()
        }
        if let z = v["compression"] {
            guard let t = z.string, squashfsCompressors.contains(t) else { throw fail(z, "squashfs: compression: expected \(squashfsCompressors.joined(separator: ", ")), found \(z.kind)") }
            c.compression = t
        }
        return c
    }

    /// `8-4-4-4-12` hex digits.
    static func isUUID(_ t: String) -> Bool {
        let groups = t.split(separator: "-", omittingEmptySubsequences: false)
        return groups.map(\.count) == [8, 4, 4, 4, 12] && groups.allSatisfy { $0.allSatisfy { $0.isASCII && $0.isHexDigit } }
    }

    /// `vfat: {label, volume-id, fit, uimage, boot-script, files}`.
    static func vfat(_ v: YAMLNode, partition: String, fail: (YAMLNode, String) -> BoardLayout.Failure, source: String) throws -> VFATContent {
        guard v.mapping != nil else { throw fail(v, "vfat: expected a mapping (\(vfatKeys.joined(separator: ", "))), found \(v.kind)") }
        try v.strictMapping(vfatKeys, in: "partition '\(partition)' vfat:", source: source)
        var c = VFATContent()
        if let l = v["label"] {
            let t = try l.text("vfat: label", expected: "a label", source: source)
            guard (1...11).contains(t.utf8.count), t.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && !"\"*+,./:;<=>?[\\]|".utf8.contains($0) }) else {
                throw fail(l, "vfat: label: expected 1…11 characters FAT allows in a label, found '\(t)'")
            }
            c.label = t.uppercased()
        }
        if let i = v["volume-id"] {
            guard let t = i.string, let b = try? ByteSize(parsing: t), b.bytes <= 0xFFFF_FFFF else { throw fail(i, "vfat: volume-id: expected a 32-bit number (0x1234abcd), found \(i.kind)") }
            c.volumeID = UInt32(b.bytes)
        }
        if let f = v["fit"] { c.fit = try fit(f, partition: partition, fail: fail, source: source) }
        if let u = v["uimage"] { c.uimage = try uimage(u, partition: partition, fail: fail, source: source) }
        if c.fit != nil && c.uimage != nil { throw fail(v, "vfat: give fit: or uimage:, not both (bootm boots one image)") }
        c.bootScript = try v["boot-script"]?.bool("vfat: boot-script", source: source) ?? false
        if c.bootScript && c.fit == nil && c.uimage == nil { throw fail(v["boot-script"] ?? v, "vfat: boot-script: true boots the image this partition holds: add fit: or uimage:") }
        var names: [String: Int] = [:]
        if c.fit != nil || c.uimage != nil { names[c.imageName] = v.line }
        if c.bootScript { names["boot.scr"] = v.line }
        for n in v["files"].map({ $0.sequence ?? [$0] }) ?? [] {
            let file: VFATContent.File
            if let p = n.string {
                file = .init(name: p.split(separator: "/").last.map(String.init) ?? p, path: p, line: n.line)
            } else if let e = n.entries, e.count == 1, let p = e[0].value.string {
                file = .init(name: e[0].key, path: p, line: n.line)
            } else {
                throw fail(n, "vfat: files: expected a path, or {NAME: path}, found \(n.kind)")
            }
            let parts = file.name.split(separator: "/", omittingEmptySubsequences: false)
            guard !file.name.hasPrefix("/"), !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." && $0.utf8.count <= 255 }) else {
                throw fail(n, "vfat: files: '\(file.name)': expected a relative name without empty, . or .. parts")
            }
            if let first = names[file.name.lowercased()] { throw fail(n, "vfat: files: '\(file.name)' is already in the partition (line \(first); FAT names ignore case)") }
            names[file.name.lowercased()] = n.line
            c.files.append(file)
        }
        return c
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
