import Foundation
import Testing
import TestSupport
@testable import Flash

/// The native UBIFS writer (`rootfs build -o x.ubifs`), proven by its peers: ubi_reader extracts
/// every entry as the manifest says, mkfs.ubifs makes the same superblock from the same options
/// and an image no more than 2 % smaller, and two builds are the same bytes. (Linux mounting it
/// with its self-checks on is the E2E suite's UBIFSGuestTests.)
@Suite struct UBIFSWriterTests {
    static let geometry = ["-m", "2048", "-e", "126976", "-c", "300"]

    /// A tree with every kind of entry: files empty, tiny, a block, compressible and random, with
    /// a hole; a long and a short symlink, a hard link, devices, a FIFO, odd modes and owners, a
    /// file capability (an xattr) from the device table.
    static func makeSpec(in dir: TempDir) throws -> String {
        let o = dir.file("overlay")
        try FileManager.default.createDirectory(atPath: o + "/usr/bin", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: o + "/data/deep/er", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: o + "/data/empty", contents: Data())
        _ = FileManager.default.createFile(atPath: o + "/data/one", contents: Data([0x41]))
        _ = FileManager.default.createFile(atPath: o + "/data/block", contents: Data(repeating: 0x5A, count: 4096))
        let text = (0..<4000).map { "line \($0) of a compressible file\n" }.joined()
        _ = FileManager.default.createFile(atPath: o + "/data/deep/er/text", contents: Data(text.utf8))
        var g = SystemRandomNumberGenerator()
        _ = FileManager.default.createFile(atPath: o + "/data/random", contents: Data((0..<300_000).map { _ in UInt8.random(in: 0...255, using: &g) }))
        var holey = Data(repeating: 0x11, count: 4096)
        holey.append(Data(repeating: 0, count: 3 * 4096))
        holey.append(Data(repeating: 0x22, count: 100))
        _ = FileManager.default.createFile(atPath: o + "/data/holey", contents: holey)
        _ = FileManager.default.createFile(atPath: o + "/usr/bin/ping", contents: Data(repeating: 0x7F, count: 5000))
        _ = FileManager.default.createFile(atPath: o + "/data/n\u{e4}me-\u{263a}", contents: Data("utf-8 name\n".utf8))
        try FileManager.default.createSymbolicLink(atPath: o + "/data/short", withDestinationPath: "one")
        try FileManager.default.createSymbolicLink(atPath: o + "/data/long", withDestinationPath: String(repeating: "x/", count: 700) + "end")
        try FileManager.default.linkItem(atPath: o + "/data/block", toPath: o + "/data/block-link")
        let table = try dir.write("devices.txt", """
            /dev d 755 0 0 - - - - -
            /dev/console c 600 0 0 5 1 - - -
            /dev/sda b 660 0 6 8 0 - - -
            /dev/initctl p 600 0 0 - - - - -
            /data/deep d 2750 1000 100 - - - - -
            /data/deep/er d 1777 0 0 - - - - -
            /usr/bin/ping f 4755 0 0 - - - - -
            |xattr cap_net_raw+ep
            /data/one f 640 1234 5678 - - - - -

            """)
        return try dir.write("rootfs.yaml", "layers:\n  - overlay: \(o)\n  - devices: \(table)\n")
    }

    /// The spec's listing (mtree-style, sha256 of every file) without the xattrs, which ubi_reader
    /// does not extract.
    static func listing(_ source: String) throws -> [String] {
        let r = try flashsmith("rootfs", "ls", source, "--digests")
        #expect(r.status == 0, "\(r.err)")
        return r.out.split(separator: "\n").map { line in
            line.split(separator: " ").filter { !$0.hasPrefix("xattr.") }.joined(separator: " ")
        }
    }

    @Test("ubi_reader extracts every entry as the manifest says", arguments: ["lzo", "zlib", "zstd", "none", "favor_lzo"])
    func ubiReaderExtractsTheManifest(compressor: String) throws {
        guard let venv = try PythonTools.ubiReader() else { return }
        let dir = try TempDir()
        let spec = try Self.makeSpec(in: dir)
        let image = dir.file("root.ubifs")
        let b = try flashsmith(["rootfs", "build", spec, "-o", image, "-x", compressor] + Self.geometry)
        try #require(b.status == 0, "\(b.err)")
        let x = try run("\(venv)/bin/ubireader_extract_files", ["-k", "-o", dir.file("x"), image])
        try #require(x.status == 0, "\(x.err)")
        var expected = try Self.listing(spec)
        var got = try Self.listing(dir.file("x"))
        if geteuid() != 0 {
            // ubi_reader gives extracted files to the user running it.
            func noOwners(_ l: [String]) -> [String] { l.map { $0.split(separator: " ").filter { !$0.hasPrefix("uid=") && !$0.hasPrefix("gid=") }.joined(separator: " ") } }
            expected = noOwners(expected)
            got = noOwners(got)
        }
        #expect(got == expected, "\(Set(got).symmetricDifference(Set(expected)).sorted().prefix(8))")
    }

