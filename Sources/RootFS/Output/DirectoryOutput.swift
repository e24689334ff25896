import Archive
import CLinux
import FlashsmithCore
#if canImport(Glibc)
import Glibc
#endif

/// Writes a manifest as a folder (an NFS root), with `DIR.mtree` beside it recording every entry's
/// truth (type, mode, owner, time, link, device, size, sha256) whatever could be applied.
///
/// As root, owners, device nodes and xattrs are applied. As a normal user they cannot be: files
/// are owned by the user, device nodes and sockets are left out, `security.*` xattrs too; the
/// report says how many of each, and the mtree still has them (`bsdtar -cf rootfs.tar -C DIR
/// @DIR.mtree` makes the real archive without root, though mtree has no hard links, so bsdtar
/// stores a file's second name in full; as root, `bsdtar -xpf` of a tar written by `rootfs build`
/// gives the real tree).
///
/// Safety: the tree is built in a fresh temporary folder beside the destination; every entry is
/// created relative to its parent's descriptor with O_NOFOLLOW/O_EXCL (no path is ever resolved
/// through a symlink being written); folders get their final modes last. The finished folder then
/// replaces the destination (the old one is removed without following links).
public enum DirectoryOutput {
    public struct Report: Sendable {
        public var entries = 0
        public var dataBytes = 0
        public var notApplied: [String: Int] = [:]
        public var mtree = ""
        public var notes: [String] = []
    }

    public typealias Failure = RootFSError

