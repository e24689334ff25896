import FlashsmithCore
import Foundation
import Testing
import RootFS
import TestSupport
import YAML
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
        ("  - name: a(b)\n    size: 1MiB\n", "partition name 'a(b)': expected letters, digits and _ - . +"),
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
        #expect(env.contains("flashboot=nand read ${loadaddr} kernel && bootm ${loadaddr} - ${fdtcontroladdr}\n"), "\(env)")
        #expect(env.contains("bootcmd=run flashboot\n"), "\(env)")
        // netboot fetches the uImage to where flashboot reads it (a NAND board: ${loadaddr}), by DHCP (no network:).
        #expect(env.contains("netboot=setenv autoload no; dhcp && tftpboot ${loadaddr} kernel.img && bootm ${loadaddr} - ${fdtcontroladdr}\n"), "\(env)")
        // inspect finds the pieces in the chip's main area, on their erase-block boundaries.
        let i = try flashsmith("inspect", dir.file("out/k.img"), "--json")
        let found = (try JSONSerialization.jsonObject(with: Data(i.stdout)) as? [String: Any])?["found"] as? [[String: Any]] ?? []
        #expect(found.map { "\($0["offset"] ?? "") \($0["detail"] ?? "")" } == [
            "0 U-Boot environment (single copy), 0x20000 bytes, 8 variables",
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
        #expect(r.out.contains("flashboot: bootm 0x8010000#conf-1\n"), "a FIT with a DTB boots with it: \(r.out)")
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
        #expect(r.out.contains("flashboot: bootm 0x8010000#only - ${fdtcontroladdr}\n"), "the FIT's own default configuration: \(r.out)")
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
        ("flash: {type: norx, erase-block: 64KiB, chip: 1MiB}\n", "type: expected nand, nor or disk"),
        ("flash: {type: nor, erase-block: 64KiB, chip: 8MiB}\n", "NOR needs base: (the address it is mapped at"),
        ("flash: {type: nor, base: 0x0, erase-block: 64KiB, chip: 8MiB, bad-blocks: [3]}\n", "flash: NOR has no bad blocks"),
        ("devicetrees: [x.dtb]\ncontent: {uimage: {load: 0x1000}}\n", "a uImage carries no device tree, and the board names devicetrees:"),
        ("content: {uimage: {entry: 0x1000}}\n", "uimage: the kernel's load address (load: 0x…) is missing"),
        ("content: {fit: {load: 0x1000, compression: xz}}\n", "compression: expected none or gzip"),
        ("content: {fit: {load: 0x1000, ramdisks: true}}\n", "unknown key 'ramdisks' in partition 'boot' fit:; did you mean 'ramdisk'?"),
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

/// board.yaml read strictly: a typo is an error naming the file, the line and the nearest valid key
/// (each of the issue's examples was accepted with exit 0 and built a different image); names that
/// become file names and mtdparts= entries are checked; every number is bounded before use.
@Suite struct BoardStrictTests {
    static let flash = "flash: {page: 2KiB, oob: 64, erase-block: 128KiB, chip: 256MiB}\n"

    /// The error `BoardLayout.load` gives for `yaml` (as board.yaml in a fresh folder), or "accepted".
    static func error(_ yaml: String, files: [String: String] = [:]) throws -> (message: String, path: String) {
        let dir = try TempDir()
        for (name, text) in files { _ = try dir.write(name, text) }
        let path = try dir.write("board.yaml", yaml)
        do {
            _ = try BoardLayout.load(path)
            return ("accepted", path)
        } catch {
            return ("\(error)", path)
        }
    }

    static func expectRefused(_ yaml: String, _ expected: String) throws {
        let (m, path) = try error(yaml)
        #expect(m.hasPrefix("\(path):\(expected)"), "\(m)")
        #expect(!m.contains("\n"), "one line: \(m)")
    }

