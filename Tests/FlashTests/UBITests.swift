import Foundation
import Testing
import TestSupport
@testable import Flash

/// The UBI writer against ubinize (byte-identical over a set of ini files and geometries) and
/// against ubi_reader (PyPI), which lists and extracts what Flashsmith writes; the reader against
/// images ubinize makes, and against corrupted ones.
@Suite struct UBITests {
    struct Case: Sendable, CustomStringConvertible {
        var name: String
        var ini: String
        var options: [String]
        var description: String { name }
    }

    /// Images: rootfs.bin (300 KiB), kernel.bin (1 MiB + 7), small.bin (100 bytes), made from a seed.
    static func inputs(_ dir: TempDir) throws {
        var rng = Xorshift(seed: 42)
        for (name, size) in [("rootfs.bin", 300 << 10), ("kernel.bin", (1 << 20) + 7), ("small.bin", 100), ("big.bin", (6 << 20) + 12345)] {
            _ = try dir.write(name, (0..<size).map { _ in rng.next() })
        }
    }

    static let cases: [Case] = [
        Case(name: "dynamic autoresize (Buildroot's default)", ini: "[rootfs]\nmode=ubi\nvol_id=0\nvol_type=dynamic\nvol_name=rootfs\nvol_alignment=1\nvol_flags=autoresize\nimage=rootfs.bin\n", options: ["-p", "128KiB", "-m", "2048", "-s", "512"]),
        Case(name: "static kernel + dynamic rootfs + empty data", ini: "[kernel]\nmode=ubi\nvol_id=0\nvol_type=static\nvol_name=kernel\nimage=kernel.bin\n\n[rootfs]\nmode=ubi\nvol_id=1\nvol_type=dynamic\nvol_name=rootfs\nvol_size=2MiB\nimage=rootfs.bin\n\n[data]\nmode=ubi\nvol_id=5\nvol_type=dynamic\nvol_name=data\nvol_size=1MiB\nvol_flags=autoresize\n", options: ["-p", "128KiB", "-m", "2048"]),
        Case(name: "4 KiB pages, 256 KiB blocks, no sub-pages", ini: "[r]\nmode=ubi\nvol_id=0\nvol_name=root fs\nimage=rootfs.bin\n[s]\nmode=ubi\nvol_id=1\nvol_type=static\nvol_name=tiny\nimage=small.bin\n", options: ["-p", "256KiB", "-m", "4096"]),
        Case(name: "VID header offset 2048 on a 512-sub-page chip", ini: "[rootfs]\nmode=ubi\nvol_id=0\nvol_name=rootfs\nimage=rootfs.bin\n", options: ["-p", "0x20000", "-m", "2048", "-s", "512", "-O", "2048"]),
        Case(name: "alignment 4096, erase counter 7, UBI version 1", ini: "[a]\nmode=ubi\nvol_id=3\nvol_type=static\nvol_name=aligned\nvol_alignment=4096\nimage=kernel.bin\n", options: ["-p", "128KiB", "-m", "2048", "-e", "7", "-x", "1"]),
        // (A section with mode other than ubi is skipped by both; ubinize 2.1.5 then wrongly
        // reports a duplicate volume ID 0 for it, so the case has none.)
        // Dynamic volumes are copied a window of 32 LEBs at a time from a mapping of the input: more
        // than one window, a partial last LEB, and an alignment that leaves a data pad.
        Case(name: "dynamic 6 MiB (several 32-LEB windows, partial last LEB) + dynamic aligned 4096", ini: "[big]\nmode=ubi\nvol_id=0\nvol_type=dynamic\nvol_name=big\nimage=big.bin\n[al]\nmode=ubi\nvol_id=1\nvol_type=dynamic\nvol_name=aligned\nvol_alignment=4096\nimage=kernel.bin\n", options: ["-p", "128KiB", "-m", "2048", "-s", "512"]),
        Case(name: "NOR-like: 64 KiB blocks, 1-byte I/O", ini: "; comment\n[Env]\nmode = ubi\nvol_id = 0\nvol_name = \"env\"  \nvol_size = 0x10000\nimage = small.bin\n", options: ["-p", "64KiB", "-m", "1"]),
    ]

    @Test(arguments: cases)
    func byteIdenticalToUbinize(c: Case) throws {
        guard toolsAvailable("ubinize"), filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        try Self.inputs(dir)
        let ini = try dir.write("ubinize.ini", c.ini)
        let peer = try run(try #require(which("ubinize")), ["-o", dir.file("peer.ubi"), "-Q", "12345"] + c.options + [ini], cwd: dir.path)
        try #require(peer.status == 0, "ubinize: \(peer.err)")
        let ours = try run(flashsmithPath, ["ubi", "build", ini, "-o", dir.file("ours.ubi"), "-Q", "12345"] + c.options, cwd: dir.path)
        try #require(ours.status == 0, "flashsmith: \(ours.err)")
        let a = try readBytes(dir.file("ours.ubi"))
        let b = try readBytes(dir.file("peer.ubi"))
        #expect(a.count == b.count, "sizes: ours \(a.count), ubinize \(b.count)")
        if a != b, let i = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
            Issue.record("first difference at \(i) (PEB \(i / 65536)…): ours \(a[i]), ubinize \(b[i])")
        }
        // Our reader agrees with itself on ubinize's image, every CRC good.
        let info = try UBIImageInfo.read(dir.file("peer.ubi"))
        #expect(info.problems.isEmpty, "\(info.problems)")
    }

