import Disk
import FlashsmithCore
import Foundation
import Testing
import TestSupport

@Suite struct GPTTests {
    static let layouts: [Layout] = [
        Layout(name: "esp, root, data; default entries", table: gpt(64 * MiB, [
            Partition(name: "boot", offset: 1 * MiB, size: 16 * MiB, type: type("esp", .gpt), bootable: true),
            Partition(name: "root", offset: 17 * MiB, size: 32 * MiB, type: type("linux-root-arm64", .gpt), guid: GUID("11111111-2222-3333-4444-555555555555")),
            Partition(name: "data", offset: 49 * MiB, size: 15 * MiB - 17 * 1024, type: type("linux", .gpt)),
        ])),
        Layout(name: "u-boot-env, literal GUID type, entries at 1MiB", table: gpt(32 * MiB, [
            Partition(name: "env", offset: 2 * MiB, size: 64 * KiB, type: type("u-boot-env", .gpt)),
            Partition(name: "blob", offset: 3 * MiB, size: 1 * MiB, type: .gpt(GUID("01234567-89AB-CDEF-0123-456789ABCDEF")!), attributes: 1 << 60),
            Partition(name: "ünïcode-名前", offset: 4 * MiB, size: 4 * MiB, type: type("msdata", .gpt)),
        ], location: 1 * MiB, id: GUID("AABBCCDD-EEFF-0011-2233-445566778899"))),
        Layout(name: "one partition filling the disk", table: gpt(4 * MiB, [
            Partition(name: "all", offset: 17 * 1024, size: 4 * MiB - 67 * 512, type: type("swap", .gpt)),
        ])),
    ]

    @Test func guidTextRoundTrips() throws {
        let g = try #require(GUID("0fc63daf-8483-4772-8e79-3d69d8477de4"))
        #expect(g.description == "0FC63DAF-8483-4772-8E79-3D69D8477DE4")
        #expect(g.diskBytes.prefix(4) == [0xAF, 0x3D, 0xC6, 0x0F])
        #expect(GUID(diskBytes: g.diskBytes[...]) == g)
        #expect(GUID("0fc63daf84834772-8e79-3d69d8477de4") == nil && GUID("0fc63daf-8483-4772-8e79-3d69d8477dZ4") == nil)
    }