    static let typoCases: [(String, String)] = [
        ("name: t\nconsle: ttyS0\n" + flash + "partitions:\n  - {name: a, size: rest}\n",
         "2: unknown key 'consle' in the board; did you mean 'console'?"),
        ("name: t\n" + flash + "partitions:\n  - name: u-boot\n    size: 1MiB\n    read-onyl: true\n  - {name: a, size: rest}\n",
         "6: unknown key 'read-onyl' in partition 'u-boot'; did you mean 'read-only'?"),
        ("name: t\nflash:\n  page: 2KiB\n  oob: 64\n  erase-block: 128KiB\n  chip: 256MiB\n  bad-block-per-1024: 40\npartitions:\n  - {name: a, size: rest}\n",
         "7: unknown key 'bad-block-per-1024' in flash:; did you mean 'bad-blocks-per-1024'?"),
        ("name: t\n" + flash + "partitions:\n  - name: env\n    size: 256KiB\n    content:\n      env: env.txt\n      redundnat: true\n  - {name: a, size: rest}\n",
         "8: unknown key 'redundnat' in partition 'env' content; did you mean 'redundant'?"),
        ("name: t\nkernl: Image\n" + flash + "partitions:\n  - {name: a, size: rest}\n",
         "2: unknown key 'kernl' in the board; did you mean 'kernel'?"),
        ("name: t\nqemu: {system: qemu-system-aarch64, machine: virt, netdev: user}\n" + flash + "partitions:\n  - {name: a, size: rest}\n",
         "2: unknown key 'netdev' in qemu:; expected one of: system, machine, cpu, memory, firmware, pflash"),
        ("name: t\n" + flash + "partitions:\n  - name: r\n    size: rest\n    content:\n      ubi:\n        - name: root\n          size: 1MiB\n          autorezise: true\n",
         "10: unknown key 'autorezise' in UBI volume 'root'; did you mean 'autoresize'?"),
        ("name: t\n" + flash + "partitions:\n  - {name: boot, size: rest, content: {fit: {load: 0x1000, hsh: sha256}}}\n",
         "4: unknown key 'hsh' in partition 'boot' fit:; did you mean 'hash'?"),
        ("name: t\n" + flash + "partitions:\n  - {name: boot, size: rest, content: {uimage: {load: 0x1000, entyr: 0x1000}}}\n",
         "4: unknown key 'entyr' in partition 'boot' uimage:; did you mean 'entry'?"),
        ("name: t\noveride: {bootcmd: run x}\n" + flash + "partitions:\n  - {name: a, size: rest}\n",
         "2: unknown key 'overide' in the board; did you mean 'override'?"),
        ("name: t\noverride:\n  bootcmdd: run x\n" + flash + "partitions:\n  - {name: a, size: rest}\n",
         "3: unknown key 'bootcmdd' in override:; did you mean 'bootcmd'?"),
        ("name: t\n" + flash + "partitions:\n  - {name: a, size: rest, sise: 1MiB}\n",
         "4: unknown key 'sise' in partition 'a'; did you mean 'size'?"),
        ("name: t\nflash: {page: 2KiB, oob: 64, erase-block: 128KiB, chip: 256MiB}\npartitions:\n  - {name: a, size: rest}\nname: u\n",
         "5: duplicate key 'name' (first on line 1)"),
    ]

    @Test(arguments: typoCases)
    func typosNameTheNearestKey(yaml: String, expected: String) throws {
        try Self.expectRefused(yaml, expected)
    }

