import Crypto
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

extension Listing {
    /// Whether `path` is an ext4 (ext2/3) image: the superblock magic 0xEF53 at 1024 + 56.
    public static func looksLikeExt4(_ path: String) -> Bool {
        guard case let .regular(size) = FileIO.kind(of: path), size >= 2048, let b = try? FileIO.read(path, offset: 1024 + 56, count: 2) else { return false }
        return b == [0x53, 0xEF]
    }

    /// Whether `path` is a squashfs image: `hsqs` at 0.
    public static func looksLikeSquashfs(_ path: String) -> Bool {
        guard case let .regular(size) = FileIO.kind(of: path), size >= 96, let b = try? FileIO.read(path, offset: 0, count: 4) else { return false }
        return b == Array("hsqs".utf8)
    }

    /// An ext4 image as a listing, read by e2fsprogs' debugfs (read-only): the tree by `ls -p`,
    /// each inode by `stat`, xattrs by `ea_get`, long symlink targets and (with `digests`) file
    /// content by `dump`. Hard links as in tar: the first name in order holds the data.
    public static func of(ext4 path: String, digests: Bool) throws -> Listing {
        let debugfs = try DiskTool.require("debugfs", package: "e2fsprogs", for: path)
        let scratch = try ScratchFolder()
        var found: [(path: String, inode: Int, mode: UInt32)] = [("/", 2, 0o040755)]
        var level = ["/"]
        while !level.isEmpty {
            let outputs = try Ext4Reader.run(debugfs, level.map { "ls -p \(Ext4Script.quote($0))" }, image: path, scratch: scratch)
            var next: [String] = []
            for (dir, text) in zip(level, outputs) {
                for line in text.split(separator: "\n") where line.hasPrefix("/") {
                    let f = line.split(separator: "/", omittingEmptySubsequences: false)
                    guard f.count == 8, let ino = Int(f[1]), let mode = UInt32(f[2], radix: 8) else {
                        throw RootFSError(path: path, message: "debugfs listed \(dir) as '\(line)', expected /inode/mode/uid/gid/name/size/")
                    }
                    let name = String(f[5])
                    // Empty slots (inode 0: lost+found's preallocated blocks, removed names) and the folder's own links.
                    if ino == 0 || name.isEmpty || name == "." || name == ".." { continue }
                    let p = dir == "/" ? "/" + name : dir + "/" + name
                    found.append((p, ino, mode))
                    if mode & 0o170000 == 0o040000 { next.append(p) }
                }
            }
            level = next
        }
        found.sort { Manifest.precedes($0.path, $1.path) }
        var inodes: [Int] = []
        var seen = Set<Int>()
        for f in found where seen.insert(f.inode).inserted { inodes.append(f.inode) }
        let stats = try Ext4Reader.run(debugfs, inodes.map { "stat <\($0)>" }, image: path, scratch: scratch)
        var stat: [Int: Ext4Reader.Stat] = [:]
        for (ino, text) in zip(inodes, stats) { stat[ino] = Ext4Reader.Stat(text) }
        // Raw bytes: xattr values, slow symlink targets, file content for digests.
        var commands: [String] = []
        var done = Set<Int>()
        for f in found {
            guard let s = stat[f.inode], done.insert(f.inode).inserted else { continue }
            for (k, name) in s.xattrNames.enumerated() {
                let out = scratch.path + "/x-\(f.inode)-\(k)"
                commands.append("ea_get -f \(Ext4Script.quote(out)) <\(f.inode)> \(Ext4Script.quote(name))")
            }
            let kind = f.mode & 0o170000
            if (kind == 0o120000 && s.fastLink == nil) || (kind == 0o100000 && digests) {
                commands.append("dump <\(f.inode)> \(Ext4Script.quote(scratch.path + "/d-\(f.inode)"))")
            }
        }
        if !commands.isEmpty { _ = try Ext4Reader.run(debugfs, commands, image: path, scratch: scratch) }
        var first: [Int: String] = [:]
        var items: [Item] = []
        for f in found {
            guard let s = stat[f.inode] else { continue }
            let kind = Manifest.Kind(fileType: mode_t(f.mode & 0o170000))
            var item = Item(path: f.path, kind: kind, mode: s.mode, uid: s.uid, gid: s.gid, mtime: s.mtime, size: 0)
            for (k, name) in s.xattrNames.enumerated() {
                item.xattrs[name] = (try? FileIO.readAll(scratch.path + "/x-\(f.inode)-\(k)")) ?? []
            }
            switch kind {
            case .file:
                if s.links > 1, let p = first[f.inode] {
                    item.kind = .hardlink
                    item.link = p
                    break
                }
                first[f.inode] = f.path
                item.size = s.size
                if digests {
                    var h = SHA256()
                    try FileIO.forEachChunk(scratch.path + "/d-\(f.inode)", offset: 0, count: s.size) { h.update(bufferPointer: $0) }
                    item.sha256 = hex(h.finalize())
                }
            case .symlink:
                item.link = try s.fastLink ?? String(decoding: FileIO.readAll(scratch.path + "/d-\(f.inode)"), as: UTF8.self)
            case .charDevice, .blockDevice:
                item.major = s.major
                item.minor = s.minor
            default: break
            }
            items.append(item)
        }
        return Listing(origin: path, items: items)
    }
}

