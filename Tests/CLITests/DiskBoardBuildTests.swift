import Foundation
import Testing
import TestSupport

/// `flashsmith build` of small disk boards without a kernel: an MBR disk (a raw bootloader region at
/// 8 KiB, a bootable FAT partition, an ext4 root from a spec, an empty ext4) and a GPT disk whose
/// entries are moved past a bootloader at 8 KiB (genimage's gpt-location). sfdisk and sgdisk read
/// the tables; the raw regions' bytes are where the board says and survive the table; each image
/// is in the disk at its partition's offset; content that does not fit is one line naming it.
@Suite struct DiskBoardBuildTests {
    func available() -> Bool { toolsAvailable("sfdisk", "sgdisk", "mkfs.vfat", "mcopy", "mke2fs", "debugfs", "fsck.ext4", "fsck.vfat") }

    /// A board folder: `board.yaml` from `yaml`, a bootloader blob, a boot file and a one-file rootfs spec.
    func board(_ dir: TempDir, _ yaml: String) throws -> String {
        try FileManager.default.createDirectory(atPath: dir.file("b/tree/etc"), withIntermediateDirectories: true)
        _ = try dir.write("b/board.yaml", yaml)
        _ = try dir.write("b/spl.bin", [UInt8](repeating: 0xA5, count: 20_000))
        _ = try dir.write("b/extlinux.conf", "label linux\n  kernel /Image\n")
        _ = try dir.write("b/tree/etc/hostname", "disky\n")
        _ = try dir.write("b/rootfs.yaml", "layers:\n  - overlay: tree\n")
        return dir.file("b")
    }

