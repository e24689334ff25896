import Foundation
import Testing
import TestSupport

/// `rootfs ls|diff` and `inspect` on UBIFS images mkfs.ubifs makes, plain and inside a UBI image.
@Suite struct UBIFSCLITests {
    /// A staged tree, its mkfs.ubifs image (zstd, 2 KiB pages) and a UBI image holding it twice.
    static func images(_ dir: TempDir) throws -> (tree: String, ubifs: String, ubi: String) {
        let tree = dir.file("tree")
        try FileManager.default.createDirectory(atPath: tree + "/etc/init.d", withIntermediateDirectories: true)
        _ = try dir.write("tree/etc/hostname", "board\n")
        _ = try dir.write("tree/etc/init.d/rcS", "#!/bin/sh\nmount -a\n")
        chmod(tree + "/etc/init.d/rcS", 0o755)
        symlink("/proc/mounts", tree + "/etc/mtab")
        _ = try dir.write("tree/big", String(repeating: "0123456789abcdef", count: 40000))
        let ubifs = dir.file("root.ubifs")
        let mk = try run(try #require(which("mkfs.ubifs")), ["-r", tree, "-m", "2048", "-e", "126976", "-c", "100", "-x", "zstd", "-o", ubifs])
        try #require(mk.status == 0, "\(mk.err)")
        let ini = try dir.write("ubi.ini", "[a]\nmode=ubi\nvol_id=0\nvol_name=rootfs\nvol_size=6MiB\nimage=\(ubifs)\n[b]\nmode=ubi\nvol_id=1\nvol_name=backup\nvol_size=6MiB\nimage=\(ubifs)\n")
        let ubi = dir.file("flash.ubi")
        let u = try run(try #require(which("ubinize")), ["-o", ubi, "-m", "2048", "-p", "128KiB", ini])
        try #require(u.status == 0, "\(u.err)")
        return (tree, ubifs, ubi)
    }

    @Test func lsAndDiffReadUBIFSAndUBI() throws {
        guard toolsAvailable("mkfs.ubifs", "ubinize"), filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let (tree, ubifs, ubi) = try Self.images(dir)
        let ls = try flashsmith("rootfs", "ls", ubifs, "--digests")
        #expect(ls.status == 0, "\(ls.err)")
        #expect(ls.out == (try flashsmith("rootfs", "ls", tree, "--digests")).out)
        #expect(ls.out.contains("./etc/mtab type=symlink mode=0777 uid=0 gid=0 link=/proc/mounts"))
        // The same tree, whatever holds it.
        #expect(try flashsmith("rootfs", "diff", ubifs, tree).status == 0)
        #expect(try flashsmith("rootfs", "diff", ubi, ubifs, "--volume", "backup").status == 0)
        // Two UBIFS volumes: one must be named; a typo gets the nearest.
        let both = try flashsmith("rootfs", "ls", ubi)
        #expect(both.status == 65)
        #expect(both.err.contains("several UBIFS volumes ('rootfs', 'backup'): choose one with --volume NAME"), "\(both.err)")
        let typo = try flashsmith("rootfs", "ls", ubi, "--volume", "rootf")
        #expect(typo.status == 65)
        #expect(typo.err.contains("no UBIFS volume named 'rootf' (did you mean 'rootfs'?)"), "\(typo.err)")
        #expect(typo.err.split(separator: "\n").count == 1)
        // A changed file shows in diff.
        _ = try dir.write("tree/etc/hostname", "other\n")
        let d = try flashsmith("rootfs", "diff", ubifs, tree, "--ignore-times")
        #expect(d.status == 1)
        #expect(d.out.contains("~ ./etc/hostname size: 6 -> 6, content:") || d.out.contains("~ ./etc/hostname content:"), "\(d.out)")
    }

    @Test func inspectDescribesUBIFS() throws {
        guard toolsAvailable("mkfs.ubifs", "ubinize"), filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir()
        let (_, ubifs, ubi) = try Self.images(dir)
        let text = try flashsmith("inspect", ubifs)
        #expect(text.status == 0, "\(text.err)")
        for s in ["UBIFS image", "LEB 126976 (0x1f000), min I/O 2048", "compressor: zstd", "LPT model:  small", "clean", "CRCs:", "all good", "3 files"] {
            #expect(text.out.contains(s), "\(s) in \(text.out)")
        }
        let json = try flashsmith("inspect", ubifs, "--json")
        let o = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout)) as? [String: Any])
        #expect(o["format"] as? String == "ubifs")
        #expect(o["lebSize"] as? Int == 126976)
        #expect(o["files"] as? Int == 3)
        #expect(o["symlinks"] as? Int == 1)
        #expect(o["compressor"] as? String == "zstd")
        #expect((o["uuid"] as? String)?.count == 36)
        // Inside a UBI image: each UBIFS volume gets a line (and an object under "ubifs").
        let ubiText = try flashsmith("inspect", ubi)
        #expect(ubiText.status == 0, "\(ubiText.err)")
        #expect(ubiText.out.contains("volume 0 UBIFS: zstd, small LPT") && ubiText.out.contains("volume 1 UBIFS: zstd"), "\(ubiText.out)")
        #expect(ubiText.out.contains("3 files, 3 directories"), "\(ubiText.out)")
        let ubiJSON = try #require(try JSONSerialization.jsonObject(with: Data(try flashsmith("inspect", ubi, "--json").stdout)) as? [String: Any])
        #expect((ubiJSON["ubifs"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["rootfs", "backup"])
        // A corrupted copy is still recognised, and says where.
        var b = try readBytes(ubifs)
        // The first data node (type 1 after the magic 0x06101831, on an 8-byte boundary).
        let data = try #require(stride(from: 0, to: b.count - 24, by: 8).first { b[$0..<($0 + 4)].elementsEqual([0x31, 0x18, 0x10, 0x06]) && b[$0 + 20] == 1 })
        b[data + 50] ^= 0xFF
        let bad = try dir.write("bad.ubifs", b)
        let r = try flashsmith("inspect", bad)
        #expect(r.out.contains("unreadable") && r.out.contains("LEB \(data / 126976):\(data % 126976): data node CRC"), "\(r.out)")
    }
}
