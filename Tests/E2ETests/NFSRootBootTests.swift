import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

extension E2E {
    /// The NFS-root loop, end to end, with a real NFS server (NFS-Ganesha, in a private network +
    /// mount + PID namespace; needs root).
    ///
    /// arm64: the default board with `boot: nfs`: `flashsmith build` writes OUT/nfsroot, the server
    /// config and the initramfs Debian's kernel needs (in the FIT); `flashsmith boot OUT --nfs`: U-Boot
    /// runs nfsboot → TFTP (QEMU's) → kernel → initramfs (static ip=) → NFS root → the board's marker.
    /// Then, in the same boot, through the console: owners, modes, setuid bits and device nodes of the
    /// rootfs spec as the guest sees them; a file the guest writes (chown, chmod, mknod) on the host
    /// as the guest left it; a file edited on the host (in place) seen by the guest at its next open.
    ///
    /// amd64 (the nandsim board family, which boots without U-Boot): the kernel and the board's NFS-root
    /// initramfs started by QEMU directly with the board's nfsboot arguments (ip=dhcp: udhcpc), the
    /// root served by Ganesha from the build's own OUT/ganesha.conf, as a user would start it.
    @Suite("NFS root: build (boot: nfs), U-Boot nfsboot → initramfs → NFS-Ganesha, arm64 and amd64")
    struct NFSRootBootTests {
        static let marker = "flashsmith: rootfs of board qemu-arm64 up"
        static var repo: String {
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        }

        /// Root, and the server's programs; locally a SKIP with the reason, in CI a failure.
        func available(_ qemu: String) -> Bool {
            guard toolsAvailable(qemu, "ganesha.nfsd", "rpcbind", "rpcinfo", "unshare", "ip", "apt-get", "dpkg", "mkimage") else { return false }
            guard geteuid() == 0 else {
                let msg = "the NFS-root tests need root (NFS-Ganesha's VFS export and the private network namespace)"
                if isCI { Issue.record(Comment(rawValue: msg)) } else { print("SKIP: \(msg)") }
                return false
            }
            return filesAvailable(flashsmithPath)
        }

        /// `dir/sysroot`: links to the cached Debian kernel (boot/vmlinuz-R, boot/config-R,
        /// lib/modules/R with its modules.dep) and `busybox`.
        func sysroot(_ dir: TempDir, kernel: DebianArtifacts.Kernel, busybox: String) throws -> String {
            let root = dir.file("sysroot")
            for d in ["boot", "bin", "lib/modules"] { try FileManager.default.createDirectory(atPath: "\(root)/\(d)", withIntermediateDirectories: true) }
            let boot = URL(fileURLWithPath: kernel.vmlinuz).deletingLastPathComponent().path
            try FileManager.default.createSymbolicLink(atPath: "\(root)/boot/vmlinuz-\(kernel.release)", withDestinationPath: kernel.vmlinuz)
            try FileManager.default.createSymbolicLink(atPath: "\(root)/boot/config-\(kernel.release)", withDestinationPath: "\(boot)/config-\(kernel.release)")
            try FileManager.default.createSymbolicLink(atPath: "\(root)/lib/modules/\(kernel.release)", withDestinationPath: kernel.modulesDirectory)
            try FileManager.default.createSymbolicLink(atPath: "\(root)/bin/busybox", withDestinationPath: busybox)
            return root
        }

        /// A copy of `layouts/NAME` with `edit` applied to board.yaml and test layers added to its
        /// rootfs spec: a device node outside /dev (devtmpfs covers /dev), a setuid file owned
        /// 1000:100, a setgid folder, and the file the host edits.
        func board(_ dir: TempDir, _ name: String, edit: (String) -> String) throws -> String {
            let board = dir.file("board")
            try FileManager.default.copyItem(atPath: "\(Self.repo)/layouts/\(name)", toPath: board)
            let yaml = try String(contentsOfFile: "\(board)/board.yaml", encoding: .utf8)
            try edit(yaml).write(toFile: "\(board)/board.yaml", atomically: true, encoding: .utf8)
            _ = try dir.write("board/nfs-test-devices.txt", "/var/lib/nfs-test-node c 640 0 6 10 200 - - -\n/var/nfs-test-dir d 2750 1 5 - - - - -\n")
            var spec = try String(contentsOfFile: "\(board)/rootfs.yaml", encoding: .utf8)
            spec += "  - devices: nfs-test-devices.txt\n"
            spec += "  - file: /usr/bin/nfs-suid\n    content: \"#!/bin/sh\\necho suid\\n\"\n    mode: \"4755\"\n    uid: 1000\n    gid: 100\n"
            spec += "  - file: /etc/edit-me\n    content: \"version 1\\n\"\n    mode: \"644\"\n"
            try spec.write(toFile: "\(board)/rootfs.yaml", atomically: true, encoding: .utf8)
            return board
        }

