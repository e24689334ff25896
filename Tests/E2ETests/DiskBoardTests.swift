import Foundation
import Testing
import TestSupport

extension E2E {
    /// The disk board, `layouts/qemu-arm64-disk`: `flashsmith build` writes a 256 MiB GPT disk (a vfat
    /// boot partition with the FIT and boot.scr, a squashfs root, an empty ext4 data partition) and
    /// `flashsmith boot` starts QEMU virt with Debian's qemu_arm64 U-Boot and the disk as a virtio
    /// drive. U-Boot's distro boot finds /boot.scr on partition 1 and runs it; it loads the FIT from
    /// the vfat, checks its hashes and boots; the FIT's initramfs loads Debian's virtio, squashfs and
    /// ext4 modules (crc32c_generic too, ext4's soft dependency) and mounts the squashfs root by its
    /// partition label; the board mounts /data read-write and reaches its marker. A test layer adds
    /// entries whose owners, modes and device numbers the guest reports, as the manifest says.
    ///
    /// Peers read the disk first: sfdisk and sgdisk (the table), fsck.vfat and mtools (boot),
    /// unsquashfs (root), fsck.ext4 and debugfs (data).
    @Suite("The disk board (qemu-arm64-disk): a GPT disk U-Boot and Linux boot from, read by the peer tools")
    struct DiskBoardTests {
        static let marker = "flashsmith: rootfs of board qemu-arm64-disk up"
        static var repo: String {
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        }

        func available() -> Bool {
            toolsAvailable("qemu-system-aarch64", "apt-get", "dpkg", "sfdisk", "sgdisk", "fsck.vfat", "mdir", "unsquashfs", "fsck.ext4", "debugfs")
                && filesAvailable(Arm64Virt.uboot, flashsmithPath)
        }

        /// `dir/sysroot`: boot/vmlinuz-RELEASE and boot/config-RELEASE, lib/modules/RELEASE and
        /// bin/busybox, links into the cached Debian arm64 packages.
        func sysroot(_ dir: TempDir) throws -> String {
            let kernel = try DebianArtifacts.arm64Kernel()
            let root = dir.file("sysroot")
            for d in ["boot", "bin", "lib/modules"] { try FileManager.default.createDirectory(atPath: "\(root)/\(d)", withIntermediateDirectories: true) }
            let fm = FileManager.default
            try fm.createSymbolicLink(atPath: "\(root)/boot/vmlinuz-\(kernel.release)", withDestinationPath: kernel.vmlinuz)
            let config = "\(kernel.root)/boot/config-\(kernel.release)"
            if fm.fileExists(atPath: config) { try fm.createSymbolicLink(atPath: "\(root)/boot/config-\(kernel.release)", withDestinationPath: config) }
            try fm.createSymbolicLink(atPath: "\(root)/lib/modules/\(kernel.release)", withDestinationPath: kernel.modulesDirectory)
            try fm.createSymbolicLink(atPath: "\(root)/bin/busybox", withDestinationPath: try DebianArtifacts.busybox(architecture: "arm64"))
            return root
        }