    static let contentCases: [(String, String)] = [
        ("  - {name: a, size: 1MiB, content: {file: a.bin, env: env.txt}}\n", "4: partition 'a' content: expected one of file:, env:, ubi:, fit:, uimage:, found file: and env:"),
        ("  - {name: a, size: 1MiB, content: {file: a.bin, redundant: true}}\n", "4: partition 'a' content: 'redundant' goes with env:, not file:"),
        ("  - {name: a, size: 1MiB, read-only: maybe}\n", "4: read-only: expected true or false, found 'maybe'"),
        ("  - {name: a, size: 1MiB, content: {env: e.txt, redundant: True1}}\n", "4: redundant: expected true or false"),
        ("  - {name: a, size: 1MiB, content: {ubi: [{name: v, size: 64KiB, type: statc}]}}\n", "4: partition 'a' content: volume v type: expected dynamic or static"),
        ("  - {name: a, size: 1MiB, content: {ubi: [{name: v, size: 64KiB, autoresize: true}, {name: w, size: 64KiB, autoresize: true}]}}\n",
         "4: partition 'a' content: volume w: autoresize: volume 'v' already has it"),
        ("  - {name: a, size: 1MiB, content: {fit: {load: 0x100000000}}}\n", "4: partition 'a' content: fit: load: expected a 32-bit address"),
        ("  - {name: a, size: 1MiB, content: {fit: {load: 0x1000, hash: sha3}}}\n", "4: partition 'a' content: fit: hash: expected crc16-ccitt"),
    ]

    @Test(arguments: contentCases)
    func contentMistakes(partition: String, expected: String) throws {
        try Self.expectRefused("name: t\n" + Self.flash + "partitions:\n" + partition + "  - {name: z, size: rest}\n", expected)
    }

    static let nameCases: [(String, String)] = [
        ("name: t\n" + flash + "partitions:\n  - {name: u-boot, size: 1MiB}\n  - {name: u-boot, size: rest}\n",
         "5: partition name 'u-boot' is already used on line 4: mtdparts= and the output's file names need each once"),
        ("name: t\n" + flash + "partitions:\n  - {name: my kernel, size: 1MiB}\n  - {name: a, size: rest}\n",
         "4: partition name 'my kernel': expected letters, digits and _ - . + (not starting with - or .), and it has 'a space'"),
        ("name: t\n" + flash + "partitions:\n  - {name: a/b, size: rest}\n", "4: partition name 'a/b': expected letters, digits and _ - . + (not starting with - or .), and it has '/'"),
        ("name: t\n" + flash + "partitions:\n  - {name: '-x', size: rest}\n", "4: partition name '-x': expected letters, digits and _ - . + (not starting with - or .), and it starts with '-'"),
        ("name: t\n" + flash + "partitions:\n  - {name: 'a,b', size: rest}\n", "4: partition name 'a,b': expected letters, digits and _ - . + (not starting with - or .), and it has ','"),
        ("name: t\n" + flash + "partitions:\n  - {name: 'a:b', size: rest}\n", "4: partition name 'a:b'"),
        ("name: t\n" + flash + "partitions:\n  - {name: 'a(b)', size: rest}\n", "4: partition name 'a(b)'"),
        ("name: ../../evil\n" + flash + "partitions:\n  - {name: a, size: rest}\n", "1: name '../../evil': expected letters, digits and _ - . + (not starting with - or .), and it starts with '.'"),
        ("name: x/evil\n" + flash + "partitions:\n  - {name: a, size: rest}\n", "1: name 'x/evil'"),
        ("name: t\nflash: {page: 2KiB, oob: 64, erase-block: 128KiB, chip: 256MiB, mtd-id: 'a:b'}\npartitions:\n  - {name: a, size: rest}\n", "2: mtd-id 'a:b'"),
        ("name: t\n" + flash + "partitions:\n  - {name: a, size: rest, content: {ubi: [{name: ../x, size: 1MiB}]}}\n", "4: partition 'a' content: UBI volume name '../x'"),
        ("name: t\n" + flash + "partitions:\n  - {name: a, size: rest, content: {ubi: [{name: v, size: 1MiB}, {name: v, size: 1MiB}]}}\n",
         "4: partition 'a' content: UBI volume name 'v' is already used on line 4"),
    ]

    @Test(arguments: nameCases)
    func namesThatBecomeFileNames(yaml: String, expected: String) throws {
        try Self.expectRefused(yaml, expected)
    }

