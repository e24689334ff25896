import Foundation
import Testing
import TestSupport

extension E2E {
    /// FIT images written by `flashsmith fit build` from an `.its` (mkimage's input: dtc source, data by
    /// `/incbin/`, `hash-1 { algo = "sha256"; }` filled in by the tool), booted by Debian's qemu_arm64
    /// U-Boot 2023.01 under QEMU virt. The env (bootdelay, bootargs, bootcmd) is written by
    /// `flashsmith env create -c` into pflash bank 1; the FIT reaches guest RAM through
    /// `-device loader,…,force-raw=on`.
    ///
    /// Addresses (RAM is 0x40000000–0x7fffffff): the FIT (~34 MB) sits at 0x48000000, so it ends near
    /// 0x4a100000; its kernel says load = entry = 0x40400000 and bootm copies the 32 MB raw Image there
    /// (`Loading Kernel Image`; it ends near 0x42500000, below the FIT). U-Boot has relocated itself to
    /// the top of RAM and copies the ramdisk and the FIT's DTB just below itself (~0x7dc00000).
    /// QEMU's own DTB occupies 0x40000000 (a loader there is refused). bootcmd
    /// `bootm 0x48000000#conf-1`: the `#` inside the word is not a hush comment (the failure path's
    /// `echo …; poweroff` after it runs).
    @Suite("U-Boot (qemu_arm64) boots FIT images made by flashsmith")
    struct FITBootTests {
        static let kernelLoad = "0x40400000"
        static let fitAddress: UInt64 = 0x4800_0000
        static var fitAt: String { "0x" + String(fitAddress, radix: 16) }
        static let failed = "FSE2E-BOOT-FAILED"

        func available() -> Bool {
            toolsAvailable("qemu-system-aarch64", "apt-get", "apt-cache", "dpkg", "cpio", "gzip", "dtc")
                && filesAvailable(Arm64Virt.uboot, flashsmithPath)
        }

        /// The FIT's inputs under `dir` by the names the `.its` uses: `Image` (Debian's arm64 kernel, a
        /// link), `virt.dtb` (dumped with -bios) and `initramfs.cpio.gz`, whose `/init` prints
        /// `E2E-FIT-42-<token>` (computed by the guest's shell) and powers off.
        func guest(_ dir: TempDir, token: String) throws -> (image: String, marker: String) {
            let kernel = try DebianArtifacts.arm64Kernel()
            try FileManager.default.createSymbolicLink(atPath: dir.file("Image"), withDestinationPath: kernel.vmlinuz)
            try FileManager.default.copyItem(atPath: try Arm64Virt.dtb(), toPath: dir.file("virt.dtb"))
            try Arm64Virt.busyboxInitramfs(
                testScript: "#!/bin/sh\necho \"E2E-FIT-$((6*7))-\(token)\"\n", to: dir.file("initramfs.cpio.gz"), gzip: true)
            return (kernel.vmlinuz, "E2E-FIT-42-\(token)")
        }

        /// mkimage's classic kernel + fdt + ramdisk FIT: one configuration, sha256 on every image,
        /// `#address-cells = <1>` with 32-bit load/entry. The gzip'd initramfs is `compression = "none"`:
        /// U-Boot hands it over as is and the kernel unpacks it.
        static let its = """
            /dts-v1/;

            / {
                description = "flashsmith e2e FIT: Debian arm64 kernel, QEMU virt DTB, busybox initramfs";
                #address-cells = <1>;

                images {
                    kernel-1 {
                        description = "Debian arm64 kernel Image";
                        data = /incbin/("Image");
                        type = "kernel";
                        arch = "arm64";
                        os = "linux";
                        compression = "none";
                        load = <\(kernelLoad)>;
                        entry = <\(kernelLoad)>;
                        hash-1 {
                            algo = "sha256";
                        };
                    };
                    fdt-1 {
                        description = "QEMU virt DTB (dumped with -bios)";
                        data = /incbin/("virt.dtb");
                        type = "flat_dt";
                        arch = "arm64";
                        compression = "none";
                        hash-1 {
                            algo = "sha256";
                        };
                    };
                    ramdisk-1 {
                        description = "busybox initramfs";
                        data = /incbin/("initramfs.cpio.gz");
                        type = "ramdisk";
                        arch = "arm64";
                        os = "linux";
                        compression = "none";
                        hash-1 {
                            algo = "sha256";
                        };
                    };
                };

                configurations {
                    default = "conf-1";
                    conf-1 {
                        description = "QEMU virt, initramfs";
                        kernel = "kernel-1";
                        fdt = "fdt-1";
                        ramdisk = "ramdisk-1";
                    };
                };
            };

            """

        /// What was built, and where the kernel's data lies in it.
        struct FIT {
            var path: String
            var bytes: [UInt8]
            /// Offset of the kernel's data in the file (found by its first 4 KiB).
            var kernelData: Int
            /// The FDT header's totalsize: the structure alone (smaller than the file with external data).
            var structureSize: Int
        }

