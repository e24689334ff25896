import Foundation
import Testing
import TestSupport
@testable import RootFS

/// The block-device root initramfs of disk boards: its /init (syntax under busybox's ash and the
/// host's sh; root= parsing and PARTLABEL= lookup through a fake /sys), and the modules it takes
/// from Debian's real arm64 kernel: virtio, squashfs, ext4 and ext4's soft dependency crc32c_generic
/// (modules.dep and modules.softdep when depmod ran, else each module's .modinfo).
@Suite struct BlockRootInitramfsTests {
    static let script = BlockRootInitramfs.initScript(release: "6.1.0-test", modules: ["kernel/a.ko"], waitSeconds: 30)

    func shells() -> [[String]] {
        var s: [[String]] = []
        if let bb = which("busybox") { s.append([bb, "sh"]) }
        if let sh = which("sh") { s.append([sh]) }
        return s
    }

    @Test("/init parses (busybox sh -n, sh -n); placeholders all filled")
    func syntax() throws {
        guard toolsAvailable("busybox", "sh") else { return }
        let dir = try TempDir()
        let path = try dir.write("init", Self.script)
        for sh in shells() {
            let r = try run(sh[0], Array(sh.dropFirst()) + ["-n", path])
            #expect(r.status == 0, "\(sh.joined(separator: " ")) -n init: \(r.err)")
        }
        for p in ["@RELEASE@", "@MODULES@", "@WAIT@"] { #expect(!Self.script.contains(p), "\(p) left in /init") }
    }

    /// Sources /init's functions with a fake /sys (vda1 "boot", vda2 "root.a+b") and runs `commands`.
    func functions(_ commands: String) throws -> [String] {
        let dir = try TempDir()
        for (n, name) in [("vda", nil), ("vda1", "boot"), ("vda2", "root.a+b")] as [(String, String?)] {
            try FileManager.default.createDirectory(atPath: dir.file("sys/class/block/\(n)"), withIntermediateDirectories: true)
            _ = try dir.write("sys/class/block/\(n)/uevent", "MAJOR=254\nDEVNAME=\(n)\nDEVTYPE=\(name == nil ? "disk" : "partition")\n" + (name.map { "PARTNAME=\($0)\n" } ?? ""))
        }
        let initPath = try dir.write("init", Self.script)
        let test = try dir.write("t.sh", "BLOCKROOT_INIT_FUNCTIONS=1 BLOCKROOT_SYS=\(dir.file("sys"))\n. \(initPath)\nfail() { echo \"FAIL=$*\"; exit 3; }\n\(commands)\n")
        var outs: [[String]] = []
        for sh in shells() { outs.append(try run(sh[0], Array(sh.dropFirst()) + [test]).out.split(separator: "\n").map(String.init)) }
        #expect(outs.allSatisfy { $0 == outs.first }, "the shells disagree: \(outs)")
        return outs.first ?? []
    }

    @Test("root=, rootfstype=, rootflags=, ro/rw and init= from the command line; PARTLABEL= found by the kernel's PARTNAME")
    func parsing() throws {
        guard toolsAvailable("busybox", "sh") else { return }
        let out = try functions(
            """
            parse_cmdline "console=ttyAMA0 root=PARTLABEL=root.a+b rootfstype=squashfs rootflags=noatime ro init=/bin/sh rootwait"
            echo "root=$root fs=$rootfstype flags=$rootflags init=$init access=$access"
            find_root "$root" && echo "found $device"
            find_root PARTLABEL=root.a.b || echo "no root.a.b (the + and . are not patterns)"
            find_root PARTLABEL=boot && echo "found $device"
            find_root /dev/nonexistent || echo "no /dev/nonexistent"
            find_root PARTUUID=1234
            """)
        #expect(out == [
            "root=PARTLABEL=root.a+b fs=squashfs flags=noatime init=/bin/sh access=ro", "found /dev/vda2", "no root.a.b (the + and . are not patterns)",
            "found /dev/vda1", "no /dev/nonexistent", "FAIL=root=PARTUUID=1234: expected /dev/NAME, PARTLABEL=, UUID= or LABEL= (PARTUUID= needs a kernel that mounts the root itself)",
        ])
    }

    @Test("Debian's arm64 kernel: virtio, squashfs, ext4 and crc32c_generic (ext4's softdep) in load order")
    func debianModules() throws {
        guard toolsAvailable("apt-get", "dpkg") else { return }
        let kernel = try DebianArtifacts.arm64Kernel()
        let tree = try KernelModuleTree.load(kernel.modulesDirectory)
        let order = try tree.loadOrder(BlockRootInitramfs.diskModules + ["squashfs", "ext4"], optional: Set(BlockRootInitramfs.diskModules)).order
        let names = order.map { ModulesLayer.moduleName($0) }
        for n in ["virtio_mmio", "virtio_blk", "squashfs", "ext4", "crc32c_generic", "jbd2", "mbcache"] { #expect(names.contains(n), "\(n) missing: \(names)") }
        if let c = names.firstIndex(of: "crc32c_generic"), let e = names.firstIndex(of: "ext4") { #expect(c < e, "crc32c_generic before ext4: \(names)") }
        let b = BlockRootInitramfs(busybox: try DebianArtifacts.busybox(architecture: "arm64"), modules: kernel.modulesDirectory, filesystems: ["squashfs", "ext4"])
        let (m, r) = try b.manifest(sourceDateEpoch: 1_700_000_000)
        #expect(r.modules == order)
        #expect(m["/init"] != nil && m["/dev/console"]?.kind == .charDevice && m["/lib/modules/\(kernel.release)/\(order[0])"] != nil)
    }
}