    @Test func aBoardNamedByItsFolderNeedsAUsableFolderName() throws {
        let dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.file("my board"), withIntermediateDirectories: true)
        let path = try dir.write("my board/board.yaml", Self.flash + "partitions:\n  - {name: a, size: rest}\n")
        #expect(throws: (any Error).self) { _ = try BoardLayout.load(path) }
        let ok = try dir.write("my board/board.yaml", "name: mine\n" + Self.flash + "partitions:\n  - {name: a, size: rest}\n")
        #expect(try BoardLayout.load(ok).name == "mine")
    }

    static func nand(_ flash: String) -> String { "name: t\nflash: {\(flash)}\npartitions:\n  - {name: a, size: rest}\n" }

    static let numberCases: [(String, String)] = [
        (nand("page: 0, oob: 64, erase-block: 128KiB, chip: 256MiB"), "2: page:"),
        (nand("page: 2KiB, oob: 64, erase-block: 0, chip: 256MiB"), "2: erase-block:"),
        (nand("page: 2KiB, oob: 64, erase-block: 128KiB, chip: 256MiB, sub-page: 0"), "2: sub-page:"),
        (nand("page: 2KiB, oob: 64, erase-block: 128KiB, chip: 256MiB, sub-page: 100"), "2: sub-page 100: expected 2048, 1024 or 512"),
        (nand("page: 2KiB, oob: 0, erase-block: 128KiB, chip: 256MiB"), "2: flash: OOB size 0: expected 16…256 for 2048-byte pages"),
        (nand("page: 2KiB, oob: 64, erase-block: 96KiB, chip: 96MiB"), "2: flash: erase block 98304: expected a power-of-two number of 2048-byte pages"),
        (nand("page: 2KiB, oob: 64, erase-block: 128KiB, chip: 0x7ffffffffffe0000"), "2: chip:"),
        (nand("page: 2KiB, oob: 64, erase-block: 128KiB, chip: 0x8000000000000000"), "2: chip:"),
        (nand("page: 2KiB, oob: 64, erase-block: 128KiB, chip: 100KiB"), "2: chip 0x19000 is not a multiple of the erase block 0x20000"),
        (nand("page: 512, oob: 16, erase-block: 512, chip: 64GiB"), "2: chip: 134217728 erase blocks, expected at most 1048576"),
        (nand("page: 2KiB, oob: 64, erase-block: 128KiB, chip: 256MiB, bad-blocks-per-1024: 18446744073709551615"), "2: bad-blocks-per-1024: expected a number 0…768"),
        (nand("page: 2KiB, oob: 64, erase-block: 128KiB, chip: 256MiB, bad-blocks-per-1024: 1000"), "2: bad-blocks-per-1024: expected a number 0…768"),
        (nand("page: 2KiB, oob: 64, erase-block: 128KiB, chip: 256MiB, bad-blocks-per-1024: many"), "2: bad-blocks-per-1024: expected a number 0…768, found 'many'"),
        (nand("page: 2KiB, oob: 64, erase-block: 128KiB, chip: 256MiB, bad-blocks: [2048]"), "2: bad-blocks: expected block numbers below 2048"),
        (nand("page: 2KiB, oob: 64, erase-block: 128KiB, chip: 256MiB, bad-blocks: [9223372036854775808]"), "2: bad-blocks: expected block numbers below 2048"),
        (nand("page: 2KiB, oob: 64, erase-block: 128KiB, chip: 256MiB, id-bytes: [1, 2, 3, 4, 5, 6, 7, 8, 9]"), "2: id-bytes: expected a list of 1…8 bytes"),
        (nand("page: 2KiB, oob: 64, erase-block: 128KiB, chip: 256MiB, id-bytes: [256]"), "2: id-bytes: expected a number 0…255"),
        (nand("page: 4KiB, oob: 64, erase-block: 256KiB, chip: 256MiB, ecc: bch8"), "2: ecc: bch8 on 4096-byte pages with 64 OOB bytes:"),
        (nand("page: 4KiB, oob: 224, erase-block: 256KiB, chip: 256MiB, ecc: hamming"), "2: ecc: hamming on 4096-byte pages with 224 OOB bytes:"),
        (nand("page: 2KiB, oob: 64, erase-block: 128KiB, chip: 256MiB, base: 0x1000"), "2: flash: base: is for NOR"),
        (nand("type: nor, base: 0, erase-block: 1, chip: 1MiB"), "2: erase-block:"),
        (nand("type: nor, base: 0, erase-block: 96KiB, chip: 96MiB"), "2: erase-block 0x18000: expected a power of two"),
        (nand("type: nor, base: 0xffffffffffff0000, erase-block: 64KiB, chip: 1MiB"), "2: base:"),
        (nand("type: nor, base: 0xffffffff0000, erase-block: 64KiB, chip: 1MiB"), "2: base 0xffffffff0000 + chip 0x100000 ends past"),
        (nand("type: nor, base: 0, erase-block: 64KiB, chip: 1MiB, oob: 16"), "2: flash: NOR has no oob"),
        ("name: t\nqemu: {system: q, machine: virt, memory: 9223372036854775808}\n" + flash + "partitions:\n  - {name: a, size: rest}\n", "2: qemu: memory (MiB): expected a number 1…1048576"),
        ("name: t\n" + flash + "partitions:\n  - {name: a, offset: 0x7fffffffffffffff, size: 1MiB}\n", "4: partition 'a' offset:"),
        ("name: t\n" + flash + "partitions:\n  - {name: a, size: 0x7fffffffffffffff}\n", "4: partition 'a' size:"),
        ("name: t\n" + flash + "partitions:\n  - {name: a, size: 1MiB}\n  - {name: b, offset: 255MiB, size: 2MiB}\n", "5: partition 'b': ends at 0x10100000, past the 0x10000000 chip"),
        ("name: t\n" + flash + "partitions:\n  - {name: a, size: rest, content: {ubi: [{name: v, size: 0x7fffffffffffffff}]}}\n", "4: partition 'a' content: volume v size: expected a size of at most 64GiB"),
        ("name: t\n" + flash + "partitions:\n  - {name: a, size: 1MiB, content: {ubi: [{name: v, size: 2MiB}]}}\n  - {name: z, size: rest}\n",
         "4: UBI volume 'v': size 0x200000 is larger than its partition 'a' (0x100000)"),
        ("name: t\n" + flash + "partitions:\n  - {name: a, size: 256KiB, content: {env: e.txt, size: 256KiB}}\n  - {name: z, size: rest}\n",
         "4: partition 'a': env size 0x40000 is larger than an erase block (0x20000)"),
        ("name: t\n" + flash + "partitions:\n  - {name: a, size: 128KiB, content: {env: e.txt, redundant: true}}\n  - {name: z, size: rest}\n",
         "4: partition 'a': 2 env copies need 2 erase blocks, the partition has 1"),
        ("name: t\nflash: {page: 4KiB, oob: 128, erase-block: 4MiB, chip: 1GiB, ecc: bch8}\npartitions:\n  - {name: a, size: rest, content: {ubi: [{name: v, size: 8MiB}]}}\n",
         "4: partition 'a': UBI on this flash: PEB size 4194304: expected at most 2 MiB"),
        ("name: t\narch: arm65\n" + flash + "partitions:\n  - {name: a, size: rest}\n", "2: arch: expected one of U-Boot's architectures"),
        ("name: t\nconsole: [a, b]\n" + flash + "partitions:\n  - {name: a, size: rest}\n", "2: console: expected a string, found a list"),
        ("name: t\n" + flash + "partitions:\n  - {name: a, size: rest}\noverride: {mtdparts: 'nand0:99999999999999999999g(a)'}\n",
         "5: override: mtdparts: mtdparts: '99999999999999999999g(a)'"),
        ("name: t\nconsole: ttyS0\n" + flash + "partitions:\n  - {name: a, size: rest}\noverride: {bootargs: quiet}\n",
         "2: console: adds to the derived bootargs, which override: bootargs: replaces"),
    ]

    @Test(arguments: numberCases)
    func numbersAreBoundedBeforeUse(yaml: String, expected: String) throws {
        try Self.expectRefused(yaml, expected)
    }

    /// Every board, rootfs spec and skeleton the project ships still loads.
    @Test func shippedFilesLoad() throws {
        let repo = BoardLayoutTests.repo
        for board in BoardLayoutTests.boards + ["qemu-arm64"] {
            let b = try BoardLayout.load("\(repo)/layouts/\(board)")
            #expect(!b.partitions.isEmpty)
        }
        for spec in ["nandsim", "qemu-arm64"] {
            #expect(try !RootFSSpec.load("\(repo)/layouts/\(spec)/rootfs.yaml", skeletonPaths: ["\(repo)/rootfs-skeletons"]).layers.isEmpty)
        }
        for s in ["base", "criu", "criu-node", "nfs-dev"] {
            let text = try String(contentsOfFile: "\(repo)/rootfs-skeletons/\(s)/skeleton.yaml", encoding: .utf8)
            let root = try #require(try YAML.parse(text, source: s))
            try root.strictMapping(["description", "extends"], in: "skeleton.yaml", source: s)
        }
    }

    @Test func overridesAreRead() throws {
        let dir = try TempDir()
        let path = try dir.write("board.yaml", "name: t\n" + Self.flash + "partitions:\n  - {name: a, size: rest}\noverride:\n  bootcmd: run boot_a\n  bootargs: console=ttyS2 root=/dev/mtdblock0\n  mtdparts: 'mtdparts=other:-(a)'\n")
        let b = try BoardLayout.load(path)
        #expect(b.overrides == BoardLayout.Overrides(bootcmd: "run boot_a", bootargs: "console=ttyS2 root=/dev/mtdblock0", mtdparts: "mtdparts=other:-(a)"))
        #expect(b.bootargsMtdparts == "mtdparts=other:-(a)")
    }
}

