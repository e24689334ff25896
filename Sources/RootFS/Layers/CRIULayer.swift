import Crypto
import FlashsmithCore

/// CRIU on the device (`--with criu`, or `- criu:` in a spec): the criu binary with every library
/// it needs from a sysroot (the host's `/`, or an unpacked target sysroot for arm64), the `criu`
/// skeleton (`migrate`, its state folder, `/etc/modules.d/criu`), and, given a kernel modules
/// tree, the modules CRIU needs at start with their dependencies. It also asks for the image's
/// content manifest, which `migrate` uses to tell whether two devices run the same image.
public struct CRIULayer: Sendable {
    public var sysroot: String
    public var modules: String?
    public var skeletonPaths: [String]

    /// The modules CRIU 3.17 needs before it starts (`flashsmith kconfig check --for criu`).
    public static let kernelModules = [
        "unix_diag", "inet_diag", "tcp_diag", "udp_diag", "raw_diag", "af_packet_diag", "netlink_diag", "xt_mark", "tun", "veth",
        "crc32c_generic", "nf_tables", "autofs4",
    ]

    public init(sysroot: String = "/", modules: String? = nil, skeletonPaths: [String]) {
        self.sysroot = sysroot
        self.modules = modules
        self.skeletonPaths = skeletonPaths
    }

    public func apply(to m: inout Manifest) throws {
        try BundleLayer(binaries: ["/usr/sbin/criu"], sysroot: sysroot).apply(to: &m)
        try SkeletonLayer(name: "criu", searchPaths: skeletonPaths).apply(to: &m)
        if let modules {
            let tree = try ModulesLayer(tree: modules, names: []).locate()
            let known = Set(try FileIO.readAll("\(tree.dir)/modules.dep").split(separator: UInt8(ascii: "\n")).compactMap { line -> String? in
                guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return nil }
                return ModulesLayer.moduleName(String(decoding: line[..<colon], as: UTF8.self))
            })
            // Built-in options have no module: take those the tree has.
            let wanted = Self.kernelModules.filter { known.contains($0) }
            try ModulesLayer(tree: modules, names: wanted).apply(to: &m)
        }
        m.contentManifest = true
        m.notes.append("criu: /usr/sbin/criu from \(sysroot), migrate\(modules == nil ? "" : ", its kernel modules") and a content manifest")
    }
}

/// `/usr/share/flashsmith/content.sha256`: every regular file's sha256 and path, `sha256sum -c`
/// format, sorted; hard links listed under each name. Made after all layers.
public enum ContentManifest {
    public static let path = "/usr/share/flashsmith/content.sha256"

    public static func add(to m: inout Manifest) throws {
        var lines: [String] = []
        var digests: [String: String] = [:]
        for e in m.sorted() where (e.kind == .file || e.kind == .hardlink) && e.path != path {
            let owner = e.kind == .hardlink ? e.target : e.path
            if digests[owner] == nil, let file = m[owner] {
                var h = SHA256()
                try ContentReader.stream(file) { h.update(bufferPointer: $0) }
                digests[owner] = h.finalize().map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
            }
            lines.append("\(digests[owner] ?? "")  \(e.path)\n")
        }
        var entry = Manifest.Entry(path: path, kind: .file, mode: 0o644, source: "content manifest")
        entry.content = .bytes(Array(lines.joined().utf8))
        entry.mtime = m.sourceDateEpoch
        try m.add(entry)
    }
}
