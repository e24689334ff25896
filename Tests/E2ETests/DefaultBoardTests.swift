import Foundation
import Testing
import TestSupport

extension E2E {
    /// The default board, `layouts/qemu-arm64`: `flashsmith build` writes the 64 MiB NOR chip image
    /// (env at 0, FIT of Debian's arm64 kernel + the board's rootfs as initramfs at 0x40000) and
    /// `flashsmith boot` starts QEMU virt with Debian's qemu_arm64 U-Boot on it as pflash bank 1. U-Boot
    /// loads the env Flashsmith wrote, runs its derived bootcmd (`bootm 0x4040000#conf-1 … ${fdtcontroladdr}`)
    /// from flash, checks both sha256 hashes, and the kernel runs the rootfs to the board's marker.
    ///
    /// The sysroot the board names (`${sysroot}/boot/vmlinuz-*`, `${sysroot}/bin/busybox`) is made of
    /// links to the cached Debian arm64 kernel and busybox-static (`--sysroot`).
    @Suite("The default board (qemu-arm64): flashsmith build, then U-Boot boots the built env and FIT to the rootfs")
    struct DefaultBoardTests {
        static let marker = "flashsmith: rootfs of board qemu-arm64 up"
        static var repo: String {
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        }

        func available() -> Bool {
            toolsAvailable("qemu-system-aarch64", "apt-get", "dpkg", "mkimage", "fw_printenv") && filesAvailable(Arm64Virt.uboot, flashsmithPath)
        }

        /// `dir/sysroot` with boot/vmlinuz-RELEASE and bin/busybox (links).
        func sysroot(_ dir: TempDir) throws -> (path: String, kernel: DebianArtifacts.Kernel) {
            let kernel = try DebianArtifacts.arm64Kernel()
            let root = dir.file("sysroot")
            for d in ["boot", "bin"] { try FileManager.default.createDirectory(atPath: "\(root)/\(d)", withIntermediateDirectories: true) }
            try FileManager.default.createSymbolicLink(atPath: "\(root)/boot/vmlinuz-\(kernel.release)", withDestinationPath: kernel.vmlinuz)
            try FileManager.default.createSymbolicLink(atPath: "\(root)/bin/busybox", withDestinationPath: try DebianArtifacts.busybox(architecture: "arm64"))
            return (root, kernel)
        }

        func build(_ sysroot: String, to out: String, board: String = "\(Self.repo)/layouts/qemu-arm64") throws -> RunResult {
            let r = try flashsmith("build", board, "-o", out, "--sysroot", sysroot)
            try #require(r.status == 0, "flashsmith build layouts/qemu-arm64: \(r.err)")
            return r
        }

