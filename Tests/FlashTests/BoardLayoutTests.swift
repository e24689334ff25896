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
