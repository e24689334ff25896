import Foundation
import Testing
import TestSupport
@testable import Board

/// Board layouts: every shipped board resolves; mtdparts= parses back to the same partitions;
/// dtc compiles the fixed-partitions node; bad layouts are refused naming the partition and numbers.
@Suite struct BoardLayoutTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let boards = ["s5pc100", "slc-4k", "nandsim"]

    @Test(arguments: boards)
    func mtdpartsParsesBack(board: String) throws {
        let b = try BoardLayout.load("\(Self.repo)/layouts/\(board)/board.yaml")
        let parsed = try BoardLayout.parseMtdparts(b.mtdparts, chipSize: b.flash.chipSize)
        #expect(parsed.id == b.flash.mtdID)
        #expect(parsed.parts.map(\.name) == b.partitions.map(\.name))
        #expect(parsed.parts.map(\.offset) == b.partitions.map(\.offset))
        #expect(parsed.parts.map(\.size) == b.partitions.map(\.size))
        #expect(parsed.parts.map(\.readOnly) == b.partitions.map(\.readOnly))
        #expect(b.partitions.last.map { $0.offset + $0.size } == b.flash.chipSize)
    }

    @Test func theClassicBoardHasUBootAtZeroIn0x40000() throws {
        let b = try BoardLayout.load("\(Self.repo)/layouts/s5pc100/board.yaml")
        #expect(b.flash.pageSize == 2048 && b.flash.eraseBlockSize == 131072)
        #expect(b.partitions[0].name == "u-boot" && b.partitions[0].offset == 0 && b.partitions[0].size == 0x40000 && b.partitions[0].readOnly)
        #expect(b.mtdparts == "mtdparts=s5p-nand:256k(u-boot)ro,256k(env),5m(kernel),-(rootfs)")
        #expect(b.badBlockReserve() == 40)
    }

    @Test(arguments: boards)
    func dtcCompilesThePartitions(board: String) throws {
        guard toolsAvailable("dtc", "fdtdump") else { return }
        let dir = try TempDir()
        let b = try BoardLayout.load("\(Self.repo)/layouts/\(board)/board.yaml")
        let dts = try dir.write("board.dts", "/dts-v1/;\n/ {\n\tnand-controller {\n" + b.deviceTreeFragment + "\t};\n};\n")
        let c = try run(try #require(which("dtc")), ["-I", "dts", "-O", "dtb", "-o", dir.file("board.dtb"), dts])
        #expect(c.status == 0, "\(c.err)")
        let dump = try run(try #require(which("fdtdump")), [dir.file("board.dtb")]).out
        for p in b.partitions {
            #expect(dump.contains("partition@\(String(p.offset, radix: 16)) {") && dump.contains("label = \"\(p.name)\""), "\(p.name)")
        }
        #expect(dump.contains("compatible = \"fixed-partitions\""))
    }

    @Test(arguments: [
        ("  - name: a\n    size: 100KiB\n", "partition 'a': size 0x19000 is not a whole number of erase blocks"),
        ("  - name: a\n    size: 1MiB\n  - name: b\n    offset: 512KiB\n    size: 1MiB\n", "partition 'b': offset 0x80000 overlaps 'a'"),
        ("  - name: a\n    size: 1GiB\n", "partition 'a': ends at 0x40000000, past the 0x10000000 chip"),
        ("  - name: a\n    size: rest\n  - name: b\n    size: 1MiB\n", "partition 'a': only the last partition can be 'rest'"),
        ("  - name: a(b)\n    size: 1MiB\n", "mtdparts= cannot carry"),
        ("  - name: a\n    offset: 0x1000\n    size: 1MiB\n", "offset 0x1000 is not on an erase-block boundary"),
    ])
    func badLayoutsAreRefused(partitions: String, expected: String) throws {
        let dir = try TempDir()
        let path = try dir.write("board.yaml", "name: t\nflash:\n  page: 2KiB\n  oob: 64\n  erase-block: 128KiB\n  chip: 256MiB\npartitions:\n" + partitions)
        do {
            _ = try BoardLayout.load(path)
            Issue.record("expected an error")
        } catch {
            #expect(String(describing: error).contains(expected) && String(describing: error).hasPrefix(path + ":"), "\(error)")
        }
    }

    @Test func showDrawsAnSVG() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let r = try flashsmith("nand", "show", "\(Self.repo)/layouts/s5pc100", "--svg", dir.file("layout.svg"))
        #expect(r.status == 0 && r.out.contains("mtd3 rootfs"), "\(r.out)\(r.err)")
        let svg = try String(contentsOfFile: dir.file("layout.svg"), encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains(">u-boot (ro)<") && svg.hasSuffix("</svg>\n"))
        let j = try flashsmith("nand", "show", "\(Self.repo)/layouts/s5pc100", "--json")
        #expect(j.out.contains("\"mtdparts\": \"mtdparts=s5p-nand:"))
    }
}