        /// The shipped board with a test layer: a device table (a char device and a block device in
        /// /lib/e2e, owners and a setuid mode on a file) and a start script reporting them in the guest.
        func board(_ dir: TempDir, root: String) throws -> String {
            let board = dir.file("board")
            try FileManager.default.copyItem(atPath: "\(Self.repo)/layouts/qemu-arm64-disk", toPath: board)
            if root == "ext4" {
                let yaml = try String(contentsOfFile: "\(board)/board.yaml", encoding: .utf8)
                try #require(yaml.contains("      squashfs: {spec: rootfs.yaml, compression: xz}\n"))
                try yaml.replacingOccurrences(of: "      squashfs: {spec: rootfs.yaml, compression: xz}\n", with: "      ext4: {spec: rootfs.yaml, label: root}\n")
                    .write(toFile: "\(board)/board.yaml", atomically: true, encoding: .utf8)
            }
            let spec = try String(contentsOfFile: "\(board)/rootfs.yaml", encoding: .utf8)
            try (spec + "  - overlay: e2e-overlay\n  - devices: e2e-devices.txt\n").write(toFile: "\(board)/rootfs.yaml", atomically: true, encoding: .utf8)
            for d in ["usr/share/e2e", "etc/init.d"] { try FileManager.default.createDirectory(atPath: "\(board)/e2e-overlay/\(d)", withIntermediateDirectories: true) }
            _ = try dir.write("board/e2e-overlay/usr/share/e2e/owned", "owned by 1234:5678\n")
            _ = try dir.write(
                "board/e2e-devices.txt",
                "/lib/e2e/tty9 c 640 1234 5678 4 9 - - -\n/lib/e2e/disk7 b 660 0 6 254 7 - - -\n/usr/share/e2e/owned f 4750 1234 5678 - - - - -\n")
            let script = try dir.write(
                "board/e2e-overlay/etc/init.d/S98e2e",
                """
                #!/bin/sh
                [ "$1" = start ] || exit 0
                for f in /lib/e2e/tty9 /lib/e2e/disk7 /usr/share/e2e/owned; do echo "E2E-STAT $f $(stat -c '%A %u %g %t %T' $f)"; done
                echo "E2E-DATA $(echo written >/data/probe && cat /data/probe) $(stat -c %U /data/probe)"
                echo "E2E-ROOT $(grep ' / ' /proc/mounts | tail -n1)"

                """)
            chmod(script, 0o755)
            return board
        }

