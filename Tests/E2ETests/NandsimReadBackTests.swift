import Foundation
import Testing
import TestSupport

extension E2E {
    /// `nand show BOARD --nandsim` prints everything nandsim needs: loaded with exactly that, the
    /// board's OOB image written raw block by block (the declared bad blocks left alone) reads back
    /// through the kernel's ECC as the partition images, with zero ECC failures; each env copy is at
    /// the first good block of its range (nanddump skipping bad blocks from the range's start), and
    /// libubootenv's fw_printenv reads the environment through build's fw_env.config, from copy 2
    /// once copy 1's block is erased.
    @Suite("nandsim as nand show --nandsim says: the board's OOB image reads back with no ECC error")
    struct NandsimReadBackTests {
        struct Board: Sendable, CustomStringConvertible {
            var name: String
            var yaml: String
            var page: Int
            var oob: Int
            var eraseBlock: Int
            var description: String { name }
        }

        /// BCH-8 on 4 KiB pages (slc-4k's geometry in a 128 MiB chip; the ID derived from it), and
        /// nandsim's Hamming board with declared bad blocks in each env range and in the kernel.
        static let boards = [
            Board(name: "bch8-4k", yaml: """
                name: bch8-4k
                console: ttyS0
                flash: {page: 4KiB, oob: 128, erase-block: 256KiB, chip: 128MiB, ecc: bch8, mtd-id: nandsim}
                partitions:
                  - {name: u-boot, size: 1MiB, content: {file: u-boot.bin}}
                  - {name: env, size: 1MiB, content: {env: env.txt, redundant: true}}
                  - {name: kernel, size: 4MiB, content: {file: kernel.bin}}
                  - {name: rootfs, size: rest}

                """, page: 4096, oob: 128, eraseBlock: 256 << 10),
            Board(name: "hamming-bad-blocks", yaml: """
                name: hamming-bad-blocks
                console: ttyS0
                flash:
                  page: 2KiB
                  oob: 64
                  erase-block: 128KiB
                  chip: 128MiB
                  sub-page: 512
                  ecc: hamming
                  mtd-id: nandsim
                  id-bytes: [0x20, 0xf1, 0x00, 0x15]
                  bad-blocks: [8, 10, 13]
                partitions:
                  - {name: u-boot, size: 1MiB, content: {file: u-boot.bin}}
                  - {name: env, size: 512KiB, content: {env: env.txt, redundant: true}}
                  - {name: kernel, size: 2MiB, content: {file: kernel.bin}}
                  - {name: rootfs, size: rest}

                """, page: 2048, oob: 64, eraseBlock: 128 << 10),
        ]