    @Test("two builds are the same bytes; SOURCE_DATE_EPOCH and --uuid set the UUID")
    func reproducible() throws {
        let dir = try TempDir()
        let spec = try Self.makeSpec(in: dir)
        func build(_ name: String, _ extra: [String] = []) throws -> [UInt8] {
            let r = try flashsmith(["rootfs", "build", spec, "-o", dir.file(name)] + Self.geometry + extra)
            try #require(r.status == 0, "\(r.err)")
            return try readBytes(dir.file(name))
        }
        let a = try build("a.ubifs"), b = try build("b.ubifs")
        #expect(a == b)
        let epoch = try build("c.ubifs", ["--source-date-epoch", "1700000000"])
        #expect(Array(epoch[108..<124]) != Array(a[108..<124]), "the UUID follows SOURCE_DATE_EPOCH")
        let given = try build("d.ubifs", ["--uuid", "01234567-89ab-cdef-0123-456789abcdef"])
        #expect(Array(given[108..<124]) == [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF, 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF])
    }

    /// The superblock fields that follow from the options (`log_lebs`, `lpt_lebs`, the journal,
    /// the LPT model's flag, reserved space, fanout, key hash, compressor, space fixup): the same
    /// numbers as Debian's mkfs.ubifs writes for the same command line, so the options mean what
    /// they mean there.
    @Test("the superblock mkfs.ubifs writes for the same options", arguments: [
        "-m 2048 -e 126976 -c 300 -x lzo",
        "-m 2048 -e 126976 -c 4000 -x zstd",
        "-m 2048 -e 126976 -c 40000 -x lzo",
        "-m 4096 -e 258048 -c 2000 -x zlib -F",
        "-m 512 -e 15872 -c 100 -x none -f 4 -k test",
        "-m 2048 -e 126976 -c 1000 -x favor_lzo -X 30 -j 2MiB -l 6 -p 2 -R 1MiB",
    ])
    func superblockAsMkfsUbifs(options: String) throws {
        guard toolsAvailable("mkfs.ubifs") else {
            if isCI { Issue.record("mkfs.ubifs is missing") } else { print("SKIP: mkfs.ubifs not found") }
            return
        }
        let dir = try TempDir()
        let tree = dir.file("tree")
        try FileManager.default.createDirectory(atPath: tree + "/etc", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: tree + "/etc/hostname", contents: Data("board\n".utf8))
        let args = options.split(separator: " ").map(String.init)
        let ours = try flashsmith(["rootfs", "build", "--overlay", tree, "-o", dir.file("ours.ubifs")] + args)
        try #require(ours.status == 0, "\(ours.err)")
        let peer = try run("mkfs.ubifs", ["-r", tree, "-o", dir.file("peer.ubifs")] + args)
        try #require(peer.status == 0, "\(peer.err)")
        let a = try readBytes(dir.file("ours.ubifs")), b = try readBytes(dir.file("peer.ubifs"))
        // Fields 26..<108 (key hash … time granularity) except leb_cnt at 40 (the trees differ:
        // ours has the overlay's folders at mode 0755 with owner root).
        for (name, range) in [("key hash/format, flags", 26..<32), ("min. I/O, LEB size", 32..<40), ("max. LEB count … time granularity", 44..<108)] {
            #expect(Array(a[range]) == Array(b[range]), "\(options): \(name) differ")
        }
    }

