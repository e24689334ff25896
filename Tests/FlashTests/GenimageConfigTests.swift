import Board
import FlashsmithCore
import Foundation
import Testing
import TestSupport

/// genimage.cfg read as genimage reads it (libconfuse's syntax, genimage's option tables), and
/// mapped to board.yaml: a table of snippets and what they must give, and of malformed ones and
/// the FILE:LINE error each must be.
@Suite struct GenimageConfigTests {
    static func parse(_ text: String, env: [String: String] = [:]) throws -> GenimageConfig {
        try GenimageConfig.parse(text, source: "genimage.cfg", environment: env)
    }

    /// Values as libconfuse and genimage read them.
    @Test(arguments: [
        // (config, image option "size" of image 'a' after parsing)
        ("image a { file {} name = 64M }", "64M"),
        ("image a { file {} name = \"64M\" }", "64M"),
        ("image a { file {} name = '64M' }", "64M"),
        ("image a {\n file {}\n # comment = x\n name = 1k // another\n}", "1k"),
        ("image a { /* name = 9\n */ file {} name = 3s }", "3s"),
        ("image a { file {} name = ${SIZE} }", "32M"),
        ("image a { file {} name = \"${SIZE}\" }", "32M"),
        ("image a { file {} name = \"${UNSET:-5M}\" }", "5M"),
        ("image a { file {} name = \"${UNSET}\" }", ""),
        ("image a { file {} name = '${SIZE}' }", "${SIZE}"),
        ("image a { file {} name = \"1\\x30\\060k\" }", "100k"),
        ("image a { file {} name = 1M name = 2M }", "2M"),
        ("image a {\r\n file {}\r\n name = 7M\r\n}\r\n", "7M"),
    ])
    func values(_ text: String, _ size: String) throws {
        let c = try Self.parse(text, env: ["SIZE": "32M"])
        #expect(c.images.first?.string("name") == size)
    }

    @Test func listsAppendAndRestart() throws {
        let c = try Self.parse("image v { vfat { files = { \"a\", b } files += \"c\" } size = 1M }\nimage w { vfat { files = a files = { b } } size = 1M }")
        #expect(c.images[0].sections("vfat")[0].list("files") == ["a", "b", "c"])
        #expect(c.images[1].sections("vfat")[0].list("files") == ["b"])
    }

    @Test func includeSplicesAFileAtItsLine() throws {
        let dir = try TempDir()
        _ = try dir.write("flash.cfg", "flash nand-64M {\n  pebsize = 16k\n  numpebs = 4096\n  bogus = 1\n}\n")
        let cfg = try dir.write("genimage.cfg", "include(\"flash.cfg\")\nimage a { file {} }\n")
        #expect(throws: GenimageConfig.Failure.self) { try GenimageConfig.load(cfg, environment: [:], includePaths: [dir.path]) }
        do {
            _ = try GenimageConfig.load(cfg, environment: [:], includePaths: [dir.path])
        } catch {
            #expect("\(error)".hasPrefix("\(dir.path)/flash.cfg:4: flash 'nand-64M': unknown option 'bogus'"), "\(error)")
        }
        _ = try dir.write("flash.cfg", "flash nand-64M {\n  pebsize = 16k\n  numpebs = 4096\n}\n")
        let c = try GenimageConfig.load(cfg, environment: [:], includePaths: [dir.path])
        #expect(c.flashTypes.first?.string("numpebs") == "4096")
        #expect(c.images.count == 1)
    }

