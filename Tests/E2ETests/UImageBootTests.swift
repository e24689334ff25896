import Foundation
import Testing
import TestSupport

extension E2E {
    /// Legacy uImages written by `flashsmith uimage create` (mkimage's options), booted by Debian's
    /// qemu_arm64 U-Boot 2023.01 under QEMU virt. The env (bootdelay, bootargs, bootcmd) is written by
    /// `flashsmith env create -c` into pflash bank 1; the images reach guest RAM through
    /// `-device loader,…,force-raw=on`.
    ///
    /// Addresses (RAM starts at 0x40000000): the kernel uImage is placed at 0x48000000 and says
    /// load = entry = 0x40400000, where the raw arm64 Image runs; bootm checks the CRC there and
    /// copies the payload down to 0x40400000 (`Loading Kernel Image`). The ramdisk uImage sits at
    /// 0x4c000000 (U-Boot relocates the initrd to the top of RAM). The DTB is U-Boot's own control DTB,
    /// `${fdtcontroladdr}` (QEMU's, built with the same machine options), or for the multi-file image
    /// the virt DTB dumped with `-bios` inside the image.
    /// Seen while setting these up: entry ≠ load (e.g. -e 0x40500000) jumps into the middle of the
    /// Image (`Starting kernel ...`, then silence); a `-device loader` at 0x40000000 is refused by QEMU
    /// (`Some ROM regions are overlapping`: QEMU's own DTB is there); the env replaces the default env,
    /// so `fdt_addr`/`kernel_addr_r` do not exist.
    @Suite("U-Boot (qemu_arm64) boots legacy uImages made by flashsmith")
    struct UImageBootTests {
        static let kernelLoad = "0x40400000"
        static let kernelAt = "0x48000000"
        static let ramdiskAt = "0x4c000000"
        static let scriptAt = "0x48000000"
        static let failed = "FSE2E-BOOT-FAILED"

        func available() -> Bool {
            toolsAvailable("qemu-system-aarch64", "apt-get", "apt-cache", "dpkg", "cpio", "gzip")
                && filesAvailable(Arm64Virt.uboot, flashsmithPath)
        }

        /// The arm64 kernel Image and a gzip'd busybox initramfs whose `/init` prints
        /// `E2E-UIMAGE-42-<token>` (computed by the guest's shell) and powers off.
        func guest(_ dir: TempDir, token: String) throws -> (image: String, initrd: String, marker: String) {
            let kernel = try DebianArtifacts.arm64Kernel()
            let initrd = dir.file("initramfs.cpio.gz")
            try Arm64Virt.busyboxInitramfs(testScript: "#!/bin/sh\necho \"E2E-UIMAGE-$((6*7))-\(token)\"\n", to: initrd, gzip: true)
            return (kernel.vmlinuz, initrd, "E2E-UIMAGE-42-\(token)")
        }

        /// `flashsmith uimage create ARGS -o OUT`; when mkimage is installed, `mkimage -l` must read it
        /// as `type` (mkimage -l exits 0 on anything, so its output is what is checked).
        @discardableResult
        func uimage(_ args: [String], out: String, type: String) throws -> String {
            let r = try flashsmith(["uimage", "create"] + args + ["-o", out])
            try #require(r.status == 0, "flashsmith uimage create \(args.joined(separator: " ")) failed (\(r.status)): \(r.err)")
            if which("mkimage") != nil {
                let l = try run("mkimage", ["-l", out])
                #expect(l.out.contains("Image Type:   \(type)"), "mkimage -l \(out):\n\(l.out)\(l.err)")
            }
            return out
        }

        func kernelUImage(_ image: String, out: String) throws -> String {
            try uimage(
                ["-A", "arm64", "-O", "linux", "-T", "kernel", "-C", "none", "-a", Self.kernelLoad, "-e", Self.kernelLoad, "-n", "flashsmith-e2e-kernel", "-d", image],
                out: out, type: "AArch64 Linux Kernel Image (uncompressed)")
        }

        func ramdiskUImage(_ initrd: String, out: String) throws -> String {
            try uimage(
                ["-A", "arm64", "-O", "linux", "-T", "ramdisk", "-C", "none", "-n", "flashsmith-e2e-initramfs", "-d", initrd],
                out: out, type: "AArch64 Linux RAMDisk Image (uncompressed)")
        }

