import Dispatch
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// How an ext4 image is made (`rootfs build -o x.ext4 --size …`, a board's `ext4:` partition).
public struct Ext4Options: Sendable, Equatable {
    /// The image size in bytes: a multiple of the 4 KiB block.
    public var size: Int
    /// The volume label (at most 16 bytes).
    public var label = ""
    /// The filesystem UUID; default derived from the manifest (content, SOURCE_DATE_EPOCH, size).
    public var uuid: [UInt8]?
    /// The directory hash seed; default derived like the UUID.
    public var hashSeed: [UInt8]?
    /// The inode count; default mke2fs's (one per 16 KiB), raised to what the manifest needs.
    public var inodes: Int?
    /// Blocks reserved for root, in percent (mke2fs -m; default 5 as mke2fs).
    public var reservedPercent = 5

    public init(size: Int) { self.size = size }
}

/// What was written.
public struct Ext4Summary: Sendable, Equatable {
    public var imageSize: Int
    public var blockSize: Int
    public var blockCount: Int
    public var freeBlocks: Int
    public var inodeCount: Int
    public var freeInodes: Int
    public var uuid: [UInt8]
    public var hashSeed: [UInt8]
    public var label: String
    public var entries: Int
    public var uuidString: String { DiskStaging.uuid(uuid) }
    public var hashSeedString: String { DiskStaging.uuid(hashSeed) }
}

/// A manifest written as an ext4 image, rootless and reproducibly: `mke2fs` makes the empty
/// filesystem (fixed UUID and hash seed, no lazy initialisation, e2fsprogs' fake time), then one
/// `debugfs -w` script creates every entry in the manifest's order, names each file's content
/// by its source path, and sets what a normal user cannot create or change on a host folder:
/// owners, modes (setuid, setgid, sticky), device numbers, sockets, hard-link counts, xattrs
/// (`security.capability`) and times. No staging tree is read back, so the host folder's order
/// never matters. The image also holds `/lost+found`, as every ext4 made by mke2fs.
public enum Ext4Output {
    public static let blockSize = 4096

    @discardableResult
    public static func write(_ m: Manifest, to path: String, options o: Ext4Options) throws -> Ext4Summary {
        try check(o, path: path)
        let mke2fs = try DiskTool.require("mke2fs", package: "e2fsprogs", for: path)
        let debugfs = try DiskTool.require("debugfs", package: "e2fsprogs", for: path)
        let dumpe2fs = try DiskTool.require("dumpe2fs", package: "e2fsprogs", for: path)
        let plan = try OutputPlan(m)
        let staging = try DiskStaging(destination: path)
        // The content digest (for the derived UUID and hash seed) is read while the script is made.
        let digest = ManifestDigest(m, needed: o.uuid == nil || o.hashSeed == nil)
        // e2fsprogs reads a fake time of 0 as none, and would take the clock.
        let fakeTime = max(1, m.sourceDateEpoch)
        let script: Ext4Script
        do {
            script = try Ext4Script(plan: plan, manifest: m, staging: staging.folder, fakeTime: fakeTime, destination: path)
        } catch {
            _ = try? digest.value()
            throw error
        }
        let d = try digest.value()
        let uuid = o.uuid ?? DiskTool.derivedUUID(d, label: "ext4 uuid \(o.label)", extra: [o.size, o.reservedPercent, o.inodes ?? 0])
        let seed = o.hashSeed ?? DiskTool.derivedUUID(d, label: "ext4 hash seed", extra: [o.size])
        let env: [(String, String?)] = [("E2FSPROGS_FAKE_TIME", String(fakeTime)), ("MKE2FS_CONFIG", staging.folder + "/mke2fs.conf"), ("E2FSPROGS_LIBMAGIC_SUPPRESS", "1")]
        try DiskTool.writeFile(staging.folder + "/mke2fs.conf", Array(configuration.utf8))
        try format(staging.image, plan: plan, options: o, uuid: uuid, seed: seed, tool: mke2fs, env: env, destination: path)
        try DiskTool.writeFile(staging.folder + "/debugfs.cmd", Array(script.text.utf8))
        let out = try DiskTool.run(debugfs, ["-w", "-f", staging.folder + "/debugfs.cmd", staging.image], environment: env)
        try checkDebugfs(out, path: path, manifest: m, size: o.size)
        var summary = try summarize(staging.image, tool: dumpe2fs, env: env, path: path)
        summary.uuid = uuid
        summary.hashSeed = seed
        summary.label = o.label
        summary.entries = m.count
        try staging.commit()
        return summary
    }

