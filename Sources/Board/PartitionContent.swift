import FlashsmithCore
import YAML

/// What goes into a partition (`content:` in board.yaml; paths relative to the board's folder):
/// ```yaml
/// content: {file: u-boot.bin}                       # a file, as is
/// content: {env: uboot-env.txt, redundant: true}    # U-Boot environment; bootargs, bootcmd, mtdparts derived
/// content:                                          # a UBI image
///   ubi:
///     - name: rootfs
///       ubifs: rootfs.yaml        # UBIFS from a rootfs spec (mkfs.ubifs, owners/modes/devices from the manifest)
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

    static func parse(_ n: YAMLNode, partition: String, source: String) throws -> PartitionContent {
        func fail(_ node: YAMLNode, _ m: String) -> BoardLayout.Failure { BoardLayout.Failure(message: "\(source):\(node.line): partition '\(partition)' content: \(m)") }
        if let f = n["file"]?.string { return .file(f) }
        if let e = n["env"]?.string {
            var size: Int?
            if let s = n["size"]?.string {
                guard let v = try? ByteSize(parsing: s) else { throw fail(n, "env size: expected a size, found '\(s)'") }
                size = v.bytes
            }
            return .env(text: e, redundant: n["redundant"]?.string == "true", size: size)
        }
        if let vols = n["ubi"]?.sequence {
            var out: [UBIVolumeContent] = []
            for v in vols {
                guard let name = v["name"]?.string else { throw fail(v, "a UBI volume needs a name") }
                var size: Int?
                if let s = v["size"]?.string {
                    guard let b = try? ByteSize(parsing: s) else { throw fail(v, "volume \(name) size: expected a size, found '\(s)'") }
                    size = b.bytes
                }
                let src: UBIVolumeContent.Source
                if let u = v["ubifs"]?.string { src = .ubifs(spec: u) } else if let f = v["file"]?.string { src = .file(f) } else { src = .empty }
                if case .empty = src, size == nil { throw fail(v, "volume \(name): an empty volume needs a size") }
                out.append(UBIVolumeContent(name: name, isStatic: v["type"]?.string == "static", size: size, autoresize: v["autoresize"]?.string == "true", source: src, line: v.line))
            }
            return .ubi(out)
        }
        func address(_ node: YAMLNode?, _ key: String) throws -> Int? {
            guard let node else { return nil }
            guard let t = node.string, let v = try? ByteSize(parsing: t), v.bytes <= 0xFFFF_FFFF else { throw fail(node, "\(key): expected a 32-bit address (0x40400000), found \(node.kind)") }
            return v.bytes
        }
        func compression(_ node: YAMLNode?) throws -> Bool {
            guard let node else { return false }
            switch node.string {
            case "none": return false
            case "gzip": return true
            default: throw fail(node, "compression: expected none or gzip, found \(node.kind)")
            }
        }
        if let f = n["fit"] {
            if let spec = f.string { return .fit(FITContent(spec: spec)) }
            guard f.mapping != nil else { throw fail(f, "fit: expected a spec file or a mapping (load, compression, ramdisk, hash), found \(f.kind)") }
            for (k, v) in f.mapping! where !["load", "entry", "compression", "ramdisk", "hash"].contains(k) {
                throw fail(v, "fit: unknown key '\(k)' (expected load, entry, compression, ramdisk, hash)")
            }
            guard let load = try address(f["load"], "fit: load") else { throw fail(f, "fit: the kernel's load address (load: 0x…) is missing") }
            var c = FITContent(spec: nil, load: load, entry: try address(f["entry"], "fit: entry") ?? load, gzip: try compression(f["compression"]))
            if let r = f["ramdisk"] {
                guard let v = r.string, v == "true" || v == "false" else { throw fail(r, "fit: ramdisk: expected true or false, found \(r.kind)") }
                c.ramdisk = v == "true"
            }
            if let h = f["hash"] { c.hashes = h.sequence?.compactMap(\.string) ?? h.string.map { [$0] } ?? [] }
            return .fit(c)
        }
        if let u = n["uimage"] {
            guard let load = try address(u["load"], "uimage: load") else { throw fail(u, "uimage: the kernel's load address (load: 0x…) is missing") }
            return .uimage(UImageContent(load: load, entry: try address(u["entry"], "uimage: entry") ?? load, gzip: try compression(u["compression"])))
        }
        throw fail(n, "expected file:, env:, ubi:, fit: or uimage:, found \(n.kind)")
    }
}