    @Test("for the same tree and compressor, at most 2 % larger than mkfs.ubifs's", arguments: ["lzo", "zlib", "zstd"])
    func sizeWithinTwoPercent(compressor: String) throws {
        guard toolsAvailable("mkfs.ubifs") else {
            if isCI { Issue.record("mkfs.ubifs is missing") } else { print("SKIP: mkfs.ubifs not found") }
            return
        }
        let dir = try TempDir()
        let tree = dir.file("tree")
        for d in 0..<20 {
            try FileManager.default.createDirectory(atPath: "\(tree)/d\(d)", withIntermediateDirectories: true)
            for f in 0..<20 {
                let text = (0..<(200 + 37 * f)).map { "\(d) \(f) \($0) some words that repeat now and then\n" }.joined()
                _ = FileManager.default.createFile(atPath: "\(tree)/d\(d)/f\(f)", contents: Data(text.utf8))
            }
        }
        let geometry = ["-m", "2048", "-e", "126976", "-c", "2000", "-x", compressor]
        let ours = try flashsmith(["rootfs", "build", "--overlay", tree, "-o", dir.file("ours.ubifs")] + geometry)
        try #require(ours.status == 0, "\(ours.err)")
        let peer = try run("mkfs.ubifs", ["-r", tree, "-o", dir.file("peer.ubifs")] + geometry)
        try #require(peer.status == 0, "\(peer.err)")
        // Bytes the nodes take: the master node's used space plus the index's size.
        func used(_ path: String) throws -> Int {
            let b = try readBytes(path)
            let master = 126976  // LEB 1
            func u64(_ at: Int) -> Int { (0..<8).reduce(0) { $0 | Int(b[master + at + $1]) << (8 * $1) } }
            return u64(96) + u64(72)  // total_used + index_size
        }
        let a = try used(dir.file("ours.ubifs")), p = try used(dir.file("peer.ubifs"))
        print("UBIFS size (\(compressor)): flashsmith \(a) bytes, mkfs.ubifs \(p) bytes (\(String(format: "%+.2f", Double(a - p) / Double(p) * 100)) %)")
        #expect(Double(a) <= Double(p) * 1.02)
    }

    /// The big model with a volume far larger than the tree: the save table names only LEBs the
    /// image has (mkfs.ubifs 2.1.5 named LEBs past its end, and Linux refused the read-write mount
    /// of such volumes under about 271 LEBs; the guest test mounts one).
    @Test("the LPT model follows the volume's size: small when the tree fits a LEB, big above")
    func lptModel() throws {
        let dir = try TempDir()
        func flags(_ c: String) throws -> UInt8 {
            let r = try flashsmith("rootfs", "build", "--overlay", dir.path, "-o", dir.file("x\(c).ubifs"), "-m", "2048", "-e", "126976", "-c", c)
            try #require(r.status == 0, "\(r.err)")
            return try readBytes(dir.file("x\(c).ubifs"))[28]
        }
        #expect(try flags("200") & 0x02 == 0)
        #expect(try flags("40000") & 0x02 == 0x02)
    }

    @Test("bad geometry is one line naming the option", arguments: [
        (["-m", "3000", "-e", "126976", "-c", "300"], "min. I/O unit 3000: expected a power of 2"),
        (["-m", "2048", "-e", "1000", "-c", "300"], "LEB size 1000: expected"),
        (["-m", "2048", "-e", "126976", "-c", "5"], "max. LEB count 5: expected"),
        (["-m", "2048", "-e", "126976"], "missing -c/--max-leb-cnt"),
        (["-m", "2048", "-e", "126976", "-c", "300", "-f", "1"], "fanout 1: expected"),
        (["-m", "2048", "-e", "126976", "-c", "17"], "max. LEB count 17: too few"),
        (["-m", "512", "-e", "15872", "-c", "30"], "does not fit: more than the 30 LEBs"),
    ])
    func badGeometry(args: [String], message: String) throws {
        let dir = try TempDir()
        let spec = try Self.makeSpec(in: dir)
        let r = try flashsmith(["rootfs", "build", spec, "-o", dir.file("x.ubifs")] + args)
        #expect(r.status != 0)
        #expect(r.err.contains(message), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("x.ubifs")))
    }

    @Test func ubifsOptionsOnlyForUBIFS() throws {
        let dir = try TempDir()
        let r = try flashsmith("rootfs", "build", "--overlay", dir.path, "-o", dir.file("x.tar"), "-c", "300")
        #expect(r.status != 0)
        #expect(r.err.contains("apply to a UBIFS output"), "\(r.err)")
    }