    static func check(_ o: Ext4Options, path: String) throws {
        guard o.size >= 1 << 20, o.size % blockSize == 0 else {
            throw RootFSError(path: path, message: "an ext4 image's size must be a multiple of 4 KiB and at least 1 MiB, found \(o.size) bytes (say --size 64MiB)", category: .usage)
        }
        guard o.label.utf8.count <= 16, !o.label.contains("\n") else {
            throw RootFSError(path: path, message: "an ext4 label holds at most 16 bytes, found '\(o.label)' (\(o.label.utf8.count) bytes)", category: .usage)
        }
        guard (0...50).contains(o.reservedPercent) else {
            throw RootFSError(path: path, message: "reserved blocks: expected 0…50 percent, found \(o.reservedPercent)", category: .usage)
        }
        if let u = o.uuid, u.count != 16 { throw RootFSError(path: path, message: "an ext4 UUID has 16 bytes, found \(u.count)", category: .usage) }
        if let u = o.hashSeed, u.count != 16 { throw RootFSError(path: path, message: "an ext4 hash seed has 16 bytes, found \(u.count)", category: .usage) }
        if let n = o.inodes, n < 16 || n > Int(UInt32.max) { throw RootFSError(path: path, message: "inode count: expected 16…\(UInt32.max), found \(n)", category: .usage) }
    }

    /// The mke2fs settings, the same whatever /etc/mke2fs.conf the host has: ext4 as e2fsprogs
    /// 1.47.0 makes it by default, without the newest features (orphan_file,
    /// metadata_csum_seed) that kernels before 5.15 refuse.
    static let configuration = """
        [defaults]
        \tbase_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
        \tdefault_mntopts = acl,user_xattr
        \tenable_periodic_fsck = 0
        \tblocksize = 4096
        \tinode_size = 256
        \tinode_ratio = 16384
        [fs_types]
        \text4 = {
        \t\tfeatures = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
        \t}

        """

    static func format(_ image: String, plan: OutputPlan, options o: Ext4Options, uuid: [UInt8], seed: [UInt8], tool: String, env: [(String, String?)], destination: String) throws {
        guard truncate(image, off_t(o.size)) == 0 else { throw FileError.writeFailed(path: destination, offset: o.size, reason: FileIO.errnoText()) }
        // Inodes: 11 reserved, one per entry that is not a hard link, lost+found.
        let needed = plan.items.count - plan.items.filter { $0.linkIndex > 0 }.count + 12
        var inodes = o.inodes
        if inodes == nil, needed > o.size / 16384 { inodes = needed + needed / 16 }
        if let n = inodes, n < needed {
            throw RootFSError(path: destination, message: "the manifest needs \(needed) inodes, and the image was asked for \(n)", category: .usage)
        }
        let root = plan.items.first { $0.entry.path == "/" }?.entry
        var args = ["-q", "-F", "-t", "ext4", "-b", String(blockSize), "-I", "256", "-m", String(o.reservedPercent),
                    "-U", DiskStaging.uuid(uuid), "-L", o.label, "-T", "default",
                    "-E", "hash_seed=\(DiskStaging.uuid(seed)),lazy_itable_init=0,lazy_journal_init=0,nodiscard,root_owner=\(root?.uid ?? 0):\(root?.gid ?? 0)"]
        if let inodes { args += ["-N", String(inodes)] }
        args.append(image)
        let out = try DiskTool.run(tool, args, environment: env)
        guard out.status == 0 else {
            throw RootFSError(path: destination, message: "mke2fs failed for a \(o.size)-byte ext4 image: \(DiskTool.said(out))")
        }
    }

    /// debugfs exits 0 whatever its commands did: anything it says on standard error besides its
    /// banner is a failure.
    static func checkDebugfs(_ out: DiskTool.Output, path: String, manifest m: Manifest, size: Int) throws {
        let errors = String(decoding: out.stderr, as: UTF8.self).split(separator: "\n").map { String($0).trimmingSpaces() }.filter { !$0.hasPrefix("debugfs ") && !$0.isEmpty }
        guard out.status == 0, let first = errors.first else {
            if out.status != 0 { throw RootFSError(path: path, message: "debugfs exited with status \(out.status): \(DiskTool.said(out))") }
            return
        }
        let full = ["Could not allocate block", "Could not allocate inode", "No free space", "Ran out of", "No space left"]
        if errors.contains(where: { e in full.contains { e.contains($0) } }) {
            let data = m.sorted().reduce(0) { $0 + ($1.kind == .file ? $1.size : 0) }
            throw RootFSError(path: path, message: "the manifest does not fit in an ext4 image of \(ByteSize(bytes: size)) (\(m.count) entries, \(ByteSize(bytes: data)) of file data; debugfs: \(first)): give a larger size", category: .data)
        }
        throw RootFSError(path: path, message: "debugfs could not apply the manifest (\(errors.count) error\(errors.count == 1 ? "" : "s")): \(first)")
    }

