import FlashsmithCore
import Foundation
import Testing
import TestSupport
@testable import Board

/// Bad blocks as U-Boot and Linux see them: each copy of a redundant environment in its own range
/// (the partition's halves), at the first good block of it; every content checked to fit past the
/// bad blocks; "survives N" never negative; bad blocks past the chip refused; fw_env.config and the
/// chip's chip-fw_env.config where the copies really are (fw_printenv reads the chip image).
@Suite struct BoardBadBlockTests {
    /// 2 KiB pages, 128 KiB blocks, 4 MiB: u-boot blocks 0–1, env 2–5 (two ranges: 2–3, 4–5), kernel 6–9.
    static let board = """
        name: bb
        flash: {page: 2KiB, oob: 64, erase-block: 128KiB, chip: 4MiB, mtd-id: bb}
        partitions:
          - {name: u-boot, size: 256KiB}
          - {name: env, size: 512KiB, content: {env: env.txt, redundant: true, size: 16KiB}}
          - {name: kernel, size: 512KiB, content: {file: kernel.bin}}
          - {name: data, size: rest}

        """
    static let eb = 128 << 10

    struct Built {
        var dir: TempDir
        var result: RunResult
        var out: String { dir.file("out") }
        func chip() throws -> [UInt8] { try readBytes(dir.file("out/bb.img")) }
    }

