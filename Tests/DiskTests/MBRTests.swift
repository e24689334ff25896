import Disk
import FlashsmithCore
import Foundation
import Testing
import TestSupport

@Suite struct MBRTests {
    /// Layouts sfdisk can write too: sector 0 must be byte-identical (CHS fields included; the
    /// 16 GiB disk puts partitions past cylinder 1023).
    static let layouts: [Layout] = [
        Layout(name: "boot fat32 bootable, linux, swap", table: mbr(64 * MiB, [
            Partition(name: "boot", offset: 1 * MiB, size: 2 * MiB, type: type("fat32", .mbr), bootable: true),
            Partition(name: "root", offset: 4 * MiB, size: 48_828 * 1024, type: type("linux", .mbr)),
            Partition(name: "swap", offset: 55_000 * 1024, size: 9_000 * 1024, type: type("swap", .mbr)),
        ], id: 0x1234_5678)),
        Layout(name: "16GiB: past cylinder 1023, four primaries", table: mbr(16 * GiB, [
            Partition(name: "a", offset: 1 * MiB, size: 100 * MiB, type: type("0x0e", .mbr)),
            Partition(name: "b", offset: 200 * MiB, size: 9 * GiB, type: type("83", .mbr)),
            Partition(name: "c", offset: 10 * GiB, size: 2 * GiB, type: type("esp", .mbr), bootable: true),
            Partition(name: "d", offset: 13 * GiB, size: 3 * GiB - 1 * MiB, type: type("0xda", .mbr)),
        ], id: 0xDEAD_BEEF)),
    ]

    static func sfdiskScript(_ t: PartitionTable) -> String {
        var s = "label: dos\nlabel-id: \(t.diskID!)\nunit: sectors\n"
        for p in t.partitions {
            guard case let .mbr(b) = p.type else { continue }
            s += "start=\(p.offset / 512), size=\(p.size / 512), type=\(String(b, radix: 16))\(p.bootable ? ", bootable" : "")\n"
        }
        return s
    }