/// The classic board builds (layout only: no content) and its report says what the layout is.
@Suite struct ClassicBoardBuildTests {
    @Test func s5pc100BuildsAndReports() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let r = try flashsmith("build", "\(BoardLayoutTests.repo)/layouts/s5pc100", "-o", dir.file("out"))
        #expect(r.status == 0, "\(r.err)")
        let report = try String(contentsOfFile: dir.file("out/report.txt"), encoding: .utf8)
        #expect(report.hasPrefix("s5pc100: 256 MiB NAND, 2048-byte pages + 64 OOB, 128 KiB blocks (2048), ECC hamming\n"), "\(report)")
        for l in ["mtd0 u-boot    0x0        0x40000    2     blocks  read-only", "mtd3 rootfs    0x580000   0xfa80000  2004  blocks", "UBI bad-block reserve: 40 PEBs"] {
            #expect(report.contains(l), "\(l)\n\(report)")
        }
        #expect(try String(contentsOfFile: dir.file("out/mtdparts.txt"), encoding: .utf8) == "mtdparts=s5p-nand:256k(u-boot)ro,256k(env),5m(kernel),-(rootfs)\n")
        // The chip, erased: main area all 0xff; with OOB, 2048 + 64 per page, ECC of erased pages 0xff too.
        #expect(try FileManager.default.attributesOfItem(atPath: dir.file("out/s5pc100.img"))[.size] as? Int == 256 << 20)
        #expect(try FileManager.default.attributesOfItem(atPath: dir.file("out/s5pc100.oob.img"))[.size] as? Int == (256 << 20) / 2048 * 2112)
    }
}

/// `flashsmith build` replaces its output folder only when everything succeeded; values the
/// layout derives are never taken from the env file (and the report says which were replaced).
@Suite struct BoardBuildFailureTests {
    @Test func aFailedBuildLeavesTheOldOutputs() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        _ = try dir.write("kernel.bin", [UInt8](repeating: 7, count: 100_000))
        _ = try dir.write("env.txt", "bootargs=typed-by-hand\nbaudrate=115200\n")
        let board = try dir.write(
            "board.yaml",
            """
            name: tiny
            flash: {page: 2KiB, oob: 64, erase-block: 128KiB, chip: 4MiB}
            partitions:
              - {name: env, size: 128KiB, content: {env: env.txt}}
              - name: kernel
                size: 256KiB
                content: {file: kernel.bin}
              - {name: data, size: rest}

            """
        )
        let ok = try flashsmith("build", board, "-o", dir.file("out"))
        #expect(ok.status == 0, "\(ok.err)")
        #expect(ok.out.contains("env: bootargs in env.txt replaced by the values derived from the layout"), "\(ok.out)")
        let env = try String(contentsOfFile: dir.file("out/uboot-env.txt"), encoding: .utf8)
        #expect(env.contains("baudrate=115200") && env.contains("bootargs=mtdparts=nand0:128k(env),256k(kernel),-(data)") && !env.contains("typed-by-hand"), "\(env)")
        let before = try readBytes(dir.file("out/report.txt"))
        // Now the kernel no longer fits its partition: an error naming the partition and the numbers, OUT untouched.
        _ = try dir.write("kernel.bin", [UInt8](repeating: 7, count: 300_000))
        let bad = try flashsmith("build", board, "-o", dir.file("out"))
        #expect(bad.status == 65 && bad.err.contains("partition 'kernel': content is 300000 bytes (0x493e0), the partition holds 262144 (2 blocks)"), "\(bad.err)")
        #expect(try readBytes(dir.file("out/report.txt")) == before)
        #expect(try readBytes(dir.file("out/kernel.img")).count == 100_000)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".out.") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }
}