    static func summarize(_ image: String, tool: String, env: [(String, String?)], path: String) throws -> Ext4Summary {
        let out = try DiskTool.run(tool, ["-h", image], environment: env)
        guard out.status == 0 else { throw RootFSError(path: path, message: "dumpe2fs cannot read the image written: \(DiskTool.said(out))") }
        var fields: [String: Int] = [:]
        for line in String(decoding: out.stdout, as: UTF8.self).split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = Int(line[line.index(after: colon)...].trimmingCharacters())
        }
        let blocks = fields["Block count"] ?? 0
        return Ext4Summary(
            imageSize: blocks * (fields["Block size"] ?? blockSize), blockSize: fields["Block size"] ?? blockSize, blockCount: blocks,
            freeBlocks: fields["Free blocks"] ?? 0, inodeCount: fields["Inode count"] ?? 0, freeInodes: fields["Free inodes"] ?? 0,
            uuid: [], hashSeed: [], label: "", entries: 0)
    }
}

/// ``DiskTool/digest(_:)`` computed on another thread.
final class ManifestDigest: @unchecked Sendable {
    private let group = DispatchGroup()
    private var result: Result<[UInt8], Error> = .success([])

    init(_ m: Manifest, needed: Bool) {
        guard needed else { return }
        group.enter()
        DispatchQueue.global().async {
            self.result = Result { try DiskTool.digest(m) }
            self.group.leave()
        }
    }

    func value() throws -> [UInt8] {
        group.wait()
        return try result.get()
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String { String(self).trimmingSpaces() }
}

extension DiskStaging {
    static func uuid(_ u: [UInt8]) -> String { DiskTool.uuidString(u) }
}

/// The debugfs commands that create a manifest's entries, in its order: `cd` into each folder,
/// then `mkdir`, `write`, `symlink`, `mknod` or `ln` by the entry's name, then
/// `set_inode_field` for what differs from what the command made, `ea_set` for xattrs. Names are
/// quoted (`"` doubled inside); a name or target holding a newline cannot be said.
struct Ext4Script {
    var text = ""
    private var cwd = "/"
    private var xattrFiles = 0

