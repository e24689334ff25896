import FlashsmithCore
import Foundation
import Testing
import TestSupport
@testable import Board

/// Disk boards (`flash: {type: disk}`): offsets aligned and filled in, `rest` up to the backup
/// GPT, raw regions outside the table, the table's own sectors kept free, and every bad layout
/// refused with the file, the line and what was wrong.
@Suite struct BoardDiskTests {
    static func load(_ yaml: String) throws -> BoardLayout {
        let dir = try TempDir()
        return try BoardLayout.load(try dir.write("board.yaml", yaml))
    }

    static func error(_ yaml: String) -> String {
        do {
            _ = try load(yaml)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    static let gpt = "name: d\nflash: {type: disk, size: 64MiB, partition-table: gpt}\npartitions:\n"
    static let mbr = "name: d\nflash: {type: disk, size: 64MiB, partition-table: mbr}\npartitions:\n"

    @Test func automaticOffsetsAreAlignedAndRestEndsBeforeTheBackupGPT() throws {
        let b = try Self.load(Self.gpt + "  - {name: boot, size: 8MiB, type: esp, bootable: true}\n  - {name: root, size: 16MiB}\n  - {name: data, size: rest}\n")
        #expect(b.flash.kind == .disk && b.flash.chipSize == 64 << 20)
        #expect(b.partitions.map(\.offset) == [1 << 20, 9 << 20, 25 << 20])
        #expect(b.partitions[2].size == (64 << 20) - 33 * 512 - (25 << 20), "rest stops where the backup GPT starts")
        #expect(b.partitions[0].type == "esp" && b.partitions[0].bootable)
        #expect(b.diskPartitionNumber(2) == 3)
    }

    @Test func mbrRestRunsToTheEndAndRawRegionsStayOutOfTheTable() throws {
        let b = try Self.load(Self.mbr + "  - {name: spl, offset: 8KiB, size: 512KiB, in-table: false}\n  - {name: boot, size: 8MiB, bootable: true}\n  - {name: root, size: rest, content: {squashfs: rootfs.yaml}}\n")
        #expect(b.partitions.map(\.offset) == [8192, 1 << 20, 9 << 20])
        #expect(b.partitions[2].offset + b.partitions[2].size == 64 << 20)
        #expect(!b.partitions[0].inTable && b.diskPartitionNumber(2) == 2)
        #expect(b.diskRootIndex == 2)
        #expect(b.diskRootArgument(2) == "root=/dev/mmcblk0p2", "no qemu: and no device: an SD card")
    }

    @Test func gptRootIsFoundByPartitionLabel() throws {
        let b = try Self.load(Self.gpt + "  - {name: boot, size: 8MiB}\n  - {name: root, size: 16MiB, content: {ext4: rootfs.yaml}}\n")
        #expect(b.diskRootArgument(1) == "root=PARTLABEL=root")
    }

    @Test(arguments: [
        // The table's own sectors.
        ("  - {name: spl, offset: 8KiB, size: 64KiB, in-table: false}\n", "partition 'spl': 0x2000…0x12000 overlaps the GPT entries at 0x400…0x4400 (move the entries with gpt-location:"),
        ("  - {name: a, offset: 0, size: 1MiB}\n", "partition 'a': 0x0…0x100000 overlaps the protective MBR and GPT header"),
        ("  - {name: a, offset: 63MiB, size: 1MiB}\n", "overlaps the backup GPT"),
        // Sectors, overlaps, the disk's end.
        ("  - {name: a, size: 1000}\n", "partition 'a': size 0x3e8 is not a whole number of 512-byte sectors"),
        ("  - {name: a, offset: 0x100100, size: 1MiB}\n", "offset 0x100100 is not a whole number of 512-byte sectors"),
        ("  - {name: a, size: 8MiB}\n  - {name: b, offset: 4MiB, size: 1MiB}\n", "partition 'b': 0x400000…0x500000 overlaps 'a'"),
        ("  - {name: a, size: 128MiB}\n", "partition 'a': ends at 0x8100000, past the 0x4000000 disk"),
        ("  - {name: a, size: rest}\n  - {name: b, size: 1MiB}\n", "partition 'a': only the last partition can be 'rest'"),
        ("  - {name: spl, size: 1MiB, in-table: false}\n", "partition 'spl': in-table: false needs offset:"),
        // Keys.
        ("  - {name: a, size: 1MiB, read-only: true}\n", "read-only: is for flash partitions"),
        ("  - {name: a, size: 1MiB, bootabel: true}\n", "did you mean 'bootable'?"),
        ("  - {name: a, offset: 8KiB, size: 512, in-table: false, type: linux}\n", "partition 'a': type: is a table field"),
        ("  - {name: a, size: 1MiB, uuid: 1234}\n", "partition 'a' uuid: expected a GUID"),
        ("  - {name: a, size: 1MiB, content: {ubi: [{name: r, size: 1MiB}]}}\n", "ubi: goes on a NAND or NOR flash board, not on a disk"),
        ("  - {name: a, size: 1MiB, content: {env: env.txt}}\n", "env: goes on a NAND or NOR flash board, not on a disk"),
        ("  - {name: a, size: 1MiB, content: {ext4: {spec: r.yaml, empty: true}}}\n", "ext4: give spec: or empty: true, not both"),
        ("  - {name: a, size: 1MiB, content: {squashfs: {spec: r.yaml, compression: bzip2}}}\n", "squashfs: compression: expected gzip, xz, zstd"),
        ("  - {name: a, size: 1MiB, content: {vfat: {boot-script: true}}}\n", "boot-script: true boots the image this partition holds"),
        ("  - {name: a, size: 1MiB, content: {vfat: {files: [x.txt, {X.TXT: y}]}}}\n", "'X.TXT' is already in the partition"),
        ("  - {name: a, size: 1MiB, content: {vfat: {files: [{../x: y}]}}}\n", "expected a relative name without empty, . or .. parts"),
        ("  - {name: a, size: 1MiB, content: {vfat: {label: boot partition}}}\n", "vfat: label: expected 1…11 characters"),
        ("  - {name: a-name-longer-than-thirty-six-characters-x, size: 1MiB}\n", "a GPT name holds 36 characters"),
    ])
    func badDiskLayoutsAreRefused(partitions: String, expected: String) {
        let e = Self.error(Self.gpt + partitions)
        #expect(e.contains(expected), "\(e)")
        #expect(e.contains("board.yaml:"), "the file and line: \(e)")
    }

    @Test(arguments: [
        ("flash: {type: disk, size: 64MiB, partition-table: apm}", "partition-table: expected gpt or mbr"),
        ("flash: {type: disk, size: 1000}", "size 0x3e8: expected a whole number of 512-byte sectors"),
        ("flash: {type: disk, size: 64MiB, partition-table: mbr, gpt-location: 1MiB}", "gpt-location: is for partition-table: gpt"),
        ("flash: {type: disk, size: 64MiB, disk-id: 0x1234}", "a GPT disk's id is a GUID"),
        ("flash: {type: disk, size: 64MiB, partition-table: mbr, disk-id: 0x123456789}", "an MBR disk's id is a 32-bit number"),
        ("flash: {type: disk, size: 64MiB, page: 2KiB}", "'page'"),
        ("flash: {type: disk, size: 64MiB, device: /dev/vda}", "device: expected the kernel's name of the disk"),
        ("flash: {type: disc, size: 64MiB}", "type: expected nand, nor or disk"),
    ])
    func badDiskGeometryIsRefused(flash: String, expected: String) {
        let e = Self.error("name: d\n\(flash)\npartitions:\n  - {name: a, size: 1MiB}\n")
        #expect(e.contains(expected), "\(e)")
    }

    @Test func mbrHoldsFourPartitions() {
        let e = Self.error(Self.mbr + (1...5).map { "  - {name: p\($0), size: 1MiB}\n" }.joined())
        #expect(e.contains("partition-table: mbr holds 4 partitions, the board has 5"), "\(e)")
    }

    @Test func aMovedGPTEntryArrayLetsABootloaderSitAt8KiB() throws {
        let b = try Self.load(
            "name: d\nflash: {type: disk, size: 64MiB, gpt-location: 1MiB}\npartitions:\n  - {name: spl, offset: 8KiB, size: 512KiB, in-table: false}\n  - {name: root, size: 8MiB}\n")
        #expect(b.partitions[1].offset == 2 << 20, "after the moved entries (1 MiB + 16 KiB), aligned")
    }

    @Test func diskContentIsRefusedOnFlashBoards() {
        let e = Self.error("name: t\nflash: {page: 2KiB, oob: 64, erase-block: 128KiB, chip: 64MiB}\npartitions:\n  - {name: a, size: rest, content: {squashfs: r.yaml}}\n")
        #expect(e.contains("squashfs: goes on a disk board"), "\(e)")
    }
}
