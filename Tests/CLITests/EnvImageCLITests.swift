import Foundation
import Testing
import TestSupport

/// Every environment Flashsmith writes, Flashsmith reads back: a NAND board's env.img (copy 2 at the
/// partition's second half; also as the earlier builds trimmed it), the environment inside the chip
/// image (--offset/--redundant, or build's chip-fw_env.config, which fw_printenv reads too); tiny
/// files are errors, not crashes; a symlink is edited through.
@Suite struct EnvImageCLITests {
    static let board = """
        name: bb
        flash: {page: 2KiB, oob: 64, erase-block: 128KiB, chip: 4MiB, mtd-id: bb}
        partitions:
          - {name: u-boot, size: 256KiB}
          - {name: env, size: 512KiB, content: {env: env.txt, redundant: true, size: 16KiB}}
          - {name: kernel, size: 512KiB}
          - {name: data, size: rest}

        """

    func build(_ dir: TempDir, badBlocks: String = "2") throws -> String {
        _ = try dir.write("env.txt", "bootdelay=3\nmarker=first\n")
        let yaml = try dir.write("board.yaml", Self.board)
        let r = try flashsmith("build", yaml, "-o", dir.file("out"), "--bad-blocks", badBlocks)
        try #require(r.status == 0, "\(r.err)")
        return dir.file("out")
    }

    @Test func envImgIsReadByPrintAndInspect() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let out = try build(dir)
        let p = try flashsmith("env", "print", "\(out)/env.img")
        #expect(p.status == 0 && p.out.contains("# copy 2 at 0x40000: CRC ok") && p.out.contains("marker=first\n"), "\(p.out)\(p.err)")
        let i = try flashsmith("inspect", "\(out)/env.img")
        #expect(i.status == 0 && i.out.contains("U-Boot environment") && i.out.contains("offset 0x40000, CRC ok"), "\(i.out)\(i.err)")
        // As builds wrote it before: trailing 0xff trimmed (the nandsim board's was 131,485 bytes).
        var bytes = try readBytes("\(out)/env.img")
        while bytes.last == 0xFF { bytes.removeLast() }
        let trimmed = try dir.write("trimmed.img", bytes)
        let t = try flashsmith("env", "print", trimmed, "marker")
        #expect(t.status == 0 && t.out == "marker=first\n", "\(t.err)")
        let it = try flashsmith("inspect", trimmed)
        #expect(it.status == 0 && it.out.contains("U-Boot environment"), "\(it.out)\(it.err)")
        // And edited: the inactive copy 2 gets the new values and the next flag.
        let s = try flashsmith("env", "set", "\(out)/env.img", "marker=second")
        #expect(s.status == 0, "\(s.err)")
        let after = try flashsmith("env", "print", "\(out)/env.img")
        #expect(after.out.contains("U-Boot uses copy 2") && after.out.contains("marker=second\n"), "\(after.out)\(after.err)")
    }

    /// The environment in the chip image: copy 1 at block 3 (block 2 is bad), copy 2 at block 4.
    @Test func theChipImagesEnvironmentByOffsetAndByConfig() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let out = try build(dir)
        let chip = "\(out)/bb.img"
        let byOffset = try flashsmith("env", "print", chip, "--offset", "0x60000", "--redundant", "0x80000", "marker")
        #expect(byOffset.status == 0 && byOffset.out == "marker=first\n", "\(byOffset.err)")
        let sized = try flashsmith("env", "print", chip, "--offset", "0x60000", "--redundant", "0x80000", "-s", "16KiB", "--json")
        #expect(sized.status == 0 && sized.out.contains("\"size\": 16384"), "\(sized.err)")
        let config = try String(contentsOfFile: "\(out)/chip-fw_env.config", encoding: .utf8)
        #expect(config.contains("\(chip)\t0x60000\t0x4000\t0x20000\n\(chip)\t0x80000\t0x4000\t0x20000\n"), "\(config)")
        let set = try flashsmith("env", "set", "-c", "\(out)/chip-fw_env.config", "marker=from-chip")
        #expect(set.status == 0, "\(set.err)")
        let back = try flashsmith("env", "print", chip, "--offset", "0x60000", "--redundant", "0x80000", "marker")
        #expect(back.out == "marker=from-chip\n", "\(back.out)\(back.err)")
        #expect(try readBytes(chip).count == 4 << 20)
        if let fw = which("fw_printenv") {
            let r = try run(fw, ["-c", "\(out)/chip-fw_env.config", "marker"])
            #expect(r.out == "marker=from-chip\n", "libubootenv reads the chip image through chip-fw_env.config: \(r.out)\(r.err)")
        }
        // Mistakes: one line each.
        let nothing = try flashsmith("env", "print", chip, "--offset", "0x50000")
        #expect(nothing.status == 65 && nothing.err.contains("whose CRC checks") && nothing.err.contains("--redundant"), "\(nothing.err)")
        let past = try flashsmith("env", "print", chip, "--offset", "0x1000000")
        #expect(past.status == 65 && past.err.contains("--offset 0x1000000 inside the file"), "\(past.err)")
        #expect(try flashsmith("env", "print", chip, "--redundant", "0x80000").status == 64)
    }

    /// An 8-byte file crashed inspect, env print, env set and env diff (the redundant-copy probe
    /// sliced a 4-byte buffer): now errors.
    @Test(arguments: [[UInt8](repeating: 0, count: 8), [UInt8](repeating: 0xFF, count: 8), [1, 2, 3, 4, 5, 6, 7, 8], [UInt8](repeating: 0, count: 10)])
    func tinyFilesAreErrors(bytes: [UInt8]) throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let f = try dir.write("tiny.bin", bytes)
        for args in [["inspect", f], ["env", "print", f], ["env", "set", f, "a=1"], ["env", "diff", f, f]] {
            let r = try flashsmith(args)
            #expect(r.status > 0 && r.status < 128 && r.err.hasPrefix("flashsmith"), "\(args): status \(r.status): \(r.err)")
        }
        #expect(try readBytes(f) == bytes)
    }

    /// `env set` on a symlink edits the file it points to; the link stays a link.
    @Test func setEditsThroughASymlink() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        _ = try dir.write("env.txt", "a=1\n")
        #expect(try flashsmith("env", "create", "-s", "0x1000", "-o", dir.file("real.bin"), dir.file("env.txt")).status == 0)
        try FileManager.default.createSymbolicLink(atPath: dir.file("link.bin"), withDestinationPath: "real.bin")
        let r = try flashsmith("env", "set", dir.file("link.bin"), "a=2")
        #expect(r.status == 0, "\(r.err)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir.file("link.bin")) == "real.bin")
        #expect(try flashsmith("env", "print", dir.file("real.bin")).out == "a=2\n")
    }
}