    /// Linux asserts, reading a file, that each of its data nodes is newer than the inode's
    /// creation (`fs/ubifs/file.c`: "dn->ch.sqnum > creat_sqnum"); images that broke it mounted,
    /// listed fine and went read-only at the first read (found by UBIFSGuestTests). Every node of
    /// the main area is scanned here, across batch boundaries (a 9 MiB file spans three batches).
    @Test("every data node's sequence number is above its inode's creation number")
    func dataNodesNewerThanTheirInode() throws {
        let dir = try TempDir()
        let spec = try Self.makeSpec(in: dir)
        var g = SystemRandomNumberGenerator()
        _ = FileManager.default.createFile(atPath: dir.file("overlay/data/big"), contents: Data((0..<(9 << 20)).map { _ in UInt8.random(in: 0...255, using: &g) }))
        let image = dir.file("root.ubifs")
        let r = try flashsmith(["rootfs", "build", spec, "-o", image, "-m", "2048", "-e", "126976", "-c", "300", "-x", "zstd"])
        try #require(r.status == 0, "\(r.err)")
        let b = try readBytes(image)
        func u32(_ at: Int) -> Int { (0..<4).reduce(0) { $0 | Int(b[at + $1]) << (8 * $1) } }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) } }
        let leb = u32(36), lebCount = u32(40), mainFirst = 3 + u32(56) + u32(60) + u32(64)
        var creation: [UInt64: UInt64] = [:]
        var oldestData: [UInt64: UInt64] = [:]
        for lnum in mainFirst..<lebCount {
            var at = lnum * leb
            while at + 24 <= (lnum + 1) * leb, u32(at) == 0x0610_1831 {
                let len = u32(at + 16), type = b[at + 20], inum = UInt64(u32(at + 24))
                if type == 0 { creation[inum] = u64(at + 40) }
                if type == 1 { oldestData[inum] = min(oldestData[inum] ?? .max, u64(at + 8)) }
                at += type == 5 ? 28 + u32(at + 24) : (len + 7) / 8 * 8
            }
        }
        #expect(oldestData.count > 5)
        for (inum, sq) in oldestData {
            let c = try #require(creation[inum], "inode \(inum) has data nodes but no inode node")
            #expect(sq > c, "inode \(inum): data node sqnum \(sq), creation sqnum \(c)")
        }
    }

    /// Which thread's compressor takes a block must not matter (the output may not depend on the
    /// number of cores): a compressor that has worked on other blocks gives a block the same bytes
    /// as a fresh one, in every mode.
    @Test("a block compresses to the same bytes whichever compressor takes it", arguments: [
        UBIFSCompressor.Mode.lzo, .zlib, .zstd, .none, .favorLZO(percent: 20),
    ])
    func compressorsAreStateless(mode: UBIFSCompressor.Mode) {
        let text = Array((0..<300).map { "row \($0) of some text\n" }.joined().utf8.prefix(4096))
        var g = SystemRandomNumberGenerator()
        let noise = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &g) }
        let zeros = [UInt8](repeating: 0, count: 4096)
        func compress(_ c: UBIFSCompressor, _ block: [UInt8]) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: 2 * 4096 + 1024)
            let (kind, n) = block.withUnsafeBytes { i in out.withUnsafeMutableBytes { c.compress(i, into: $0) } }
            return [UInt8(kind.rawValue)] + out.prefix(n)
        }
        let fresh = compress(UBIFSCompressor(mode: mode), text)
        let used = UBIFSCompressor(mode: mode)
        _ = compress(used, noise)
        _ = compress(used, zeros)
        _ = compress(used, Array(text.reversed()))
        #expect(compress(used, text) == fresh)
        if mode != .none { #expect(fresh[0] != 0, "text compresses") }
        #expect(compress(used, noise)[0] == 0, "random data is stored as it is")
    }

    /// Linux lib/crc16.c's CRC (CRC-16/MODBUS parameters): the standard check value.
    @Test func crc16CheckValue() {
        let v = Array("123456789".utf8).withUnsafeBytes { CRC16.compute($0) }
        #expect(v == 0x4B37)
    }

    /// The r5 hash over signed chars, masked: values the kernel's `key_r5_hash` gives.
    @Test func r5Hash() {
        #expect(UBIFSMedia.KeyHash.r5.hash(Array("".utf8)) == 3)
        // a = ((a + (c << 4) + (c >> 4)) * 11) for 'a' = 97: (1552 + 6) * 11 = 17138.
        #expect(UBIFSMedia.KeyHash.r5.hash(Array("a".utf8)) == 17138)
        // 0xE4 is -28 as a signed char: ((-448) + (-2)) * 11 = -4950, masked to 29 bits.
        #expect(UBIFSMedia.KeyHash.r5.hash([0xE4]) == UInt32(bitPattern: -4950) & 0x1FFF_FFFF)
    }
}
