import Foundation
import Testing
import TestSupport
@testable import RootFS

/// ext4 images from the manifest, read back by e2fsprogs: `fsck.ext4 -fn` clean, `debugfs stat`
/// shows every entry's type, mode, owner, size, link count, device numbers and time as the
/// manifest says, `ea_get` its xattrs, `dump` its content; the same bytes twice and whatever order
/// the host folder lists; rootless.
@Suite(.serialized) struct Ext4OutputTests {
    static let size = 16 << 20

    /// What `debugfs stat` says of one path.
    struct Stat {
        var inode = 0
        var type = ""
        var mode: UInt32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        var size = 0
        var links = 0
        var mtime: Int64 = 0
        var device: (UInt32, UInt32)?
        var fastLink: String?
    }

    /// Runs debugfs (read-only) with `commands`, one output text per command.
    static func debugfs(_ image: String, _ commands: [String], in dir: TempDir) throws -> [String] {
        let script = try dir.write("read.cmd", commands.joined(separator: "\n") + "\n")
        let r = try run("debugfs", ["-f", script, image], environment: ["DEBUGFS_PAGER": "__none__", "PAGER": "__none__"])
        #expect(r.status == 0, "debugfs: \(r.err)")
        var outputs: [String] = []
        for line in r.out.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("debugfs: ") {
                outputs.append("")
            } else if !outputs.isEmpty {
                outputs[outputs.count - 1] += line + "\n"
            }
        }
        return outputs
    }

    static func quote(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    static func parseStat(_ text: String) -> Stat {
        var s = Stat()
        func field(_ name: String) -> String? {
            guard let r = text.range(of: name + ":") else { return nil }
            return text[r.upperBound...].split(whereSeparator: { $0 == " " || $0 == "\n" }).first.map(String.init)
        }
        s.inode = Int(field("Inode") ?? "") ?? -1
        if let r = text.range(of: "Type: "), let end = text[r.upperBound...].range(of: "  ") { s.type = String(text[r.upperBound..<end.lowerBound]) }
        s.mode = UInt32(field("Mode") ?? "", radix: 8) ?? 0
        s.uid = UInt32(field("User") ?? "") ?? 0
        s.gid = UInt32(field("Group") ?? "") ?? 0
        s.size = Int(field("Size") ?? "") ?? -1
        s.links = Int(field("Links") ?? "") ?? -1
        if let m = field(" mtime") {
            let parts = m.dropFirst(2).split(separator: ":")
            let low = Int64(parts[0], radix: 16) ?? 0
            let extra = parts.count > 1 ? (Int64(parts[1], radix: 16) ?? 0) & 3 : 0
            s.mtime = Int64(Int32(truncatingIfNeeded: low)) + (extra << 32)
        }
        if let d = field("Device major/minor number") {
            let p = d.split(separator: ":")
            s.device = (UInt32(p[0]) ?? 0, UInt32(p[1]) ?? 0)
        }
        if let r = text.range(of: "Fast link dest: \""), let end = text[r.upperBound...].range(of: "\"\n", options: .backwards) {
            s.fastLink = String(text[r.upperBound..<end.lowerBound])
        }
        return s
    }

    static func typeName(_ k: Manifest.Kind) -> String {
        switch k {
        case .file, .hardlink: return "regular"
        case .directory: return "directory"
        case .symlink: return "symlink"
        case .charDevice: return "character special"
        case .blockDevice: return "block special"
        case .fifo: return "FIFO"
        case .socket: return "socket"
        }
    }

    /// Every entry of `m` in `image` as the manifest says it (debugfs), and fsck clean.
    static func expectExact(_ m: Manifest, image: String, in dir: TempDir) throws {
        let fsck = try run("fsck.ext4", ["-fn", image])
        #expect(fsck.status == 0, "fsck.ext4 -fn: \(fsck.out) \(fsck.err)")
        let entries = m.sorted()
        let stats = try debugfs(image, entries.map { "stat \(quote($0.path))" }, in: dir).map(parseStat)
        try #require(stats.count == entries.count)
        var inodeOf: [String: Int] = [:]
        var commands: [String] = []
        var expected: [(String, [UInt8])] = []
        for (e, s) in zip(entries, stats) {
            let d = e.kind == .hardlink ? m[e.target]! : e
            inodeOf[e.path] = s.inode
            #expect(s.type == typeName(e.kind), "\(e.path): type \(s.type)")
            #expect(s.mode == d.mode & 0o7777, "\(e.path): mode \(String(s.mode, radix: 8)), manifest \(String(d.mode & 0o7777, radix: 8))")
            #expect(s.uid == d.uid && s.gid == d.gid, "\(e.path): owner \(s.uid):\(s.gid), manifest \(d.uid):\(d.gid)")
            #expect(s.mtime == d.mtime, "\(e.path): mtime \(s.mtime), manifest \(d.mtime)")
            switch e.kind {
            case .file, .hardlink:
                #expect(s.size == d.size, "\(e.path): size")
                let groupSize = m.sorted().filter { $0.path == d.path || ($0.kind == .hardlink && $0.target == d.path) }.count
                #expect(s.links == groupSize, "\(e.path): links \(s.links), expected \(groupSize)")
                let out = dir.file("dump-\(s.inode)")
                commands.append("dump \(quote(e.path)) \(quote(out))")
                expected.append((out, try DiskFSFixture.content(d)))
            case .symlink:
                #expect(s.size == e.target.utf8.count, "\(e.path): symlink size")
                if let f = s.fastLink { #expect(f == e.target, "\(e.path): target \(f)") }
            case .charDevice, .blockDevice:
                #expect(s.device?.0 == e.major && s.device?.1 == e.minor, "\(e.path): device \(String(describing: s.device)), manifest \(e.major),\(e.minor)")
            default: break
            }
            for (k, (name, value)) in d.xattrs.sorted(by: { $0.key < $1.key }).enumerated() {
                let out = dir.file("xattr-\(s.inode)-\(k)")
                commands.append("ea_get -f \(quote(out)) \(quote(e.path)) \(quote(name))")
                expected.append((out, value))
            }
        }
        for e in entries where e.kind == .hardlink { #expect(inodeOf[e.path] == inodeOf[e.target], "\(e.path): not a hard link of \(e.target)") }
        _ = try debugfs(image, commands, in: dir)
        for (file, bytes) in expected { #expect((try? readBytes(file)) == bytes, "\(file): differs from the manifest") }
    }

    @Test func everyEntryAsTheManifestSays() throws {
        guard toolsAvailable("mke2fs", "debugfs", "fsck.ext4") else { return }
        let dir = try TempDir()
        let m = try DiskFSFixture.manifest(try DiskFSFixture.writeSpec(in: dir))
        let image = dir.file("root.ext4")
        let r = try Ext4Output.write(m, to: image, options: Ext4Options(size: Self.size))
        #expect(r.imageSize == Self.size && r.blockSize == 4096)
        #expect(try readBytes(image).count == Self.size)
        try Self.expectExact(m, image: image, in: dir)
        // Nothing left beside the output: no staging folder, no temporary image.
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }
        #expect(left.isEmpty, "left beside the output: \(left)")
        // The superblock: label, UUID and hash seed as summarized, times SOURCE_DATE_EPOCH.
        let h = try run("dumpe2fs", ["-h", image]).out
        #expect(h.contains("Filesystem UUID:          \(r.uuidString)"))
        #expect(h.contains("Directory Hash Seed:      \(r.hashSeedString)"))
        let created = try run("debugfs", ["-R", "stats", image]).out
        #expect(created.contains("Filesystem created:       Tue Nov 14 22:13:20 2023"), "\(created.prefix(1200))")
    }

    @Test func sameBytesTwiceAndWhateverTheHostOrder() throws {
        guard toolsAvailable("mke2fs", "debugfs") else { return }
        let a = try TempDir(), b = try TempDir()
        let ma = try DiskFSFixture.manifest(try DiskFSFixture.writeSpec(in: a))
        let mb = try DiskFSFixture.manifest(try DiskFSFixture.writeSpec(in: b, reverse: true))
        var o = Ext4Options(size: Self.size)
        o.label = "rootfs"
        try Ext4Output.write(ma, to: a.file("1.ext4"), options: o)
        try Ext4Output.write(ma, to: a.file("2.ext4"), options: o)
        try Ext4Output.write(mb, to: b.file("3.ext4"), options: o)
        let one = try readBytes(a.file("1.ext4"))
        #expect(one == (try readBytes(a.file("2.ext4"))), "two builds differ")
        #expect(one == (try readBytes(b.file("3.ext4"))), "the overlay created in another order gives other bytes")
        // A given UUID is the image's; another content, another derived UUID.
        o.uuid = Array(0..<16)
        let r = try Ext4Output.write(ma, to: a.file("4.ext4"), options: o)
        #expect(r.uuidString == "00010203-0405-0607-0809-0a0b0c0d0e0f")
        var other = ma
        other.update("/one.bin") { $0.content = .bytes([0x5B]) }
        let r1 = try Ext4Output.write(ma, to: a.file("5.ext4"), options: Ext4Options(size: Self.size))
        let r2 = try Ext4Output.write(other, to: a.file("6.ext4"), options: Ext4Options(size: Self.size))
        #expect(r1.uuid != r2.uuid && r1.hashSeed != r2.hashSeed)
    }

    @Test func anEmptyManifestIsAnEmptyFilesystem() throws {
        guard toolsAvailable("mke2fs", "debugfs", "fsck.ext4") else { return }
        let dir = try TempDir()
        let image = dir.file("data.ext4")
        let m = Manifest(sourceDateEpoch: 1_234_567_890)
        let r = try Ext4Output.write(m, to: image, options: Ext4Options(size: 8 << 20))
        #expect(try run("fsck.ext4", ["-fn", image]).status == 0)
        #expect(r.inodeCount - r.freeInodes == 11, "used inodes: \(r.inodeCount - r.freeInodes)")
        // SOURCE_DATE_EPOCH 0, which e2fsprogs cannot fake: every time still 0 but the superblock's.
        let zero = try Listing.of(ext4: image, digests: false).items.map(\.mtime)
        #expect(zero.count == 2 && zero.allSatisfy { $0 == 1_234_567_890 }, "\(zero)")
        try Ext4Output.write(Manifest(sourceDateEpoch: 0), to: image, options: Ext4Options(size: 8 << 20))
        let times = try Listing.of(ext4: image, digests: false).items.map(\.mtime)
        #expect(times == [0, 0], "\(times)")
    }

    @Test func aManifestThatDoesNotFitIsOneClearError() throws {
        guard toolsAvailable("mke2fs", "debugfs") else { return }
        let dir = try TempDir()
        var m = Manifest(sourceDateEpoch: 0)
        var big = Manifest.Entry(path: "/big.bin", kind: .file, mode: 0o644, source: "test")
        big.content = .bytes([UInt8](repeating: 0x41, count: 3 << 20))
        _ = try m.add(big)
        let image = dir.file("small.ext4")
        #expect {
            try Ext4Output.write(m, to: image, options: Ext4Options(size: 2 << 20))
        } throws: { e in
            let text = "\(e)"
            return text.hasPrefix("\(image): the manifest does not fit in an ext4 image of 2MiB") && !text.contains("\n")
        }
        #expect(!FileManager.default.fileExists(atPath: image))
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(left.isEmpty, "left behind: \(left)")
    }

    @Test(arguments: [
        (3 << 20 | 1, "a multiple of 4 KiB"), (4096, "at least 1 MiB"),
    ])
    func badSizesAreUsageErrors(size: Int, message: String) throws {
        let dir = try TempDir()
        #expect {
            try Ext4Output.write(Manifest(sourceDateEpoch: 0), to: dir.file("x.ext4"), options: Ext4Options(size: size))
        } throws: { "\($0)".contains(message) }
    }

    /// The CLI run as nobody (no root, no fakeroot) gives the bytes root gets.
    @Test func anUnprivilegedBuildIsTheSame() throws {
        guard toolsAvailable("mke2fs", "debugfs", "setpriv") else { return }
        guard getuid() == 0 else {
            print("SKIP: not root here, so there is no second user to compare with")
            return
        }
        let dir = try TempDir()
        chmod(dir.path, 0o777)
        let spec = try DiskFSFixture.writeSpec(in: dir)
        let mine = dir.file("root.ext4")
        let r = try flashsmith("rootfs", "build", spec, "-o", mine, "--size", "16MiB")
        try #require(r.status == 0, "\(r.err)")
        let nobody = dir.file("nobody.ext4")
        let n = try #require(try DiskFSFixture.asNobody([flashsmithPath, "rootfs", "build", spec, "-o", nobody, "--size", "16MiB"]))
        try #require(n.status == 0, "as nobody: \(n.err)")
        var st = stat()
        stat(nobody, &st)
        #expect(st.st_uid == 65534)
        #expect(try readBytes(mine) == (try readBytes(nobody)), "the image built by nobody differs from root's")
        try Self.expectExact(try DiskFSFixture.manifest(spec), image: nobody, in: dir)
    }

    @Test func cliOptions() throws {
        let dir = try TempDir()
        let spec = try DiskFSFixture.writeSpec(in: dir)
        let noSize = try flashsmith("rootfs", "build", spec, "-o", dir.file("x.ext4"))
        #expect(noSize.status != 0 && noSize.err.contains("--size"), "\(noSize.err)")
        let wrong = try flashsmith("rootfs", "build", spec, "-o", dir.file("x.tar"), "--size", "8MiB")
        #expect(wrong.status != 0 && wrong.err.contains("apply to an ext4 output"), "\(wrong.err)")
        let gz = try flashsmith("rootfs", "build", spec, "-o", dir.file("x.ext4.gz"), "--size", "8MiB")
        #expect(gz.status != 0, "\(gz.err)")
        guard toolsAvailable("mke2fs", "debugfs") else { return }
        let ok = try flashsmith("rootfs", "build", spec, "-o", dir.file("x.ext4"), "--size", "16MiB", "--label", "root", "--uuid", "01234567-89ab-cdef-0123-456789abcdef", "--json")
        #expect(ok.status == 0, "\(ok.err)")
        #expect(ok.out.contains("\"uuid\": \"01234567-89ab-cdef-0123-456789abcdef\""), "\(ok.out)")
        #expect(ok.out.contains("\"label\": \"root\""), "\(ok.out)")
    }

    /// `rootfs ls x.ext4` (debugfs underneath) lists what the manifest lists, digests included,
    /// and /lost+found, which every mke2fs image has.
    @Test func theListingReadsBackTheManifest() throws {
        guard toolsAvailable("mke2fs", "debugfs") else { return }
        let dir = try TempDir()
        let m = try DiskFSFixture.manifest(try DiskFSFixture.writeSpec(in: dir))
        let image = dir.file("root.ext4")
        try Ext4Output.write(m, to: image, options: Ext4Options(size: Self.size))
        #expect(Listing.looksLikeExt4(image) && !Listing.looksLikeSquashfs(image))
        let read = try Listing.of(ext4: image, digests: true)
        let want = try Listing.of(manifest: m, origin: "spec", digests: true)
        let lostFound = read.items.first { $0.path == "/lost+found" }
        #expect(lostFound?.kind == .directory && lostFound?.mode == 0o700)
        let got = read.items.filter { $0.path != "/lost+found" }
        #expect(got.count == want.items.count)
        for (a, b) in zip(got, want.items) { #expect(a == b, "\(a.path): read \(a), manifest \(b)") }
    }

    /// debugfs reads its commands line by line: a newline in a name cannot be said, and the error
    /// is one line naming the entry.
    @Test func aNewlineInANameIsOneLineError() throws {
        guard toolsAvailable("mke2fs", "debugfs") else { return }
        var m = Manifest(sourceDateEpoch: 0)
        var e = Manifest.Entry(path: "/new\nline", kind: .file, mode: 0o644, source: "test")
        e.content = .bytes([1])
        try m.add(e)
        let dir = try TempDir()
        #expect {
            try Ext4Output.write(m, to: dir.file("x.ext4"), options: Ext4Options(size: 4 << 20))
        } throws: { "\($0)".contains("/new\\nline: a name or link target with a newline") && !"\($0)".contains("\n") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }
}