    /// Every malformed config: one line, FILE:LINE, what was expected (the nearest option for a typo).
    @Test(arguments: [
        ("image a {\n  hdimage {}\n  partition p { sise = 1M }\n}", "genimage.cfg:3: partition 'p': unknown option 'sise'; did you mean 'size'?"),
        ("image a {\n  hdimag {}\n}", "genimage.cfg:2: image 'a': unknown option 'hdimag'; did you mean 'hdimage'?"),
        ("image a {\n  hdimage { partition-table-typ = gpt }\n}", "genimage.cfg:2: hdimage: unknown option 'partition-table-typ'; did you mean 'partition-table-type'?"),
        ("image a { size = 1M }", "genimage.cfg:1: image 'a': no image type given"),
        ("image a { file {}\n vfat {} }", "genimage.cfg:2: image 'a': a second image type (vfat), after file on line 1"),
        ("image a { file {} size = 64MiB }", "genimage.cfg:1: image 'a': size '64MiB': 'iB' after the suffix 'M'"),
        ("image a { file {} size = 12X }", "genimage.cfg:1: image 'a': size '12X': unknown suffix 'X'"),
        ("image a { hdimage {}\n partition p { offset = 1% } }", "genimage.cfg:2: partition 'p': offset '1%': '%' is only for an image's size"),
        ("image a { file {} size = -1 }", "genimage.cfg:1: image 'a': size '-1': expected a number without sign"),
        ("image a { file {} size = 99999999999999999999 }", "genimage.cfg:1: image 'a': size '99999999999999999999': expected a number"),
        ("image a { file {} size = 0x7fffffffffffffffG }", "genimage.cfg:1: image 'a': size '0x7fffffffffffffffG': too large"),
        ("image a { hdimage {}\n partition p { bootable = maybe } }", "genimage.cfg:2: partition 'p': bootable: expected true or false"),
        ("image a { hdimage {}\n partition p { partition-type = 0x8g } }", "genimage.cfg:2: partition 'p': partition-type: expected an integer"),
        ("image a { file {} size += 1 }", "genimage.cfg:1: image 'a': '+=' on 'size', which is not a list"),
        ("image a { file {} size 1M }", "genimage.cfg:1: image 'a': expected '=' after 'size', found '1M'"),
        ("image a {\n file {}\n", "genimage.cfg:3: image 'a' (line 1): the file ends before its closing '}'"),
        ("}", "genimage.cfg:1: a '}' that closes nothing"),
        ("image a { file {} size = \"1M }\n", "genimage.cfg:1: a string that is never closed"),
        ("image a { file {} size = '1M }\n", "genimage.cfg:1: a string that is never closed"),
        ("/* image a {\n", "genimage.cfg:1: a '/*' comment that is never closed"),
        ("image a { file {} size = \"\\400\" }", "genimage.cfg:1: invalid octal escape"),
        ("image a { file {} size = \"\\9\" }", "genimage.cfg:1: bad escape sequence"),
        ("image a { file {} } * ", "genimage.cfg:1: a '*' outside a comment or string"),
        ("image a { file {} } + ", "genimage.cfg:1: a '+' that is not '+='"),
        ("image { file {} }", "genimage.cfg:1: the top level: expected a name after 'image', found '{'"),
        ("image a { vfat { files = { a b } } }", "genimage.cfg:1: vfat: files: expected ',' or '}', found 'b'"),
        ("include(\"/nonexistent/x.cfg\")", "genimage.cfg:1: include(\"/nonexistent/x.cfg\"): no such file"),
        ("include(\"a\", \"b\")", "genimage.cfg:1: include takes one file name"),
        ("imag a {}", "genimage.cfg:1: the top level: unknown option 'imag'; did you mean 'image'?"),
        ("config { rootpth = x }", "genimage.cfg:1: config: unknown option 'rootpth'; did you mean 'rootpath'?"),
        ("image a { file {} }\u{0}", "genimage.cfg:1: a NUL byte"),
    ])
    func malformed(_ text: String, _ expected: String) {
        do {
            _ = try Self.parse(text)
            Issue.record("accepted: \(text)")
        } catch {
            #expect("\(error)".hasPrefix(expected), "\(error)")
            #expect(!"\(error)".contains("\n"))
        }
    }

    /// genimage's sizes: strtoull(…, 0) and one suffix.
    @Test(arguments: [
        ("1024", 1024), ("0x400", 1024), ("010", 8), ("1k", 1024), ("1K", 1024), ("2M", 2 << 20), ("1G", 1 << 30), ("3s", 1536), ("", 0), ("0", 0),
    ])
    func sizes(_ text: String, _ bytes: Int) throws {
        #expect(try GenimageConfig.size(text).bytes == bytes)
    }

