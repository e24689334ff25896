import Foundation
import Testing
import TestSupport

extension E2E {
    /// Debian's qemu_arm64 U-Boot reads an environment that `flashsmith env create -c` wrote.
    ///
    /// Facts (Debian's `config.qemu_arm64.gz`): ENV_IS_IN_FLASH, ENV_ADDR 0x4000000 = offset 0 of the
    /// second 64 MiB pflash bank, ENV_SIZE 0x40000, single copy. An env blob replaces the whole default
    /// environment, so it carries everything the boot needs: `bootdelay=0` and a `bootcmd` that ends in
    /// `poweroff` (QEMU then exits by itself).
    @Suite("U-Boot (qemu_arm64) boots with an environment written by flashsmith")
    struct UBootEnvBootTests {
        static let uboot = "/usr/lib/u-boot/qemu_arm64/u-boot.bin"
        static let flashSize = 64 << 20
        static let sentinelOffset = 0x10_0000
        static let sentinel = Array("FLASHSMITH-SENTINEL-BEYOND-THE-ENV".utf8)

        func available() -> Bool {
            toolsAvailable("qemu-system-aarch64") && filesAvailable(Self.uboot)
        }

        /// A 64 MiB erased (0xFF) flash bank with a sentinel past the env, and the env written into it
        /// with `flashsmith env create -c`. Returns the flash path and the marker the bootcmd prints.
        func prepareFlash(_ dir: TempDir) throws -> (flash: String, marker: String) {
            var image = [UInt8](repeating: 0xFF, count: Self.flashSize)
            image.replaceSubrange(Self.sentinelOffset..<Self.sentinelOffset + Self.sentinel.count, with: Self.sentinel)
            let flash = try dir.write("flash1.img", image)
            let config = try dir.write("fw_env.config", "# device offset envsize\n\(flash) 0x0 0x40000\n")
            let token = UUID().uuidString.prefix(8)
            // The printed marker is assembled by U-Boot at run time: the blob holds `${fs_e2e}-BOOTCMD-…`,
            // so the marker cannot show up merely because the blob's bytes were echoed.
            let text = """
                bootdelay=0
                fs_e2e=FSE2E
                bootcmd=echo ${fs_e2e}-BOOTCMD-\(token); poweroff

                """
            let envText = try dir.write("env.txt", text)
            let r = try flashsmith("env", "create", "-c", config, envText)
            #expect(r.status == 0, "flashsmith env create -c failed: \(r.err)")

            // -c on a plain file patches the env in place and keeps the rest of the file.
            let after = try readBytes(flash)
            #expect(after.count == Self.flashSize, "flash file size changed to \(after.count)")
            #expect(Array(after[Self.sentinelOffset..<Self.sentinelOffset + Self.sentinel.count]) == Self.sentinel, "bytes past the env were not kept")
            #expect(after[0x40000..<Self.sentinelOffset].allSatisfy { $0 == 0xFF }, "bytes between the env and the sentinel changed")
            #expect(after[0..<4] != [0xFF, 0xFF, 0xFF, 0xFF], "no CRC written at offset 0")
            return (flash, "FSE2E-BOOTCMD-\(token)")
        }

        func boot(_ flash: String, log: String, killOn: [String] = []) throws -> QEMUResult {
            try QEMU.run(
                "qemu-system-aarch64",
                [
                    "-M", "virt", "-cpu", "cortex-a57", "-m", "1024", "-accel", "tcg",
                    "-nographic", "-no-reboot", "-nic", "none",
                    "-bios", Self.uboot,
                    "-drive", "if=pflash,format=raw,index=1,file=\(flash)",
                ],
                log: log, timeout: .seconds(120),
                markers: ["Loading Environment from Flash"], killOn: killOn
            )
        }

        @Test("environment at offset 0 of pflash bank 1: U-Boot loads it and runs its bootcmd")
        func bootsWithFlashsmithEnvironment() throws {
            guard available() else { return }
            let dir = try TempDir("flashsmith-e2e-uboot")
            let (flash, marker) = try prepareFlash(dir)
            let r = try boot(flash, log: dir.file("qemu.log"))
            print("E2E timing: U-Boot env OK boot \(r.summary)")
            func has(_ text: String) -> Bool { r.contains(text) }
            #expect(has("Loading Environment from Flash... OK"), "\(r.summary)\n\(r.tail())")
            #expect(has(marker), "bootcmd marker \(marker) not printed: \(r.summary)\n\(r.tail())")
            #expect(!has("bad CRC"), "\(r.tail())")
            #expect(r.exitStatus == 0, "QEMU did not power off by itself: \(r.summary)\n\(r.tail())")
        }

        @Test("one flipped data byte: U-Boot reports bad CRC and does not run the bootcmd")
        func rejectsEnvironmentWithFlippedDataByte() throws {
            guard available() else { return }
            let dir = try TempDir("flashsmith-e2e-uboot-bad")
            let (flash, marker) = try prepareFlash(dir)
            // Flip one byte of the data area (offset 4 is the first data byte, 'b' of bootdelay).
            let h = try FileHandle(forUpdating: URL(fileURLWithPath: flash))
            try h.seek(toOffset: 6)
            let old = try #require(try h.read(upToCount: 1)).first!
            try h.seek(toOffset: 6)
            try h.write(contentsOf: [old ^ 0x20])
            try h.close()

            // With the default env U-Boot counts down (bootdelay 2) before distro boot: stop there.
            let r = try boot(flash, log: dir.file("qemu.log"), killOn: ["Hit any key", marker])
            print("E2E timing: U-Boot env bad-CRC boot \(r.summary)")
            func has(_ text: String) -> Bool { r.contains(text) }
            #expect(has("Loading Environment from Flash"), "\(r.summary)\n\(r.tail())")
            #expect(has("bad CRC"), "U-Boot did not report bad CRC: \(r.summary)\n\(r.tail())")
            #expect(!has(marker), "the corrupted env's bootcmd ran: \(r.tail())")
            #expect(!has("Loading Environment from Flash... OK"), "\(r.tail())")
            #expect(!r.timedOut, "\(r.summary)\n\(r.tail())")
        }
    }
}
