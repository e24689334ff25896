import Foundation
import Testing
import TestSupport

/// Flashsmith's root filesystem archives read by the programs that really read them: GNU cpio and
/// bsdtar list the manifest's entries, owners, modes, links and device numbers; bsdtar and GNU cpio
/// extract them (as root) into trees `rootfs diff` finds equal, file capabilities included (getcap);
/// two builds give the same bytes in every compression; hostile symlinks change nothing outside.
@Suite struct RootFSInteropTests {
    /// A rootfs with every kind of entry: skeleton, overlay (hard links, symlinks absolute and
    /// relative, setuid, a fifo, an empty file), a bundled binary, busybox, users and device tables.
    static func fixture(_ dir: TempDir, links: String = "symlink") throws -> String {
        let fm = FileManager.default
        for d in ["overlay/etc/app", "overlay/usr/share/app", "overlay/opt/tool"] { try fm.createDirectory(atPath: dir.file(d), withIntermediateDirectories: true) }
        _ = try dir.write("overlay/etc/app/app.conf", "key=value\n")
        _ = try dir.write("overlay/usr/share/app/data.bin", (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        link(dir.file("overlay/usr/share/app/data.bin"), dir.file("overlay/usr/share/app/data-alias.bin"))
        _ = try dir.write("overlay/opt/tool/run", "#!/bin/sh\necho tool\n")
        chmod(dir.file("overlay/opt/tool/run"), 0o4755)
        _ = try dir.write("overlay/opt/tool/empty", "")
        try fm.createSymbolicLink(atPath: dir.file("overlay/opt/tool/abs"), withDestinationPath: "/etc/app/app.conf")
        try fm.createSymbolicLink(atPath: dir.file("overlay/opt/tool/rel"), withDestinationPath: "../../etc/app")
        mkfifo(dir.file("overlay/opt/tool/fifo"), 0o640)
        _ = try dir.write("users.txt", "alice -2 alice -2 =wonderland /home/alice /bin/sh video,audio Alice\ndaemon2 -1 daemon2 -1 * - - - -\n")
        _ = try dir.write(
            "devices.txt",
            """
            /dev/ttyS c 660 0 dialout 4 64 0 1 4
            /dev/mtdblock b 640 0 disk 31 0 0 1 2
            /dev/kmsg c 644 0 0 1 11 - - -
            /var/app d 2770 alice alice - - - - -
            /opt/tool/run f 4750 0 alice - - - - -
            /usr/bin/zstd f 755 0 0 - - - - -
            |xattr cap_net_raw,cap_net_admin+ep

            """
        )
        return try dir.write(
            "rootfs.yaml",
            """
            source-date-epoch: 1700000000
            layers:
              - skeleton: base
              - overlay: overlay
              - bundle: [/usr/bin/zstd]
              - busybox: /bin/busybox
                links: \(links)
              - users: users.txt
              - devices: devices.txt

            """
        )
    }

    static func available() -> Bool { toolsAvailable("busybox") && filesAvailable(flashsmithPath, "/bin/busybox", "/usr/bin/zstd") }

    /// The manifest, as `rootfs ls SPEC --json` lists it: path → item.
    static func manifest(_ spec: String) throws -> [String: [String: Any]] {
        let r = try flashsmith("rootfs", "ls", spec, "--json")
        try #require(r.status == 0, "\(r.err)")
        let items = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout)) as? [[String: Any]])
        return Dictionary(items.compactMap { i in (i["path"] as? String).map { ($0, i) } }, uniquingKeysWith: { a, _ in a })
    }

    /// One line of an `ls -l`-style listing (GNU cpio -tv, bsdtar -tv).
    struct LsLine {
        var type: Character
        var mode: UInt32
        var links: Int
        var uid: Int
        var gid: Int
        var size: Int?
        var device: (Int, Int)?
        var name: String
        var target: String?
        var hardlinkTo: String?
    }

    /// `-rwsr-x---` → type '-' and 04750.
    static func mode(_ perms: Substring) -> (Character, UInt32) {
        let c = Array(perms)
        var m: UInt32 = 0
        let bits: [(Int, UInt32)] = [(1, 0o400), (2, 0o200), (4, 0o040), (5, 0o020), (7, 0o004), (8, 0o002)]
        for (i, b) in bits where c[i] != "-" { m |= b }
        for (i, x, special) in [(3, UInt32(0o100), UInt32(0o4000)), (6, 0o010, 0o2000), (9, 0o001, 0o1000)] {
            switch c[i] {
            case "x": m |= x
            case "s", "t": m |= x | special
            case "S", "T": m |= special
            default: break
            }
        }
        return (c[0], m)
    }

    static func parse(_ text: String) -> [String: LsLine] {
        var out: [String: LsLine] = [:]
        for raw in text.split(separator: "\n") {
            var t = raw.split(separator: " ", omittingEmptySubsequences: true)
            guard t.count >= 8, t[0].count == 10 else { continue }
            let (type, mode) = Self.mode(t[0])
            var l = LsLine(type: type, mode: mode, links: Int(t[1]) ?? -1, uid: Int(t[2]) ?? -1, gid: Int(t[3]) ?? -1, name: "")
            t.removeFirst(4)
            if type == "c" || type == "b" {
                // GNU cpio: "4,  64"; bsdtar: "4,64".
                let joined = t.prefix(2).joined(separator: " ")
                let parts = joined.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                let minorToken = t[0].hasSuffix(",") ? 2 : 1
                l.device = (Int(parts[0]) ?? -1, Int(parts[1].split(separator: " ")[0]) ?? -1)
                t.removeFirst(minorToken)
            } else {
                l.size = Int(t[0])
                t.removeFirst(1)
            }
            t.removeFirst(3)  // date
            let rest = t.joined(separator: " ")
            if let r = rest.range(of: " -> ") {
                l.name = String(rest[..<r.lowerBound])
                l.target = String(rest[r.upperBound...])
            } else if let r = rest.range(of: " link to ") {
                l.name = String(rest[..<r.lowerBound])
                l.hardlinkTo = String(rest[r.upperBound...])
            } else {
                l.name = rest
            }
            var n = Substring(l.name)
            while n.hasPrefix("./") { n = n.dropFirst(2) }
            while n.hasSuffix("/") { n = n.dropLast() }
            out[n.isEmpty || n == "." ? "/" : "/" + n] = l
        }
        return out
    }

    static let typeChar: [String: Character] = ["file": "-", "hardlink": "-", "directory": "d", "symlink": "l", "char": "c", "block": "b", "fifo": "p"]

    /// Every manifest entry appears with its type, mode, owner, device numbers and link target.
    static func compare(_ listing: [String: LsLine], _ manifest: [String: [String: Any]], tool: String, hardlinkStyle: String) {
        #expect(Set(listing.keys) == Set(manifest.keys), "\(tool): names differ: only in \(tool) \(Set(listing.keys).subtracting(manifest.keys).sorted().prefix(5)), only in the manifest \(Set(manifest.keys).subtracting(listing.keys).sorted().prefix(5))")
        var groupSize: [String: Int] = [:]
        for (_, m) in manifest where m["type"] as? String == "hardlink" { groupSize[m["link"] as? String ?? "", default: 1] += 1 }
        for (path, m) in manifest {
            guard let l = listing[path] else { continue }
            let type = m["type"] as? String ?? ""
            let expectedType: Character = hardlinkStyle == "tar" && type == "hardlink" ? "h" : (typeChar[type] ?? "?")
            #expect(l.type == expectedType, "\(tool) \(path): type \(l.type), manifest \(type)")
            if type != "symlink" && !(hardlinkStyle == "tar" && type == "hardlink") {
                #expect(l.mode == UInt32(m["mode"] as? String ?? "", radix: 8), "\(tool) \(path): mode 0\(String(l.mode, radix: 8)), manifest \(m["mode"] ?? "")")
            }
            #expect(l.uid == m["uid"] as? Int && l.gid == m["gid"] as? Int, "\(tool) \(path): owner \(l.uid):\(l.gid), manifest \(m["uid"] ?? ""):\(m["gid"] ?? "")")
            if type == "char" || type == "block" {
                #expect(l.device?.0 == m["major"] as? Int && l.device?.1 == m["minor"] as? Int, "\(tool) \(path): device \(String(describing: l.device))")
            }
            if type == "symlink" { #expect(l.target == m["link"] as? String, "\(tool) \(path): target \(l.target ?? "none"), manifest \(m["link"] ?? "")") }
            if type == "file", hardlinkStyle == "cpio" {
                #expect(l.links == groupSize[path] ?? 1, "\(tool) \(path): \(l.links) links")
            }
            if type == "hardlink" {
                if hardlinkStyle == "tar" {
                    #expect(l.hardlinkTo.map { Self.normal($0) } == m["link"] as? String, "\(tool) \(path): link to \(l.hardlinkTo ?? "none")")
                } else {
                    #expect(l.links == groupSize[m["link"] as? String ?? ""], "\(tool) \(path): \(l.links) links")
                }
            }
        }
    }

    static func normal(_ n: String) -> String {
        var s = Substring(n)
        while s.hasPrefix("./") { s = s.dropFirst(2) }
        return "/" + s
    }

    @Test(arguments: ["symlink", "hardlink"])
    func gnuCpioListsTheManifest(links: String) throws {
        guard Self.available(), toolsAvailable("cpio") else { return }
        let dir = try TempDir("flashsmith-rootfs-cpio")
        let spec = try Self.fixture(dir, links: links)
        let b = try flashsmith("rootfs", "build", spec, "-o", dir.file("r.cpio"))
        try #require(b.status == 0, "\(b.err)")
        // Names and counts: GNU cpio reads every entry (the trailer included) without complaint.
        let r = try run(try #require(which("cpio")), ["-itv", "--numeric-uid-gid", "-F", dir.file("r.cpio")])
        #expect(r.status == 0, "\(r.err)")
        let manifest = try Self.manifest(spec)
        Self.compare(Self.parse(r.out), manifest, tool: "GNU cpio", hardlinkStyle: "cpio")
        #expect(manifest["/dev/ttyS3"]?["minor"] as? Int == 67)
        #expect(manifest["/opt/tool/run"]?["mode"] as? String == "04750")
    }

    @Test(arguments: ["symlink", "hardlink"])
    func bsdtarListsTheManifest(links: String) throws {
        guard Self.available(), toolsAvailable("bsdtar") else { return }
        let dir = try TempDir("flashsmith-rootfs-tar")
        let spec = try Self.fixture(dir, links: links)
        for name in ["r.tar", "r.tar.zst"] {
            let b = try flashsmith("rootfs", "build", spec, "-o", dir.file(name))
            try #require(b.status == 0, "\(b.err)")
            let r = try run(try #require(which("bsdtar")), ["-tvf", dir.file(name), "--numeric-owner"])
            #expect(r.status == 0, "\(r.err)")
            Self.compare(Self.parse(r.out), try Self.manifest(spec), tool: "bsdtar \(name)", hardlinkStyle: "tar")
        }
        // GNU tar reads the same archive, entry for entry.
        if toolsAvailable("tar") {
            let g = try run(try #require(which("tar")), ["-tvf", dir.file("r.tar"), "--numeric-owner"])
            let count = try Self.manifest(spec).count
            #expect(g.status == 0 && g.out.split(separator: "\n").count == count, "\(g.err)")
        }
    }

    /// Extraction by the real tools gives the manifest's tree: owners, devices, hard links, xattrs.
    @Test func extractedTreesMatch() throws {
        guard Self.available(), toolsAvailable("bsdtar", "cpio", "getcap") else { return }
        guard geteuid() == 0 else {
            print("SKIP extractedTreesMatch: extracting owners and device nodes needs root (the listing tests cover non-root)")
            return
        }
        let dir = try TempDir("flashsmith-rootfs-extract")
        let spec = try Self.fixture(dir)
        for name in ["r.tar.xz", "r.cpio.gz"] {
            let b = try flashsmith("rootfs", "build", spec, "-o", dir.file(name))
            try #require(b.status == 0, "\(b.err)")
        }
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir.file("x"), withIntermediateDirectories: true)
        let x = try run(try #require(which("bsdtar")), ["-xpf", dir.file("r.tar.xz"), "--xattrs", "--numeric-owner", "-C", dir.file("x")])
        try #require(x.status == 0, "\(x.err)")
        // bsdtar leaves the folder it extracts into as it was (its time included).
        _ = try run("/usr/bin/touch", ["-d", "@1700000000", dir.file("x")])
        let d = try flashsmith("rootfs", "diff", dir.file("r.tar.xz"), dir.file("x"))
        #expect(d.status == 0, "bsdtar's extraction differs from the archive:\n\(d.out)\(d.err)")
        let d2 = try flashsmith("rootfs", "diff", spec, dir.file("x"))
        #expect(d2.status == 0, "bsdtar's extraction differs from the spec:\n\(d2.out)\(d2.err)")
        let caps = try run(try #require(which("getcap")), [dir.file("x/usr/bin/zstd")])
        #expect(caps.out.contains("cap_net_admin,cap_net_raw=ep"), "getcap: \(caps.out)\(caps.err)")

        try fm.createDirectory(atPath: dir.file("y"), withIntermediateDirectories: true)
        let c = try run("/bin/sh", ["-c", "gzip -dc '\(dir.file("r.cpio.gz"))' | cpio -idm --numeric-uid-gid --quiet"], cwd: dir.file("y"))
        try #require(c.status == 0, "\(c.err)")
        // GNU cpio sets a folder's time before filling it; xattrs do not exist in newc.
        let e = try flashsmith("rootfs", "diff", "--ignore-times", dir.file("r.cpio.gz"), dir.file("y"))
        #expect(e.status == 0, "GNU cpio's extraction differs from the archive:\n\(e.out)\(e.err)")
    }

    @Test(arguments: ["r.tar", "r.tar.gz", "r.tar.xz", "r.tar.zst", "r.cpio", "r.cpio.gz", "r.cpio.lz4", "r.cpio.bz2"])
    func byteIdenticalTwice(name: String) throws {
        guard Self.available() else { return }
        let dir = try TempDir("flashsmith-rootfs-repro")
        let spec = try Self.fixture(dir)
        let a = try flashsmith("rootfs", "build", spec, "-o", dir.file("a-" + name))
        try #require(a.status == 0, "\(a.err)")
        // Touch the overlay in between: times past SOURCE_DATE_EPOCH are clamped, so nothing changes.
        _ = try run("/usr/bin/touch", [dir.file("overlay/etc/app/app.conf"), dir.file("overlay/opt/tool/run")])
        let b = try flashsmith("rootfs", "build", spec, "-o", dir.file("b-" + name))
        try #require(b.status == 0, "\(b.err)")
        let x = try readBytes(dir.file("a-" + name))
        #expect(x.count > 1000)
        #expect(x == (try readBytes(dir.file("b-" + name))), "\(name): two builds differ")
        // The compressed stream is complete and valid for its own tool.
        let tester: [String: [String]] = [".gz": ["gzip", "-t"], ".xz": ["xz", "-t"], ".zst": ["zstd", "-qt"], ".lz4": ["lz4", "-qt"], ".bz2": ["bzip2", "-t"]]
        for (suffix, cmd) in tester where name.hasSuffix(suffix) {
            guard toolsAvailable(cmd[0]) else { continue }
            let t = try run(try #require(which(cmd[0])), Array(cmd.dropFirst()) + [dir.file("a-" + name)])
            #expect(t.status == 0, "\(cmd[0]) -t: \(t.err)")
        }
        let i = try flashsmith("inspect", "--json", dir.file("a-" + name))
        let kind = name.contains(".tar") ? "tar" : "cpio"
        #expect(i.status == 0 && i.out.contains("\"format\": \"\(kind)\""), "\(i.out)\(i.err)")
    }

    /// Symlinks in the inputs pointing out of the image, a later layer writing "through" them, and an
    /// old output tree full of links to the outside: nothing outside the output changes.
    @Test func hostileSymlinksChangeNothingOutside() throws {
        guard filesAvailable(flashsmithPath) else { return }
        let dir = try TempDir("flashsmith-rootfs-hostile")
        let fm = FileManager.default
        let victim = dir.file("victim")
        try fm.createDirectory(atPath: victim, withIntermediateDirectories: true)
        _ = try dir.write("victim/precious", "do not touch\n")
        for d in ["a/etc", "b/etc"] { try fm.createDirectory(atPath: dir.file(d), withIntermediateDirectories: true) }
        try fm.createSymbolicLink(atPath: dir.file("a/data"), withDestinationPath: victim)
        try fm.createSymbolicLink(atPath: dir.file("a/up"), withDestinationPath: "../../../../../../../../" + victim)
        try fm.createSymbolicLink(atPath: dir.file("a/etc/passwd"), withDestinationPath: "/etc/passwd")
        _ = try dir.write("b/etc/passwd", "root:x:0:0::/root:/bin/sh\n")
        _ = try dir.write("devices.txt", "/data/node c 600 0 0 1 3\n/up/sub d 755 0 0\n")
        // Later layers write "through" a's links: a file, a device node, a folder.
        _ = try dir.write(
            "rootfs.yaml",
            """
            layers:
              - overlay: a
              - overlay: b
                replace: true
              - file: /data/precious
                content: "overwritten?\\n"
              - devices: devices.txt

            """
        )
        // An earlier output: links to the victim where the new tree will put files and folders.
        try fm.createDirectory(atPath: dir.file("out"), withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: dir.file("out/data"), withDestinationPath: victim)
        try fm.createSymbolicLink(atPath: dir.file("out/up"), withDestinationPath: victim)
        func snapshot() throws -> [String] {
            try fm.subpathsOfDirectory(atPath: victim).sorted().map { p in
                let attrs = try fm.attributesOfItem(atPath: "\(victim)/\(p)")
                return "\(p) \(attrs[.type] ?? "") \(attrs[.size] ?? "") \((try? String(contentsOfFile: "\(victim)/\(p)", encoding: .utf8)) ?? "")"
            } + [String(describing: try fm.attributesOfItem(atPath: victim)[.modificationDate] ?? "")]
        }
        let before = try snapshot()
        let passwdBefore = try readBytes("/etc/passwd")
        // The old tree was not written by Flashsmith: refused without --force, replaced with it.
        let refused = try flashsmith("rootfs", "build", dir.file("rootfs.yaml"), "-o", dir.file("out"))
        #expect(refused.status == 73 && refused.err.contains("--force"), "\(refused.err)")
        for out in [dir.file("out"), dir.file("r.tar"), dir.file("r.cpio")] {
            let r = try flashsmith(["rootfs", "build", dir.file("rootfs.yaml"), "-o", out] + (out.hasSuffix("/out") ? ["--force"] : []))
            #expect(r.status == 0, "\(r.err)")
        }
        #expect(try snapshot() == before, "the victim folder changed")
        #expect(try readBytes("/etc/passwd") == passwdBefore)
        // Inside the image the links stayed links, and what went "through" them landed inside it.
        let l = try flashsmith("rootfs", "ls", dir.file("r.tar"))
        #expect(l.out.contains("./data type=symlink") && l.out.contains("link=\(victim)"), "\(l.out)")
        // b replaced a's link to the host's /etc/passwd with a file (it says replace: true).
        #expect(l.out.contains("./etc/passwd type=file"), "\(l.out)")
        #expect(l.out.contains("./up type=symlink"), "\(l.out)")
        #expect(l.out.contains(".\(victim)/precious type=file"), "\(l.out)")
        #expect(l.out.contains(".\(victim)/node type=char"), "\(l.out)")
        #expect(l.out.contains(".\(victim)/sub type=directory"), "\(l.out)")
        let outPath = dir.file("out") + victim + "/precious"
        #expect((try? String(contentsOfFile: outPath, encoding: .utf8)) == "overwritten?\n")
        let data = try fm.destinationOfSymbolicLink(atPath: dir.file("out/data"))
        #expect(data == victim)
        // Nothing but the outputs (and their records) appeared beside the output.
        let beside = try fm.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(beside == ["a", "b", "devices.txt", "out", "out.mtree", "r.cpio", "r.tar", "rootfs.yaml", "victim"], "\(beside)")
    }

    /// The folder output as a normal user: what cannot be applied is said, and DIR.mtree holds the
    /// truth, which bsdtar turns into an archive equal to the manifest, still without root.
    @Test func folderAsNormalUserKeepsTheTruthInMtree() throws {
        guard Self.available(), toolsAvailable("bsdtar", "setpriv") else { return }
        let dir = try TempDir("flashsmith-rootfs-user")
        let spec = try Self.fixture(dir)
        chmod(dir.path, 0o777)
        let asUser: [String] = geteuid() == 0 ? [try #require(which("setpriv")), "--reuid", "65534", "--regid", "65534", "--clear-groups", "--"] : []
        // The build as nobody (a copy of the binary nobody can reach, if the build tree is private).
        let exe = dir.file("flashsmith")
        try fm.copyItem(atPath: flashsmithPath, toPath: exe)
        let skeletons = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("rootfs-skeletons").path
        let args = asUser + [exe, "rootfs", "build", spec, "--skeletons", skeletons, "-o", dir.file("tree")]
        let r = try run(args[0], Array(args.dropFirst()), cwd: dir.path)
        try #require(r.status == 0, "\(r.err)")
        if geteuid() == 0 {
            #expect(r.out.contains("not root:") && r.out.contains("device nodes") && r.out.contains("owners"), "\(r.out)")
        }
        let mtree = dir.file("tree.mtree")
        #expect(FileManager.default.fileExists(atPath: mtree))
        // flashsmith reads the record back: it is the manifest.
        let manifest = try Self.manifest(spec)
        let ls = try flashsmith("rootfs", "ls", mtree, "--json")
        let items = try #require(try JSONSerialization.jsonObject(with: Data(ls.stdout)) as? [[String: Any]])
        let fromMtree = Dictionary(items.compactMap { i in (i["path"] as? String).map { ($0, i) } }, uniquingKeysWith: { a, _ in a })
        #expect(Set(fromMtree.keys) == Set(manifest.keys))
        for (p, m) in manifest {
            let t = fromMtree[p]
            for k in ["type", "mode", "uid", "gid", "major", "minor", "link"] where (k != "link" || m["type"] as? String == "symlink") && m["type"] as? String != "hardlink" {
                #expect(String(describing: t?[k] ?? "-") == String(describing: m[k] ?? "-"), "\(p) \(k): mtree \(t?[k] ?? "-"), manifest \(m[k] ?? "-")")
            }
        }
        // bsdtar makes the real archive from the tree and its record, as the same normal user.
        let tarArgs = asUser + [try #require(which("bsdtar")), "-cf", dir.file("from-mtree.tar"), "-C", dir.file("tree"), "@" + mtree]
        let t = try run(tarArgs[0], Array(tarArgs.dropFirst()), cwd: dir.path)
        try #require(t.status == 0, "\(t.err)")
        // mtree has no hard links and no xattrs: bsdtar stores the second name of a file in full and
        // knows nothing of the capability (flashsmith keeps it in the record, see above). Nothing else differs.
        let d = try flashsmith("rootfs", "diff", "--ignore-times", spec, dir.file("from-mtree.tar"))
        let other = d.out.split(separator: "\n").filter { !$0.hasPrefix("~ ./usr/share/app/data-alias.bin ") && !$0.hasPrefix("~ ./usr/bin/zstd xattrs: ") }
        #expect(d.status == 1 && other.isEmpty, "bsdtar's archive from the mtree differs from the spec:\n\(d.out)")
    }

    var fm: FileManager { FileManager.default }
}
