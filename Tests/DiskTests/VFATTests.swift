import Disk
import FlashsmithCore
import Foundation
import Testing
import TestSupport

@Suite struct VFATTests {
    /// Sources with given contents and mtimes.
    static func sources(_ dir: TempDir, mtime: TimeInterval) throws -> [VFATImage.File] {
        let files: [(String, String, [UInt8])] = [
            ("boot.scr", "src/boot.scr", Array("load virtio 0:1 ${kernel_addr_r} image.fit\nbootm\n".utf8)),
            ("image.fit", "src/Image.fit", (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }),
            ("dtbs/virt.dtb", "src/virt.dtb", [0xD0, 0x0D, 0xFE, 0xED] + [UInt8](repeating: 7, count: 5000)),
            ("dtbs/vendor/A Long File Name.txt", "src/long.txt", Array("long names are VFAT entries\n".utf8)),
            ("notes/ünïcode-名前.txt", "src/unicode.txt", Array("UTF-8 names become UTF-16 long names\n".utf8)),
        ]
        try FileManager.default.createDirectory(atPath: dir.file("src"), withIntermediateDirectories: true)
        return try files.map { name, source, bytes in
            let p = try dir.write(source, bytes)
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: mtime)], ofItemAtPath: p)
            return VFATImage.File(name: name, source: p)
        }
    }

    @Test(arguments: [nil, 12, 16, 32] as [Int?])
    func fsckIsCleanAndMtoolsShowTheFiles(_ fat: Int?) throws {
        guard toolsAvailable("mkfs.vfat", "mcopy", "mmd", "mdir", "mtype", "fsck.vfat") else { return }
        let dir = try TempDir()
        let files = try Self.sources(dir, mtime: 1_000_000_000)
        let img = dir.file("out/boot.vfat")
        let size = [32: 40 * MiB, 16: 24 * MiB][fat ?? 12] ?? 8 * MiB
        try VFATImage.build(files: files, size: size, label: "BOOT", fatSize: fat, sourceDateEpoch: 1_700_000_000, seed: "board/boot", to: img)
        #expect(try FileIO.size(of: img) == size)
        let f = try run("fsck.vfat", ["-n", img])
        #expect(f.status == 0, "\(f.out)\(f.err)")
        let env = ["MTOOLS_SKIP_CHECK": "1", "TZ": "UTC", "LC_ALL": "C.UTF-8"]
        let root = try run("mdir", ["-i", img, "::"], environment: env)
        #expect(root.out.contains("Volume in drive : is BOOT") && root.out.contains("2023-11-14  22:13"), "\(root.out)")
        let info = try run("minfo", ["-i", img, "::"], environment: env)
        if let fat { #expect(info.out.contains("disk type=\"FAT\(fat) "), "\(info.out)") }
        for file in files {
            let t = try run("mtype", ["-i", img, "::" + file.name], environment: env)
            let content = try readBytes(file.source)
            #expect(t.status == 0 && t.stdout == content, "\(file.name): \(t.err)")
        }
        let sub = try run("mdir", ["-i", img, "::dtbs/vendor"], environment: env)
        #expect(sub.out.contains("A Long File Name.txt"), "\(sub.out)")
        let notes = try run("mdir", ["-i", img, "::notes"], environment: env)
        #expect(notes.out.contains("ünïcode-名前.txt"), "\(notes.out)")
    }

    /// Two builds from sources with different mtimes, at different times, are byte-identical;
    /// another SOURCE_DATE_EPOCH or seed changes the bytes.
    @Test func buildsAreReproducible() throws {
        guard toolsAvailable("mkfs.vfat", "mcopy", "mmd") else { return }
        let a = try TempDir(), b = try TempDir()
        let fa = try Self.sources(a, mtime: 1_000_000_000), fb = try Self.sources(b, mtime: 1_600_000_123)
        try VFATImage.build(files: fa, size: 4 * MiB, label: "BOOT", sourceDateEpoch: 1_700_000_000, seed: "s", to: a.file("x.vfat"))
        sleep(2)
        try VFATImage.build(files: fb, size: 4 * MiB, label: "BOOT", sourceDateEpoch: 1_700_000_000, seed: "s", to: b.file("x.vfat"))
        #expect(try readBytes(a.file("x.vfat")) == (try readBytes(b.file("x.vfat"))))
        try VFATImage.build(files: fb, size: 4 * MiB, label: "BOOT", sourceDateEpoch: 1_700_000_002, seed: "s", to: b.file("y.vfat"))
        #expect(try readBytes(a.file("x.vfat")) != (try readBytes(b.file("y.vfat"))))
        #expect(VFATImage.derivedVolumeID(seed: "s", label: "BOOT") != VFATImage.derivedVolumeID(seed: "t", label: "BOOT"))
        // The volume id is the one given, or the derived one.
        let boot = try FileIO.read(a.file("x.vfat"), offset: 0x27, count: 4)
        let id = VFATImage.derivedVolumeID(seed: "s", label: "BOOT")
        #expect(boot == [UInt8(id & 0xFF), UInt8(id >> 8 & 0xFF), UInt8(id >> 16 & 0xFF), UInt8(id >> 24)])
        try VFATImage.build(files: fb, size: 4 * MiB, label: "BOOT", volumeID: 0x1234_5678, sourceDateEpoch: 1, to: b.file("z.vfat"))
        #expect(try FileIO.read(b.file("z.vfat"), offset: 0x27, count: 4) == [0x78, 0x56, 0x34, 0x12])
    }

    /// A build without SOURCE_DATE_EPOCH (0) dates its files 1980-01-01, FAT's first day; mtools
    /// would say 2098 for a time before it.
    @Test func timesBeforeFATsEpochAreItsFirstDay() throws {
        guard toolsAvailable("mkfs.vfat", "mcopy", "mdir") else { return }
        let dir = try TempDir()
        let files = try Self.sources(dir, mtime: 1_000_000_000)
        try VFATImage.build(files: files, size: 4 * MiB, sourceDateEpoch: 0, to: dir.file("x.vfat"))
        let listing = try run("mdir", ["-i", dir.file("x.vfat"), "::/"])
        #expect(listing.out.contains("1980-01-01") && !listing.out.contains("2098"), "\(listing.out)")
    }

    /// A file that does not fit is an error naming it; the destination is left as it was.
    @Test func tooBigFileIsNamed() throws {
        guard toolsAvailable("mkfs.vfat", "mcopy", "mmd") else { return }
        let dir = try TempDir()
        let small = try dir.write("small", [UInt8](repeating: 1, count: 1000))
        let big = try dir.write("big", [UInt8](repeating: 2, count: 200_000))
        let out = try dir.write("out.vfat", Array("old".utf8))
        let files = [VFATImage.File(name: "small.txt", source: small), VFATImage.File(name: "a/big.bin", source: big)]
        let e = errorText { try VFATImage.build(files: files, size: 128 * KiB, label: "X", sourceDateEpoch: 0, to: out) }
        #expect(e?.contains("vfat file 'a/big.bin' (200000 bytes") == true && e?.contains("does not fit") == true, "\(e ?? "no error")")
        // Near the limit: the pre-check passes, mcopy finds the disk full.
        let fits = try dir.write("fits", [UInt8](repeating: 3, count: 120 * KiB))
        let e2 = errorText { try VFATImage.build(files: [VFATImage.File(name: "f.bin", source: fits)], size: 128 * KiB, sourceDateEpoch: 0, to: out) }
        #expect(e2?.contains("vfat file 'f.bin' (122880 bytes, from \(fits)) does not fit in the 128KiB image (mcopy: disk full)") == true, "\(e2 ?? "no error")")
        #expect(try readBytes(out) == Array("old".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains("flashsmith") }.isEmpty)
    }

    @Test(arguments: [
        ("../x", "expected a relative path"), ("a//b", "expected a relative path"), ("a:b", "expected a relative path"), ("", "expected a relative path"),
        ("BOOT.SCR", "clashes with 'boot.scr'"),
    ])
    func badNamesAreRefused(_ name: String, _ expected: String) throws {
        let dir = try TempDir()
        let src = try dir.write("s", [1])
        let files = [VFATImage.File(name: "boot.scr", source: src), VFATImage.File(name: name, source: src)]
        let e = errorText { try VFATImage.build(files: files, size: 1 * MiB, sourceDateEpoch: 0, to: dir.file("o")) }
        #expect(e?.contains(expected) == true, "\(e ?? "no error")")
    }

    @Test func badLabelsAndSourcesAreRefused() throws {
        let dir = try TempDir()
        #expect(errorText { try VFATImage.build(files: [], size: 1 * MiB, label: "TWELVE_CHARS", sourceDateEpoch: 0, to: dir.file("o")) }?.contains("at most 11") == true)
        let e = errorText { try VFATImage.build(files: [VFATImage.File(name: "x", source: dir.path)], size: 1 * MiB, sourceDateEpoch: 0, to: dir.file("o")) }
        #expect(e?.contains("vfat file 'x': expected a regular file, found a directory") == true, "\(e ?? "")")
    }
}