/// `nand show` loads a board as `build` does: the geometry `build` cannot lay out is refused by both,
/// with the same file and line (BCH-8 on a 4 KiB page needs 104 OOB bytes, the board has 64).
@Suite struct BoardShowAndBuildAgreeTests {
    @Test func bch8WithoutRoomInTheOOB() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let board = try dir.write("board.yaml", "name: t\nflash:\n  page: 4KiB\n  oob: 64\n  erase-block: 256KiB\n  chip: 64MiB\n  ecc: bch8\npartitions:\n  - {name: a, size: rest}\n")
        let expected = "\(board):7: ecc: bch8 on 4096-byte pages with 64 OOB bytes:"
        for args in [["nand", "show", board], ["nand", "show", board, "--nandsim"], ["build", board, "-o", dir.file("out")]] {
            let r = try flashsmith(args)
            #expect(r.status == 65 && r.err.contains(expected) && r.err.split(separator: "\n").count == 1, "\(args): \(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("out")))
    }

    /// `name: ../../evil` made build write evil.img two folders above its output.
    @Test func aBoardNameCannotLeaveTheOutput() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.file("a/b"), withIntermediateDirectories: true)
        let board = try dir.write("a/b/board.yaml", "name: ../../evil\nflash: {type: nor, base: 0, erase-block: 64KiB, chip: 1MiB}\npartitions:\n  - {name: a, size: rest}\n")
        let r = try flashsmith("build", board, "-o", dir.file("a/b/out"))
        #expect(r.status == 65 && r.err.contains("\(board):1: name '../../evil'"), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("evil.img")) && !FileManager.default.fileExists(atPath: dir.file("a/evil.img")))
    }
}