        /// As shipped (a squashfs root), and with an ext4 root (read-write; ext4 needs crc32c_generic,
        /// its soft dependency, in the initramfs).
        @Test(
            "build: the peers read every partition; boot: distro boot → boot.scr → FIT → root from the disk → marker, owners and devices as the manifest",
            arguments: ["squashfs", "ext4"])
        func buildsAndBoots(rootFS: String) throws {
            guard available() else { return }
            let dir = try TempDir("flashsmith-e2e-disk-board")
            let root = try sysroot(dir)
            let out = dir.file("out")
            let b = try flashsmith("build", try board(dir, root: rootFS), "-o", out, "--sysroot", root)
            try #require(b.status == 0, "flashsmith build: \(b.err)")
            let disk = "\(out)/qemu-arm64-disk.img"

            // The table: sfdisk's JSON (where the board says) and sgdisk's verification.
            let sf = try run("sfdisk", ["--json", disk])
            try #require(sf.status == 0, "sfdisk --json: \(sf.err)")
            let table = (try JSONSerialization.jsonObject(with: Data(sf.stdout)) as? [String: Any])?["partitiontable"] as? [String: Any] ?? [:]
            let parts = table["partitions"] as? [[String: Any]] ?? []
            #expect(table["label"] as? String == "gpt", "\(sf.out)")
            #expect(parts.map { $0["start"] as? Int ?? -1 } == [2048, 133_120, 329_728], "\(sf.out)")
            #expect(parts.map { $0["name"] as? String ?? "" } == ["boot", "root", "data"], "\(sf.out)")
            #expect(parts.first?["type"] as? String == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "the boot partition is an ESP: \(sf.out)")
            let sg = try run("sgdisk", ["-v", disk])
            #expect(sg.out.contains("No problems found"), "sgdisk -v: \(sg.out)\(sg.err)")

            // Each partition's image, as its own tools read it.
            let vf = try run("fsck.vfat", ["-n", "\(out)/boot.img"])
            #expect(vf.status == 0, "fsck.vfat: \(vf.out)\(vf.err)")
            let mdir = try run("mdir", ["-i", "\(out)/boot.img", "-b", "::/"])
            #expect(mdir.out.contains("::/image.fit") && mdir.out.contains("::/boot.scr"), "mdir: \(mdir.out)\(mdir.err)")
            if rootFS == "squashfs" {
                let sq = try run("unsquashfs", ["-lln", "\(out)/root.img"])
                #expect(sq.status == 0, "unsquashfs: \(sq.err)")
                for line in ["crw-r----- 1234/5678", "brw-rw---- 0/6", "-rwsr-x--- 1234/5678"] {
                    #expect(sq.out.contains(line), "unsquashfs -lln lacks '\(line)':\n\(sq.out.split(separator: "\n").filter { $0.contains("e2e") }.joined(separator: "\n"))")
                }
            } else {
                let f = try run("fsck.ext4", ["-fn", "\(out)/root.img"])
                #expect(f.status == 0, "fsck.ext4 root.img: \(f.out)\(f.err)")
                let st = try run("debugfs", ["-R", "stat /lib/e2e/tty9", "\(out)/root.img"])
                #expect(st.out.contains("User:  1234   Group:  5678") && st.out.contains("Mode:  0640") && st.out.contains("Device major/minor number: 04:09"), "debugfs stat: \(st.out)")
            }
            let e4 = try run("fsck.ext4", ["-fn", "\(out)/data.img"])
            #expect(e4.status == 0, "fsck.ext4: \(e4.out)\(e4.err)")
            // The images are in the disk where the table says.
            let whole = try FileHandle(forReadingFrom: URL(fileURLWithPath: disk))
            defer { try? whole.close() }
            for (name, start) in [("boot", 2048), ("root", 133_120)] {
                let image = try Data(contentsOf: URL(fileURLWithPath: "\(out)/\(name).img"))
                try whole.seek(toOffset: UInt64(start * 512))
                let placed = whole.readData(ofLength: image.count) == image
                #expect(placed, "\(name).img is not at sector \(start) of the disk")
            }

            // The boot, as the user runs it.
            let q = try QEMU.run(
                flashsmithPath, ["boot", out, "--until", Self.marker, "--timeout", "150"], log: dir.file("boot.log"), timeout: .seconds(180),
                markers: ["Found U-Boot script /boot.scr", "Starting kernel", "flashsmith-blockroot: / is", Self.marker])
            print("E2E timing: disk board boot (\(rootFS) root) \(q.summary), markers \(q.markerTimes)")
            let ctx = "\(q.summary)\n\(q.tail(60))"
            for line in [
                "Found U-Boot script /boot.scr", "## Loading kernel from FIT Image", "Verifying Hash Integrity ... sha256+ OK", "Starting kernel ...",
                "flashsmith-blockroot: / is /dev/vda2 (\(rootFS) \(rootFS == "ext4" ? "rw" : "ro"))", "S20data: /dev/vda3 on /data", Self.marker,
                "E2E-STAT /lib/e2e/tty9 crw-r----- 1234 5678 4 9", "E2E-STAT /lib/e2e/disk7 brw-rw---- 0 6 fe 7",
                "E2E-STAT /usr/share/e2e/owned -rwsr-x--- 1234 5678", "E2E-DATA written root", "E2E-ROOT /dev/vda2 / \(rootFS) \(rootFS == "ext4" ? "rw" : "ro")",
            ] {
                #expect(q.contains(line), "'\(line)' missing: \(ctx)")
            }
            #expect(!q.contains("Cannot load crc32c driver"), "\(ctx)")
            #expect(q.exitStatus == 0, "flashsmith boot --until should stop QEMU and exit 0: \(ctx)")
        }

        @Test("the same inputs give the same bytes: two builds of the disk board, every output identical")
        func reproducible() throws {
            guard available() else { return }
            let dir = try TempDir("flashsmith-e2e-disk-board-repro")
            let root = try sysroot(dir)
            for o in ["a", "b"] {
                let r = try flashsmith("build", "\(Self.repo)/layouts/qemu-arm64-disk", "-o", dir.file(o), "--sysroot", root)
                try #require(r.status == 0, "flashsmith build: \(r.err)")
            }
            let names = try FileManager.default.contentsOfDirectory(atPath: dir.file("a")).sorted()
            #expect(names == (try FileManager.default.contentsOfDirectory(atPath: dir.file("b")).sorted()))
            #expect(names.contains("qemu-arm64-disk.img") && names.contains("boot.img") && names.contains("root.img") && names.contains("data.img"), "\(names)")
            for n in names where n != ".flashsmith-output" {
                let same = try Data(contentsOf: URL(fileURLWithPath: dir.file("a/\(n)"))) == Data(contentsOf: URL(fileURLWithPath: dir.file("b/\(n)")))
                #expect(same, "\(n) differs between two builds")
            }
        }
    }
}
