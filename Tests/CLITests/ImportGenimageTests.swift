import Foundation
import Testing
import TestSupport

/// `flashsmith import genimage CFG -o BOARD/`: the folder it writes, what it refuses, and the proof
/// the issue asks: the same genimage.cfg through genimage (under fakeroot, as users run it) and
/// through import + `flashsmith build` gives the same partition table (sfdisk --json: offsets,
/// sizes, types, names) and the same files in every partition (mtools, debugfs, unsquashfs).
@Suite struct ImportGenimageTests {
    /// A staged tree, input files and a genimage.cfg in a fresh folder.
    static func stage(_ dir: TempDir, config: String) throws -> String {
        let fm = FileManager.default
        for d in ["input", "root/etc/init.d", "root/usr/share/doc", "www/html", "root/boot"] { try fm.createDirectory(atPath: dir.file(d), withIntermediateDirectories: true) }
        _ = try dir.write("input/u-boot.bin", (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        _ = try dir.write("input/Image", (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 13) })
        _ = try dir.write("input/boot.scr", "load virtio 0:1 ${kernel_addr_r} Image\n")
        _ = try dir.write("input/board.dtb", [UInt8](repeating: 0xD0, count: 1234))
        _ = try dir.write("root/etc/hostname", "board\n")
        _ = try dir.write("root/etc/init.d/rcS", "#!/bin/sh\nmount -a\n")
        chmod(dir.file("root/etc/init.d/rcS"), 0o755)
        _ = try dir.write("root/usr/share/doc/big", String(repeating: "0123456789abcdef", count: 20000))
        _ = try dir.write("www/html/index.html", "<p>hi</p>\n")
        chmod(dir.file("www/html"), 0o750)
        symlink("/proc/mounts", dir.file("root/etc/mtab"))
        return try dir.write("genimage.cfg", config)
    }

    static let gptConfig = """
        # A boot ROM reads the bootloader at 8 KiB, so the GPT entries move to 1 MiB (genimage refuses them at 1 KiB).
        image sdcard.img {
            hdimage {
                partition-table-type = "gpt"
                gpt-location = 1M
                align = 1M
            }
            partition u-boot {
                in-partition-table = false
                offset = 8k
                image = "u-boot.bin"
            }
            partition boot {
                image = "boot.vfat"
                partition-type-uuid = "U"
                bootable = true
            }
            partition root {
                image = "root.ext4"
                partition-type-uuid = "L"
            }
            partition www {
                image = "www.squashfs"
                size = 4M
            }
            partition data {
                image = "data.ext4"
            }
        }
        image boot.vfat {
            vfat {
                label = "BOOT"
                files = { "Image", "boot.scr" }
                file dtbs/board.dtb { image = "board.dtb" }
            }
            size = 8M
        }
        image root.ext4 {
            ext4 { label = "root" use-mke2fs = true }
            size = 16M
        }
        image www.squashfs {
            squashfs { compression = "xz" }
            srcpath = "www"
        }
        image data.ext4 {
            ext4 { use-mke2fs = true }
            empty = true
            size = 4M
        }

        """

    static let mbrConfig = """
        image disk.img {
            hdimage { disk-signature = 0x1234abcd align = 1M }
            partition boot { image = "boot.vfat" partition-type = 0xc bootable = true }
            partition root { image = "root.ext4" partition-type = 0x83 }
        }
        image boot.vfat { vfat { files = { "Image" } } size = 4M }
        image root.ext4 { ext4 { use-mke2fs = true } size = 8M }

        """

    /// The folder: board.yaml, the spec, the copied inputs, the marker; a second import replaces it;
    /// a folder Flashsmith did not write is refused (and kept) without --force.
    @Test func writesABoardFolderAndKeepsOneItDidNotWrite() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let cfg = try Self.stage(dir, config: Self.gptConfig)
        let board = dir.file("board")
        let args = ["import", "genimage", cfg, "-o", board, "--rootpath", dir.file("root"), "--inputpath", dir.file("input")]
        let r = try run(flashsmithPath, args, cwd: dir.path)
        #expect(r.status == 0, "\(r.err)")
        let names = try FileManager.default.contentsOfDirectory(atPath: board).sorted()
        #expect(names == [".flashsmith-output", "board.yaml", "input", "rootfs-www.squashfs.yaml", "rootfs.yaml"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: board + "/input").sorted() == ["Image", "board.dtb", "boot.scr", "u-boot.bin"])
        let spec = try String(contentsOfFile: board + "/rootfs-www.squashfs.yaml", encoding: .utf8)
        #expect(spec.contains("  - overlay: ../www\n"))
        #expect(r.err.isEmpty, "\(r.err)")
        #expect(try run(flashsmithPath, args + ["--strict"], cwd: dir.path).status == 0)
        // Something not mapped: one line on standard error, exit 0; --strict: 65, nothing written.
        _ = try dir.write("genimage.cfg", Self.gptConfig.replacingOccurrences(of: "use-mke2fs = true }", with: "use-mke2fs = true\n extraargs = \"-m 0\" }"))
        let loose = try run(flashsmithPath, args, cwd: dir.path)
        #expect(loose.status == 0)
        #expect(loose.err.hasPrefix("\(cfg):40: image 'root.ext4' option 'extraargs' is not mapped: '-m 0'"), "\(loose.err)")
        let strict = try run(flashsmithPath, args.map { $0 == board ? board + "2" : $0 } + ["--strict"], cwd: dir.path)
        #expect(strict.status == 65)
        #expect(strict.err.contains("2 options not mapped (listed above); --strict refuses the import"), "\(strict.err)")
        #expect(!FileManager.default.fileExists(atPath: board + "2"))
        // A folder of the user's.
        let mine = dir.file("mine")
        try FileManager.default.createDirectory(atPath: mine, withIntermediateDirectories: false)
        _ = try dir.write("mine/notes.txt", "keep me")
        let refused = try run(flashsmithPath, args.map { $0 == board ? mine : $0 }, cwd: dir.path)
        #expect(refused.status == 73)
        #expect(refused.err.contains("was not written by Flashsmith"), "\(refused.err)")
        #expect(try String(contentsOfFile: mine + "/notes.txt", encoding: .utf8) == "keep me")
        #expect(try run(flashsmithPath, args.map { $0 == board ? mine : $0 } + ["--force"], cwd: dir.path).status == 0)
    }

