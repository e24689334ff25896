import FlashsmithCore
import Migration
import RootFS
#if canImport(Glibc)
import Glibc
#endif

/// What `flashsmith build` writes for a board with `boot: nfs`:
/// ```
/// OUT/nfsroot/                 the board's rootfs (rootfs:, else its UBIFS volume's spec) as a folder to export (owners, modes, device
///                              nodes as root; OUT/nfsroot.mtree records them whoever builds)
/// OUT/nfsroot.exports          the /etc/exports line for a kernel NFS server
/// OUT/ganesha.conf             a ready NFS-Ganesha config exporting it as /nfsroot (v3 and v4)
/// OUT/nfsroot-initramfs.cpio.gz  when the kernel cannot mount an NFS root itself (no
///                              CONFIG_ROOT_NFS/CONFIG_IP_PNP, as `kconfig check --for nfsroot`
///                              says): busybox, NIC and NFS modules, an /init that mounts it
///                              (``NFSRootInitramfs``); the FIT's ramdisk
/// ```
/// The export lives inside the output folder, which the next build replaces whole: rebuild with the
/// server and the guest stopped (a guest whose root folder is replaced gets "Stale file handle").
enum BoardNFSRoot {
    typealias Failure = BoardLayout.Failure

    struct Written {
        /// The initramfs for the FIT's ramdisk, when the kernel needs one.
        var initramfs: String?
        var notes: [String]
    }

    /// Writes the outputs above into `out` (the staging folder of `destination`).
    static func write(_ b: BoardLayout, out: String, destination: String, skeletonPaths: [String], progress: (String) -> Void) throws -> Written {
        guard let spec = rootfsSpec(b) else {
            throw Failure(message: "\(b.source): boot: nfs needs the board's root filesystem to export (rootfs: a rootfs spec, or a UBI volume with ubifs:)")
        }
        progress("NFS root (folder)")
        let m = try BoardBootImages.rootfsManifest(b, spec: spec, skeletonPaths: skeletonPaths)
        // No marker of its own: the output folder's marker covers it, and the export shows exactly the manifest.
        let r = try DirectoryOutput.write(m, to: "\(out)/nfsroot", deviceNodes: true, marker: nil)
        let export = destination + "/nfsroot"
        var notes = ["nfsroot/: \(r.entries) entries, \(r.dataBytes) bytes of files, exported as \(BoardNetwork.nfsRootPath) (nfsroot.exports, ganesha.conf)"]
        // The notes name the staging folder: say where the tree will be.
        notes += r.notes.map { "nfsroot/: " + $0.replacing(out, with: destination) }
        let client: String
        if case let .address(a) = b.network.client { client = "\(a)" } else { client = "*" }
        let exports = "# /etc/exports line for \(b.name)'s NFS root (flashsmith build); the board mounts \(BoardNetwork.nfsRootPath):\n"
            + "# export it there too (or bind-mount it), then exportfs -ra\n" + NFSServer.exportsLine(export: export, client: client) + "\n"
        try AtomicFile.write(Array(exports.utf8), to: "\(out)/nfsroot.exports")
        try AtomicFile.write(Array(NFSServer.ganeshaConfig(export: export, pseudo: BoardNetwork.nfsRootPath, recoveryRoot: nil).utf8), to: "\(out)/ganesha.conf")
        guard let kernel = b.kernel else {
            notes.append("nfsroot: the board names no kernel: its own must mount the NFS root (CONFIG_ROOT_NFS, CONFIG_IP_PNP)")
            return Written(initramfs: nil, notes: notes)
        }
        let kernelPath = try BoardBootImages.resolve(kernel, what: "kernel", board: b)
        if let config = kernelConfig(kernelPath) {
            let check = KernelCheck(try KernelConfig.load(config), features: [.nfsroot])
            let lacking = check.failures.map(\.requirement.option)
            if lacking.isEmpty {
                notes.append("nfsroot: \(Manifest.nameOf(config)) has what an NFS root needs (CONFIG_ROOT_NFS, CONFIG_IP_PNP): no initramfs")
                return Written(initramfs: nil, notes: notes)
            }
            notes.append("nfsroot: \(Manifest.nameOf(config)) lacks \(lacking.joined(separator: ", ")) (as kconfig check --for nfsroot says): an initramfs mounts the root")
        } else {
            notes.append("nfsroot: no config-* beside \(Manifest.nameOf(kernelPath)): an initramfs mounts the root (it also works for a kernel that could)")
        }
        let busybox = try b.busybox.map { try BoardBootImages.resolve($0, what: "busybox", board: b) } ?? specBusybox(spec, skeletonPaths: skeletonPaths)
        return Written(initramfs: try initramfs(b, kernel: kernelPath, busybox: busybox, out: out, notes: &notes, progress: progress), notes: notes)
    }