        @Test("nandsim with exactly nand show --nandsim: every partition reads back, zero ECC failures", arguments: boards)
        func readBack(board: Board) throws {
            guard toolsAvailable("qemu-system-x86_64", "apt-get", "dpkg", "busybox", "nandwrite", "nanddump", "flash_erase", "fw_printenv", "md5sum"), filesAvailable(flashsmithPath) else { return }
            let dir = try TempDir("flashsmith-e2e-nandsim-readback")
            var rng = SystemRandomNumberGenerator()
            _ = try dir.write("u-boot.bin", (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &rng) })
            _ = try dir.write("kernel.bin", (0..<600_000).map { _ in UInt8.random(in: 0...255, using: &rng) })
            _ = try dir.write("env.txt", "bootdelay=2\nmarker=read-back-\(board.name)\n")
            let yaml = try dir.write("board.yaml", board.yaml)
            let out = dir.file("out")
            let b = try flashsmith("build", yaml, "-o", out)
            try #require(b.status == 0, "flashsmith build: \(b.err)")
            let shown = try flashsmith("nand", "show", yaml, "--nandsim")
            try #require(shown.status == 0, "\(shown.err)")
            let params = shown.out.trimmingCharacters(in: .whitespacesAndNewlines)
            let json = try flashsmith("nand", "show", yaml, "--json")
            let parts = try #require((try JSONSerialization.jsonObject(with: Data(json.stdout)) as? [String: Any])?["partitions"] as? [[String: Any]])
            let bad = Set(board.yaml.range(of: "bad-blocks: [").map { r in
                board.yaml[r.upperBound...].prefix { $0 != "]" }.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            } ?? [])
            if !bad.isEmpty { #expect(params.contains("badblocks=" + bad.sorted().map(String.init).joined(separator: ",")), "\(params)") }
            if board.yaml.contains("bch8") { #expect(params.contains("bch=8"), "\(params)") }

            // Programming: every block of the chip image that holds data, raw (page + OOB), into its
            // partition at the same place; bad blocks are nandsim's (badblocks=) and left alone.
            let eb = board.eraseBlock
            let blockBytes = eb / board.page * (board.page + board.oob)
            let chip = try readBytes("\(out)/\(board.name).img")
            var script = ""
            for (i, p) in parts.enumerated() {
                let first = (p["offset"] as? Int ?? 0) / eb, count = (p["size"] as? Int ?? 0) / eb
                for k in 0..<count where !bad.contains(first + k) && chip[((first + k) * eb)..<((first + k + 1) * eb)].contains(where: { $0 != 0xFF }) {
                    script += "nandwrite -q --noecc --oob -s \(k * eb) /dev/mtd\(i) --input-skip=\((first + k) * blockBytes) --input-size=\(blockBytes) /dev/vda || echo E2E-WRITE-FAILED \(i) \(k)\n"
                }
            }
            // Reading back through the kernel's ECC: the file partitions, and each env copy from the start
            // of its range (nanddump skips bad blocks as env_nand and libubootenv do).
            var expected: [String: String] = [:]
            for (i, p) in parts.enumerated() {
                let name = p["name"] as? String ?? ""
                guard name == "u-boot" || name == "kernel" else { continue }
                let image = try readBytes("\(out)/\(name).img")
                expected[name] = try md5(image)
                script += "echo \"E2E-READ \(name) $(nanddump -q --bb=skipbad -l \(image.count) /dev/mtd\(i) 2>/dev/null | head -c \(image.count) | md5sum | cut -c1-32)\"\n"
            }
            let env = try readBytes("\(out)/env.img")
            let envIndex = try #require(parts.firstIndex { $0["name"] as? String == "env" })
            let envBlocks = (parts[envIndex]["size"] as? Int ?? 0) / eb
            let size = eb  // the env size defaults to an erase block
            for c in 0..<2 {
                let start = c * envBlocks / 2 * eb
                expected["env\(c + 1)"] = try md5(Array(env[start..<(start + size)]))
                script += "echo \"E2E-READ env\(c + 1) $(nanddump -q --bb=skipbad -s \(start) -l \(size) /dev/mtd\(envIndex) 2>/dev/null | head -c \(size) | md5sum | cut -c1-32)\"\n"
            }
            // The first good block of copy 1's range, erased: fw_printenv must find copy 2 in its own range.
            let firstEnvBlock = (parts[envIndex]["offset"] as? Int ?? 0) / eb
            let copy1 = try #require((firstEnvBlock..<(firstEnvBlock + envBlocks / 2)).first { !bad.contains($0) }) - firstEnvBlock
            let guest = """
                #!/bin/sh
                fail=0
                step() { echo "E2E-STEP $1 rc=$2"; [ "$2" = 0 ] || fail=1; }
                modprobe virtio_pci; modprobe virtio_blk
                modprobe nandsim \(params); step nandsim $?
                echo "E2E-GEOMETRY $(cat /sys/class/mtd/mtd0/writesize) $(cat /sys/class/mtd/mtd0/oobsize) $(cat /sys/class/mtd/mtd0/erasesize)"
                \(script)
                echo "E2E-ECC-FAILURES $(cat /sys/class/mtd/mtd*/ecc_failures | tr '\\n' ' ')"
                echo "E2E-CORRECTED $(cat /sys/class/mtd/mtd*/corrected_bits | tr '\\n' ' ')"
                echo "E2E-BAD $(cat /sys/class/mtd/mtd*/bad_blocks | tr '\\n' ' ')"
                echo "E2E-ENV $(fw_printenv -c /fw_env.config -n marker 2>&1)"
                flash_erase -q /dev/mtd\(envIndex) \(copy1 * eb) 1; step erase-copy1 $?
                echo "E2E-ENV2 $(fw_printenv -c /fw_env.config -n marker 2>&1)"
                exit $fail
                """
            let kernel = try DebianArtifacts.amd64Kernel()
            let initramfs = try Initramfs()
            try initramfs.addBusybox()
            try initramfs.addModules(["nandsim", "virtio_pci", "virtio_blk"], kernel: kernel)
            for tool in ["nandwrite", "nanddump", "flash_erase", "fw_printenv"] { try initramfs.addBinary(try #require(which(tool))) }
            try initramfs.addFile("/fw_env.config", try readBytes("\(out)/fw_env.config"))
            try initramfs.setInit(testScript: guest)
            try initramfs.write(to: dir.file("initrd.cpio"))
            let q = try QEMU.run(
                "qemu-system-x86_64",
                [
                    "-accel", "tcg", "-m", "1024", "-smp", "1", "-nographic", "-no-reboot", "-nic", "none", "-kernel", kernel.vmlinuz,
                    "-initrd", dir.file("initrd.cpio"), "-drive", "file=\(out)/\(board.name).oob.img,if=virtio,format=raw,readonly=on",
                    "-append", "console=ttyS0 panic=-1 quiet",
                ],
                log: dir.file("qemu.log"), timeout: .seconds(180), markers: [Initramfs.defaultResultMarker]
            )
            print("E2E timing: nandsim read-back \(board.name) \(q.summary)")
            let ctx = q.tail(50)
            for l in q.lines where l.contains("E2E-") { print("E2E read-back \(board.name): \(l)") }
            for l in q.lines where l.contains("E2E-STEP") { #expect(l.hasSuffix("rc=0"), "\(l)\n\(ctx)") }
            #expect(!q.log.contains("E2E-WRITE-FAILED"), "\(ctx)")
            #expect(q.line("E2E-GEOMETRY ") == "\(board.page) \(board.oob) \(eb)", "\(ctx)")
            #expect(q.line("E2E-ECC-FAILURES ")?.split(separator: " ").allSatisfy { $0 == "0" } == true, "\(ctx)")
            #expect(q.line("E2E-CORRECTED ")?.split(separator: " ").allSatisfy { $0 == "0" } == true, "\(ctx)")
            for (name, md5) in expected.sorted(by: { $0.key < $1.key }) {
                #expect(q.line("E2E-READ \(name) ") == md5, "\(name) read back through the kernel's ECC: \(ctx)")
            }
            #expect(q.line("E2E-ENV ") == "read-back-\(board.name)", "\(ctx)")
            #expect(q.line("E2E-ENV2 ") == "read-back-\(board.name)", "copy 2, in its own range: \(ctx)")
        }

        func md5(_ bytes: [UInt8]) throws -> String {
            String(try run("/usr/bin/md5sum", [], stdin: bytes).out.prefix(32))
        }
    }
}