    /// --reference: input files named where they are, relative to the board (the board and its
    /// inputs move together).
    @Test func referenceNamesInputsRelativeToTheBoard() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let cfg = try Self.stage(dir, config: Self.gptConfig)
        let r = try run(flashsmithPath, ["import", "genimage", cfg, "-o", dir.file("out/board"), "--rootpath", dir.file("root"), "--inputpath", dir.file("input"), "--reference"], cwd: dir.path)
        #expect(r.status == 0, "\(r.err)")
        let yaml = try String(contentsOfFile: dir.file("out/board/board.yaml"), encoding: .utf8)
        #expect(yaml.contains("content: {file: ../../input/u-boot.bin}"), "\(yaml)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out/board/input")))
    }

    /// Bad configs: one line naming the file and line, exit 65; a missing input: 66.
    @Test(arguments: [
        ("image a.img {\n hdimage {}\n partition p { sise = 1M }\n}\n", 65, "genimage.cfg:3: partition 'p': unknown option 'sise'; did you mean 'size'?"),
        ("image a.img {\n hdimage {}\n partition p { image = \"nothing.bin\" }\n}\n", 66, "genimage.cfg:3: 'nothing.bin': no such file"),
        ("image a.img { hdimage {} size = 12MiB }\n", 65, "genimage.cfg:1: image 'a.img': size '12MiB'"),
    ])
    func badConfigsAreOneLine(_ text: String, _ status: Int32, _ message: String) throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let cfg = try Self.stage(dir, config: text)
        let r = try run(flashsmithPath, ["import", "genimage", "genimage.cfg", "-o", "board"], cwd: dir.path)
        #expect(r.status == status, "\(r.err)")
        #expect(r.err == "flashsmith: error: \(message)" + r.err.dropFirst("flashsmith: error: \(message)".count), "\(r.err)")
        #expect(r.err.hasPrefix("flashsmith: error: \(message)"), "\(r.err)")
        #expect(r.err.split(separator: "\n").count == 1)
        _ = cfg
    }

    // MARK: The proof: genimage and Flashsmith make the same disk

    /// GPT (a raw bootloader, moved entries, vfat, ext4, squashfs from a srcpath, an empty ext4)
    /// and MBR. Needs the disk build (`flashsmith build` of a `type: disk` board).
    @Test(arguments: [("gpt", gptConfig, "sdcard"), ("mbr", mbrConfig, "disk")])
    func genimageAndImportPlusBuildMakeTheSameDisk(_ kind: String, _ config: String, _ name: String) throws {
        guard toolsAvailable("genimage", "fakeroot", "sfdisk", "mcopy", "mkdosfs", "mke2fs", "debugfs", "mksquashfs", "unsquashfs"), filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let cfg = try Self.stage(dir, config: config)
        let g = try run(
            "fakeroot", ["genimage", "--config", cfg, "--rootpath", dir.file("root"), "--tmppath", dir.file("tmp"), "--inputpath", dir.file("input"), "--outputpath", dir.file("images")],
            cwd: dir.path)
        try #require(g.status == 0, "genimage: \(g.err)")
        let imp = try run(flashsmithPath, ["import", "genimage", cfg, "-o", dir.file("board"), "--rootpath", dir.file("root"), "--inputpath", dir.file("input")], cwd: dir.path)
        try #require(imp.status == 0, "import: \(imp.err)")
        let b = try flashsmith("build", dir.file("board"), "-o", dir.file("out"))
        try #require(b.status == 0, "build of the imported board (\(kind)): \(b.err)")
        let theirs = dir.file("images/\(name).img"), ours = dir.file("out/\(name).img")
        let t = try Self.table(theirs), o = try Self.table(ours)
        #expect(o.label == t.label)
        #expect(o.partitions == t.partitions, "sfdisk --json differs:\n genimage: \(t.partitions)\n flashsmith: \(o.partitions)")
        // Each partition's files, read by the peer tools.
        for (p, q) in zip(t.partitions, o.partitions) {
            let a = try Self.extract(theirs, p, dir.file("theirs-\(p.start)")), c = try Self.extract(ours, q, dir.file("ours-\(q.start)"))
            let la = try Self.listing(a), lc = try Self.listing(c)
            #expect(!la.isEmpty, "no filesystem recognised in genimage's partition at sector \(p.start)")
            #expect(lc == la, "partition at sector \(p.start): the files differ\n genimage: \(la)\n flashsmith: \(lc)")
        }
        if kind == "gpt" {
            // The raw bootloader at 8 KiB, byte for byte.
            let boot = try readBytes(dir.file("input/u-boot.bin"))
            #expect(try Self.bytes(ours, at: 8192, count: boot.count) == boot)
            #expect(try Self.bytes(theirs, at: 8192, count: boot.count) == boot)
        }
    }

    /// A NAND flash image of raw partitions (genimage's `flash` type): the same bytes, 0xff between.
    @Test func genimageAndImportPlusBuildMakeTheSameFlashImage() throws {
        guard toolsAvailable("genimage"), filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let cfg = try Self.stage(
            dir,
            config: """
                flash nand-4M { pebsize = 128k lebsize = 126k numpebs = 32 minimum-io-unit-size = 2048 vid-header-offset = 2048 sub-page-size = 2048 }
                image nand.img {
                    flash {}
                    flashtype = "nand-4M"
                    partition spl { image = "u-boot.bin" size = 256k }
                    partition kernel { image = "Image" size = 1M }
                    partition rest { }
                }

                """)
        let g = try run("genimage", ["--config", cfg, "--rootpath", "/nonexistent", "--tmppath", dir.file("tmp"), "--inputpath", dir.file("input"), "--outputpath", dir.file("images")], cwd: dir.path)
        try #require(g.status == 0, "genimage: \(g.err)")
        let imp = try run(flashsmithPath, ["import", "genimage", cfg, "-o", dir.file("board"), "--inputpath", dir.file("input")], cwd: dir.path)
        try #require(imp.status == 0, "import: \(imp.err)")
        #expect(imp.err.contains("genimage has no OOB size; 64 bytes (page/32) assumed"), "\(imp.err)")
        let b = try flashsmith("build", dir.file("board"), "-o", dir.file("out"))
        try #require(b.status == 0, "build: \(b.err)")
        let theirs = try readBytes(dir.file("images/nand.img")), ours = try readBytes(dir.file("out/nand.img"))
        #expect(theirs.count == 4 << 20)
        #expect(ours == theirs)
    }

    /// A NAND image with a UBI partition holding a UBIFS from the root path and an empty volume:
    /// the same volume table (names, types, reserved PEBs, LEBs written) and the same files in the
    /// UBIFS (genimage's from ubinize and mkfs.ubifs), times aside.
    @Test func genimageAndImportPlusBuildMakeTheSameUBI() throws {
        guard toolsAvailable("genimage", "fakeroot", "ubinize", "mkfs.ubifs"), filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let cfg = try Self.stage(
            dir,
            config: """
                flash nand-16M { pebsize = 128k lebsize = 126976 numpebs = 128 minimum-io-unit-size = 2048 vid-header-offset = 2048 sub-page-size = 2048 }
                image nand.img {
                    flash {}
                    flashtype = "nand-16M"
                    partition spl { image = "u-boot.bin" size = 256k }
                    partition ubi { image = "root.ubi" }
                }
                image root.ubi {
                    ubi {}
                    partition rootfs { image = "root.ubifs" }
                    partition data { size = 1M }
                }
                image root.ubifs { ubifs {} size = 8M }

                """)
        let g = try run(
            "fakeroot", ["genimage", "--config", cfg, "--rootpath", dir.file("root"), "--tmppath", dir.file("tmp"), "--inputpath", dir.file("input"), "--outputpath", dir.file("images")],
            cwd: dir.path)
        try #require(g.status == 0, "genimage: \(g.err)")
        let imp = try run(flashsmithPath, ["import", "genimage", cfg, "-o", dir.file("board"), "--rootpath", dir.file("root"), "--inputpath", dir.file("input")], cwd: dir.path)
        try #require(imp.status == 0, "import: \(imp.err)")
        let b = try flashsmith("build", dir.file("board"), "-o", dir.file("out"))
        try #require(b.status == 0, "build: \(b.err)")
        var views: [[String]] = []
        for (image, ubi) in [(dir.file("images/nand.img"), "theirs.ubi"), (dir.file("out/nand.img"), "ours.ubi")] {
            let all = try readBytes(image)
            try #require(all.count == 16 << 20)
            let ubi = try dir.write(ubi, Array(all[(256 << 10)...]))
            let inspect = try flashsmith("ubi", "inspect", ubi)
            let ls = try flashsmith("rootfs", "ls", ubi, "--volume", "rootfs", "--digests")
            try #require(inspect.status == 0 && ls.status == 0, "\(inspect.err)\(ls.err)")
            let table = inspect.out.split(separator: "\n").filter { $0.contains("volume") || $0.contains("PEBs:") || $0.contains("geometry") }.map(String.init)
            let files = ls.out.split(separator: "\n").map { line in line.split(separator: " ").filter { !$0.hasPrefix("time=") }.joined(separator: " ") }
            views.append(table + files)
        }
        #expect(views[0].count > 5)
        #expect(views[1] == views[0])
    }

    struct Entry: Equatable, CustomStringConvertible {
        var start: Int
        var size: Int
        var type: String
        var name: String
        var bootable: Bool
        var description: String { "\(start)+\(size) \(type) '\(name)'\(bootable ? " boot" : "")" }
    }

    /// sfdisk's view of a table: its kind and each partition's start, size, type, name, boot flag.
    static func table(_ image: String) throws -> (label: String, partitions: [Entry]) {
        let r = try run("sfdisk", ["--json", image])
        try #require(r.status == 0, "sfdisk --json \(image): \(r.err)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any])
        let t = try #require(json["partitiontable"] as? [String: Any])
        let parts = (t["partitions"] as? [[String: Any]] ?? []).map { p in
            Entry(
                start: p["start"] as? Int ?? -1, size: p["size"] as? Int ?? -1, type: (p["type"] as? String ?? "").uppercased(), name: p["name"] as? String ?? "",
                bootable: (p["bootable"] as? Bool ?? false) || (p["attrs"] as? String ?? "").contains("LegacyBIOSBootable"))
        }
        return (t["label"] as? String ?? "", parts)
    }

    static func bytes(_ path: String, at offset: Int, count: Int) throws -> [UInt8] {
        let h = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? h.close() }
        try h.seek(toOffset: UInt64(offset))
        return [UInt8](try h.read(upToCount: count) ?? Data())
    }

    /// The partition's sectors as a file of their own.
    static func extract(_ image: String, _ p: Entry, _ to: String) throws -> String {
        try Data(try bytes(image, at: p.start * 512, count: p.size * 512)).write(to: URL(fileURLWithPath: to))
        return to
    }

    /// What a filesystem holds, by the peer tool for its kind (its kind first; nothing when none is
    /// recognised): path, type, mode, owner, size and
    /// the content's digest per entry (times left out; ext4's lost+found, which mke2fs always
    /// makes, too).
    static func listing(_ fs: String) throws -> [String] {
        let magic = try bytes(fs, at: 0, count: 4)
        if magic == Array("hsqs".utf8) {
            let r = try run("unsquashfs", ["-lln", "-d", "", fs])
            try #require(r.status == 0, "unsquashfs: \(r.err)")
            // -rw-r--r-- root/root  6 2026-12-07 11:31 /etc/hostname → mode owner size path.
            return ["squashfs"] + r.out.split(separator: "\n").compactMap { line in
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                guard f.count >= 6, f[0].count == 10 else { return nil }
                return "\(f[5...].joined(separator: " ")) \(f[0]) \(f[1]) \(f[0].hasPrefix("d") ? "-" : String(f[2]))"
            }.sorted()
        }
        if try bytes(fs, at: 1080, count: 2) == [0x53, 0xEF] { return ["ext"] + (try ext4Listing(fs)) }
        if try bytes(fs, at: 510, count: 2) == [0x55, 0xAA] { return ["vfat"] + (try vfatListing(fs)) }
        return []
    }

    /// debugfs `ls -p` on every folder: /inode/mode/uid/gid/name/size/; each file's bytes by `cat`.
    static func ext4Listing(_ fs: String) throws -> [String] {
        var out: [String] = []
        var folders = ["/"]
        while let d = folders.popLast() {
            let r = try run("debugfs", ["-R", "ls -p \"\(d)\"", fs])
            try #require(r.status == 0, "debugfs: \(r.err)")
            for line in r.out.split(separator: "\n") {
                let f = line.split(separator: "/", omittingEmptySubsequences: false)
                guard f.count >= 7 else { continue }
                let name = String(f[5])
                if name == "." || name == ".." || (d == "/" && name == "lost+found") { continue }
                let path = (d == "/" ? "" : d) + "/" + name
                let mode = Int(f[2], radix: 8) ?? 0
                var size = String(f[6])
                if mode & 0o170000 == 0o040000 {
                    folders.append(path)
                    size = "-"
                } else if mode & 0o170000 == 0o100000 {
                    let c = try run("debugfs", ["-R", "cat \"\(path)\"", fs])
                    size += " " + String(c.stdout.reduce(UInt64(1469598103934665603)) { ($0 ^ UInt64($1)) &* 1099511628211 }, radix: 16)
                }
                out.append("\(path) \(String(mode, radix: 8)) \(f[3]):\(f[4]) \(size)")
            }
        }
        return out.sorted()
    }

    /// mtools: every file copied out (mcopy -s) and read back; names as FAT keeps them.
    static func vfatListing(_ fs: String) throws -> [String] {
        let dest = fs + ".files"
        try FileManager.default.createDirectory(atPath: dest, withIntermediateDirectories: true)
        let r = try run("mcopy", ["-s", "-n", "-i", fs, "::*", dest], environment: ["MTOOLS_SKIP_CHECK": "1"])
        try #require(r.status == 0 || r.err.isEmpty, "mcopy: \(r.err)")
        var out: [String] = []
        let e = FileManager.default.enumerator(atPath: dest)
        while let p = e?.nextObject() as? String {
            var isDir: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: dest + "/" + p, isDirectory: &isDir)
            let bytes = isDir.boolValue ? [] : try readBytes(dest + "/" + p)
            out.append(isDir.boolValue ? "/\(p)/" : "/\(p) \(bytes.count) \(String(bytes.reduce(UInt64(1469598103934665603)) { ($0 ^ UInt64($1)) &* 1099511628211 }, radix: 16))")
        }
        return out.sorted()
    }
}
