import Foundation
import Testing
import TestSupport

extension E2E {
    /// A NAND board's `flash.scr` (layouts/nandsim: a redundant env, a UBI rootfs written with
    /// `write.trimffs`, and here a 1,000,001-byte kernel partition written with plain `nand write`) run by a real
    /// U-Boot: the sandbox build of U-Boot 2025.01 (``UBootSandbox``) with an emulated raw-NAND chip of
    /// the board's geometry (ST 0x20/0xf1: 128 MiB, 2 KiB pages, 64-byte OOB, 128 KiB blocks) and
    /// U-Boot's software Hamming ECC (`nand-ecc-mode = "soft"`: 3 bytes per 256, OOB bytes 40–63),
    /// the board's `ecc: hamming`. The whole chip, data and OOB of every page, is read back raw
    /// (`nand read.raw`, `save hostfs`) in the same run and compared with `build`'s `nandsim.oob.img`.
    ///
    /// The images come from the host folder (`load hostfs - ${loadaddr} FILE` in place of `tftpboot
    /// ${loadaddr} FILE`, the only change to the script): TFTP in the sandbox needs raw sockets and
    /// checksum-less UDP from the server. What this proves: the script's logic, offsets, erase ranges,
    /// `write.trimffs`, bad-block skipping, byte-exact data and U-Boot's software ECC in the OOB; not a
    /// SoC's hardware ECC, its OOB layout or boot-ROM structures.
    @Suite("flash.scr of a NAND board (nandsim), run by U-Boot's sandbox on an emulated chip: data and OOB of every page, bad blocks, failures")
    struct NANDFlashScriptTests {
        static let board = "nandsim"
        static let fixtures = "\(DefaultBoardTests.repo)/Tests/Fixtures/uboot-sandbox"
        static let pageSize = 2048, oobSize = 64, blockSize = 128 << 10, chipSize = 128 << 20
        static var rawPage: Int { pageSize + oobSize }
        static var pagesPerBlock: Int { blockSize / pageSize }
        static let chip = UBootSandbox.Chip(id: [0x20, 0xF1, 0x00, 0x15], pageSize: pageSize, oobSize: oobSize, eraseBlockSize: blockSize, pages: chipSize / pageSize, eccMode: "soft")
        /// Partitions with content and their first block: env (2 blocks from 0x100000), kernel (from
        /// 0x140000, written by the tests' copy of the board), rootfs (from 0x940000).
        static let envBlock = 0x10_0000 / blockSize, kernelBlock = 0x14_0000 / blockSize, rootfsBlock = 0x94_0000 / blockSize
        static let kernelBytes = 1_000_001
        /// A block inside the UBI image's blocks.
        static let badBlock = rootfsBlock + 6

        func available() -> Bool {
            toolsAvailable("apt-get", "make", "cc", "bison", "flex", "swig", "cert-to-efi-sig-list", "patch", "fdtput", "mkimage", "mkfs.ubifs", "busybox")
                && filesAvailable(flashsmithPath)
        }

        /// The sandbox U-Boot (built once and cached) and its test device tree in `dir`.
        func sandbox(_ dir: TempDir) throws -> (UBootSandbox.Build, String) {
            let b = try UBootSandbox.build(fragment: "\(Self.fixtures)/flashsmith.config", patches: ["\(Self.fixtures)/sand_nand-rndout.patch"])
            print(String(format: "E2E timing: U-Boot sandbox %@ (key %@): %.1f s", b.buildSeconds > 0 ? "built" : "from the cache", b.key, b.buildSeconds))
            let dtb = dir.file("nand.dtb")
            try UBootSandbox.deviceTree(base: b.deviceTree, chip: Self.chip, to: dtb)
            return (b, dtb)
        }