    static func sparseFile(_ path: String, _ size: Int) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        try FileHandle(forWritingTo: URL(fileURLWithPath: path)).truncate(atOffset: UInt64(size))
    }

    /// Our sector 0 is sfdisk's, byte for byte, for the same layout and disk id.
    @Test(arguments: layouts)
    func sectorZeroIsSfdisks(_ layout: Layout) throws {
        guard toolsAvailable("sfdisk") else { return }
        let dir = try TempDir()
        let ours = dir.file("ours.img"), theirs = dir.file("theirs.img")
        try layout.table.write(to: ours)
        try Self.sparseFile(theirs, layout.table.diskSize)
        let r = try run("sfdisk", ["-q", "--no-reread", theirs], stdin: Array(Self.sfdiskScript(layout.table).utf8))
        #expect(r.status == 0, "\(r.err)")
        #expect(try FileIO.read(ours, offset: 0, count: 512) == FileIO.read(theirs, offset: 0, count: 512))
        let info = try DiskImageInfo.read(path: theirs)
        var expected = try layout.table.resolved()
        expected.seed = ""
        for i in expected.partitions.indices { expected.partitions[i].name = String(i + 1) }
        #expect(info.table == expected)
        #expect(info.problems.isEmpty, "\(info.problems)")
    }

    /// More than four partitions: three primary, the rest logical in an extended partition with
    /// an EBR before each; sfdisk lists them where we said.
    @Test func logicalPartitionsAreReadBySfdisk() throws {
        let parts = (0..<6).map { i in
            Partition(name: "p\(i)", offset: (1 + i * 4) * MiB, size: 3 * MiB, type: type(i == 5 ? "swap" : "linux", .mbr), bootable: i == 4)
        }
        let t = mbr(32 * MiB, parts, id: 0xCAFE_F00D)
        let dir = try TempDir()
        let img = dir.file("d.img")
        try t.write(to: img)
        let info = try DiskImageInfo.read(path: img)
        #expect(info.problems.isEmpty, "\(info.problems)")
        #expect(info.numbers == [1, 2, 3, 5, 6, 7])
        #expect(info.table.partitions.map(\.offset) == parts.map(\.offset) && info.table.partitions.map(\.logical) == [false, false, false, true, true, true])
        #expect(info.table.partitions.map(\.bootable) == [false, false, false, false, true, false])
        guard toolsAvailable("sfdisk") else { return }
        let s = try sfdiskPartitions(img)
        let listed = s.filter { ($0["type"] as? String) != "f" }
        #expect(listed.map { $0["start"] as? Int } == parts.map { $0.offset / 512 })
        #expect(listed.map { $0["size"] as? Int } == parts.map { $0.size / 512 })
        #expect(listed.map { $0["node"] as? String } == ["1", "2", "3", "5", "6", "7"].map { img + $0 })
        #expect(listed.last?["type"] as? String == "82")
        let v = try run("sfdisk", ["--verify", img])
        #expect(v.status == 0 && !v.out.lowercased().contains("overlap"), "\(v.out)\(v.err)")
    }

    /// sfdisk's own logical partitions (its EBR placement) read by us as sfdisk lists them.
    @Test func weReadSfdiskLogicalPartitions() throws {
        guard toolsAvailable("sfdisk") else { return }
        let dir = try TempDir()
        let img = dir.file("d.img")
        try Self.sparseFile(img, 64 * MiB)
        let script = "label: dos\nlabel-id: 0x01020304\nstart=2048, size=4096, type=c, bootable\nstart=8192, size=4096, type=83\nstart=16384, type=5\nstart=18432, size=4096, type=83\nstart=26624, size=8192, type=82\n"
        let r = try run("sfdisk", ["-q", img], stdin: Array(script.utf8))
        #expect(r.status == 0, "\(r.err)")
        let info = try DiskImageInfo.read(path: img)
        #expect(info.problems.isEmpty, "\(info.problems)")
        let s = try sfdiskPartitions(img).filter { ($0["type"] as? String) != "5" }
        #expect(info.table.partitions.map { $0.offset / 512 } == s.map { $0["start"] as? Int ?? -1 })
        #expect(info.table.partitions.map { $0.size / 512 } == s.map { $0["size"] as? Int ?? -1 })
        #expect(info.numbers.map { img + String($0) } == s.map { $0["node"] as? String ?? "" })
        #expect(info.table.diskID == .mbr(0x0102_0304))
    }

    static let invalid: [(String, PartitionTable, String)] = [
        ("beyond 2 TiB", mbr(3 * 1024 * GiB, [Partition(name: "huge", offset: 1 * MiB, size: 2048 * GiB, type: type("linux", .mbr))]),
         "partition 1 'huge': ends at 0x20000100000, beyond the MBR's 2 TiB limit (32-bit sectors); use a GPT"),
        ("overlaps the MBR", mbr(16 * MiB, [Partition(name: "zero", offset: 0, size: 1 * MiB, type: type("linux", .mbr))]),
         "partition 1 'zero' (0x0…0x100000) overlaps the MBR (0x0…0x200)"),
        ("no room for an EBR", mbr(32 * MiB, (0..<5).map { Partition(name: "p\($0)", offset: (1 + $0) * MiB, size: 1 * MiB, type: type("linux", .mbr)) }),
         "partition 3 'p2' (0x300000…0x400000) overlaps the EBR of 'p3' (0x3ffe00…0x400000)"),
        ("a GUID disk id", PartitionTable(kind: .mbr, diskSize: 16 * MiB, diskID: .guid(GUID.zero), partitions: []), "an MBR disk id is a 32-bit number"),
        ("type 0", mbr(16 * MiB, [Partition(name: "t", offset: 1 * MiB, size: 1 * MiB, type: .mbr(0))]), "partition 1 't': expected an MBR type"),
        ("a GPT type", mbr(16 * MiB, [Partition(name: "t", offset: 1 * MiB, size: 1 * MiB, type: type("esp", .gpt))]), "partition 1 't': expected an MBR type"),
    ]

    @Test(arguments: invalid)
    func invalidTablesAreRefused(_ name: String, _ table: PartitionTable, _ expected: String) {
        let e = errorText { _ = try table.chunks() }
        #expect(e?.contains(expected) == true, "\(name): \(e ?? "no error")")
    }

    @Test(arguments: [("linux", 0x83), ("fat32", 0x0C), ("fat32-chs", 0x0B), ("fat16", 0x0E), ("swap", 0x82), ("extended", 0x0F), ("esp", 0xEF), ("0xda", 0xDA), ("7", 0x07)])
    func typeNames(_ text: String, _ byte: Int) throws {
        #expect(try PartitionType.parse(text, for: .mbr) == .mbr(UInt8(byte)))
    }

    @Test(arguments: ["0x100", "0", "fat33", "0x"])
    func badTypesAreRefused(_ text: String) {
        #expect(errorText { _ = try PartitionType.parse(text, for: .mbr) }?.contains("expected an MBR partition type") == true)
    }

    /// A FAT boot sector ends in 0x55AA too: not an MBR. Our MBR is, and the derived signature is stable.
    @Test func probeTellsAFATBootSectorFromAnMBR() throws {
        guard toolsAvailable("mkfs.vfat") else { return }
        let dir = try TempDir()
        try Self.sparseFile(dir.file("fat.img"), 4 * MiB)
        let r = try run("mkfs.vfat", [dir.file("fat.img")])
        #expect(r.status == 0, "\(r.err)")
        let fat = try FileIO.read(dir.file("fat.img"), offset: 0, count: 4096)
        #expect(MBRFormat.probe(path: dir.file("fat.img"), prefix: fat, fileSize: 4 * MiB) == nil)
        try Self.layouts[0].table.write(to: dir.file("m.img"))
        let m = try FileIO.read(dir.file("m.img"), offset: 0, count: 4096)
        let d = try #require(MBRFormat.probe(path: dir.file("m.img"), prefix: m, fileSize: 64 * MiB))
        #expect(d.text.contains("partition 1:") && d.text.contains("type 0x0c (fat32)") && d.text.contains("bootable") && d.text.contains("0x12345678"), "\(d.text)")
        let derived = try mbr(16 * MiB, []).resolved().diskID, again = try mbr(16 * MiB, []).resolved().diskID
        let other = try mbr(16 * MiB, [], seed: "x").resolved().diskID
        #expect(derived == again && derived != other)
    }
}

