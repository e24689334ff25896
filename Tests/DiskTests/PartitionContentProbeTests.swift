import FlashsmithCore
import Foundation
import Testing
import TestSupport
@testable import Disk

/// `inspect`'s line for what a partition holds: filesystems made by their own tools (mksquashfs,
/// mke2fs with and without a journal and extents, mkfs.vfat FAT16 and FAT32), magics of the images
/// boards put in raw partitions, and nothing for bytes that are none of them; every prefix of
/// every image is looked at without a trap.
@Suite struct PartitionContentProbeTests {
    func made(_ dir: TempDir, _ name: String, _ size: Int, _ tool: String, _ args: [String]) throws -> [UInt8] {
        let path = dir.file(name)
        if size > 0 {
            #expect(FileManager.default.createFile(atPath: path, contents: nil))
            #expect(truncate(path, off_t(size)) == 0)
        }
        let r = try run(tool, args.map { $0 == "IMG" ? path : $0 })
        try #require(r.status == 0, "\(tool): \(r.err)")
        return try FileIO.read(path, offset: 0, count: PartitionContentProbe.window)
    }

    @Test func filesystemsMadeByTheirOwnTools() throws {
        guard toolsAvailable("mksquashfs", "mke2fs", "mkfs.vfat") else { return }
        let dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.file("tree"), withIntermediateDirectories: true)
        _ = try dir.write("tree/a.txt", "a\n")
        let cases: [(String, [UInt8], String)] = [
            ("squashfs", try made(dir, "s.img", 0, "mksquashfs", [dir.file("tree"), "IMG", "-noappend", "-quiet", "-no-progress"]), "squashfs 4.x, "),
            ("ext4", try made(dir, "e4.img", 8 << 20, "mke2fs", ["-q", "-t", "ext4", "-b", "4096", "-L", "root", "IMG"]), "ext4 'root', 4096-byte blocks, 8388608 bytes"),
            ("ext2", try made(dir, "e2.img", 8 << 20, "mke2fs", ["-q", "-t", "ext2", "-b", "1024", "IMG"]), "ext2, 1024-byte blocks, 8388608 bytes"),
            ("ext3", try made(dir, "e3.img", 8 << 20, "mke2fs", ["-q", "-t", "ext3", "IMG"]), "ext3, "),
            ("fat16", try made(dir, "f16.img", 32 << 20, "mkfs.vfat", ["-F", "16", "-n", "BOOT", "IMG"]), "FAT16 filesystem 'BOOT'"),
            ("fat32", try made(dir, "f32.img", 64 << 20, "mkfs.vfat", ["-F", "32", "IMG"]), "FAT32 filesystem"),
        ]
        for (name, bytes, expected) in cases {
            let got = PartitionContentProbe.identify(bytes, partitionSize: 64 << 20) ?? "nil"
            #expect(got.hasPrefix(expected), "\(name): \(got)")
            // Every prefix: no trap, and never a description with a size past what the bytes say.
            for n in stride(from: 0, through: bytes.count, by: 61) { _ = PartitionContentProbe.identify(Array(bytes.prefix(n)), partitionSize: 1 << 20) }
        }
        let small = PartitionContentProbe.identify(cases[1].1, partitionSize: 1 << 20) ?? ""
        #expect(small.hasSuffix("larger than the partition"), "\(small)")
    }

    @Test func magicsOfRawImages() {
        func pad(_ b: [UInt8]) -> [UInt8] { b + [UInt8](repeating: 0x11, count: 512) }
        #expect(PartitionContentProbe.identify(pad(Array("UBI#".utf8)), partitionSize: 1 << 20) == "UBI image")
        #expect(PartitionContentProbe.identify(pad([0x27, 0x05, 0x19, 0x56]), partitionSize: 1 << 20) == "uImage")
        #expect(PartitionContentProbe.identify(pad([0xD0, 0x0D, 0xFE, 0xED]), partitionSize: 1 << 20) == "device tree or FIT")
        #expect(PartitionContentProbe.identify([UInt8](repeating: 0, count: 4096), partitionSize: 1 << 20) == "zeros")
        #expect(PartitionContentProbe.identify(pad([1, 2, 3, 4]), partitionSize: 1 << 20) == nil)
        #expect(PartitionContentProbe.identify([], partitionSize: 1 << 20) == nil)
    }
}