        /// layouts/nandsim built into `dir/out` from a copy of the board whose kernel partition gets
        /// ``kernelBytes`` bytes of `file:` content (not a whole number of pages: `nand write` then
        /// verifies its last page as a sub-page), with `bad-blocks:` when given.
        func build(_ dir: TempDir, badBlocks: [Int] = []) throws -> String {
            let board = dir.file("board")
            try FileManager.default.copyItem(atPath: "\(DefaultBoardTests.repo)/layouts/nandsim", toPath: board)
            var yaml = try String(contentsOfFile: "\(board)/board.yaml", encoding: .utf8)
            try #require(yaml.contains("  - name: kernel\n    size: 8MiB\n"))
            yaml = yaml.replacingOccurrences(of: "  - name: kernel\n    size: 8MiB\n", with: "  - name: kernel\n    size: 8MiB\n    content: {file: kernel.bin}\n")
            var seed: UInt32 = 0x2545_F491
            let kernel = (0..<Self.kernelBytes).map { _ -> UInt8 in
                seed = seed &* 1_664_525 &+ 1_013_904_223
                return UInt8(truncatingIfNeeded: seed >> 24)
            }
            try Data(kernel).write(to: URL(fileURLWithPath: "\(board)/kernel.bin"))
            if !badBlocks.isEmpty {
                try #require(yaml.contains("  id-bytes: "))
                let list = badBlocks.map(String.init).joined(separator: ", ")
                yaml = yaml.replacingOccurrences(of: "  id-bytes: ", with: "  bad-blocks: [\(list)]\n  id-bytes: ")
            }
            try yaml.write(toFile: "\(board)/board.yaml", atomically: true, encoding: .utf8)
            let out = dir.file("out")
            let r = try flashsmith("build", board, "-o", out)
            try #require(r.status == 0, "flashsmith build nandsim: \(r.err)")
            return out
        }

        /// flash.cmd with each `tftpboot ${loadaddr} FILE` read from the host folder instead, as a script uImage.
        func hostfsScript(_ out: String) throws -> String {
            let text = try String(contentsOfFile: "\(out)/flash.cmd", encoding: .utf8)
            let fetch = "tftpboot ${loadaddr} "
            #expect(text.components(separatedBy: fetch).count - 1 == 3, "flash.cmd fetches env.img, kernel.img and rootfs.img:\n\(text)")
            try text.replacingOccurrences(of: fetch, with: "load hostfs - ${loadaddr} ").write(toFile: "\(out)/flash-hostfs.cmd", atomically: true, encoding: .utf8)
            let m = try run("mkimage", ["-A", "sandbox", "-O", "linux", "-T", "script", "-C", "none", "-n", "flash hostfs", "-d", "\(out)/flash-hostfs.cmd", "\(out)/flash-hostfs.scr"])
            try #require(m.status == 0, "mkimage: \(m.err)")
            return "flash-hostfs.scr"
        }

        /// Marks `bad` blocks, sources the script from `folder`, dumps the whole chip raw (page + OOB) in
        /// 16 MiB pieces; returns U-Boot's output and the dump.
        func flash(_ sandbox: (UBootSandbox.Build, String), folder: String, script: String, markBad: [Int] = []) throws -> (log: String, raw: [UInt8], seconds: Double) {
            var cmd = "setenv loadaddr 0x1000000; "
            for b in markBad { cmd += "nand markbad \(hex(b * Self.blockSize)); " }
            cmd += "load hostfs - ${scriptaddr} \(script); source ${scriptaddr}"
            let piecePages = 8192
            let pieces = Self.chipSize / Self.pageSize / piecePages
            for i in 0..<pieces {
                cmd += "; nand read.raw 0x2000000 \(hex(i * piecePages * Self.pageSize)) \(hex(piecePages)) && save hostfs - 0x2000000 dump\(i).bin \(hex(piecePages * Self.rawPage))"
            }
            let t0 = ContinuousClock.now
            let r = try UBootSandbox.execute(sandbox.0, deviceTree: sandbox.1, commands: cmd, cwd: folder)
            let d = ContinuousClock.now - t0
            var raw: [UInt8] = []
            for i in 0..<pieces {
                let piece = "\(folder)/dump\(i).bin"
                guard FileManager.default.fileExists(atPath: piece) else { throw HarnessError("no \(piece): U-Boot said:\n\(r.out.suffix(3000))") }
                raw += try readBytes(piece)
                try FileManager.default.removeItem(atPath: piece)
            }
            return (r.out, raw, Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)
        }

        func hex(_ v: Int) -> String { "0x" + String(v, radix: 16) }

        /// Pages (chip page numbers) in `blocks` where `a` and `b` differ, data or OOB.
        func differingPages(_ a: [UInt8], _ b: [UInt8], blocks: Range<Int>) -> [Int] {
            var out: [Int] = []
            for page in (blocks.lowerBound * Self.pagesPerBlock)..<(blocks.upperBound * Self.pagesPerBlock) {
                let r = (page * Self.rawPage)..<((page + 1) * Self.rawPage)
                if a[r] != b[r] { out.append(page) }
            }
            return out
        }

        var allBlocks: Range<Int> { 0..<(Self.chipSize / Self.blockSize) }