    @Test func includesNestedTooDeepAreRefused() throws {
        let dir = try TempDir()
        _ = try dir.write("loop.cfg", "include(\"\(dir.path)/loop.cfg\")\n")
        #expect(throws: GenimageConfig.Failure.self) { try GenimageConfig.load(dir.file("loop.cfg"), environment: [:]) }
    }
}

/// genimage.cfg → board.yaml: the same layout as genimage makes, every offset and size explicit.
@Suite struct GenimageImportTests {
    /// A folder with the input files the snippets name and a staged root.
    final class Fixture {
        let dir: TempDir
        init() throws {
            dir = try TempDir()
            for d in ["input", "root/etc", "root/boot", "board"] { try FileManager.default.createDirectory(atPath: dir.file(d), withIntermediateDirectories: true) }
            _ = try dir.write("input/u-boot.bin", [UInt8](repeating: 0xAA, count: 300_000))
            _ = try dir.write("input/Image", [UInt8](repeating: 1, count: 5000))
            _ = try dir.write("input/boot.scr", "script")
            _ = try dir.write("input/rootfs.ext4", [UInt8](repeating: 0, count: 3 << 20))
            _ = try dir.write("root/etc/hostname", "board\n")
        }

        func map(_ cfg: String, image: String? = nil) throws -> GenimageImport.Output {
            let c = try GenimageConfig.parse(cfg, source: "genimage.cfg")
            var o = GenimageImport.Options(board: dir.file("board"), cwd: dir.path)
            o.image = image
            return try GenimageImport.map(c, options: o)
        }
    }

    static let vfat = "image boot.vfat { vfat { label = \"BOOT\" files = { \"Image\", \"boot.scr\" } file dtb/x.dtb { image = \"Image\" } } size = 8M }\n"
    static let ext4 = "image root.ext4 { ext4 { label = \"root\" use-mke2fs = true } size = 16M }\n"

