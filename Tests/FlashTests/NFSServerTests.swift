import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif
@testable import Board

/// The NFS server's config (what NFS-Ganesha must be told, and what it must not), the exports line,
/// the namespace command boot --nfs runs, the one line without root, and what build writes for
/// `boot: nfs` depending on the kernel's configuration (kconfig check --for nfsroot).
@Suite struct NFSServerTests {
    @Test("ganesha.conf: one VFS export at Path, mounted as Pseudo by v3 and v4, no root squash, numeric owners, no grace, no attribute cache, no Bind_addr")
    func ganeshaConfig() {
        let c = NFSServer.ganeshaConfig(export: "/work/out/nfsroot", pseudo: "/nfsroot", recoveryRoot: "/tmp/state/recovery")
        for line in [
            "Export_Id = 1;", "Path = \"/work/out/nfsroot\";", "Pseudo = \"/nfsroot\";", "Protocols = 3, 4;", "Transports = TCP;", "Access_Type = RW;",
            "Squash = No_Root_Squash;", "Attr_Expiration_Time = 0;", "FSAL { Name = VFS; }", "mount_path_pseudo = true;", "Graceless = true;",
            "Only_Numeric_Owners = true;", "Enable_NLM = false;", "RecoveryRoot = \"/tmp/state/recovery\";", "NFS_Port = 2049;", "MNT_Port = 20048;",
        ] {
            #expect(c.contains("    \(line)\n"), "ganesha.conf lacks '\(line)':\n\(c)")
        }
        #expect(!c.lowercased().contains("bind_addr"))
        // The build's own copy leaves the recovery folder to Ganesha's default.
        #expect(!NFSServer.ganeshaConfig(export: "/x", pseudo: "/nfsroot", recoveryRoot: nil).contains("RecoveryRoot"))
        // A quote or backslash in the path cannot end the string early.
        #expect(NFSServer.ganeshaConfig(export: "/a\"b\\c", pseudo: "/p", recoveryRoot: nil).contains("Path = \"/a\\\"b\\\\c\";"))
        // Braces balance (Ganesha refuses the file otherwise).
        #expect(c.filter { $0 == "{" }.count == c.filter { $0 == "}" }.count)
    }

    @Test func exportsLine() {
        #expect(NFSServer.exportsLine(export: "/srv/out/nfsroot", client: "10.0.2.15") == "/srv/out/nfsroot 10.0.2.15(rw,sync,no_root_squash,no_subtree_check,insecure)")
    }

    @Test("the namespace script parses (sh -n); boot --nfs runs QEMU after it inside unshare's net, mount and PID namespaces")
    func namespaceCommand() throws {
        guard toolsAvailable("sh") else { return }
        let dir = try TempDir()
        let script = try dir.write("ns.sh", NFSServer.namespaceScript)
        let r = try run("sh", ["-n", script])
        #expect(r.status == 0, "sh -n: \(r.err)")
        guard NFSServer.missing() == nil else { return }
        try FileManager.default.createDirectory(atPath: dir.file("nfsroot"), withIntermediateDirectories: true)
        let argv = try NFSServer.wrap(["/usr/bin/qemu-system-aarch64", "-M", "virt"], export: dir.file("nfsroot"), pseudo: "/nfsroot", state: dir.path)
        #expect(argv.first?.hasSuffix("unshare") == true)
        #expect(Array(argv.dropFirst().prefix(7)) == ["--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--"])
        #expect(Array(argv.suffix(5)) == ["flashsmith-nfs", dir.path, "/usr/bin/qemu-system-aarch64", "-M", "virt"])
        #expect(try String(contentsOfFile: dir.file("ganesha.conf"), encoding: .utf8).contains("Path = \"\(dir.file("nfsroot"))\";"))
        // No NFS root: one line naming it.
        #expect(throws: NFSServer.Failure.self) { try NFSServer.wrap(["q"], export: dir.file("none"), pseudo: "/nfsroot", state: dir.path) }
    }

    @Test("boot --nfs without root: one line saying what is needed, exit 69, before anything else is read")
    func withoutRoot() throws {
        guard filesAvailable(flashsmithPath) else { return }
        var exe = flashsmithPath
        var args = ["boot", "/nonexistent-out", "--nfs"]
        if geteuid() == 0 {
            guard toolsAvailable("setpriv") else { return }
            exe = try #require(which("setpriv"))
            args = ["--reuid=65534", "--regid=65534", "--clear-groups", "--", flashsmithPath] + args
        }
        let r = try run(exe, args)
        #expect(r.status == 69, "exit \(r.status): \(r.err)")
        let lines = r.err.split(separator: "\n")
        #expect(lines.count == 1 && r.err.contains("boot --nfs: serving the NFS root needs root") && r.err.contains("run as root"), "\(r.err)")
    }