    @Test func defaultSequenceNumberIsFixed() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        try Self.inputs(dir)
        let ini = try dir.write("u.ini", Self.cases[0].ini)
        for n in ["a", "b"] {
            let r = try run(flashsmithPath, ["ubi", "build", ini, "-o", dir.file("\(n).ubi"), "-p", "128KiB", "-m", "2048"], cwd: dir.path)
            #expect(r.status == 0, "\(r.err)")
        }
        #expect(try readBytes(dir.file("a.ubi")) == (try readBytes(dir.file("b.ubi"))))
        let info = try UBIImageInfo.read(dir.file("a.ubi"))
        #expect(info.imageSeqs.count == 1 && info.imageSeqs[0] != 0)
    }

    /// ubi_reader (PyPI), the reader embedded people use on dumps, lists and extracts our images.
    @Test func ubiReaderListsAndExtracts() throws {
        guard filesAvailable(flashsmithPath), let venv = try PythonTools.ubiReader() else { return }
        let dir = try TempDir()
        try Self.inputs(dir)
        let ini = try dir.write("u.ini", Self.cases[1].ini)
        let r = try run(flashsmithPath, ["ubi", "build", ini, "-o", dir.file("img.ubi"), "-p", "128KiB", "-m", "2048"], cwd: dir.path)
        try #require(r.status == 0, "\(r.err)")
        let info = try run("\(venv)/bin/ubireader_display_info", [dir.file("img.ubi")])
        #expect(info.status == 0, "\(info.err)")
        for name in ["kernel", "rootfs", "data"] { #expect(info.out.contains(name), "ubireader_display_info: \(info.out)") }
        let x = try run("\(venv)/bin/ubireader_extract_images", ["-o", dir.file("out"), dir.file("img.ubi")])
        #expect(x.status == 0, "\(x.err)")
        let found = FileManager.default.enumerator(atPath: dir.file("out"))?.allObjects.compactMap { $0 as? String } ?? []
        let kernel = try #require(found.first { $0.hasSuffix("kernel.ubifs") }, "extracted: \(found)")
        // A static volume is extracted to its exact size; a dynamic one to whole LEBs.
        #expect(try readBytes(dir.file("out/\(kernel)")) == (try readBytes(dir.file("kernel.bin"))))
        let rootfs = try #require(found.first { $0.hasSuffix("rootfs.ubifs") })
        let extracted = try readBytes(dir.file("out/\(rootfs)"))
        let original = try readBytes(dir.file("rootfs.bin"))
        #expect(Array(extracted.prefix(original.count)) == original)
    }

    @Test func corruptionIsFoundAndNamed() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        try Self.inputs(dir)
        let ini = try dir.write("u.ini", Self.cases[1].ini)
        #expect(try run(flashsmithPath, ["ubi", "build", ini, "-o", dir.file("img.ubi"), "-p", "128KiB", "-m", "2048"], cwd: dir.path).status == 0)
        var bytes = try readBytes(dir.file("img.ubi"))
        let ok = try flashsmith("ubi", "inspect", dir.file("img.ubi"), "--json")
        #expect(ok.status == 0 && ok.out.contains("\"name\": \"kernel\""), "\(ok.out)\(ok.err)")
        // A flipped bit in the static kernel's data (PEB 2; no sub-pages: VID header at 2048, data at 4096),
        // and in PEB 3's VID header.
        bytes[2 * 131072 + 4096 + 10] ^= 0x01
        bytes[3 * 131072 + 2048 + 12] ^= 0x80
        let bad = try dir.write("bad.ubi", bytes)
        let r = try flashsmith("ubi", "inspect", bad)
        #expect(r.status == 65)
        #expect(r.out.contains("PEB 2: volume 0 LEB 0: data CRC mismatch") && r.out.contains("PEB 3: VID header CRC mismatch"), "\(r.out)")
        #expect(r.err.contains("2 problem(s)"), "\(r.err)")
        let i = try flashsmith("inspect", dir.file("img.ubi"))
        #expect(i.out.contains("UBI image") && i.out.contains("'rootfs' dynamic"), "\(i.out)")
    }

    @Test(arguments: [
        ("[v]\nmode=ubi\nvol_id=0\nvol_name=a\nvol_size=1KiB\nimage=rootfs.bin\n", "u.ini:5: [v] vol_size: the image is"),
        ("[v]\nmode=ubi\nvol_name=a\nimage=small.bin\n", "[v] vol_id: missing"),
        ("[v]\nmode=ubi\nvol_id=0\nvol_type=static\nvol_name=a\n", "[v] image: a static volume needs an image"),
        ("[v]\nmode=ubi\nvol_id=0\nvol_name=a\nimage=small.bin\n[w]\nmode=ubi\nvol_id=0\nvol_name=b\nimage=small.bin\n", "volume ID 0 is used twice"),
        ("[v]\nmode=ubi\nvol_id=0\nvol_name=a\nimage=nothere.bin\n", "[v] image: cannot find"),
    ])
    func badIniFilesNameTheLine(text: String, expected: String) throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        try Self.inputs(dir)
        let ini = try dir.write("u.ini", text)
        let r = try run(flashsmithPath, ["ubi", "build", ini, "-o", dir.file("o.ubi"), "-p", "128KiB", "-m", "2048"], cwd: dir.path)
        #expect(r.status == 65 && r.err.contains(expected), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("o.ubi")))
    }
}

/// A small deterministic generator for test inputs.
struct Xorshift {
    var state: UInt64
    init(seed: UInt64) { state = seed | 1 }
    mutating func next() -> UInt8 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state >> 32)
    }
}
