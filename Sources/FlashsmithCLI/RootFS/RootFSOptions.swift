import Archive
import ArgumentParser
import FlashsmithCore
import RootFS
#if canImport(Glibc)
import Glibc
#endif

extension BusyboxLayer.Links: ExpressibleByArgument {}
extension ArchiveCompression: ExpressibleByArgument {}

/// The layers of the common case, as flags (every one optional, the list flags repeatable). Applied
/// after a SPEC's layers, in this order: skeletons, overlays, bundled binaries, modules, ready-made
/// layers (--with), busybox (which leaves paths already taken alone), users tables, device tables.
struct RootFSLayerOptions: ParsableArguments {
    @Option(name: .long, help: "A skeleton: a name in rootfs-skeletons/ (base, nfs-dev) or a folder. Repeatable.")
    var skeleton: [String] = []

    @Option(name: .long, help: "A folder copied over the image (owners become root). Repeatable.")
    var overlay: [String] = []

    @Option(name: .long, help: "A binary to bundle with its interpreter and shared libraries, as a path in --sysroot. Repeatable.")
    var bundle: [String] = []

    @Option(name: .long, help: "Where --bundle paths and their libraries are found (default /).")
    var sysroot: String = "/"

    @Option(name: .long, help: "The rootfs's architecture (arm64, arm, x86_64, riscv64, …); every bundled ELF file must match. Default: --busybox's, else the first bundled binary's.")
    var arch: String?

    @Option(name: .long, help: "A kernel modules tree: lib/modules/RELEASE with modules.dep, or a root holding one.")
    var modules: String?

    @Option(name: .long, help: "A module to include with its dependencies (needs --modules). Repeatable.")
    var module: [String] = []

    @Option(name: .long, help: "A busybox binary (any architecture): installed as /bin/busybox with a link per applet.")
    var busybox: String?

    @Option(name: .long, help: "How applets are linked: symlink, hardlink or none.")
    var busyboxLinks: BusyboxLayer.Links = .symlink

    @Option(name: .long, help: "A users table (Buildroot mkusers format). Repeatable.")
    var users: [String] = []

    @Option(name: .long, help: "A device table (Buildroot makedevs format). Repeatable.")
    var devices: [String] = []

    @Option(name: .customLong("with"), help: "A ready-made layer: criu (criu and its libraries from --sysroot, migrate, and with --modules CRIU's kernel modules). Repeatable.")
    var with: [String] = []

    @Flag(name: .long, help: "Write /usr/share/flashsmith/content.sha256 (every file's sha256; --with criu turns it on).")
    var contentManifest = false

    @Option(name: .long, help: "Where skeleton names are looked up (default: $FLASHSMITH_SKELETONS, then rootfs-skeletons/ beside the tool).")
    var skeletons: [String] = []

    @Option(name: .long, help: "Clamp every time to this (seconds since 1970). Default: the spec's, else $SOURCE_DATE_EPOCH, else 0.")
    var sourceDateEpoch: Int64?

    var isEmpty: Bool {
        skeleton.isEmpty && overlay.isEmpty && bundle.isEmpty && modules == nil && busybox == nil && users.isEmpty && devices.isEmpty && with.isEmpty
    }

    func validate() throws {
        if !module.isEmpty && modules == nil { throw ValidationError("--module needs --modules DIR") }
        if modules != nil && module.isEmpty && !with.contains("criu") { throw ValidationError("--modules needs at least one --module NAME (or --with criu)") }
        for w in with where w != "criu" { throw ValidationError("--with: expected criu, found '\(w)'") }
        if let arch, Architecture.named(arch, source: "") == nil {
            throw ValidationError("--arch: expected one of \(Architecture.knownNames.joined(separator: ", ")), found '\(arch)'")
        }
    }