        /// As shipped (`compression: gzip`: U-Boot unpacks Flashsmith's parallel gzip), and with
        /// `compression: none` (a copy of the board folder with that one line changed: the kernel
        /// runs from where bootm copies it).
        @Test(
            "build: FIT (mkimage -l), env in the chip image (fw_printenv), then boot: U-Boot → FIT from flash → rootfs marker",
            arguments: [false, true])
        func buildsAndBoots(gzip: Bool) throws {
            guard available() else { return }
            let dir = try TempDir("flashsmith-e2e-default-board")
            let (root, kernel) = try sysroot(dir)
            let out = dir.file("out")
            var board = "\(Self.repo)/layouts/qemu-arm64"
            if !gzip {
                board = dir.file("board")
                try FileManager.default.copyItem(atPath: "\(Self.repo)/layouts/qemu-arm64", toPath: board)
                let yaml = try String(contentsOfFile: "\(board)/board.yaml", encoding: .utf8)
                try #require(yaml.contains("        compression: gzip "))
                try yaml.replacingOccurrences(of: "        compression: gzip ", with: "        compression: none ").write(toFile: "\(board)/board.yaml", atomically: true, encoding: .utf8)
            }
            let b = try build(root, to: out, board: board)
            let compression = gzip ? "Compression:  gzip compressed" : "Compression:  uncompressed"
            let bootcmd = "bootm 0x4040000#conf-1 0x4040000#conf-1 ${fdtcontroladdr}"
            #expect(b.out.contains("boots: run flashboot (boot: flash)\n  flashboot: \(bootcmd)\n"), "report: \(b.out)")

            // The FIT, as mkimage reads it: the kernel at its load address and the rootfs as ramdisk.
            let l = try run("mkimage", ["-l", "\(out)/fit.img"])
            for line in [
                "Image 0 (kernel)", "Description:  vmlinuz-\(kernel.release)", "Type:         Kernel Image", "Architecture: AArch64", compression,
                "Load Address: 0x40400000", "Image 1 (ramdisk)", "Type:         RAMDisk Image", "Default Configuration: 'conf-1'",
                "Kernel:       kernel", "Init Ramdisk: ramdisk",
            ] {
                #expect(l.out.contains(line), "mkimage -l fit.img lacks '\(line)':\n\(l.out)")
            }
            #expect(l.out.components(separatedBy: "Hash algo:    sha256").count - 1 == 2, "\(l.out)")

            // The chip image: the env partition read by libubootenv through a config naming the image,
            // and the FIT at 0x40000, byte for byte.
            let chip = try Data(contentsOf: URL(fileURLWithPath: "\(out)/qemu-arm64.img"))
            #expect(chip.count == 64 << 20)
            let fit = try Data(contentsOf: URL(fileURLWithPath: "\(out)/fit.img"))
            // Compared as Bools: a failing #expect on 64 MiB collections would have the test library diff them.
            let fitInPlace = chip[0x40000..<(0x40000 + fit.count)] == fit
            let erasedAfter = chip[(0x40000 + fit.count)...].allSatisfy { $0 == 0xFF }
            #expect(fitInPlace, "the FIT is not at 0x40000 in the chip image")
            #expect(erasedAfter, "erased flash after the FIT should be 0xff")
            let ins = try flashsmith("inspect", "\(out)/qemu-arm64.img", "--json")
            let found = (try JSONSerialization.jsonObject(with: Data(ins.stdout)) as? [String: Any])?["found"] as? [[String: Any]] ?? []
            #expect(found.map { "\($0["kind"] ?? "")@\($0["offset"] ?? "")" } == ["uboot-env@0", "fit@262144"], "inspect of the chip image: \(ins.out)\(ins.err)")
            let config = try dir.write("fw_env.config", "\(out)/qemu-arm64.img 0x0 0x40000 0x40000\n")
            let env = try run("fw_printenv", ["-c", config])
            #expect(env.status == 0, "fw_printenv: \(env.err)")
            #expect(env.out.contains("flashboot=\(bootcmd)\n") && env.out.contains("bootcmd=run flashboot\n"), "\(env.out)")
            #expect(env.out.contains("bootargs=console=ttyAMA0 panic=-1\n"), "\(env.out)")
            #expect(env.out.contains("mtdparts=mtdparts=4000000.flash:256k(env),-(fit)\n"), "\(env.out)")
            #expect(env.out.contains("flashsmith_board=qemu-arm64\n"), "\(env.out)")

            // flashsmith boot as the user runs it, watched by the harness (which kills it, and it QEMU,
            // on every way out).
            let q = try QEMU.run(
                flashsmithPath, ["boot", out, "--until", Self.marker, "--timeout", "90"], log: dir.file("boot.log"), timeout: .seconds(120),
                markers: ["Loading Environment from Flash... OK", "Starting kernel", Self.marker])
            print("E2E timing: default board boot\(gzip ? " (gzip)" : "") \(q.summary), markers \(q.markerTimes)")
            let ctx = "\(q.summary)\n\(q.tail(60))"
            for line in [
                "Loading Environment from Flash... OK", "flashsmith: environment of board qemu-arm64 loaded (bootdelay=0)",
                "## Loading kernel from FIT Image at 04040000 ...", "Using 'conf-1' configuration", "Trying 'kernel' kernel subimage",
                "Load Address: 0x40400000", "## Loading ramdisk from FIT Image at 04040000 ...", "Trying 'ramdisk' ramdisk subimage",
                compression, gzip ? "Uncompressing Kernel Image" : "Loading Kernel Image", "Loading Ramdisk to", "Starting kernel ...", Self.marker,
            ] {
                #expect(q.contains(line), "'\(line)' missing: \(ctx)")
            }
            #expect(q.log.components(separatedBy: "Verifying Hash Integrity ... sha256+ OK").count - 1 == 2, "both sha256 hashes checked: \(ctx)")
            #expect(q.exitStatus == 0, "flashsmith boot --until should stop QEMU and exit 0: \(ctx)")
            // snapshot=on: the guest's flash writes never reach the build output.
            let unchanged = try Data(contentsOf: URL(fileURLWithPath: "\(out)/qemu-arm64.img")) == chip
            #expect(unchanged, "flashsmith boot changed the chip image")
        }

        @Test("the same inputs give the same bytes: two builds, every output identical")
        func reproducible() throws {
            guard available() else { return }
            let dir = try TempDir("flashsmith-e2e-default-board-repro")
            let (root, _) = try sysroot(dir)
            _ = try build(root, to: dir.file("a"))
            _ = try build(root, to: dir.file("b"))
            let names = try FileManager.default.contentsOfDirectory(atPath: dir.file("a")).sorted()
            #expect(names == (try FileManager.default.contentsOfDirectory(atPath: dir.file("b")).sorted()))
            #expect(names.contains("qemu-arm64.img") && names.contains("fit.img") && names.contains("rootfs.cpio.gz") && names.contains("flash.scr"), "\(names)")
            // The marker (the command line) and chip-fw_env.config (the chip image's path) name the folder.
            #expect(names.contains(".flashsmith-output") && names.contains("chip-fw_env.config"), "\(names)")
            for n in names where n != ".flashsmith-output" && n != "chip-fw_env.config" {
                let a = try Data(contentsOf: URL(fileURLWithPath: dir.file("a/\(n)")))
                let b = try Data(contentsOf: URL(fileURLWithPath: dir.file("b/\(n)")))
                let same = a == b
                #expect(same, "\(n) differs between two builds")
            }
        }

        @Test("boot --until text that never comes: stopped at --timeout with a one-line error, QEMU gone")
        func bootTimeout() throws {
            guard available() else { return }
            let dir = try TempDir("flashsmith-e2e-default-board-timeout")
            let (root, _) = try sysroot(dir)
            let out = dir.file("out")
            _ = try build(root, to: out)
            let r = try flashsmith("boot", out, "--until", "FSE2E-NEVER-PRINTED", "--timeout", "4")
            #expect(r.status != 0)
            #expect(r.err.contains("no 'FSE2E-NEVER-PRINTED' within 4 s; QEMU stopped"), "\(r.err)")
            #expect(r.out.contains("U-Boot"), "the console was shown as it came: \(r.out.prefix(400))")
            let left = try run("pgrep", ["-f", "\(out)/qemu-arm64.img"])
            #expect(left.out.isEmpty, "QEMU still running: \(left.out)")
        }
    }
}
