import Archive
import BootImage
import DeviceTree
import FlashsmithCore
import RootFS
#if canImport(Glibc)
import Glibc
#endif

/// What a board boots, built from what its board.yaml names: the kernel (`kernel:`, found in the
/// sysroot), the root filesystem (`rootfs:` + `busybox:`) as a cpio.gz initramfs, and the FIT or
/// legacy uImage a partition holds (`content: {fit: …}` / `{uimage: …}`).
///
/// A generated FIT (spec: flashsmith's FIT YAML, see ``FITSpec``):
/// ```
/// /images/kernel     type kernel, arch from the board (or the kernel's header), os linux,
///                    load/entry from the partition's content, compression none|gzip, hash-N
/// /images/fdt-N      each of the board's devicetrees:        type flat_dt
/// /images/ramdisk    the board's rootfs (cpio.gz)             type ramdisk
/// /configurations/conf-1 { kernel; fdt-N…; ramdisk }         default = conf-1
/// ```
/// Every time stamp (FIT /timestamp, uImage ih_time) is SOURCE_DATE_EPOCH, else 0: the same inputs
/// give the same bytes.
enum BoardBootImages {
    typealias Failure = BoardLayout.Failure

    /// SOURCE_DATE_EPOCH (checked: `SourceDateEpoch`), else 0.
    static func epoch() throws -> UInt32 {
        try SourceDateEpoch.fromEnvironment() ?? 0
    }

    /// `p` from the working folder, when relative (a generated spec's data paths must not depend on where it lies).
    static func absolute(_ p: String) -> String {
        guard !p.hasPrefix("/"), let cwd = getcwd(nil, 0) else { return p }
        defer { free(cwd) }
        return String(cString: cwd) + "/" + p
    }

    /// `path` itself, or for a glob in its last component, the last match in version order.
    static func resolve(_ path: String, what: String, board b: BoardLayout, line key: String? = nil) throws -> String {
        let at = b.lines[key ?? what].map { "\(b.source):\($0)" } ?? b.source
        let name = Manifest.nameOf(path)
        guard name.contains("*") || name.contains("?") || name.contains("[") else {
            guard FileIO.kind(of: path) != .missing else { throw Failure(message: "\(at): \(what) '\(path)' does not exist\(hint(b))") }
            return real(path)
        }
        let dir = Manifest.parentPath(path)
        var matches: [String] = []
        if let d = opendir(dir) {
            defer { closedir(d) }
            while let e = readdir(d) {
                let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if n != ".", n != "..", fnmatch(name, n, 0) == 0 { matches.append(n) }
            }
        }
        guard let last = matches.sorted(by: versionOrder).last else { throw Failure(message: "\(at): \(what): nothing matches '\(path)'\(hint(b))") }
        return real("\(dir)/\(last)")
    }

    /// Names in version order, as `ls -v` sorts them: runs of digits compare as numbers
    /// (vmlinuz-6.1.0-10 after vmlinuz-6.1.0-9).
    static func versionOrder(_ a: String, _ b: String) -> Bool {
        var x = Array(a.utf8)[...], y = Array(b.utf8)[...]
        func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        while let c = x.first, let d = y.first {
            if isDigit(c) && isDigit(d) {
                let m = x.prefix { isDigit($0) }, n = y.prefix { isDigit($0) }
                let mv = m.drop { $0 == 0x30 }, nv = n.drop { $0 == 0x30 }
                if mv.count != nv.count { return mv.count < nv.count }
                if !mv.elementsEqual(nv) { return mv.lexicographicallyPrecedes(nv) }
                x = x.dropFirst(m.count)
                y = y.dropFirst(n.count)
            } else {
                if c != d { return c < d }
                x = x.dropFirst()
                y = y.dropFirst()
            }
        }
        return x.count < y.count
    }

    /// The file a board's input path names, links followed (a sysroot of links to packages is common).
    static func real(_ p: String) -> String {
        guard let r = realpath(p, nil) else { return absolute(p) }
        defer { free(r) }
        return String(cString: r)
    }

    static func hint(_ b: BoardLayout) -> String {
        b.sysroot.map { " (sysroot \($0): fetch it first, e.g. scripts/fetch-sysroot.sh, or give --sysroot)" } ?? ""
    }