        /// Writes `image.its` in `dir` and runs `flashsmith fit build image.its -o OUT OPTIONS` there (so
        /// the relative `/incbin/` names resolve whichever way: beside the .its or in the working folder).
        /// When mkimage is installed, `mkimage -l` must list all three images, sha256 hashes and the
        /// configuration (it exits 0 on anything, so its output is what is checked).
        func build(_ dir: TempDir, kernelImage: String, options: [String]) throws -> FIT {
            let external = options.contains("-E")
            let its = try dir.write("image.its", Self.its)
            let out = dir.file(external ? "image-external.itb" : "image.itb")
            let args = ["fit", "build", its, "-o", out] + options
            let r = try run(flashsmithPath, args, cwd: dir.path)
            try #require(r.status == 0, "flashsmith \(args.joined(separator: " ")) failed (\(r.status)): \(r.err)\(r.out)")

            if which("mkimage") != nil {
                let l = try run("mkimage", ["-l", out])
                let text = l.out + l.err
                for line in [
                    "Image 0 (kernel-1)", "Image 1 (fdt-1)", "Image 2 (ramdisk-1)",
                    "Type:         Kernel Image", "Type:         Flat Device Tree", "Type:         RAMDisk Image",
                    "Load Address: \(Self.kernelLoad)", "Entry Point:  \(Self.kernelLoad)",
                    "Default Configuration: 'conf-1'", "Kernel:       kernel-1", "Init Ramdisk: ramdisk-1", "FDT:          fdt-1",
                ] {
                    #expect(text.contains(line), "mkimage -l \(out) lacks '\(line)':\n\(text)")
                }
                #expect(text.components(separatedBy: "Hash algo:    sha256").count - 1 == 3, "mkimage -l \(out):\n\(text)")
            }

            let bytes = try readBytes(out)
            try #require(bytes.count > 64 && Array(bytes[0..<4]) == [0xD0, 0x0D, 0xFE, 0xED], "\(out) is not an FDT")
            let total = Int(bytes[4]) << 24 | Int(bytes[5]) << 16 | Int(bytes[6]) << 8 | Int(bytes[7])
            let head = Array(try readBytes(kernelImage).prefix(4096))
            let at = try #require(Self.offset(of: head, in: bytes), "kernel data not found in \(out)")
            if external {
                #expect(total < bytes.count && at >= total, "-E: kernel data at \(at) should follow the \(total)-byte structure (file \(bytes.count))")
            } else {
                #expect(total == bytes.count && at < total, "embedded data: totalsize \(total), file \(bytes.count), kernel at \(at)")
            }
            return FIT(path: out, bytes: bytes, kernelData: at, structureSize: total)
        }

        static func offset(of needle: [UInt8], in hay: [UInt8]) -> Int? {
            guard let first = needle.first, hay.count >= needle.count else { return nil }
            var i = 0
            while i <= hay.count - needle.count {
                if hay[i] == first && hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
                i += 1
            }
            return nil
        }

        /// Env with `bootcmd=bootm 0x48000000#conf-1; echo FSE2E-BOOT-FAILED; poweroff`: QEMU exits either way.
        func flash(_ dir: TempDir) throws -> String {
            let flash = dir.file("flash1.img")
            try Arm64Virt.writeEnvFlash(flash, environment: """
                bootdelay=0
                bootargs=console=ttyAMA0 panic=-1
                bootcmd=bootm \(Self.fitAt)#conf-1; echo \(Self.failed); poweroff

                """)
            return flash
        }

        func boot(_ dir: TempDir, _ fit: FIT, marker: String, killOn: [String] = []) throws -> QEMUResult {
            try Arm64Virt.bootUBoot(
                flash: try flash(dir), extra: Arm64Virt.loader(fit.path, at: Self.fitAt),
                log: dir.file("qemu.log"), timeout: .seconds(30),
                markers: ["Starting kernel", marker], killOn: killOn
            )
        }

        /// `Data Start:   0x48000434`, as U-Boot prints it for the kernel at this file offset.
        static func dataStart(_ fit: FIT) -> String {
            "Data Start:   0x" + String(fitAddress + UInt64(fit.kernelData), radix: 16)
        }