    /// Each snippet and the board.yaml lines it must give.
    @Test(arguments: [
        // MBR by default, 512-byte alignment: partitions right after the MBR sector.
        (
            "image sd.img { hdimage {} partition a { image = \"rootfs.ext4\" partition-type = 0x83 } }",
            ["name: sd", "  type: disk", "  size: 3146240", "  partition-table: mbr", "  align: 512", "  disk-id: 0x00000000          # genimage's default", "  - name: a", "    offset: 512",
             "    size: 3MiB", "    type: 0x83", "    content: {file: input/rootfs.ext4}"]
        ),
        // GPT: after the entries (1 KiB + 16 KiB), disk ends after the backup rounded to 4 KiB.
        (
            "image sd.img { hdimage { partition-table-type = \"gpt\" } partition a { image = \"rootfs.ext4\" } }",
            ["  partition-table: gpt", "  size: 3108KiB", "    offset: 17KiB", "    size: 3MiB", "    type: 0fc63daf-8483-4772-8e79-3d69d8477de4          # genimage's default, L (linux)"]
        ),
        // A bootloader at 8 KiB outside the table, the GPT entries moved, 1 MiB alignment.
        (
            """
            image sd.img { hdimage { partition-table-type = "gpt" gpt-location = 1M align = 1M disk-uuid = "12345678-1234-1234-1234-123456789ABC" }
              partition u-boot { in-partition-table = false offset = 8k image = "u-boot.bin" }
              partition boot { image = "boot.vfat" partition-type-uuid = "U" bootable = true partition-uuid = "aaaaaaaa-1234-1234-1234-123456789abc" }
              partition root { image = "root.ext4" partition-type-uuid = "root-arm64" }
            }
            """ + vfat + ext4,
            ["  disk-id: 12345678-1234-1234-1234-123456789abc", "  gpt-location: 1MiB", "  align: 1MiB", "  - name: u-boot", "    offset: 8KiB", "    size: 293KiB", "    in-table: false",
             "    content: {file: input/u-boot.bin}", "  - name: boot", "    offset: 2MiB", "    size: 8MiB", "    type: c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "    uuid: aaaaaaaa-1234-1234-1234-123456789abc",
             "    bootable: true", "      vfat:", "        label: BOOT", "          - {Image: input/Image}", "          - {boot.scr: input/boot.scr}", "          - {dtb/x.dtb: input/Image}", "  - name: root",
             "    offset: 10MiB", "    size: 16MiB", "    type: b921b045-1df0-41c3-af44-4c6f280d3fae", "    content: {ext4: {spec: rootfs.yaml, label: root}}", "  size: 26644KiB"]
        ),
        // autoresize: the rest of the given size, less the backup GPT, rounded down to the alignment.
        (
            "image sd.img { hdimage { partition-table-type = gpt align = 1M } size = 64M partition a { image = \"rootfs.ext4\" } partition data { autoresize = true } }",
            ["  size: 64MiB", "  - name: data", "    offset: 4MiB", "    size: 59MiB"]
        ),
        // squashfs: the compressor kept, genimage's default written out.
        (
            "image sd.img { hdimage { partition-table-type = gpt } partition r { image = \"r.sqfs\" size = 8M } }\nimage r.sqfs { squashfs {} }",
            ["    content: {squashfs: {spec: rootfs.yaml, compression: gzip}}"]
        ),
        // An empty ext4, and a partition without an image (in the table, no content).
        (
            "image sd.img { hdimage { partition-table-type = gpt } partition d { image = \"d.ext4\" } partition e { size = 1M } }\nimage d.ext4 { ext4 {} empty = true size = 4M }",
            ["    content: {ext4: {empty: true}}", "  - name: e", "    offset: 4113KiB", "    size: 1MiB"]
        ),
        // A mountpoint's folder gets its own spec; MBR type and disk signature.
        (
            "image sd.img { hdimage { disk-signature = 0x12345678 } partition b { image = \"b.ext4\" partition-type = 0xc } }\nimage b.ext4 { ext4 {} mountpoint = \"/boot\" size = 4M }",
            ["  disk-id: 0x12345678", "    type: 0x0c", "    content: {ext4: {spec: rootfs-b.ext4.yaml}}"]
        ),
        // A flash image: NAND geometry from the flash section, UBI volumes.
        (
            """
            flash nand { pebsize = 128k lebsize = 126k numpebs = 256 minimum-io-unit-size = 2048 vid-header-offset = 2048 sub-page-size = 2048 }
            image nand.img { flash {} flashtype = nand partition spl { image = "u-boot.bin" size = 512k } partition ubi { image = "root.ubi" } }
            image root.ubi { ubi {} partition rootfs { image = "root.ubifs" autoresize = true } }
            image root.ubifs { ubifs {} size = 8M }
            """,
            ["  type: nand", "  page: 2048", "  oob: 64", "  erase-block: 128KiB", "  chip: 32MiB", "  - name: spl", "    offset: 0", "    size: 512KiB", "  - name: ubi", "    offset: 512KiB",
             "    size: 32256KiB", "      ubi:", "        - name: rootfs", "          ubifs: rootfs.yaml", "          size: 8MiB", "          autoresize: true"]
        ),
    ])
    func mapping(_ cfg: String, _ lines: [String]) throws {
        let f = try Fixture()
        let out = try f.map(cfg)
        let got = out.boardYAML.split(separator: "\n").map(String.init)
        for l in lines { #expect(got.contains(l), "missing '\(l)' in:\n\(out.boardYAML)") }
    }

    /// What has no counterpart: one line each, FILE:LINE, naming the image and the option.
    @Test(arguments: [
        ("image sd.img { hdimage { partition-table-type = gpt\n gpt-no-backup = true } partition a { image = \"rootfs.ext4\" } }", "genimage.cfg:2: image 'sd.img' option 'gpt-no-backup' is not mapped"),
        ("image sd.img { hdimage { partition-table-type = gpt }\n partition a { image = \"rootfs.ext4\"\n hidden = true } }", "genimage.cfg:3: image 'sd.img' partition 'a' option 'hidden' is not mapped"),
        ("image sd.img { hdimage { partition-table-type = gpt } partition a { image = \"r.ext4\" } }\nimage r.ext4 { ext4 {\n extraargs = \"-E x\" } size = 4M }", "genimage.cfg:3: image 'r.ext4' option 'extraargs' is not mapped"),
        ("image sd.img { hdimage { partition-table-type = gpt } partition a { image = \"r.ext4\" } }\nimage r.ext4 { ext3 {} size = 4M }", "genimage.cfg:2: image 'r.ext4' type 'ext3' is not mapped"),
        ("image sd.img { hdimage { partition-table-type = gpt } partition a { image = \"r.ext4\" size = 8M } }\nimage r.ext4 { ext4 {} size = 4M }", "genimage.cfg:2: image 'r.ext4' option 'size' is not mapped"),
        ("image sd.img { hdimage { partition-table-type = hybrid } partition a { image = \"rootfs.ext4\" partition-type = 0x83 } }", "genimage.cfg:1: image 'sd.img' option 'partition-table-type' is not mapped"),
        ("image sd.img { hdimage {} partition a { image = \"c.cpio\" size = 1M partition-type = 0x83 } }\nimage c.cpio { cpio {} }", "genimage.cfg:2: image 'c.cpio' (type cpio) is not mapped"),
        ("image sd.img { hdimage { partition-table-type = gpt }\n exec-pre = \"true\" partition a { image = \"rootfs.ext4\" } }", "genimage.cfg:2: image 'sd.img' option 'exec-pre' is not mapped"),
        ("image sd.img { hdimage { partition-table-type = gpt } partition a { image = \"r.sqfs\" size = 4M } }\nimage r.sqfs { squashfs {\n compression = none } }", "genimage.cfg:3: image 'r.sqfs' option 'compression' is not mapped"),
        // genimage moves a mountpoint's folder out of the root it stages for the root image.
        ("image sd.img { hdimage { partition-table-type = gpt } partition r { image = \"r.ext4\" } partition b { image = \"b.ext4\" } }\nimage r.ext4 { ext4 {} size = 4M }\nimage b.ext4 { ext4 {} mountpoint = \"/boot\" size = 4M }", "genimage.cfg:2: image 'r.ext4': genimage leaves /boot empty in it (image 'b.ext4' takes that mountpoint)"),
    ])
    func notMapped(_ cfg: String, _ line: String) throws {
        let f = try Fixture()
        let out = try f.map(cfg)
        #expect(out.notMapped.contains { $0.hasPrefix(line) }, "\(out.notMapped)")
    }

    /// What genimage itself refuses, or what no board can be: an error naming FILE:LINE.
    @Test(arguments: [
        ("image sd.img { hdimage {}\n partition a { image = \"missing.bin\" } }", "genimage.cfg:2: 'missing.bin': no such file"),
        ("image sd.img { hdimage {}\n partition a { size = 1M }\n partition b { offset = 512 size = 1M } }", "genimage.cfg:3: image 'sd.img': partition 'b': (offset 0x200, size 0x100000) overlaps partition 'a'"),
        ("image sd.img { hdimage { partition-table-type = none } partition a { size = 1M } }", "genimage.cfg:1: image 'sd.img': partition-table-type none is not mapped"),
        ("image sd.img { hdimage { partition-table-type = gpt }\n partition a { size = 1M partition-type-uuid = \"Q\" } }", "genimage.cfg:2: image 'sd.img' partition 'a': partition-type-uuid 'Q'"),
        ("image sd.img { hdimage { partition-table-type = gpt }\n partition a { partition-type = 0x83 size = 1M } }", "genimage.cfg:2: image 'sd.img' partition 'a': 'partition-type' is only valid for mbr"),
        ("image sd.img { hdimage {}\n partition a { } }", "genimage.cfg:2: image 'sd.img': partition 'a': no size"),
        ("image sd.img { hdimage {} size = 1M\n partition a { size = 2M } }", "genimage.cfg:1: image 'sd.img': the partitions end at"),
        ("image sd.img { hdimage {}\n partition a { size = 1M autoresize = true } }", "genimage.cfg:2: image 'sd.img': partition 'a': autoresize needs the image's size"),
        ("image sd.img { hdimage {} partition a { image = \"r.ext4\" } }\nimage r.ext4 { ext4 {}\n size = 50% }", "genimage.cfg:3: image 'r.ext4': size 50% depends on the folder"),
        ("image a.img { hdimage {} partition a { size = 1M } }\nimage b.img { hdimage {} partition a { size = 1M } }", "genimage.cfg: 2 disk/flash images (a.img, b.img): give --image NAME"),
        ("image a.img { vfat {} size = 1M }", "genimage.cfg: no hdimage or flash image"),
        ("image a.img { hdimage {} partition a { size = 1M } }\nimage a.img { file {} }", "genimage.cfg:2: image 'a.img' is defined again"),
        // Sizes that would overflow the arithmetic: refused where they are read.
        ("image sd.img { hdimage { partition-table-type = gpt\n gpt-location = 0x7fffffffffffffff } partition a { size = 1M } }", "genimage.cfg:2: hdimage: gpt-location '0x7fffffffffffffff': expected at most 2048GiB"),
        ("image sd.img { hdimage {}\n partition a { offset = 0x7ffffffffffffe00 size = 0x7ffffffffffffe00 } }", "genimage.cfg:2: partition 'a': offset '0x7ffffffffffffe00': expected at most 2048GiB"),
        ("image sd.img { hdimage {} partition a { image = \"r.ext4\" } }\nimage r.ext4 { ext4 {}\n size = 0x7fffffffffffffff }", "genimage.cfg:3: image 'r.ext4': size '0x7fffffffffffffff': expected at most 2048GiB"),
        ("flash f { pebsize = 128k numpebs = 16 minimum-io-unit-size = 2048 }\nimage n.img { flash {} flashtype = f\n partition a { offset = 0x7fffffffffff0000 size = 0x7fffffffffff0000 } }", "genimage.cfg:3: partition 'a': size '0x7fffffffffff0000': expected at most 2048GiB"),
    ])
    func refused(_ cfg: String, _ expected: String) throws {
        let f = try Fixture()
        do {
            _ = try f.map(cfg)
            Issue.record("accepted: \(cfg)")
        } catch {
            #expect("\(error)".hasPrefix(expected), "\(error)")
        }
    }

    /// The spec overlays the staged folder by a path relative to the board (the board can move
    /// with its inputs).
    @Test func specOverlaysTheRootPathRelativeToTheBoard() throws {
        let f = try Fixture()
        let out = try f.map("image sd.img { hdimage { partition-table-type = gpt } partition r { image = \"r.sqfs\" size = 4M } }\nimage r.sqfs { squashfs {} }")
        #expect(out.specs.map(\.name) == ["rootfs.yaml"])
        #expect(out.specs.first?.text.contains("  - overlay: ../root\n") == true)
        #expect(out.copies.isEmpty)
    }

    @Test func choosesAnImageByName() throws {
        let f = try Fixture()
        let cfg = "image a.img { hdimage {} partition a { size = 1M } }\nimage b.img { hdimage { partition-table-type = gpt } partition a { size = 2M } }"
        let out = try f.map(cfg, image: "b.img")
        #expect(out.boardYAML.contains("partition-table: gpt"))
    }

    @Test func yamlScalarsAreQuotedWhenTheyMustBe() {
        #expect(GenimageImport.scalar("input/u-boot.bin") == "input/u-boot.bin")
        #expect(GenimageImport.scalar("yes") == "\"yes\"")
        #expect(GenimageImport.scalar("a b") == "\"a b\"")
        #expect(GenimageImport.scalar("-x") == "\"-x\"")
        #expect(GenimageImport.scalar("1M") == "\"1M\"")
        #expect(GenimageImport.scalar("q\"\\") == "\"q\\\"\\\\\"")
    }
}
