import Foundation
import Testing
import TestSupport
@testable import RootFS

/// squashfs images from the manifest, read back by squashfs-tools: `unsquashfs -lln` shows every
/// entry's type, mode, owner, size, link target and device numbers as the manifest says, for every
/// compressor; extracted (as root), exact times, xattrs, hard links and content; the same bytes
/// twice and whatever order the host folder lists; rootless.
@Suite(.serialized) struct SquashfsOutputTests {
    struct Line {
        var perms: String
        var uid: UInt32
        var gid: UInt32
        var sizeOrDevice: String
        var time: String
        var target: String?
    }

    /// `unsquashfs -lln` by path (`/` for the root).
    static func listing(_ image: String) throws -> [String: Line] {
        let r = try run("unsquashfs", ["-lln", image], environment: ["TZ": "UTC"])
        #expect(r.status == 0, "unsquashfs -lln: \(r.err)")
        let re = try NSRegularExpression(pattern: #"^(\S+) (\d+)/(\d+) +(.+?) (\d{4}-\d\d-\d\d \d\d:\d\d) squashfs-root(.*)$"#)
        var out: [String: Line] = [:]
        for line in r.out.split(separator: "\n").map(String.init) {
            let ns = line as NSString
            guard let m = re.firstMatch(in: line, range: NSRange(location: 0, length: ns.length)) else { continue }
            func g(_ i: Int) -> String { ns.substring(with: m.range(at: i)) }
            var path = g(6)
            var target: String?
            if g(1).hasPrefix("l"), let arrow = path.range(of: " -> ") {
                target = String(path[arrow.upperBound...])
                path = String(path[..<arrow.lowerBound])
            }
            out[path.isEmpty ? "/" : path] = Line(perms: g(1), uid: UInt32(g(2)) ?? 0, gid: UInt32(g(3)) ?? 0, sizeOrDevice: g(4).replacingOccurrences(of: " ", with: ""), time: g(5), target: target)
        }
        return out
    }

    static func perms(_ kind: Manifest.Kind, _ mode: UInt32) -> String {
        let t: Character
        switch kind {
        case .file, .hardlink: t = "-"
        case .directory: t = "d"
        case .symlink: t = "l"
        case .charDevice: t = "c"
        case .blockDevice: t = "b"
        case .fifo: t = "p"
        case .socket: t = "s"
        }
        var s = [t]
        let bits = Array("rwxrwxrwx")
        for i in 0..<9 { s.append(mode & (0o400 >> UInt32(i)) != 0 ? bits[i] : "-") }
        if mode & 0o4000 != 0 { s[3] = s[3] == "x" ? "s" : "S" }
        if mode & 0o2000 != 0 { s[6] = s[6] == "x" ? "s" : "S" }
        if mode & 0o1000 != 0 { s[9] = s[9] == "x" ? "t" : "T" }
        return String(s)
    }

    static func minute(_ t: Int64) -> String {
        let f = DateFormatter()
        f.timeZone = TimeZone(identifier: "UTC")
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd HH:mm"
        return f.string(from: Date(timeIntervalSince1970: TimeInterval(t)))
    }

    /// Every entry but sockets as the manifest says, in `unsquashfs -lln`.
    static func expectListed(_ m: Manifest, image: String) throws {
        let l = try listing(image)
        let entries = m.sorted().filter { $0.kind != .socket }
        #expect(l.count == entries.count, "unsquashfs lists \(l.count) entries, the manifest has \(entries.count) besides sockets")
        for e in entries {
            let d = e.kind == .hardlink ? m[e.target]! : e
            guard let x = l[e.path] else {
                Issue.record("\(e.path): not in the image")
                continue
            }
            #expect(x.perms == perms(e.kind, d.mode & 0o7777), "\(e.path): \(x.perms)")
            #expect(x.uid == d.uid && x.gid == d.gid, "\(e.path): owner \(x.uid)/\(x.gid), manifest \(d.uid)/\(d.gid)")
            #expect(x.time == minute(d.mtime), "\(e.path): time \(x.time), manifest \(minute(d.mtime))")
            switch e.kind {
            case .file, .hardlink: #expect(x.sizeOrDevice == String(d.size), "\(e.path): size \(x.sizeOrDevice)")
            case .symlink: #expect(x.target == e.target, "\(e.path): target")
            // unsquashfs -lln prints minors above 255 wrongly; extraction checks those.
            case .charDevice, .blockDevice:
                if e.minor < 256 { #expect(x.sizeOrDevice == "\(e.major),\(e.minor)", "\(e.path): device \(x.sizeOrDevice)") }
            default: break
            }
        }
    }

    /// Extracted by unsquashfs as root: times to the second, device numbers, xattrs, hard links, content.
    static func expectExtracted(_ m: Manifest, image: String, in dir: TempDir) throws {
        let root = dir.file("extracted")
        let r = try run("unsquashfs", ["-d", root, "-no-progress", image])
        try #require(r.status == 0, "unsquashfs: \(r.err)")
        var inode: [String: ino_t] = [:]
        for e in m.sorted() where e.kind != .socket {
            let d = e.kind == .hardlink ? m[e.target]! : e
            let p = root + (e.path == "/" ? "" : e.path)
            var st = stat()
            guard lstat(p, &st) == 0 else {
                Issue.record("\(e.path): not extracted")
                continue
            }
            inode[e.path] = st.st_ino
            if e.path != "/" { #expect(Int64(st.st_mtim.tv_sec) == d.mtime, "\(e.path): mtime \(st.st_mtim.tv_sec), manifest \(d.mtime)") }
            #expect(st.st_uid == d.uid && st.st_gid == d.gid, "\(e.path): owner")
            if e.kind.isDevice {
                let dev = UInt64(st.st_rdev)
                let (major, minor) = (UInt32((dev >> 8) & 0xFFF | (dev >> 32) & ~0xFFF), UInt32(dev & 0xFF | (dev >> 12) & ~0xFF))
                #expect(major == e.major && minor == e.minor, "\(e.path): device \(major),\(minor)")
            }
            if e.kind == .file || e.kind == .hardlink { #expect(try readBytes(p) == (try DiskFSFixture.content(d)), "\(e.path): content") }
            #expect(Listing.readXattrs(p) == d.xattrs, "\(e.path): xattrs")
        }
        for e in m.sorted() where e.kind == .hardlink { #expect(inode[e.path] == inode[e.target], "\(e.path): not a hard link of \(e.target)") }
    }

    @Test(arguments: SquashfsOptions.Compression.allCases)
    func everyEntryAsTheManifestSays(_ compression: SquashfsOptions.Compression) throws {
        guard toolsAvailable("mksquashfs", "unsquashfs") else { return }
        let dir = try TempDir()
        let m = try DiskFSFixture.manifest(try DiskFSFixture.writeSpec(in: dir))
        let image = dir.file("root.squashfs")
        let r = try SquashfsOutput.write(m, to: image, options: SquashfsOptions(compression: compression))
        #expect(r.imageSize == (try readBytes(image)).count)
        #expect(r.notes.contains { $0.contains("no type for sockets: 1 left out (/run/app.sock)") }, "\(r.notes)")
        let s = try run("unsquashfs", ["-s", image], environment: ["TZ": "UTC"]).out
        #expect(s.contains("Compression \(compression.rawValue)"), "\(s)")
        #expect(s.contains("Tue Nov 14 22:13:20 2023"), "the creation time is SOURCE_DATE_EPOCH: \(s)")
        try Self.expectListed(m, image: image)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }
        #expect(left.isEmpty, "left beside the output: \(left)")
        if compression == .gzip || compression == .zstd {
            guard getuid() == 0 else {
                print("SKIP: extraction checks need root (device nodes, owners, security xattrs)")
                return
            }
            try Self.expectExtracted(m, image: image, in: dir)
        }
    }

    @Test(arguments: [SquashfsOptions.Compression.gzip, .xz])
    func sameBytesTwiceAndWhateverTheHostOrder(_ compression: SquashfsOptions.Compression) throws {
        guard toolsAvailable("mksquashfs") else { return }
        let a = try TempDir(), b = try TempDir()
        let ma = try DiskFSFixture.manifest(try DiskFSFixture.writeSpec(in: a))
        let mb = try DiskFSFixture.manifest(try DiskFSFixture.writeSpec(in: b, reverse: true))
        var o = SquashfsOptions(compression: compression)
        try SquashfsOutput.write(ma, to: a.file("1.squashfs"), options: o)
        o.processors = 1
        try SquashfsOutput.write(ma, to: a.file("2.squashfs"), options: o)
        try SquashfsOutput.write(mb, to: b.file("3.squashfs"), options: o)
        let one = try readBytes(a.file("1.squashfs"))
        #expect(one == (try readBytes(a.file("2.squashfs"))), "two builds differ")
        #expect(one == (try readBytes(b.file("3.squashfs"))), "the overlay created in another order gives other bytes")
    }

    /// The CLI run as nobody gives the bytes root gets (the root folder's owner included).
    @Test func anUnprivilegedBuildIsTheSame() throws {
        guard toolsAvailable("mksquashfs", "unsquashfs", "setpriv", "unshare") else { return }
        guard getuid() == 0 else {
            print("SKIP: not root here, so there is no second user to compare with")
            return
        }
        let dir = try TempDir()
        chmod(dir.path, 0o777)
        let spec = try DiskFSFixture.writeSpec(in: dir)
        let mine = dir.file("root.squashfs")
        let r = try flashsmith("rootfs", "build", spec, "-o", mine, "--squashfs-comp", "zstd")
        try #require(r.status == 0, "\(r.err)")
        let nobody = dir.file("nobody.squashfs")
        let n = try #require(try DiskFSFixture.asNobody([flashsmithPath, "rootfs", "build", spec, "-o", nobody, "--squashfs-comp", "zstd"]))
        try #require(n.status == 0, "as nobody: \(n.err)")
        #expect(n.out.contains("no type for sockets"), "\(n.out)")
        #expect(try readBytes(mine) == (try readBytes(nobody)), "the image built by nobody differs from root's")
        try Self.expectListed(try DiskFSFixture.manifest(spec), image: nobody)
    }

    @Test func minorsMksquashfsCorruptsAreRefused() throws {
        var m = Manifest(sourceDateEpoch: 0)
        var dev = Manifest.Entry(path: "/dev/big", kind: .charDevice, mode: 0o600, source: "devices.txt:3")
        dev.major = 8
        dev.minor = 600_000
        try m.add(dev)
        let dir = try TempDir()
        #expect {
            try SquashfsOutput.write(m, to: dir.file("x.squashfs"), options: SquashfsOptions())
        } throws: { "\($0)".contains("/dev/big: device 8,600000") && "\($0)".contains("devices.txt:3") }
    }

    @Test(arguments: [
        (SquashfsOptions.Compression.xz, 5, "takes no compression level"), (.gzip, 10, "expected 1…9"), (.zstd, 23, "expected 1…22"),
    ])
    func badLevels(_ c: SquashfsOptions.Compression, _ level: Int, _ message: String) throws {
        var o = SquashfsOptions(compression: c)
        o.level = level
        let dir = try TempDir()
        #expect { try SquashfsOutput.write(Manifest(sourceDateEpoch: 0), to: dir.file("x.squashfs"), options: o) } throws: { "\($0)".contains(message) }
    }

    @Test func cliOptions() throws {
        let dir = try TempDir()
        let spec = try DiskFSFixture.writeSpec(in: dir, sockets: false)
        let wrong = try flashsmith("rootfs", "build", spec, "-o", dir.file("x.tar"), "--squashfs-comp", "xz")
        #expect(wrong.status != 0 && wrong.err.contains("apply to a squashfs output"), "\(wrong.err)")
        let gz = try flashsmith("rootfs", "build", spec, "-o", dir.file("x.squashfs.gz"))
        #expect(gz.status != 0, "\(gz.err)")
        guard toolsAvailable("mksquashfs", "unsquashfs") else { return }
        let ok = try flashsmith("rootfs", "build", spec, "-o", dir.file("x.sqfs"), "--squashfs-comp", "lz4", "--json")
        #expect(ok.status == 0, "\(ok.err)")
        #expect(ok.out.contains("\"squashfsCompression\": \"lz4\""), "\(ok.out)")
        #expect(try run("unsquashfs", ["-s", dir.file("x.sqfs")]).out.contains("Compression lz4"))
    }

    /// `rootfs ls x.squashfs` (unsquashfs -pf underneath) lists what the manifest lists but the
    /// sockets (left out) and the xattrs (unsquashfs 4.5.1 does not print them), digests included.
    @Test func theListingReadsBackTheManifest() throws {
        guard toolsAvailable("mksquashfs", "unsquashfs") else { return }
        let dir = try TempDir()
        let m = try DiskFSFixture.manifest(try DiskFSFixture.writeSpec(in: dir))
        let image = dir.file("root.squashfs")
        try SquashfsOutput.write(m, to: image, options: SquashfsOptions(compression: .zstd))
        #expect(Listing.looksLikeSquashfs(image) && !Listing.looksLikeExt4(image))
        let read = try Listing.of(squashfs: image, digests: true)
        var want = try Listing.of(manifest: m, origin: "spec", digests: true).items.filter { $0.kind != .socket }
        for i in want.indices { want[i].xattrs = [:] }
        #expect(read.items.count == want.count)
        for (a, b) in zip(read.items, want) { #expect(a == b, "\(a.path): read \(a), manifest \(b)") }
    }
}