    /// sfdisk and sgdisk read what we write: valid, partitions where we said, types, GUIDs, names, flags.
    @Test(arguments: layouts)
    func peersReadOurTable(_ layout: Layout) throws {
        guard toolsAvailable("sfdisk", "sgdisk") else { return }
        let dir = try TempDir()
        let img = dir.file("disk.img")
        try layout.table.write(to: img)
        let resolved = try layout.table.resolved()
        let v = try run("sgdisk", ["-v", img])
        #expect(v.status == 0 && v.out.contains("No problems found"), "\(v.out)\(v.err)")
        let j = try sfdiskJSON(img)
        #expect(j["label"] as? String == "gpt")
        #expect(j["id"] as? String == resolved.diskID?.description)
        let parts = try sfdiskPartitions(img)
        #expect(parts.count == resolved.partitions.count)
        for (p, s) in zip(resolved.partitions, parts) {
            #expect(s["start"] as? Int == p.offset / 512 && s["size"] as? Int == p.size / 512, "\(p.name)")
            guard case let .gpt(t) = p.type else { continue }
            #expect(s["type"] as? String == t.description)
            #expect(s["uuid"] as? String == p.guid?.description)
            #expect((s["name"] as? String ?? "") == p.name)
            let attrs = s["attrs"] as? String ?? ""
            #expect(attrs.contains("LegacyBIOSBootable") == p.bootable, "\(attrs)")
            if p.attributes & (1 << 60) != 0 { #expect(attrs.contains("GUID:60"), "\(attrs)") }
        }
        // sgdisk -i names the partition and its GUIDs too.
        let i = try run("sgdisk", ["-i", "1", img])
        #expect(i.out.contains(resolved.partitions[0].guid!.description))
    }

    /// We read back what we write, equal to the resolved model.
    @Test(arguments: layouts)
    func weReadOurTable(_ layout: Layout) throws {
        let dir = try TempDir()
        let img = dir.file("disk.img")
        try layout.table.write(to: img)
        let info = try DiskImageInfo.read(path: img)
        var expected = try layout.table.resolved()
        expected.seed = ""
        #expect(info.table == expected)
        #expect(info.problems.isEmpty, "\(info.problems)")
    }

    /// Tables written by sfdisk and by sgdisk: our reader says what sfdisk says.
    @Test(arguments: ["sfdisk", "sgdisk"])
    func weReadPeerTables(_ tool: String) throws {
        guard toolsAvailable("sfdisk", "sgdisk") else { return }
        let dir = try TempDir()
        let img = dir.file("disk.img")
        try Data(count: 0).write(to: URL(fileURLWithPath: img))
        try FileHandle(forWritingTo: URL(fileURLWithPath: img)).truncate(atOffset: UInt64(48 * MiB))
        if tool == "sfdisk" {
            let script = """
                label: gpt
                label-id: 01234567-89AB-CDEF-0123-456789ABCDEF
                start=2048, size=4096, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="boot", attrs="LegacyBIOSBootable"
                start=8192, size=16384, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=11111111-2222-3333-4444-555555555555, name="root"
                start=40960, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F
                """
            let r = try run("sfdisk", ["-q", img], stdin: Array(script.utf8))
            #expect(r.status == 0, "\(r.err)")
        } else {
            let r = try run("sgdisk", ["-n", "1:2048:+2M", "-t", "1:ef00", "-c", "1:boot", "-A", "1:set:2", "-n", "3:10M:+8M", "-t", "3:8300", "-c", "3:root",
                                       "-u", "3:11111111-2222-3333-4444-555555555555", "-U", "01234567-89AB-CDEF-0123-456789ABCDEF", img])
            #expect(r.status == 0, "\(r.err)")
        }
        let info = try DiskImageInfo.read(path: img)
        #expect(info.problems.isEmpty, "\(info.problems)")
        #expect(info.table.diskID == .guid(GUID("01234567-89AB-CDEF-0123-456789ABCDEF")!))
        let parts = try sfdiskPartitions(img)
        #expect(info.table.partitions.count == parts.count)
        for (p, s) in zip(info.table.partitions, parts) {
            #expect(s["start"] as? Int == p.offset / 512 && s["size"] as? Int == p.size / 512)
            #expect(s["type"] as? String == { if case let .gpt(g) = p.type { return g.description } else { return "" } }())
            #expect(s["uuid"] as? String == p.guid?.description)
            #expect((s["name"] as? String ?? "") == p.name)
            #expect((s["attrs"] as? String ?? "").contains("LegacyBIOSBootable") == p.bootable)
            #expect(s["node"] as? String == "\(img)\(info.numbers[info.table.partitions.firstIndex(of: p)!])")
        }
    }

    /// A flipped byte in the primary header or entries is an error naming the CRC; in the backup
    /// it is a problem the read lists.
    @Test(arguments: [
        (512 + 40, "header CRC32"), (512 + 88, "header CRC32"), (1024 + 32, "primary GPT entries"), (1024 + 127 * 128 + 5, "primary GPT entries"),
        (-512 + 56, "backup"), (-512 - 16 * 1024 + 20, "backup GPT entries"),
    ])
    func flippedByteIsDetected(_ offset: Int, _ expected: String) throws {
        let dir = try TempDir()
        let img = dir.file("disk.img")
        try Self.layouts[0].table.write(to: img)
        let size = try FileIO.size(of: img)
        let at = offset < 0 ? size + offset : offset
        var b = try FileIO.read(img, offset: at, count: 1)
        b[0] ^= 0x10
        try AtomicFile.patch(img, patches: [(at, b)])
        if offset > 0 {
            let e = errorText { _ = try DiskImageInfo.read(path: img) }
            #expect(e?.contains(expected) == true, "\(e ?? "no error")")
        } else {
            let info = try DiskImageInfo.read(path: img)
            #expect(info.problems.contains { $0.contains(expected) }, "\(info.problems)")
        }
    }

    /// Unset identifiers are derived: the same seed gives the same bytes, another seed others;
    /// every GUID is version 8, variant RFC.
    @Test func derivedIdentifiersAreDeterministic() throws {
        let t = Self.layouts[0].table
        let a = try t.chunks(), b = try t.chunks()
        #expect(a.map(\.offset) == b.map(\.offset) && a.map(\.bytes) == b.map(\.bytes))
        var other = t
        other.seed = "another-board"
        #expect(try other.chunks().map(\.bytes) != a.map(\.bytes))
        let r = try t.resolved()
        guard case let .guid(disk)? = r.diskID else { Issue.record("no disk GUID"); return }
        for g in [disk] + r.partitions.compactMap(\.guid) where g != GUID("11111111-2222-3333-4444-555555555555") {
            #expect(g.bytes[6] >> 4 == 8 && g.bytes[8] >> 6 == 2, "\(g)")
        }
        #expect(Set(r.partitions.compactMap(\.guid)).count == 3)
    }

    static let invalid: [(String, PartitionTable, String)] = [
        ("overlap", gpt(16 * MiB, [
            Partition(name: "a", offset: 1 * MiB, size: 2 * MiB, type: type("linux", .gpt)),
            Partition(name: "b", offset: 2 * MiB, size: 2 * MiB, type: type("linux", .gpt)),
        ]), "partition 1 'a' (0x100000…0x300000) overlaps partition 2 'b'"),
        ("into the entries", gpt(16 * MiB, [Partition(name: "early", offset: 8 * KiB, size: 1 * MiB, type: type("linux", .gpt))]),
         "partition 1 'early' (0x2000…0x102000) overlaps the GPT entries (0x400…0x4400)"),
        ("past the end", gpt(16 * MiB, [Partition(name: "big", offset: 1 * MiB, size: 16 * MiB, type: type("linux", .gpt))]),
         "partition 1 'big': ends at 0x1100000, past the disk's end at 0x1000000"),
        ("into the backup", gpt(16 * MiB, [Partition(name: "tail", offset: 1 * MiB, size: 15 * MiB, type: type("linux", .gpt))]),
         "partition 1 'tail' (0x100000…0x1000000) overlaps the backup GPT"),
        ("misaligned", gpt(16 * MiB, [Partition(name: "odd", offset: 1 * MiB + 100, size: 1 * MiB, type: type("linux", .gpt))]),
         "partition 1 'odd': offset 0x100064 is not a multiple of 512 bytes"),
        ("before moved entries", gpt(16 * MiB, [Partition(name: "a", offset: 1 * MiB, size: 1 * MiB, type: type("linux", .gpt))], location: 4 * MiB),
         "partition 1 'a': starts at 0x100000, before the first usable byte 0x404000 (after the GPT entries at 0x400000)"),
        ("duplicate GUIDs", gpt(16 * MiB, [
            Partition(name: "a", offset: 1 * MiB, size: 1 * MiB, type: type("linux", .gpt), guid: GUID("11111111-2222-3333-4444-555555555555")),
            Partition(name: "b", offset: 2 * MiB, size: 1 * MiB, type: type("linux", .gpt), guid: GUID("11111111-2222-3333-4444-555555555555")),
        ]), "partition 2 'b': GUID 11111111-2222-3333-4444-555555555555 is also partition 1 'a''s"),
        ("long name", gpt(16 * MiB, [Partition(name: String(repeating: "n", count: 37), offset: 1 * MiB, size: 1 * MiB, type: type("linux", .gpt))]),
         "the name is 37 UTF-16 units long; GPT names hold at most 36"),
        ("too many", gpt(64 * MiB, (0..<129).map { Partition(name: "p\($0)", offset: 1 * MiB + $0 * 64 * KiB, size: 64 * KiB, type: type("linux", .gpt)) }),
         "129 partitions: a GPT holds at most 128"),
        ("bad gpt-location", gpt(16 * MiB, [], location: 1000), "gpt-location 0x3e8: expected a multiple of 512 bytes"),
        ("huge gpt-location", gpt(16 * MiB, [], location: Int.max - 511), "gpt-location 0x7ffffffffffffe00: beyond the first half of the 16MiB disk"),
        ("huge partition", gpt(16 * MiB, [Partition(name: "h", offset: Int.max - 511, size: Int.max - 511, type: type("linux", .gpt))]),
         "partition 1 'h': ends at beyond 2^63, past the disk's end at 0x1000000"),
        ("odd disk size", gpt(16 * MiB + 1, []), "disk size 16777217: expected a positive multiple of 512 bytes"),
    ]

    @Test(arguments: invalid)
    func invalidTablesAreRefused(_ name: String, _ table: PartitionTable, _ expected: String) {
        let e = errorText { _ = try table.chunks() }
        #expect(e?.contains(expected) == true, "\(name): \(e ?? "no error")")
    }

    /// genimage's case: a bootloader at 8 KiB overlaps the entries at LBA 2…33 unless
    /// gpt-location moves them; moved, the same layout is valid and sgdisk agrees.
    @Test func bootloaderAt8KiBNeedsGPTLocation() throws {
        let parts = [Partition(name: "root", offset: 4 * MiB, size: 8 * MiB, type: type("linux", .gpt))]
        let loader = [RawRegion(name: "u-boot", offset: 8 * KiB, size: 1 * MiB)]
        let e = errorText { _ = try gpt(16 * MiB, parts).chunks(rawRegions: loader) }
        #expect(e == "raw region 'u-boot' (0x2000…0x102000) overlaps the GPT entries (0x400…0x4400); move the entries with gpt-location (e.g. 0x102000 or later) or move the region", "\(e ?? "")")
        let moved = gpt(16 * MiB, parts, location: 2 * MiB)
        #expect(errorText { try moved.validate(rawRegions: loader) } == nil)
        // A raw region over a partition is refused too.
        let e2 = errorText { try moved.validate(rawRegions: [RawRegion(name: "spl", offset: 5 * MiB, size: 4 * KiB)]) }
        #expect(e2?.contains("partition 1 'root' (0x400000…0xc00000) overlaps raw region 'spl'") == true, "\(e2 ?? "")")
        let e3 = errorText { try moved.validate(rawRegions: [RawRegion(name: "far", offset: Int.max - 4, size: 10)]) }
        #expect(e3 == "raw region 'far': 0x7ffffffffffffffb…? lies past the disk's end at 0x1000000", "\(e3 ?? "")")
        guard toolsAvailable("sgdisk") else { return }
        let dir = try TempDir()
        try moved.write(to: dir.file("d.img"))
        let v = try run("sgdisk", ["-v", dir.file("d.img")])
        #expect(v.status == 0 && v.out.contains("No problems found"), "\(v.out)")
        #expect(try DiskImageInfo.read(path: dir.file("d.img")).table.entriesOffset == 2 * MiB)
    }

    @Test(arguments: [("linux", "0FC63DAF-8483-4772-8E79-3D69D8477DE4"), ("ESP", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"),
                      ("u-boot-env", "3DE21764-95BD-54BD-A5C3-4ABE786F38A8"), ("msdata", "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"),
                      ("bios-boot", "21686148-6449-6E6F-744E-656564454649"), ("linux-root-x86-64", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"),
                      ("01234567-89ab-cdef-0123-456789abcdef", "01234567-89AB-CDEF-0123-456789ABCDEF")])
    func typeNames(_ text: String, _ guid: String) throws {
        #expect(try PartitionType.parse(text, for: .gpt) == .gpt(GUID(guid)!))
    }

    @Test func unknownTypeNamesTheNearest() {
        let e = errorText { _ = try PartitionType.parse("linx", for: .gpt, source: "board.yaml:9: type") }
        #expect(e?.hasPrefix("board.yaml:9: type: expected a GPT partition type (linux, esp,") == true && e?.hasSuffix("found 'linx'; did you mean 'linux'?") == true, "\(e ?? "")")
    }

    /// The reader never traps and never allocates what a header claims before checking it.
    @Test(arguments: [
        (80, [0xFF, 0xFF, 0xFF, 0xFF] as [UInt8], "entries of"), (84, [0x00, 0x00, 0x01, 0x00], "SizeOfPartitionEntry"),
        (72, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], "past the end"), (12, [0x01, 0x02, 0, 0], "HeaderSize"),
    ])
    func hostileHeaderFieldsAreRefused(_ field: Int, _ bytes: [UInt8], _ expected: String) throws {
        let dir = try TempDir()
        let img = dir.file("disk.img")
        try Self.layouts[2].table.write(to: img)
        var header = try FileIO.read(img, offset: 512, count: 512)
        header.replaceSubrange(field..<field + bytes.count, with: bytes)
        // Recompute the header CRC so the field itself is what is judged.
        let size = min(512, max(92, Int(header[12]) | Int(header[13]) << 8))
        for i in 16..<20 { header[i] = 0 }
        let crc = CRC32.zlib(Array(header[0..<size]))
        header.replaceSubrange(16..<20, with: [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)])
        try AtomicFile.patch(img, patches: [(512, header)])
        let e = errorText { _ = try DiskImageInfo.read(path: img) }
        #expect(e?.contains(expected) == true, "\(e ?? "no error")")
    }

    @Test func inspectDescribesPartitions() throws {
        let dir = try TempDir()
        let img = dir.file("disk.img")
        try Self.layouts[0].table.write(to: img)
        let prefix = try FileIO.read(img, offset: 0, count: 4096)
        let d = try #require(GPTFormat.probe(path: img, prefix: prefix, fileSize: 64 * MiB))
        #expect(d.text.contains("partition 1:") && d.text.contains("type esp (C12A7328-F81F-11D2-BA4B-00A0C93EC93B)") && d.text.contains("name 'boot', legacy-bios-bootable"), "\(d.text)")
        #expect(d.text.contains("check:") && d.text.contains("all good"))
        #expect(d.json.encoded().contains("\"typeName\": \"linux-root-arm64\""), "\(d.json.encoded())")
    }
}