        /// Env with `bootcmd=<bootcmd>; echo FSE2E-BOOT-FAILED; poweroff`: QEMU exits either way.
        func flash(_ dir: TempDir, bootcmd: String) throws -> String {
            let flash = dir.file("flash1.img")
            try Arm64Virt.writeEnvFlash(flash, environment: """
                bootdelay=0
                bootargs=console=ttyAMA0 panic=-1
                bootcmd=\(bootcmd); echo \(Self.failed); poweroff

                """)
            return flash
        }

        var bootmCommand: String { "bootm \(Self.kernelAt) \(Self.ramdiskAt) ${fdtcontroladdr}" }

        @Test("kernel + ramdisk uImages: bootm KERNEL RAMDISK ${fdtcontroladdr} boots to the initramfs marker")
        func kernelAndRamdisk() throws {
            guard available() else { return }
            let dir = try TempDir("flashsmith-e2e-uimage")
            let token = String(UUID().uuidString.prefix(8))
            let g = try guest(dir, token: token)
            let kernel = try kernelUImage(g.image, out: dir.file("uImage"))
            let ramdisk = try ramdiskUImage(g.initrd, out: dir.file("uInitrd"))
            let r = try Arm64Virt.bootUBoot(
                flash: try flash(dir, bootcmd: bootmCommand),
                extra: Arm64Virt.loader(kernel, at: Self.kernelAt) + Arm64Virt.loader(ramdisk, at: Self.ramdiskAt),
                log: dir.file("qemu.log"), markers: ["Starting kernel", g.marker]
            )
            print("E2E timing: uImage kernel+ramdisk boot \(r.summary), markers \(r.markerTimes)")
            let ctx = "\(r.summary)\n\(r.tail(60))"
            func has(_ text: String) -> Bool { r.contains(text) }
            #expect(has("Loading Environment from Flash... OK"), "\(ctx)")
            #expect(has("## Booting kernel from Legacy Image at 48000000"), "\(ctx)")
            #expect(has("Image Name:   flashsmith-e2e-kernel"), "\(ctx)")
            #expect(has("Image Type:   AArch64 Linux Kernel Image (uncompressed)"), "\(ctx)")
            #expect(has("Load Address: 40400000") && has("Entry Point:  40400000"), "\(ctx)")
            #expect(has("## Loading init Ramdisk from Legacy Image at 4c000000"), "\(ctx)")
            #expect(has("Image Name:   flashsmith-e2e-initramfs"), "\(ctx)")
            #expect(r.log.components(separatedBy: "Verifying Checksum ... OK").count - 1 == 2, "both CRCs checked: \(ctx)")
            #expect(has("Booting using the fdt blob at"), "\(ctx)")
            #expect(has(g.marker), "initramfs marker \(g.marker) missing: \(ctx)")
            #expect(has("\(Initramfs.defaultResultMarker) rc=0"), "\(ctx)")
            #expect(!has(Self.failed), "\(ctx)")
            #expect(r.exitStatus == 0, "QEMU did not power off by itself: \(ctx)")
        }

        @Test("boot.scr from -T script: the env's bootcmd 'source ADDR' runs it")
        func bootScript() throws {
            guard available() else { return }
            let dir = try TempDir("flashsmith-e2e-uimage-script")
            let token = String(UUID().uuidString.prefix(8))
            // The marker is assembled by U-Boot at run time from a variable the script sets.
            let cmd = try dir.write("boot.cmd", """
                # flashsmith e2e boot script
                setenv fs_scr FSE2E
                echo ${fs_scr}-SCRIPT-\(token)
                poweroff

                """)
            let scr = try uimage(
                ["-A", "arm64", "-O", "linux", "-T", "script", "-C", "none", "-n", "flashsmith-e2e-script", "-d", cmd],
                out: dir.file("boot.scr"), type: "AArch64 Linux Script (uncompressed)")
            let r = try Arm64Virt.bootUBoot(
                flash: try flash(dir, bootcmd: "source \(Self.scriptAt)"),
                extra: Arm64Virt.loader(scr, at: Self.scriptAt),
                log: dir.file("qemu.log"), timeout: .seconds(30)
            )
            print("E2E timing: uImage boot.scr \(r.summary)")
            let ctx = "\(r.summary)\n\(r.tail())"
            #expect(r.contains("## Executing script at 48000000"), "\(ctx)")
            #expect(r.contains("FSE2E-SCRIPT-\(token)"), "script marker missing: \(ctx)")
            #expect(!r.contains(Self.failed), "the script did not power off: \(ctx)")
            #expect(r.exitStatus == 0, "\(ctx)")
        }