/// Boards that name their kernel and rootfs: FIT and uImage partition content, NOR flash mapped at
/// an address, `${sysroot}`, and what each gets wrong said in one line.
@Suite struct BoardBootContentTests {
    /// A stand-in arm64 kernel: "ARM\x64" at 0x38, as the arm64 Image header has it.
    static func fakeArm64Kernel(_ dir: TempDir) throws -> String {
        var k = [UInt8](repeating: 0, count: 200_000)
        for i in 0..<k.count { k[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
        k.replaceSubrange(0x38..<0x3C, with: [0x41, 0x52, 0x4D, 0x64])
        try FileManager.default.createDirectory(atPath: dir.file("sysroot/boot"), withIntermediateDirectories: true)
        return try dir.write("sysroot/boot/vmlinuz-6.1.0-test-arm64", k)
    }

    @Test func nandUImageFromTheBoardsKernelIsReadByMkimage() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        _ = try Self.fakeArm64Kernel(dir)
        _ = try dir.write("env.txt", "bootdelay=1\n")
        let board = try dir.write("board.yaml", """
            name: k
            sysroot: sysroot
            kernel: ${sysroot}/boot/vmlinuz-*
            flash: {page: 2KiB, oob: 64, erase-block: 128KiB, chip: 8MiB}
            partitions:
              - {name: env, size: 128KiB, content: {env: env.txt}}
              - {name: kernel, size: 1MiB, content: {uimage: {load: 0x40080000}}}
              - {name: data, size: rest}

            """)
        let r = try flashsmith("build", board, "-o", dir.file("out"))
        try #require(r.status == 0, "\(r.err)")
        #expect(r.out.contains("kernel: uImage: kernel vmlinuz-6.1.0-test-arm64 (arm64, load 0x40080000)"), "\(r.out)")
        let env = try String(contentsOfFile: dir.file("out/uboot-env.txt"), encoding: .utf8)
        #expect(env.contains("bootcmd=nand read ${loadaddr} kernel && bootm ${loadaddr} - ${fdtcontroladdr}\n"), "\(env)")
        // inspect finds the pieces in the chip's main area, on their erase-block boundaries.
        let i = try flashsmith("inspect", dir.file("out/k.img"), "--json")
        let found = (try JSONSerialization.jsonObject(with: Data(i.stdout)) as? [String: Any])?["found"] as? [[String: Any]] ?? []
        #expect(found.map { "\($0["offset"] ?? "") \($0["detail"] ?? "")" } == [
            "0 U-Boot environment (single copy), 0x20000 bytes, 5 variables",
            "131072 uImage 'k vmlinuz-6.1.0-test-arm64': AArch64 Linux Kernel Image (uncompressed), 200000 bytes of data",
        ], "\(i.out)\(i.err)")
        let random = try dir.write("random.bin", (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: (UInt64($0) &* 0x9E37_79B9_7F4A_7C15) >> 56) })
        #expect(try flashsmith("inspect", random).status != 0, "a file with nothing on its boundaries is not claimed")
        guard let mkimage = which("mkimage") else { return }
        let l = try run(mkimage, ["-l", dir.file("out/kernel.img")]).out
        for line in ["Image Name:   k vmlinuz-6.1.0-test-arm64", "Image Type:   AArch64 Linux Kernel Image (uncompressed)", "Data Size:    200000 Bytes", "Load Address: 40080000", "Entry Point:  40080000"] {
            #expect(l.contains(line), "mkimage -l lacks '\(line)':\n\(l)")
        }
    }

    @Test func norFITWithDeviceTreeBootsFromItsMappedAddress() throws {
        guard filesAvailable(flashsmithPath), let dtc = which("dtc") else { return }
        let dir = try TempDir()
        _ = try Self.fakeArm64Kernel(dir)
        let dts = try dir.write("board.dts", "/dts-v1/;\n/ { model = \"test\"; };\n")
        _ = try run(dtc, ["-I", "dts", "-O", "dtb", "-o", dir.file("board.dtb"), dts])
        _ = try dir.write("env.txt", "bootdelay=0\n")
        let board = try dir.write("board.yaml", """
            name: n
            kernel: sysroot/boot/vmlinuz-6.1.0-test-arm64
            devicetrees: [board.dtb]
            flash: {type: nor, base: 0x8000000, erase-block: 64KiB, chip: 4MiB}
            partitions:
              - {name: env, size: 64KiB, content: {env: env.txt}}
              - name: boot
                size: rest
                content: {fit: {load: 0x40080000, compression: gzip, hash: [sha256, crc32]}}

            """)
        let r = try flashsmith("build", board, "-o", dir.file("out"))
        try #require(r.status == 0, "\(r.err)")
        #expect(r.out.contains("n: 4 MiB NOR at 0x8000000, 64 KiB sectors (64)"), "\(r.out)")
        #expect(r.out.contains("boots: bootm 0x8010000#conf-1\n"), "a FIT with a DTB boots with it: \(r.out)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out/n.oob.img")), "NOR has no OOB image")
        #expect(try String(contentsOfFile: dir.file("out/fw_env.config"), encoding: .utf8).contains("/dev/mtd0\t0x0\t0x10000\t0x10000\n"))
        let cmd = try String(contentsOfFile: dir.file("out/flash.cmd"), encoding: .utf8)
        #expect(cmd.contains("if test -z \"${fs_failed}\"; then echo flashing boot (\(try FileManager.default.attributesOfItem(atPath: dir.file("out/boot.img"))[.size] as? Int ?? 0) bytes, 0x3f0000 partition); if tftpboot ${loadaddr} boot.img && protect off 0x8010000 +${filesize} && erase 0x8010000 +${filesize} && cp.b ${loadaddr} 0x8010000 ${filesize}; then true; else setenv fs_failed boot; fi; fi\n"), "\(cmd)")
        #expect(cmd.hasSuffix("if test -z \"${fs_failed}\"; then echo flashsmith: n flashed; else echo flashsmith: flashing n FAILED at ${fs_failed}; fi\n"), "\(cmd)")
        guard let mkimage = which("mkimage") else { return }
        let l = try run(mkimage, ["-l", dir.file("out/boot.img")]).out
        for line in ["Image 0 (kernel)", "Compression:  gzip compressed", "Image 1 (fdt-1)", "Type:         Flat Device Tree", "FDT:          fdt-1"] {
            #expect(l.contains(line), "mkimage -l lacks '\(line)':\n\(l)")
        }
        #expect(!l.contains("ramdisk"), "no rootfs named, so no ramdisk: \(l)")
        #expect(l.components(separatedBy: "Hash algo:    crc32").count - 1 == 2, "\(l)")
    }

    /// A FIT from its own spec (the boot-image issue's YAML): what its default configuration holds
    /// decides bootm's arguments (no ramdisk: "-"; no fdt: the firmware's tree).
    @Test func fitFromItsOwnSpec() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let k = try Self.fakeArm64Kernel(dir)
        _ = try dir.write("env.txt", "bootdelay=0\n")
        _ = try dir.write("boot.yaml", """
            description: a kernel alone, described by hand
            images:
              linux: {type: kernel, arch: arm64, os: linux, load: 0x40080000, entry: 0x40080000, data: \(k), hash: sha1}
            configurations:
              default: only
              only: {kernel: linux, description: "fdt and ramdisk nowhere"}

            """)
        let board = try dir.write("board.yaml", """
            name: s
            flash: {type: nor, base: 0x8000000, erase-block: 64KiB, chip: 4MiB}
            partitions:
              - {name: env, size: 64KiB, content: {env: env.txt}}
              - {name: boot, size: rest, content: {fit: boot.yaml}}

            """)
        let r = try flashsmith("build", board, "-o", dir.file("out"))
        try #require(r.status == 0, "\(r.err)")
        #expect(r.out.contains("boot: FIT from boot.yaml (configuration only)"), "\(r.out)")
        #expect(r.out.contains("boots: bootm 0x8010000#only - ${fdtcontroladdr}\n"), "the FIT's own default configuration: \(r.out)")
        guard let mkimage = which("mkimage") else { return }
        let l = try run(mkimage, ["-l", dir.file("out/boot.img")]).out
        #expect(l.contains("Image 0 (linux)") && l.contains("Default Configuration: 'only'") && l.contains("Hash algo:    sha1"), "\(l)")
    }

    /// `flashsmith boot --print` shows the command qemu.args holds, with the chip image made absolute
    /// and opened with snapshot=on (without --persist), and the board's relative firmware made absolute;
    /// a build without `qemu:` has no qemu.args, and boot says so in one line.
    @Test func bootPrintsTheQEMUCommandLine() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        _ = try Self.fakeArm64Kernel(dir)
        _ = try dir.write("fw.bin", [0])
        _ = try dir.write("env.txt", "bootdelay=0\n")
        let layout = """
            name: q
            kernel: sysroot/boot/vmlinuz-6.1.0-test-arm64
            QEMU
            flash: {type: nor, base: 0x4000000, erase-block: 256KiB, chip: 64MiB}
            partitions:
              - {name: env, size: 256KiB, content: {env: env.txt}}
              - {name: fit, size: rest, content: {fit: {load: 0x40400000}}}

            """
        let withQEMU = try dir.write("board.yaml", layout.replacingOccurrences(of: "QEMU", with: "qemu: {system: qemu-system-aarch64, machine: virt, cpu: cortex-a57, memory: 512, firmware: fw.bin, pflash: 1}"))
        #expect(try flashsmith("build", withQEMU, "-o", dir.file("out")).status == 0)
        let p = try flashsmith("boot", dir.file("out"), "--print")
        #expect(p.status == 0, "\(p.err)")
        let fw = try #require(realpathString(dir.file("fw.bin")))
        let out = try #require(realpathString(dir.file("out")))
        #expect(p.out == "qemu-system-aarch64 -M virt -cpu cortex-a57 -m 512 -bios \(fw) -nographic -no-reboot -nic none -drive if=pflash,format=raw,index=1,file=\(out)/q.img,snapshot=on\n", "\(p.out)")
        #expect(try flashsmith("boot", dir.file("out"), "--print", "--persist").out.hasSuffix("file=\(out)/q.img\n"))
        #expect(try flashsmith("boot", dir.file("out"), "--timeout", "0").status != 0, "--timeout 0 is refused")

        let without = try dir.write("plain.yaml", layout.replacingOccurrences(of: "QEMU\n", with: ""))
        #expect(try flashsmith("build", without, "-o", dir.file("plain")).status == 0)
        let r = try flashsmith("boot", dir.file("plain"))
        #expect(r.status != 0 && r.err.contains("qemu.args: missing (expected the QEMU command line that flashsmith build writes for a board with qemu:)"), "\(r.err)")
        #expect(r.err.split(separator: "\n").count == 1)
    }

    func realpathString(_ p: String) -> String? {
        guard let r = realpath(p, nil) else { return nil }
        defer { free(r) }
        return String(cString: r)
    }

    @Test func theKernelGlobTakesTheNewestVersion() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let k = try Self.fakeArm64Kernel(dir)
        for v in ["6.1.0-9-arm64", "6.1.0-10-arm64", "6.1.0-2-arm64"] { try FileManager.default.copyItem(atPath: k, toPath: dir.file("sysroot/boot/vmlinuz-\(v)")) }
        try FileManager.default.removeItem(atPath: k)
        let board = try dir.write("board.yaml", """
            name: v
            sysroot: sysroot
            kernel: ${sysroot}/boot/vmlinuz-*
            flash: {page: 2KiB, oob: 64, erase-block: 128KiB, chip: 8MiB}
            partitions:
              - {name: kernel, size: 1MiB, content: {uimage: {load: 0x40080000}}}
              - {name: data, size: rest}

            """)
        let r = try flashsmith("build", board, "-o", dir.file("out"))
        #expect(r.status == 0 && r.out.contains("kernel vmlinuz-6.1.0-10-arm64 (arm64"), "version order, not byte order: \(r.out)\(r.err)")
    }

    @Test(arguments: [
        ("kernel: ${sysroot}/boot/vmlinuz-*\n", "kernel: '${sysroot}/boot/vmlinuz-*' names ${sysroot}, and the board has no sysroot:"),
        ("sysroot: nowhere\nkernel: ${sysroot}/boot/vmlinuz-*\ncontent: {fit: {load: 0x1000}}\n", "board.yaml:3: kernel: nothing matches"),
        ("kernel: x/${sysroot}/vmlinuz\nsysroot: s\n", "${sysroot} can only start a path"),
        ("flash: {type: nor, erase-block: 64KiB, chip: 1MiB, ecc: bch8}\n", "NOR has no ECC in the OOB (ecc: bch8)"),
        ("flash: {type: norx, erase-block: 64KiB, chip: 1MiB}\n", "type: expected nand or nor"),
        ("flash: {type: nor, erase-block: 64KiB, chip: 8MiB}\n", "NOR needs base: (the address it is mapped at"),
        ("flash: {type: nor, base: 0x0, erase-block: 64KiB, chip: 8MiB, bad-blocks: [3]}\n", "flash: NOR has no bad blocks"),
        ("devicetrees: [x.dtb]\ncontent: {uimage: {load: 0x1000}}\n", "a uImage carries no device tree, and the board names devicetrees:"),
        ("content: {uimage: {entry: 0x1000}}\n", "uimage: the kernel's load address (load: 0x…) is missing"),
        ("content: {fit: {load: 0x1000, compression: xz}}\n", "compression: expected none or gzip"),
        ("content: {fit: {load: 0x1000, ramdisks: true}}\n", "fit: unknown key 'ramdisks'"),
        ("content: {fit: {load: 0x1000}}\n", "its content is the board's kernel, and the board names none"),
    ])
    func mistakesAreNamed(snippet: String, expected: String) throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        var yaml = "name: e\n"
        var flash = "flash: {page: 2KiB, oob: 64, erase-block: 128KiB, chip: 8MiB}\n"
        var content = ""
        for line in snippet.split(separator: "\n") {
            if line.hasPrefix("flash:") { flash = line + "\n" } else if line.hasPrefix("content:") { content = "    " + line + "\n" } else { yaml += line + "\n" }
        }
        yaml += flash + "partitions:\n  - name: boot\n    size: 1MiB\n" + content + "  - {name: data, size: rest}\n"
        let board = try dir.write("board.yaml", yaml)
        let r = try flashsmith("build", board, "-o", dir.file("out"))
        #expect(r.status != 0)
        #expect(r.err.contains(expected) && r.err.contains(board), "\(r.err)")
        #expect(r.err.split(separator: "\n").count == 1, "one line: \(r.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out")))
    }
}
