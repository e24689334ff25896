import Foundation
import RootFS
import Testing
import TestSupport
@testable import Flash

/// The UBIFS reader against images Debian's mkfs.ubifs (mtd-utils 2.1.5) makes from a staged tree
/// with every kind of entry, for every compressor: the listing (digests included) is the staged
/// tree's. Then the same image in a UBI volume (ubinize), corrupted copies refused with one line,
/// and a journal (log reference + bud) built by hand on top of a committed image, read as the
/// kernel's replay would.
@Suite struct UBIFSReaderTests {
    struct Case: Sendable, CustomStringConvertible {
        var compressor: String
        var options: [String]
        var description: String { "\(compressor) \(options.joined(separator: " "))" }
    }

    static let small = ["-m", "2048", "-e", "126976", "-c", "200"]
    static let cases: [Case] = [
        Case(compressor: "lzo", options: small), Case(compressor: "zlib", options: small), Case(compressor: "zstd", options: small),
        Case(compressor: "none", options: small), Case(compressor: "favor_lzo", options: small),
        // 4 KiB pages, 256 KiB blocks (LEB 253952), fanout 4.
        Case(compressor: "lzo", options: ["-m", "4096", "-e", "253952", "-c", "8000", "-f", "4"]),
        // The smallest LEBs, 8-byte I/O, the "test" key hash; a LEB count that needs the big LPT model.
        Case(compressor: "zstd", options: ["-m", "8", "-e", "15360", "-c", "4000", "-k", "test"]),
    ]

    /// The device table mkfs.ubifs is given (-D): name, type, mode, uid, gid, major, minor.
    static let deviceTable = "/dev/console c 600 0 5 5 1 0 0 -\n/dev/sda b 640 0 6 8 0 0 0 -\n/dev/huge c 600 0 0 300 70000 0 0 -\n"