    /// A board with `boot: nfs`, a stand-in arm64 kernel and a config beside it.
    func build(_ dir: TempDir, config: String) throws -> RunResult {
        let board = try BoardNetBootEnvTests.board(dir, "boot: nfs\nrootfs: rootfs.yaml")
        _ = try dir.write("sysroot/boot/config-6.1.0-test-arm64", config)
        _ = try dir.write("rootfs.yaml", "layers:\n  - file: /etc/nfs-marker\n    content: \"on nfs\\n\"\n    mode: \"640\"\n    uid: 7\n    gid: 8\n")
        return try flashsmith("build", board, "-o", dir.file("out"))
    }

    @Test("build, boot: nfs: a kernel with CONFIG_ROOT_NFS and CONFIG_IP_PNP gets no initramfs (the FIT has no ramdisk); the NFS root, exports and ganesha.conf are written")
    func kernelMountsItself() throws {
        guard filesAvailable(flashsmithPath), toolsAvailable("mkimage") else { return }
        let dir = try TempDir()
        let r = try build(dir, config: "CONFIG_ARM64=y\nCONFIG_NFS_FS=y\nCONFIG_NFS_V3=y\nCONFIG_ROOT_NFS=y\nCONFIG_IP_PNP=y\nCONFIG_DEVTMPFS=y\n")
        try #require(r.status == 0, "\(r.err)")
        #expect(r.out.contains("nfsroot: config-6.1.0-test-arm64 has what an NFS root needs (CONFIG_ROOT_NFS, CONFIG_IP_PNP): no initramfs"), "\(r.out)")
        #expect(r.out.contains("nfsroot/: ") && r.out.contains("exported as /nfsroot"), "\(r.out)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out/nfsroot-initramfs.cpio.gz")))
        let l = try run("mkimage", ["-l", dir.file("out/fit.img")])
        #expect(l.status == 0 && !l.out.contains("ramdisk"), "\(l.out)")
        #expect(try String(contentsOfFile: dir.file("out/nfsroot/etc/nfs-marker"), encoding: .utf8) == "on nfs\n")
        var st = stat()
        #expect(lstat(dir.file("out/nfsroot/etc/nfs-marker"), &st) == 0 && st.st_mode & 0o7777 == 0o640)
        if geteuid() == 0 { #expect(st.st_uid == 7 && st.st_gid == 8) }
        #expect(FileManager.default.fileExists(atPath: dir.file("out/nfsroot.mtree")))
        // The export carries no marker file of its own (the output folder's covers it).
        #expect(!FileManager.default.fileExists(atPath: dir.file("out/nfsroot/.flashsmith-output")))
        let conf = try String(contentsOfFile: dir.file("out/ganesha.conf"), encoding: .utf8)
        #expect(conf.contains("Path = \"\(dir.file("out/nfsroot"))\";") && conf.contains("Pseudo = \"/nfsroot\";"), "\(conf)")
        #expect(try String(contentsOfFile: dir.file("out/nfsroot.exports"), encoding: .utf8).contains("\(dir.file("out/nfsroot")) 10.0.2.15(rw,"))
    }

    @Test("build, boot: nfs: a kernel without CONFIG_ROOT_NFS needs the initramfs, and that a busybox: one line saying so")
    func kernelNeedsInitramfs() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let r = try build(dir, config: "CONFIG_ARM64=y\nCONFIG_NFS_FS=m\nCONFIG_NFS_V3=m\n# CONFIG_ROOT_NFS is not set\n")
        #expect(r.status == 65, "\(r.out)\(r.err)")
        #expect(r.err.contains("boot: nfs: the kernel needs an initramfs to mount its NFS root, and that needs a static busybox for the board (busybox: in board.yaml, or a busybox layer in its rootfs spec)"), "\(r.err)")
        #expect(r.err.split(separator: "\n").count == 1)
    }

    @Test func kernelConfigBesideTheKernel() throws {
        let dir = try TempDir()
        _ = try dir.write("vmlinuz-6.1.0-9-arm64", "k")
        #expect(BoardNFSRoot.kernelConfig(dir.file("vmlinuz-6.1.0-9-arm64")) == nil)
        _ = try dir.write("config-6.1.0-9-arm64", "CONFIG_ARM64=y\n")
        #expect(BoardNFSRoot.kernelConfig(dir.file("vmlinuz-6.1.0-9-arm64")) == dir.file("config-6.1.0-9-arm64"))
        #expect(BoardNFSRoot.kernelConfig(dir.file("Image")) == nil)
    }
}
