import Foundation
import Testing
import TestSupport

extension E2E {
    /// A Flashsmith-built initramfs boots Debian's kernels: busybox init runs the base skeleton's rcS,
    /// which runs a start script from an overlay; the script prints what the running system sees
    /// (types, modes, owners, device numbers of the device table's nodes, the users table's accounts,
    /// the module loaded with busybox modprobe, a bundled binary with its libraries), and the test
    /// compares it with the manifest (`flashsmith rootfs ls SPEC --json`). Built without root.
    @Suite("Flashsmith initramfs boots on amd64 and arm64 and matches its manifest")
    struct RootFSBootTests {
        /// Paths the guest stats; each is compared with the manifest.
        static let checked = [
            "/dev/console", "/dev/null", "/dev/e2e0", "/dev/e2e1", "/dev/e2e2", "/dev/e2eblk", "/var/e2e.fifo", "/etc/shadow",
            "/etc/passwd", "/home/alice", "/opt/secret", "/usr/bin/busybox", "/bin", "/usr/bin/sh", "/usr/sbin/modprobe", "/tmp",
            "/root", "/usr/bin/zstd", "/init",
        ]

        static let startScript = """
            #!/bin/sh
            echo "E2E-RC-START $(cut -d' ' -f2 /proc/mounts | tr '\\n' ' ')"
            while read -r p; do
              if [ -L "$p" ]; then l=$(readlink "$p"); else l=; fi
              echo "E2E-STAT $(stat -c '%n|%F|%a|%u|%g|%t|%T' "$p")|$l"
            done < /etc/e2e-paths
            # ubifs's compressors come through the kernel's request_module("crypto-zstd"): /sbin/modprobe
            # and the kept modules.alias resolve it to zstd.ko.
            modprobe ubifs; rc=$?; echo "E2E-MODPROBE rc=$rc"; [ $rc = 0 ] || dmesg | tail -n 8
            echo "E2E-MODULES $(cut -d' ' -f1 /proc/modules | sort | tr '\\n' ' ')"
            echo "E2E-ID $(id alice)"
            echo "E2E-HOSTNAME $(hostname)"
            echo "E2E-BUNDLE $(zstd -q -c /etc/passwd | zstd -d -q -c | md5sum | cut -c1-32) $(md5sum < /etc/passwd | cut -c1-32)"
            echo "E2E-DONE"
            poweroff -f

            """

        static let users = """
            # username uid group gid password home shell groups comment
            alice -2 alice -2 =wonderland /home/alice /bin/sh video Alice
            svc -1 svc -1 * - - - -

            """

        static let devices = """
            # name type mode uid gid major minor start inc count
            /dev/e2e c 640 alice video 240 7 0 1 3
            /dev/e2eblk b 600 0 disk 7 200 - - -
            /var/e2e.fifo p 620 svc svc - - - - -
            /opt/secret f 640 alice alice - - - - -

            """

        /// Writes the spec and its inputs; returns the spec's path.
        static func writeSpec(in dir: TempDir, busybox: String, modules: String, sysroot: String) throws -> String {
            try FileManager.default.createDirectory(atPath: dir.file("overlay/etc/init.d"), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: dir.file("overlay/etc/default"), withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: dir.file("overlay/opt"), withIntermediateDirectories: true)
            _ = try dir.write("overlay/etc/init.d/S99e2e", startScript)
            chmod(dir.file("overlay/etc/init.d/S99e2e"), 0o755)
            _ = try dir.write("overlay/etc/default/rcS", "DEVTMPFS=no\n")
            _ = try dir.write("overlay/etc/e2e-paths", checked.joined(separator: "\n") + "\n")
            _ = try dir.write("overlay/opt/secret", "only alice\n")
            _ = try dir.write("users.txt", users)
            _ = try dir.write("devices.txt", devices)
            return try dir.write(
                "rootfs.yaml",
                """
                layers:
                  - skeleton: base
                  - overlay: overlay
                  - bundle: [/usr/bin/zstd]
                    sysroot: \(sysroot)
                  - modules: \(modules)
                    load: [ubifs, zstd]
                  - busybox: \(busybox)
                  - users: users.txt
                  - devices: devices.txt

                """
            )
        }