    /// Where skeleton names are looked up.
    func skeletonPaths() -> [String] {
        var out = skeletons
        if let env = getenv("FLASHSMITH_SKELETONS") { out += String(cString: env).split(separator: ":").map(String.init) }
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        if n > 0 {
            var dir = Manifest.parentPath(String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self))
            out.append(dir + "/../share/flashsmith/rootfs-skeletons")
            while dir != "/" {
                if FileIO.kind(of: dir + "/rootfs-skeletons") == .directory {
                    out.append(dir + "/rootfs-skeletons")
                    break
                }
                dir = Manifest.parentPath(dir)
            }
        }
        out.append("rootfs-skeletons")
        // Each folder once (by its real path), in this order.
        var seen = Set<String>()
        return out.filter { p in
            guard FileIO.kind(of: p) == .directory, let r = realpath(p, nil) else { return false }
            defer { free(r) }
            return seen.insert(String(cString: r)).inserted
        }
    }

    /// The spec (if any) with the flags' layers after its own.
    func spec(file: String?) throws -> RootFSSpec {
        var spec = try file.map { try RootFSSpec.load($0, skeletonPaths: skeletonPaths()) } ?? RootFSSpec()
        if let sourceDateEpoch { spec.sourceDateEpoch = Int64(try SourceDateEpoch.checked(sourceDateEpoch, source: "--source-date-epoch")) }
        if contentManifest { spec.contentManifest = true }
        if let arch { spec.architecture = Architecture.named(arch, source: "--arch \(arch)") }
        for s in skeleton { spec.layers.append(.skeleton(SkeletonLayer(name: s, searchPaths: skeletonPaths()))) }
        for o in overlay { spec.layers.append(.overlay(OverlayLayer(folder: o))) }
        if !bundle.isEmpty { spec.layers.append(.bundle(BundleLayer(binaries: bundle, sysroot: sysroot))) }
        if let modules, !module.isEmpty { spec.layers.append(.modules(ModulesLayer(tree: modules, names: module))) }
        if with.contains("criu") { spec.layers.append(.criu(CRIULayer(sysroot: sysroot, modules: modules, skeletonPaths: skeletonPaths()))) }
        // Before the spec's users and device tables too, which may name its applets.
        if let busybox { spec.addBusybox(BusyboxLayer(binary: busybox, links: busyboxLinks)) }
        for u in users { spec.layers.append(.users(path: u)) }
        for d in devices { spec.layers.append(.devices(path: d)) }
        return spec
    }
}

extension RootFSOutputKind: ExpressibleByArgument {}

/// How a rootfs is written: the kind from --format or the output's name.
struct RootFSOutputOptions: ParsableArguments {
    typealias Kind = RootFSOutputKind

    @Option(name: .shortAndLong, help: "The output: a folder (a name without an extension, or ending in /), an archive (.tar, .cpio, with .gz .xz .zst .lz4 .bz2 for compression), or an image (.ubifs, .ext4, .squashfs).")
    var output: String

    @Option(name: .long, help: "dir, tar, cpio, ubifs, ext4 or squashfs (default: from the output's name; an extension that names no format written is an error).")
    var format: Kind?

    @Option(name: .long, help: "none, gzip, xz, zstd, lz4 or bzip2 (default: from the output's name).")
    var compression: ArchiveCompression?

    @Option(name: .long, help: "Compression level (gzip 1-9, default 6; xz 0-9; zstd 1-19; lz4 1-9).")
    var level: Int?

    @Flag(name: .long, help: "Replace an output folder even if Flashsmith did not write it (it holds other files and no user.flashsmith marker).")
    var force = false

    /// (kind, compression) from the flags and the name: `x.tar.zst`, `x.tgz`, `x.cpio.gz`, `x.cpio`, `DIR`.
    /// A name that says no format Flashsmith writes is a usage error (one line, exit 64).
    func resolve() throws -> (Kind, ArchiveCompression) {
        try RootFSOutputKind.resolve(output, format: format, compression: compression)
    }
}
