import Foundation
import Testing
import TestSupport

extension E2E {
    /// The arm64 guest pieces other E2E tests build on: Debian's arm64 kernel (a raw `Image`) and an
    /// arm64 busybox initramfs, both fetched with a private apt state, boot directly under QEMU.
    @Suite("arm64 Debian kernel + busybox initramfs boot directly under QEMU")
    struct Arm64BootTests {
        func available() -> Bool {
            toolsAvailable("qemu-system-aarch64", "apt-get", "apt-cache", "dpkg", "cpio", "gzip")
        }

        @Test("-kernel Image -initrd cpio.gz: /init prints its marker and powers off")
        func directBoot() throws {
            guard available() else { return }
            let clock = ContinuousClock()
            let t0 = clock.now
            let kernel = try DebianArtifacts.arm64Kernel()
            let dir = try TempDir("flashsmith-e2e-arm64")
            let initrd = dir.file("initramfs.cpio.gz")
            // The marker is computed by the guest's shell: the kernel echoing its command line, or the
            // script's own text, cannot produce it.
            try Arm64Virt.busyboxInitramfs(testScript: "#!/bin/sh\necho \"E2E-ARM64-$((6*7)) $(uname -m)\"\n", to: initrd, gzip: true)
            let tPrep = clock.now - t0

            let image = try readBytes(kernel.vmlinuz)
            // arm64 Image header: "ARM\x64" magic at offset 56.
            #expect(image.count > 64 && Array(image[56..<60]) == [0x41, 0x52, 0x4D, 0x64], "\(kernel.vmlinuz) is not a raw arm64 Image")

            let r = try QEMU.run(
                "qemu-system-aarch64",
                Arm64Virt.arguments(bios: false) + [
                    "-kernel", kernel.vmlinuz, "-initrd", initrd, "-append", "console=ttyAMA0 panic=-1",
                ],
                log: dir.file("qemu.log"), timeout: .seconds(60),
                markers: ["FLASHSMITH-GUEST-UP", "E2E-ARM64-42"]
            )
            print("E2E timing: arm64 direct boot (\(kernel.package)): fetch/cache+initramfs \(tPrep), QEMU \(r.summary), markers \(r.markerTimes)")
            #expect(r.contains("E2E-ARM64-42 aarch64"), "marker missing: \(r.summary)\n\(r.tail())")
            #expect(r.contains("\(Initramfs.defaultResultMarker) rc=0"), "\(r.summary)\n\(r.tail())")
            #expect(r.exitStatus == 0, "guest did not power off by itself: \(r.summary)\n\(r.tail())")
        }

        @Test("virt DTB dumped with -bios is cached and has no pl061 GPIO node")
        func dtbDump() throws {
            guard toolsAvailable("qemu-system-aarch64") && filesAvailable(Arm64Virt.uboot) else { return }
            let path = try Arm64Virt.dtb()
            let bytes = try readBytes(path)
            #expect(Array(bytes.prefix(4)) == [0xD0, 0x0D, 0xFE, 0xED], "not a DTB: \(path)")
            #expect(try Arm64Virt.dtb() == path)
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(!text.contains("pl061"), "DTB looks dumped without -bios (has pl061)")
            #expect(text.contains("virtio,mmio"))
        }
    }
}