    func build(badBlocks: String?, kernelBytes: Int = 200_000, board: String = board) throws -> Built {
        let dir = try TempDir()
        _ = try dir.write("env.txt", "bootdelay=3\nmarker=bad-block-test\n")
        _ = try dir.write("kernel.bin", (0..<kernelBytes).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) })
        let yaml = try dir.write("board.yaml", board)
        let r = try flashsmith(["build", yaml, "-o", dir.file("out")] + (badBlocks.map { ["--bad-blocks", $0] } ?? []))
        return Built(dir: dir, result: r)
    }

    /// The copy (16 KiB) at `block` of the chip image, and whether the rest of the block is erased.
    func copy(_ chip: [UInt8], block: Int) -> (bytes: [UInt8], restErased: Bool) {
        let start = block * Self.eb
        return (Array(chip[start..<start + (16 << 10)]), chip[(start + (16 << 10))..<(start + Self.eb)].allSatisfy { $0 == 0xFF })
    }

    func erased(_ chip: [UInt8], block: Int) -> Bool { chip[(block * Self.eb)..<((block + 1) * Self.eb)].allSatisfy { $0 == 0xFF } }

    /// With block 3 bad (in copy 1's range 2–3), copy 2 stays at block 4, where fw_env.config, U-Boot's
    /// env_nand and libubootenv read it (it went to block 5 before); with block 2 bad, copy 1 moves to
    /// block 3, copy 2 stays at 4.
    @Test(arguments: [(bad: "3", copy1: 2, copy2: 4), (bad: "2", copy1: 3, copy2: 4), (bad: "4", copy1: 2, copy2: 5), (bad: "2,4", copy1: 3, copy2: 5)])
    func eachCopySitsAtTheFirstGoodBlockOfItsRange(bad: String, copy1: Int, copy2: Int) throws {
        guard filesAvailable(flashsmithPath) else { return }
        let b = try build(badBlocks: bad)
        try #require(b.result.status == 0, "\(b.result.err)")
        let chip = try b.chip()
        let env = try readBytes(b.dir.file("out/env.img"))
        #expect(env.count == 2 * Self.eb + (16 << 10), "env.img: copy 1 at 0, copy 2 at the second range's start")
        let c1 = copy(chip, block: copy1), c2 = copy(chip, block: copy2)
        #expect(c1.bytes == Array(env[0..<(16 << 10)]) && c1.restErased)
        #expect(c2.bytes == Array(env[(2 * Self.eb)...]) && c2.restErased)
        for blk in 2...5 where blk != copy1 && blk != copy2 { #expect(erased(chip, block: blk), "block \(blk) erased") }
        // fw_env.config: the ranges (the tools skip bad blocks in them); chip-fw_env.config: the copies.
        let fw = try String(contentsOfFile: "\(b.out)/fw_env.config", encoding: .utf8)
        #expect(fw.contains("/dev/mtd1\t0x0\t0x4000\t0x20000\t2\n/dev/mtd1\t0x40000\t0x4000\t0x20000\t2\n"), "\(fw)")
        let chipConfig = try String(contentsOfFile: "\(b.out)/chip-fw_env.config", encoding: .utf8)
        #expect(chipConfig.contains("\(b.out)/bb.img\t\(hex(copy1 * Self.eb))\t0x4000\t0x20000\n\(b.out)/bb.img\t\(hex(copy2 * Self.eb))\t0x4000\t0x20000\n"), "\(chipConfig)")
        // The report: one good block spare in the range that lost one, never negative.
        #expect(b.result.out.contains("env: environment, 2 copies of 0x4000, ") && b.result.out.contains("survives 0 more bad block(s) in each copy's range"), "\(b.result.out)")
        // Flashsmith reads the chip's environment where the config says; so does fw_printenv.
        let p = try flashsmith("env", "print", "-c", "\(b.out)/chip-fw_env.config", "marker")
        #expect(p.status == 0 && p.out == "marker=bad-block-test\n", "\(p.err)")
        if let fw = which("fw_printenv") {
            let r = try run(fw, ["-c", "\(b.out)/chip-fw_env.config", "marker"])
            #expect(r.out == "marker=bad-block-test\n", "fw_printenv: \(r.out)\(r.err)")
        }
    }

    /// The case on the real board: `--bad-blocks 8` made copy 1 land in copy 2's slot and
    /// copy 2 in the kernel's first block ("survives -1"). Now each of the env's two one-block
    /// ranges needs its block: an error naming the partition, the copy, the range and the block.
    @Test func aCopyWithNoGoodBlockIsAnError() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let b = try build(badBlocks: "2,3")
        #expect(b.result.status == 65)
        #expect(b.result.err.contains("partition 'env': env copy 1 needs 1 good block(s) in its range, chip blocks 2…3, which has 0 (2 blocks, 2 bad: 2, 3)"), "\(b.result.err)")
        #expect(!FileManager.default.fileExists(atPath: b.out))
        let tight = try build(badBlocks: "5,4")
        #expect(tight.result.status == 65 && tight.result.err.contains("env copy 2 needs 1 good block(s) in its range, chip blocks 4…5, which has 0 (2 blocks, 2 bad: 4, 5)"), "\(tight.result.err)")
    }

    /// Content is checked after skipping bad blocks: 4 blocks of kernel fit the partition (blocks 6–9)
    /// but not once one is bad; the report's "survives" counts the spare good blocks.
    @Test func contentFitsOnlyPastBadBlocks() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let full = 4 * Self.eb
        let ok = try build(badBlocks: nil, kernelBytes: full)
        #expect(ok.result.status == 0 && ok.result.out.contains("kernel: file kernel.bin, \(full) bytes in 4 block(s), 0 bytes free; survives 0 more bad block(s)\n"), "\(ok.result.out)\(ok.result.err)")
        let bad = try build(badBlocks: "7", kernelBytes: full)
        #expect(bad.result.status == 65 && bad.result.err.contains("partition 'kernel': content is 524288 bytes (0x80000), the partition holds 393216 (4 blocks, 1 bad: 7)"), "\(bad.result.err)")
        let fits = try build(badBlocks: "7", kernelBytes: 2 * Self.eb)
        #expect(fits.result.status == 0 && fits.result.out.contains("kernel: file kernel.bin, \(2 * Self.eb) bytes in 2 block(s), \(2 * Self.eb) bytes free; survives 1 more bad block(s) (1 known bad)"), "\(fits.result.out)\(fits.result.err)")
        // Past the bad block: blocks 6 and 8 hold the kernel, 7 is left alone.
        let chip = try fits.chip()
        let kernel = try readBytes(fits.dir.file("kernel.bin"))
        #expect(Array(chip[(6 * Self.eb)..<(7 * Self.eb)]) == Array(kernel[0..<Self.eb]) && Array(chip[(8 * Self.eb)..<(9 * Self.eb)]) == Array(kernel[Self.eb...]))
        #expect(erased(chip, block: 7))
    }

    @Test func badBlocksPastTheChipAreRefused() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let fromBoard = try build(badBlocks: nil, board: Self.board.replacingOccurrences(of: "mtd-id: bb}", with: "mtd-id: bb, bad-blocks: [3, 32]}"))
        #expect(fromBoard.result.status == 65 && fromBoard.result.err.contains("bad-blocks: ") && fromBoard.result.err.contains("32"), "\(fromBoard.result.err)")
        // The build's own check, whatever the board file's reader lets through.
        var b = try BoardLayout.load(try fromBoard.dir.write("ok.yaml", Self.board))
        b.badBlocks = [3, 32]
        #expect(throws: BoardLayout.Failure(message: "\(b.source): bad-blocks: block 32 is past the chip's 32 blocks (0…31)")) { try b.checkBadBlocksOnChip() }
        let fromOption = try build(badBlocks: "40")
        #expect(fromOption.result.status != 0 && fromOption.result.err.contains("block 40 is past the chip's 32 blocks"), "\(fromOption.result.err)")
    }

    /// flash.cmd writes each copy from the start of its own range (U-Boot skips a bad block there
    /// as env_nand does when reading), not the whole image as one run.
    @Test func flashScriptWritesEachCopyInItsRange() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let b = try build(badBlocks: nil)
        try #require(b.result.status == 0, "\(b.result.err)")
        let cmd = try String(contentsOfFile: "\(b.out)/flash.cmd", encoding: .utf8)
        #expect(cmd.contains("tftpboot ${loadaddr} env.img && nand erase.part env && nand write ${loadaddr} env 0x4000 && setexpr fs_copy ${loadaddr} + 0x40000 && nand write ${fs_copy} 0x80000 0x4000; then"), "\(cmd)")
    }

    /// `nand show --nandsim`: everything nandsim needs to read the OOB image back: the ID (the
    /// board's, or derived from the geometry), bch= for BCH boards, badblocks= for declared ones.
    @Test(arguments: [
        ("nandsim", "id_bytes=0x20,0xf1,0x0,0x15 parts=8,2,64"),
        ("slc-4k", "id_bytes=0x20,0xdc,0x0,0x26 bch=8 parts=4,8,2,64"),
        ("s5pc100", "id_bytes=0x20,0xda,0x0,0x15 parts=2,2,40"),
    ])
    func nandsimArgumentsOfTheShippedBoards(board: String, expected: String) throws {
        let b = try BoardLayout.load("\(BoardLayoutTests.repo)/layouts/\(board)")
        #expect(try b.nandsimArguments() == expected)
    }

    @Test func nandsimArgumentsNameBadBlocksAndRefuseWhatNandsimCannotRead() throws {
        let dir = try TempDir()
        func load(_ flash: String) throws -> BoardLayout {
            try BoardLayout.load(try dir.write("board.yaml", "name: t\nflash: {\(flash)}\npartitions:\n  - {name: a, size: 1MiB}\n  - {name: b, size: rest}\n"))
        }
        let bad = try load("page: 2KiB, oob: 64, erase-block: 128KiB, chip: 128MiB, ecc: bch4, bad-blocks: [12, 3]")
        #expect(try bad.nandsimArguments() == "id_bytes=0x20,0xf1,0x0,0x15 bch=4 badblocks=3,12 parts=8")
        for (flash, message) in [
            ("page: 2KiB, oob: 64, erase-block: 128KiB, chip: 128MiB, ecc: none", "ecc: none"),
            ("page: 8KiB, oob: 448, erase-block: 1MiB, chip: 1GiB, ecc: bch8", "pages up to 4096 bytes"),
            ("page: 2KiB, oob: 64, erase-block: 128KiB, chip: 96MiB", "give the chip's READ ID bytes as flash: id-bytes:"),
            ("page: 512, oob: 16, erase-block: 16KiB, chip: 32MiB, ecc: bch4", "nandsim's BCH needs an OOB of at least 64 bytes"),
            ("type: nor, base: 0, erase-block: 64KiB, chip: 4MiB", "is NOR flash"),
        ] {
            #expect(throws: BoardLayout.Failure.self, "\(flash)") { _ = try load(flash).nandsimArguments() }
            do { _ = try load(flash).nandsimArguments() } catch { #expect("\(error)".contains(message), "\(error)") }
        }
        #expect(try load("page: 512, oob: 16, erase-block: 16KiB, chip: 32MiB").nandsimArguments() == "id_bytes=0x20,0x75 parts=64")
    }
}