/// A temporary folder under $TMPDIR, removed when the value goes away.
final class ScratchFolder {
    let path: String

    init() throws {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(base)/flashsmith-read-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw FileError.cannotCreate(path: "\(base)/flashsmith-read-*", reason: FileIO.errnoText())
        }
        path = String(cString: template.map { UInt8(bitPattern: $0) })
    }

    deinit { AtomicFolder.removeTree(path) }
}

/// debugfs read-only, one script of commands, one output text per command.
enum Ext4Reader {
    static func run(_ debugfs: String, _ commands: [String], image: String, scratch: ScratchFolder) throws -> [String] {
        let script = scratch.path + "/read.cmd"
        try DiskTool.writeFile(script, Array((commands.joined(separator: "\n") + "\n").utf8))
        let out = try DiskTool.run(debugfs, ["-f", script, image], environment: [("DEBUGFS_PAGER", "__none__"), ("PAGER", "__none__")])
        let errors = String(decoding: out.stderr, as: UTF8.self).split(separator: "\n").map { String($0).trimmingSpaces() }.filter { !$0.hasPrefix("debugfs ") && !$0.isEmpty }
        guard out.status == 0, errors.isEmpty else {
            throw RootFSError(path: image, message: "debugfs cannot read it as ext4: \(errors.first ?? DiskTool.said(out))")
        }
        var outputs: [String] = []
        for line in String(decoding: out.stdout, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("debugfs: ") {
                outputs.append("")
            } else if !outputs.isEmpty {
                outputs[outputs.count - 1] += line + "\n"
            }
        }
        guard outputs.count == commands.count else {
            throw RootFSError(path: image, message: "debugfs answered \(outputs.count) of \(commands.count) commands")
        }
        return outputs
    }

    /// What `stat <inode>` says.
    struct Stat {
        var mode: UInt32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        var size = 0
        var links = 0
        var mtime: Int64 = 0
        var major: UInt32 = 0
        var minor: UInt32 = 0
        var fastLink: String?
        var xattrNames: [String] = []

        init(_ text: String) {
            func field(_ name: String) -> String? {
                guard let r = text.firstRange(of: name + ":") else { return nil }
                return text[r.upperBound...].split(whereSeparator: { $0 == " " || $0 == "\n" }).first.map(String.init)
            }
            mode = UInt32(field("Mode") ?? "", radix: 8) ?? 0
            uid = UInt32(field("User") ?? "") ?? 0
            gid = UInt32(field("Group") ?? "") ?? 0
            size = Int(field("Size") ?? "") ?? 0
            links = Int(field("Links") ?? "") ?? 0
            if let m = field("\n mtime") ?? field(" mtime") {
                let parts = m.dropFirst(2).split(separator: ":")
                let low = Int64(parts.first ?? "", radix: 16) ?? 0
                let extra = parts.count > 1 ? (Int64(parts[1], radix: 16) ?? 0) & 3 : 0
                mtime = Int64(Int32(truncatingIfNeeded: low)) + (extra << 32)
            }
            if let d = field("Device major/minor number") {
                let p = d.split(separator: ":")
                major = UInt32(p.first ?? "") ?? 0
                minor = p.count > 1 ? UInt32(p[1]) ?? 0 : 0
            }
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            if let l = lines.first(where: { $0.hasPrefix("Fast link dest: \"") }), l.hasSuffix("\"") {
                fastLink = String(l.dropFirst("Fast link dest: \"".count).dropLast())
            }
            if let start = lines.firstIndex(where: { $0.hasPrefix("Extended attributes:") }) {
                for l in lines[(start + 1)...] {
                    guard l.hasPrefix("  "), let paren = l.firstRange(of: " (") else { break }
                    xattrNames.append(String(l.dropFirst(2)[..<paren.lowerBound]))
                }
            }
        }
    }
}