/// Random layouts (a fixed seed): what we write, we and sfdisk read back as written.
@Suite struct RandomLayoutTests {
    struct RNG {
        var state: UInt64
        mutating func next(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(n))
        }
    }

    static func layout(_ kind: PartitionTable.Kind, _ rng: inout RNG) -> PartitionTable {
        let count = 1 + rng.next(kind == .gpt ? 12 : 8)
        var offset = 1 * MiB, parts: [Partition] = []
        let gptTypes = PartitionTypes.gpt.map(\.name), mbrTypes = ["linux", "fat32", "fat16", "swap", "esp", "0xda"]
        for i in 0..<count {
            offset += rng.next(4) * 64 * KiB
            let size = (1 + rng.next(64)) * 32 * KiB
            let t = kind == .gpt ? gptTypes[rng.next(gptTypes.count)] : mbrTypes[rng.next(mbrTypes.count)]
            parts.append(Partition(name: "p\(i)-\(rng.next(1000))", offset: offset, size: size, type: type(t, kind), bootable: rng.next(3) == 0))
            offset += size + 64 * KiB
        }
        let disk = offset + 1 * MiB + rng.next(8) * 512
        return kind == .gpt ? gpt(disk, parts, location: rng.next(2) == 0 ? nil : 2048 + rng.next(100) * 512, seed: "r\(rng.next(99))")
            : mbr(disk, parts, seed: "r\(rng.next(99))")
    }

    @Test(arguments: PartitionTable.Kind.allCases)
    func roundTrips(_ kind: PartitionTable.Kind) throws {
        let peers = toolsAvailable("sfdisk", "sgdisk")
        var rng = RNG(state: kind == .gpt ? 1 : 2)
        let dir = try TempDir()
        for n in 0..<40 {
            let t = Self.layout(kind, &rng)
            let img = dir.file("d\(n).img")
            try t.write(to: img)
            let info = try DiskImageInfo.read(path: img)
            var expected = try t.resolved()
            expected.seed = ""
            if kind == .mbr { for i in expected.partitions.indices { expected.partitions[i].name = String(info.numbers[i]) } }
            #expect(info.table == expected, "layout \(n)")
            #expect(info.problems.isEmpty, "layout \(n): \(info.problems)")
            guard peers else { continue }
            let listed = try sfdiskPartitions(img).filter { ($0["type"] as? String) != "f" }
            #expect(listed.map { $0["start"] as? Int ?? -1 } == t.partitions.map { $0.offset / 512 }, "layout \(n)")
            #expect(listed.map { $0["size"] as? Int ?? -1 } == t.partitions.map { $0.size / 512 }, "layout \(n)")
            if kind == .gpt {
                let v = try run("sgdisk", ["-v", img])
                #expect(v.out.contains("No problems found"), "layout \(n): \(v.out)")
            } else {
                let all = try sfdiskPartitions(img).count
                #expect(all == t.partitions.count + (t.partitions.count > 4 ? 1 : 0), "layout \(n)")
            }
            #expect(listed.map { $0["bootable"] as? Bool ?? ($0["attrs"] as? String)?.contains("LegacyBIOSBootable") ?? false } == t.partitions.map(\.bootable), "layout \(n)")
        }
    }
}