    /// `deviceNodes: false` leaves device nodes and fifos out even as root (a caller that makes them
    /// another way, such as mkfs.ubifs from a device table). A folder already at `dir` is replaced
    /// only when it is empty or Flashsmith wrote it, unless `force`; the new one is marked with the
    /// `user.flashsmith` attribute (`marker` nil: not marked; see ``AtomicFolder``).
    public static func write(_ m: Manifest, to dir: String, deviceNodes: Bool = true, force: Bool = false, marker: AtomicFolder.Marker? = .xattr, command: String = "flashsmith") throws -> Report {
        let plan = try OutputPlan(m)
        let folder = try AtomicFolder(destination: dir, force: force, marker: marker, command: command)
        let destination = folder.destination
        let temp = folder.path

        let isRoot = geteuid() == 0
        var report = Report()
        let mtreeFile = try AtomicFile(destination: destination + ".mtree", durable: false)
        let mtree = try ArchiveWriter(descriptor: mtreeFile.descriptor, path: destination + ".mtree", format: .mtree, compression: .none)
        let rootFD = open(temp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard rootFD >= 0 else { throw Failure(path: temp, message: FileIO.errnoText(), category: .cannotCreate) }
        defer { close(rootFD) }
        var stack: [(path: String, fd: Int32)] = [("/", rootFD)]
        defer { for s in stack.dropFirst() { close(s.fd) } }
        var firstName: [Int64: String] = [:]
        var directories: [OutputPlan.Item] = []
        func skip(_ what: String) { report.notApplied[what, default: 0] += 1 }
        /// Owner (as root), mode, xattrs and time of an entry written at `target`: an open
        /// descriptor, or a name in a folder (symlinks, nodes: never followed).
        enum Target {
            case fd(Int32)
            case at(Int32, String)
        }
        func applyMetadata(_ e: Manifest.Entry, _ target: Target, chmod: Bool, fail: (String) -> Failure) throws {
            if isRoot {
                let rc: Int32
                switch target {
                case let .fd(fd): rc = fchown(fd, e.uid, e.gid)
                case let .at(dir, name): rc = fchownat(dir, name, e.uid, e.gid, AT_SYMLINK_NOFOLLOW)
                }
                guard rc == 0 else { throw fail("chown") }
            } else if e.uid != geteuid() || e.gid != getegid() {
                skip("owners")
            }
            if chmod {
                let rc: Int32
                switch target {
                case let .fd(fd): rc = fchmod(fd, mode_t(e.mode))
                case let .at(dir, name): rc = fchmodat(dir, name, mode_t(e.mode), 0)
                }
                guard rc == 0 else { throw fail("chmod") }
            }
            for (k, v) in e.xattrs.sorted(by: { $0.key < $1.key }) {
                guard case let .fd(fd) = target, isRoot || k.hasPrefix("user.") else {
                    skip("xattrs")
                    continue
                }
                guard v.withUnsafeBytes({ fsetxattr(fd, k, $0.baseAddress, $0.count, 0) }) == 0 else { throw fail("setxattr \(k)") }
            }
            var times = [timespec(tv_sec: time_t(e.mtime), tv_nsec: 0), timespec(tv_sec: time_t(e.mtime), tv_nsec: 0)]
            let rc: Int32
            switch target {
            case let .fd(fd): rc = futimens(fd, &times)
            case let .at(dir, name): rc = utimensat(dir, name, &times, AT_SYMLINK_NOFOLLOW)
            }
            guard rc == 0 else { throw fail("set time") }
        }

        for item in plan.items {
            let e = item.entry
            try mtree.begin(plan.member(item, format: .mtree, firstName: firstName))
            defer { if firstName[item.inode] == nil { firstName[item.inode] = e.path } }
            report.entries += 1
            if e.path == "/" {
                directories.append(item)
                continue
            }
            let parentPath = Manifest.parent(e.path)
            while let top = stack.last, top.path != parentPath {
                guard stack.count > 1 else { throw Failure(path: e.path, message: "its folder \(parentPath) was not written first", category: .cannotCreate) }
                close(top.fd)
                stack.removeLast()
            }
            let pfd = stack[stack.count - 1].fd
            let name = Manifest.name(e.path)
            let d = item.dataSource
            func fail(_ what: String) -> Failure { Failure(path: temp + e.path, message: "\(what): \(FileIO.errnoText())", category: .cannotCreate) }
            switch e.kind {
            case .directory:
                guard mkdirat(pfd, name, 0o700) == 0 else { throw fail("mkdir") }
                let fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else { throw fail("open folder") }
                stack.append((e.path, fd))
                directories.append(item)
            case .file, .hardlink:
                if item.linkIndex > 0, let first = firstName[item.inode] {
                    guard linkat(AT_FDCWD, temp + first, pfd, name, 0) == 0 else { throw fail("link to \(first)") }
                    // The mtree records this name whole (size and digest): its data again.
                    try ContentReader.stream(d) { try mtree.write($0) }
                    continue
                }
                let fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw fail("create") }
                defer { close(fd) }
                var offset = 0
                try ContentReader.stream(d) { chunk in
                    try FileIO.writeAll(fd, chunk, path: temp + e.path, offset: offset)
                    try mtree.write(chunk)
                    offset += chunk.count
                }
                report.dataBytes += offset
                try applyMetadata(d, .fd(fd), chmod: true, fail: fail)
            case .symlink:
                guard symlinkat(e.target, pfd, name) == 0 else { throw fail("symlink") }
                try applyMetadata(e, .at(pfd, name), chmod: false, fail: fail)
            case .charDevice, .blockDevice, .fifo, .socket:
                let type: mode_t = e.kind == .charDevice ? S_IFCHR : e.kind == .blockDevice ? S_IFBLK : e.kind == .fifo ? S_IFIFO : S_IFSOCK
                if !deviceNodes { continue }
                if e.kind != .fifo && !isRoot {
                    skip(e.kind == .socket ? "sockets" : "device nodes")
                    continue
                }
                guard mknodat(pfd, name, type | mode_t(e.mode & 0o777), dev_t(flashsmith_makedev(e.major, e.minor))) == 0 else { throw fail("mknod") }
                try applyMetadata(e, .at(pfd, name), chmod: true, fail: fail)
            }
        }
        for s in stack.dropFirst() { close(s.fd) }
        stack = [("/", rootFD)]
        // Folders last, deepest first: their modes may forbid writing, and writing changes their times.
        for item in directories.reversed() {
            let e = item.entry
            let fd = try openFolder(rootFD, e.path, temp)
            defer { if fd != rootFD { close(fd) } }
            func fail(_ what: String) -> Failure { Failure(path: temp + e.path, message: "\(what): \(FileIO.errnoText())", category: .cannotCreate) }
            try applyMetadata(e, .fd(fd), chmod: true, fail: fail)
        }
        try mtree.finish()
        // xattrs have no mtree keyword: they follow as comment lines that mtree readers skip and
        // `rootfs ls`/`diff` read back (``Listing/xattrComment``).
        var comments = ""
        for item in plan.items where item.linkIndex == 0 {
            for (k, v) in item.dataSource.xattrs.sorted(by: { $0.key < $1.key }) {
                comments += "\(Listing.xattrComment)\(Listing.escape(item.name)) \(Listing.escape(k)) 0x\(Listing.hex(v))\n"
            }
        }
        if !comments.isEmpty {
            let end = lseek(mtreeFile.descriptor, 0, SEEK_END)
            try Array(comments.utf8).withUnsafeBytes { try FileIO.writeAll(mtreeFile.descriptor, $0, path: destination + ".mtree", offset: Int(end)) }
        }
        if let note = folder.markerNote { report.notes.append(note) }
        try folder.commit()
        try mtreeFile.commit()
        report.mtree = destination + ".mtree"
        if !report.notApplied.isEmpty {
            let list = report.notApplied.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            report.notes.append("not root: \(list) not applied; \(report.mtree) records them (bsdtar -cf rootfs.tar -C \(destination) @\(report.mtree) needs no root)")
        }
        return report
    }

    /// Opens a folder of the tree component by component, never through a symlink.
    static func openFolder(_ root: Int32, _ path: String, _ temp: String) throws -> Int32 {
        var fd = root
        for c in path.split(separator: "/") {
            let next = openat(fd, String(c), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if fd != root { close(fd) }
            guard next >= 0 else { throw Failure(path: temp + path, message: "open folder: \(FileIO.errnoText())", category: .cannotCreate) }
            fd = next
        }
        return fd
    }

    /// Removes a tree without following symlinks.
    public static func removeTree(_ path: String) { AtomicFolder.removeTree(path) }
}