/// Values a board derives can be replaced by `override:`; each lands in env.img as given, read back
/// by Flashsmith's reader and by libubootenv's fw_printenv.
@Suite struct BoardOverrideTests {
    @Test func overridesLandInTheEnvironment() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        _ = try dir.write("env.txt", "bootdelay=1\nbootcmd=typed-by-hand\n")
        let board = try dir.write("board.yaml", """
            name: o
            flash: {page: 2KiB, oob: 64, erase-block: 128KiB, chip: 8MiB, mtd-id: mynand}
            override:
              bootcmd: ubi part rootfs && ubifsmount ubi0:rootfs && ubifsload ${loadaddr} /boot/Image && booti ${loadaddr} - ${fdtcontroladdr}
              bootargs: console=ttyS2,1500000 root=ubi0:rootfs rootfstype=ubifs ubi.mtd=1 mtdparts=mynand:128k(env),-(rootfs)
              mtdparts: mtdparts=mynand:128k(env),-(rootfs)
            partitions:
              - {name: env, size: 128KiB, content: {env: env.txt}}
              - {name: rootfs, size: rest}

            """)
        let r = try flashsmith("build", board, "-o", dir.file("out"))
        try #require(r.status == 0, "\(r.err)")
        let expected = [
            "bootcmd": "ubi part rootfs && ubifsmount ubi0:rootfs && ubifsload ${loadaddr} /boot/Image && booti ${loadaddr} - ${fdtcontroladdr}",
            "bootargs": "console=ttyS2,1500000 root=ubi0:rootfs rootfstype=ubifs ubi.mtd=1 mtdparts=mynand:128k(env),-(rootfs)",
            "mtdparts": "mtdparts=mynand:128k(env),-(rootfs)",
            "mtdids": "nand0=mynand",
            "bootdelay": "1",
        ]
        let env = dir.file("out/env.img")
        for (name, value) in expected {
            let p = try flashsmith("env", "print", env, "-n", name)
            #expect(p.status == 0 && p.out == value + "\n", "\(name): \(p.out)\(p.err)")
        }
        #expect(r.out.contains("  boots: \(expected["bootcmd"] ?? "") (override: bootcmd)\n"), "\(r.out)")
        guard toolsAvailable("fw_printenv") else { return }
        let size = try FileManager.default.attributesOfItem(atPath: env)[.size] as? Int ?? 0
        let cfg = try dir.write("fw_env.config", "\(env) 0x0 \(hex(min(size, 0x20000)))\n")
        for (name, value) in expected {
            let f = try run("fw_printenv", ["-c", cfg, "-n", name])
            #expect(f.status == 0 && f.out == value + "\n", "fw_printenv \(name): \(f.out)\(f.err)")
        }
    }
}

/// A board's `busybox:` goes into its rootfs before the spec's tables, as on the command line, so a
/// device table can name an applet (it was "expected a regular file in the image, found nothing").
@Suite struct BoardBusyboxOrderTests {
    @Test func deviceTableNamesAnApplet() throws {
        guard filesAvailable(flashsmithPath, "/bin/busybox") else { return }
        let dir = try TempDir()
        _ = try dir.write("table.txt", "/bin/ping f 4755 0 0 - - - - -\n")
        _ = try dir.write("rootfs.yaml", "layers:\n  - devices: table.txt\n")
        let board = try dir.write("board.yaml", """
            name: bb
            busybox: /bin/busybox
            rootfs: rootfs.yaml
            flash: {type: nor, base: 0x0, erase-block: 64KiB, chip: 1MiB}
            partitions:
              - {name: a, size: rest}

            """)
        let r = try flashsmith("build", board, "-o", dir.file("out"))
        try #require(r.status == 0, "\(r.err)")
        let ls = try flashsmith("rootfs", "ls", dir.file("out/rootfs.cpio.gz")).out
        #expect(ls.contains("./bin/busybox type=file mode=04755 "), "\(ls.prefix(2000))")
    }
}