        /// The spec's entries as the guest must see them (busybox stat -c '%F|%a|%u|%g|%t|%T|%n').
        static let specStats = [
            "S=character special file|640|0|6|a|c8|/var/lib/nfs-test-node", "S=regular file|4755|1000|100|0|0|/usr/bin/nfs-suid",
            "S=directory|2750|1|5|0|0|/var/nfs-test-dir", "S=regular file|600|0|0|0|0|/etc/shadow",
        ]
        static let statCommand = "stat -c 'S=%F|%a|%u|%g|%t|%T|%n' /var/lib/nfs-test-node /usr/bin/nfs-suid /var/nfs-test-dir /etc/shadow; echo STATS-$((6*7))\n"

        /// glibc's makedev (a macro Swift does not import).
        func device(_ major: UInt64, _ minor: UInt64) -> UInt64 {
            (major & 0xFFF) << 8 | (minor & 0xFF) | (minor & ~0xFF) << 12 | (major & ~0xFFF) << 32
        }

        func stat(_ path: String) -> Glibc.stat? {
            var st = Glibc.stat()
            return lstat(path, &st) == 0 ? st : nil
        }

        @Test("arm64: flashsmith boot --nfs reaches the marker from the NFS root; owners, modes, nodes; guest writes on the host; host edits in the guest")
        func arm64DefaultBoard() throws {
            guard available("qemu-system-aarch64"), filesAvailable(Arm64Virt.uboot) else { return }
            let dir = try TempDir("flashsmith-e2e-nfsroot")
            let kernel = try DebianArtifacts.arm64Kernel()
            let root = try sysroot(dir, kernel: kernel, busybox: try DebianArtifacts.busybox(architecture: "arm64"))
            let board = try board(dir, "qemu-arm64") { $0 + "boot: nfs\n" }
            let out = dir.file("out")
            let clock = ContinuousClock()
            let t0 = clock.now
            let b = try flashsmith("build", board, "-o", out, "--sysroot", root)
            let buildTime = clock.now - t0
            try #require(b.status == 0, "flashsmith build (boot: nfs): \(b.err)")
            for line in ["nfsroot/:", "lacks CONFIG_NFS_FS", "nfsroot-initramfs.cpio.gz:", "boots: run nfsboot (boot: nfs)"] {
                #expect(b.out.contains(line), "report lacks '\(line)': \(b.out)")
            }
            let initramfs = try readBytes("\(out)/nfsroot-initramfs.cpio.gz")
            // The FIT carries the NFS-root initramfs as its ramdisk (not the board's rootfs).
            let l = try run("mkimage", ["-l", "\(out)/fit.img"])
            #expect(l.out.contains("Data Size:    \(initramfs.count) Bytes"), "mkimage -l: \(l.out)")
            let conf = try String(contentsOfFile: "\(out)/ganesha.conf", encoding: .utf8)
            #expect(conf.contains("Path = \"\(out)/nfsroot\";") && conf.contains("Pseudo = \"/nfsroot\";") && conf.contains("Squash = No_Root_Squash;"), "\(conf)")
            #expect(try String(contentsOfFile: "\(out)/nfsroot.exports", encoding: .utf8).contains("\(out)/nfsroot 10.0.2.15(rw,sync,no_root_squash"))
            // As root the tree holds the spec's owners and nodes.
            let node = try #require(stat("\(out)/nfsroot/var/lib/nfs-test-node"))
            #expect(node.st_mode & S_IFMT == S_IFCHR && node.st_gid == 6 && node.st_rdev == device(10, 200))
            print(String(format: "E2E timing: NFS-root build (arm64) %.2f s, initramfs %d bytes", Double(buildTime.components.seconds) + Double(buildTime.components.attoseconds) / 1e18, initramfs.count))

            let session = try ConsoleSession(flashsmithPath, ["boot", out, "--nfs", "--send-after", Self.marker, "--timeout", "400"], log: dir.file("boot.log"))
            defer { session.stop() }
            let ctx = { "\(session.tail(60))" }
            let reached = session.wait(for: Self.marker, timeout: .seconds(300))
            try #require(reached, "no marker: \(ctx())")
            let toMarker = session.elapsed
            #expect(session.log.contains("flashsmith-nfsroot: / is 10.0.2.2:/nfsroot (nfs rw,nolock,v3,tcp,mountproto=tcp) on eth0 10.0.2.15"), "\(ctx())")
            #expect(session.log.contains("Bytes transferred = \(try FileManager.default.attributesOfItem(atPath: "\(out)/fit.img")[.size] as? Int ?? -1)"), "the FIT over TFTP: \(ctx())")

            // The spec's owners, modes, setuid/setgid bits and device nodes, as the guest sees them.
            try session.send(Self.statCommand + "cat /etc/edit-me\n")
            try #require(session.wait(for: "STATS-42", timeout: .seconds(60)), "\(ctx())")
            for s in Self.specStats { #expect(session.log.contains(s), "guest: '\(s)' missing: \(ctx())") }

            // The guest writes: the host sees its owner, mode, data and node.
            try session.send("echo from-guest >/root/from-guest && chown 1234:567 /root/from-guest && chmod 640 /root/from-guest && mknod /root/guest-node c 1 3 && sync && echo WROTE-$((6*7))\n")
            try #require(session.wait(for: "WROTE-42", timeout: .seconds(60)), "\(ctx())")
            let written = try #require(stat("\(out)/nfsroot/root/from-guest"), "the guest's file is not on the host")
            #expect(written.st_uid == 1234 && written.st_gid == 567 && written.st_mode & 0o7777 == 0o640, "owner \(written.st_uid):\(written.st_gid) mode \(String(written.st_mode & 0o7777, radix: 8))")
            #expect(try String(contentsOfFile: "\(out)/nfsroot/root/from-guest", encoding: .utf8) == "from-guest\n")
            let guestNode = try #require(stat("\(out)/nfsroot/root/guest-node"))
            #expect(guestNode.st_mode & S_IFMT == S_IFCHR && guestNode.st_rdev == device(1, 3))

            // The host edits a file the guest has read, in place (same inode): the guest's next open sees it.
            let edited = "\(out)/nfsroot/etc/edit-me"
            let inode = try #require(stat(edited)).st_ino
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: edited))
            try h.truncate(atOffset: 0)
            try h.write(contentsOf: Data("version 2, edited on the host\n".utf8))
            try h.close()
            #expect(try #require(stat(edited)).st_ino == inode)
            try session.send("grep -q 'version 2' /etc/edit-me && echo EDIT-SEEN-$((6*7)) || echo EDIT-MISSED-$((6*7)); cat /etc/edit-me\n")
            let seen = session.wait(forAny: ["EDIT-SEEN-42", "EDIT-MISSED-42"], timeout: .seconds(60))
            #expect(seen == "EDIT-SEEN-42", "the guest's next open of a file edited on the host: \(seen ?? "no answer"): \(ctx())")
            try session.send("poweroff -f\n")
            let status = session.waitForExit(timeout: .seconds(60))
            print(String(format: "E2E timing: NFS loop arm64 (U-Boot → TFTP → kernel → initramfs → NFS root) to marker %.2f s; whole session %.2f s, exit %@", toMarker, session.elapsed, status.map { "\($0)" } ?? "-"))
            #expect(status != nil, "flashsmith boot did not end after poweroff: \(ctx())")
            // Nothing of the server outlives boot: the namespace died with it.
            let left = try run("pgrep", ["-af", "ganesha.nfsd -F -f .*flashsmith-boot"])
            #expect(left.out.isEmpty, "left running: \(left.out)")
        }