/// `inspect` of a filesystem image on its own: `flashsmith inspect x.squashfs` names it.
@Suite struct FilesystemImageFormatTests {
    @Test func squashfsAndExt4ImagesAreNamed() throws {
        guard toolsAvailable("mksquashfs", "mke2fs") else { return }
        let dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.file("tree"), withIntermediateDirectories: true)
        _ = try dir.write("tree/a.txt", "a\n")
        #expect(try run("mksquashfs", [dir.file("tree"), dir.file("x.squashfs"), "-noappend", "-quiet", "-no-progress"]).status == 0)
        #expect(FileManager.default.createFile(atPath: dir.file("x.ext4"), contents: nil) && truncate(dir.file("x.ext4"), 8 << 20) == 0)
        #expect(try run("mke2fs", ["-q", "-t", "ext4", "-L", "rootfs", dir.file("x.ext4")]).status == 0)
        for (file, kind) in [("x.squashfs", "squashfs"), ("x.ext4", "ext4")] {
            let r = try flashsmith("inspect", dir.file(file))
            #expect(r.status == 0 && r.out.contains("\(kind) filesystem image") && r.out.contains("rootfs ls"), "\(r.out)\(r.err)")
            let j = try flashsmith("inspect", dir.file(file), "--json")
            let o = try JSONSerialization.jsonObject(with: Data(j.stdout)) as? [String: Any]
            #expect(o?["format"] as? String == "filesystem" && o?["filesystem"] as? String == kind, "\(j.out)")
        }
    }
}

/// What a FAT partition holds, as mtools reads it: in a filesystem image, and at a partition's
/// offset inside a disk image.
@Suite struct FATListingTests {
    @Test func filesOfAFATImageAndOfAPartition() throws {
        guard toolsAvailable("mkfs.vfat", "mcopy", "mdir", "sfdisk") else { return }
        let dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.file("src"), withIntermediateDirectories: true)
        let a = try dir.write("src/a.txt", "a\n")
        let b = try dir.write("src/b.dtb", "b\n")
        try VFATImage.build(files: [.init(name: "a.txt", source: a), .init(name: "dtbs/b.dtb", source: b)], size: 4 << 20, label: "BOOT", sourceDateEpoch: 1_700_000_000, to: dir.file("fat.img"))
        #expect(try VFATImage.list(path: dir.file("fat.img")) == ["/dtbs/", "/a.txt", "/dtbs/b.dtb"])
        // The same filesystem as partition 1 of a GPT disk, at 1 MiB.
        let t = PartitionTable(kind: .gpt, diskSize: 8 << 20, seed: "t", partitions: [Partition(name: "boot", offset: 1 << 20, size: 4 << 20, type: .gpt(GUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")!))])
        try t.resolved().write(to: dir.file("disk.img"))
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: dir.file("disk.img")))
        try h.seek(toOffset: 1 << 20)
        h.write(try Data(contentsOf: URL(fileURLWithPath: dir.file("fat.img"))))
        try h.close()
        let r = try flashsmith("inspect", dir.file("disk.img"))
        #expect(r.out.contains("holds FAT12 filesystem 'BOOT': /dtbs/, /a.txt, /dtbs/b.dtb"), "\(r.out)\(r.err)")
        let f = try flashsmith("inspect", dir.file("fat.img"))
        #expect(f.out.contains("files:      3: /dtbs/, /a.txt, /dtbs/b.dtb"), "\(f.out)")
    }
}