    /// The kernel's architecture by its header: arm64 `Image` ("ARM\x64" at 0x38), 32-bit ARM
    /// zImage (0x016f2818 at 0x24), RISC-V `Image` ("RSC\x05" at 0x38), x86 bzImage ("HdrS" at 0x202).
    static func architecture(ofKernel path: String) throws -> String? {
        let head = try FileIO.read(path, offset: 0, count: min(0x210, try FileIO.size(of: path)))
        func at(_ o: Int, _ bytes: [UInt8]) -> Bool { head.count >= o + bytes.count && Array(head[o..<(o + bytes.count)]) == bytes }
        if at(0x38, [0x41, 0x52, 0x4D, 0x64]) { return "arm64" }
        if at(0x24, [0x18, 0x28, 0x6F, 0x01]) { return "arm" }
        if at(0x38, [0x52, 0x53, 0x43, 0x05]) { return "riscv" }
        if at(0x202, [0x48, 0x64, 0x72, 0x53]) { return "x86_64" }
        return nil
    }

    /// gzip on every core (deterministic: the same bytes whatever the core count), level 9.
    static func gzip(_ input: String, to output: String) throws {
        let out = try AtomicFile(destination: output, durable: false)
        let z = try ParallelGzip(descriptor: out.descriptor, path: output, level: 9)
        try FileIO.forEachChunk(input, offset: 0, count: try FileIO.size(of: input)) { try z.write($0) }
        try z.finish()
        try out.commit()
    }

    /// The board's kernel, resolved, and its architecture (`arch:` in board.yaml wins).
    static func kernel(_ b: BoardLayout, partition p: BoardLayout.Partition) throws -> (path: String, arch: String) {
        guard let k = b.kernel else { throw Failure(message: "\(b.source):\(p.line): partition '\(p.name)': its content is the board's kernel, and the board names none (kernel: …)") }
        let path = try resolve(k, what: "kernel", board: b)
        guard let arch = try b.arch ?? architecture(ofKernel: path) else {
            throw Failure(message: "\(b.source): kernel \(path): its architecture is not recognisable from its header; give arch: (arm, arm64, riscv, x86_64, …)")
        }
        return (path, arch)
    }

    /// The board's root filesystem (its spec, plus `busybox:` when given, before the spec's users and
    /// device tables, which may name its applets) as a manifest.
    static func rootfsManifest(_ b: BoardLayout, spec: String, skeletonPaths: [String]) throws -> Manifest {
        var s = try RootFSSpec.load(spec, skeletonPaths: skeletonPaths)
        if let bb = b.busybox { s.addBusybox(BusyboxLayer(binary: try resolve(bb, what: "busybox", board: b))) }
        // The board's architecture (arch:, else its kernel's header) is the rootfs's, unless the spec says.
        if s.architecture == nil {
            if let a = b.arch {
                s.architecture = Architecture.named(a, source: "\(b.source): arch \(a)")
            } else if let k = b.kernel, let path = try? resolve(k, what: "kernel", board: b), let a = try architecture(ofKernel: path) {
                s.architecture = Architecture.named(a, source: "board \(b.name)'s kernel")
            }
        }
        return try s.build()
    }

    /// `OUT/rootfs.cpio.gz` from the board's `rootfs:`.
    static func initramfs(_ b: BoardLayout, out: String, skeletonPaths: [String]) throws -> (path: String, entries: Int)? {
        guard let spec = b.rootfs else { return nil }
        let m = try rootfsManifest(b, spec: spec, skeletonPaths: skeletonPaths)
        let path = "\(out)/rootfs.cpio.gz"
        let r = try ArchiveOutput.write(m, to: path, format: .cpio, compression: .gzip)
        return (path, r.entries)
    }