    /// The board's root filesystem spec: `rootfs:`, else its first UBIFS volume's (a NAND board).
    static func rootfsSpec(_ b: BoardLayout) -> String? {
        if let r = b.rootfs { return r }
        for p in b.partitions {
            guard case let .ubi(volumes) = p.content else { continue }
            for v in volumes { if case let .ubifs(spec) = v.source { return BoardBuild.path(b, spec) } }
        }
        return nil
    }

    /// `boot/config-RELEASE` beside `boot/vmlinuz-RELEASE` (or `Image-RELEASE`), when there is one.
    static func kernelConfig(_ kernel: String) -> String? {
        let name = Manifest.nameOf(kernel)
        guard let dash = name.firstIndex(of: "-") else { return nil }
        let config = "\(Manifest.parentPath(kernel))/config\(name[dash...])"
        return FileIO.kind(of: config) == .missing ? nil : config
    }

    /// The modules of `kernel`: `lib/modules/RELEASE` of the root its `boot/` is in (a sysroot, an
    /// unpacked kernel package), RELEASE from its name (`vmlinuz-RELEASE`).
    static func modulesFolder(_ b: BoardLayout, kernel: String) throws -> String {
        let name = Manifest.nameOf(kernel)
        guard let dash = name.firstIndex(of: "-") else {
            throw Failure(message: "\(b.source): kernel \(kernel): its release is not in its name (vmlinuz-RELEASE), so its modules (lib/modules/RELEASE) cannot be found for the NFS-root initramfs")
        }
        let release = String(name[name.index(after: dash)...])
        let root = Manifest.parentPath(Manifest.parentPath(kernel))
        var candidates = ["\(root)/lib/modules/\(release)", "\(root)/usr/lib/modules/\(release)"]
        if let s = b.sysroot { candidates += ["\(s)/lib/modules/\(release)", "\(s)/usr/lib/modules/\(release)"] }
        guard let dir = candidates.first(where: { FileIO.kind(of: $0) == .directory }) else {
            throw Failure(message: "\(b.source): kernel \(kernel): the NFS-root initramfs needs its modules; expected \(candidates[0]) (the kernel package unpacked in the sysroot), found nothing there")
        }
        return dir
    }

    /// The busybox a rootfs spec adds (its first `busybox:` layer), for a board without `busybox:`.
    static func specBusybox(_ spec: String, skeletonPaths: [String]) throws -> String? {
        for l in try RootFSSpec.load(spec, skeletonPaths: skeletonPaths).layers { if case let .busybox(bb) = l { return bb.binary } }
        return nil
    }

    static func initramfs(_ b: BoardLayout, kernel: String, busybox: String?, out: String, notes: inout [String], progress: (String) -> Void) throws -> String {
        guard let bb = busybox else {
            throw Failure(message: "\(b.source): boot: nfs: the kernel needs an initramfs to mount its NFS root, and that needs a static busybox for the board (busybox: in board.yaml, or a busybox layer in its rootfs spec)")
        }
        progress("NFS-root initramfs")
        let arch = try b.arch ?? BoardBootImages.architecture(ofKernel: kernel)
        let builder = NFSRootInitramfs(
            busybox: bb, modules: try modulesFolder(b, kernel: kernel),
            architecture: arch.flatMap { Architecture.named($0, source: "board \(b.name)'s kernel") })
        let path = "\(out)/nfsroot-initramfs.cpio.gz"
        let r = try builder.write(to: path, sourceDateEpoch: Int64(try BoardBootImages.epoch()))
        notes.append("nfsroot-initramfs.cpio.gz: \(r.entries) entries, \(r.bytes) bytes, \(r.modules.count) modules of \(r.release) (\(r.modules.map { ModulesLayer.moduleName($0) }.joined(separator: " ")))")
        notes += r.notes.filter { !$0.hasPrefix("busybox:") }.map { "nfsroot-initramfs: \($0)" }
        return path
    }
}