extension Listing {
    /// A squashfs image as a listing, read by squashfs-tools' `unsquashfs -pf` (the image as
    /// pseudo-file definitions: times, modes, owners, sizes, links, devices, and the files' data
    /// after the definitions). unsquashfs 4.5.1 says nothing of xattrs, so the listing has none.
    /// Hard links as in tar: the first name in order holds the data.
    public static func of(squashfs path: String, digests: Bool) throws -> Listing {
        let unsquashfs = try DiskTool.require("unsquashfs", package: "squashfs-tools", for: path)
        let scratch = try ScratchFolder()
        let pf = scratch.path + "/image.pf"
        let out = try DiskTool.run(unsquashfs, ["-no-progress", "-pf", pf, path])
        guard out.status == 0 else { throw RootFSError(path: path, message: "unsquashfs cannot read it: \(DiskTool.said(out))") }
        let size = try FileIO.size(of: pf)
        // The definitions come first; the data follows a marker.
        let head = try FileIO.read(pf, offset: 0, count: min(size, 64 << 20))
        let marker = Array("\n#\n# START OF DATA - DO NOT MODIFY\n#\n".utf8)
        guard let at = head.firstRange(of: marker) else {
            throw RootFSError(path: path, message: "unsquashfs -pf wrote no data marker in its first 64 MiB (more definitions than a listing reads)")
        }
        let dataStart = at.upperBound
        var items: [Item] = []
        var offsets: [String: Int] = [:]
        var links: [(String, String)] = []
        for raw in head[..<at.lowerBound].split(separator: UInt8(ascii: "\n")) {
            let line = String(decoding: raw, as: UTF8.self)
            guard let (name, rest) = SquashfsPseudo.path(line), let type = rest.first else {
                throw RootFSError(path: path, message: "unsquashfs -pf wrote '\(line)', which is not a definition (a name with a newline?)")
            }
            let p = name == "/" ? "/" : "/" + name
            let f = rest.dropFirst(2).split(separator: " ", maxSplits: type == "S" ? 4 : 6, omittingEmptySubsequences: false).map(String.init)
            if type == "L" {
                guard let (target, _) = SquashfsPseudo.path(String(rest.dropFirst(2))) else { throw RootFSError(path: path, message: "unsquashfs -pf: bad link '\(line)'") }
                links.append((p, "/" + target))
                continue
            }
            guard f.count >= 4, let time = Int64(f[0]), let mode = UInt32(f[1], radix: 8), let uid = UInt32(f[2]), let gid = UInt32(f[3]) else {
                throw RootFSError(path: path, message: "unsquashfs -pf wrote '\(line)', expected TYPE TIME MODE UID GID …")
            }
            var item = Item(path: p, kind: .directory, mode: mode, uid: uid, gid: gid, mtime: time, size: 0)
            switch type {
            case "D": item.kind = .directory
            case "R":
                item.kind = .file
                guard f.count >= 6, let n = Int(f[4]), let o = Int(f[5]) else { throw RootFSError(path: path, message: "unsquashfs -pf: bad file '\(line)'") }
                item.size = n
                offsets[p] = o
            case "S":
                item.kind = .symlink
                item.link = f.count > 4 ? f[4] : ""
            case "C", "B":
                item.kind = type == "C" ? .charDevice : .blockDevice
                guard f.count >= 6, let a = Int64(f[4]), let b = Int64(f[5]) else { throw RootFSError(path: path, message: "unsquashfs -pf: bad device '\(line)'") }
                // unsquashfs prints the 32-bit device number split at bit 8 (as a signed int):
                // decode it as Linux's new_encode_dev packed it.
                let rdev = UInt32(truncatingIfNeeded: a << 8 | b & 0xFF)
                item.major = rdev >> 8 & 0xFFF
                item.minor = rdev & 0xFF | rdev >> 12 & 0xFFF00
            case "I": item.kind = f.count > 4 && f[4] == "s" ? .socket : .fifo
            default: throw RootFSError(path: path, message: "unsquashfs -pf: unknown type '\(type)' in '\(line)'")
            }
            items.append(item)
        }
        // Hard links: the group's first name in order holds the data.
        let byPath = Dictionary(items.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        for (p, target) in links {
            guard var t = byPath[target] else { throw RootFSError(path: path, message: "unsquashfs -pf: \(p) links to \(target), which is not a file") }
            t.path = p
            items.append(t)
            offsets[p] = offsets[target]
        }
        items.sort { Manifest.precedes($0.path, $1.path) }
        var holder: [Int: String] = [:]
        let linked = Set(links.map(\.0) + links.map(\.1))
        for i in items.indices where items[i].kind == .file {
            guard let o = offsets[items[i].path] else { continue }
            if linked.contains(items[i].path) {
                if let first = holder[o] {
                    items[i].kind = .hardlink
                    items[i].link = first
                    items[i].size = 0
                    continue
                }
                holder[o] = items[i].path
            }
            if digests {
                var h = SHA256()
                try FileIO.forEachChunk(pf, offset: dataStart + o, count: items[i].size) { h.update(bufferPointer: $0) }
                items[i].sha256 = hex(h.finalize())
            }
        }
        return Listing(origin: path, items: items)
    }
}

/// The pseudo-file syntax unsquashfs writes.
enum SquashfsPseudo {
    /// The first word of `line`, backslash escapes undone, and what follows the space after it.
    static func path(_ line: String) -> (String, Substring)? {
        var name = ""
        var i = line.startIndex
        while i < line.endIndex, line[i] != " " {
            if line[i] == "\\" {
                i = line.index(after: i)
                guard i < line.endIndex else { return nil }
            }
            name.append(line[i])
            i = line.index(after: i)
        }
        guard !name.isEmpty else { return nil }
        return (name, i < line.endIndex ? line[line.index(after: i)...] : line[i...])
    }
}