    init(plan: OutputPlan, manifest m: Manifest, staging: String, fakeTime: Int64, destination: String) throws {
        guard mkdir(staging + "/x", 0o700) == 0 else { throw FileError.cannotCreate(path: staging + "/x", reason: FileIO.errnoText()) }
        var firstPath: [Int64: String] = [:]
        var lateFields: [String] = []
        var socketTemp = 0
        for item in plan.items {
            let e = item.entry
            for s in [e.path, e.target] where s.contains("\n") {
                let shown = { (t: String) in t.replacingAll("\n", with: "\\n") }
                throw RootFSError(path: destination, message: "\(shown(e.path)): a name or link target with a newline cannot be written to ext4 through debugfs (\(shown(e.source)))")
            }
            if e.kind == .symlink, e.target.utf8.count >= Ext4Output.blockSize || e.target.isEmpty {
                throw RootFSError(path: destination, message: "\(e.path): an ext4 symlink target holds 1…\(Ext4Output.blockSize - 1) bytes, found \(e.target.utf8.count) (\(e.source))")
            }
            let name = Manifest.nameOf(e.path)
            let ref = e.path == "/" ? "/" : "./" + name
            if e.path != "/" { cd(Manifest.parentPath(e.path)) }
            // mke2fs made /lost+found: a manifest's own is a folder changed, or something else in its place.
            if e.path == "/lost+found", e.kind != .directory { line("rmdir", "/lost+found") }
            if item.linkIndex > 0, let first = firstPath[item.inode] {
                line("ln", first, name)
                continue
            }
            firstPath[item.inode] = e.path
            let d = item.dataSource
            var defaultMode: UInt32 = 0
            switch e.kind {
            case .directory:
                if e.path == "/" {
                    defaultMode = 0o040755
                } else if e.path == "/lost+found" {
                    defaultMode = 0o040700
                } else {
                    line("mkdir", name)
                    defaultMode = 0o040755
                }
            case .file, .hardlink:
                line("write", try Self.source(d, staging: staging, index: Int(item.inode)), name)
            case .symlink:
                line("symlink", name, e.target)
                defaultMode = 0o120777
            case .charDevice, .blockDevice:
                line("mknod", name, e.kind == .charDevice ? "c" : "b", "0", "0")
                defaultMode = e.kind == .charDevice ? 0o020000 : 0o060000
                if e.major < 256 && e.minor < 256 {
                    if e.major | e.minor != 0 { line("sif", ref, "block[0]", String(e.major << 8 | e.minor)) }
                } else {
                    let encoded = UInt64(e.minor & 0xFF) | UInt64(e.major) << 8 | UInt64(e.minor & ~0xFF) << 12
                    line("sif", ref, "block[1]", String(UInt32(truncatingIfNeeded: encoded)))
                }
            case .fifo:
                line("mknod", name, "p")
                defaultMode = 0o010000
            case .socket:
                // debugfs makes no sockets: a FIFO under a free name, turned into a socket, linked
                // under the real name (the entry then says socket), the first name removed.
                var temp: String
                repeat {
                    socketTemp += 1
                    temp = ".flashsmith-socket-\(socketTemp)"
                } while m[(cwd == "/" ? "" : cwd) + "/" + temp] != nil
                line("mknod", temp, "p")
                line("sif", "./" + temp, "mode", "0" + String(0o140000 | d.mode & 0o7777, radix: 8))
                line("ln", "./" + temp, name)
                line("unlink", "./" + temp)
                defaultMode = 0o140000 | d.mode & 0o7777
            }
            let mode = Self.typeBits(e.kind) | d.mode & 0o7777
            if e.kind == .file || mode != defaultMode { line("sif", ref, "mode", "0" + String(mode, radix: 8)) }
            if d.uid != 0 { line("sif", ref, "uid", String(d.uid)) }
            if d.gid != 0 { line("sif", ref, "gid", String(d.gid)) }
            for key in d.xattrs.keys.sorted() {
                xattrFiles += 1
                let file = staging + "/x/\(xattrFiles)"
                try DiskTool.writeFile(file, d.xattrs[key] ?? [])
                line("ea_set", "-f", file, ref, key)
            }
            // Times where the entry is made (libext2fs leaves a folder's times alone when entries
            // are added to it); link counts last, by full path, once every name exists.
            if item.links > 1 && e.kind != .directory { lateFields.append(Self.command(["sif", e.path, "links_count", String(item.links)])) }
            if d.mtime != fakeTime {
                guard d.mtime >= 0, d.mtime <= 0x3_7FFF_FFFF else {
                    throw RootFSError(path: destination, message: "\(e.path): time \(d.mtime) is outside what ext4 holds (1970…2446) (\(e.source))")
                }
                for f in ["mtime", "atime", "ctime", "crtime"] { line("sif", ref, f, "@\(d.mtime)") }
            }
        }
        // mke2fs made /lost+found at the fake time: SOURCE_DATE_EPOCH, unless that is 0.
        if m["/lost+found"] == nil, m.sourceDateEpoch != fakeTime {
            for f in ["mtime", "atime", "ctime", "crtime"] { lateFields.append(Self.command(["sif", "/lost+found", f, "@\(m.sourceDateEpoch)"])) }
        }
        cd("/")
        text += lateFields.joined()
    }

    static func typeBits(_ k: Manifest.Kind) -> UInt32 {
        switch k {
        case .file, .hardlink: return 0o100000
        case .directory: return 0o040000
        case .symlink: return 0o120000
        case .charDevice: return 0o020000
        case .blockDevice: return 0o060000
        case .fifo: return 0o010000
        case .socket: return 0o140000
        }
    }

    /// Where debugfs reads a file's content: its host path, or a file written in the staging
    /// folder for content held in memory (or a host path debugfs could not be told).
    static func source(_ e: Manifest.Entry, staging: String, index: Int) throws -> String {
        switch e.content {
        case let .host(path, _, _, _) where !path.contains("\n"):
            if path.hasPrefix("/") { return path }
            guard let cwd = getcwd(nil, 0) else { throw FileError.cannotOpen(path: path, reason: FileIO.errnoText()) }
            defer { free(cwd) }
            return String(cString: cwd) + "/" + path
        default:
            let file = staging + "/c\(index)"
            try DiskTool.writeContent(e, to: file)
            return file
        }
    }

    private mutating func cd(_ dir: String) {
        if dir != cwd {
            line("cd", dir)
            cwd = dir
        }
    }

    private mutating func line(_ words: String...) { text += Self.command(words) }

    static func command(_ words: [String]) -> String {
        words.enumerated().map { i, w in i == 0 || (w.hasPrefix("-") && w.count == 2 && i == 1) ? w : quote(w) }.joined(separator: " ") + "\n"
    }

    /// debugfs's quoting (libss): inside double quotes, a doubled quote is one.
    static func quote(_ s: String) -> String { "\"" + s.replacingAll("\"", with: "\"\"") + "\"" }
}

extension String {
    fileprivate func replacingAll(_ a: String, with b: String) -> String {
        guard contains(a) else { return self }
        return split(separator: Character(a), omittingEmptySubsequences: false).joined(separator: b)
    }
}