        /// The namespace a user would make by hand for the build's ganesha.conf: lo up, a private /run,
        /// rpcbind, ganesha.nfsd -f OUT/ganesha.conf, then the command.
        static let serverScript = #"""
            state=$1 conf=$2
            shift 2
            ip link set lo up && mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -p /run/rpcbind /run/ganesha || exit 69
            rpcbind -f &
            until [ -S /run/rpcbind.sock ]; do sleep 0.05; done
            ganesha.nfsd -F -f "$conf" -L "$state/ganesha.log" -p "$state/ganesha.pid" &
            i=0
            until rpcinfo -T tcp 127.0.0.1 nfs 3 >/dev/null 2>&1; do
            	i=$((i + 1)); [ $i -lt 400 ] || { echo "ganesha did not start: $(tail -n 3 "$state/ganesha.log")"; exit 69; }
            	sleep 0.05
            done
            echo "test: NFS server up"
            "$@"
            """#

        /// The nandsim board with the cached amd64 kernel, `boot: nfs` and a DHCP client (the initramfs
        /// takes the busybox of its rootfs spec: the board has no busybox:), built; its
        /// kernel and the arguments its nfsboot would pass (`${serverip}` as QEMU's user network has it).
        func amd64Build(_ dir: TempDir) throws -> (out: String, kernel: DebianArtifacts.Kernel, append: String) {
            let kernel = try DebianArtifacts.amd64Kernel()
            let root = try sysroot(dir, kernel: kernel, busybox: "/bin/busybox")
            let board = try board(dir, "nandsim") { yaml in
                var y = yaml.replacingOccurrences(of: "  - name: kernel\n    size: 8MiB\n", with: "  - name: kernel\n    size: 16MiB\n    content: {uimage: {load: 0x1000000}}\n")
                y += "sysroot: \(root)\nkernel: ${sysroot}/boot/vmlinuz-*\nboot: nfs\nnetwork:\n  server: 10.0.2.2\n  client: dhcp\n"
                return y
            }
            let out = dir.file("out")
            let b = try flashsmith("build", board, "-o", out)
            try #require(b.status == 0, "flashsmith build (nandsim, boot: nfs): \(b.err)")
            #expect(b.out.contains("nfsroot-initramfs.cpio.gz:") && b.out.contains("of \(kernel.release)"), "\(b.out)")
            let env = try String(contentsOfFile: "\(out)/uboot-env.txt", encoding: .utf8)
            let nfsboot = try #require(env.split(separator: "\n").first { $0.hasPrefix("nfsboot=") }.map(String.init), "\(env)")
            let args = try #require(nfsboot.components(separatedBy: "setenv bootargs ").dropFirst().first?.components(separatedBy: " && ").first, "\(nfsboot)")
            #expect(args.contains("ip=dhcp"), "\(args)")
            return (out, kernel, args.replacingOccurrences(of: "${serverip}", with: "10.0.2.2"))
        }

        static func qemuAMD64(kernel: String, initramfs: String, append: String) throws -> [String] {
            [try #require(which("qemu-system-x86_64")), "-m", "512", "-accel", "tcg", "-nographic", "-no-reboot", "-kernel", kernel, "-initrd", initramfs,
             "-append", append, "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,romfile="]
        }

        @Test("amd64, no NFS server: the initramfs says in one line what failed and powers off (QEMU exits by itself)")
        func amd64FailurePowersOff() throws {
            guard toolsAvailable("qemu-system-x86_64", "apt-get", "dpkg"), filesAvailable(flashsmithPath) else { return }
            let dir = try TempDir("flashsmith-e2e-nfsroot-fail")
            let (out, kernel, append) = try amd64Build(dir)
            let argv = try Self.qemuAMD64(kernel: kernel.vmlinuz, initramfs: "\(out)/nfsroot-initramfs.cpio.gz", append: append)
            let q = try QEMU.run(argv[0], Array(argv.dropFirst()), log: dir.file("qemu.log"), timeout: .seconds(240), markers: ["flashsmith-nfsroot: "])
            let lines = q.lines.filter { $0.contains("flashsmith-nfsroot: ") }
            #expect(lines.count == 1 && lines.first?.contains("flashsmith-nfsroot: cannot mount 10.0.2.2:/nfsroot (nfs rw,nolock,v3,tcp,mountproto=tcp)") == true
                && lines.first?.hasSuffix("; powering off") == true, "\(lines): \(q.summary)\n\(q.tail(30))")
            #expect(q.exitStatus == 0 && !q.timedOut, "QEMU should exit by itself after the failure: \(q.summary)\n\(q.tail(30))")
            print("E2E timing: NFS-root failure (amd64, no server) to power-off \(q.summary)")
        }

        /// (the NFS version option in nfsroot=, the mount options /init reports): the board's own v3,
        /// and v4.2 (no mount protocol; owners as numbers).
        static let versions = [("v3", "v3,tcp,mountproto=tcp"), ("vers=4.2", "vers=4.2,tcp")]

        @Test("amd64 (nandsim family, no U-Boot): QEMU boots the kernel with the board's NFS-root initramfs and nfsboot arguments (DHCP) to the NFS root, v3 and v4.2", arguments: versions)
        func amd64Nandsim(version: String, mountOptions: String) throws {
            guard available("qemu-system-x86_64") else { return }
            let dir = try TempDir("flashsmith-e2e-nfsroot-amd64")
            let (out, kernel, built) = try amd64Build(dir)
            #expect(built.contains(",v3,tcp "), "\(built)")
            let append = built.replacingOccurrences(of: ",v3,tcp ", with: ",\(version),tcp ")
            let initramfs = "\(out)/nfsroot-initramfs.cpio.gz"
            let size = (try FileManager.default.attributesOfItem(atPath: initramfs)[.size] as? Int) ?? 0
            let state = dir.file("state")
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
            let session = try ConsoleSession(
                "unshare",
                ["--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--", "/bin/sh", "-c", Self.serverScript, "nfs-test", state, "\(out)/ganesha.conf"]
                    + (try Self.qemuAMD64(kernel: kernel.vmlinuz, initramfs: initramfs, append: append)),
                log: dir.file("boot.log"))
            defer { session.stop() }
            let ctx = { "\(session.tail(60))" }
            try #require(session.wait(for: "test: NFS server up", timeout: .seconds(30)), "\(ctx())")
            let start = session.elapsed
            let mounted = session.wait(forAny: ["flashsmith-nfsroot: / is", "flashsmith-nfsroot: "], timeout: .seconds(240))
            try #require(mounted == "flashsmith-nfsroot: / is", "the initramfs did not mount the root: \(ctx())")
            let toMount = session.elapsed - start
            #expect(session.log.contains("flashsmith-nfsroot: / is 10.0.2.2:/nfsroot (nfs rw,nolock,\(mountOptions)) on eth0 10.0.2.15"), "DHCP address and the mount: \(ctx())")
            // The shell on the NFS root answers: the board's own files, owners and modes.
            try session.send("cat /etc/board-marker; stat -c 'S=%F|%a|%u|%g|%n' /etc/board-marker /var/board /usr/bin/nfs-suid /var/lib/nfs-test-node; echo AMD64-$((6*7))\n")
            try #require(session.wait(for: "AMD64-42", timeout: .seconds(120)), "\(ctx())")
            let toShell = session.elapsed - start
            for s in ["flashsmith nandsim board root filesystem", "S=regular file|640|0|5|/etc/board-marker", "S=directory|2750|1|5|/var/board",
                      "S=regular file|4755|1000|100|/usr/bin/nfs-suid", "S=character special file|640|0|6|/var/lib/nfs-test-node"] {
                #expect(session.log.contains(s), "guest: '\(s)' missing: \(ctx())")
            }
            try session.send("echo amd64 >/root/from-amd64 && chown 42:43 /root/from-amd64 && sync && echo WROTE-$((6*7))\n")
            try #require(session.wait(for: "WROTE-42", timeout: .seconds(60)), "\(ctx())")
            let written = try #require(stat("\(out)/nfsroot/root/from-amd64"))
            #expect(written.st_uid == 42 && written.st_gid == 43)
            try session.send("poweroff -f\n")
            _ = session.waitForExit(timeout: .seconds(60))
            print(String(format: "E2E timing: NFS loop amd64 %@ (kernel → initramfs, DHCP → NFS root) mounted %.2f s, shell answers %.2f s after QEMU start; initramfs %d bytes", version, toMount, toShell, size))
        }
    }
}