        @Test("onto an erased chip: every page, data and OOB (software Hamming ECC), as build's nandsim.oob.img; with a declared bad block, U-Boot skips it as build placed around it", arguments: [false, true])
        func flashesEveryPage(withBadBlock: Bool) throws {
            guard available() else { return }
            let dir = try TempDir("flashsmith-e2e-nand-flashscr")
            let sb = try sandbox(dir)
            let out = try build(dir, badBlocks: withBadBlock ? [Self.badBlock] : [])
            let script = try hostfsScript(out)
            let (log, raw, seconds) = try flash(sb, folder: out, script: script, markBad: withBadBlock ? [Self.badBlock] : [])
            print(String(format: "E2E timing: NAND flash.scr in the sandbox%@ (script + raw dump of 132 MiB) %.2f s", withBadBlock ? " with a bad block" : "", seconds))
            #expect(log.contains("flashsmith: nandsim flashed"), "\(log.suffix(3000))")
            #expect(log.contains("NAND write: device 0 offset 0x940000, size 0x340000"), "\(log.suffix(3000))")
            #expect(log.contains("NAND write: device 0 offset 0x140000, size 0xf4241\n \(Self.kernelBytes) bytes written: OK"), "\(log.suffix(3000))")
            let expected = try readBytes("\(out)/\(Self.board).oob.img")
            try #require(raw.count == expected.count, "dump \(raw.count) bytes, build's \(expected.count)")
            let diff = differingPages(raw, expected, blocks: allBlocks)
            #expect(diff.isEmpty, "\(diff.count) page(s) differ from build's raw image, first \(diff.prefix(8)) (block \(diff.first.map { $0 / Self.pagesPerBlock } ?? -1))")
            if withBadBlock {
                let bbm = (Self.badBlock * Self.pagesPerBlock) * Self.rawPage + Self.pageSize
                #expect(expected[bbm] == 0x00 && raw[bbm] == 0x00, "the bad block's marker (OOB byte 0 of its first page)")
                #expect(log.contains("Skipping bad block at  \(String(format: "0x%08x", Self.badBlock * Self.blockSize))") || log.contains("Skip bad block \(String(format: "0x%08x", Self.badBlock * Self.blockSize))"), "U-Boot did not say it skipped the bad block:\n\(log.suffix(3000))")
            }
        }

        /// (what goes wrong, files removed from the folder, blocks marked bad, where the script stops)
        static let failures: [(String, String?, [Int], String)] = [
            ("rootfs.img missing", "rootfs.img", [], "rootfs"),
            ("kernel.img missing", "kernel.img", [], "kernel"),
            ("env.img missing", "env.img", [], "env"),
            ("both env blocks bad", nil, [envBlock, envBlock + 1], "env"),
        ]

        @Test("a failure stops the script at its partition, named; the partitions before it written, the rest erased", arguments: 0..<4)
        func failureStops(_ index: Int) throws {
            guard available() else { return }
            let (what, missing, bad, failsAt) = Self.failures[index]
            let dir = try TempDir("flashsmith-e2e-nand-flashscr-fail")
            let sb = try sandbox(dir)
            let out = try build(dir)
            let script = try hostfsScript(out)
            if let missing { try FileManager.default.removeItem(atPath: "\(out)/\(missing)") }
            let (log, raw, seconds) = try flash(sb, folder: out, script: script, markBad: bad)
            print(String(format: "E2E timing: NAND flash.scr in the sandbox, %@: %.2f s", what, seconds))
            #expect(log.contains("flashsmith: flashing nandsim FAILED at \(failsAt)\n"), "\(what): \(log.suffix(3000))")
            let order = ["env", "kernel", "rootfs"]
            for later in order[(order.firstIndex(of: failsAt)! + 1)...] {
                #expect(!log.contains("flashing \(later) ("), "\(what): \(later) attempted after \(failsAt) failed:\n\(log.suffix(3000))")
            }

            let expected = try readBytes("\(out)/\(Self.board).oob.img")
            let erased = [UInt8](repeating: 0xFF, count: raw.count)
            // Before the failure as build has it; from the failing partition on, as erased (bad blocks aside).
            let cut = ["env": Self.envBlock, "kernel": Self.kernelBlock, "rootfs": Self.rootfsBlock][failsAt]!
            let before = differingPages(raw, expected, blocks: 0..<cut)
            #expect(before.isEmpty, "\(what): pages before \(failsAt) differ from build's image: \(before.prefix(8))")
            let after = differingPages(raw, erased, blocks: cut..<allBlocks.upperBound).filter { !bad.contains($0 / Self.pagesPerBlock) }
            #expect(after.isEmpty, "\(what): \(after.count) page(s) from \(failsAt) on are not erased, first \(after.prefix(8))")
        }
    }
}