    /// A tree with every kind of entry mkfs.ubifs takes from a folder.
    static func stage(_ dir: TempDir) throws -> String {
        let root = dir.file("tree")
        let fm = FileManager.default
        for d in ["", "/dev", "/etc", "/usr/lib/deep/er", "/tmp"] { try fm.createDirectory(atPath: root + d, withIntermediateDirectories: true) }
        var rng = Xorshift(seed: 7)
        func file(_ p: String, _ bytes: [UInt8], mode: Int = 0o644) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: root + p))
            chmod(root + p, mode_t(mode))
        }
        try file("/empty", [])
        try file("/block", (0..<4096).map { _ in rng.next() })
        try file("/etc/text", Array((0..<30000).map { "line \($0) of some text\n" }.joined().utf8))
        try file("/usr/lib/random.bin", (0..<(700 << 10) + 13).map { _ in rng.next() })
        try file("/usr/lib/deep/er/small", Array("hi\n".utf8), mode: 0o4755)
        // Holes: 3 MiB with 5 bytes at 1 MiB + 10 and a last block partly written.
        let sparse = root + "/usr/lib/sparse"
        #expect(FileManager.default.createFile(atPath: sparse, contents: nil))
        let fd = open(sparse, O_WRONLY)
        _ = "hole!".withCString { pwrite(fd, $0, 5, (1 << 20) + 10) }
        ftruncate(fd, 3 << 20 + 100)
        close(fd)
        symlink("block", root + "/short")
        symlink(String(repeating: "long/", count: 120) + "target", root + "/long")
        link(root + "/etc/text", root + "/usr/text-again")
        link(root + "/etc/text", root + "/tmp/third")
        mkfifo(root + "/tmp/fifo", 0o600)
        chmod(root + "/tmp", 0o1777)
        if getuid() == 0 {
            chown(root + "/etc", 1000, 100)
            lchown(root + "/short", 33, 44)
            chown(root + "/usr/lib/random.bin", 65534, 65534)
        }
        // The same times everywhere but a few, so a wrong field shows.
        for p in try fm.subpathsOfDirectory(atPath: root) + [""] {
            var t = [timespec(tv_sec: 1_700_000_000, tv_nsec: 0), timespec(tv_sec: p.hasSuffix("text") ? 1_600_000_123 : 1_700_000_000, tv_nsec: 0)]
            utimensat(AT_FDCWD, root + (p.isEmpty ? "" : "/" + p), &t, AT_SYMLINK_NOFOLLOW)
        }
        return root
    }

    static func mkfs(_ dir: TempDir, _ tree: String, _ c: Case, name: String = "root.ubifs") throws -> String {
        let table = try dir.write("devices.txt", deviceTable)
        let out = dir.file(name)
        let r = try run(try #require(which("mkfs.ubifs")), ["-r", tree, "-x", c.compressor, "-D", table, "-o", out] + c.options)
        try #require(r.status == 0, "mkfs.ubifs: \(r.err)")
        return out
    }

    /// What the device table adds to the staged tree's listing.
    static func expectDevices(_ extra: [Listing.Item]) {
        let found = extra.map { "\($0.path) \($0.kind.rawValue) 0\(String($0.mode, radix: 8)) \($0.uid):\($0.gid) \($0.major),\($0.minor)" }.sorted()
        #expect(found == ["/dev/console char 0600 0:5 5,1", "/dev/huge char 0600 0:0 300,70000", "/dev/sda block 0640 0:6 8,0"])
    }

    @Test(arguments: cases)
    func readsWhatMkfsUbifsWrote(c: Case) throws {
        guard toolsAvailable("mkfs.ubifs") else { return }
        let dir = try TempDir()
        let tree = try Self.stage(dir)
        let image = try Self.mkfs(dir, tree, c)
        let ours = try Listing.of(ubifs: image, digests: true)
        let staged = try Listing.of(directory: tree, digests: true)
        let diff = ListingDiff(ours, staged)
        var devices: [Listing.Item] = []
        for change in diff.changes {
            if case let .onlyInFirst(i) = change, i.path.hasPrefix("/dev/") { devices.append(i) } else { Issue.record("\(c): \(change)") }
        }
        Self.expectDevices(devices)
        #expect(ours.items.filter { $0.kind == .hardlink }.map(\.link) == ["/etc/text", "/etc/text"])
        let reader = try UBIFSReader(path: image)
        #expect(reader.problems.isEmpty)
        #expect(reader.buds.isEmpty)
        #expect(reader.superblock.defaultCompressor.name == (c.compressor == "favor_lzo" ? "lzo" : c.compressor))
        #expect(reader.superblock.bigLPT == c.options.contains("4000"))
    }

    /// Memory does not grow with file size: a file is handed out in pieces of at most 64 KiB.
    @Test func streamsFilesInBoundedPieces() throws {
        guard toolsAvailable("mkfs.ubifs") else { return }
        let dir = try TempDir()
        let image = try Self.mkfs(dir, try Self.stage(dir), Self.cases[0])
        let r = try UBIFSReader(path: image)
        let sparse = try #require(try r.entries().first { $0.path == "/usr/lib/sparse" })
        var total = 0, largest = 0, nonZero: [Int] = []
        try r.readFile(sparse) { chunk in
            for (i, b) in chunk.enumerated() where b != 0 { nonZero.append(total + i) }
            total += chunk.count
            largest = max(largest, chunk.count)
        }
        #expect(total == 3 << 20 + 100)
        #expect(largest <= 1 << 16)
        #expect(nonZero == Array(((1 << 20) + 10)..<((1 << 20) + 15)))
    }

    @Test func readsTheUBIFSVolumeOfAUBIImage() throws {
        guard toolsAvailable("mkfs.ubifs", "ubinize") else { return }
        let dir = try TempDir()
        let tree = try Self.stage(dir)
        // ubinize -s 512 on 2 KiB pages: LEB = 128 KiB - 2 × 2 KiB.
        let image = try Self.mkfs(dir, tree, Case(compressor: "zstd", options: ["-m", "2048", "-e", "126976", "-c", "200"]))
        let ini = try dir.write("ubi.ini", "[rootfs]\nmode=ubi\nvol_id=0\nvol_type=dynamic\nvol_name=rootfs\nvol_size=12MiB\nvol_flags=autoresize\nimage=\(image)\n[data]\nmode=ubi\nvol_id=1\nvol_type=dynamic\nvol_name=data\nvol_size=1MiB\n")
        let r = try run(try #require(which("ubinize")), ["-o", dir.file("two.ubi"), "-m", "2048", "-p", "128KiB", ini])
        try #require(r.status == 0, "ubinize: \(r.err)")
        let plain = try Listing.of(ubifs: image, digests: true)
        let inUBI = try Listing.of(ubifs: dir.file("two.ubi"), digests: true)
        #expect(ListingDiff(plain, inUBI).changes.isEmpty)
        #expect(try Listing.of(ubifs: dir.file("two.ubi"), volume: "rootfs", digests: false).items.count == plain.items.count)
        #expect(throws: UBIFSFailure.self) { try Listing.of(ubifs: dir.file("two.ubi"), volume: "rootfz", digests: false) }
        do {
            _ = try Listing.of(ubifs: dir.file("two.ubi"), volume: "data", digests: false)
            Issue.record("an empty volume read as UBIFS")
        } catch let e as UBIFSFailure {
            #expect(e.message.contains("did you mean") || e.message.contains("UBIFS volumes: 'rootfs'"), "\(e.message)")
        }
        // A second UBIFS volume: naming one is then required.
        let ini2 = try dir.write("ubi2.ini", "[a]\nmode=ubi\nvol_id=0\nvol_name=first\nvol_size=12MiB\nimage=\(image)\n[b]\nmode=ubi\nvol_id=1\nvol_name=second\nvol_size=12MiB\nimage=\(image)\n")
        try #require(try run(try #require(which("ubinize")), ["-o", dir.file("both.ubi"), "-m", "2048", "-p", "128KiB", ini2]).status == 0)
        #expect(throws: UBIFSFailure("\(dir.file("both.ubi")): the UBI image holds several UBIFS volumes ('first', 'second'): choose one with --volume NAME")) {
            try UBIFSReader(path: dir.file("both.ubi"))
        }
        #expect(try Listing.of(ubifs: dir.file("both.ubi"), volume: "second", digests: true).items.map(\.sha256) == plain.items.map(\.sha256))
    }

    // MARK: Corruption

    /// The offsets of every node of `type` in a plain image (8-byte aligned headers with the magic).
    static func nodes(_ b: [UInt8], type: UBIFSMedia.NodeType, lebSize: Int) -> [(lnum: Int, offset: Int)] {
        stride(from: 0, to: b.count - 24, by: 8).compactMap { o in
            UBIFSBytes.u32(b, o) == UBIFSMedia.magic && b[o + 20] == type.rawValue ? (o / lebSize, o % lebSize) : nil
        }
    }

    static func reseal(_ b: inout [UInt8], at o: Int) {
        let len = Int(UBIFSBytes.u32(b, o + 16))
        let crc = b.withUnsafeBytes { UBIFSMedia.crc(UnsafeRawBufferPointer(rebasing: $0[(o + 8)..<(o + len)])) }
        withUnsafeBytes(of: crc.littleEndian) { b.replaceSubrange((o + 4)..<(o + 8), with: $0) }
    }

    static func put32(_ b: inout [UInt8], _ o: Int, _ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b.replaceSubrange(o..<(o + 4), with: $0) } }

    struct Corruption: Sendable, CustomStringConvertible {
        var name: String
        /// What the one-line error must say.
        var expected: [String]
        var apply: @Sendable (inout [UInt8], Int) -> String?
        var description: String { name }
    }

    static let corruptions: [Corruption] = [
        Corruption(name: "a flipped byte in a data node", expected: ["data node CRC", "LEB "]) { b, leb in
            guard let n = nodes(b, type: .data, lebSize: leb).dropFirst(3).first else { return nil }
            b[n.lnum * leb + n.offset + 60] ^= 0x20
            return "LEB \(n.lnum):\(n.offset):"
        },
        Corruption(name: "a flipped byte in an inode node", expected: ["inode node CRC"]) { b, leb in
            guard let n = nodes(b, type: .inode, lebSize: leb).last else { return nil }
            b[n.lnum * leb + n.offset + 100] ^= 1
            return "LEB \(n.lnum):\(n.offset):"
        },
        Corruption(name: "the image cut in half", expected: ["expected"]) { b, _ in
            b.removeLast(b.count / 2)
            return nil
        },
        Corruption(name: "the image cut inside the superblock", expected: ["superblock"]) { b, _ in
            b.removeLast(b.count - 2000)
            return nil
        },
        Corruption(name: "an absurd LEB size (CRC fixed)", expected: ["LEB size 4294967295"]) { b, _ in
            put32(&b, 36, 0xFFFF_FFFF)
            reseal(&b, at: 0)
            return nil
        },
        Corruption(name: "an absurd log LEB count (CRC fixed)", expected: ["log/LPT/orphan LEBs"]) { b, _ in
            put32(&b, 56, 0x7FFF_FFFF)
            reseal(&b, at: 0)
            return nil
        },
        Corruption(name: "an absurd index root length in both masters (CRC fixed)", expected: ["index root"]) { b, leb in
            for n in nodes(b, type: .master, lebSize: leb) {
                put32(&b, n.lnum * leb + n.offset + 56, 0x7FFF_FFF0)
                reseal(&b, at: n.lnum * leb + n.offset)
            }
            return nil
        },
        Corruption(name: "an index node with 65535 branches (CRC fixed)", expected: ["65535 branches"]) { b, leb in
            guard let n = nodes(b, type: .index, lebSize: leb).last else { return nil }
            b[n.lnum * leb + n.offset + 24] = 0xFF
            b[n.lnum * leb + n.offset + 25] = 0xFF
            reseal(&b, at: n.lnum * leb + n.offset)
            return "LEB \(n.lnum):\(n.offset):"
        },
        Corruption(name: "an entry naming a huge inode number (CRC fixed)", expected: ["inode"]) { b, leb in
            guard let n = nodes(b, type: .dent, lebSize: leb).first else { return nil }
            for i in 0..<8 { b[n.lnum * leb + n.offset + 40 + i] = 0xEE }
            reseal(&b, at: n.lnum * leb + n.offset)
            return nil
        },
    ]

    @Test(arguments: corruptions)
    func corruptedImagesAreRefusedWithOneLine(c: Corruption) throws {
        guard toolsAvailable("mkfs.ubifs") else { return }
        let dir = try TempDir()
        let image = try Self.mkfs(dir, try Self.stage(dir), Self.cases[0])
        var b = try readBytes(image)
        let at = c.apply(&b, 126976)
        let bad = try dir.write("bad.ubifs", b)
        do {
            _ = try Listing.of(ubifs: bad, digests: true)
            Issue.record("\(c): read without an error")
        } catch let e as UBIFSFailure {
            #expect(e.message.hasPrefix(bad + ": "), "\(e.message)")
            #expect(!e.message.contains("\n"))
            for s in c.expected { #expect(e.message.contains(s), "\(e.message)") }
            if let at { #expect(e.message.contains(at), "\(e.message)") }
        }
        // The command line: one line, exit code for bad data, no crash.
        guard filesAvailable(flashsmithPath) else { return }
        let r = try run(flashsmithPath, ["rootfs", "ls", bad, "--digests"])
        #expect(r.status == 65, "\(r.status) \(r.err)")
        #expect(r.err.split(separator: "\n").count == 1, "\(r.err)")
    }

    // MARK: The journal

    /// A committed mkfs.ubifs image, then a log reference to a new bud LEB holding what Linux
    /// writes between commits: a file rewritten (data + inode), a file deleted (entry to inode 0 and
    /// the inode with nlink 0), a new file (data, inode, entry), a truncation then a size grown
    /// back (the cut blocks must read as zeros), a changed xattr-less mode. The reader must show
    /// the tree after the journal.
    @Test func replaysTheJournalOverTheIndex() throws {
        guard toolsAvailable("mkfs.ubifs") else { return }
        let dir = try TempDir()
        let tree = dir.file("t")
        try FileManager.default.createDirectory(atPath: tree + "/d", withIntermediateDirectories: true)
        let big = (0..<20000).map { UInt8(truncatingIfNeeded: $0 % 251 + 1) }
        try Data(Array("hello\n".utf8)).write(to: URL(fileURLWithPath: tree + "/a"))
        try Data(Array("bye\n".utf8)).write(to: URL(fileURLWithPath: tree + "/gone"))
        try Data(big).write(to: URL(fileURLWithPath: tree + "/d/big"))
        let image = dir.file("j.ubifs")
        let leb = 15360
        let mk = try run(try #require(which("mkfs.ubifs")), ["-r", tree, "-m", "8", "-e", String(leb), "-c", "64", "-x", "none", "-o", image])
        try #require(mk.status == 0, "\(mk.err)")
        let before = try UBIFSReader(path: image)
        let entries = try before.entries()
        func inum(_ p: String) throws -> UInt64 { try #require(entries.first { $0.path == p }).inode }
        let (a, gone, bigIno) = (try inum("/a"), try inum("/gone"), try inum("/d/big"))
        let dInode = try inum("/d")
        var b = try readBytes(image)
        let budLEB = b.count / leb + (b.count % leb == 0 ? 0 : 1)
        b += [UInt8](repeating: 0xFF, count: (budLEB + 1) * leb - b.count)
        var sqnum: UInt64 = 1_000_000
        // The reference, after the commit-start node (32 bytes) in the log's first LEB.
        var ref = [UInt8](repeating: 0, count: UBIFSMedia.refNodeSize)
        ref.withUnsafeMutableBytes { p in
            UBIFSMedia.put(p, 24, UInt32(budLEB))
            UBIFSMedia.put(p, 28, UInt32(0))
            UBIFSMedia.put(p, 32, UInt32(1))
            UBIFSMedia.seal(p, type: .reference, length: UBIFSMedia.refNodeSize, sqnum: sqnum)
        }
        b.replaceSubrange((3 * leb + 32)..<(3 * leb + 32 + ref.count), with: ref)
        var at = budLEB * leb
        func append(_ node: [UInt8], _ type: UBIFSMedia.NodeType) {
            sqnum += 1
            var n = node
            let length = n.count
            n.withUnsafeMutableBytes { UBIFSMedia.seal($0, type: type, length: length, sqnum: sqnum) }
            b.replaceSubrange(at..<(at + n.count), with: n)
            at += UBIFSMedia.align(n.count, 8)
        }
        func data(_ ino: UInt64, block: UInt32, _ bytes: [UInt8]) {
            var n = [UInt8](repeating: 0, count: UBIFSMedia.dataNodeSize + bytes.count)
            n.withUnsafeMutableBytes { UBIFSMedia.dataNodeHeader($0, key: .data(ino, block: block), size: bytes.count, compressor: .none) }
            n.replaceSubrange(UBIFSMedia.dataNodeSize..., with: bytes)
            append(n, .data)
        }
        func inode(_ ino: UInt64, size: UInt64, mode: UInt32, nlink: UInt32 = 1) {
            var i = UBIFSMedia.Inode(number: ino, mode: mode)
            i.size = size
            i.nlink = nlink
            i.mtime = 1_800_000_000
            append(UBIFSMedia.inodeNode(i), .inode)
        }
        func dent(_ parent: UInt64, _ name: String, _ target: UInt64) {
            let key = UBIFSMedia.Key.entry(parent, hash: UBIFSMedia.KeyHash.r5.hash(Array(name.utf8)), type: .dent)
            append(UBIFSMedia.entryNode(key: key, name: Array(name.utf8), target: target, type: .regular), .dent)
        }
        // /a rewritten.
        data(a, block: 0, Array("journal\n".utf8))
        inode(a, size: 8, mode: 0o100600)
        // /gone deleted.
        dent(1, "gone", 0)
        inode(gone, size: 0, mode: 0o100644, nlink: 0)
        // /d/new created.
        data(300, block: 0, Array("new\n".utf8))
        inode(300, size: 4, mode: 0o100640)
        dent(dInode, "new", 300)
        // /d/big truncated to 8192 then grown to 12000: block 2 is gone, bytes past 8192 are zeros.
        var trun = [UInt8](repeating: 0, count: 56)
        trun.withUnsafeMutableBytes { p in
            UBIFSMedia.put(p, 24, UInt32(bigIno))
            UBIFSMedia.put(p, 40, UInt64(20000))
            UBIFSMedia.put(p, 48, UInt64(8192))
        }
        append(trun, .truncation)
        inode(bigIno, size: 12000, mode: 0o100644)
        _ = try dir.write("j2.ubifs", b)

        let r = try UBIFSReader(path: dir.file("j2.ubifs"))
        #expect(r.buds.map(\.lnum) == [budLEB])
        #expect(r.journal.count == 9)
        let after = try r.entries()
        #expect(after.map(\.path) == ["/", "/a", "/d", "/d/big", "/d/new"])
        func content(_ p: String) throws -> [UInt8] {
            var out: [UInt8] = []
            try r.readFile(try #require(after.first { $0.path == p })) { out += $0 }
            return out
        }
        #expect(try content("/a") == Array("journal\n".utf8))
        #expect(after.first { $0.path == "/a" }?.mode == 0o600)
        #expect(try content("/d/new") == Array("new\n".utf8))
        #expect(try content("/d/big") == Array(big[0..<8192]) + [UInt8](repeating: 0, count: 12000 - 8192))
        // The committed image alone still reads as it was.
        #expect(try before.entries().map(\.path) == ["/", "/a", "/d", "/d/big", "/gone"])

        // A bud whose node is torn: refused with its LEB:offset on a cleanly unmounted volume.
        b[budLEB * leb + 60] ^= 0xFF
        _ = try dir.write("torn.ubifs", b)
        #expect(throws: UBIFSFailure.self) { try UBIFSReader(path: dir.file("torn.ubifs")) }
        // Not cleanly unmounted (UBIFS_MST_DIRTY in the masters): the torn tail of the last bud is
        // what a power cut leaves, and the replay stops there, as the kernel's recovery does.
        for n in Self.nodes(b, type: .master, lebSize: leb) {
            Self.put32(&b, n.lnum * leb + n.offset + 40, 1)
            Self.reseal(&b, at: n.lnum * leb + n.offset)
        }
        _ = try dir.write("dirty.ubifs", b)
        let dirty = try UBIFSReader(path: dir.file("dirty.ubifs"))
        #expect(!dirty.master.cleanlyUnmounted)
        #expect(try dirty.entries().map(\.path) == ["/", "/a", "/d", "/d/big", "/gone"])
    }

    typealias Block = (block: UInt32, location: UBIFSLocation)

    func loc(_ n: Int) -> UBIFSLocation { UBIFSLocation(lnum: n, offset: 0, length: 48) }

    /// `apply_replay_list` semantics on keys alone: order by sequence number, deletions, inode
    /// removal unless a newer inode node follows, truncation of indexed blocks.
    @Test func journalMergeFollowsReplayOrder() {
        let k = UBIFSMedia.Key.self
        let j = UBIFSJournal([
            .init(sqnum: 20, .node(k.data(70, block: 1), loc(201))),
            .init(sqnum: 10, .node(k.data(70, block: 1), loc(101))),  // older: loses to 20
            .init(sqnum: 11, .node(k.data(70, block: 9), loc(109))),
            .init(sqnum: 30, .truncation(inode: 70, oldSize: 40000, newSize: 4097)),  // blocks 2…9 go
            .init(sqnum: 31, .node(k.data(70, block: 5), loc(305))),  // written after: stays
            .init(sqnum: 40, .node(k.inode(71), nil)),  // deleted, and nothing newer
            .init(sqnum: 41, .node(k.inode(72), nil)),
            .init(sqnum: 42, .node(k.inode(72), loc(420))),  // re-linked: not removed
            .init(sqnum: 50, .entry(k.entry(1, hash: 99, type: .dent), name: Array("x".utf8), target: 0, loc(500))),
        ])
        let indexed: [Block] = [(0, loc(1000)), (1, loc(1001)), (3, loc(1003)), (10, loc(1010))]
        let merged = j.mergeData(inode: 70, indexed: indexed)
        #expect(merged.map(\.block) == [0, 1, 5, 10])
        #expect(merged.map(\.location.lnum) == [1000, 201, 305, 1010])
        #expect(j.removedInodes == [71])
        #expect(!j.indexedStands(.data(71, block: 0)))
        #expect(j.indexedStands(.inode(72)))
        #expect(j.lookup(.inode(72)) == .some(loc(420)))
        #expect(j.named[.init(key: k.entry(1, hash: 99, type: .dent), name: Array("x".utf8))] == .some(nil))
        // Truncations that remove nothing (growing, or from 0) are ignored, never trap.
        #expect(UBIFSJournal([.init(sqnum: 1, .truncation(inode: 5, oldSize: 0, newSize: 10)), .init(sqnum: 2, .truncation(inode: 5, oldSize: 4096, newSize: 4000))]).truncated.isEmpty)
        #expect(UBIFSJournal([.init(sqnum: 1, .truncation(inode: 5, oldSize: UInt64.max, newSize: UInt64.max - 1))]).truncated.isEmpty)
        // An inode removed, then data written for a reused number: only the new data stands.
        let reuse = UBIFSJournal([.init(sqnum: 1, .node(k.inode(80), nil)), .init(sqnum: 2, .node(k.data(80, block: 4), loc(4)))])
        #expect(reuse.mergeData(inode: 80, indexed: [(0, loc(1)), (4, loc(2))] as [Block]).map(\.location.lnum) == [4])
    }
}