        /// Builds, boots, and checks everything U-Boot and the guest say on the way to the marker.
        @discardableResult
        func bootsToMarker(options: [String]) throws -> FIT {
            let dir = try TempDir("flashsmith-e2e-fit")
            let token = String(UUID().uuidString.prefix(8))
            let g = try guest(dir, token: token)
            let fit = try build(dir, kernelImage: g.image, options: options)
            let r = try boot(dir, fit, marker: g.marker)
            let label = options.isEmpty ? "embedded data" : options.joined(separator: " ")
            print("E2E timing: FIT \(label) boot (\(fit.bytes.count) bytes, kernel data at 0x\(String(fit.kernelData, radix: 16))) \(r.summary), markers \(r.markerTimes)")
            let ctx = "\(r.summary)\n\(r.tail(70))"
            func has(_ text: String) -> Bool { r.contains(text) }
            #expect(has("Loading Environment from Flash... OK"), "\(ctx)")
            #expect(has("## Loading kernel from FIT Image at 48000000 ..."), "\(ctx)")
            #expect(has("Using 'conf-1' configuration"), "\(ctx)")
            #expect(has("Trying 'kernel-1' kernel subimage"), "\(ctx)")
            #expect(has(Self.dataStart(fit)), "U-Boot read the kernel elsewhere than at file offset \(fit.kernelData): \(ctx)")
            #expect(has("Load Address: 0x40400000") && has("Entry Point:  0x40400000"), "\(ctx)")
            #expect(has("Trying 'ramdisk-1' ramdisk subimage"), "\(ctx)")
            #expect(has("Trying 'fdt-1' fdt subimage"), "\(ctx)")
            #expect(r.log.components(separatedBy: "Verifying Hash Integrity ... sha256+ OK").count - 1 == 3, "three sha256 hashes verified: \(ctx)")
            #expect(has("Booting using the fdt blob at 0x"), "DTB not taken from the FIT: \(ctx)")
            #expect(has("Loading Kernel Image"), "\(ctx)")
            #expect(has("Loading Ramdisk to "), "\(ctx)")
            #expect(has("Starting kernel ..."), "\(ctx)")
            #expect(has(g.marker), "initramfs marker \(g.marker) missing: \(ctx)")
            #expect(has("\(Initramfs.defaultResultMarker) rc=0"), "\(ctx)")
            #expect(!has(Self.failed), "\(ctx)")
            #expect(r.exitStatus == 0, "QEMU did not power off by itself: \(ctx)")
            return fit
        }

        @Test("kernel + virt DTB + initramfs FIT, sha256 on each: bootm 0x48000000#conf-1 boots to the initramfs marker")
        func embeddedData() throws {
            guard available() else { return }
            try bootsToMarker(options: [])
        }

        /// `-E` puts the data after the structure (`data-offset`); with `-B 0x1000` the structure and
        /// each data block are padded to 4 KiB; `-p 0x1000` gives absolute `data-position`s from 0x1000.
        @Test(
            "the same FIT with external data (-E; -E -B 0x1000; -E -p 0x1000) boots the same way",
            arguments: [["-E"], ["-E", "-B", "0x1000"], ["-E", "-p", "0x1000"]])
        func externalData(options: [String]) throws {
            guard available() else { return }
            let fit = try bootsToMarker(options: options)
            if options.contains("-B") {
                #expect(fit.structureSize % 0x1000 == 0 && fit.kernelData % 0x1000 == 0, "-B 0x1000: structure \(fit.structureSize), kernel data at \(fit.kernelData)")
            }
            if options.contains("-p") {
                #expect(fit.kernelData == 0x1000, "-p 0x1000: the first image's data (the kernel) at \(fit.kernelData)")
            }
        }

        @Test(
            "one byte of the kernel's data flipped after hashing (embedded; -E): Bad hash value, Bad Data Hash, nothing boots",
            arguments: [[], ["-E"]])
        func tamperedKernelRefused(options: [String]) throws {
            guard available() else { return }
            let dir = try TempDir("flashsmith-e2e-fit-bad")
            let token = String(UUID().uuidString.prefix(8))
            let g = try guest(dir, token: token)
            let fit = try build(dir, kernelImage: g.image, options: options)
            // 1 MiB into the kernel's data: the structure (and its hash node) stay as built.
            let offset = UInt64(fit.kernelData + 0x10_0000)
            let h = try FileHandle(forUpdating: URL(fileURLWithPath: fit.path))
            try h.seek(toOffset: offset)
            let old = try #require(try h.read(upToCount: 1)).first!
            try h.seek(toOffset: offset)
            try h.write(contentsOf: [old ^ 0x01])
            try h.close()

            let r = try boot(dir, fit, marker: g.marker, killOn: [g.marker])
            print("E2E timing: FIT tampered kernel (\(options.isEmpty ? "embedded" : options.joined(separator: " "))) \(r.summary)")
            let ctx = "\(r.summary)\n\(r.tail())"
            #expect(r.contains("Trying 'kernel-1' kernel subimage"), "\(ctx)")
            #expect(r.contains(Self.dataStart(fit)), "\(ctx)")
            #expect(r.contains("Verifying Hash Integrity ... sha256 error!"), "\(ctx)")
            #expect(r.contains("Bad hash value for 'hash-1' hash node in 'kernel-1' image node"), "\(ctx)")
            #expect(r.contains("Bad Data Hash"), "\(ctx)")
            #expect(r.contains("ERROR: can't get kernel image!"), "\(ctx)")
            #expect(r.contains(Self.failed), "bootm did not fail: \(ctx)")
            #expect(!r.contains("Starting kernel"), "\(ctx)")
            #expect(!r.contains(g.marker), "the tampered kernel booted: \(ctx)")
            #expect(r.exitStatus == 0, "\(ctx)")
        }
    }
}