        /// Builds the initramfs, boots it, and checks the guest's view against the manifest.
        func boot(qemu: String, arguments: [String], kernel: DebianArtifacts.Kernel, busybox: String, sysroot: String, label: String) throws {
            let dir = try TempDir("flashsmith-e2e-rootfs")
            let spec = try Self.writeSpec(in: dir, busybox: busybox, modules: kernel.modulesDirectory, sysroot: sysroot)
            let initrd = dir.file("rootfs.cpio.gz")
            let b = try flashsmith("rootfs", "build", spec, "-o", initrd)
            try #require(b.status == 0, "rootfs build failed: \(b.err)")
            let ls = try flashsmith("rootfs", "ls", spec, "--json")
            try #require(ls.status == 0, "rootfs ls failed: \(ls.err)")
            let items = try #require(try JSONSerialization.jsonObject(with: Data(ls.stdout)) as? [[String: Any]])
            let manifest = Dictionary(items.compactMap { i in (i["path"] as? String).map { ($0, i) } }, uniquingKeysWith: { a, _ in a })

            let r = try QEMU.run(
                qemu, arguments + ["-initrd", initrd], log: dir.file("qemu.log"), timeout: .seconds(150),
                markers: ["E2E-RC-START", "E2E-DONE"], killOn: ["Kernel panic"]
            )
            print("E2E timing: rootfs boot \(label) (\(kernel.package)): QEMU \(r.summary), markers \(r.markerTimes)")
            let ctx = "\(r.summary)\n\(r.tail(60))"
            let lines = r.lines
            func line(_ prefix: String) -> String? { r.line(prefix) }
            #expect(r.contains("E2E-DONE"), "the start script did not finish: \(ctx)")
            // rcS ran first: proc and sys mounted, /dev left static (DEVTMPFS=no), /tmp a tmpfs.
            let mounts = line("E2E-RC-START ") ?? ""
            for m in ["/proc", "/sys", "/tmp", "/run", "/dev/pts"] { #expect(mounts.split(separator: " ").contains(Substring(m)), "\(m) not mounted: \(mounts)") }

            let stats = lines.compactMap { l in l.range(of: "E2E-STAT ").map { l[$0.upperBound...] } }.map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
            #expect(stats.count == Self.checked.count, "expected \(Self.checked.count) stat lines: \(ctx)")
            let typeNames = ["character special file": "char", "block special file": "block", "directory": "directory", "regular file": "file", "symbolic link": "symlink", "fifo": "fifo"]
            for s in stats where s.count == 8 {
                let path = s[0]
                guard let m = manifest[path] else {
                    Issue.record("\(path) is not in the manifest")
                    continue
                }
                let kind = typeNames[s[1]] ?? s[1]
                #expect(kind == (m["type"] as? String), "\(path): type \(kind) in the guest, \(m["type"] ?? "") in the manifest")
                #expect(UInt32(s[2], radix: 8) == UInt32((m["mode"] as? String) ?? "", radix: 8), "\(path): mode \(s[2]) in the guest, \(m["mode"] ?? "")")
                #expect(Int(s[3]) == m["uid"] as? Int && Int(s[4]) == m["gid"] as? Int, "\(path): owner \(s[3]):\(s[4]) in the guest, \(m["uid"] ?? ""):\(m["gid"] ?? "")")
                if kind == "char" || kind == "block" {
                    #expect(Int(s[5], radix: 16) == m["major"] as? Int && Int(s[6], radix: 16) == m["minor"] as? Int, "\(path): device \(s[5]),\(s[6]) (hex) in the guest")
                }
                if kind == "symlink" { #expect(s[7] == m["link"] as? String, "\(path): link \(s[7]) in the guest") }
            }
            // The table's values reached the guest (not only agreement): a range, names resolved through the users table.
            #expect(manifest["/dev/e2e2"]?["minor"] as? Int == 9)
            #expect(manifest["/opt/secret"]?["uid"] as? Int == 1000)

            #expect(line("E2E-MODPROBE rc=") == "0", "\(ctx)")
            let modules = Set((line("E2E-MODULES ") ?? "").split(separator: " ").map(String.init))
            for m in ["ubifs", "ubi", "mtd", "crc16", "zstd"] { #expect(modules.contains(m), "\(m) not loaded: \(modules)") }
            let id = line("E2E-ID ") ?? ""
            #expect(id.hasPrefix("uid=1000(alice) gid=1000(alice)") && id.contains("(video)"), "id alice: \(id)")
            #expect(line("E2E-HOSTNAME ") == "flashsmith")
            let bundle = (line("E2E-BUNDLE ") ?? "").split(separator: " ")
            #expect(bundle.count == 2 && bundle[0] == bundle[1] && bundle[0].count == 32, "bundled zstd did not round-trip: \(bundle)")
            #expect(r.exitStatus == 0, "guest did not power off: \(ctx)")
        }

        @Test("amd64: Debian's kernel, host busybox-static and zstd")
        func amd64() throws {
            guard toolsAvailable("qemu-system-x86_64", "apt-get", "dpkg", "busybox"), filesAvailable(flashsmithPath, "/bin/busybox", "/usr/bin/zstd") else { return }
            let kernel = try DebianArtifacts.amd64Kernel()
            try boot(
                qemu: "qemu-system-x86_64",
                arguments: ["-accel", "tcg", "-m", "512", "-smp", "1", "-nographic", "-no-reboot", "-nic", "none", "-kernel", kernel.vmlinuz, "-append", "console=ttyS0 panic=-1 quiet"],
                kernel: kernel, busybox: "/bin/busybox", sysroot: "/", label: "amd64"
            )
        }

        @Test("arm64: Debian's arm64 kernel, busybox and zstd from arm64 packages unpacked by rootfs sysroot")
        func arm64() throws {
            guard toolsAvailable("qemu-system-aarch64", "apt-get", "dpkg"), filesAvailable(flashsmithPath) else { return }
            let kernel = try DebianArtifacts.arm64Kernel()
            let debs = try DebianArtifacts.debs(["busybox-static", "zstd", "libzstd1", "liblz4-1", "liblzma5", "zlib1g", "libc6", "libgcc-s1"], architecture: "arm64")
            let dir = try TempDir("flashsmith-e2e-sysroot")
            let s = try flashsmith(["rootfs", "sysroot"] + debs + ["-o", dir.file("sysroot")])
            try #require(s.status == 0, "rootfs sysroot failed: \(s.err)")
            try boot(
                qemu: "qemu-system-aarch64",
                arguments: ["-M", "virt", "-cpu", "cortex-a57", "-m", "1024", "-accel", "tcg", "-nographic", "-no-reboot", "-nic", "none", "-kernel", kernel.vmlinuz, "-append", "console=ttyAMA0 panic=-1 quiet"],
                kernel: kernel, busybox: dir.file("sysroot/bin/busybox"), sysroot: dir.file("sysroot"), label: "arm64"
            )
        }
    }
}