    func sfdiskJSON(_ disk: String) throws -> [String: Any] {
        let r = try run("sfdisk", ["--json", disk])
        try #require(r.status == 0, "sfdisk --json: \(r.err)")
        return (try JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any])?["partitiontable"] as? [String: Any] ?? [:]
    }

    func bytes(_ path: String, at offset: Int, count: Int) throws -> [UInt8] {
        let h = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        defer { try? h.close() }
        try h.seek(toOffset: UInt64(offset))
        return [UInt8](h.readData(ofLength: count))
    }

    @Test("MBR: a raw bootloader at 8 KiB, a bootable FAT partition, ext4 from a spec and an empty one; sfdisk, fsck and debugfs read them")
    func mbrDisk() throws {
        guard available() else { return }
        let dir = try TempDir()
        let b = try board(
            dir,
            """
            name: mbrdisk
            flash: {type: disk, size: 48MiB, partition-table: mbr, disk-id: 0xdeadbeef}
            partitions:
              - {name: spl, offset: 8KiB, size: 32KiB, in-table: false, content: {file: spl.bin}}
              - {name: boot, size: 8MiB, bootable: true, content: {vfat: {label: BOOT, files: [{extlinux/extlinux.conf: extlinux.conf}]}}}
              - {name: root, size: 16MiB, content: {ext4: rootfs.yaml}}
              - {name: data, size: rest, content: {ext4: {empty: true, label: data}}}

            """)
        let out = dir.file("out")
        let r = try flashsmith("build", b, "-o", out)
        try #require(r.status == 0, "\(r.err)")
        let disk = "\(out)/mbrdisk.img"
        let t = try sfdiskJSON(disk)
        let parts = t["partitions"] as? [[String: Any]] ?? []
        #expect(t["label"] as? String == "dos" && t["id"] as? String == "0xdeadbeef", "\(t)")
        #expect(parts.map { $0["start"] as? Int ?? -1 } == [2048, 18432, 51200], "\(parts)")
        #expect(parts.map { $0["size"] as? Int ?? -1 } == [16384, 32768, 98304 - 51200], "rest runs to the disk's end: \(parts)")
        #expect(parts.map { $0["type"] as? String ?? "" } == ["c", "83", "83"], "\(parts)")
        #expect(parts.first?["bootable"] as? Bool == true && parts[1]["bootable"] == nil, "\(parts)")
        // The raw region: the bootloader's bytes at 8 KiB, after the MBR and before the first partition.
        #expect(try bytes(disk, at: 8192, count: 20_000) == [UInt8](repeating: 0xA5, count: 20_000))
        #expect(try bytes(disk, at: 510, count: 2) == [0x55, 0xAA])
        // Each partition's image at its offset; each filesystem clean and holding what the board says.
        for (name, start) in [("boot", 2048), ("root", 18432), ("data", 51200)] {
            let image = try Data(contentsOf: URL(fileURLWithPath: "\(out)/\(name).img"))
            #expect(try bytes(disk, at: start * 512, count: image.count) == [UInt8](image), "\(name).img is not at sector \(start)")
        }
        #expect(try run("fsck.vfat", ["-n", "\(out)/boot.img"]).status == 0)
        let mtype = try run("mtype", ["-i", "\(out)/boot.img", "::/extlinux/extlinux.conf"])
        #expect(mtype.out == "label linux\n  kernel /Image\n", "\(mtype.out)\(mtype.err)")
        for fs in ["root", "data"] {
            let f = try run("fsck.ext4", ["-fn", "\(out)/\(fs).img"])
            #expect(f.status == 0, "fsck.ext4 \(fs).img: \(f.out)\(f.err)")
        }
        let cat = try run("debugfs", ["-R", "cat /etc/hostname", "\(out)/root.img"])
        #expect(cat.out == "disky\n", "\(cat.out)\(cat.err)")
        let label = try run("debugfs", ["-R", "stats", "\(out)/data.img"])
        #expect(label.out.contains("Filesystem volume name:   data"), "\(label.out.prefix(300))")
        // The table again, as an sfdisk script that makes it.
        let script = try String(contentsOfFile: "\(out)/partitions.sfdisk", encoding: .utf8)
        let copy = dir.file("copy.img")
        #expect(FileManager.default.createFile(atPath: copy, contents: nil))
        #expect(truncate(copy, 48 << 20) == 0)
        let s = try run("sfdisk", ["--no-reread", "--no-tell-kernel", copy], stdin: Array(script.utf8))
        #expect(s.status == 0, "sfdisk < partitions.sfdisk: \(s.out)\(s.err)")
        let again = try sfdiskJSON(copy)
        #expect((again["partitions"] as? [[String: Any]])?.map { $0["start"] as? Int ?? -1 } == [2048, 18432, 51200], "\(again)")
    }

    @Test("GPT with gpt-location: a bootloader at 8 KiB survives the table, sgdisk finds no problem")
    func gptMovedEntries() throws {
        guard available() else { return }
        let dir = try TempDir()
        let b = try board(
            dir,
            """
            name: gptdisk
            flash: {type: disk, size: 32MiB, gpt-location: 1MiB}
            partitions:
              - {name: spl, offset: 8KiB, size: 512KiB, in-table: false, content: {file: spl.bin}}
              - {name: root, size: 16MiB, content: {ext4: rootfs.yaml}}

            """)
        let out = dir.file("out")
        let r = try flashsmith("build", b, "-o", out)
        try #require(r.status == 0, "\(r.err)")
        let disk = "\(out)/gptdisk.img"
        #expect(try bytes(disk, at: 8192, count: 20_000) == [UInt8](repeating: 0xA5, count: 20_000), "the GPT entries did not overwrite the bootloader")
        let sg = try run("sgdisk", ["-v", disk])
        #expect(sg.out.contains("No problems found"), "\(sg.out)\(sg.err)")
        let t = try sfdiskJSON(disk)
        #expect((t["partitions"] as? [[String: Any]])?.first?["start"] as? Int == 4096, "after the moved entries, aligned: \(t)")
        #expect((t["partitions"] as? [[String: Any]])?.first?["name"] as? String == "root", "\(t)")

        // Without gpt-location the same board is refused before anything is written.
        _ = try dir.write("b/board.yaml", (try String(contentsOfFile: "\(b)/board.yaml", encoding: .utf8)).replacingOccurrences(of: ", gpt-location: 1MiB", with: ""))
        let e = try flashsmith("build", b, "-o", dir.file("out2"))
        #expect(e.status != 0 && e.err.contains("partition 'spl': 0x2000…0x82000 overlaps the GPT entries"), "\(e.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out2")))
    }

    @Test("content larger than its partition, a missing vfat file: one line naming the partition, nothing written")
    func contentMustFit() throws {
        guard available() else { return }
        let dir = try TempDir()
        let b = try board(dir, "name: small\nflash: {type: disk, size: 8MiB}\npartitions:\n  - {name: spl, size: 16KiB, content: {file: spl.bin}}\n")
        let r = try flashsmith("build", b, "-o", dir.file("out"))
        #expect(r.status != 0 && r.err.contains("partition 'spl': its content is 20000 bytes (file spl.bin), the partition 16384"), "\(r.err)")
        _ = try dir.write("b/board.yaml", "name: small\nflash: {type: disk, size: 8MiB}\npartitions:\n  - {name: boot, size: 4MiB, content: {vfat: {files: [nosuch.txt]}}}\n")
        let m = try flashsmith("build", b, "-o", dir.file("out"))
        #expect(m.status != 0 && m.err.contains("board.yaml:4: partition 'boot': vfat file nosuch.txt: expected a file, found nothing"), "\(m.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("out")))
    }
}
