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
/// ```
public enum PartitionContent: Sendable, Equatable {
    case none
    case file(String)
    case env(text: String, redundant: Bool, size: Int?)
    case ubi([UBIVolumeContent])

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
        throw fail(n, "expected file:, env: or ubi:, found \(n.kind)")
    }
}