    /// Writes the FIT for `p` to `image`; returns its note for the report and the configuration's contents.
    static func fit(_ b: BoardLayout, _ p: BoardLayout.Partition, _ c: PartitionContent.FITContent, initramfs: String?, work: String, image: String) throws -> (note: String, hasRamdisk: Bool, hasFDT: Bool, configuration: String) {
        var options = FIT.BuildOptions()
        options.timestamp = try epoch()
        if let spec = c.spec {
            let path = BoardBuild.path(b, spec)
            var blob: FDTBlob
            if spec.hasSuffix(".yaml") || spec.hasSuffix(".yml") {
                blob = try FITSpec.blob(try FITSpec.parse(String(decoding: try FileIO.readAll(path), as: UTF8.self), path: path), source: path)
            } else {
                blob = try FIT.compileITS(path)
            }
            try FIT.fill(&blob, options: options)
            try FIT.write(&blob, options: options, output: image)
            // What the default configuration holds decides bootm's arguments.
            guard let conf = try blob.string("/configurations", "default") else {
                throw Failure(message: "\(path): the FIT has no default configuration (/configurations/default), which the derived bootcmd boots")
            }
            let node = "/configurations/\(conf)"
            return ("FIT from \(spec) (configuration \(conf))", try blob.property(node, "ramdisk") != nil, try blob.property(node, "fdt") != nil, conf)
        }
        let k = try kernel(b, partition: p)
        var kernelData = k.path
        if c.gzip {
            kernelData = absolute("\(work)/kernel.gz")
            try gzip(k.path, to: kernelData)
        }
        let withRamdisk = c.ramdisk ?? (initramfs != nil && !b.hasUBIRootfs)
        if withRamdisk && initramfs == nil {
            throw Failure(message: "\(b.source):\(p.line): partition '\(p.name)': fit: ramdisk: true needs the board's rootfs: (a rootfs spec)")
        }
        let hashes = "[" + c.hashes.joined(separator: ", ") + "]"
        func q(_ s: String) -> String { "\"" + s.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\"" }
        var y = "description: \(q("\(b.name): \(Manifest.nameOf(k.path))\(withRamdisk ? " and its root filesystem" : "") (flashsmith build)"))\n"
        y += "images:\n"
        y += "  kernel:\n    description: \(q(Manifest.nameOf(k.path)))\n    type: kernel\n    arch: \(k.arch)\n    os: linux\n"
        y += "    compression: \(c.gzip ? "gzip" : "none")\n    load: \(hex(c.load))\n    entry: \(hex(c.entry))\n    data: \(q(kernelData))\n    hash: \(hashes)\n"
        var fdts: [String] = []
        for (i, d) in b.deviceTrees.enumerated() {
            let path = try resolve(d, what: "devicetree", board: b, line: "devicetree \(i)")
            fdts.append("fdt-\(i + 1)")
            y += "  fdt-\(i + 1):\n    description: \(q(Manifest.nameOf(path)))\n    type: flat_dt\n    arch: \(k.arch)\n    data: \(q(path))\n    hash: \(hashes)\n"
        }
        if withRamdisk, let r = initramfs {
            y += "  ramdisk:\n    description: \(q("\(b.name) root filesystem"))\n    type: ramdisk\n    arch: \(k.arch)\n    os: linux\n    data: \(q(absolute(r)))\n    hash: \(hashes)\n"
        }
        y += "configurations:\n  default: conf-1\n  conf-1:\n    description: \(q(b.name))\n    kernel: kernel\n"
        if !fdts.isEmpty { y += "    fdt: [\(fdts.joined(separator: ", "))]\n" }
        if withRamdisk { y += "    ramdisk: ramdisk\n" }
        let specPath = "\(work)/\(p.name).fit.yaml"
        try AtomicFile.write(Array(y.utf8), to: specPath)
        var blob = try FITSpec.blob(try FITSpec.parse(y, path: specPath), source: specPath)
        try FIT.fill(&blob, options: options)
        try FIT.write(&blob, options: options, output: image)
        let parts = ["kernel \(Manifest.nameOf(k.path)) (\(k.arch)\(c.gzip ? ", gzip" : ""), load \(hex(c.load)))"] + fdts.map { $0 } + (withRamdisk ? ["ramdisk \(Manifest.nameOf(initramfs ?? ""))"] : [])
        return ("FIT: " + parts.joined(separator: ", ") + ", " + c.hashes.joined(separator: "+"), withRamdisk, !fdts.isEmpty, "conf-1")
    }

    /// A legacy uImage of the board's kernel.
    static func uimage(_ b: BoardLayout, _ p: BoardLayout.Partition, _ c: PartitionContent.UImageContent, work: String, image: String) throws -> String {
        guard b.deviceTrees.isEmpty else {
            throw Failure(message: "\(b.source):\(p.line): partition '\(p.name)': a uImage carries no device tree, and the board names devicetrees: (use fit: to boot them)")
        }
        let k = try kernel(b, partition: p)
        var data = k.path
        if c.gzip {
            data = "\(work)/kernel.gz"
            try gzip(k.path, to: data)
        }
        guard let arch = UImageTables.lookup(UImageTables.arch, k.arch) else { throw Failure(message: "\(b.source): arch \(k.arch): not one of U-Boot's") }
        let params = UImage.Parameters(
            arch: arch.id, os: 5, type: 2, comp: c.gzip ? 1 : 0, load: UInt32(c.load), entry: UInt32(c.entry),
            name: Array("\(b.name) \(Manifest.nameOf(k.path))".utf8.prefix(32)), time: try epoch())
        try UImage.create(params, files: [data], output: image)
        return "uImage: kernel \(Manifest.nameOf(k.path)) (\(k.arch)\(c.gzip ? ", gzip" : ""), load \(hex(c.load)))"
    }
}