        @Test("one flipped payload byte in the kernel uImage: U-Boot says Bad Data CRC and boots nothing")
        func corruptedKernelRefused() throws {
            guard available() else { return }
            let dir = try TempDir("flashsmith-e2e-uimage-bad")
            let token = String(UUID().uuidString.prefix(8))
            let g = try guest(dir, token: token)
            let kernel = try kernelUImage(g.image, out: dir.file("uImage"))
            let ramdisk = try ramdiskUImage(g.initrd, out: dir.file("uInitrd"))
            // Flip one byte 1 MiB into the payload (past the 64-byte header, whose own CRC stays valid).
            let offset: UInt64 = 64 + 0x10_0000
            let h = try FileHandle(forUpdating: URL(fileURLWithPath: kernel))
            try h.seek(toOffset: offset)
            let old = try #require(try h.read(upToCount: 1)).first!
            try h.seek(toOffset: offset)
            try h.write(contentsOf: [old ^ 0x01])
            try h.close()

            let r = try Arm64Virt.bootUBoot(
                flash: try flash(dir, bootcmd: bootmCommand),
                extra: Arm64Virt.loader(kernel, at: Self.kernelAt) + Arm64Virt.loader(ramdisk, at: Self.ramdiskAt),
                log: dir.file("qemu.log"), timeout: .seconds(30), killOn: [g.marker]
            )
            print("E2E timing: uImage corrupted kernel \(r.summary)")
            let ctx = "\(r.summary)\n\(r.tail())"
            #expect(r.contains("## Booting kernel from Legacy Image at 48000000"), "\(ctx)")
            #expect(r.contains("Verifying Checksum ... Bad Data CRC"), "\(ctx)")
            #expect(r.contains(Self.failed), "bootm did not fail: \(ctx)")
            #expect(!r.contains("Starting kernel"), "\(ctx)")
            #expect(!r.contains(g.marker), "the corrupted kernel booted: \(ctx)")
            #expect(r.exitStatus == 0, "\(ctx)")
        }

        @Test("multi-file uImage (Image:initramfs:virt.dtb): bootm ADDR takes ramdisk and DTB from it")
        func multiFile() throws {
            guard available() else { return }
            let dir = try TempDir("flashsmith-e2e-uimage-multi")
            let token = String(UUID().uuidString.prefix(8))
            let g = try guest(dir, token: token)
            let dtb = try Arm64Virt.dtb()
            let multi = try uimage(
                ["-A", "arm64", "-O", "linux", "-T", "multi", "-C", "none", "-a", Self.kernelLoad, "-e", Self.kernelLoad,
                 "-n", "flashsmith-e2e-multi", "-d", "\(g.image):\(g.initrd):\(dtb)"],
                out: dir.file("multi.img"), type: "AArch64 Linux Multi-File Image (uncompressed)")
            let r = try Arm64Virt.bootUBoot(
                flash: try flash(dir, bootcmd: "bootm \(Self.kernelAt)"),
                extra: Arm64Virt.loader(multi, at: Self.kernelAt),
                log: dir.file("qemu.log"), markers: ["Starting kernel", g.marker]
            )
            print("E2E timing: uImage multi-file boot \(r.summary), markers \(r.markerTimes)")
            let ctx = "\(r.summary)\n\(r.tail(60))"
            func has(_ text: String) -> Bool { r.contains(text) }
            #expect(has("Image Type:   AArch64 Linux Multi-File Image (uncompressed)"), "\(ctx)")
            #expect(has("Verifying Checksum ... OK"), "\(ctx)")
            #expect(has("## Loading init Ramdisk from multi component Legacy Image at 48000000"), "\(ctx)")
            #expect(has("Booting using the fdt at 0x"), "DTB not taken from image 2: \(ctx)")
            #expect(has(g.marker), "initramfs marker \(g.marker) missing: \(ctx)")
            #expect(!has(Self.failed), "\(ctx)")
            #expect(r.exitStatus == 0, "\(ctx)")
        }
    }
}
